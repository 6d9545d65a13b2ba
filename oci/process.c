/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The last steps of a container process before execve: rlimits, cwd, umask, the user switch,
 * capabilities, no_new_privs and seccomp in runc's order, PATH lookup in the container's
 * environment, and HOME from the container's /etc/passwd.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "common/common.h"
#include "oci/internal.h"

int oci_process_rlimits(const struct oci_process *p, struct wh_err **err)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = {.rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard};
		if (setrlimit(p->rlimits[i].resource, &rl) < 0)
			return wh_err_set(err, errno, "process.rlimits[%zu]: setrlimit", i);
	}
	return 0;
}

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (char *const *e = env; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static char *home_of(uid_t uid)
{
	cleanup_fclose FILE *f = fopen("/etc/passwd", "re");
	if (!f)
		return NULL;
	char *line = NULL;
	size_t cap = 0;
	char *home = NULL;
	while (getline(&line, &cap, f) > 0) {
		/* name:pw:uid:gid:gecos:home:shell */
		char *fields[7] = {0};
		char *s = line;
		int n = 0;
		for (; n < 7 && s; n++) {
			fields[n] = s;
			s = strchr(s, ':');
			if (s)
				*s++ = 0;
		}
		int u;
		if (n >= 6 && parse_int(fields[2], &u) == 0 && (uid_t)u == uid) {
			home = xstrdup(fields[5]);
			break;
		}
	}
	free(line);
	return home;
}

char *oci_find_program(const char *name, char *const *env)
{
	if (strchr(name, '/'))
		return xstrdup(name);
	const char *path = env_get(env, "PATH");
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	cleanup_free char *copy = xstrdup(path);
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *p = path_join(*d ? d : ".", name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

int oci_process_exec(const struct oci_process *p, const struct oci_seccomp *seccomp,
		     struct wh_err **err)
{
	int r;
	cleanup_free char *prog = NULL;
	if (chdir(p->cwd) < 0)
		return wh_err_set(err, errno, "process.cwd: chdir '%s'", p->cwd);
	umask(p->has_umask ? p->umask : 0022);

	char **env = strv_copy(p->env);
	if (!env_get(env, "HOME")) {
		char *home = home_of(p->uid);
		strv_consume(&env, xasprintf("HOME=%s", home ? home : "/"));
		free(home);
	}

	if (seccomp && !p->no_new_privileges) {
		r = oci_seccomp_load(seccomp, NULL, err);
		if (r < 0)
			goto fail;
	}
	if (p->caps.present) {
		r = oci_caps_apply_bounding(&p->caps, err);
		if (r < 0)
			goto fail;
	}
	bool switch_user = p->uid != 0 || p->gid != 0 || p->n_additional_gids;
	if (switch_user && p->caps.present) {
		r = oci_caps_keep(true, err);
		if (r < 0)
			goto fail;
	}
	/* In a user namespace with setgroups denied, an empty list cannot be set: ignore EPERM
	 * then, as runc does for the no-additional-gids case. */
	if (setgroups(p->n_additional_gids, p->additional_gids) < 0 &&
	    !(errno == EPERM && p->n_additional_gids == 0)) {
		r = wh_err_set(err, errno, "process.user.additionalGids: setgroups");
		goto fail;
	}
	if (setresgid(p->gid, p->gid, p->gid) < 0) {
		r = wh_err_set(err, errno, "process.user.gid: setgid %u", (unsigned)p->gid);
		goto fail;
	}
	if (setresuid(p->uid, p->uid, p->uid) < 0) {
		r = wh_err_set(err, errno, "process.user.uid: setuid %u", (unsigned)p->uid);
		goto fail;
	}
	if (switch_user && p->caps.present) {
		r = oci_caps_keep(false, err);
		if (r < 0)
			goto fail;
	}
	prog = oci_find_program(p->args[0], env);
	if (!prog) {
		r = wh_err_setx(err, ENOENT,
				"process.args[0]: executable file '%s' not found in $PATH",
				p->args[0]);
		goto fail;
	}
	if (p->caps.present) {
		/* runc (gocapability) skips ambient caps the kernel refuses: those not in both
		 * permitted and inheritable; do the same rather than fail */
		struct oci_caps c = p->caps;
		c.ambient &= c.permitted & c.inheritable;
		r = oci_caps_apply(&c, err);
		if (r < 0)
			goto fail;
	}
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = wh_err_set(err, errno, "process.noNewPrivileges: prctl");
		goto fail;
	}
	if (seccomp && p->no_new_privileges) {
		r = oci_seccomp_load(seccomp, NULL, err);
		if (r < 0)
			goto fail;
	}
	execve(prog, p->args, env);
	r = wh_err_set(err, errno, "process.args[0]: exec '%s'", prog);
fail:
	strv_free(env);
	return r;
}

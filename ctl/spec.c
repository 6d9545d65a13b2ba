/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The default OCI runtime spec wharfctl gives a container, as containerd's
 * populateDefaultUnixSpec + WithDefaultUnixDevices + WithImageConfig build it: the default
 * capability set and seccomp profile (from liboci, oci/caps.h and oci/seccomp.h), the default
 * namespaces, mounts, masked and read-only paths, device rules and rlimits, then the image
 * config's Env/Entrypoint/Cmd/WorkingDir/User and the command line's overrides. Also the image
 * config parser and the chain ID.
 */
#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "ctl/ctl.h"
#include "oci/caps.h"
#include "oci/seccomp.h"

static void yajl_valp(yajl_val *v)
{
	yajl_tree_free(*v);
}

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const masked_paths[] = {
	"/proc/acpi",
	"/proc/asound",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/sys/firmware",
	"/proc/scsi",
	NULL,
};
static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};
static const char *const namespaces[] = {"pid", "ipc", "uts", "mount", "network", NULL};

static const struct {
	const char *dst, *type, *src;
	const char *const *opts;
} default_mounts[] = {
	{"/proc", "proc", "proc", (const char *const[]){"nosuid", "noexec", "nodev", NULL}},
	{"/dev", "tmpfs", "tmpfs",
	 (const char *const[]){"nosuid", "strictatime", "mode=755", "size=65536k", NULL}},
	{"/dev/pts", "devpts", "devpts",
	 (const char *const[]){"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
			       "gid=5", NULL}},
	{"/dev/shm", "tmpfs", "shm",
	 (const char *const[]){"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL}},
	{"/dev/mqueue", "mqueue", "mqueue",
	 (const char *const[]){"nosuid", "noexec", "nodev", NULL}},
	{"/sys", "sysfs", "sysfs", (const char *const[]){"nosuid", "noexec", "nodev", "ro", NULL}},
	{"/run", "tmpfs", "tmpfs",
	 (const char *const[]){"nosuid", "strictatime", "mode=755", "size=65536k", NULL}},
};

/* WithDefaultUnixDevices: the cgroup device rules after the deny-all. */
static const struct {
	char type;
	int64_t major, minor; /* -1: any */
} default_devices[] = {
	{'c', 1, 3}, {'c', 1, 8}, {'c', 1, 7},	  {'c', 5, 0}, {'c', 1, 5},
	{'c', 1, 9}, {'c', 5, 1}, {'c', 136, -1}, {'c', 5, 2}, {'c', 10, 200},
};

void ctl_image_config_release(struct ctl_image_config *c)
{
	strv_free(c->env);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	strv_free(c->diff_ids);
	free(c->working_dir);
	free(c->user);
	*c = (struct ctl_image_config){0};
}

int ctl_image_config_parse(const char *json, size_t len, struct ctl_image_config *ret,
			   struct wh_err **err)
{
	cleanup(yajl_valp) yajl_val root = NULL;
	struct ctl_image_config c = {0};
	const char *wd = NULL, *user = NULL;
	yajl_val cfg, rootfs;
	int r;

	if ((r = json_parse(json, len, &root, err)) < 0)
		return wh_err_wrap(err, r, "image config");
	if (!YAJL_IS_OBJECT(root))
		return wh_err_setx(err, EINVAL, "image config: not a JSON object");
	cfg = json_get(root, "config");
	rootfs = json_get(root, "rootfs");
	if ((r = json_expect_object(cfg, "config", err)) < 0 ||
	    (r = json_expect_object(rootfs, "rootfs", err)) < 0 ||
	    (r = json_get_strv_opt(cfg, "Env", "config.Env", &c.env, err)) < 0 ||
	    (r = json_get_strv_opt(cfg, "Entrypoint", "config.Entrypoint", &c.entrypoint, err)) <
		    0 ||
	    (r = json_get_strv_opt(cfg, "Cmd", "config.Cmd", &c.cmd, err)) < 0 ||
	    (r = json_get_string_opt(cfg, "WorkingDir", "config.WorkingDir", &wd, err)) < 0 ||
	    (r = json_get_string_opt(cfg, "User", "config.User", &user, err)) < 0 ||
	    (r = json_get_strv_opt(rootfs, "diff_ids", "rootfs.diff_ids", &c.diff_ids, err)) < 0) {
		ctl_image_config_release(&c);
		return wh_err_wrap(err, r, "image config");
	}
	c.working_dir = wd && *wd ? xstrdup(wd) : NULL;
	c.user = user && *user ? xstrdup(user) : NULL;
	*ret = c;
	return 0;
}

int ctl_chain_id(char *const *diff_ids, char out[DIGEST_STR_LEN], struct wh_err **err)
{
	char cur[DIGEST_STR_LEN];

	if (!diff_ids || !diff_ids[0])
		return wh_err_setx(err, EINVAL, "image has no layers (rootfs.diff_ids is empty)");
	for (size_t i = 0; diff_ids[i]; i++) {
		if (!digest_is_valid(diff_ids[i]))
			return wh_err_setx(err, EINVAL, "rootfs.diff_ids[%zu]: invalid digest '%s'",
					   i, diff_ids[i]);
		if (i == 0) {
			memcpy(cur, diff_ids[0], DIGEST_STR_LEN);
			continue;
		}
		cleanup_free char *s = xasprintf("%s %s", cur, diff_ids[i]);
		digest_buf(s, strlen(s), cur);
	}
	memcpy(out, cur, DIGEST_STR_LEN);
	return 0;
}

int ctl_parse_user(const char *s, uint32_t *ret_uid, uint32_t *ret_gid, struct wh_err **err)
{
	const char *colon = strchr(s, ':');
	cleanup_free char *u = colon ? xstrndup(s, colon - s) : xstrdup(s);
	uint64_t uid, gid = 0;

	if (streq(u, "root"))
		uid = 0;
	else if (parse_u64(u, &uid) < 0 || uid > UINT32_MAX - 1)
		return wh_err_setx(err, EINVAL,
				   "user '%s': expected UID[:GID] in numbers (names need the "
				   "container's /etc/passwd, which wharfctl does not read)",
				   s);
	if (colon &&
	    (streq(colon + 1, "root") ? (gid = 0, false)
				      : parse_u64(colon + 1, &gid) < 0 || gid > UINT32_MAX - 1))
		return wh_err_setx(err, EINVAL, "user '%s': invalid group '%s'", s, colon + 1);
	*ret_uid = (uint32_t)uid;
	*ret_gid = (uint32_t)gid;
	return 0;
}

/* Appends kv to env, replacing an entry with the same key (containerd's replaceOrAppend). */
static void env_set(char ***env, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	strv_foreach(e, *env) {
		if (strncmp(*e, kv, klen) == 0 && (*e)[klen] == '=') {
			free(*e);
			*e = xstrdup(kv);
			return;
		}
	}
	strv_push(env, kv);
}

static void gen_strv(yajl_gen g, const char *key, const char *const *v)
{
	json_gen_str(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; v && v[i]; i++)
		json_gen_str(g, v[i]);
	yajl_gen_array_close(g);
}

/* The process object; args/env/user/cwd already resolved. */
static void gen_process(yajl_gen g, char *const *args, char *const *env, bool tty, uint32_t uid,
			uint32_t gid, const char *cwd, bool caps)
{
	yajl_gen_map_open(g);
	json_gen_kv_bool(g, "terminal", tty);
	json_gen_str(g, "user");
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "uid", uid);
	json_gen_kv_int(g, "gid", gid);
	yajl_gen_map_close(g);
	gen_strv(g, "args", (const char *const *)args);
	gen_strv(g, "env", (const char *const *)env);
	json_gen_kv_str(g, "cwd", cwd);
	if (caps) {
		const char *const *names = oci_caps_default_names();

		json_gen_str(g, "capabilities");
		yajl_gen_map_open(g);
		gen_strv(g, "bounding", names);
		gen_strv(g, "effective", names);
		gen_strv(g, "permitted", names);
		yajl_gen_map_close(g);
		json_gen_str(g, "rlimits");
		yajl_gen_array_open(g);
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "type", "RLIMIT_NOFILE");
		json_gen_kv_int(g, "hard", 1024);
		json_gen_kv_int(g, "soft", 1024);
		yajl_gen_map_close(g);
		yajl_gen_array_close(g);
		json_gen_kv_bool(g, "noNewPrivileges", false);
	}
	yajl_gen_map_close(g);
}

static void gen_mount(yajl_gen g, const char *dst, const char *type, const char *src,
		      const char *const *opts)
{
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "destination", dst);
	json_gen_kv_str(g, "type", type);
	json_gen_kv_str(g, "source", src);
	gen_strv(g, "options", opts);
	yajl_gen_map_close(g);
}

static void gen_mounts(yajl_gen g, const struct ctl_spec_opts *o)
{
	json_gen_str(g, "mounts");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < ARRAY_SIZE(default_mounts); i++) {
		bool replaced = false;

		/* A user mount on the same destination replaces the default one. */
		for (size_t j = 0; j < o->n_mounts; j++)
			replaced |= streq(o->mounts[j].destination, default_mounts[i].dst);
		if (!replaced)
			gen_mount(g, default_mounts[i].dst, default_mounts[i].type,
				  default_mounts[i].src, default_mounts[i].opts);
	}
	for (size_t j = 0; j < o->n_mounts; j++)
		gen_mount(g, o->mounts[j].destination, o->mounts[j].type, o->mounts[j].source,
			  (const char *const *)o->mounts[j].options);
	yajl_gen_array_close(g);
}

static void gen_devices(yajl_gen g)
{
	json_gen_str(g, "devices");
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	json_gen_kv_bool(g, "allow", false);
	json_gen_kv_str(g, "access", "rwm");
	yajl_gen_map_close(g);
	for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
		char type[2] = {default_devices[i].type, 0};

		yajl_gen_map_open(g);
		json_gen_kv_bool(g, "allow", true);
		json_gen_kv_str(g, "type", type);
		json_gen_kv_int(g, "major", default_devices[i].major);
		if (default_devices[i].minor >= 0)
			json_gen_kv_int(g, "minor", default_devices[i].minor);
		json_gen_kv_str(g, "access", "rwm");
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void gen_linux(yajl_gen g, const struct ctl_spec_opts *o)
{
	json_gen_str(g, "linux");
	yajl_gen_map_open(g);
	gen_strv(g, "maskedPaths", masked_paths);
	gen_strv(g, "readonlyPaths", readonly_paths);
	json_gen_str(g, "cgroupsPath");
	cleanup_free char *cg = xasprintf("/%s/%s", o->ns ? o->ns : "default", o->id);
	json_gen_str(g, cg);
	json_gen_str(g, "resources");
	yajl_gen_map_open(g);
	gen_devices(g);
	yajl_gen_map_close(g);
	json_gen_str(g, "namespaces");
	yajl_gen_array_open(g);
	for (size_t i = 0; namespaces[i]; i++) {
		if (o->host_network && streq(namespaces[i], "network"))
			continue;
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "type", namespaces[i]);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	if (!o->no_seccomp) {
		const char *const *names = oci_caps_default_names();
		cleanup_strv char **caps = strv_copy((char *const *)names);
		struct oci_seccomp *s = oci_seccomp_default_profile(caps);

		json_gen_str(g, "seccomp");
		oci_seccomp_gen_json(g, s);
		oci_seccomp_free(s);
	}
	yajl_gen_map_close(g);
}

/* Resolves env, args, user and cwd from the image config and the options. */
static int resolve_process(const struct ctl_spec_opts *o, const struct ctl_image_config *ic,
			   char ***ret_env, char ***ret_args, uint32_t *uid, uint32_t *gid,
			   const char **ret_cwd, struct wh_err **err)
{
	cleanup_strv char **env = NULL, **args = NULL;
	const char *user = o->user ? o->user : ic ? ic->user : NULL;
	int r;

	strv_push(&env, DEFAULT_PATH);
	strv_foreach(e, ic ? ic->env : NULL)
		env_set(&env, *e);
	if (o->tty)
		env_set(&env, "TERM=xterm");
	strv_foreach(e, (char **)o->env)
		env_set(&env, *e);
	/* ctr's WithProcessArgs: given args replace the image's Entrypoint and Cmd. */
	if (o->args && o->args[0]) {
		args = strv_copy(o->args);
	} else if (ic) {
		args = strv_copy(ic->entrypoint);
		strv_foreach(a, ic->cmd)
			strv_push(&args, *a);
	}
	if (!args || !args[0])
		return wh_err_setx(
			err, EINVAL,
			"no command: the image has no Entrypoint or Cmd and none was given");
	*uid = *gid = 0;
	if (user && (r = ctl_parse_user(user, uid, gid, err)) < 0)
		return r;
	*ret_cwd = o->cwd ? o->cwd : ic && ic->working_dir ? ic->working_dir : "/";
	*ret_env = TAKE_PTR(env);
	*ret_args = TAKE_PTR(args);
	return 0;
}

int ctl_spec_generate(const struct ctl_spec_opts *o, const struct ctl_image_config *ic,
		      char **ret_json, size_t *ret_len, struct wh_err **err)
{
	cleanup_strv char **env = NULL, **args = NULL;
	const char *cwd = "/";
	uint32_t uid = 0, gid = 0;
	yajl_gen g;
	int r;

	if (!o->id || !*o->id)
		return wh_err_setx(err, EINVAL, "spec: container id is empty");
	if ((r = resolve_process(o, ic, &env, &args, &uid, &gid, &cwd, err)) < 0)
		return r;
	g = json_gen_new(false);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "ociVersion", "1.0.2-dev");
	json_gen_str(g, "process");
	gen_process(g, args, env, o->tty, uid, gid, cwd, true);
	json_gen_str(g, "root");
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "path", "rootfs");
	yajl_gen_map_close(g);
	gen_mounts(g, o);
	gen_linux(g, o);
	yajl_gen_map_close(g);
	*ret_json = json_gen_finish(g, ret_len);
	return 0;
}

int ctl_process_from_spec(const char *spec, size_t len, char *const *args, bool tty,
			  const char *cwd, char **ret_json, size_t *ret_len, struct wh_err **err)
{
	cleanup(yajl_valp) yajl_val root = NULL;
	yajl_val proc;
	yajl_gen g;
	int r;

	if (!args || !args[0])
		return wh_err_setx(err, EINVAL, "exec: no command given");
	if ((r = json_parse(spec, len, &root, err)) < 0)
		return wh_err_wrap(err, r, "container spec");
	proc = json_get(root, "process");
	if (!YAJL_IS_OBJECT(proc))
		return wh_err_setx(err, EINVAL, "container spec: no process object");
	g = json_gen_new(false);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < proc->u.object.len; i++) {
		const char *k = proc->u.object.keys[i];

		if (streq(k, "args") || streq(k, "terminal") || (cwd && streq(k, "cwd")) ||
		    streq(k, "consoleSize"))
			continue;
		json_gen_str(g, k);
		json_gen_value(g, proc->u.object.values[i]);
	}
	gen_strv(g, "args", (const char *const *)args);
	json_gen_kv_bool(g, "terminal", tty);
	if (cwd)
		json_gen_kv_str(g, "cwd", cwd);
	yajl_gen_map_close(g);
	*ret_json = json_gen_finish(g, ret_len);
	return 0;
}

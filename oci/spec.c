/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading and validating a runtime-spec config.json into struct oci_spec. Every error names the
 * field it is about, and nothing outside memory is touched, so a bad config fails before the
 * runtime creates anything.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/common.h"
#include "oci/internal.h"

static const struct {
	const char *name;
	int flag;
} ns_names[] = {
	{"pid", CLONE_NEWPID},	     {"network", CLONE_NEWNET}, {"mount", CLONE_NEWNS},
	{"ipc", CLONE_NEWIPC},	     {"uts", CLONE_NEWUTS},	{"user", CLONE_NEWUSER},
	{"cgroup", CLONE_NEWCGROUP},
};

int oci_ns_flag(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_names); i++)
		if (streq(ns_names[i].name, name))
			return ns_names[i].flag;
	return 0;
}

static const struct {
	const char *name;
	int res;
} rlimit_names[] = {
	{"RLIMIT_AS", RLIMIT_AS},
	{"RLIMIT_CORE", RLIMIT_CORE},
	{"RLIMIT_CPU", RLIMIT_CPU},
	{"RLIMIT_DATA", RLIMIT_DATA},
	{"RLIMIT_FSIZE", RLIMIT_FSIZE},
	{"RLIMIT_LOCKS", RLIMIT_LOCKS},
	{"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
	{"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
	{"RLIMIT_NICE", RLIMIT_NICE},
	{"RLIMIT_NOFILE", RLIMIT_NOFILE},
	{"RLIMIT_NPROC", RLIMIT_NPROC},
	{"RLIMIT_RSS", RLIMIT_RSS},
	{"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
	{"RLIMIT_RTTIME", RLIMIT_RTTIME},
	{"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
	{"RLIMIT_STACK", RLIMIT_STACK},
};

int oci_rlimit_resource(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
		if (streq(rlimit_names[i].name, name))
			return rlimit_names[i].res;
	return -1;
}

int oci_parse_signal(const char *s)
{
	int n;
	if (!s || !*s)
		return -EINVAL;
	if (parse_int(s, &n) == 0)
		return n > 0 && n < NSIG ? n : -EINVAL;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (int i = 1; i < NSIG; i++) {
		const char *a = sigabbrev_np(i);
		if (a && strcasecmp(a, s) == 0)
			return i;
	}
	if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
		int off = 0;
		if (s[5] && (s[5] != '+' && s[5] != '-'))
			return -EINVAL;
		if (s[5] && parse_int(s + 5 + (s[5] == '+'), &off) < 0)
			return -EINVAL;
		int sig = (strncasecmp(s, "RTMIN", 5) == 0 ? SIGRTMIN : SIGRTMAX) + off;
		return sig >= SIGRTMIN && sig <= SIGRTMAX ? sig : -EINVAL;
	}
	return -EINVAL;
}

bool oci_id_valid(const char *id)
{
	if (!id || !*id || strlen(id) > 1024)
		return false;
	for (const char *p = id; *p; p++) {
		char c = *p;
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (p == id || !strchr("_.+-", c)))
			return false;
	}
	return true;
}

static const struct {
	const char *name;
	bool clear;
	unsigned long flag;
} mount_flags[] = {
	{"ro", false, MS_RDONLY},
	{"rw", true, MS_RDONLY},
	{"nosuid", false, MS_NOSUID},
	{"suid", true, MS_NOSUID},
	{"nodev", false, MS_NODEV},
	{"dev", true, MS_NODEV},
	{"noexec", false, MS_NOEXEC},
	{"exec", true, MS_NOEXEC},
	{"sync", false, MS_SYNCHRONOUS},
	{"async", true, MS_SYNCHRONOUS},
	{"dirsync", false, MS_DIRSYNC},
	{"remount", false, MS_REMOUNT},
	{"mand", false, MS_MANDLOCK},
	{"nomand", true, MS_MANDLOCK},
	{"atime", true, MS_NOATIME},
	{"noatime", false, MS_NOATIME},
	{"diratime", true, MS_NODIRATIME},
	{"nodiratime", false, MS_NODIRATIME},
	{"relatime", false, MS_RELATIME},
	{"norelatime", true, MS_RELATIME},
	{"strictatime", false, MS_STRICTATIME},
	{"nostrictatime", true, MS_STRICTATIME},
	{"defaults", true, 0},
};

static const struct {
	const char *name;
	unsigned long flag;
} prop_flags[] = {
	{"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
	{"shared", MS_SHARED},	       {"rshared", MS_SHARED | MS_REC},
	{"slave", MS_SLAVE},	       {"rslave", MS_SLAVE | MS_REC},
	{"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static unsigned long prop_flag(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(prop_flags); i++)
		if (streq(prop_flags[i].name, name))
			return prop_flags[i].flag;
	return 0;
}

/* runc's recursive options, applied with mount_setattr(AT_RECURSIVE) after the mount. */
static const struct {
	const char *name;
	uint64_t set, clr;
} rec_attrs[] = {
	{"rro", MOUNT_ATTR_RDONLY, 0},
	{"rrw", 0, MOUNT_ATTR_RDONLY},
	{"rnosuid", MOUNT_ATTR_NOSUID, 0},
	{"rsuid", 0, MOUNT_ATTR_NOSUID},
	{"rnodev", MOUNT_ATTR_NODEV, 0},
	{"rdev", 0, MOUNT_ATTR_NODEV},
	{"rnoexec", MOUNT_ATTR_NOEXEC, 0},
	{"rexec", 0, MOUNT_ATTR_NOEXEC},
	{"rnodiratime", MOUNT_ATTR_NODIRATIME, 0},
	{"rdiratime", 0, MOUNT_ATTR_NODIRATIME},
	{"rrelatime", MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME},
	{"rnoatime", MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME},
	{"rstrictatime", MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME},
	{"rnosymfollow", MOUNT_ATTR_NOSYMFOLLOW, 0},
	{"rsymfollow", 0, MOUNT_ATTR_NOSYMFOLLOW},
};

void oci_mount_option(const char *opt, unsigned long *flags, unsigned long *propagation, bool *bind,
		      struct oci_mount_rec *rec, struct strbuf *data)
{
	for (size_t i = 0; i < ARRAY_SIZE(rec_attrs); i++) {
		if (streq(rec_attrs[i].name, opt)) {
			rec->set = (rec->set & ~(rec_attrs[i].clr | rec_attrs[i].set)) |
				   rec_attrs[i].set;
			rec->clr = (rec->clr & ~rec_attrs[i].set) | rec_attrs[i].clr;
			return;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(mount_flags); i++) {
		if (streq(mount_flags[i].name, opt)) {
			if (mount_flags[i].clear)
				*flags &= ~mount_flags[i].flag;
			else
				*flags |= mount_flags[i].flag;
			return;
		}
	}
	unsigned long p = prop_flag(opt);
	if (p) {
		*propagation = p;
		return;
	}
	if (streq(opt, "bind")) {
		*bind = true;
		return;
	}
	if (streq(opt, "rbind")) {
		*bind = true;
		*flags |= MS_REC;
		return;
	}
	if (data->len)
		strbuf_addc(data, ',');
	strbuf_adds(data, opt);
}

static int parse_hook_list(yajl_val hooks, const char *key, struct oci_hook **ret, size_t *ret_n,
			   struct wh_err **err)
{
	yajl_val v = json_get(hooks, key);
	if (!v)
		return 0;
	if (!YAJL_IS_ARRAY(v))
		return wh_err_setx(err, EINVAL, "hooks.%s: expected an array", key);
	size_t n = v->u.array.len;
	struct oci_hook *h = xnew0(struct oci_hook, n ? n : 1);
	*ret = h;
	*ret_n = n;
	for (size_t i = 0; i < n; i++) {
		yajl_val e = v->u.array.values[i];
		cleanup_free char *f = xasprintf("hooks.%s[%zu]", key, i);
		cleanup_free char *fp = xasprintf("%s.path", f);
		cleanup_free char *fa = xasprintf("%s.args", f);
		cleanup_free char *fe = xasprintf("%s.env", f);
		cleanup_free char *ft = xasprintf("%s.timeout", f);
		const char *path;
		int r = json_expect_object(e, f, err);
		if (r < 0)
			return r;
		r = json_get_string(e, "path", fp, &path, err);
		if (r < 0)
			return r;
		if (path[0] != '/')
			return wh_err_setx(err, EINVAL, "%s: '%s' is not an absolute path", fp,
					   path);
		h[i].path = xstrdup(path);
		r = json_get_strv_opt(e, "args", fa, &h[i].args, err);
		if (r < 0)
			return r;
		r = json_get_strv_opt(e, "env", fe, &h[i].env, err);
		if (r < 0)
			return r;
		r = json_get_int64_opt(e, "timeout", ft, &h[i].timeout, err);
		if (r < 0)
			return r;
		if (json_get(e, "timeout") && h[i].timeout <= 0)
			return wh_err_setx(err, EINVAL, "%s: must be greater than zero", ft);
	}
	return 0;
}

static int parse_hooks(yajl_val v, struct oci_hooks *h, struct wh_err **err)
{
	static const char *const names[_OCI_HOOK_MAX] = {
		[OCI_HOOK_PRESTART] = "prestart",
		[OCI_HOOK_CREATE_RUNTIME] = "createRuntime",
		[OCI_HOOK_CREATE_CONTAINER] = "createContainer",
		[OCI_HOOK_START_CONTAINER] = "startContainer",
		[OCI_HOOK_POSTSTART] = "poststart",
		[OCI_HOOK_POSTSTOP] = "poststop",
	};
	int r = json_expect_object(v, "hooks", err);
	if (r < 0 || !v)
		return r;
	for (int k = 0; k < _OCI_HOOK_MAX; k++) {
		r = parse_hook_list(v, names[k], &h->v[k], &h->n[k], err);
		if (r < 0)
			return r;
	}
	return 0;
}

static void hooks_release(struct oci_hooks *h)
{
	for (int k = 0; k < _OCI_HOOK_MAX; k++) {
		for (size_t i = 0; i < h->n[k]; i++) {
			free(h->v[k][i].path);
			strv_free(h->v[k][i].args);
			strv_free(h->v[k][i].env);
		}
		free(h->v[k]);
	}
}

static int parse_u32(yajl_val obj, const char *key, const char *field, uint32_t *ret,
		     struct wh_err **err)
{
	uint64_t u;
	cleanup_free char *f = xasprintf("%s.%s", field, key);
	int r = json_uint64(json_get(obj, key), f, &u, err);
	if (r < 0)
		return r;
	if (u > UINT32_MAX)
		return wh_err_setx(err, ERANGE, "%s: out of range", f);
	*ret = (uint32_t)u;
	return 0;
}

int oci_process_parse(yajl_val v, const char *field, struct oci_process *p, struct wh_err **err)
{
	int r;
	cleanup_free char *f = NULL;
	memset(p, 0, sizeof(*p));
	if (!v)
		return wh_err_setx(err, EINVAL, "%s: missing", field);
	r = json_expect_object(v, field, err);
	if (r < 0)
		return r;

	free(f), f = xasprintf("%s.terminal", field);
	r = json_get_bool_opt(v, "terminal", f, &p->terminal, err);
	if (r < 0)
		return r;
	free(f), f = xasprintf("%s.args", field);
	r = json_get_strv_opt(v, "args", f, &p->args, err);
	if (r < 0)
		return r;
	if (!p->args || !p->args[0])
		return wh_err_setx(err, EINVAL, "%s: must name the program to run", f);
	free(f), f = xasprintf("%s.commandLine", field);
	if (json_get(v, "commandLine"))
		return wh_err_setx(err, EOPNOTSUPP, "%s: not supported on linux", f);
	free(f), f = xasprintf("%s.env", field);
	r = json_get_strv_opt(v, "env", f, &p->env, err);
	if (r < 0)
		return r;
	strv_foreach(e, p->env) {
		if (!strchr(*e, '='))
			return wh_err_setx(err, EINVAL, "%s: '%s' is not NAME=value", f, *e);
	}
	const char *cwd = "/";
	free(f), f = xasprintf("%s.cwd", field);
	r = json_get_string_opt(v, "cwd", f, &cwd, err);
	if (r < 0)
		return r;
	if (cwd[0] != '/')
		return wh_err_setx(err, EINVAL, "%s: '%s' is not an absolute path", f, cwd);
	p->cwd = xstrdup(cwd);

	yajl_val user = json_get(v, "user");
	free(f), f = xasprintf("%s.user", field);
	r = json_expect_object(user, f, err);
	if (r < 0)
		return r;
	if (user) {
		uint32_t u = 0, g = 0;
		if (json_get(user, "uid") && (r = parse_u32(user, "uid", f, &u, err)) < 0)
			return r;
		if (json_get(user, "gid") && (r = parse_u32(user, "gid", f, &g, err)) < 0)
			return r;
		p->uid = u;
		p->gid = g;
		if (json_get(user, "username"))
			return wh_err_setx(err, EOPNOTSUPP, "%s.username: not supported on linux",
					   f);
		yajl_val add = json_get(user, "additionalGids");
		cleanup_free char *fa = xasprintf("%s.additionalGids", f);
		r = json_expect_array(add, fa, err);
		if (r < 0)
			return r;
		if (add) {
			p->n_additional_gids = add->u.array.len;
			p->additional_gids = xnew0(gid_t, p->n_additional_gids + 1);
			for (size_t i = 0; i < add->u.array.len; i++) {
				uint64_t x;
				cleanup_free char *fi = xasprintf("%s[%zu]", fa, i);
				r = json_uint64(add->u.array.values[i], fi, &x, err);
				if (r < 0)
					return r;
				if (x > UINT32_MAX)
					return wh_err_setx(err, ERANGE, "%s: out of range", fi);
				p->additional_gids[i] = (gid_t)x;
			}
		}
		if (json_get(user, "umask")) {
			uint32_t um = 0;
			r = parse_u32(user, "umask", f, &um, err);
			if (r < 0)
				return r;
			if (um > 0777)
				return wh_err_setx(err, EINVAL, "%s.umask: %u is not a file mode",
						   f, um);
			p->has_umask = true;
			p->umask = um;
		}
	}

	yajl_val rl = json_get(v, "rlimits");
	free(f), f = xasprintf("%s.rlimits", field);
	r = json_expect_array(rl, f, err);
	if (r < 0)
		return r;
	if (rl) {
		p->rlimits = xnew0(struct oci_rlimit, rl->u.array.len + 1);
		for (size_t i = 0; i < rl->u.array.len; i++) {
			yajl_val e = rl->u.array.values[i];
			cleanup_free char *fi = xasprintf("%s[%zu]", f, i);
			cleanup_free char *ft = xasprintf("%s.type", fi);
			cleanup_free char *fs = xasprintf("%s.soft", fi);
			cleanup_free char *fh = xasprintf("%s.hard", fi);
			const char *type;
			r = json_expect_object(e, fi, err);
			if (r < 0)
				return r;
			r = json_get_string(e, "type", ft, &type, err);
			if (r < 0)
				return r;
			int res = oci_rlimit_resource(type);
			if (res < 0)
				return wh_err_setx(err, EINVAL, "%s: unknown rlimit '%s'", ft,
						   type);
			for (size_t j = 0; j < p->n_rlimits; j++)
				if (p->rlimits[j].resource == res)
					return wh_err_setx(err, EINVAL, "%s: '%s' given twice", ft,
							   type);
			struct oci_rlimit *x = &p->rlimits[p->n_rlimits];
			x->resource = res;
			r = json_uint64(json_get(e, "soft"), fs, &x->soft, err);
			if (r < 0)
				return r;
			r = json_uint64(json_get(e, "hard"), fh, &x->hard, err);
			if (r < 0)
				return r;
			if (x->soft > x->hard)
				return wh_err_setx(err, EINVAL,
						   "%s: soft limit above the hard limit", fi);
			p->n_rlimits++;
		}
	}

	free(f), f = xasprintf("%s.noNewPrivileges", field);
	r = json_get_bool_opt(v, "noNewPrivileges", f, &p->no_new_privileges, err);
	if (r < 0)
		return r;
	if (json_get(v, "oomScoreAdj")) {
		int64_t o;
		free(f), f = xasprintf("%s.oomScoreAdj", field);
		r = json_get_int64_opt(v, "oomScoreAdj", f, &o, err);
		if (r < 0)
			return r;
		if (o < -1000 || o > 1000)
			return wh_err_setx(err, EINVAL, "%s: %lld is not in -1000..1000", f,
					   (long long)o);
		p->has_oom_score_adj = true;
		p->oom_score_adj = (int)o;
	}
	const char *label = NULL;
	free(f), f = xasprintf("%s.apparmorProfile", field);
	r = json_get_string_opt(v, "apparmorProfile", f, &label, err);
	if (r < 0)
		return r;
	if (label && *label)
		return wh_err_setx(err, EOPNOTSUPP,
				   "%s: apparmor is not supported by this runtime (profile '%s')",
				   f, label);
	label = NULL;
	free(f), f = xasprintf("%s.selinuxLabel", field);
	r = json_get_string_opt(v, "selinuxLabel", f, &label, err);
	if (r < 0)
		return r;
	if (label && *label)
		return wh_err_setx(err, EOPNOTSUPP,
				   "%s: selinux is not supported by this runtime (label '%s')", f,
				   label);
	free(f), f = xasprintf("%s.capabilities", field);
	r = oci_caps_parse(json_get(v, "capabilities"), f, &p->caps, err);
	if (r < 0)
		return r;
	return 0;
}

void oci_process_release(struct oci_process *p)
{
	strv_free(p->args);
	strv_free(p->env);
	free(p->cwd);
	free(p->additional_gids);
	free(p->rlimits);
	memset(p, 0, sizeof(*p));
}

static int parse_mounts(yajl_val v, struct oci_spec *s, struct wh_err **err)
{
	int r = json_expect_array(v, "mounts", err);
	if (r < 0 || !v)
		return r;
	s->mounts = xnew0(struct oci_mount, v->u.array.len + 1);
	for (size_t i = 0; i < v->u.array.len; i++) {
		yajl_val e = v->u.array.values[i];
		struct oci_mount *m = &s->mounts[s->n_mounts++];
		cleanup_free char *f = xasprintf("mounts[%zu]", i);
		cleanup_free char *fd = xasprintf("%s.destination", f);
		cleanup_free char *ft = xasprintf("%s.type", f);
		cleanup_free char *fs = xasprintf("%s.source", f);
		cleanup_free char *fo = xasprintf("%s.options", f);
		const char *dest, *type = NULL, *source = NULL;
		cleanup_strv char **opts = NULL;
		cleanup_strbuf struct strbuf data = STRBUF_INIT;
		r = json_expect_object(e, f, err);
		if (r < 0)
			return r;
		r = json_get_string(e, "destination", fd, &dest, err);
		if (r < 0)
			return r;
		if (dest[0] != '/')
			return wh_err_setx(err, EINVAL, "%s: '%s' is not an absolute path", fd,
					   dest);
		if (strstr(dest, "/../") || str_endswith(dest, "/.."))
			return wh_err_setx(err, EINVAL, "%s: '%s' must not contain '..'", fd, dest);
		r = json_get_string_opt(e, "type", ft, &type, err);
		if (r < 0)
			return r;
		r = json_get_string_opt(e, "source", fs, &source, err);
		if (r < 0)
			return r;
		r = json_get_strv_opt(e, "options", fo, &opts, err);
		if (r < 0)
			return r;
		m->destination = xstrdup(dest);
		strv_foreach(o, opts)
			oci_mount_option(*o, &m->flags, &m->propagation, &m->bind, &m->rec, &data);
		if (type && streq(type, "bind"))
			m->bind = true;
		if (!type && !m->bind)
			return wh_err_setx(err, EINVAL, "%s: missing (and not a bind mount)", ft);
		m->type = xstrdup(type ? type : "bind");
		if (m->bind && !source)
			return wh_err_setx(err, EINVAL, "%s: a bind mount needs a source", fs);
		if (m->bind && source[0] != '/')
			/* relative bind sources are relative to the bundle */
			m->source = path_join(s->bundle, source);
		m->source = m->source ? m->source : xstrdup(source ? source : m->type);
		m->data = data.len ? strbuf_detach(&data, NULL) : NULL;
	}
	return 0;
}

static int parse_idmaps(yajl_val v, const char *field, struct oci_idmap **ret, size_t *ret_n,
			struct wh_err **err)
{
	int r = json_expect_array(v, field, err);
	if (r < 0 || !v)
		return r;
	*ret = xnew0(struct oci_idmap, v->u.array.len + 1);
	for (size_t i = 0; i < v->u.array.len; i++) {
		yajl_val e = v->u.array.values[i];
		cleanup_free char *f = xasprintf("%s[%zu]", field, i);
		struct oci_idmap *m = &(*ret)[i];
		r = json_expect_object(e, f, err);
		if (r < 0)
			return r;
		if ((r = parse_u32(e, "containerID", f, &m->container_id, err)) < 0 ||
		    (r = parse_u32(e, "hostID", f, &m->host_id, err)) < 0 ||
		    (r = parse_u32(e, "size", f, &m->size, err)) < 0)
			return r;
		if (m->size == 0)
			return wh_err_setx(err, EINVAL, "%s.size: must not be zero", f);
		*ret_n = i + 1;
	}
	return 0;
}

static int parse_devices(yajl_val v, struct oci_spec *s, struct wh_err **err)
{
	int r = json_expect_array(v, "linux.devices", err);
	if (r < 0 || !v)
		return r;
	s->devices = xnew0(struct oci_device, v->u.array.len + 1);
	for (size_t i = 0; i < v->u.array.len; i++) {
		yajl_val e = v->u.array.values[i];
		cleanup_free char *f = xasprintf("linux.devices[%zu]", i);
		cleanup_free char *fp = xasprintf("%s.path", f);
		cleanup_free char *ft = xasprintf("%s.type", f);
		cleanup_free char *fmaj = xasprintf("%s.major", f);
		cleanup_free char *fmin = xasprintf("%s.minor", f);
		cleanup_free char *fm = xasprintf("%s.fileMode", f);
		struct oci_device *d = &s->devices[s->n_devices];
		const char *path, *type;
		r = json_expect_object(e, f, err);
		if (r < 0)
			return r;
		r = json_get_string(e, "path", fp, &path, err);
		if (r < 0)
			return r;
		if (path[0] != '/' || strstr(path, ".."))
			return wh_err_setx(err, EINVAL, "%s: '%s' is not a clean absolute path", fp,
					   path);
		r = json_get_string(e, "type", ft, &type, err);
		if (r < 0)
			return r;
		if (strlen(type) != 1 || !strchr("cbup", type[0]))
			return wh_err_setx(err, EINVAL, "%s: unknown device type '%s'", ft, type);
		d->type = type[0];
		if (d->type != 'p') {
			r = json_int64(json_get(e, "major"), fmaj, &d->major, err);
			if (r < 0)
				return r;
			r = json_int64(json_get(e, "minor"), fmin, &d->minor, err);
			if (r < 0)
				return r;
			if (d->major < 0 || d->minor < 0 || d->major > 0xfff || d->minor > 0xfffff)
				return wh_err_setx(err, ERANGE, "%s: device number out of range",
						   f);
		}
		uint64_t mode = 0666;
		r = json_get_uint64_opt(e, "fileMode", fm, &mode, err);
		if (r < 0)
			return r;
		if (mode & ~(uint64_t)07777)
			return wh_err_setx(err, EINVAL, "%s: %llo is not a permission mode", fm,
					   (unsigned long long)mode);
		d->mode = (mode_t)mode;
		uint32_t u = 0, g = 0;
		if (json_get(e, "uid") && (r = parse_u32(e, "uid", f, &u, err)) < 0)
			return r;
		if (json_get(e, "gid") && (r = parse_u32(e, "gid", f, &g, err)) < 0)
			return r;
		d->uid = u;
		d->gid = g;
		d->path = xstrdup(path);
		s->n_devices++;
	}
	return 0;
}

static int parse_linux(yajl_val lx, struct oci_spec *s, struct wh_err **err)
{
	int r = json_expect_object(lx, "linux", err);
	if (r < 0 || !lx)
		return r;

	yajl_val ns = json_get(lx, "namespaces");
	r = json_expect_array(ns, "linux.namespaces", err);
	if (r < 0)
		return r;
	if (ns) {
		s->namespaces = xnew0(struct oci_ns, ns->u.array.len + 1);
		for (size_t i = 0; i < ns->u.array.len; i++) {
			yajl_val e = ns->u.array.values[i];
			cleanup_free char *f = xasprintf("linux.namespaces[%zu]", i);
			cleanup_free char *ft = xasprintf("%s.type", f);
			cleanup_free char *fp = xasprintf("%s.path", f);
			const char *type, *path = NULL;
			r = json_expect_object(e, f, err);
			if (r < 0)
				return r;
			r = json_get_string(e, "type", ft, &type, err);
			if (r < 0)
				return r;
			int flag = oci_ns_flag(type);
			if (!flag)
				return wh_err_setx(err, EINVAL, "%s: unknown namespace type '%s'",
						   ft, type);
			if (oci_spec_ns(s, flag))
				return wh_err_setx(err, EINVAL, "%s: namespace '%s' given twice",
						   ft, type);
			r = json_get_string_opt(e, "path", fp, &path, err);
			if (r < 0)
				return r;
			if (path && path[0] != '/')
				return wh_err_setx(err, EINVAL, "%s: '%s' is not an absolute path",
						   fp, path);
			s->namespaces[s->n_namespaces].type = flag;
			s->namespaces[s->n_namespaces].path = path && *path ? xstrdup(path) : NULL;
			s->n_namespaces++;
		}
	}
	r = parse_idmaps(json_get(lx, "uidMappings"), "linux.uidMappings", &s->uid_mappings,
			 &s->n_uid_mappings, err);
	if (r < 0)
		return r;
	r = parse_idmaps(json_get(lx, "gidMappings"), "linux.gidMappings", &s->gid_mappings,
			 &s->n_gid_mappings, err);
	if (r < 0)
		return r;
	const struct oci_ns *user = oci_spec_ns(s, CLONE_NEWUSER);
	if ((s->n_uid_mappings || s->n_gid_mappings) && (!user || user->path))
		return wh_err_setx(err, EINVAL,
				   "linux.uidMappings: mappings need a new user namespace");
	if (user && !user->path && (!s->n_uid_mappings || !s->n_gid_mappings))
		return wh_err_setx(err, EINVAL,
				   "linux.uidMappings: a new user namespace needs uid and gid "
				   "mappings");

	r = parse_devices(json_get(lx, "devices"), s, err);
	if (r < 0)
		return r;

	yajl_val sc = json_get(lx, "sysctl");
	r = json_expect_object(sc, "linux.sysctl", err);
	if (r < 0)
		return r;
	if (sc) {
		for (size_t i = 0; i < sc->u.object.len; i++) {
			const char *k = sc->u.object.keys[i];
			yajl_val val = sc->u.object.values[i];
			if (!YAJL_IS_STRING(val))
				return wh_err_setx(err, EINVAL,
						   "linux.sysctl.%s: expected a string", k);
			if (!*k || strstr(k, "..") || strchr(k, '/') == k)
				return wh_err_setx(err, EINVAL, "linux.sysctl: bad key '%s'", k);
			strv_push(&s->sysctl, k);
			strv_push(&s->sysctl, val->u.string);
		}
	}
	r = json_get_strv_opt(lx, "maskedPaths", "linux.maskedPaths", &s->masked_paths, err);
	if (r < 0)
		return r;
	r = json_get_strv_opt(lx, "readonlyPaths", "linux.readonlyPaths", &s->readonly_paths, err);
	if (r < 0)
		return r;
	strv_foreach(p, s->masked_paths) {
		if ((*p)[0] != '/')
			return wh_err_setx(err, EINVAL, "linux.maskedPaths: '%s' is not absolute",
					   *p);
	}
	strv_foreach(p, s->readonly_paths) {
		if ((*p)[0] != '/')
			return wh_err_setx(err, EINVAL, "linux.readonlyPaths: '%s' is not absolute",
					   *p);
	}
	const char *prop = NULL;
	r = json_get_string_opt(lx, "rootfsPropagation", "linux.rootfsPropagation", &prop, err);
	if (r < 0)
		return r;
	if (prop && *prop) {
		s->rootfs_propagation = prop_flag(prop);
		if (!s->rootfs_propagation)
			return wh_err_setx(err, EINVAL,
					   "linux.rootfsPropagation: unknown propagation '%s'",
					   prop);
	}
	const char *cgp = NULL;
	r = json_get_string_opt(lx, "cgroupsPath", "linux.cgroupsPath", &cgp, err);
	if (r < 0)
		return r;
	s->cgroups_path = cgp && *cgp ? xstrdup(cgp) : NULL;
	r = oci_resources_parse(json_get(lx, "resources"), "linux.resources", &s->resources, err);
	if (r < 0)
		return r;
	r = oci_seccomp_parse(json_get(lx, "seccomp"), "linux.seccomp", &s->seccomp, err);
	if (r < 0)
		return r;
	const char *label = NULL;
	r = json_get_string_opt(lx, "mountLabel", "linux.mountLabel", &label, err);
	if (r < 0)
		return r;
	if (label && *label)
		return wh_err_setx(err, EOPNOTSUPP,
				   "linux.mountLabel: selinux is not supported by this runtime");
	if (json_get(lx, "intelRdt"))
		return wh_err_setx(err, EOPNOTSUPP,
				   "linux.intelRdt: not supported by this runtime");
	if (json_get(lx, "personality"))
		return wh_err_setx(err, EOPNOTSUPP,
				   "linux.personality: not supported by this runtime");
	return 0;
}

const struct oci_ns *oci_spec_ns(const struct oci_spec *s, int type)
{
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (s->namespaces[i].type == type)
			return &s->namespaces[i];
	return NULL;
}

static int spec_parse_tree(struct oci_spec *s, const char *bundle, struct wh_err **err)
{
	yajl_val t = s->tree;
	int r;
	if (!YAJL_IS_OBJECT(t))
		return wh_err_setx(err, EINVAL, "config: expected an object");
	const char *ver;
	r = json_get_string(t, "ociVersion", "ociVersion", &ver, err);
	if (r < 0)
		return r;
	if (!str_startswith(ver, "1."))
		return wh_err_setx(err, EINVAL, "ociVersion: '%s' is not a 1.x version", ver);
	s->oci_version = xstrdup(ver);
	s->bundle = xstrdup(bundle ? bundle : ".");

	yajl_val root = json_get(t, "root");
	const char *path;
	r = json_expect_object(root, "root", err);
	if (r < 0)
		return r;
	r = json_get_string(root, "path", "root.path", &path, err);
	if (r < 0)
		return r;
	if (!*path)
		return wh_err_setx(err, EINVAL, "root.path: must not be empty");
	s->root_path = path[0] == '/' ? xstrdup(path) : path_join(bundle ? bundle : ".", path);
	r = json_get_bool_opt(root, "readonly", "root.readonly", &s->root_readonly, err);
	if (r < 0)
		return r;

	yajl_val proc = json_get(t, "process");
	if (proc) {
		r = oci_process_parse(proc, "process", &s->process, err);
		if (r < 0)
			return r;
		s->has_process = true;
	}
	const char *h = NULL;
	r = json_get_string_opt(t, "hostname", "hostname", &h, err);
	if (r < 0)
		return r;
	s->hostname = h ? xstrdup(h) : NULL;
	h = NULL;
	r = json_get_string_opt(t, "domainname", "domainname", &h, err);
	if (r < 0)
		return r;
	s->domainname = h ? xstrdup(h) : NULL;

	r = parse_mounts(json_get(t, "mounts"), s, err);
	if (r < 0)
		return r;
	r = parse_hooks(json_get(t, "hooks"), &s->hooks, err);
	if (r < 0)
		return r;
	s->annotations = json_get(t, "annotations");
	r = json_expect_object(s->annotations, "annotations", err);
	if (r < 0)
		return r;
	if (s->annotations)
		for (size_t i = 0; i < s->annotations->u.object.len; i++)
			if (!YAJL_IS_STRING(s->annotations->u.object.values[i]))
				return wh_err_setx(err, EINVAL, "annotations.%s: expected a string",
						   s->annotations->u.object.keys[i]);
	r = parse_linux(json_get(t, "linux"), s, err);
	if (r < 0)
		return r;

	/* Cross-field rules. */
	for (char **kv = s->sysctl; kv && kv[0]; kv += 2) {
		const char *k = kv[0];
		int need = 0;
		if (str_startswith(k, "net."))
			need = CLONE_NEWNET;
		else if (str_startswith(k, "fs.mqueue.") || str_startswith(k, "kernel.msg") ||
			 str_startswith(k, "kernel.shm") || streq(k, "kernel.sem"))
			need = CLONE_NEWIPC;
		else if (streq(k, "kernel.hostname") || streq(k, "kernel.domainname"))
			need = CLONE_NEWUTS;
		else
			return wh_err_setx(err, EINVAL,
					   "linux.sysctl.%s: not a namespaced sysctl, refused", k);
		if (!oci_spec_ns(s, need))
			return wh_err_setx(
				err, EINVAL,
				"linux.sysctl.%s: needs the container's own %s namespace", k,
				need == CLONE_NEWNET   ? "network"
				: need == CLONE_NEWIPC ? "ipc"
						       : "uts");
	}
	if ((s->hostname && *s->hostname) && !oci_spec_ns(s, CLONE_NEWUTS))
		return wh_err_setx(err, EINVAL, "hostname: needs a new uts namespace");
	if ((s->domainname && *s->domainname) && !oci_spec_ns(s, CLONE_NEWUTS))
		return wh_err_setx(err, EINVAL, "domainname: needs a new uts namespace");
	if (s->n_mounts && !oci_spec_ns(s, CLONE_NEWNS))
		return wh_err_setx(err, EINVAL, "mounts: need a mount namespace");
	const struct oci_ns *mnt = oci_spec_ns(s, CLONE_NEWNS);
	if (!mnt || mnt->path)
		return wh_err_setx(err, EINVAL,
				   "linux.namespaces: this runtime needs a new mount namespace");
	return 0;
}

int oci_spec_parse(const char *text, size_t len, const char *bundle, struct oci_spec **ret,
		   struct wh_err **err)
{
	struct oci_spec *s = xnew0(struct oci_spec, 1);
	oci_resources_init(&s->resources);
	int r = json_parse(text, len, &s->tree, err);
	if (r < 0) {
		oci_spec_free(s);
		return wh_err_wrap(err, r, "config.json");
	}
	r = spec_parse_tree(s, bundle, err);
	if (r < 0) {
		oci_spec_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct oci_spec *oci_spec_free(struct oci_spec *s)
{
	if (!s)
		return NULL;
	free(s->oci_version);
	free(s->bundle);
	free(s->root_path);
	oci_process_release(&s->process);
	free(s->hostname);
	free(s->domainname);
	for (size_t i = 0; i < s->n_mounts; i++) {
		free(s->mounts[i].destination);
		free(s->mounts[i].type);
		free(s->mounts[i].source);
		free(s->mounts[i].data);
	}
	free(s->mounts);
	hooks_release(&s->hooks);
	for (size_t i = 0; i < s->n_namespaces; i++)
		free(s->namespaces[i].path);
	free(s->namespaces);
	free(s->uid_mappings);
	free(s->gid_mappings);
	for (size_t i = 0; i < s->n_devices; i++)
		free(s->devices[i].path);
	free(s->devices);
	strv_free(s->sysctl);
	strv_free(s->masked_paths);
	strv_free(s->readonly_paths);
	free(s->cgroups_path);
	oci_resources_release(&s->resources);
	oci_seccomp_free(s->seccomp);
	if (s->tree)
		yajl_tree_free(s->tree);
	free(s);
	return NULL;
}

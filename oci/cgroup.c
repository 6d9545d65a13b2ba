/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup of a container, both versions: mode detection, cgroupsPath resolution, create and
 * re-open, enter, freeze and thaw, listing, killing and destroying; file helpers shared by the
 * v1 and v2 drivers (cgroup-v1.c, cgroup-v2.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "common/common.h"
#include "oci/cgroup-internal.h"

#define DEFAULT_ROOT "/sys/fs/cgroup"
#define CG_MAX_FILE (1024 * 1024)

/* ------------------------------------------------------------------ file helpers ---- */

int cg_write(const char *dir, const char *file, const char *s)
{
	cleanup_free char *p = path_join(dir, file);
	/* O_TRUNC as runc does; kernfs ignores it, plain files (tests) need it. */
	cleanup_close int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	/* One write: cgroup files take a value per write(2). */
	n = write(fd, s, strlen(s));
	if (n < 0)
		return -errno;
	return 0;
}

int cg_read(const char *dir, const char *file, char **ret)
{
	cleanup_free char *p = path_join(dir, file);
	char *buf = NULL;
	size_t len = 0;
	int r = read_file(p, CG_MAX_FILE, &buf, &len);

	if (r < 0)
		return r;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = 0;
	*ret = buf;
	return 0;
}

int cg_read_u64(const char *dir, const char *file, uint64_t *ret)
{
	cleanup_free char *s = NULL;
	int r = cg_read(dir, file, &s);

	if (r < 0)
		return r;
	if (streq(s, "max")) {
		*ret = UINT64_MAX;
		return 0;
	}
	/* v1 "unlimited" values are large numbers; negative ones (-1) mean unlimited too. */
	if (s[0] == '-') {
		*ret = UINT64_MAX;
		return 0;
	}
	return parse_u64(s, ret);
}

int cg_read_kv(const char *dir, const char *file, struct oci_stat_kv **ret, size_t *ret_n)
{
	cleanup_free char *s = NULL;
	size_t cap = *ret_n;
	char *save = NULL;
	int r = cg_read(dir, file, &s);

	if (r < 0)
		return r;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		uint64_t v;

		if (!sp)
			continue;
		*sp = 0;
		if (parse_u64(sp + 1, &v) < 0)
			continue;
		xgrow((void **)ret, &cap, *ret_n + 1, sizeof(**ret));
		(*ret)[*ret_n] = (struct oci_stat_kv){xstrdup(line), v};
		(*ret_n)++;
	}
	return 0;
}

uint64_t cg_kv_get(const struct oci_stat_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (streq(kv[i].key, key))
			return kv[i].value;
	return 0;
}

void cg_kv_free(struct oci_stat_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(kv[i].key);
	free(kv);
}

bool cg_file_exists(const char *dir, const char *file)
{
	cleanup_free char *p = path_join(dir, file);

	return access(p, F_OK) == 0;
}

int cg_stat(const char *dir, const char *file, uint64_t *ret, struct wh_err **err)
{
	int r = cg_read_u64(dir, file, ret);

	if (r < 0)
		return wh_err_set(err, r, "read '%s/%s'", dir, file);
	return 0;
}

int cg_stat_opt(const char *dir, const char *file, uint64_t *ret, struct wh_err **err)
{
	if (!cg_file_exists(dir, file))
		return 0;
	return cg_stat(dir, file, ret, err);
}

static bool list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; p && *p;) {
		const char *e = strchrnul(p, ',');

		if ((size_t)(e - p) == n && strncmp(p, item, n) == 0)
			return true;
		p = *e ? e + 1 : e;
	}
	return false;
}

const struct cg_hier *cg_find(const struct oci_cgroup *cg, const char *ctrl)
{
	for (size_t i = 0; i < cg->n_h; i++)
		if (cg->h[i].ctrls && list_has(cg->h[i].ctrls, ctrl))
			return &cg->h[i];
	return NULL;
}

int cg_unsupported(struct wh_err **err, const char *field, const char *why)
{
	return wh_err_setx(err, EOPNOTSUPP, "%s: cannot be honoured: %s", field, why);
}

/* ---------------------------------------------------------------- mode and path ---- */

const char *oci_cgroup_mode_to_string(enum oci_cgroup_mode m)
{
	switch (m) {
	case OCI_CGROUP_MODE_AUTO:
		return "auto";
	case OCI_CGROUP_MODE_V1:
		return "v1";
	case OCI_CGROUP_MODE_HYBRID:
		return "hybrid";
	case OCI_CGROUP_MODE_V2:
		return "v2";
	default:
		return NULL;
	}
}

int oci_cgroup_detect_mode(const char *root, enum oci_cgroup_mode *ret, struct wh_err **err)
{
	cleanup_free char *unified = NULL;
	struct statfs st;

	if (!root)
		root = DEFAULT_ROOT;
	if (statfs(root, &st) < 0)
		return wh_err_set(err, errno, "statfs '%s'", root);
	if (st.f_type == CGROUP2_SUPER_MAGIC) {
		*ret = OCI_CGROUP_MODE_V2;
		return 0;
	}
	if (st.f_type != TMPFS_MAGIC)
		return wh_err_setx(
			err, EMEDIUMTYPE,
			"'%s' is neither a cgroup2 mount nor a tmpfs of cgroup v1 hierarchies",
			root);
	unified = path_join(root, "unified");
	if (statfs(unified, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
		*ret = OCI_CGROUP_MODE_HYBRID;
	else
		*ret = OCI_CGROUP_MODE_V1;
	return 0;
}

/* Normalizes an absolute path: collapses '/', drops ".", refuses "..". */
static int normalize(const char *in, char **ret)
{
	struct strbuf sb = STRBUF_INIT;
	cleanup_free char *copy = xstrdup(in);
	char *save = NULL;

	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (streq(c, "."))
			continue;
		if (streq(c, "..")) {
			strbuf_release(&sb);
			return -EINVAL;
		}
		strbuf_addc(&sb, '/');
		strbuf_adds(&sb, c);
	}
	if (sb.len == 0)
		strbuf_addc(&sb, '/');
	*ret = strbuf_detach(&sb, NULL);
	return 0;
}

/* The calling process's own cgroup, from /proc/self/cgroup (see cgroup.h). */
static int own_cgroup(enum oci_cgroup_mode mode, char **ret)
{
	cleanup_free char *s = NULL;
	const char *first = NULL, *mem = NULL, *sysd = NULL, *v2 = NULL;
	char *save = NULL;
	int r = read_file("/proc/self/cgroup", CG_MAX_FILE, &s, NULL);

	if (r < 0)
		return r;
	for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		*c2 = 0;
		if (streq(c1 + 1, ""))
			v2 = c2 + 1;
		else if (streq(c1 + 1, "name=systemd"))
			sysd = c2 + 1;
		else if (list_has(c1 + 1, "memory"))
			mem = c2 + 1;
		if (!first && c1[1])
			first = c2 + 1;
	}
	if (mode == OCI_CGROUP_MODE_V2)
		first = v2;
	else if (sysd)
		first = sysd;
	else if (mem)
		first = mem;
	if (!first)
		return -ENOENT;
	*ret = xstrdup(first);
	return 0;
}

/* "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice" (systemd's slice nesting). */
static int expand_slice(const char *slice, struct strbuf *sb)
{
	size_t n = strlen(slice);

	if (n == 0)
		slice = "system.slice", n = strlen(slice);
	if (!str_endswith(slice, ".slice") || strchr(slice, '/') || slice[0] == '-')
		return -EINVAL;
	if (streq(slice, "-.slice"))
		return 0;
	for (size_t i = 0; i + 6 < n; i++) {
		if (slice[i] != '-')
			continue;
		if (slice[i + 1] == '-' || slice[i + 1] == '.')
			return -EINVAL;
		strbuf_addf(sb, "/%.*s.slice", (int)i, slice);
	}
	strbuf_addf(sb, "/%s", slice);
	return 0;
}

int oci_cgroup_resolve_path(const char *cgroups_path, const char *id, enum oci_cgroup_mode mode,
			    char **ret, struct wh_err **err)
{
	cleanup_free char *own = NULL, *joined = NULL, *norm = NULL;
	const char *p = cgroups_path;
	int r;

	if (p && *p && p[0] != '/' && strchr(p, ':')) {
		cleanup_strbuf struct strbuf sb = STRBUF_INIT;
		const char *c1 = strchr(p, ':'), *c2 = strchr(c1 + 1, ':');
		cleanup_free char *slice = xstrndup(p, (size_t)(c1 - p));

		if (!c2 || strchr(c2 + 1, ':') || !c2[1] || strchr(c2 + 1, '/') ||
		    memchr(c1 + 1, '/', (size_t)(c2 - c1 - 1)) || expand_slice(slice, &sb) < 0)
			return wh_err_setx(err, EINVAL,
					   "linux.cgroupsPath: '%s' is not 'slice:prefix:name'", p);
		strbuf_addf(&sb, "/%.*s%s%s.scope", (int)(c2 - c1 - 1), c1 + 1,
			    c2 > c1 + 1 ? "-" : "", c2 + 1);
		joined = strbuf_detach(&sb, NULL);
	} else if (p && p[0] == '/') {
		joined = xstrdup(p);
	} else {
		if (!p || !*p) {
			if (!id || !*id || strchr(id, '/'))
				return wh_err_setx(err, EINVAL,
						   "container id '%s' cannot name a cgroup",
						   id ? id : "");
			p = id;
		}
		r = own_cgroup(mode, &own);
		if (r < 0)
			return wh_err_set(err, r, "read own cgroup from /proc/self/cgroup");
		joined = path_join(own, p);
	}
	r = normalize(joined, &norm);
	if (r < 0)
		return wh_err_setx(err, EINVAL, "linux.cgroupsPath: '%s' must not contain '..'",
				   cgroups_path ? cgroups_path : "");
	if (streq(norm, "/"))
		return wh_err_setx(err, EINVAL, "linux.cgroupsPath: refusing the root cgroup");
	*ret = TAKE_PTR(norm);
	return 0;
}

/* ---------------------------------------------------------------- the handle ---- */

struct oci_cgroup *oci_cgroup_free(struct oci_cgroup *cg)
{
	if (!cg)
		return NULL;
	for (size_t i = 0; i < cg->n_h; i++) {
		free(cg->h[i].ctrls);
		free(cg->h[i].dir);
	}
	free(cg->h);
	free(cg->root);
	free(cg->path);
	free(cg);
	return NULL;
}

DEFINE_CLEANUP(struct oci_cgroup *, oci_cgroup_free)

const char *oci_cgroup_path(const struct oci_cgroup *cg)
{
	return cg->path;
}

enum oci_cgroup_mode oci_cgroup_mode(const struct oci_cgroup *cg)
{
	return cg->hybrid ? OCI_CGROUP_MODE_HYBRID : cg->mode;
}

const char *oci_cgroup_dir(const struct oci_cgroup *cg, const char *ctrl)
{
	const struct cg_hier *h;

	if (cg->mode == OCI_CGROUP_MODE_V2)
		return cg->h[0].dir;
	h = cg_find(cg, streq(ctrl, "io") ? "blkio" : ctrl);
	return h ? h->dir : NULL;
}

static bool v2_has(const char *dir, const char *ctrl)
{
	cleanup_free char *s = NULL;
	char *save = NULL;

	if (cg_read(dir, "cgroup.controllers", &s) < 0)
		return false;
	for (char *t = strtok_r(s, " ", &save); t; t = strtok_r(NULL, " ", &save))
		if (streq(t, ctrl))
			return true;
	return false;
}

bool oci_cgroup_has_controller(const struct oci_cgroup *cg, const char *ctrl)
{
	if (cg->mode == OCI_CGROUP_MODE_V2) {
		/* Device rules are a BPF program on v2, freezing is cgroup.freeze. */
		if (streq(ctrl, "devices"))
			return true;
		if (streq(ctrl, "freezer") || streq(ctrl, "cpuacct"))
			return false;
		return v2_has(cg->h[0].dir, streq(ctrl, "blkio") ? "io" : ctrl);
	}
	return oci_cgroup_dir(cg, ctrl) != NULL;
}

static int new_handle(const char *path, const struct oci_cgroup_opts *opts, struct oci_cgroup **ret,
		      struct wh_err **err)
{
	cleanup(oci_cgroup_freep) struct oci_cgroup *cg = xnew0(struct oci_cgroup, 1);
	enum oci_cgroup_mode mode = opts ? opts->mode : OCI_CGROUP_MODE_AUTO;
	const char *root = opts && opts->root ? opts->root : DEFAULT_ROOT;
	int r;

	if (mode == OCI_CGROUP_MODE_AUTO) {
		r = oci_cgroup_detect_mode(root, &mode, err);
		if (r < 0)
			return r;
	}
	if (mode < OCI_CGROUP_MODE_V1 || mode >= _OCI_CGROUP_MODE_MAX)
		return wh_err_setx(err, EINVAL, "invalid cgroup mode %d", mode);
	cg->hybrid = mode == OCI_CGROUP_MODE_HYBRID;
	cg->mode = cg->hybrid ? OCI_CGROUP_MODE_V1 : mode;
	cg->root = xstrdup(root);
	cg->path = xstrdup(path);
	*ret = TAKE_PTR(cg);
	return 0;
}

static void add_hier(struct oci_cgroup *cg, size_t *cap, const char *ctrls, char *dir)
{
	xgrow((void **)&cg->h, cap, cg->n_h + 1, sizeof(*cg->h));
	cg->h[cg->n_h++] = (struct cg_hier){ctrls ? xstrdup(ctrls) : NULL, dir};
}

/* Fills cg->h: every v1 hierarchy under root (only_existing: where the cgroup exists), or the
 * single v2 one. */
static int find_hierarchies(struct oci_cgroup *cg, bool only_existing, struct wh_err **err)
{
	cleanup_closedir DIR *d = NULL;
	size_t cap = 0;
	struct dirent *de;

	if (cg->mode == OCI_CGROUP_MODE_V2) {
		add_hier(cg, &cap, NULL, path_join(cg->root, cg->path));
		return 0;
	}
	d = opendir(cg->root);
	if (!d)
		return wh_err_set(err, errno, "open '%s'", cg->root);
	while ((de = readdir(d))) {
		cleanup_free char *base = NULL;
		struct statfs st;
		struct stat lst;

		/* The hybrid cgroup2 is joined too (as runc does), without controllers. */
		if (de->d_name[0] == '.' || (streq(de->d_name, "unified") && !cg->hybrid))
			continue;
		base = path_join(cg->root, de->d_name);
		/* cpu -> cpu,cpuacct style links name the same hierarchy: skip them. */
		if (lstat(base, &lst) < 0 || !S_ISDIR(lst.st_mode))
			continue;
		if (statfs(base, &st) < 0 ||
		    st.f_type != (streq(de->d_name, "unified") ? CGROUP2_SUPER_MAGIC
							       : CGROUP_SUPER_MAGIC))
			continue;
		char *dir = path_join(base, cg->path);
		if (only_existing && access(dir, F_OK) < 0) {
			free(dir);
			continue;
		}
		add_hier(cg, &cap, de->d_name, dir);
	}
	if (cg->n_h == 0)
		return wh_err_setx(err, ENOENT, "no cgroup v1 hierarchy under '%s'%s%s", cg->root,
				   only_existing ? " holds " : "", only_existing ? cg->path : "");
	return 0;
}

/* New cpuset cgroups start empty and refuse tasks: copy the parent's sets down. */
static int cpuset_inherit(const char *dir)
{
	cleanup_free char *parent = xstrdup(dir);
	char *slash = strrchr(parent, '/');
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};

	if (!slash)
		return 0;
	*slash = 0;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		cleanup_free char *mine = NULL, *theirs = NULL;
		int r = cg_read(dir, files[i], &mine);

		if (r < 0)
			return r;
		if (*mine)
			continue;
		r = cg_read(parent, files[i], &theirs);
		if (r < 0)
			return r;
		r = cg_write(dir, files[i], theirs);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Enables every controller parent offers for its children (v2). Failures leave that
 * controller off: oci_cgroup_apply() then reports it clearly. */
static void v2_enable_controllers(const char *parent)
{
	cleanup_free char *s = NULL;
	char *save = NULL;

	if (cg_read(parent, "cgroup.controllers", &s) < 0)
		return;
	for (char *t = strtok_r(s, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		cleanup_free char *w = xasprintf("+%s", t);

		(void)cg_write(parent, "cgroup.subtree_control", w);
	}
}

/* Removes dir and its ancestors up to (and including) stop, deepest first. */
static void rmdir_up_to(const char *dir, const char *stop)
{
	cleanup_free char *p = xstrdup(dir);

	for (;;) {
		bool last = streq(p, stop);
		char *slash;

		if (rmdir(p) < 0 || last)
			return;
		slash = strrchr(p, '/');
		if (!slash)
			return;
		*slash = 0;
	}
}

/* mkdir -p of h->dir below base; *ret_first gets the first directory made (NULL if none). */
static int make_dirs(const struct oci_cgroup *cg, const struct cg_hier *h, char **ret_first)
{
	cleanup_free char *base =
		cg->mode == OCI_CGROUP_MODE_V2 ? xstrdup(cg->root) : path_join(cg->root, h->ctrls);
	cleanup_free char *cur = xstrdup(base);
	cleanup_free char *copy = xstrdup(cg->path);
	bool cpuset = h->ctrls && list_has(h->ctrls, "cpuset");
	char *save = NULL;
	int r;

	*ret_first = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		char *next = path_join(cur, c);

		if (cg->mode == OCI_CGROUP_MODE_V2)
			v2_enable_controllers(cur);
		free(cur);
		cur = next;
		if (mkdir(cur, 0755) < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		if (!*ret_first)
			*ret_first = xstrdup(cur);
		if (cpuset) {
			r = cpuset_inherit(cur);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int oci_cgroup_create(const char *cgroups_path, const char *id, const struct oci_cgroup_opts *opts,
		      struct oci_cgroup **ret, struct wh_err **err)
{
	cleanup(oci_cgroup_freep) struct oci_cgroup *cg = NULL;
	cleanup_free char *path = NULL;
	char **firsts = NULL;
	int r;

	r = new_handle("/", opts, &cg, err);
	if (r < 0)
		return r;
	r = oci_cgroup_resolve_path(cgroups_path, id, cg->mode, &path, err);
	if (r < 0)
		return r;
	free(cg->path);
	cg->path = TAKE_PTR(path);
	r = find_hierarchies(cg, false, err);
	if (r < 0)
		return r;
	firsts = xnew0(char *, cg->n_h + 1);
	for (size_t i = 0; i < cg->n_h; i++) {
		r = make_dirs(cg, &cg->h[i], &firsts[i]);
		if (r < 0) {
			/* Undo: nothing half-made stays behind. */
			for (size_t j = 0; j <= i; j++)
				if (firsts[j])
					rmdir_up_to(cg->h[j].dir, firsts[j]);
			for (size_t j = 0; j <= i; j++)
				free(firsts[j]);
			free(firsts);
			return wh_err_set(err, r, "create cgroup '%s'", cg->h[i].dir);
		}
	}
	for (size_t i = 0; i < cg->n_h; i++)
		free(firsts[i]);
	free(firsts);
	*ret = TAKE_PTR(cg);
	return 0;
}

int oci_cgroup_open(const char *path, const struct oci_cgroup_opts *opts, struct oci_cgroup **ret,
		    struct wh_err **err)
{
	cleanup(oci_cgroup_freep) struct oci_cgroup *cg = NULL;
	cleanup_free char *norm = NULL;
	int r;

	if (!path || path[0] != '/' || normalize(path, &norm) < 0 || streq(norm, "/"))
		return wh_err_setx(err, EINVAL, "cgroup path '%s' is not a container cgroup",
				   path ? path : "");
	r = new_handle(norm, opts, &cg, err);
	if (r < 0)
		return r;
	r = find_hierarchies(cg, true, err);
	if (r < 0)
		return r;
	if (cg->mode == OCI_CGROUP_MODE_V2 && access(cg->h[0].dir, F_OK) < 0)
		return wh_err_set(err, errno, "open cgroup '%s'", cg->h[0].dir);
	*ret = TAKE_PTR(cg);
	return 0;
}

int oci_cgroup_enter(const struct oci_cgroup *cg, pid_t pid, struct wh_err **err)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (size_t i = 0; i < cg->n_h; i++) {
		int r = cg_write(cg->h[i].dir, "cgroup.procs", buf);

		if (r < 0)
			return wh_err_set(err, r, "move pid %d into '%s'", (int)pid, cg->h[i].dir);
	}
	return 0;
}

int oci_cgroup_apply(const struct oci_cgroup *cg, const struct oci_resources *res,
		     struct wh_err **err)
{
	int r;

	if (cg->mode == OCI_CGROUP_MODE_V2) {
		r = cg2_check(cg, res, err);
		return r < 0 ? r : cg2_apply(cg, res, err);
	}
	r = cg1_check(cg, res, err);
	return r < 0 ? r : cg1_apply(cg, res, err);
}

/* ------------------------------------------------------------------ freezer ---- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int oci_cgroup_freezer_state(const struct oci_cgroup *cg, enum oci_freezer_state *ret,
			     struct wh_err **err)
{
	cleanup_free char *s = NULL;
	const char *dir;
	int r;

	if (cg->mode == OCI_CGROUP_MODE_V2) {
		struct oci_stat_kv *kv = NULL;
		size_t n = 0;
		uint64_t want;

		dir = cg->h[0].dir;
		r = cg_read(dir, "cgroup.freeze", &s);
		if (r == -ENOENT)
			return wh_err_setx(err, EOPNOTSUPP, "cgroup '%s' has no cgroup.freeze",
					   dir);
		if (r < 0)
			return wh_err_set(err, r, "read '%s/cgroup.freeze'", dir);
		want = streq(s, "1");
		r = cg_read_kv(dir, "cgroup.events", &kv, &n);
		if (r < 0)
			return wh_err_set(err, r, "read '%s/cgroup.events'", dir);
		bool frozen = cg_kv_get(kv, n, "frozen") == 1;
		cg_kv_free(kv, n);
		*ret = frozen ? OCI_FREEZER_FROZEN
		       : want ? OCI_FREEZER_FREEZING
			      : OCI_FREEZER_THAWED;
		return 0;
	}
	dir = oci_cgroup_dir(cg, "freezer");
	if (!dir)
		return wh_err_setx(err, EOPNOTSUPP, "no freezer hierarchy is mounted");
	r = cg_read(dir, "freezer.state", &s);
	if (r < 0)
		return wh_err_set(err, r, "read '%s/freezer.state'", dir);
	if (streq(s, "FROZEN"))
		*ret = OCI_FREEZER_FROZEN;
	else if (streq(s, "FREEZING"))
		*ret = OCI_FREEZER_FREEZING;
	else
		*ret = OCI_FREEZER_THAWED;
	return 0;
}

static int freezer_write(const struct oci_cgroup *cg, bool freeze)
{
	if (cg->mode == OCI_CGROUP_MODE_V2)
		return cg_write(cg->h[0].dir, "cgroup.freeze", freeze ? "1" : "0");
	return cg_write(oci_cgroup_dir(cg, "freezer"), "freezer.state",
			freeze ? "FROZEN" : "THAWED");
}

static int freezer_set(const struct oci_cgroup *cg, bool freeze, struct wh_err **err)
{
	enum oci_freezer_state st;
	unsigned waited = 0, step = 1;
	int r;

	/* Fails with EOPNOTSUPP before writing when there is no freezer. */
	r = oci_cgroup_freezer_state(cg, &st, err);
	if (r < 0)
		return r;
	for (;;) {
		/* v1 may stay FREEZING when a task is in an uninterruptible wait: writing again
		 * retries the freeze, as runc does. */
		r = freezer_write(cg, freeze);
		if (r < 0)
			return wh_err_set(err, r, "%s cgroup '%s'", freeze ? "freeze" : "thaw",
					  cg->path);
		r = oci_cgroup_freezer_state(cg, &st, err);
		if (r < 0)
			return r;
		if (freeze ? st == OCI_FREEZER_FROZEN : st == OCI_FREEZER_THAWED)
			return 0;
		if (waited >= 5000)
			break;
		sleep_ms(step);
		waited += step;
		step = MIN(step * 2, 50u);
	}
	if (freeze)
		(void)freezer_write(cg, false);
	return wh_err_setx(err, ETIMEDOUT, "%s cgroup '%s': still not %s after 5s",
			   freeze ? "freeze" : "thaw", cg->path, freeze ? "frozen" : "thawed");
}

int oci_cgroup_freeze(const struct oci_cgroup *cg, struct wh_err **err)
{
	return freezer_set(cg, true, err);
}

int oci_cgroup_thaw(const struct oci_cgroup *cg, struct wh_err **err)
{
	return freezer_set(cg, false, err);
}

/* ------------------------------------------------------------- pids, kill, destroy ---- */

static void push_pid(pid_t **v, size_t *n, size_t *cap, pid_t p)
{
	xgrow((void **)v, cap, *n + 1, sizeof(**v));
	(*v)[(*n)++] = p;
}

static int read_procs(const char *dir, bool recursive, pid_t **v, size_t *n, size_t *cap)
{
	cleanup_free char *s = NULL;
	cleanup_closedir DIR *d = NULL;
	char *save = NULL;
	struct dirent *de;
	int r = cg_read(dir, "cgroup.procs", &s);

	if (r < 0)
		return r;
	for (char *t = strtok_r(s, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
		int pid;

		if (parse_int(t, &pid) == 0 && pid > 0)
			push_pid(v, n, cap, pid);
	}
	if (!recursive)
		return 0;
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		cleanup_free char *sub = NULL;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = path_join(dir, de->d_name);
		r = read_procs(sub, true, v, n, cap);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	return 0;
}

static const char *procs_dir(const struct oci_cgroup *cg)
{
	const char *dir = oci_cgroup_dir(cg, "pids");

	return dir ? dir : cg->h[0].dir;
}

int oci_cgroup_pids(const struct oci_cgroup *cg, bool recursive, pid_t **ret, size_t *ret_n,
		    struct wh_err **err)
{
	pid_t *v = NULL;
	size_t n = 0, cap = 0;
	const char *dir = procs_dir(cg);
	int r = read_procs(dir, recursive, &v, &n, &cap);

	if (r < 0) {
		free(v);
		return wh_err_set(err, r, "list processes of '%s'", dir);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* cgroup.procs of the pids (or first) hierarchy and below; -errno, no error object. */
static int read_procs_any(const struct oci_cgroup *cg, pid_t **ret, size_t *ret_n)
{
	pid_t *v = NULL;
	size_t n = 0, cap = 0;
	int r = read_procs(procs_dir(cg), true, &v, &n, &cap);

	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static bool has_freezer(const struct oci_cgroup *cg)
{
	if (cg->mode == OCI_CGROUP_MODE_V2)
		return cg_file_exists(cg->h[0].dir, "cgroup.freeze");
	return oci_cgroup_dir(cg, "freezer") != NULL;
}

int oci_cgroup_kill(const struct oci_cgroup *cg, int sig, struct wh_err **err)
{
	cleanup_free pid_t *pids = NULL;
	enum oci_freezer_state st = OCI_FREEZER_THAWED;
	bool freeze = sig == SIGKILL && has_freezer(cg);
	size_t n = 0;
	int r, count = 0;

	/* v2 kills the whole subtree atomically, frozen or not (Linux 5.14). */
	if (sig == SIGKILL && cg->mode == OCI_CGROUP_MODE_V2 &&
	    cg_file_exists(cg->h[0].dir, "cgroup.kill")) {
		r = oci_cgroup_pids(cg, true, &pids, &n, err);
		if (r < 0)
			return r;
		r = cg_write(cg->h[0].dir, "cgroup.kill", "1");
		if (r < 0)
			return wh_err_set(err, r, "write '1' to '%s/cgroup.kill'", cg->h[0].dir);
		return (int)MIN(n, (size_t)INT_MAX);
	}
	/* Nothing to signal (the usual case at delete): no freeze round trip. */
	r = oci_cgroup_pids(cg, true, &pids, &n, err);
	if (r < 0 || n == 0)
		return r;
	if (freeze) {
		r = oci_cgroup_freezer_state(cg, &st, err);
		if (r >= 0 && st != OCI_FREEZER_FROZEN)
			r = oci_cgroup_freeze(cg, err);
		if (r < 0)
			return r;
		free(TAKE_PTR(pids));
		r = oci_cgroup_pids(cg, true, &pids, &n, err);
	}
	for (size_t i = 0; r >= 0 && i < n; i++) {
		if (kill(pids[i], sig) == 0)
			count++;
		else if (errno != ESRCH)
			r = wh_err_set(err, errno, "kill pid %d", (int)pids[i]);
	}
	/* SIGKILLed tasks only die once they run again. */
	if (freeze) {
		int t = oci_cgroup_thaw(cg, r < 0 ? NULL : err);

		if (r >= 0 && t < 0)
			return t;
	}
	return r < 0 ? r : count;
}

/* Waits until no process is left, killing again every half second. -ENOENT once the cgroup
 * is gone. */
static int wait_empty(const struct oci_cgroup *cg, struct wh_err **err)
{
	unsigned waited = 0, step = 1, last_kill = 0;

	for (;;) {
		cleanup_free pid_t *pids = NULL;
		size_t n = 0;
		int r = read_procs_any(cg, &pids, &n);

		if (r < 0)
			return r == -ENOENT
				       ? r
				       : wh_err_set(err, r, "list processes of '%s'", cg->path);
		if (n == 0)
			return 0;
		if (waited >= 5000)
			return wh_err_setx(err, EBUSY,
					   "cgroup '%s' still holds %zu processes (pid %d)",
					   cg->path, n, (int)pids[0]);
		if (waited - last_kill >= 500) {
			(void)oci_cgroup_kill(cg, SIGKILL, NULL);
			last_kill = waited;
		}
		sleep_ms(step);
		waited += step;
		step = MIN(step * 2, 50u);
	}
}

/* rmdir -r of a cgroup directory (only directories: cgroupfs files cannot be removed). */
static int rmdir_tree(const char *dir)
{
	cleanup_closedir DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		cleanup_free char *sub = NULL;
		int r;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = path_join(dir, de->d_name);
		r = rmdir_tree(sub);
		if (r < 0)
			return r;
	}
	for (unsigned waited = 0;; waited += 10) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || waited >= 1000)
			return -errno;
		sleep_ms(10);
	}
}

int oci_cgroup_destroy(const struct oci_cgroup *cg, struct wh_err **err)
{
	int r;

	/* Errors here are retried by wait_empty(), which reports what is left. */
	(void)oci_cgroup_kill(cg, SIGKILL, NULL);
	r = wait_empty(cg, err);
	if (r < 0 && r != -ENOENT)
		return r;
	for (size_t i = 0; i < cg->n_h; i++) {
		r = rmdir_tree(cg->h[i].dir);
		if (r < 0)
			return wh_err_set(err, r, "remove cgroup '%s'", cg->h[i].dir);
	}
	return 0;
}

/* -------------------------------------------------------------------- stats ---- */

int oci_cgroup_stats(const struct oci_cgroup *cg, struct oci_cgroup_stats *ret, struct wh_err **err)
{
	struct oci_cgroup_stats s = {0};
	int r;

	r = cg->mode == OCI_CGROUP_MODE_V2 ? cg2_stats(cg, &s, err) : cg1_stats(cg, &s, err);
	if (r < 0) {
		oci_cgroup_stats_release(&s);
		return r;
	}
	*ret = s;
	return 0;
}

static void free_entries(struct oci_blkio_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].op);
	free(e);
}

void oci_cgroup_stats_release(struct oci_cgroup_stats *s)
{
	if (!s)
		return;
	cg_kv_free(s->memory.stat, s->memory.n_stat);
	cg_kv_free(s->memory.events, s->memory.n_events);
	free(s->cpu.per_cpu_ns);
	free_entries(s->blkio.io_service_bytes, s->blkio.n_io_service_bytes);
	free_entries(s->blkio.io_serviced, s->blkio.n_io_serviced);
	for (size_t i = 0; i < s->n_hugetlb; i++)
		free(s->hugetlb[i].page_size);
	free(s->hugetlb);
	*s = (struct oci_cgroup_stats){0};
}

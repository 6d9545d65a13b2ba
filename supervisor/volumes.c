/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The volume store (<root>/volumes/<ns>/<name>/: _data/ and the record volume.json, written
 * atomically; the record's presence is the volume's existence) and the two steps of
 * Tasks.Create that resolve a container's "volume" mounts into bind mounts of their data and
 * pre-fill new volumes from the image. See volumes.h.
 */
#include "supervisor/volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "metadata/metadata.h"
#include "snapshots/snapshots.h"
#include "supervisor/supervisor.h"

#define RECORD "volume.json"
#define RECORD_MAX (256u << 10)
#define SPEC_MAX (64u << 20)

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned trash_counter;

static void yajl_valp(yajl_val *v)
{
	yajl_tree_free(*v);
}

bool volume_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > VOLUME_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || !strchr("_.-", c)))
			return false;
	}
	return true;
}

/* containerd's namespace rule, checked again here because the name becomes a directory. */
static bool ns_valid(const char *ns)
{
	size_t n = ns ? strlen(ns) : 0;
	bool prev_sep = true;

	if (n == 0 || n > 76)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = ns[i];
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (alnum) {
			prev_sep = false;
		} else if (strchr("._-", c) && !prev_sep) {
			prev_sep = true;
		} else {
			return false;
		}
	}
	return !prev_sep;
}

static int check_names(const char *ns, const char *name, struct wh_err **err)
{
	if (!ns_valid(ns))
		return wh_err_setx(err, EINVAL, "namespace '%s' is not a valid identifier",
				   ns ? ns : "");
	if (!volume_name_valid(name))
		return wh_err_setx(err, EINVAL,
				   "volume name '%s' is invalid: it must match "
				   "[a-zA-Z0-9][a-zA-Z0-9_.-]* (at most %d bytes)",
				   name ? name : "", VOLUME_NAME_MAX);
	return 0;
}

static char *ns_dir(const char *root, const char *ns)
{
	return xasprintf("%s/volumes/%s", root, ns);
}

void volume_release(struct volume *v)
{
	free(v->name);
	free(v->dir);
	free(v->mountpoint);
	strv_free(v->labels);
	*v = (struct volume){0};
}

void volumes_free(struct volume *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		volume_release(&v[i]);
	free(v);
}

bool volume_label_has(const char *label_value, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = label_value; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = e ? e + 1 : p + len;
	}
	return false;
}

/* ---- records ---- */

static int record_write(const struct volume *v, struct wh_err **err)
{
	yajl_gen g = json_gen_new(true);
	cleanup_free char *created = time_rfc3339(v->created_ns);
	cleanup_free char *path = path_join(v->dir, RECORD);
	cleanup_free char *text = NULL;
	size_t len;
	int r;

	yajl_gen_map_open(g);
	json_gen_kv_str(g, "name", v->name);
	json_gen_kv_str(g, "created_at", created);
	json_gen_kv_int(g, "created_ns", (int64_t)v->created_ns);
	json_gen_kv_bool(g, "anonymous", v->anonymous);
	json_gen_kv_bool(g, "initialized", v->initialized);
	json_gen_str(g, "labels");
	yajl_gen_map_open(g);
	for (size_t i = 0; v->labels && v->labels[i] && v->labels[i + 1]; i += 2)
		json_gen_kv_str(g, v->labels[i], v->labels[i + 1]);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	text = json_gen_finish(g, &len);
	if ((r = write_file_atomic(path, text, len, 0600)) < 0)
		return wh_err_set(err, r, "write '%s'", path);
	return 0;
}

/* Reads the volume in dir (-ENOENT when there is no record). */
static int record_read(const char *dir, const char *name, struct volume *ret, struct wh_err **err)
{
	cleanup(yajl_valp) yajl_val root = NULL;
	cleanup_free char *path = path_join(dir, RECORD);
	struct volume v = {0};
	yajl_val labels;
	int64_t created = 0;
	int r;

	if (access(path, F_OK) < 0) {
		if (errno == ENOENT)
			return -ENOENT; /* no volume here: the caller says which */
		return wh_err_set(err, errno, "'%s'", path);
	}
	if ((r = json_parse_file(path, RECORD_MAX, &root, err)) < 0)
		return r;
	labels = json_get(root, "labels");
	if ((r = json_get_int64_opt(root, "created_ns", "created_ns", &created, err)) < 0 ||
	    (r = json_get_bool_opt(root, "anonymous", "anonymous", &v.anonymous, err)) < 0 ||
	    (r = json_get_bool_opt(root, "initialized", "initialized", &v.initialized, err)) < 0 ||
	    (r = json_expect_object(labels, "labels", err)) < 0)
		return wh_err_wrap(err, r, "'%s'", path);
	for (size_t i = 0; labels && i < labels->u.object.len; i++) {
		const char *val = YAJL_GET_STRING(labels->u.object.values[i]);

		if (!val)
			continue;
		strv_push(&v.labels, labels->u.object.keys[i]);
		strv_push(&v.labels, val);
	}
	v.created_ns = created > 0 ? (uint64_t)created : 0;
	v.name = xstrdup(name);
	v.dir = xstrdup(dir);
	v.mountpoint = path_join(dir, "_data");
	*ret = v;
	return 0;
}

/* ---- the store ---- */

static int create_locked(const char *root, const char *ns, const char *name, char *const *labels,
			 bool anonymous, struct volume *ret, bool *ret_created, struct wh_err **err)
{
	cleanup_free char *nsd = ns_dir(root, ns);
	cleanup_free char *dir = path_join(nsd, name);
	cleanup_free char *data = path_join(dir, "_data");
	struct volume v = {0};
	int r;

	r = record_read(dir, name, &v, err);
	if (r >= 0) {
		*ret_created = false;
		*ret = v;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	/* Only root walks into the volumes; containers get their _data by bind mount. */
	if ((r = mkdir_p(nsd, 0700)) < 0)
		return wh_err_set(err, r, "create '%s'", nsd);
	/* A directory without a record is a creation that died half-way: made again. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return wh_err_set(err, errno, "create '%s'", dir);
	if (mkdir(data, 0755) < 0 && errno != EEXIST)
		return wh_err_set(err, errno, "create '%s'", data);
	v = (struct volume){
		.name = xstrdup(name),
		.dir = TAKE_PTR(dir),
		.mountpoint = TAKE_PTR(data),
		.labels = strv_copy(labels),
		.created_ns = now_real_ns(),
		.anonymous = anonymous,
	};
	if ((r = record_write(&v, err)) < 0) {
		volume_release(&v);
		return r;
	}
	*ret_created = true;
	*ret = v;
	return 0;
}

int volume_create(const char *root, const char *ns, const char *name, char *const *labels,
		  bool anonymous, struct volume *ret, bool *ret_created, struct wh_err **err)
{
	struct volume v = {0};
	bool created = false;
	int r;

	if ((r = check_names(ns, name, err)) < 0)
		return r;
	if (strv_length(labels) % 2)
		return wh_err_setx(err, EINVAL, "volume labels: a key without a value");
	pthread_mutex_lock(&store_lock);
	r = create_locked(root, ns, name, labels, anonymous, &v, &created, err);
	pthread_mutex_unlock(&store_lock);
	if (r < 0)
		return wh_err_wrap(err, r, "volume \"%s\"", name);
	if (ret_created)
		*ret_created = created;
	if (ret)
		*ret = v;
	else
		volume_release(&v);
	return 0;
}

int volume_get(const char *root, const char *ns, const char *name, struct volume *ret,
	       struct wh_err **err)
{
	cleanup_free char *nsd = NULL, *dir = NULL;
	int r;

	if ((r = check_names(ns, name, err)) < 0)
		return r;
	nsd = ns_dir(root, ns);
	dir = path_join(nsd, name);
	pthread_mutex_lock(&store_lock);
	r = record_read(dir, name, ret, err);
	pthread_mutex_unlock(&store_lock);
	if (r == -ENOENT && !(err && *err))
		return wh_err_setx(err, ENOENT, "volume \"%s\" not found", name);
	return r;
}

static int cmp_volume(const void *a, const void *b)
{
	return strcmp(((const struct volume *)a)->name, ((const struct volume *)b)->name);
}

/* Removes what a removal that failed half-way left (".removing-*"); errors are only logged. */
static void clean_trash(const char *nsd, DIR *d)
{
	struct dirent *de;

	rewinddir(d);
	while ((de = readdir(d))) {
		cleanup_free char *p = NULL;

		if (!str_startswith(de->d_name, ".removing-"))
			continue;
		p = path_join(nsd, de->d_name);
		if (rm_rf(p) < 0)
			log_warn("volumes: cannot remove '%s': %m", p);
	}
}

int volume_list(const char *root, const char *ns, struct volume **ret, size_t *ret_n,
		struct wh_err **err)
{
	cleanup_free char *nsd = NULL;
	cleanup_closedir DIR *d = NULL;
	struct volume *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	bool trash = false;
	int open_errno;

	if (!ns_valid(ns))
		return wh_err_setx(err, EINVAL, "namespace '%s' is not a valid identifier", ns);
	nsd = ns_dir(root, ns);
	pthread_mutex_lock(&store_lock);
	d = opendir(nsd);
	open_errno = errno;
	while (d && (de = readdir(d))) {
		cleanup_free char *dir = NULL;
		cleanup_err struct wh_err *e = NULL;
		struct volume one;
		int r;

		trash |= str_startswith(de->d_name, ".removing-");
		if (!volume_name_valid(de->d_name))
			continue;
		dir = path_join(nsd, de->d_name);
		r = record_read(dir, de->d_name, &one, &e);
		if (r == -ENOENT && !e)
			continue;
		if (r < 0) {
			log_warn("volumes: skipping %s/%s: %s", ns, de->d_name, wh_err_msg(e));
			continue;
		}
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		v[n++] = one;
	}
	if (d && trash)
		clean_trash(nsd, d);
	pthread_mutex_unlock(&store_lock);
	if (!d && open_errno != ENOENT) {
		volumes_free(v, n);
		return wh_err_set(err, open_errno, "read '%s'", nsd);
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_volume);
	*ret = v;
	*ret_n = n;
	return 0;
}

int volume_remove(const char *root, const char *ns, const char *name, struct wh_err **err)
{
	cleanup_free char *nsd = NULL, *dir = NULL, *rec = NULL, *trash = NULL;
	int r;

	if ((r = check_names(ns, name, err)) < 0)
		return r;
	nsd = ns_dir(root, ns);
	dir = path_join(nsd, name);
	rec = path_join(dir, RECORD);
	pthread_mutex_lock(&store_lock);
	if (access(rec, F_OK) < 0) {
		r = errno == ENOENT ? wh_err_setx(err, ENOENT, "volume \"%s\" not found", name)
				    : wh_err_set(err, errno, "volume \"%s\"", name);
		pthread_mutex_unlock(&store_lock);
		return r;
	}
	/* Gone at once by its name (a rename); the data goes after, outside the lock. */
	/* (not named after the volume: a 255-byte name would not fit in it) */
	trash = xasprintf("%s/.removing-%d-%u", nsd, (int)getpid(), ++trash_counter);
	if (rename(dir, trash) < 0)
		r = wh_err_set(err, errno, "volume \"%s\": rename to '%s'", name, trash);
	pthread_mutex_unlock(&store_lock);
	if (r < 0)
		return r;
	if ((r = rm_rf(trash)) < 0)
		log_warn("volume %s/%s: removing its data: %s (retried at the next list)", ns, name,
			 strerror(-r));
	return 0;
}

struct usage {
	struct inode_map seen; /* inodes with more than one link */
	int64_t bytes;
};

static int usage_walk(int dir, dev_t dev, struct usage *u, unsigned depth)
{
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;
	int fd;

	if (depth > 512)
		return -ELOOP;
	if ((fd = fcntl(dir, F_DUPFD_CLOEXEC, 3)) < 0)
		return -errno;
	if (!(d = fdopendir(fd))) {
		wh_close(fd);
		return -errno;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		struct stat st;
		bool fresh = true;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue;
		if (st.st_nlink > 1)
			inode_map_get(&u->seen, st.st_dev, st.st_ino, &fresh);
		if (!fresh)
			continue;
		u->bytes += (int64_t)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode)) {
			cleanup_close int sub = openat(
				dir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int r;

			if (sub >= 0 && (r = usage_walk(sub, dev, u, depth + 1)) < 0)
				return r;
		}
	}
	return 0;
}

int volume_disk_usage(const char *path, int64_t *ret)
{
	cleanup_close int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct usage u = {0};
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	r = usage_walk(fd, st.st_dev, &u, 0);
	inode_map_release(&u.seen);
	if (r < 0)
		return r;
	*ret = u.bytes + (int64_t)st.st_blocks * 512;
	return 0;
}

static int mark_initialized(const char *root, const char *ns, const char *name, struct wh_err **err)
{
	cleanup_free char *nsd = ns_dir(root, ns);
	cleanup_free char *dir = path_join(nsd, name);
	struct volume v;
	int r;

	pthread_mutex_lock(&store_lock);
	r = record_read(dir, name, &v, err);
	if (r >= 0 && !v.initialized) {
		v.initialized = true;
		r = record_write(&v, err);
	}
	if (r >= 0)
		volume_release(&v);
	pthread_mutex_unlock(&store_lock);
	if (r == -ENOENT && !(err && *err))
		return wh_err_setx(err, ENOENT, "volume \"%s\" not found", name);
	return r;
}

/* ---- Tasks.Create: volume mounts into bind mounts ---- */

static const char *label_get(char *const *kv, const char *key)
{
	for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
		if (streq(kv[i], key))
			return kv[i + 1];
	return NULL;
}

/* Makes (or finds) the volume of one "volume" mount and writes its bind mount. */
static int gen_volume_mount(struct daemon *d, const char *ns, const struct meta_container *mc,
			    yajl_gen g, yajl_val m, struct wh_err **err)
{
	const char *dst = YAJL_GET_STRING(json_get(m, "destination"));
	const char *name = YAJL_GET_STRING(json_get(m, "source"));
	yajl_val opts = json_get(m, "options");
	bool nocopy = false, bind = false, created = false;
	struct volume v = {0};
	int r;

	if (!dst || dst[0] != '/')
		return wh_err_setx(err, EINVAL, "a volume mount needs an absolute destination");
	if (opts && !YAJL_IS_ARRAY(opts))
		return wh_err_setx(err, EINVAL, "mount '%s': options: expected an array", dst);
	r = volume_create(
		d->cfg.root, ns, name ? name : "", NULL,
		volume_label_has(label_get(mc->labels, VOLUME_LABEL_ANONYMOUS), name ? name : ""),
		&v, &created, err);
	if (r < 0)
		return wh_err_wrap(err, r, "mount '%s'", dst);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "destination", dst);
	json_gen_kv_str(g, "type", "bind");
	json_gen_kv_str(g, "source", v.mountpoint);
	json_gen_str(g, "options");
	yajl_gen_array_open(g);
	for (size_t i = 0; opts && i < opts->u.array.len; i++) {
		const char *o = YAJL_GET_STRING(opts->u.array.values[i]);

		if (!o)
			continue;
		if (streq(o, "nocopy")) {
			nocopy = true;
			continue;
		}
		bind |= streq(o, "bind") || streq(o, "rbind");
		json_gen_str(g, o);
	}
	if (!bind)
		json_gen_str(g, "rbind");
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	if (created)
		log_info("volume %s/%s created for container %s", ns, v.name, mc->id);
	if (nocopy && !v.initialized)
		r = mark_initialized(d->cfg.root, ns, v.name, err);
	volume_release(&v);
	return r;
}

/* A bind mount whose source is missing fails here, naming both, rather than in the runtime. */
static int check_bind(yajl_val m, struct wh_err **err)
{
	const char *type = YAJL_GET_STRING(json_get(m, "type"));
	const char *src = YAJL_GET_STRING(json_get(m, "source"));
	const char *dst = YAJL_GET_STRING(json_get(m, "destination"));
	yajl_val opts = json_get(m, "options");
	bool bind = type && streq(type, "bind");
	struct stat st;

	for (size_t i = 0; !bind && opts && YAJL_IS_ARRAY(opts) && i < opts->u.array.len; i++) {
		const char *o = YAJL_GET_STRING(opts->u.array.values[i]);

		bind = o && (streq(o, "bind") || streq(o, "rbind"));
	}
	/* A relative source is the bundle's (runtime-spec): the runtime resolves it. */
	if (!bind || !src || src[0] != '/')
		return 0;
	if (stat(src, &st) < 0)
		return wh_err_set(err, errno, "mount '%s': bind source '%s'", dst ? dst : "?", src);
	return 0;
}

static int gen_mounts(struct daemon *d, const char *ns, const struct meta_container *mc, yajl_gen g,
		      yajl_val mounts, char ***names, struct wh_err **err)
{
	int r;

	yajl_gen_array_open(g);
	for (size_t i = 0; i < mounts->u.array.len; i++) {
		yajl_val m = mounts->u.array.values[i];
		const char *type = YAJL_GET_STRING(json_get(m, "type"));

		if (YAJL_IS_OBJECT(m) && type && streq(type, "volume")) {
			if ((r = gen_volume_mount(d, ns, mc, g, m, err)) < 0)
				return r;
			strv_push(names, YAJL_GET_STRING(json_get(m, "source")));
			continue;
		}
		json_gen_value(g, m);
	}
	yajl_gen_array_close(g);
	return 0;
}

/*
 * The container's "wharf/volumes" label names every volume its spec uses (a client other than
 * wharfctl may not have set it): what is missing is added, so the volume counts as in use.
 */
static int record_uses(struct daemon *d, const char *ns, const struct meta_container *mc,
		       char *const *names, struct wh_err **err)
{
	const char *have = label_get(mc->labels, VOLUME_LABEL_USES);
	const char *paths[] = {"labels." VOLUME_LABEL_USES, NULL};
	struct strbuf value = STRBUF_INIT;
	struct meta_container u;
	int r;

	strbuf_adds(&value, have ? have : "");
	strv_foreach(n, (char **)names)
		if (!volume_label_has(value.buf, *n))
			strbuf_addf(&value, "%s%s", value.len ? "," : "", *n);
	if (streq(value.buf, have ? have : "")) {
		strbuf_release(&value);
		return 0;
	}
	u = (struct meta_container){
		.id = mc->id,
		.runtime_name = mc->runtime_name,
		.snapshotter = mc->snapshotter,
		.snapshot_key = mc->snapshot_key,
		.labels = (char *[]){(char *)VOLUME_LABEL_USES, value.buf, NULL},
	};
	r = meta_container_update(d->db, ns, &u, paths, err);
	strbuf_release(&value);
	return r;
}

int volumes_task_prepare(struct daemon *d, const char *ns, const struct meta_container *mc,
			 void **spec, size_t *spec_len, struct wh_err **err)
{
	cleanup(yajl_valp) yajl_val root = NULL;
	cleanup_strv char **names = NULL;
	size_t volumes = 0;
	yajl_val mounts;
	yajl_gen g;
	int r;

	if (*spec_len > SPEC_MAX)
		return 0; /* the runtime reports it */
	if ((r = json_parse(*spec, *spec_len, &root, err)) < 0)
		return wh_err_wrap(err, r, "container '%s': spec", mc->id);
	mounts = json_get(root, "mounts");
	if (!YAJL_IS_OBJECT(root) || !mounts || !YAJL_IS_ARRAY(mounts))
		return 0;
	for (size_t i = 0; i < mounts->u.array.len; i++) {
		yajl_val m = mounts->u.array.values[i];
		const char *type = YAJL_GET_STRING(json_get(m, "type"));

		if (!YAJL_IS_OBJECT(m))
			continue;
		if (type && streq(type, "volume"))
			volumes++;
		else if ((r = check_bind(m, err)) < 0)
			return wh_err_wrap(err, r, "container '%s'", mc->id);
	}
	if (volumes == 0)
		return 0; /* the spec stays byte for byte */
	g = json_gen_new(false);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < root->u.object.len; i++) {
		json_gen_str(g, root->u.object.keys[i]);
		if (root->u.object.values[i] != mounts) {
			json_gen_value(g, root->u.object.values[i]);
			continue;
		}
		if ((r = gen_mounts(d, ns, mc, g, mounts, &names, err)) < 0) {
			free(json_gen_finish(g, NULL));
			return wh_err_wrap(err, r, "container '%s'", mc->id);
		}
	}
	yajl_gen_map_close(g);
	if ((r = record_uses(d, ns, mc, names, err)) < 0) {
		free(json_gen_finish(g, NULL));
		return wh_err_wrap(err, r, "container '%s': record its volumes", mc->id);
	}
	free(*spec);
	*spec = json_gen_finish(g, spec_len);
	return 0;
}

/* ---- Tasks.Create: the pre-fill ---- */

static bool dir_is_empty(const char *path)
{
	cleanup_closedir DIR *d = opendir(path);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			return false;
	return d != NULL;
}

/* The volume name when src is exactly <nsd>/<name>/_data, else NULL (caller frees). */
static char *volume_of_source(const char *nsd, const char *src)
{
	size_t n = strlen(nsd);
	const char *name, *end;

	if (!src || strncmp(src, nsd, n) != 0 || src[n] != '/')
		return NULL;
	name = src + n + 1;
	end = strchr(name, '/');
	if (!end || !streq(end, "/_data"))
		return NULL;
	cleanup_free char *v = xstrndup(name, (size_t)(end - name));
	return volume_name_valid(v) ? TAKE_PTR(v) : NULL;
}

struct fills {
	struct volume_fill *v;
	char **dsts, **stages, **data; /* owned strings behind v */
	size_t n;
};

static void fills_release(struct fills *f)
{
	free(f->v);
	strv_free(f->dsts);
	strv_free(f->stages);
	strv_free(f->data);
}

/*
 * The uninitialized volumes among spec's bind mounts: to fill (when empty) or just to mark.
 * A fill copies into a stage directory beside _data ("<dir>/.prefill", made afresh) that then
 * replaces the empty _data in one rename: a wharfd killed mid-copy leaves _data empty (and the
 * volume uninitialized) for the next use, never half a copy.
 */
static int collect(const char *root, const char *ns, yajl_val mounts, struct fills *f,
		   char ***marks, struct wh_err **err)
{
	cleanup_free char *nsd = ns_dir(root, ns);

	for (size_t i = 0; i < mounts->u.array.len; i++) {
		yajl_val m = mounts->u.array.values[i];
		const char *dst = YAJL_GET_STRING(json_get(m, "destination"));
		cleanup_free char *name =
			volume_of_source(nsd, YAJL_GET_STRING(json_get(m, "source")));
		cleanup_free char *stage = NULL;
		struct volume v;
		int r;

		if (!name || !dst || strv_contains(*marks, name))
			continue;
		if ((r = volume_get(root, ns, name, &v, err)) < 0)
			return r;
		if (!v.initialized)
			strv_push(marks, name);
		if (!v.initialized && dir_is_empty(v.mountpoint)) {
			stage = path_join(v.dir, ".prefill");
			if ((r = rm_rf(stage)) < 0 || mkdir(stage, 0755) < 0) {
				r = wh_err_set(err, r < 0 ? r : errno, "create '%s'", stage);
				volume_release(&v);
				return r;
			}
			strv_push(&f->dsts, dst);
			strv_consume(&f->stages, TAKE_PTR(stage));
			strv_push(&f->data, v.mountpoint);
			f->n++;
		}
		volume_release(&v);
	}
	f->v = xnew0(struct volume_fill, f->n ? f->n : 1);
	for (size_t i = 0; i < f->n; i++)
		f->v[i] = (struct volume_fill){f->dsts[i], f->stages[i]};
	return 0;
}

/* Each stage replaces its (empty) _data; on failure the stages go. */
static int finish_fills(struct fills *f, bool ok, struct wh_err **err)
{
	int r = 0;

	for (size_t i = 0; i < f->n; i++) {
		if (ok && r >= 0 && rename(f->stages[i], f->data[i]) < 0)
			r = wh_err_set(err, errno, "replace '%s' with the copy", f->data[i]);
		rm_rf(f->stages[i]); /* -ENOENT (renamed) is success */
	}
	return r;
}

int volumes_task_prefill(const char *root, const char *ns, const void *spec, size_t spec_len,
			 const struct wh_mount_list *rootfs, struct wh_err **err)
{
	cleanup(yajl_valp) yajl_val doc = NULL;
	cleanup_strv char **marks = NULL;
	cleanup_free char *tmp = NULL;
	struct fills f = {0};
	yajl_val mounts;
	int r;

	if (spec_len > SPEC_MAX || !ns_valid(ns) ||
	    !memmem(spec, spec_len, "/volumes/", strlen("/volumes/")))
		return 0;
	if (json_parse(spec, spec_len, &doc, NULL) < 0)
		return 0; /* the runtime reports a bad spec */
	mounts = json_get(doc, "mounts");
	if (!mounts || !YAJL_IS_ARRAY(mounts))
		return 0;
	r = collect(root, ns, mounts, &f, &marks, err);
	if (r >= 0 && f.n > 0) {
		tmp = xasprintf("%s/volumes", root);
		r = volume_prefill(rootfs, tmp, f.v, f.n, err);
		if (r >= 0)
			log_info("volumes: pre-filled %d of %zu new volume(s) in %s from the image",
				 r, f.n, ns);
		if (r < 0)
			finish_fills(&f, false, NULL);
		else
			r = finish_fills(&f, true, err);
		if (r < 0)
			r = wh_err_wrap(err, r, "pre-fill new volumes from the image");
	}
	strv_foreach(name, r >= 0 ? marks : NULL) {
		if ((r = mark_initialized(root, ns, *name, err)) < 0)
			break;
	}
	fills_release(&f);
	return r < 0 ? r : 0;
}

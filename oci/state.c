/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container state directory <root>/<id>/: state.json (pid, its start time, bundle, cgroup),
 * a copy of config.json, the exec fifo, and a flock on the directory that serializes commands on
 * one container. Also the live status and runc's state JSON.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/file.h>
#include <sys/stat.h>

#include "common/common.h"
#include "oci/internal.h"

const char *oci_status_name(enum oci_status s)
{
	switch (s) {
	case OCI_STATUS_CREATING:
		return "creating";
	case OCI_STATUS_CREATED:
		return "created";
	case OCI_STATUS_RUNNING:
		return "running";
	case OCI_STATUS_PAUSED:
		return "paused";
	case OCI_STATUS_STOPPED:
		return "stopped";
	}
	return "unknown";
}

int oci_proc_start_time(pid_t pid, uint64_t *ret, char *ret_state)
{
	char path[64];
	cleanup_free char *buf = NULL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int r = read_file(path, 4096, &buf, NULL);
	if (r < 0)
		return r == -ENOENT || r == -ESRCH ? -ENOENT : r;
	char *p = strrchr(buf, ')');
	if (!p || !p[1] || !p[2])
		return -EBADMSG;
	p += 2;
	if (ret_state)
		*ret_state = *p;
	/* p points at field 3 (state); starttime is field 22. */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EBADMSG;
		p++;
	}
	char *end = strchr(p, ' ');
	if (end)
		*end = 0;
	uint64_t v;
	if (parse_u64(p, &v) < 0)
		return -EBADMSG;
	if (ret)
		*ret = v;
	return 0;
}

struct oci_container *oci_container_free(struct oci_container *c)
{
	if (!c)
		return NULL;
	free(c->root);
	free(c->id);
	free(c->dir);
	wh_close(c->dir_fd);
	free(c->bundle);
	free(c->rootfs);
	free(c->created);
	free(c->owner);
	free(c->cgroup_path);
	oci_spec_free(c->spec);
	free(c);
	return NULL;
}

int oci_write_state_file(int dirfd, const char *name, const char *data, size_t len)
{
	/* runtime state (under /run): atomic by rename, no fsync, it does not outlive a boot */
	cleanup_free char *tmp = xasprintf(".%s.tmp", name);
	cleanup_close int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = write_all(fd, data, len);
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		r = -errno;
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	return 0;
}

int oci_container_save(struct oci_container *c, struct wh_err **err)
{
	yajl_gen g = json_gen_new(false);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "id", c->id);
	json_gen_kv_int(g, "pid", c->pid);
	json_gen_kv_int(g, "pid_start", (int64_t)c->pid_start);
	json_gen_kv_str(g, "bundle", c->bundle);
	json_gen_kv_str(g, "rootfs", c->rootfs);
	json_gen_kv_str(g, "created", c->created);
	json_gen_kv_str(g, "owner", c->owner ? c->owner : "");
	if (c->cgroup_path)
		json_gen_kv_str(g, "cgroup_path", c->cgroup_path);
	json_gen_kv_bool(g, "created_done", c->created_done);
	yajl_gen_map_close(g);
	size_t len;
	cleanup_free char *text = json_gen_finish(g, &len);
	int r = oci_write_state_file(c->dir_fd, "state.json", text, len);
	if (r < 0)
		return wh_err_set(err, r, "write state of container '%s'", c->id);
	return 0;
}

static char *dup_opt(yajl_val t, const char *key)
{
	yajl_val v = json_get(t, key);
	return v && YAJL_IS_STRING(v) ? xstrdup(v->u.string) : NULL;
}

int oci_container_open(const char *root, const char *id, struct oci_container **ret,
		       struct wh_err **err)
{
	if (!oci_id_valid(id))
		return wh_err_setx(err, EINVAL, "invalid container id '%s'", id ? id : "");
	struct oci_container *c = xnew0(struct oci_container, 1);
	c->dir_fd = -EBADF;
	c->root = xstrdup(root);
	c->id = xstrdup(id);
	c->dir = path_join(root, id);
	int r;
	c->dir_fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dir_fd < 0) {
		r = -errno;
		oci_container_free(c);
		if (r == -ENOENT)
			return wh_err_setx(err, ENOENT, "container '%s' does not exist", id);
		return wh_err_set(err, r, "open state of container '%s'", id);
	}
	if (flock(c->dir_fd, LOCK_EX) < 0) {
		r = wh_err_set(err, errno, "lock container '%s'", id);
		oci_container_free(c);
		return r;
	}
	yajl_val t = NULL;
	cleanup_free char *text = NULL;
	size_t len;
	r = read_file_at(c->dir_fd, "state.json", 1 << 20, &text, &len);
	if (r == -ENOENT) {
		/* removed by a delete that held the lock before us */
		oci_container_free(c);
		return wh_err_setx(err, ENOENT, "container '%s' does not exist", id);
	}
	if (r < 0 || json_parse(text, len, &t, NULL) < 0) {
		oci_container_free(c);
		return wh_err_setx(err, EBADMSG, "container '%s': damaged state.json", id);
	}
	int64_t pid = 0, start = 0;
	json_get_int64_opt(t, "pid", "pid", &pid, NULL);
	json_get_int64_opt(t, "pid_start", "pid_start", &start, NULL);
	c->pid = (pid_t)pid;
	c->pid_start = (uint64_t)start;
	c->bundle = dup_opt(t, "bundle");
	c->rootfs = dup_opt(t, "rootfs");
	c->created = dup_opt(t, "created");
	c->owner = dup_opt(t, "owner");
	c->cgroup_path = dup_opt(t, "cgroup_path");
	json_get_bool_opt(t, "created_done", "created_done", &c->created_done, NULL);
	yajl_tree_free(t);

	cleanup_free char *cfg = NULL;
	r = read_file_at(c->dir_fd, "config.json", 16 << 20, &cfg, &len);
	if (r < 0) {
		oci_container_free(c);
		return wh_err_set(err, r, "container '%s': read saved config.json", id);
	}
	r = oci_spec_parse(cfg, len, c->bundle, &c->spec, err);
	if (r < 0) {
		oci_container_free(c);
		return wh_err_wrap(err, r, "container '%s'", id);
	}
	*ret = c;
	return 0;
}

static bool init_alive(struct oci_container *c)
{
	uint64_t st;
	char state;
	if (c->pid <= 0)
		return false;
	if (oci_proc_start_time(c->pid, &st, &state) < 0)
		return false;
	return st == c->pid_start && state != 'Z' && state != 'X';
}

int oci_container_cgroup(struct oci_container *c, struct oci_cgroup **ret, struct wh_err **err)
{
	if (!c->cgroup_path)
		return wh_err_setx(err, ENOENT, "container '%s' has no cgroup", c->id);
	return oci_cgroup_open(c->cgroup_path, NULL, ret, err);
}

enum oci_status oci_container_status(struct oci_container *c)
{
	if (!init_alive(c))
		return OCI_STATUS_STOPPED;
	if (!c->created_done)
		return OCI_STATUS_CREATING;
	if (faccessat(c->dir_fd, "exec.fifo", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return OCI_STATUS_CREATED;
	struct oci_cgroup *cg = NULL;
	enum oci_freezer_state fs = OCI_FREEZER_THAWED;
	if (oci_container_cgroup(c, &cg, NULL) == 0) {
		if (oci_cgroup_freezer_state(cg, &fs, NULL) < 0)
			fs = OCI_FREEZER_THAWED;
		oci_cgroup_free(cg);
	}
	if (fs == OCI_FREEZER_FROZEN)
		return OCI_STATUS_PAUSED;
	return OCI_STATUS_RUNNING;
}

struct oci_state *oci_container_state(struct oci_container *c)
{
	struct oci_state *s = xnew0(struct oci_state, 1);
	s->oci_version = xstrdup(c->spec->oci_version);
	s->id = xstrdup(c->id);
	s->status = oci_container_status(c);
	s->pid = s->status == OCI_STATUS_STOPPED ? 0 : c->pid;
	s->bundle = xstrdup(c->bundle ? c->bundle : "");
	s->rootfs = xstrdup(c->rootfs ? c->rootfs : "");
	s->created = xstrdup(c->created ? c->created : "");
	s->owner = xstrdup(c->owner ? c->owner : "");
	s->cgroup_path = c->cgroup_path ? xstrdup(c->cgroup_path) : NULL;
	if (c->spec->annotations) {
		yajl_gen g = json_gen_new(false);
		json_gen_value(g, c->spec->annotations);
		s->annotations_json = json_gen_finish(g, NULL);
	}
	return s;
}

struct oci_state *oci_state_free(struct oci_state *s)
{
	if (!s)
		return NULL;
	free(s->oci_version);
	free(s->id);
	free(s->bundle);
	free(s->rootfs);
	free(s->created);
	free(s->owner);
	free(s->annotations_json);
	free(s->cgroup_path);
	free(s);
	return NULL;
}

int oci_state_get(const char *root, const char *id, struct oci_state **ret, struct wh_err **err)
{
	struct oci_container *c = NULL;
	int r = oci_container_open(root, id, &c, err);
	if (r < 0)
		return r;
	*ret = oci_container_state(c);
	oci_container_free(c);
	return 0;
}

static void gen_annotations(yajl_gen g, const char *json)
{
	yajl_val v = NULL;
	if (json && json_parse(json, strlen(json), &v, NULL) == 0) {
		json_gen_value(g, v);
		yajl_tree_free(v);
	} else {
		yajl_gen_map_open(g);
		yajl_gen_map_close(g);
	}
}

char *oci_state_json(const struct oci_state *s)
{
	yajl_gen g = json_gen_new(true);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "ociVersion", s->oci_version);
	json_gen_kv_str(g, "id", s->id);
	json_gen_kv_int(g, "pid", s->pid);
	json_gen_kv_str(g, "status", oci_status_name(s->status));
	json_gen_kv_str(g, "bundle", s->bundle);
	json_gen_kv_str(g, "rootfs", s->rootfs);
	json_gen_kv_str(g, "created", s->created);
	json_gen_kv_str(g, "owner", s->owner);
	if (s->annotations_json) {
		json_gen_str(g, "annotations");
		gen_annotations(g, s->annotations_json);
	}
	yajl_gen_map_close(g);
	return json_gen_finish(g, NULL);
}

char *oci_state_hook_json(const struct oci_state *s)
{
	yajl_gen g = json_gen_new(false);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "ociVersion", s->oci_version);
	json_gen_kv_str(g, "id", s->id);
	json_gen_kv_str(g, "status", oci_status_name(s->status));
	if (s->pid > 0)
		json_gen_kv_int(g, "pid", s->pid);
	json_gen_kv_str(g, "bundle", s->bundle);
	json_gen_str(g, "annotations");
	gen_annotations(g, s->annotations_json);
	yajl_gen_map_close(g);
	return json_gen_finish(g, NULL);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int oci_list(const char *root, char ***ret_ids, struct wh_err **err)
{
	cleanup_closedir DIR *d = opendir(root);
	char **ids = xnew0(char *, 1);
	if (!d) {
		if (errno == ENOENT) {
			*ret_ids = ids;
			return 0;
		}
		strv_free(ids);
		return wh_err_set(err, errno, "open '%s'", root);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !oci_id_valid(de->d_name))
			continue;
		cleanup_free char *p = xasprintf("%s/%s/state.json", root, de->d_name);
		if (access(p, F_OK) == 0)
			strv_push(&ids, de->d_name);
	}
	qsort(ids, strv_length(ids), sizeof(char *), cmp_str);
	*ret_ids = ids;
	return 0;
}

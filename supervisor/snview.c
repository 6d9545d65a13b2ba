/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The namespaced snapshotter: a snapshotter_ops over a backend (overlayfs, native) whose keys are
 * recorded per namespace in metadata (meta_snapshot_*) and stored in the backend as "<ns>/<key>",
 * so namespaces never see each other's snapshots and GC can find every one. Used by the
 * snapshots service and by unpacking.
 */
#include <errno.h>
#include <string.h>

#include "common/filter.h"
#include "common/util.h"
#include "metadata/metadata.h"
#include "snapshots/snapshots.h"
#include "supervisor/supervisor.h"

struct snview {
	struct daemon *d;
	char *ns, *name, *lease;
	struct snapshotter *backend;
};

static void info_from_rec(const struct meta_snapshot *m, struct snapshot_info *ret)
{
	*ret = (struct snapshot_info){
		.name = xstrdup(m->key),
		.parent = m->parent ? xstrdup(m->parent) : NULL,
		.kind = (enum snapshot_kind)m->kind,
		.labels = strv_copy(m->labels),
		.created_ns = m->created_ns,
		.updated_ns = m->updated_ns,
	};
}

static int sv_stat(void *impl, const char *key, struct snapshot_info *ret, struct wh_err **err)
{
	struct snview *v = impl;
	struct meta_snapshot m;
	int r;

	r = meta_snapshot_get(v->d->db, v->ns, v->name, key, &m, err);
	if (r < 0)
		return r;
	info_from_rec(&m, ret);
	meta_snapshot_release(&m);
	return 0;
}

static int sv_update(void *impl, const struct snapshot_info *info, char *const *fieldpaths,
		     struct snapshot_info *ret, struct wh_err **err)
{
	struct snview *v = impl;
	struct meta_snapshot m;
	int r;

	r = meta_snapshot_get(v->d->db, v->ns, v->name, info->name, &m, err);
	if (r < 0)
		return r;
	strv_free(m.labels);
	m.labels = strv_copy(info->labels);
	r = meta_snapshot_update(v->d->db, v->ns, &m, (const char *const *)fieldpaths, err);
	meta_snapshot_release(&m);
	if (r < 0)
		return r;
	return ret ? sv_stat(impl, info->name, ret, err) : 0;
}

static int backend_key(struct snview *v, const char *key, char **ret, struct wh_err **err)
{
	struct meta_snapshot m;
	int r;

	r = meta_snapshot_get(v->d->db, v->ns, v->name, key, &m, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(m.backend_key);
	meta_snapshot_release(&m);
	return 0;
}

static int sv_usage(void *impl, const char *key, struct snapshot_usage *ret, struct wh_err **err)
{
	cleanup_free char *bk = NULL;
	int r = backend_key(impl, key, &bk, err);

	return r < 0 ? r : snapshotter_usage(((struct snview *)impl)->backend, bk, ret, err);
}

static int sv_mounts(void *impl, const char *key, struct wh_mount_list *ret, struct wh_err **err)
{
	cleanup_free char *bk = NULL;
	int r = backend_key(impl, key, &bk, err);

	return r < 0 ? r : snapshotter_mounts(((struct snview *)impl)->backend, bk, ret, err);
}

static int create(struct snview *v, bool view, const char *key, const char *parent,
		  char *const *labels, struct wh_mount_list *ret, struct wh_err **err)
{
	cleanup_free char *bk = NULL, *bparent = NULL;
	struct meta_snapshot m;
	int r;

	if (!key || !*key)
		return wh_err_setx(err, EINVAL, "snapshot key required");
	r = meta_snapshot_get(v->d->db, v->ns, v->name, key, &m, NULL);
	if (r >= 0) {
		meta_snapshot_release(&m);
		return wh_err_setx(err, EEXIST, "snapshot '%s' already exists", key);
	}
	if (parent && *parent) {
		r = backend_key(v, parent, &bparent, err);
		if (r == -ENOENT) {
			if (err)
				*err = wh_err_free(*err);
			return wh_err_setx(err, ENOENT, "parent snapshot '%s' does not exist",
					   parent);
		}
		if (r < 0)
			return r;
	}
	bk = xasprintf("%s/%s", v->ns, key);
	/* A backend leftover of a crash between backend and metadata steps: drop it. */
	{
		struct snapshot_info old;

		if (snapshotter_stat(v->backend, bk, &old, NULL) >= 0) {
			snapshot_info_done(&old);
			snapshotter_remove(v->backend, bk, NULL);
		}
	}
	r = view ? snapshotter_view(v->backend, bk, bparent, labels, ret, err)
		 : snapshotter_prepare(v->backend, bk, bparent, labels, ret, err);
	if (r < 0)
		return r;
	m = (struct meta_snapshot){
		.snapshotter = v->name,
		.key = (char *)key,
		.backend_key = bk,
		.parent = (char *)(parent && *parent ? parent : NULL),
		.kind = view ? META_SNAPSHOT_VIEW : META_SNAPSHOT_ACTIVE,
		.labels = (char **)labels,
	};
	r = meta_snapshot_create(v->d->db, v->ns, &m, v->lease, err);
	if (r < 0) {
		snapshotter_remove(v->backend, bk, NULL);
		wh_mount_list_done(ret);
		return r;
	}
	return 0;
}

static int sv_prepare(void *impl, const char *key, const char *parent, char *const *labels,
		      struct wh_mount_list *ret, struct wh_err **err)
{
	return create(impl, false, key, parent, labels, ret, err);
}

static int sv_view(void *impl, const char *key, const char *parent, char *const *labels,
		   struct wh_mount_list *ret, struct wh_err **err)
{
	return create(impl, true, key, parent, labels, ret, err);
}

static int sv_commit(void *impl, const char *name, const char *key, char *const *labels,
		     struct wh_err **err)
{
	struct snview *v = impl;
	cleanup_free char *bk = NULL, *bname = NULL;
	struct meta_snapshot m;
	int r;

	if (!name || !*name)
		return wh_err_setx(err, EINVAL, "commit: snapshot name required");
	r = meta_snapshot_get(v->d->db, v->ns, v->name, name, &m, NULL);
	if (r >= 0) {
		meta_snapshot_release(&m);
		return wh_err_setx(err, EEXIST, "snapshot '%s' already exists", name);
	}
	r = meta_snapshot_get(v->d->db, v->ns, v->name, key, &m, err);
	if (r < 0)
		return r;
	if (m.kind != META_SNAPSHOT_ACTIVE) {
		meta_snapshot_release(&m);
		return wh_err_setx(err, EBUSY, "snapshot '%s' is not active", key);
	}
	bk = TAKE_PTR(m.backend_key);
	if (!labels)
		labels = m.labels;
	bname = xasprintf("%s/%s", v->ns, name);
	r = snapshotter_commit(v->backend, bname, bk, labels, err);
	if (r < 0) {
		meta_snapshot_release(&m);
		return r;
	}
	r = meta_snapshot_commit(v->d->db, v->ns, v->name, key, name, bname, labels, v->lease, err);
	meta_snapshot_release(&m);
	/* On a metadata failure the committed backend snapshot stays for GC/cleanup to find. */
	return r;
}

static int sv_remove(void *impl, const char *key, struct wh_err **err)
{
	struct snview *v = impl;
	cleanup_free char *bk = NULL;
	int r;

	r = backend_key(v, key, &bk, err);
	if (r < 0)
		return r;
	r = meta_snapshot_delete(v->d->db, v->ns, v->name, key, err);
	if (r < 0)
		return r;
	r = snapshotter_remove(v->backend, bk, err);
	return r == -ENOENT ? 0 : r;
}

static int sv_walk(void *impl, char *const *filters, snapshot_walk_fn fn, void *userdata,
		   struct wh_err **err)
{
	struct snview *v = impl;
	cleanup_filter struct filter *f = NULL;
	struct meta_snapshot *list = NULL;
	size_t n = 0;
	int r;

	r = pb_filters((char *const *)filters, strv_length(filters), &f, err);
	if (r < 0)
		return r;
	r = meta_snapshot_list(v->d->db, v->ns, v->name, f, &list, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct snapshot_info info;

		info_from_rec(&list[i], &info);
		r = fn(&info, userdata);
		snapshot_info_done(&info);
	}
	meta_snapshots_free(list, n);
	return r < 0 ? r : 0;
}

static int sv_cleanup(void *impl, struct wh_err **err)
{
	return snapshotter_cleanup(((struct snview *)impl)->backend, err);
}

static void sv_close(void *impl)
{
	struct snview *v = impl;

	free(v->ns);
	free(v->name);
	free(v->lease);
	free(v);
}

static const struct snapshotter_ops snview_ops = {
	.name = "namespaced",
	.stat = sv_stat,
	.update = sv_update,
	.usage = sv_usage,
	.mounts = sv_mounts,
	.prepare = sv_prepare,
	.view = sv_view,
	.commit = sv_commit,
	.remove = sv_remove,
	.walk = sv_walk,
	.cleanup = sv_cleanup,
	.close = sv_close,
};

struct snapshotter *snview_new(struct daemon *d, const char *ns, const char *snapshotter_name,
			       struct snapshotter *backend, const char *lease)
{
	struct snview *v = xnew0(struct snview, 1);

	*v = (struct snview){d, xstrdup(ns), xstrdup(snapshotter_name),
			     lease ? xstrdup(lease) : NULL, backend};
	return snapshotter_new(&snview_ops, v);
}

int snview_gc_remove(void *userdata, const char *snapshotter, const char *backend_key,
		     struct wh_err **err)
{
	struct daemon *d = userdata;
	struct snapshotter *sn;
	int r;

	r = daemon_snapshotter(d, snapshotter, &sn, NULL, err);
	if (r < 0)
		return r;
	r = snapshotter_remove(sn, backend_key, err);
	return r == -ENOENT ? 0 : r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The snapshots service (through the namespaced view) and the diff service (layer apply/diff). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "proto/api/events/container.pb-c.h"
#include "proto/services/diff/v1/diff.pb-c.h"
#include "proto/services/snapshots/v1/snapshots.pb-c.h"
#include "snapshots/snapshots.h"
#include "supervisor/supervisor.h"

typedef Containerd__Services__Snapshots__V1__Info PbSnapInfo;

/* The namespaced view for the request's snapshotter (closed by the caller). */
static int view_for(struct svc_ctx *c, const char *name, struct snapshotter **ret,
		    struct wh_err **err)
{
	struct snapshotter *backend;
	const char *real;
	int r;

	r = daemon_snapshotter(c->d, name, &backend, &real, err);
	if (r < 0)
		return r;
	*ret = snview_new(c->d, c->ns, real, backend, c->lease);
	return 0;
}

static void snapshotter_closep(struct snapshotter **s)
{
	if (*s)
		snapshotter_close(*s);
}
#define cleanup_sn __attribute__((__cleanup__(snapshotter_closep)))

static PbSnapInfo *sinfo_msg(const struct snapshot_info *i)
{
	PbSnapInfo *m = pb_new(&containerd__services__snapshots__v1__info__descriptor);

	m->name = pb_str(i->name);
	m->parent = pb_str(i->parent);
	m->kind = (Containerd__Services__Snapshots__V1__Kind)i->kind;
	m->created_at = pb_ts(i->created_ns);
	m->updated_at = pb_ts(i->updated_ns);
	pb_map_from_strv(&containerd__services__snapshots__v1__info__labels_entry__descriptor,
			 i->labels, &m->n_labels, &m->labels);
	return m;
}

static int sn_prepare_or_view(struct svc_ctx *c, bool view, const char *snapshotter,
			      const char *key, const char *parent, void *const *labels_v,
			      size_t n_labels, ProtobufCMessage **ret, struct wh_err **err)
{
	cleanup_sn struct snapshotter *sn = NULL;
	cleanup_strv char **labels = pb_map_to_strv(labels_v, n_labels);
	struct wh_mount_list ml = {0};
	int r;

	if ((r = view_for(c, snapshotter, &sn, err)) < 0)
		return r;
	r = view ? snapshotter_view(sn, key, pb_nz(parent), labels, &ml, err)
		 : snapshotter_prepare(sn, key, pb_nz(parent), labels, &ml, err);
	if (r < 0)
		return r;
	if (view) {
		Containerd__Services__Snapshots__V1__ViewSnapshotResponse *resp = pb_new(
			&containerd__services__snapshots__v1__view_snapshot_response__descriptor);

		pb_mounts_from_list(&ml, &resp->n_mounts, &resp->mounts);
		*ret = &resp->base;
	} else {
		Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *resp = pb_new(
			&containerd__services__snapshots__v1__prepare_snapshot_response__descriptor);
		Containerd__Events__SnapshotPrepare ev = CONTAINERD__EVENTS__SNAPSHOT_PREPARE__INIT;

		pb_mounts_from_list(&ml, &resp->n_mounts, &resp->mounts);
		*ret = &resp->base;
		ev.key = (char *)key;
		ev.parent = (char *)(parent ? parent : "");
		daemon_publish(c->d, c->ns, "/snapshot/prepare", &ev.base);
	}
	wh_mount_list_done(&ml);
	return 0;
}

static int do_sn_prepare(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			 struct wh_err **err)
{
	const Containerd__Services__Snapshots__V1__PrepareSnapshotRequest *q = (const void *)req;

	return sn_prepare_or_view(c, false, q->snapshotter, q->key, q->parent,
				  (void *const *)q->labels, q->n_labels, ret, err);
}

static int do_sn_view(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Containerd__Services__Snapshots__V1__ViewSnapshotRequest *q = (const void *)req;

	return sn_prepare_or_view(c, true, q->snapshotter, q->key, q->parent,
				  (void *const *)q->labels, q->n_labels, ret, err);
}

static int sn_mounts(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Containerd__Services__Snapshots__V1__MountsRequest *q = (const void *)req;
	Containerd__Services__Snapshots__V1__MountsResponse *resp;
	cleanup_sn struct snapshotter *sn = NULL;
	struct wh_mount_list ml = {0};
	int r;

	if ((r = view_for(c, q->snapshotter, &sn, err)) < 0 ||
	    (r = snapshotter_mounts(sn, q->key, &ml, err)) < 0)
		return r;
	resp = pb_new(&containerd__services__snapshots__v1__mounts_response__descriptor);
	pb_mounts_from_list(&ml, &resp->n_mounts, &resp->mounts);
	wh_mount_list_done(&ml);
	*ret = &resp->base;
	return 0;
}

static int do_sn_commit(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			struct wh_err **err)
{
	const Containerd__Services__Snapshots__V1__CommitSnapshotRequest *q = (const void *)req;
	cleanup_sn struct snapshotter *sn = NULL;
	cleanup_strv char **labels = pb_map_to_strv((void *const *)q->labels, q->n_labels);
	Containerd__Events__SnapshotCommit ev = CONTAINERD__EVENTS__SNAPSHOT_COMMIT__INIT;
	int r;

	(void)ret;
	if ((r = view_for(c, q->snapshotter, &sn, err)) < 0 ||
	    (r = snapshotter_commit(sn, q->name, q->key, labels, err)) < 0)
		return r;
	ev.key = q->key;
	ev.name = q->name;
	daemon_publish(c->d, c->ns, "/snapshot/commit", &ev.base);
	return 0;
}

static int do_sn_remove(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			struct wh_err **err)
{
	const Containerd__Services__Snapshots__V1__RemoveSnapshotRequest *q = (const void *)req;
	cleanup_sn struct snapshotter *sn = NULL;
	Containerd__Events__SnapshotRemove ev = CONTAINERD__EVENTS__SNAPSHOT_REMOVE__INIT;
	int r;

	(void)ret;
	if ((r = view_for(c, q->snapshotter, &sn, err)) < 0 ||
	    (r = snapshotter_remove(sn, q->key, err)) < 0)
		return r;
	ev.key = q->key;
	daemon_publish(c->d, c->ns, "/snapshot/remove", &ev.base);
	return 0;
}

static int sn_stat(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Containerd__Services__Snapshots__V1__StatSnapshotRequest *q = (const void *)req;
	Containerd__Services__Snapshots__V1__StatSnapshotResponse *resp;
	cleanup_sn struct snapshotter *sn = NULL;
	struct snapshot_info i;
	int r;

	if ((r = view_for(c, q->snapshotter, &sn, err)) < 0)
		return r;
	r = snapshotter_stat(sn, q->key, &i, err);
	if (r == -ENOENT) {
		wh_err_free(*err);
		*err = NULL;
		return wh_err_setx(err, ENOENT, "snapshot %s does not exist", q->key);
	}
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__snapshots__v1__stat_snapshot_response__descriptor);
	resp->info = sinfo_msg(&i);
	snapshot_info_done(&i);
	*ret = &resp->base;
	return 0;
}

static int sn_update(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Containerd__Services__Snapshots__V1__UpdateSnapshotRequest *q = (const void *)req;
	Containerd__Services__Snapshots__V1__UpdateSnapshotResponse *resp;
	cleanup_sn struct snapshotter *sn = NULL;
	cleanup_strv char **paths = NULL;
	struct snapshot_info in = {0}, out;
	int r;

	if (!q->info || !pb_nz(q->info->name))
		return wh_err_setx(err, EINVAL, "snapshot info with a name required");
	if ((r = view_for(c, q->snapshotter, &sn, err)) < 0)
		return r;
	in.name = q->info->name;
	in.labels = pb_map_to_strv((void *const *)q->info->labels, q->info->n_labels);
	for (size_t i = 0; q->update_mask && i < q->update_mask->n_paths; i++)
		strv_push(&paths, q->update_mask->paths[i]);
	r = snapshotter_update(sn, &in, paths, &out, err);
	strv_free(in.labels);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__snapshots__v1__update_snapshot_response__descriptor);
	resp->info = sinfo_msg(&out);
	snapshot_info_done(&out);
	*ret = &resp->base;
	return 0;
}

struct walk_acc {
	PbSnapInfo **v;
	size_t n, cap;
};

static int walk_one(const struct snapshot_info *i, void *userdata)
{
	struct walk_acc *a = userdata;

	xgrow((void **)&a->v, &a->cap, a->n + 1, sizeof(*a->v));
	a->v[a->n++] = sinfo_msg(i);
	return 0;
}

static int sn_list(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Containerd__Services__Snapshots__V1__ListSnapshotsRequest *q = (const void *)req;
	Containerd__Services__Snapshots__V1__ListSnapshotsResponse *resp;
	cleanup_sn struct snapshotter *sn = NULL;
	cleanup_strv char **filters = NULL;
	struct walk_acc a = {0};
	int r;

	if ((r = view_for(c, q->snapshotter, &sn, err)) < 0)
		return r;
	for (size_t i = 0; i < q->n_filters; i++)
		strv_push(&filters, q->filters[i]);
	r = snapshotter_walk(sn, filters, walk_one, &a, err);
	resp = pb_new(&containerd__services__snapshots__v1__list_snapshots_response__descriptor);
	resp->info = a.v;
	resp->n_info = a.n;
	if (r < 0) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return r;
	}
	*ret = &resp->base;
	return 0;
}

static int do_sn_usage(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		       struct wh_err **err)
{
	const Containerd__Services__Snapshots__V1__UsageRequest *q = (const void *)req;
	Containerd__Services__Snapshots__V1__UsageResponse *resp;
	cleanup_sn struct snapshotter *sn = NULL;
	struct snapshot_usage u;
	int r;

	if ((r = view_for(c, q->snapshotter, &sn, err)) < 0 ||
	    (r = snapshotter_usage(sn, q->key, &u, err)) < 0)
		return r;
	resp = pb_new(&containerd__services__snapshots__v1__usage_response__descriptor);
	resp->size = u.size;
	resp->inodes = u.inodes;
	*ret = &resp->base;
	return 0;
}

static int do_sn_cleanup(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			 struct wh_err **err)
{
	const Containerd__Services__Snapshots__V1__CleanupRequest *q = (const void *)req;
	cleanup_sn struct snapshotter *sn = NULL;
	int r;

	(void)ret;
	if ((r = view_for(c, q->snapshotter, &sn, err)) < 0)
		return r;
	return snapshotter_cleanup(sn, err);
}

/* Snapshot work that copies (native Prepare/View), walks trees (Usage) or removes them runs on
 * the worker pool. Mounts, Stat, Update and List are metadata lookups: on the loop. */
#define ON_POOL(name)                                                                           \
	static int name(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret, \
			struct wh_err **err)                                                    \
	{                                                                                       \
		return c->d->pool ? pool_submit(c, req, do_##name, NULL)                        \
				  : do_##name(c, req, ret, err);                                \
	}
ON_POOL(sn_prepare)
ON_POOL(sn_view)
ON_POOL(sn_commit)
ON_POOL(sn_remove)
ON_POOL(sn_usage)
ON_POOL(sn_cleanup)

const struct svc_service svc_snapshots = {
	&containerd__services__snapshots__v1__snapshots__descriptor,
	(const struct svc_method[]){{"Prepare", sn_prepare},
				    {"View", sn_view},
				    {"Mounts", sn_mounts},
				    {"Commit", sn_commit},
				    {"Remove", sn_remove},
				    {"Stat", sn_stat},
				    {"Update", sn_update},
				    {"List", sn_list},
				    {"Usage", sn_usage},
				    {"Cleanup", sn_cleanup},
				    {NULL, NULL}},
};

/* ---- diff: Apply streams a blob of the namespace into the given mounts (inline, blocking). ----
 */

static int do_apply(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		    struct wh_err **err)
{
	const Containerd__Services__Diff__V1__ApplyRequest *q = (const void *)req;
	Containerd__Services__Diff__V1__ApplyResponse *resp;
	struct content_reader *rd = NULL;
	struct wh_mount_list ml = {0};
	struct layer_apply_result res;
	int r;

	if (!q->diff || !pb_nz(q->diff->digest))
		return wh_err_setx(err, EINVAL, "apply: diff descriptor with a digest required");
	if (q->n_mounts == 0)
		return wh_err_setx(err, EINVAL, "apply: mounts required");
	r = meta_content_reader_open(c->d->db, c->ns, q->diff->digest, &rd, err);
	if (r < 0)
		return r;
	pb_mounts_to_list(q->mounts, q->n_mounts, &ml);
	{
		cleanup_close int fd = fcntl(content_reader_fd(rd), F_DUPFD_CLOEXEC, 3);

		if (fd < 0)
			r = wh_err_set(err, errno, "apply: dup");
		else if (lseek(fd, 0, SEEK_SET) < 0)
			r = wh_err_set(err, errno, "apply: seek");
		else
			r = layer_apply(&ml, fd, pb_nz(q->diff->media_type), &res, err);
	}
	wh_mount_list_done(&ml);
	content_reader_free(rd);
	if (r < 0)
		return r;
	if (!streq(res.digest, q->diff->digest))
		return wh_err_setx(err, EINVAL, "apply: layer digest %s, expected %s", res.digest,
				   q->diff->digest);
	resp = pb_new(&containerd__services__diff__v1__apply_response__descriptor);
	resp->applied = pb_new(&containerd__types__descriptor__descriptor);
	resp->applied->media_type = pb_str(SNAPSHOTS_MEDIA_TYPE_TAR);
	resp->applied->digest = pb_str(res.diff_id);
	resp->applied->size = (int64_t)res.uncompressed_size;
	*ret = &resp->base;
	return 0;
}

/* Diff: the layer between two mount sets, written to a temp file, then into the namespace. */
static int do_diff(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Containerd__Services__Diff__V1__DiffRequest *q = (const void *)req;
	Containerd__Services__Diff__V1__DiffResponse *resp;
	struct wh_mount_list left = {0}, right = {0};
	struct layer_diff_result res;
	enum layer_compression comp = LAYER_COMPRESSION_GZIP;
	struct meta_writer *w = NULL;
	cleanup_close int fd = -EBADF;
	cleanup_free char *buf = NULL, *ref = NULL;
	cleanup_strv char **labels = pb_map_to_strv((void *const *)q->labels, q->n_labels);
	char digest[DIGEST_STR_LEN];
	off_t off = 0;
	int r;

	if (q->n_right == 0)
		return wh_err_setx(err, EINVAL, "diff: right mounts required");
	if (pb_nz(q->media_type) &&
	    (r = layer_compression_from_media_type(q->media_type, &comp)) < 0)
		return wh_err_setx(err, ENOTSUP, "diff: unsupported media type '%s'",
				   q->media_type);
	fd = open(c->d->cfg.state, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return wh_err_set(err, errno, "diff: temp file in '%s'", c->d->cfg.state);
	pb_mounts_to_list(q->left, q->n_left, &left);
	pb_mounts_to_list(q->right, q->n_right, &right);
	r = layer_diff(&left, &right, comp, fd, &res, err);
	wh_mount_list_done(&left);
	wh_mount_list_done(&right);
	if (r < 0)
		return r;
	strv_push(&labels, "containerd.io/uncompressed");
	strv_push(&labels, res.diff_id);
	ref = pb_nz(q->ref) ? xstrdup(q->ref) : xasprintf("diff-%s", res.digest);
	r = meta_writer_open(c->d->db, c->ns, ref, res.size, res.digest, c->lease, &w, err);
	if (r < 0)
		return r;
	buf = xmalloc(1u << 20);
	for (;;) {
		ssize_t n = pread(fd, buf, 1u << 20, off);

		if (n < 0) {
			r = wh_err_set(err, errno, "diff: read back");
			goto out;
		}
		if (n == 0)
			break;
		if ((r = meta_writer_write(w, buf, (size_t)n, err)) < 0)
			goto out;
		off += n;
	}
	r = meta_writer_commit(w, res.size, res.digest, labels, digest, err);
	if (r == -EEXIST) {
		*err = wh_err_free(*err);
		r = 0;
	}
out:
	meta_writer_free(w);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__diff__v1__diff_response__descriptor);
	resp->diff = pb_new(&containerd__types__descriptor__descriptor);
	resp->diff->media_type = pb_str(res.media_type);
	resp->diff->digest = pb_str(res.digest);
	resp->diff->size = (int64_t)res.size;
	*ret = &resp->base;
	return 0;
}

/* Layer work is blocking: it runs on the worker pool. */
static int df_apply(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		    struct wh_err **err)
{
	return c->d->pool ? pool_submit(c, req, do_apply, NULL) : do_apply(c, req, ret, err);
}

static int df_diff(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	return c->d->pool ? pool_submit(c, req, do_diff, NULL) : do_diff(c, req, ret, err);
}

const struct svc_service svc_diff = {
	&containerd__services__diff__v1__diff__descriptor,
	(const struct svc_method[]){{"Apply", df_apply}, {"Diff", df_diff}, {NULL, NULL}},
};

/* SPDX-License-Identifier: Apache-2.0 */
/* The snapshots service (through the namespaced view). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "proto/api/events/container.pb-c.h"
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

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharf.services.volumes.v1.Volumes: Create, Get, List, Delete and Prune over the volume store
 * (volumes.c). A volume is in use while a container record of the namespace names it in its
 * "wharf/volumes" label; Delete refuses such a volume naming the containers, Prune skips it.
 * Volumes such labels name that do not exist yet are made first (docker makes them with the
 * container; wharfd first hears of them at Tasks.Create or here).
 * Every call runs on the worker pool (disk work: fsync'd records, walks, removals), never on
 * the API loop.
 */
#include <errno.h>
#include <string.h>

#include <sys/random.h>

#include "common/filter.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "metadata/metadata.h"
#include "proto/services/volumes/v1/volumes.pb-c.h"
#include "supervisor/supervisor.h"
#include "supervisor/volumes.h"

typedef Wharf__Services__Volumes__V1__Volume PbVolume;

/* The ids of the containers of ns that use each volume: users[i] for v[i] (strv or NULL). */
static int users_of(struct daemon *d, const char *ns, const struct volume *v, size_t n,
		    char ***users, struct wh_err **err)
{
	struct meta_container *cs = NULL;
	size_t nc = 0;
	int r;

	if ((r = meta_container_list(d->db, ns, NULL, &cs, &nc, err)) < 0)
		return wh_err_wrap(err, r, "list containers");
	for (size_t j = 0; j < nc; j++) {
		const char *uses = NULL;

		for (size_t k = 0; cs[j].labels && cs[j].labels[k] && cs[j].labels[k + 1]; k += 2)
			if (streq(cs[j].labels[k], VOLUME_LABEL_USES))
				uses = cs[j].labels[k + 1];
		for (size_t i = 0; uses && i < n; i++)
			if (volume_label_has(uses, v[i].name))
				strv_push(&users[i], cs[j].id);
	}
	meta_containers_free(cs, nc);
	return 0;
}

/*
 * Volumes that container records name but that do not exist yet are made now: wharfd sees a
 * container's volumes only at Tasks.Create, so a `containers create` alone (docker makes its
 * volumes then) is caught up with before any call that lists, shows or removes volumes.
 */
static int materialize(struct daemon *d, const char *ns, struct wh_err **err)
{
	struct meta_container *cs = NULL;
	size_t nc = 0;
	int r;

	if ((r = meta_container_list(d->db, ns, NULL, &cs, &nc, err)) < 0)
		return wh_err_wrap(err, r, "list containers");
	for (size_t j = 0; r >= 0 && j < nc; j++) {
		const char *uses = NULL, *anon = NULL;

		for (size_t k = 0; cs[j].labels && cs[j].labels[k] && cs[j].labels[k + 1]; k += 2) {
			if (streq(cs[j].labels[k], VOLUME_LABEL_USES))
				uses = cs[j].labels[k + 1];
			else if (streq(cs[j].labels[k], VOLUME_LABEL_ANONYMOUS))
				anon = cs[j].labels[k + 1];
		}
		for (const char *p = uses; r >= 0 && p && *p;) {
			const char *e = strchr(p, ',');
			cleanup_free char *name = e ? xstrndup(p, (size_t)(e - p)) : xstrdup(p);
			cleanup_err struct wh_err *ce = NULL;
			bool created = false;

			p = e ? e + 1 : p + strlen(p);
			if (!volume_name_valid(name))
				continue; /* not ours to make: Tasks.Create will say so */
			if (volume_create(d->cfg.root, ns, name, NULL, volume_label_has(anon, name),
					  NULL, &created, &ce) < 0)
				log_warn("volume %s/%s of container %s: %s", ns, name, cs[j].id,
					 wh_err_msg(ce));
			else if (created)
				log_info("volume %s/%s created for container %s", ns, name,
					 cs[j].id);
		}
	}
	meta_containers_free(cs, nc);
	return r;
}

static PbVolume *volume_msg(const struct volume *v, char *const *users, int64_t size)
{
	PbVolume *m = pb_new(&wharf__services__volumes__v1__volume__descriptor);

	m->name = pb_str(v->name);
	m->mountpoint = pb_str(v->mountpoint);
	pb_map_from_strv(&wharf__services__volumes__v1__volume__labels_entry__descriptor, v->labels,
			 &m->n_labels, &m->labels);
	m->created_at = pb_ts(v->created_ns);
	m->anonymous = v->anonymous;
	m->initialized = v->initialized;
	m->n_used_by = strv_length(users);
	m->used_by = m->n_used_by ? strv_copy(users) : NULL;
	m->size = size;
	return m;
}

static int64_t size_of(const struct volume *v)
{
	int64_t size = -1;

	if (volume_disk_usage(v->mountpoint, &size) < 0)
		return -1;
	return size;
}

static int vol_create(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Wharf__Services__Volumes__V1__CreateVolumeRequest *q = (const void *)req;
	Wharf__Services__Volumes__V1__CreateVolumeResponse *resp;
	cleanup_strv char **labels = pb_map_to_strv((void *const *)q->labels, q->n_labels);
	cleanup_free char *gen = NULL;
	struct volume v;
	bool created;
	int r;

	if (!q->name || !*q->name) {
		uint8_t rnd[32];
		struct strbuf sb = STRBUF_INIT;

		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return wh_err_set(err, errno, "random volume name");
		for (size_t i = 0; i < sizeof(rnd); i++)
			strbuf_addf(&sb, "%02x", rnd[i]);
		gen = strbuf_detach(&sb, NULL);
	}
	r = volume_create(c->d->cfg.root, c->ns, gen ? gen : q->name, labels, false, &v, &created,
			  err);
	if (r < 0)
		return r;
	if (created)
		log_info("volume %s/%s created", c->ns, v.name);
	resp = pb_new(&wharf__services__volumes__v1__create_volume_response__descriptor);
	resp->volume = volume_msg(&v, NULL, -1);
	resp->created = created;
	volume_release(&v);
	*ret = &resp->base;
	return 0;
}

static int vol_get(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Wharf__Services__Volumes__V1__GetVolumeRequest *q = (const void *)req;
	Wharf__Services__Volumes__V1__GetVolumeResponse *resp;
	char **users[1] = {NULL};
	struct volume v;
	int r;

	if ((r = materialize(c->d, c->ns, err)) < 0 ||
	    (r = volume_get(c->d->cfg.root, c->ns, q->name, &v, err)) < 0)
		return r;
	if ((r = users_of(c->d, c->ns, &v, 1, users, err)) < 0) {
		volume_release(&v);
		return r;
	}
	resp = pb_new(&wharf__services__volumes__v1__get_volume_response__descriptor);
	resp->volume = volume_msg(&v, users[0], q->size ? size_of(&v) : -1);
	strv_free(users[0]);
	volume_release(&v);
	*ret = &resp->base;
	return 0;
}

struct match {
	const struct volume *v;
	bool dangling;
};

static bool lookup(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const struct match *m = userdata;

	if (n == 1 && streq(path[0], "name"))
		*ret = m->v->name;
	else if (n == 1 && streq(path[0], "mountpoint"))
		*ret = m->v->mountpoint;
	else if (n == 1 && streq(path[0], "anonymous"))
		*ret = m->v->anonymous ? "true" : "false";
	else if (n == 1 && streq(path[0], "dangling"))
		*ret = m->dangling ? "true" : "false";
	else
		return filter_lookup_labels(m->v->labels, path, n, ret);
	return true;
}

/* Every volume of the namespace with its users, and whether it matches the filters. */
struct listing {
	struct volume *v;
	char ***users;
	bool *match;
	size_t n;
};

static void listing_release(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		strv_free(l->users[i]);
	free(l->users);
	free(l->match);
	volumes_free(l->v, l->n);
}

static int list_all(struct svc_ctx *c, char *const *filters, size_t n_filters, struct listing *l,
		    struct wh_err **err)
{
	cleanup_filter struct filter *f = NULL;
	int r;

	*l = (struct listing){0};
	if ((r = pb_filters(filters, n_filters, &f, err)) < 0 ||
	    (r = materialize(c->d, c->ns, err)) < 0)
		return r;
	if ((r = volume_list(c->d->cfg.root, c->ns, &l->v, &l->n, err)) < 0)
		return r;
	l->users = xnew0(char **, l->n ? l->n : 1);
	l->match = xnew0(bool, l->n ? l->n : 1);
	if ((r = users_of(c->d, c->ns, l->v, l->n, l->users, err)) < 0) {
		listing_release(l);
		return r;
	}
	for (size_t i = 0; i < l->n; i++) {
		struct match m = {&l->v[i], l->users[i] == NULL};

		l->match[i] = filter_match(f, lookup, &m);
	}
	return 0;
}

static int vol_list(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		    struct wh_err **err)
{
	const Wharf__Services__Volumes__V1__ListVolumesRequest *q = (const void *)req;
	Wharf__Services__Volumes__V1__ListVolumesResponse *resp;
	struct listing l;
	int r;

	if ((r = list_all(c, q->filters, q->n_filters, &l, err)) < 0)
		return r;
	resp = pb_new(&wharf__services__volumes__v1__list_volumes_response__descriptor);
	resp->volumes = xnew0(PbVolume *, l.n ? l.n : 1);
	for (size_t i = 0; i < l.n; i++)
		if (l.match[i])
			resp->volumes[resp->n_volumes++] =
				volume_msg(&l.v[i], l.users[i], q->size ? size_of(&l.v[i]) : -1);
	listing_release(&l);
	*ret = &resp->base;
	return 0;
}

static int in_use(const char *name, char *const *users, struct wh_err **err)
{
	struct strbuf sb = STRBUF_INIT;
	int r;

	strv_foreach(u, (char **)users)
		strbuf_addf(&sb, "%s%s", sb.len ? ", " : "", *u);
	r = wh_err_setx(err, EBUSY, "volume \"%s\" is in use by container%s %s", name,
			strv_length(users) > 1 ? "s" : "", sb.buf);
	strbuf_release(&sb);
	return r;
}

static int vol_delete(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Wharf__Services__Volumes__V1__DeleteVolumeRequest *q = (const void *)req;
	char **users[1] = {NULL};
	struct volume v;
	int r;

	(void)ret;
	if ((r = materialize(c->d, c->ns, err)) < 0 ||
	    (r = volume_get(c->d->cfg.root, c->ns, q->name, &v, err)) < 0)
		return r;
	r = users_of(c->d, c->ns, &v, 1, users, err);
	if (r >= 0 && users[0])
		r = in_use(v.name, users[0], err);
	if (r >= 0)
		r = volume_remove(c->d->cfg.root, c->ns, v.name, err);
	if (r >= 0)
		log_info("volume %s/%s removed", c->ns, v.name);
	strv_free(users[0]);
	volume_release(&v);
	return r;
}

static int vol_prune(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Wharf__Services__Volumes__V1__PruneVolumesRequest *q = (const void *)req;
	Wharf__Services__Volumes__V1__PruneVolumesResponse *resp;
	cleanup_strv char **deleted = NULL;
	int64_t freed = 0;
	struct listing l;
	int r;

	if ((r = list_all(c, q->filters, q->n_filters, &l, err)) < 0)
		return r;
	for (size_t i = 0; i < l.n; i++) {
		cleanup_err struct wh_err *e = NULL;
		int64_t size;

		if (!l.match[i] || l.users[i] || (!q->all && !l.v[i].anonymous))
			continue;
		size = size_of(&l.v[i]);
		if (volume_remove(c->d->cfg.root, c->ns, l.v[i].name, &e) < 0) {
			log_warn("prune: %s", wh_err_msg(e));
			continue;
		}
		log_info("volume %s/%s pruned", c->ns, l.v[i].name);
		strv_push(&deleted, l.v[i].name);
		freed += size > 0 ? size : 0;
	}
	listing_release(&l);
	resp = pb_new(&wharf__services__volumes__v1__prune_volumes_response__descriptor);
	resp->n_deleted = strv_length(deleted);
	resp->deleted = TAKE_PTR(deleted);
	resp->space_reclaimed = freed;
	*ret = &resp->base;
	return 0;
}

#define ON_POOL(name, fn)                                                                       \
	static int name(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret, \
			struct wh_err **err)                                                    \
	{                                                                                       \
		if (!c->d->pool)                                                                \
			return fn(c, req, ret, err);                                            \
		return pool_submit(c, req, fn, NULL);                                           \
	}
ON_POOL(vol_create_pool, vol_create)
ON_POOL(vol_get_pool, vol_get)
ON_POOL(vol_list_pool, vol_list)
ON_POOL(vol_delete_pool, vol_delete)
ON_POOL(vol_prune_pool, vol_prune)

const struct svc_service svc_volumes = {
	&wharf__services__volumes__v1__volumes__descriptor,
	(const struct svc_method[]){{"Create", vol_create_pool},
				    {"Get", vol_get_pool},
				    {"List", vol_list_pool},
				    {"Delete", vol_delete_pool},
				    {"Prune", vol_prune_pool},
				    {NULL, NULL}},
};

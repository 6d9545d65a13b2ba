/* SPDX-License-Identifier: Apache-2.0 */
/* The small services: namespaces, version, introspection and leases, over metadata/. */
#include <errno.h>
#include <string.h>

#include "common/filter.h"
#include "common/util.h"
#include "metadata/metadata.h"
#include "proto/api/events/container.pb-c.h"
#include "proto/google/rpc/status.pb-c.h"
#include "proto/services/introspection/v1/introspection.pb-c.h"
#include "proto/services/leases/v1/leases.pb-c.h"
#include "proto/services/namespaces/v1/namespace.pb-c.h"
#include "proto/services/version/v1/version.pb-c.h"
#include "supervisor/supervisor.h"
#include "ttrpc/ttrpc.h"

/* ---- namespaces ---- */

static Containerd__Services__Namespaces__V1__Namespace *ns_msg(struct daemon *d, const char *name,
							       struct wh_err **err, int *ret_r)
{
	cleanup_strv char **labels = NULL;
	Containerd__Services__Namespaces__V1__Namespace *m;

	*ret_r = meta_namespace_get(d->db, name, &labels, err);
	if (*ret_r < 0)
		return NULL;
	m = pb_new(&containerd__services__namespaces__v1__namespace__descriptor);
	m->name = pb_str(name);
	pb_map_from_strv(&containerd__services__namespaces__v1__namespace__labels_entry__descriptor,
			 labels, &m->n_labels, &m->labels);
	return m;
}

static int ns_get(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		  struct wh_err **err)
{
	const Containerd__Services__Namespaces__V1__GetNamespaceRequest *q = (const void *)req;
	Containerd__Services__Namespaces__V1__GetNamespaceResponse *resp;
	int r;
	Containerd__Services__Namespaces__V1__Namespace *m = ns_msg(c->d, q->name, err, &r);

	if (!m)
		return r;
	resp = pb_new(&containerd__services__namespaces__v1__get_namespace_response__descriptor);
	resp->namespace_ = m;
	*ret = &resp->base;
	return 0;
}

static bool ns_lookup(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const struct {
		const char *name;
		char **labels;
	} *o = userdata;

	if (n == 1 && streq(path[0], "name")) {
		*ret = o->name;
		return true;
	}
	return filter_lookup_labels(o->labels, path, n, ret);
}

static int ns_list(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Containerd__Services__Namespaces__V1__ListNamespacesRequest *q = (const void *)req;
	Containerd__Services__Namespaces__V1__ListNamespacesResponse *resp;
	cleanup_filter struct filter *f = NULL;
	cleanup_strv char **names = NULL;
	int r;

	if (q->filter && *q->filter && (r = filter_parse(q->filter, &f, err)) < 0)
		return r;
	r = meta_namespace_list(c->d->db, &names, err);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__namespaces__v1__list_namespaces_response__descriptor);
	resp->namespaces =
		xnew0(Containerd__Services__Namespaces__V1__Namespace *, strv_length(names) + 1);
	strv_foreach(n, names) {
		struct {
			const char *name;
			char **labels;
		} o = {*n, NULL};
		Containerd__Services__Namespaces__V1__Namespace *m;

		if (meta_namespace_get(c->d->db, *n, &o.labels, NULL) < 0)
			continue;
		if (!filter_match(f, ns_lookup, &o)) {
			strv_free(o.labels);
			continue;
		}
		m = pb_new(&containerd__services__namespaces__v1__namespace__descriptor);
		m->name = pb_str(*n);
		pb_map_from_strv(
			&containerd__services__namespaces__v1__namespace__labels_entry__descriptor,
			o.labels, &m->n_labels, &m->labels);
		strv_free(o.labels);
		resp->namespaces[resp->n_namespaces++] = m;
	}
	*ret = &resp->base;
	return 0;
}

static int ns_create(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Containerd__Services__Namespaces__V1__CreateNamespaceRequest *q = (const void *)req;
	Containerd__Services__Namespaces__V1__CreateNamespaceResponse *resp;
	cleanup_strv char **labels = NULL;
	int r;

	if (!q->namespace_ || !q->namespace_->name || !*q->namespace_->name)
		return wh_err_setx(err, EINVAL, "namespace name required");
	labels = pb_map_to_strv((void *const *)q->namespace_->labels, q->namespace_->n_labels);
	r = meta_namespace_create(c->d->db, q->namespace_->name, labels, err);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__namespaces__v1__create_namespace_response__descriptor);
	resp->namespace_ = ns_msg(c->d, q->namespace_->name, err, &r);
	if (!resp->namespace_) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return r;
	}
	{
		Containerd__Events__NamespaceCreate ev = CONTAINERD__EVENTS__NAMESPACE_CREATE__INIT;

		ev.name = resp->namespace_->name;
		ev.n_labels = resp->namespace_->n_labels;
		ev.labels = (Containerd__Events__NamespaceCreate__LabelsEntry **)
				    resp->namespace_->labels;
		events_publish_msg(c->d->events, q->namespace_->name, "/namespaces/create",
				   &ev.base);
	}
	*ret = &resp->base;
	return 0;
}

static int ns_update(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Containerd__Services__Namespaces__V1__UpdateNamespaceRequest *q = (const void *)req;
	Containerd__Services__Namespaces__V1__UpdateNamespaceResponse *resp;
	cleanup_strv char **want = NULL, **have = NULL;
	const char *name;
	int r;

	if (!q->namespace_ || !q->namespace_->name || !*q->namespace_->name)
		return wh_err_setx(err, EINVAL, "namespace name required");
	name = q->namespace_->name;
	r = meta_namespace_get(c->d->db, name, &have, err);
	if (r < 0)
		return r;
	want = pb_map_to_strv((void *const *)q->namespace_->labels, q->namespace_->n_labels);
	if (q->update_mask && q->update_mask->n_paths > 0) {
		for (size_t i = 0; i < q->update_mask->n_paths; i++) {
			const char *p = q->update_mask->paths[i];

			if (str_startswith(p, "labels.")) {
				r = meta_namespace_set_label(c->d->db, name, p + 7,
							     meta_labels_get(want, p + 7), err);
			} else if (streq(p, "labels")) {
				for (size_t j = 0; have && have[j]; j += 2)
					if ((r = meta_namespace_set_label(c->d->db, name, have[j],
									  NULL, err)) < 0)
						return r;
				for (size_t j = 0; want && want[j]; j += 2)
					if ((r = meta_namespace_set_label(c->d->db, name, want[j],
									  want[j + 1], err)) < 0)
						return r;
			} else {
				return wh_err_setx(err, EINVAL,
						   "cannot update '%s' field on namespace '%s'", p,
						   name);
			}
			if (r < 0)
				return r;
		}
	} else {
		for (size_t j = 0; have && have[j]; j += 2)
			if ((r = meta_namespace_set_label(c->d->db, name, have[j], NULL, err)) < 0)
				return r;
		for (size_t j = 0; want && want[j]; j += 2)
			if ((r = meta_namespace_set_label(c->d->db, name, want[j], want[j + 1],
							  err)) < 0)
				return r;
	}
	resp = pb_new(&containerd__services__namespaces__v1__update_namespace_response__descriptor);
	resp->namespace_ = ns_msg(c->d, name, err, &r);
	if (!resp->namespace_) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return r;
	}
	{
		Containerd__Events__NamespaceUpdate ev = CONTAINERD__EVENTS__NAMESPACE_UPDATE__INIT;

		ev.name = resp->namespace_->name;
		ev.n_labels = resp->namespace_->n_labels;
		ev.labels = (Containerd__Events__NamespaceUpdate__LabelsEntry **)
				    resp->namespace_->labels;
		events_publish_msg(c->d->events, name, "/namespaces/update", &ev.base);
	}
	*ret = &resp->base;
	return 0;
}

static int ns_delete(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Containerd__Services__Namespaces__V1__DeleteNamespaceRequest *q = (const void *)req;

	Containerd__Events__NamespaceDelete ev = CONTAINERD__EVENTS__NAMESPACE_DELETE__INIT;
	int r;

	(void)ret;
	r = meta_namespace_delete(c->d->db, q->name, err);
	if (r < 0)
		return r;
	ev.name = q->name;
	events_publish_msg(c->d->events, q->name, "/namespaces/delete", &ev.base);
	return 0;
}

const struct svc_service svc_namespaces = {
	&containerd__services__namespaces__v1__namespaces__descriptor,
	(const struct svc_method[]){{"Get", ns_get},
				    {"List", ns_list},
				    {"Create", ns_create},
				    {"Update", ns_update},
				    {"Delete", ns_delete},
				    {NULL, NULL}},
};

/* ---- version ---- */

static int version_version(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			   struct wh_err **err)
{
	Containerd__Services__Version__V1__VersionResponse *resp =
		pb_new(&containerd__services__version__v1__version_response__descriptor);

	(void)c, (void)req, (void)err;
	resp->version = pb_str(WHARFD_VERSION);
	resp->revision = pb_str(WHARFD_REVISION);
	*ret = &resp->base;
	return 0;
}

const struct svc_service svc_version = {
	&containerd__services__version__v1__version__descriptor,
	(const struct svc_method[]){{"Version", version_version}, {NULL, NULL}},
};

/* ---- introspection ---- */

struct plugin_row {
	const char *type, *id;
	const char *requires[3];
	const char *caps[2];
};

static const struct plugin_row plugin_rows[] = {
	{"io.containerd.content.v1", "content", {NULL}, {NULL}},
	{"io.containerd.metadata.v1", "sqlite", {"io.containerd.content.v1", NULL}, {NULL}},
	{"io.containerd.snapshotter.v1", "overlayfs", {NULL}, {NULL}},
	{"io.containerd.snapshotter.v1", "native", {NULL}, {NULL}},
	{"io.containerd.runtime.v2", "task", {"io.containerd.metadata.v1", NULL}, {NULL}},
	{"io.containerd.gc.v1", "scheduler", {"io.containerd.metadata.v1", NULL}, {NULL}},
	{"io.containerd.grpc.v1", "containers", {"io.containerd.metadata.v1", NULL}, {NULL}},
	{"io.containerd.grpc.v1", "content", {NULL}, {NULL}},
	{"io.containerd.grpc.v1", "diff", {NULL}, {NULL}},
	{"io.containerd.grpc.v1", "events", {NULL}, {NULL}},
	{"io.containerd.grpc.v1", "images", {"io.containerd.metadata.v1", NULL}, {NULL}},
	{"io.containerd.grpc.v1", "introspection", {NULL}, {NULL}},
	{"io.containerd.grpc.v1", "leases", {"io.containerd.metadata.v1", NULL}, {NULL}},
	{"io.containerd.grpc.v1", "namespaces", {"io.containerd.metadata.v1", NULL}, {NULL}},
	{"io.containerd.grpc.v1", "snapshots", {"io.containerd.snapshotter.v1", NULL}, {NULL}},
	{"io.containerd.grpc.v1", "tasks", {"io.containerd.runtime.v2", NULL}, {NULL}},
	{"io.containerd.grpc.v1", "version", {NULL}, {NULL}},
	{"io.wharf.transfer.v1", "images", {"io.containerd.metadata.v1", NULL}, {NULL}},
};

static bool plugin_lookup(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const struct plugin_row *p = userdata;

	if (n != 1)
		return false;
	if (streq(path[0], "type"))
		*ret = p->type;
	else if (streq(path[0], "id"))
		*ret = p->id;
	else
		return false;
	return true;
}

static int intro_plugins(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			 struct wh_err **err)
{
	const Containerd__Services__Introspection__V1__PluginsRequest *q = (const void *)req;
	Containerd__Services__Introspection__V1__PluginsResponse *resp;
	cleanup_filter struct filter *f = NULL;
	int r;

	r = pb_filters(q->filters, q->n_filters, &f, err);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__introspection__v1__plugins_response__descriptor);
	resp->plugins =
		xnew0(Containerd__Services__Introspection__V1__Plugin *, ARRAY_SIZE(plugin_rows));
	for (size_t i = 0; i < ARRAY_SIZE(plugin_rows); i++) {
		const struct plugin_row *p = &plugin_rows[i];
		Containerd__Services__Introspection__V1__Plugin *m;

		if (!filter_match(f, plugin_lookup, (void *)p))
			continue;
		m = pb_new(&containerd__services__introspection__v1__plugin__descriptor);
		m->type = pb_str(p->type);
		m->id = pb_str(p->id);
		for (size_t j = 0; p->requires[j]; j++) {
			m->requires = xrealloc(m->requires, (j + 1) * sizeof(char *));
			m->requires[m->n_requires++] = pb_str(p->requires[j]);
		}
		if (streq(p->id, "overlayfs") && !c->d->overlay) {
			Google__Rpc__Status *st = pb_new(&google__rpc__status__descriptor);

			st->code = TTRPC_UNIMPLEMENTED;
			st->message = pb_str("overlay is not supported on this host's filesystem");
			m->init_err = st;
		}
		resp->plugins[resp->n_plugins++] = m;
	}
	*ret = &resp->base;
	return 0;
}

static int intro_server(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			struct wh_err **err)
{
	Containerd__Services__Introspection__V1__ServerResponse *resp =
		pb_new(&containerd__services__introspection__v1__server_response__descriptor);

	(void)req, (void)err;
	resp->uuid = pb_str(c->d->uuid);
	*ret = &resp->base;
	return 0;
}

const struct svc_service svc_introspection = {
	&containerd__services__introspection__v1__introspection__descriptor,
	(const struct svc_method[]){
		{"Plugins", intro_plugins}, {"Server", intro_server}, {NULL, NULL}},
};

/* ---- leases ---- */

static Containerd__Services__Leases__V1__Lease *lease_msg(const struct meta_lease *l)
{
	Containerd__Services__Leases__V1__Lease *m =
		pb_new(&containerd__services__leases__v1__lease__descriptor);

	m->id = pb_str(l->id);
	m->created_at = pb_ts(l->created_ns);
	pb_map_from_strv(&containerd__services__leases__v1__lease__labels_entry__descriptor,
			 l->labels, &m->n_labels, &m->labels);
	return m;
}

static int lease_create(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			struct wh_err **err)
{
	const Containerd__Services__Leases__V1__CreateRequest *q = (const void *)req;
	Containerd__Services__Leases__V1__CreateResponse *resp;
	cleanup_strv char **labels = pb_map_to_strv((void *const *)q->labels, q->n_labels);
	cleanup_free char *id = NULL;
	struct meta_lease *v = NULL;
	size_t n = 0;
	int r;

	if (q->id && *q->id) {
		id = xstrdup(q->id);
	} else {
		uint8_t rnd[8];
		FILE *f = fopen("/dev/urandom", "re");

		if (!f || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd)) {
			if (f)
				fclose(f);
			return wh_err_set(err, EIO, "cannot read /dev/urandom");
		}
		fclose(f);
		id = xasprintf("lease-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
			       rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	}
	r = meta_lease_create(c->d->db, c->ns, id, labels, err);
	if (r < 0)
		return r;
	/* Read it back for its creation time. */
	{
		cleanup_free char *expr = xasprintf("id==\"%s\"", id);
		cleanup_filter struct filter *f = NULL;

		if ((r = filter_parse(expr, &f, err)) < 0 ||
		    (r = meta_lease_list(c->d->db, c->ns, f, &v, &n, err)) < 0)
			return r;
	}
	if (n != 1) {
		meta_leases_free(v, n);
		return wh_err_setx(err, EIO, "lease '%s' vanished after creation", id);
	}
	resp = pb_new(&containerd__services__leases__v1__create_response__descriptor);
	resp->lease = lease_msg(&v[0]);
	meta_leases_free(v, n);
	*ret = &resp->base;
	return 0;
}

static int lease_delete(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			struct wh_err **err)
{
	const Containerd__Services__Leases__V1__DeleteRequest *q = (const void *)req;
	int r;

	(void)ret;
	r = meta_lease_delete(c->d->db, c->ns, q->id, err);
	if (r < 0)
		return r;
	daemon_gc_soon(c->d);
	if (q->sync) {
		struct meta_gc_stats st;

		r = meta_gc(c->d->db, snview_gc_remove, c->d, &st, err);
	}
	return r < 0 ? r : 0;
}

static int lease_list(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Containerd__Services__Leases__V1__ListRequest *q = (const void *)req;
	Containerd__Services__Leases__V1__ListResponse *resp;
	cleanup_filter struct filter *f = NULL;
	struct meta_lease *v = NULL;
	size_t n = 0;
	int r;

	if ((r = pb_filters(q->filters, q->n_filters, &f, err)) < 0 ||
	    (r = meta_lease_list(c->d->db, c->ns, f, &v, &n, err)) < 0)
		return r;
	resp = pb_new(&containerd__services__leases__v1__list_response__descriptor);
	resp->leases = n ? xnew0(Containerd__Services__Leases__V1__Lease *, n) : NULL;
	for (size_t i = 0; i < n; i++)
		resp->leases[resp->n_leases++] = lease_msg(&v[i]);
	meta_leases_free(v, n);
	*ret = &resp->base;
	return 0;
}

static int lease_resource(const Containerd__Services__Leases__V1__Resource *res,
			  struct meta_lease_resource *ret, struct wh_err **err)
{
	if (!res || !res->id || !*res->id || !res->type || !*res->type)
		return wh_err_setx(err, EINVAL, "lease resource needs an id and a type");
	*ret = (struct meta_lease_resource){res->id, res->type};
	return 0;
}

static int lease_add(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Containerd__Services__Leases__V1__AddResourceRequest *q = (const void *)req;
	struct meta_lease_resource res;
	int r;

	(void)ret;
	if ((r = lease_resource(q->resource, &res, err)) < 0)
		return r;
	return meta_lease_add_resource(c->d->db, c->ns, q->id, &res, err);
}

static int lease_del_res(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			 struct wh_err **err)
{
	const Containerd__Services__Leases__V1__DeleteResourceRequest *q = (const void *)req;
	struct meta_lease_resource res;
	int r;

	(void)ret;
	if ((r = lease_resource(q->resource, &res, err)) < 0)
		return r;
	return meta_lease_delete_resource(c->d->db, c->ns, q->id, &res, err);
}

static int lease_list_res(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			  struct wh_err **err)
{
	const Containerd__Services__Leases__V1__ListResourcesRequest *q = (const void *)req;
	Containerd__Services__Leases__V1__ListResourcesResponse *resp;
	struct meta_lease_resource *v = NULL;
	size_t n = 0;
	int r;

	r = meta_lease_list_resources(c->d->db, c->ns, q->id, &v, &n, err);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__leases__v1__list_resources_response__descriptor);
	resp->resources = n ? xnew0(Containerd__Services__Leases__V1__Resource *, n) : NULL;
	for (size_t i = 0; i < n; i++) {
		Containerd__Services__Leases__V1__Resource *m =
			pb_new(&containerd__services__leases__v1__resource__descriptor);

		m->id = pb_str(v[i].id);
		m->type = pb_str(v[i].type);
		resp->resources[resp->n_resources++] = m;
	}
	meta_lease_resources_free(v, n);
	*ret = &resp->base;
	return 0;
}

const struct svc_service svc_leases = {
	&containerd__services__leases__v1__leases__descriptor,
	(const struct svc_method[]){{"Create", lease_create},
				    {"Delete", lease_delete},
				    {"List", lease_list},
				    {"AddResource", lease_add},
				    {"DeleteResource", lease_del_res},
				    {"ListResources", lease_list_res},
				    {NULL, NULL}},
};

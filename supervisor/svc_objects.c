/* SPDX-License-Identifier: Apache-2.0 */
/* The containers and images services over metadata/ (records only; tasks and pulls elsewhere). */
#include <errno.h>
#include <string.h>

#include "common/filter.h"
#include "common/util.h"
#include "metadata/metadata.h"
#include "proto/api/events/container.pb-c.h"
#include "proto/services/containers/v1/containers.pb-c.h"
#include "proto/services/images/v1/images.pb-c.h"
#include "supervisor/supervisor.h"

/* ---- containers ---- */

typedef Containerd__Services__Containers__V1__Container PbContainer;

static Google__Protobuf__Any *any_from_meta(const struct meta_any *a)
{
	if (!a->type_url && a->len == 0)
		return NULL;
	return pb_any(a->type_url, a->value, a->len);
}

static void any_to_meta(const Google__Protobuf__Any *a, struct meta_any *ret)
{
	*ret = (struct meta_any){0};
	if (!a)
		return;
	ret->type_url = a->type_url ? xstrdup(a->type_url) : NULL;
	if (a->value.len > 0) {
		ret->value = xmemdup(a->value.data, a->value.len);
		ret->len = a->value.len;
	}
}

static PbContainer *container_msg(const struct meta_container *c)
{
	PbContainer *m = pb_new(&containerd__services__containers__v1__container__descriptor);

	m->id = pb_str(c->id);
	pb_map_from_strv(&containerd__services__containers__v1__container__labels_entry__descriptor,
			 c->labels, &m->n_labels, &m->labels);
	m->image = pb_str(c->image);
	m->runtime = pb_new(&containerd__services__containers__v1__container__runtime__descriptor);
	m->runtime->name = pb_str(c->runtime_name);
	m->runtime->options = any_from_meta(&c->runtime_options);
	m->spec = any_from_meta(&c->spec);
	m->snapshotter = pb_str(c->snapshotter);
	m->snapshot_key = pb_str(c->snapshot_key);
	m->created_at = pb_ts(c->created_ns);
	m->updated_at = pb_ts(c->updated_ns);
	if (c->n_extensions > 0) {
		m->extensions =
			xnew0(Containerd__Services__Containers__V1__Container__ExtensionsEntry *,
			      c->n_extensions);
		for (size_t i = 0; i < c->n_extensions; i++) {
			Containerd__Services__Containers__V1__Container__ExtensionsEntry *e = pb_new(
				&containerd__services__containers__v1__container__extensions_entry__descriptor);

			e->key = pb_str(c->extensions[i].name);
			e->value = pb_any(c->extensions[i].any.type_url, c->extensions[i].any.value,
					  c->extensions[i].any.len);
			m->extensions[m->n_extensions++] = e;
		}
	}
	return m;
}

static void container_from_msg(const PbContainer *m, struct meta_container *ret)
{
	*ret = (struct meta_container){0};
	ret->id = pb_str(m->id);
	ret->labels = pb_map_to_strv((void *const *)m->labels, m->n_labels);
	ret->image = pb_nz(m->image) ? xstrdup(m->image) : NULL;
	if (m->runtime) {
		ret->runtime_name = pb_nz(m->runtime->name) ? xstrdup(m->runtime->name) : NULL;
		any_to_meta(m->runtime->options, &ret->runtime_options);
	}
	any_to_meta(m->spec, &ret->spec);
	ret->snapshotter = pb_nz(m->snapshotter) ? xstrdup(m->snapshotter) : NULL;
	ret->snapshot_key = pb_nz(m->snapshot_key) ? xstrdup(m->snapshot_key) : NULL;
	if (m->n_extensions > 0) {
		ret->extensions = xnew0(struct meta_extension, m->n_extensions);
		for (size_t i = 0; i < m->n_extensions; i++) {
			ret->extensions[i].name = pb_str(m->extensions[i]->key);
			any_to_meta(m->extensions[i]->value, &ret->extensions[i].any);
		}
		ret->n_extensions = m->n_extensions;
	}
}

static int ctr_get(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Containerd__Services__Containers__V1__GetContainerRequest *q = (const void *)req;
	Containerd__Services__Containers__V1__GetContainerResponse *resp;
	struct meta_container mc;
	int r;

	r = meta_container_get(c->d->db, c->ns, q->id, &mc, err);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__containers__v1__get_container_response__descriptor);
	resp->container = container_msg(&mc);
	meta_container_release(&mc);
	*ret = &resp->base;
	return 0;
}

static int ctr_list(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		    struct wh_err **err)
{
	const Containerd__Services__Containers__V1__ListContainersRequest *q = (const void *)req;
	Containerd__Services__Containers__V1__ListContainersResponse *resp;
	cleanup_filter struct filter *f = NULL;
	struct meta_container *v = NULL;
	size_t n = 0;
	int r;

	if ((r = pb_filters(q->filters, q->n_filters, &f, err)) < 0 ||
	    (r = meta_container_list(c->d->db, c->ns, f, &v, &n, err)) < 0)
		return r;
	resp = pb_new(&containerd__services__containers__v1__list_containers_response__descriptor);
	resp->containers = n ? xnew0(PbContainer *, n) : NULL;
	for (size_t i = 0; i < n; i++)
		resp->containers[resp->n_containers++] = container_msg(&v[i]);
	meta_containers_free(v, n);
	*ret = &resp->base;
	return 0;
}

static int ctr_create(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Containerd__Services__Containers__V1__CreateContainerRequest *q = (const void *)req;
	Containerd__Services__Containers__V1__CreateContainerResponse *resp;
	struct meta_container mc, got;
	int r;

	if (!q->container)
		return wh_err_setx(err, EINVAL, "container required");
	container_from_msg(q->container, &mc);
	if (mc.snapshot_key && !mc.snapshotter) {
		struct snapshotter *sn;
		const char *real;

		if (daemon_snapshotter(c->d, NULL, &sn, &real, err) < 0) {
			meta_container_release(&mc);
			return -ENOENT;
		}
		mc.snapshotter = xstrdup(real);
	}
	if (mc.spec.type_url && mc.spec.len == 0) {
		meta_container_release(&mc);
		return wh_err_setx(err, EINVAL, "container '%s': empty spec", q->container->id);
	}
	r = meta_container_create(c->d->db, c->ns, &mc, err);
	meta_container_release(&mc);
	if (r < 0)
		return r;
	if (c->lease) {
		/* A container is a GC root by itself; nothing to add to the lease. */
	}
	r = meta_container_get(c->d->db, c->ns, q->container->id, &got, err);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__containers__v1__create_container_response__descriptor);
	resp->container = container_msg(&got);
	meta_container_release(&got);
	{
		Containerd__Events__ContainerCreate ev = CONTAINERD__EVENTS__CONTAINER_CREATE__INIT;
		Containerd__Events__ContainerCreate__Runtime rt =
			CONTAINERD__EVENTS__CONTAINER_CREATE__RUNTIME__INIT;

		ev.id = resp->container->id;
		ev.image = resp->container->image;
		rt.name = resp->container->runtime->name;
		rt.options = resp->container->runtime->options;
		ev.runtime = &rt;
		events_publish_msg(c->d->events, c->ns, "/containers/create", &ev.base);
	}
	*ret = &resp->base;
	return 0;
}

static int ctr_update(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Containerd__Services__Containers__V1__UpdateContainerRequest *q = (const void *)req;
	Containerd__Services__Containers__V1__UpdateContainerResponse *resp;
	cleanup_free const char **paths = NULL;
	struct meta_container mc, got;
	int r;

	if (!q->container)
		return wh_err_setx(err, EINVAL, "container required");
	r = meta_container_get(c->d->db, c->ns, q->container->id, &got, err);
	if (r < 0)
		return r;
	container_from_msg(q->container, &mc);
	/* The runtime and snapshotter are immutable: absent from the request means unchanged. */
	if (!mc.runtime_name) {
		mc.runtime_name = TAKE_PTR(got.runtime_name);
		mc.runtime_options = got.runtime_options;
		got.runtime_options = (struct meta_any){0};
	}
	if (!mc.snapshotter)
		mc.snapshotter = TAKE_PTR(got.snapshotter);
	meta_container_release(&got);
	if (q->update_mask)
		paths = pb_paths(q->update_mask->n_paths, q->update_mask->paths);
	r = meta_container_update(c->d->db, c->ns, &mc, paths, err);
	meta_container_release(&mc);
	if (r < 0)
		return r;
	r = meta_container_get(c->d->db, c->ns, q->container->id, &got, err);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__containers__v1__update_container_response__descriptor);
	resp->container = container_msg(&got);
	meta_container_release(&got);
	{
		Containerd__Events__ContainerUpdate ev = CONTAINERD__EVENTS__CONTAINER_UPDATE__INIT;

		ev.id = resp->container->id;
		ev.image = resp->container->image;
		ev.snapshot_key = resp->container->snapshot_key;
		ev.n_labels = resp->container->n_labels;
		ev.labels = (Containerd__Events__ContainerUpdate__LabelsEntry **)
				    resp->container->labels;
		events_publish_msg(c->d->events, c->ns, "/containers/update", &ev.base);
	}
	*ret = &resp->base;
	return 0;
}

static int ctr_delete(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Containerd__Services__Containers__V1__DeleteContainerRequest *q = (const void *)req;
	int r;

	(void)ret;
	if (c->d->tasks && tasks_has(c->d->tasks, c->ns, q->id))
		return wh_err_setx(err, EBUSY, "container '%s' has a task: delete the task first",
				   q->id);
	r = meta_container_delete(c->d->db, c->ns, q->id, err);
	if (r < 0)
		return r;
	daemon_gc_soon(c->d);
	{
		Containerd__Events__ContainerDelete ev = CONTAINERD__EVENTS__CONTAINER_DELETE__INIT;

		ev.id = q->id;
		events_publish_msg(c->d->events, c->ns, "/containers/delete", &ev.base);
	}
	return 0;
}

const struct svc_service svc_containers = {
	&containerd__services__containers__v1__containers__descriptor,
	(const struct svc_method[]){{"Get", ctr_get},
				    {"List", ctr_list},
				    {"Create", ctr_create},
				    {"Update", ctr_update},
				    {"Delete", ctr_delete},
				    {NULL, NULL}},
};

/* ---- images ---- */

typedef Containerd__Services__Images__V1__Image PbImage;

PbImage *image_msg(const struct meta_image *img);
PbImage *image_msg(const struct meta_image *img)
{
	PbImage *m = pb_new(&containerd__services__images__v1__image__descriptor);

	m->name = pb_str(img->name);
	pb_map_from_strv(&containerd__services__images__v1__image__labels_entry__descriptor,
			 img->labels, &m->n_labels, &m->labels);
	m->target = pb_new(&containerd__types__descriptor__descriptor);
	m->target->media_type = pb_str(img->target.media_type);
	m->target->digest = pb_str(img->target.digest);
	m->target->size = img->target.size;
	pb_map_from_strv(&containerd__types__descriptor__annotations_entry__descriptor,
			 img->target.annotations, &m->target->n_annotations,
			 &m->target->annotations);
	m->created_at = pb_ts(img->created_ns);
	m->updated_at = pb_ts(img->updated_ns);
	return m;
}

static int image_from_msg(const PbImage *m, struct meta_image *ret, struct wh_err **err)
{
	*ret = (struct meta_image){0};
	if (!m || !pb_nz(m->name))
		return wh_err_setx(err, EINVAL, "image name required");
	ret->name = xstrdup(m->name);
	ret->labels = pb_map_to_strv((void *const *)m->labels, m->n_labels);
	if (m->target) {
		const char *dg = m->target->digest ? m->target->digest : "";

		if (strlen(dg) >= sizeof(ret->target.digest)) {
			meta_image_release(ret);
			return wh_err_setx(err, EINVAL, "image '%s': invalid target digest '%s'",
					   m->name, dg);
		}
		ret->target.media_type = pb_str(m->target->media_type);
		strcpy(ret->target.digest, dg);
		ret->target.size = m->target->size;
		ret->target.annotations = pb_map_to_strv((void *const *)m->target->annotations,
							 m->target->n_annotations);
	}
	return 0;
}

static int img_get(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Containerd__Services__Images__V1__GetImageRequest *q = (const void *)req;
	Containerd__Services__Images__V1__GetImageResponse *resp;
	struct meta_image img;
	int r;

	r = meta_image_get(c->d->db, c->ns, q->name, &img, err);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__images__v1__get_image_response__descriptor);
	resp->image = image_msg(&img);
	meta_image_release(&img);
	*ret = &resp->base;
	return 0;
}

static int img_list(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		    struct wh_err **err)
{
	const Containerd__Services__Images__V1__ListImagesRequest *q = (const void *)req;
	Containerd__Services__Images__V1__ListImagesResponse *resp;
	cleanup_filter struct filter *f = NULL;
	struct meta_image *v = NULL;
	size_t n = 0;
	int r;

	if ((r = pb_filters(q->filters, q->n_filters, &f, err)) < 0 ||
	    (r = meta_image_list(c->d->db, c->ns, f, &v, &n, err)) < 0)
		return r;
	resp = pb_new(&containerd__services__images__v1__list_images_response__descriptor);
	resp->images = n ? xnew0(PbImage *, n) : NULL;
	for (size_t i = 0; i < n; i++)
		resp->images[resp->n_images++] = image_msg(&v[i]);
	meta_images_free(v, n);
	*ret = &resp->base;
	return 0;
}

static void image_event(struct svc_ctx *c, const char *topic, const char *name)
{
	/* ImageCreate, ImageUpdate and ImageDelete share the wire of name = 1 (labels omitted). */
	Containerd__Events__ImageDelete ev = CONTAINERD__EVENTS__IMAGE_DELETE__INIT;
	const ProtobufCMessageDescriptor *desc =
		streq(topic, "/images/create")	 ? &containerd__events__image_create__descriptor
		: streq(topic, "/images/update") ? &containerd__events__image_update__descriptor
						 : &containerd__events__image_delete__descriptor;
	cleanup_free char *url = xasprintf("types.containerd.io/%s", desc->name);
	size_t len;
	uint8_t *buf;

	ev.name = (char *)name;
	len = protobuf_c_message_get_packed_size(&ev.base);
	buf = xmalloc(len + 1);
	protobuf_c_message_pack(&ev.base, buf);
	events_publish(c->d->events, c->ns, topic, 0, pb_any(url, buf, len));
	free(buf);
	return;
}

static int img_create(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Containerd__Services__Images__V1__CreateImageRequest *q = (const void *)req;
	Containerd__Services__Images__V1__CreateImageResponse *resp;
	struct meta_image img;
	int r;

	if ((r = image_from_msg(q->image, &img, err)) < 0)
		return r;
	r = meta_image_create(c->d->db, c->ns, &img, err);
	meta_image_release(&img);
	if (r < 0)
		return r;
	if ((r = meta_image_get(c->d->db, c->ns, q->image->name, &img, err)) < 0)
		return r;
	resp = pb_new(&containerd__services__images__v1__create_image_response__descriptor);
	resp->image = image_msg(&img);
	meta_image_release(&img);
	image_event(c, "/images/create", q->image->name);
	*ret = &resp->base;
	return 0;
}

static int img_update(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Containerd__Services__Images__V1__UpdateImageRequest *q = (const void *)req;
	Containerd__Services__Images__V1__UpdateImageResponse *resp;
	cleanup_free const char **paths = NULL;
	struct meta_image img;
	int r;

	if ((r = image_from_msg(q->image, &img, err)) < 0)
		return r;
	if (q->update_mask)
		paths = pb_paths(q->update_mask->n_paths, q->update_mask->paths);
	r = meta_image_update(c->d->db, c->ns, &img, paths, err);
	meta_image_release(&img);
	if (r < 0)
		return r;
	if ((r = meta_image_get(c->d->db, c->ns, q->image->name, &img, err)) < 0)
		return r;
	resp = pb_new(&containerd__services__images__v1__update_image_response__descriptor);
	resp->image = image_msg(&img);
	meta_image_release(&img);
	image_event(c, "/images/update", q->image->name);
	*ret = &resp->base;
	return 0;
}

static int img_delete(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Containerd__Services__Images__V1__DeleteImageRequest *q = (const void *)req;
	int r;

	(void)ret;
	r = meta_image_delete(c->d->db, c->ns, q->name, err);
	if (r < 0)
		return r;
	image_event(c, "/images/delete", q->name);
	daemon_gc_soon(c->d);
	if (q->sync) {
		struct meta_gc_stats st;

		r = meta_gc(c->d->db, snview_gc_remove, c->d, &st, err);
	}
	return r < 0 ? r : 0;
}

const struct svc_service svc_images = {
	&containerd__services__images__v1__images__descriptor,
	(const struct svc_method[]){{"Get", img_get},
				    {"List", img_list},
				    {"Create", img_create},
				    {"Update", img_update},
				    {"Delete", img_delete},
				    {NULL, NULL}},
};

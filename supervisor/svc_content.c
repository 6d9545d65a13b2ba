/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content service over metadata/'s namespaced view of the content store. Over unary ttrpc:
 * List answers every match at once, Read one chunk of at most READ_CHUNK bytes per call, Write one
 * request per call with the writer kept open under (namespace, ref) between calls and closed
 * after WRITER_IDLE of silence (the ingest itself stays and resumes).
 */
#include <errno.h>
#include <string.h>

#include "common/filter.h"
#include "common/log.h"
#include "common/util.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "proto/api/events/container.pb-c.h"
#include "proto/services/content/v1/content.pb-c.h"
#include "supervisor/supervisor.h"

#define READ_CHUNK (1u << 20)
#define WRITER_IDLE_NS (120ull * 1000000000ull)

typedef Containerd__Services__Content__V1__Info PbInfo;

struct open_writer {
	struct open_writer *next;
	char *ns, *ref;
	struct meta_writer *w;
	uint64_t last_ns;
};

/* Open writers of the daemon (one list: the daemon has one loop). */
static struct open_writer *writers;
static struct ev_source *writers_timer;

static void writer_close(struct open_writer **p)
{
	struct open_writer *o = *p;

	*p = o->next;
	meta_writer_free(o->w);
	free(o->ns);
	free(o->ref);
	free(o);
}

static int writers_gc(struct ev_source *src, uint64_t now, void *userdata)
{
	(void)userdata;
	for (struct open_writer **p = &writers; *p;) {
		if (now - (*p)->last_ns > WRITER_IDLE_NS)
			writer_close(p);
		else
			p = &(*p)->next;
	}
	if (writers) {
		ev_source_set_time(src, now + 10ull * 1000000000ull);
		ev_source_set_enabled(src, EV_ONESHOT);
	} else {
		writers_timer = ev_source_disable_unref(writers_timer);
	}
	return 0;
}

void content_writers_close_all(void);
void content_writers_close_all(void)
{
	while (writers)
		writer_close(&writers);
	writers_timer = ev_source_disable_unref(writers_timer);
}

static struct open_writer **writer_find(const char *ns, const char *ref)
{
	for (struct open_writer **p = &writers; *p; p = &(*p)->next)
		if (streq((*p)->ns, ns) && streq((*p)->ref, ref))
			return p;
	return NULL;
}

static PbInfo *info_msg(const struct meta_content_info *i)
{
	PbInfo *m = pb_new(&containerd__services__content__v1__info__descriptor);

	m->digest = pb_str(i->digest);
	m->size = (int64_t)i->size;
	m->created_at = pb_ts(i->created_ns);
	m->updated_at = pb_ts(i->updated_ns);
	pb_map_from_strv(&containerd__services__content__v1__info__labels_entry__descriptor,
			 i->labels, &m->n_labels, &m->labels);
	return m;
}

static int ct_info(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Containerd__Services__Content__V1__InfoRequest *q = (const void *)req;
	Containerd__Services__Content__V1__InfoResponse *resp;
	struct meta_content_info i;
	int r;

	r = meta_content_info(c->d->db, c->ns, q->digest, &i, err);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__content__v1__info_response__descriptor);
	resp->info = info_msg(&i);
	meta_content_info_release(&i);
	*ret = &resp->base;
	return 0;
}

static int ct_update(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Containerd__Services__Content__V1__UpdateRequest *q = (const void *)req;
	Containerd__Services__Content__V1__UpdateResponse *resp;
	cleanup_free const char **paths = NULL;
	cleanup_strv char **labels = NULL;
	struct meta_content_info i;
	int r;

	if (!q->info || !pb_nz(q->info->digest))
		return wh_err_setx(err, EINVAL, "content info with a digest required");
	labels = pb_map_to_strv((void *const *)q->info->labels, q->info->n_labels);
	if (q->update_mask)
		paths = pb_paths(q->update_mask->n_paths, q->update_mask->paths);
	r = meta_content_update(c->d->db, c->ns, q->info->digest, labels, paths, err);
	if (r < 0)
		return r;
	r = meta_content_info(c->d->db, c->ns, q->info->digest, &i, err);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__content__v1__update_response__descriptor);
	resp->info = info_msg(&i);
	meta_content_info_release(&i);
	*ret = &resp->base;
	return 0;
}

struct list_acc {
	PbInfo **v;
	size_t n, cap;
};

static int list_one(const struct meta_content_info *i, void *userdata)
{
	struct list_acc *a = userdata;

	xgrow((void **)&a->v, &a->cap, a->n + 1, sizeof(*a->v));
	a->v[a->n++] = info_msg(i);
	return 0;
}

static int ct_list(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Containerd__Services__Content__V1__ListContentRequest *q = (const void *)req;
	Containerd__Services__Content__V1__ListContentResponse *resp;
	cleanup_filter struct filter *f = NULL;
	struct list_acc a = {0};
	int r;

	if ((r = pb_filters(q->filters, q->n_filters, &f, err)) < 0)
		return r;
	r = meta_content_walk(c->d->db, c->ns, f, list_one, &a, err);
	resp = pb_new(&containerd__services__content__v1__list_content_response__descriptor);
	resp->info = a.v;
	resp->n_info = a.n;
	if (r < 0) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return r;
	}
	*ret = &resp->base;
	return 0;
}

static int ct_delete(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Containerd__Services__Content__V1__DeleteContentRequest *q = (const void *)req;
	Containerd__Events__ContentDelete ev = CONTAINERD__EVENTS__CONTENT_DELETE__INIT;
	int r;

	(void)ret;
	r = meta_content_delete(c->d->db, c->ns, q->digest, err);
	if (r < 0)
		return r;
	daemon_gc_soon(c->d);
	ev.digest = q->digest;
	events_publish_msg(c->d->events, c->ns, "/content/delete", &ev.base);
	return 0;
}

static int ct_read(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Containerd__Services__Content__V1__ReadContentRequest *q = (const void *)req;
	Containerd__Services__Content__V1__ReadContentResponse *resp;
	struct content_reader *rd = NULL;
	uint64_t size, want;
	ssize_t n;
	int r;

	if (q->offset < 0 || q->size < 0)
		return wh_err_setx(err, EINVAL, "negative offset or size");
	r = meta_content_reader_open(c->d->db, c->ns, q->digest, &rd, err);
	if (r < 0)
		return r;
	size = content_reader_size(rd);
	if ((uint64_t)q->offset > size) {
		content_reader_free(rd);
		return wh_err_setx(err, ERANGE, "offset %lld beyond the end of %s (%llu bytes)",
				   (long long)q->offset, q->digest, (unsigned long long)size);
	}
	want = size - (uint64_t)q->offset;
	if (q->size > 0)
		want = MIN(want, (uint64_t)q->size);
	want = MIN(want, (uint64_t)READ_CHUNK);
	resp = pb_new(&containerd__services__content__v1__read_content_response__descriptor);
	resp->offset = q->offset;
	if (want > 0) {
		resp->data.data = xmalloc(want);
		n = content_reader_read_at(rd, resp->data.data, want, (uint64_t)q->offset, err);
		if (n < 0) {
			content_reader_free(rd);
			protobuf_c_message_free_unpacked(&resp->base, NULL);
			return (int)n;
		}
		resp->data.len = (size_t)n;
	}
	content_reader_free(rd);
	*ret = &resp->base;
	return 0;
}

static Containerd__Services__Content__V1__Status *status_msg(const struct content_status *st)
{
	Containerd__Services__Content__V1__Status *m =
		pb_new(&containerd__services__content__v1__status__descriptor);

	m->started_at = pb_ts(st->started_ns);
	m->updated_at = pb_ts(st->updated_ns);
	m->ref = pb_str(st->ref);
	m->offset = (int64_t)st->offset;
	m->total = (int64_t)st->total;
	m->expected = pb_str(st->expected);
	return m;
}

static int ct_status(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Containerd__Services__Content__V1__StatusRequest *q = (const void *)req;
	Containerd__Services__Content__V1__StatusResponse *resp;
	struct content_status st = {0};
	int r;

	r = meta_content_status(c->d->db, c->ns, q->ref, &st, err);
	if (r < 0)
		return r;
	resp = pb_new(&containerd__services__content__v1__status_response__descriptor);
	resp->status = status_msg(&st);
	content_status_release(&st);
	*ret = &resp->base;
	return 0;
}

static int ct_list_statuses(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			    struct wh_err **err)
{
	const Containerd__Services__Content__V1__ListStatusesRequest *q = (const void *)req;
	Containerd__Services__Content__V1__ListStatusesResponse *resp;
	cleanup_filter struct filter *f = NULL;
	struct content_status *v = NULL;
	size_t n = 0;
	int r;

	if ((r = pb_filters(q->filters, q->n_filters, &f, err)) < 0 ||
	    (r = meta_content_list_statuses(c->d->db, c->ns, f, &v, &n, err)) < 0)
		return r;
	resp = pb_new(&containerd__services__content__v1__list_statuses_response__descriptor);
	resp->statuses = n ? xnew0(Containerd__Services__Content__V1__Status *, n) : NULL;
	for (size_t i = 0; i < n; i++)
		resp->statuses[resp->n_statuses++] = status_msg(&v[i]);
	content_statuses_free(v, n);
	*ret = &resp->base;
	return 0;
}

static int ct_abort(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		    struct wh_err **err)
{
	const Containerd__Services__Content__V1__AbortRequest *q = (const void *)req;
	struct open_writer **p = writer_find(c->ns, q->ref);

	(void)ret;
	if (p)
		writer_close(p);
	return meta_content_abort(c->d->db, c->ns, q->ref, err);
}

static int ct_write(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		    struct wh_err **err)
{
	const Containerd__Services__Content__V1__WriteContentRequest *q = (const void *)req;
	Containerd__Services__Content__V1__WriteContentResponse *resp;
	struct open_writer **p, *o;
	struct content_status st = {0};
	int r;

	if (!pb_nz(q->ref))
		return wh_err_setx(err, EINVAL, "write: ref required");
	if (q->action != CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__STAT &&
	    q->action != CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__WRITE &&
	    q->action != CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT)
		return wh_err_setx(err, EINVAL, "write '%s': unknown action %d", q->ref, q->action);
	if (q->total < 0 || q->offset < 0)
		return wh_err_setx(err, EINVAL, "write '%s': negative total or offset", q->ref);
	p = writer_find(c->ns, q->ref);
	if (!p) {
		struct meta_writer *w = NULL;

		r = meta_writer_open(c->d->db, c->ns, q->ref, (uint64_t)q->total,
				     pb_nz(q->expected), c->lease, &w, err);
		if (r < 0)
			return r;
		o = xnew0(struct open_writer, 1);
		*o = (struct open_writer){writers, xstrdup(c->ns), xstrdup(q->ref), w, 0};
		writers = o;
		p = &writers;
		if (!writers_timer &&
		    ev_add_timer(c->d->loop, &writers_timer, now_mono_ns() + 10000000000ull,
				 writers_gc, NULL) < 0)
			writers_timer = NULL;
	}
	o = *p;
	o->last_ns = now_mono_ns();
	if ((r = meta_writer_status(o->w, &st, err)) < 0)
		goto fail;
	if (q->data.len > 0 ||
	    q->action == CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__WRITE) {
		if ((uint64_t)q->offset != st.offset) {
			r = wh_err_setx(
				err, EINVAL,
				"write '%s': offset %lld does not match the ingest's offset "
				"%llu (resume from there)",
				q->ref, (long long)q->offset, (unsigned long long)st.offset);
			content_status_release(&st);
			return r; /* the writer stays open: the client may retry at the right offset
				   */
		}
		if (q->data.len > 0 &&
		    (r = meta_writer_write(o->w, q->data.data, q->data.len, err)) < 0)
			goto fail;
		content_status_release(&st);
		if ((r = meta_writer_status(o->w, &st, err)) < 0)
			goto fail;
	}
	resp = pb_new(&containerd__services__content__v1__write_content_response__descriptor);
	resp->action = q->action;
	resp->started_at = pb_ts(st.started_ns);
	resp->updated_at = pb_ts(st.updated_ns);
	resp->offset = (int64_t)st.offset;
	resp->total = (int64_t)st.total;
	if (q->action == CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT) {
		cleanup_strv char **labels = pb_map_to_strv((void *const *)q->labels, q->n_labels);
		char digest[DIGEST_STR_LEN];

		r = meta_writer_commit(o->w, (uint64_t)q->total, pb_nz(q->expected), labels, digest,
				       err);
		writer_close(p);
		if (r < 0) {
			protobuf_c_message_free_unpacked(&resp->base, NULL);
			content_status_release(&st);
			return r;
		}
		resp->digest = pb_str(digest);
		resp->offset = (int64_t)st.offset;
	}
	content_status_release(&st);
	*ret = &resp->base;
	return 0;
fail:
	content_status_release(&st);
	writer_close(p);
	return r;
}

const struct svc_service svc_content = {
	&containerd__services__content__v1__content__descriptor,
	(const struct svc_method[]){{"Info", ct_info},
				    {"Update", ct_update},
				    {"List", ct_list},
				    {"Delete", ct_delete},
				    {"Read", ct_read},
				    {"Status", ct_status},
				    {"ListStatuses", ct_list_statuses},
				    {"Write", ct_write},
				    {"Abort", ct_abort},
				    {NULL, NULL}},
};

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The events bus: envelopes published by the services and forwarded by shims go to every
 * subscription whose filters match (fields "topic" and "namespace"). Serves
 * containerd.services.events.v1.Events (Publish, Forward; Subscribe needs a server stream, which
 * ttrpc 1.1 lacks: Unimplemented) and wharf.services.events.v1.Subscriptions (Open/Next/Close, a
 * long poll over unary calls).
 */
#include <errno.h>
#include <string.h>

#include "common/filter.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/services/events/v1/events.pb-c.h"
#include "proto/services/wharf/v1/subscriptions.pb-c.h"
#include "supervisor/supervisor.h"

#define SUB_QUEUE_MAX 4096
#define SUB_IDLE_NS (60ull * 1000000000ull)
#define SUB_WAIT_DEFAULT_MS 30000u
#define SUB_BATCH_DEFAULT 256u

typedef Containerd__Services__Events__V1__Envelope Envelope;

struct sub {
	struct sub *next;
	char *id;
	struct filter *filter;
	Envelope **q;
	size_t n, cap;
	uint64_t dropped;
	uint64_t last_poll_ns;
	struct svc_ctx *waiting; /* a pending Next */
	uint32_t max_events;
	struct ev_source *timer; /* the pending Next's deadline */
};

struct events_bus {
	struct daemon *d;
	struct sub *subs;
	uint64_t next_id;
	struct ev_source *gc_timer;
};

static void sub_free(struct sub *s)
{
	if (s->waiting)
		svc_complete(s->waiting, -ECANCELED, NULL, NULL);
	ev_source_disable_unref(s->timer);
	for (size_t i = 0; i < s->n; i++)
		protobuf_c_message_free_unpacked(&s->q[i]->base, NULL);
	free(s->q);
	filter_free(s->filter);
	free(s->id);
	free(s);
}

static int gc_subs(struct ev_source *src, uint64_t now, void *userdata)
{
	struct events_bus *b = userdata;

	for (struct sub **p = &b->subs; *p;) {
		struct sub *s = *p;

		if (!s->waiting && now - s->last_poll_ns > SUB_IDLE_NS) {
			log_debug("events: dropping idle subscription %s", s->id);
			*p = s->next;
			sub_free(s);
		} else {
			p = &s->next;
		}
	}
	ev_source_set_time(src, now + 10ull * 1000000000ull);
	ev_source_set_enabled(src, EV_ONESHOT);
	return 0;
}

int events_bus_new(struct daemon *d, struct events_bus **ret)
{
	struct events_bus *b = xnew0(struct events_bus, 1);
	int r;

	b->d = d;
	r = ev_add_timer(d->loop, &b->gc_timer, now_mono_ns() + 10ull * 1000000000ull, gc_subs, b);
	if (r < 0) {
		free(b);
		return r;
	}
	*ret = b;
	return 0;
}

struct events_bus *events_bus_free(struct events_bus *b)
{
	if (!b)
		return NULL;
	while (b->subs) {
		struct sub *s = b->subs;

		b->subs = s->next;
		sub_free(s);
	}
	ev_source_disable_unref(b->gc_timer);
	free(b);
	return NULL;
}

static bool env_lookup(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const Envelope *e = userdata;

	if (n != 1)
		return false;
	if (streq(path[0], "topic"))
		*ret = e->topic;
	else if (streq(path[0], "namespace"))
		*ret = e->namespace_;
	else
		return false;
	return true;
}

static Envelope *env_copy(const Envelope *e)
{
	Envelope *c = pb_new(&containerd__services__events__v1__envelope__descriptor);

	c->timestamp = e->timestamp ? pb_ts(pb_ts_ns(e->timestamp)) : NULL;
	c->namespace_ = pb_str(e->namespace_);
	c->topic = pb_str(e->topic);
	if (e->event)
		c->event = pb_any(e->event->type_url, e->event->value.data, e->event->value.len);
	return c;
}

static void sub_answer(struct sub *s)
{
	Wharf__Services__Events__V1__NextResponse *resp =
		pb_new(&wharf__services__events__v1__next_response__descriptor);
	size_t k = MIN(s->n, (size_t)s->max_events);
	struct svc_ctx *c = TAKE_PTR(s->waiting);

	s->timer = ev_source_disable_unref(s->timer);
	if (k > 0) {
		resp->envelopes = xnew0(Envelope *, k);
		memcpy(resp->envelopes, s->q, k * sizeof(Envelope *));
		resp->n_envelopes = k;
		memmove(s->q, s->q + k, (s->n - k) * sizeof(Envelope *));
		s->n -= k;
	}
	resp->dropped = s->dropped;
	s->dropped = 0;
	s->last_poll_ns = now_mono_ns();
	svc_complete(c, 0, &resp->base, NULL);
}

static void bus_deliver(struct events_bus *b, const Envelope *e)
{
	for (struct sub *s = b->subs; s; s = s->next) {
		if (!filter_match(s->filter, env_lookup, (void *)e))
			continue;
		if (s->n >= SUB_QUEUE_MAX) {
			s->dropped++;
			continue;
		}
		xgrow((void **)&s->q, &s->cap, s->n + 1, sizeof(*s->q));
		s->q[s->n++] = env_copy(e);
		if (s->waiting)
			sub_answer(s);
	}
}

void events_publish(struct events_bus *b, const char *ns, const char *topic, uint64_t timestamp_ns,
		    Google__Protobuf__Any *event)
{
	Envelope e = CONTAINERD__SERVICES__EVENTS__V1__ENVELOPE__INIT;
	Google__Protobuf__Timestamp *ts = pb_ts(timestamp_ns ? timestamp_ns : now_real_ns());

	if (!b) {
		protobuf_c_message_free_unpacked(&event->base, NULL);
		protobuf_c_message_free_unpacked(&ts->base, NULL);
		return;
	}
	e.timestamp = ts;
	e.namespace_ = (char *)ns;
	e.topic = (char *)topic;
	e.event = event;
	log_debug("event ns=%s topic=%s", ns, topic);
	bus_deliver(b, &e);
	protobuf_c_message_free_unpacked(&event->base, NULL);
	protobuf_c_message_free_unpacked(&ts->base, NULL);
}

void events_publish_msg(struct events_bus *b, const char *ns, const char *topic,
			const ProtobufCMessage *msg)
{
	events_publish(b, ns, topic, 0, pb_any_msg(msg));
}

void daemon_publish(struct daemon *d, const char *ns, const char *topic,
		    const ProtobufCMessage *msg)
{
	if (d->publish_hook)
		d->publish_hook(d, ns, topic, msg);
	else if (d->events)
		events_publish_msg(d->events, ns, topic, msg);
	else if (d->worker_pool)
		pool_post_event(d->worker_pool, ns, topic, msg);
}

/* containerd's topic rule: "/" then identifiers separated by "/". */
static int validate_topic(const char *topic, struct wh_err **err)
{
	const char *p;

	if (!topic || topic[0] != '/' || !topic[1])
		return wh_err_setx(err, EINVAL, "invalid topic '%s': must start with '/'",
				   topic ? topic : "");
	for (p = topic + 1; *p;) {
		size_t n = strcspn(p, "/");

		if (n == 0 || n > 76)
			return wh_err_setx(err, EINVAL,
					   "invalid topic '%s': empty or long component", topic);
		for (size_t i = 0; i < n; i++) {
			char ch = p[i];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
				return wh_err_setx(err, EINVAL,
						   "invalid topic '%s': bad character '%c'", topic,
						   ch);
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

static int ev_publish(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Containerd__Services__Events__V1__PublishRequest *q = (const void *)req;
	int r;

	(void)ret;
	if ((r = validate_topic(q->topic, err)) < 0)
		return r;
	if (!q->event)
		return wh_err_setx(err, EINVAL, "event required for topic '%s'", q->topic);
	events_publish(c->d->events, c->ns, q->topic, 0,
		       pb_any(q->event->type_url, q->event->value.data, q->event->value.len));
	return 0;
}

static int ev_forward(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	const Containerd__Services__Events__V1__ForwardRequest *q = (const void *)req;
	const Envelope *e = q->envelope;
	int r;

	(void)ret;
	if (!e || !e->event)
		return wh_err_setx(err, EINVAL, "envelope with an event required");
	if ((r = validate_topic(e->topic, err)) < 0)
		return r;
	if (!pb_nz(e->namespace_))
		return wh_err_setx(err, EINVAL, "envelope namespace required");
	events_publish(c->d->events, e->namespace_, e->topic, pb_ts_ns(e->timestamp),
		       pb_any(e->event->type_url, e->event->value.data, e->event->value.len));
	return 0;
}

static int ev_subscribe(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			struct wh_err **err)
{
	(void)c, (void)req, (void)ret;
	return wh_err_setx(err, ENOSYS,
			   "Events/Subscribe streams, which ttrpc 1.1 cannot: use "
			   "wharf.services.events.v1.Subscriptions");
}

const struct svc_service svc_events = {
	&containerd__services__events__v1__events__descriptor,
	(const struct svc_method[]){{"Publish", ev_publish},
				    {"Forward", ev_forward},
				    {"Subscribe", ev_subscribe},
				    {NULL, NULL}},
};

/* ---- subscriptions ---- */

static struct sub *sub_find(struct events_bus *b, const char *id)
{
	for (struct sub *s = b->subs; s; s = s->next)
		if (streq(s->id, id))
			return s;
	return NULL;
}

static int sub_open(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		    struct wh_err **err)
{
	const Wharf__Services__Events__V1__OpenRequest *q = (const void *)req;
	Wharf__Services__Events__V1__OpenResponse *resp;
	struct events_bus *b = c->d->events;
	struct filter *f = NULL;
	struct sub *s;
	int r;

	if ((r = pb_filters(q->filters, q->n_filters, &f, err)) < 0)
		return r;
	s = xnew0(struct sub, 1);
	s->id = xasprintf("sub-%llu", (unsigned long long)++b->next_id);
	s->filter = f;
	s->last_poll_ns = now_mono_ns();
	s->next = b->subs;
	b->subs = s;
	resp = pb_new(&wharf__services__events__v1__open_response__descriptor);
	resp->id = pb_str(s->id);
	*ret = &resp->base;
	return 0;
}

static int next_timeout(struct ev_source *src, uint64_t now, void *userdata)
{
	struct sub *s = userdata;

	(void)src, (void)now;
	if (s->waiting)
		sub_answer(s);
	return 0;
}

static void next_cancelled(struct svc_ctx *c, void *userdata)
{
	struct sub *s = userdata;

	(void)c;
	/* The client went away: answer (the answer is discarded) to free the call. */
	if (s->waiting == c)
		sub_answer(s);
}

static int sub_next(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		    struct wh_err **err)
{
	const Wharf__Services__Events__V1__NextRequest *q = (const void *)req;
	struct sub *s = sub_find(c->d->events, q->id);
	uint32_t wait_ms = q->wait_ms ? q->wait_ms : SUB_WAIT_DEFAULT_MS;
	int r;

	(void)ret;
	if (!s)
		return wh_err_setx(err, ENOENT, "subscription '%s' not found", q->id);
	if (s->waiting)
		return wh_err_setx(err, EBUSY, "subscription '%s' already has a Next pending",
				   q->id);
	s->max_events = q->max_events ? q->max_events : SUB_BATCH_DEFAULT;
	s->waiting = svc_ctx_detach(c);
	if (s->n > 0) {
		sub_answer(s);
		return SVC_ASYNC;
	}
	r = ev_add_timer(c->d->loop, &s->timer, now_mono_ns() + (uint64_t)wait_ms * 1000000ull,
			 next_timeout, s);
	if (r < 0) {
		sub_answer(s);
		return SVC_ASYNC;
	}
	svc_ctx_on_cancel(s->waiting, next_cancelled, s);
	return SVC_ASYNC;
}

static int sub_close(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Wharf__Services__Events__V1__CloseRequest *q = (const void *)req;
	struct events_bus *b = c->d->events;

	(void)ret;
	for (struct sub **p = &b->subs; *p; p = &(*p)->next) {
		if (streq((*p)->id, q->id)) {
			struct sub *s = *p;

			*p = s->next;
			sub_free(s);
			return 0;
		}
	}
	return wh_err_setx(err, ENOENT, "subscription '%s' not found", q->id);
}

const struct svc_service svc_subscriptions = {
	&wharf__services__events__v1__subscriptions__descriptor,
	(const struct svc_method[]){
		{"Open", sub_open}, {"Next", sub_next}, {"Close", sub_close}, {NULL, NULL}},
};

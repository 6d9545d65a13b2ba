/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event publisher (PROTOCOLS.md 2.5): one ordered queue of envelopes sent one at a time with
 * containerd.services.events.ttrpc.v1.Events/Forward to TTRPC_ADDRESS, metadata
 * containerd-namespace-ttrpc=<ns>, 5 s per call. A failed call (receiver away, restarting,
 * refusing) keeps the event at the head of the queue and retries with a growing delay (at most
 * 5 s), reconnecting as needed, so no event is lost and none overtakes another.
 */
#include "shim/events.h"

#include <errno.h>

#include "proto/services/events/ttrpc/v1/events.pb-c.h"
#include "ttrpc/ttrpc.h"

#define FORWARD_TIMEOUT_NS (5ULL * 1000000000ULL)
#define RETRY_STEP_NS (1000000000ULL / 4)
#define RETRY_MAX_NS (5ULL * 1000000000ULL)
#define QUEUE_MAX 65536

struct event_item {
	struct event_item *next;
	char *topic;
	char *type_url;
	uint8_t *data;
	size_t len;
	uint64_t ts_ns;
};

struct events {
	struct ev_loop *loop;
	char *address, *ns;
	struct event_item *head, *tail;
	size_t n;
	struct ttrpc_client *client;
	bool in_flight;
	unsigned attempt;
	struct ev_source *retry;
	void (*idle_cb)(void *ud);
	void *idle_ud;
};

static void send_next(struct events *e);

static void item_free(struct event_item *it)
{
	free(it->topic);
	free(it->type_url);
	free(it->data);
	free(it);
}

static void notify_idle(struct events *e)
{
	if (!e->head && !e->in_flight && e->idle_cb) {
		void (*cb)(void *) = e->idle_cb;
		e->idle_cb = NULL;
		cb(e->idle_ud);
	}
}

static int on_retry(struct ev_source *s, uint64_t now, void *ud)
{
	send_next(ud);
	return 0;
}

static void schedule_retry(struct events *e)
{
	e->attempt++;
	uint64_t delay = MIN(RETRY_STEP_NS * e->attempt, RETRY_MAX_NS);
	uint64_t at = now_mono_ns() + delay;
	if (!e->retry) {
		ev_add_timer(e->loop, &e->retry, at, on_retry, e);
	} else {
		ev_source_set_time(e->retry, at);
		ev_source_set_enabled(e->retry, EV_ONESHOT);
	}
}

static void on_reply(struct ttrpc_client *c, struct ttrpc_reply *reply, void *ud)
{
	struct events *e = ud;
	e->in_flight = false;
	if (reply->code != TTRPC_OK) {
		if (e->attempt == 0 || e->attempt % 20 == 0)
			log_warn("publish '%s' to '%s': %s (%s), will retry", e->head->topic,
				 e->address, reply->message, ttrpc_code_name(reply->code));
		if (reply->code == TTRPC_UNAVAILABLE || reply->code == TTRPC_CANCELLED ||
		    !ttrpc_client_is_connected(c))
			e->client = ttrpc_client_free(e->client);
		schedule_retry(e);
		return;
	}
	struct event_item *it = e->head;
	e->head = it->next;
	if (!e->head)
		e->tail = NULL;
	e->n--;
	item_free(it);
	e->attempt = 0;
	if (e->head)
		send_next(e);
	else
		notify_idle(e);
}

static void send_next(struct events *e)
{
	if (e->in_flight || !e->head)
		return;
	cleanup_err struct wh_err *err = NULL;
	if (!e->client && ttrpc_client_connect(e->loop, e->address, &e->client, &err) < 0) {
		if (e->attempt == 0)
			log_warn("connect to events address '%s': %s, will retry", e->address,
				 wh_err_msg(err));
		schedule_retry(e);
		return;
	}
	struct event_item *it = e->head;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = (int64_t)(it->ts_ns / 1000000000ULL);
	ts.nanos = (int32_t)(it->ts_ns % 1000000000ULL);
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = it->type_url;
	any.value.data = it->data;
	any.value.len = it->len;
	Containerd__Services__Events__Ttrpc__V1__Envelope env =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
	env.timestamp = &ts;
	env.namespace_ = e->ns;
	env.topic = it->topic;
	env.event = &any;
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
	req.envelope = &env;
	const char *md[] = {"containerd-namespace-ttrpc", e->ns, NULL};
	struct ttrpc_call_opts opts = {.timeout_ns = FORWARD_TIMEOUT_NS, .metadata = md};
	int r = ttrpc_client_call_async(e->client, "containerd.services.events.ttrpc.v1.Events",
					"Forward", &req.base, &google__protobuf__empty__descriptor,
					&opts, on_reply, e, &err);
	if (r < 0) {
		log_warn("publish '%s': %s, will retry", it->topic, wh_err_msg(err));
		e->client = ttrpc_client_free(e->client);
		schedule_retry(e);
		return;
	}
	e->in_flight = true;
}

int events_new(struct ev_loop *loop, const char *address, const char *ns, struct events **ret)
{
	struct events *e = xnew0(struct events, 1);
	e->loop = loop;
	e->address = xstrdup(address ? address : "");
	e->ns = xstrdup(ns);
	*ret = e;
	return 0;
}

void events_publish(struct events *e, const char *topic, const ProtobufCMessage *event)
{
	if (!e || !*e->address)
		return;
	if (e->n >= QUEUE_MAX) {
		struct event_item *old = e->head;
		if (!e->in_flight && old) {
			log_warn("event queue full, dropping '%s'", old->topic);
			e->head = old->next;
			e->n--;
			item_free(old);
		}
	}
	struct event_item *it = xnew0(struct event_item, 1);
	it->topic = xstrdup(topic);
	it->type_url = xstrdup(event->descriptor->name);
	it->len = protobuf_c_message_get_packed_size(event);
	it->data = xmalloc(it->len ? it->len : 1);
	protobuf_c_message_pack(event, it->data);
	it->ts_ns = now_real_ns();
	if (e->tail)
		e->tail->next = it;
	else
		e->head = it;
	e->tail = it;
	e->n++;
	if (!e->retry || ev_source_get_enabled(e->retry) == EV_OFF)
		send_next(e);
}

size_t events_pending(const struct events *e)
{
	return e ? e->n : 0;
}

void events_on_idle(struct events *e, void (*cb)(void *ud), void *ud)
{
	e->idle_cb = cb;
	e->idle_ud = ud;
	notify_idle(e);
}

struct events *events_free(struct events *e)
{
	if (!e)
		return NULL;
	e->idle_cb = NULL;
	ttrpc_client_free(e->client);
	ev_source_disable_unref(e->retry);
	while (e->head) {
		struct event_item *it = e->head;
		e->head = it->next;
		item_free(it);
	}
	free(e->address);
	free(e->ns);
	free(e);
	return NULL;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The events receiver (PROTOCOLS.md §2.5): containerd.services.events.ttrpc.v1.Events/Forward on
 * TTRPC_ADDRESS, with containerd's checks on the envelope's topic and namespace.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime-v2/internal.h"

struct rt_events {
	struct ttrpc_server *server;
	rt_event_fn *cb;
	void *userdata;
};

int rt_validate_topic(const char *topic, struct wh_err **err)
{
	cleanup_free char *copy = NULL;
	char *save = NULL;
	int r;

	if (!topic || !*topic)
		return wh_err_setx(err, EINVAL, "event topic must not be empty");
	if (topic[0] != '/')
		return wh_err_setx(err, EINVAL, "event topic '%s' must start with '/'", topic);
	if (topic[1] == '\0')
		return wh_err_setx(err, EINVAL, "event topic '%s' must have a component", topic);
	copy = xstrdup(topic + 1);
	/* strtok_r would skip empty components; count separators to catch "//". */
	if (strstr(topic, "//") || topic[strlen(topic) - 1] == '/')
		return wh_err_setx(err, EINVAL, "event topic '%s' has an empty component", topic);
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		r = rt_validate_identifier("event topic component", c, err);
		if (r < 0)
			return wh_err_wrap(err, r, "event topic '%s'", topic);
	}
	return 0;
}

static int validate(const Containerd__Services__Events__Ttrpc__V1__Envelope *env,
		    struct wh_err **err)
{
	int r;

	if (!env)
		return wh_err_setx(err, EINVAL, "forward request has no envelope");
	r = rt_validate_topic(env->topic, err);
	if (r < 0)
		return r;
	r = rt_validate_identifier("event namespace", env->namespace_, err);
	if (r < 0)
		return r;
	if (!env->event || !env->event->type_url || !*env->event->type_url)
		return wh_err_setx(err, EINVAL, "event '%s' has no payload", env->topic);
	return 0;
}

static int h_forward(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	const Containerd__Services__Events__Ttrpc__V1__ForwardRequest *fr = (const void *)req;
	struct rt_events *e = userdata;
	cleanup_err struct wh_err *err = NULL;
	int r = validate(fr->envelope, &err);

	if (r < 0) {
		log_warn("events: refused a forwarded event: %s", wh_err_msg(err));
		return ttrpc_call_reply_err(call, r, err);
	}
	e->cb(fr->envelope, e->userdata);
	return ttrpc_call_reply(call, NULL);
}

static const struct ttrpc_method forward_methods[] = {{"Forward", h_forward}, {NULL, NULL}};

int rt_events_new(struct ev_loop *l, const char *address, rt_event_fn *cb, void *userdata,
		  struct rt_events **ret, struct wh_err **err)
{
	struct rt_events *e = xcalloc(1, sizeof(*e));
	int r;

	e->cb = cb;
	e->userdata = userdata;
	r = ttrpc_server_new(l, &e->server, err);
	if (r >= 0)
		r = ttrpc_server_register(
			e->server, &containerd__services__events__ttrpc__v1__events__descriptor,
			forward_methods, e, err);
	if (r >= 0)
		r = ttrpc_server_listen(e->server, address, 0600, err);
	if (r < 0) {
		rt_events_free(e);
		return wh_err_wrap(err, r, "events receiver on '%s'", address);
	}
	*ret = e;
	return 0;
}

struct rt_events *rt_events_free(struct rt_events *e)
{
	if (!e)
		return NULL;
	ttrpc_server_free(e->server);
	free(e);
	return NULL;
}

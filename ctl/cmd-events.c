/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `events [FILTER...]`: prints the daemon's events as they happen (ctr's format: time,
 * namespace, topic, event type), through the wharf Subscriptions service (ttrpc 1.1 has no
 * server streams: Open, then Next in a loop). --format json prints one JSON object a line.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ctl/cmd.h"
#include "proto/google/protobuf/any.pb-c.h"
#include "proto/google/protobuf/empty.pb-c.h"
#include "proto/google/protobuf/timestamp.pb-c.h"
#include "proto/services/events/v1/events.pb-c.h"
#include "proto/services/wharf/v1/subscriptions.pb-c.h"

#define SUB_SVC "wharf.services.events.v1.Subscriptions"

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	stop = 1;
}

static void print_env(const Containerd__Services__Events__V1__Envelope *env, bool json)
{
	cleanup_free char *when = cmd_fmt_time(env->timestamp);
	const char *type = env->event ? env->event->type_url : "";

	if (json) {
		yajl_gen g = json_gen_new(false);

		yajl_gen_map_open(g);
		json_gen_kv_str(g, "timestamp", when);
		json_gen_kv_str(g, "namespace", env->namespace_);
		json_gen_kv_str(g, "topic", env->topic);
		json_gen_kv_str(g, "type", type);
		yajl_gen_map_close(g);
		cmd_print_json(g);
	} else {
		printf("%s %s %s %s\n", when, env->namespace_, env->topic, type);
	}
	fflush(stdout);
}

int cmd_events(struct cmd_ctx *x, int argc, char **argv)
{
	Wharf__Services__Events__V1__OpenRequest oq =
		WHARF__SERVICES__EVENTS__V1__OPEN_REQUEST__INIT;
	Wharf__Services__Events__V1__NextRequest nq =
		WHARF__SERVICES__EVENTS__V1__NEXT_REQUEST__INIT;
	Wharf__Services__Events__V1__CloseRequest cq =
		WHARF__SERVICES__EVENTS__V1__CLOSE_REQUEST__INIT;
	cleanup_msg Wharf__Services__Events__V1__OpenResponse *open = NULL;
	struct sigaction sa = {.sa_handler = on_stop};
	struct cmd_list_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	ProtobufCMessage *resp = NULL;
	int rc = 0;

	if (cmd_parse_list(argc, argv, &o) || !(c = cmd_client(x)))
		return 1;
	oq.filters = o.rest;
	oq.n_filters = strv_length(o.rest);
	if (ctl_call(c, SUB_SVC, "Open", &oq.base,
		     &wharf__services__events__v1__open_response__descriptor,
		     (ProtobufCMessage **)&open, &e) < 0)
		return cmd_fail(e);
	/* Interrupted polls end cleanly: the subscription is closed on the way out. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	nq.id = open->id;
	nq.wait_ms = 1000;
	while (!stop) {
		Wharf__Services__Events__V1__NextResponse *next = NULL;

		if (ctl_call_long(c, SUB_SVC, "Next", &nq.base,
				  &wharf__services__events__v1__next_response__descriptor,
				  (ProtobufCMessage **)&next, &e) < 0) {
			if (stop)
				break;
			rc = cmd_fail(e);
			e = NULL;
			break;
		}
		if (next->dropped)
			fprintf(stderr, "wharfctl: %llu events dropped\n",
				(unsigned long long)next->dropped);
		for (size_t i = 0; i < next->n_envelopes; i++)
			print_env(next->envelopes[i], o.json);
		cmd_free_msg(next);
	}
	wh_err_free(e);
	cq.id = open->id;
	if (ctl_call(c, SUB_SVC, "Close", &cq.base, &google__protobuf__empty__descriptor, &resp,
		     NULL) >= 0)
		cmd_free_msg(resp);
	return rc;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharf's side of the Go ttrpc interop test and of bench/ttrpc: a Task server with fixed,
 * checkable answers ("serve"), and a load generator over our client ("bench").
 *
 *   ttrpc-peer serve SOCKET          prints "ready" once listening; SIGTERM shuts down cleanly
 *   ttrpc-peer bench SOCKET CONNS SECONDS   one call in flight per connection; prints results
 *   ttrpc-peer check-go SOCKET       our client against the Go server (gopeer serve): answers,
 *                                    Go's error texts, an oversize answer, concurrency
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "proto/task/v2/shim.pb-c.h"
#include "ttrpc/ttrpc.h"

#define TASK "containerd.task.v2.Task"

struct server_ctx {
	struct ev_loop *loop;
	struct ttrpc_server *srv;
};

/* ---- serve ---- */

static int h_connect(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	const char *ns = ttrpc_call_metadata(call, "containerd-namespace");

	resp.shim_pid = (uint32_t)getpid();
	resp.task_pid = 4242;
	resp.version = (char *)(ns ? ns : "none");
	return ttrpc_call_reply(call, &resp.base);
}

static int h_state(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	const Containerd__Task__V2__StateRequest *r = (const void *)req;
	Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	cleanup_free char *bundle = xasprintf("/bundle/%s", r->id);

	ts.seconds = 1700000000;
	ts.nanos = 5;
	resp.id = r->id;
	resp.exec_id = r->exec_id;
	resp.bundle = bundle;
	resp.pid = 7;
	resp.status = CONTAINERD__V1__TYPES__STATUS__RUNNING;
	resp.stdin = (char *)"in";
	resp.terminal = true;
	resp.exited_at = &ts;
	return ttrpc_call_reply(call, &resp.base);
}

static int h_kill(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	const Containerd__Task__V2__KillRequest *r = (const void *)req;

	if (streq(r->id, "missing"))
		return ttrpc_call_reply_error(call, TTRPC_NOT_FOUND, "container %s: not found",
					      r->id);
	return ttrpc_call_reply(call, NULL);
}

static void wait_cancelled(struct ttrpc_call *call, void *userdata)
{
	Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;

	(void)ttrpc_call_reply(call, &resp.base); /* discarded; frees the call */
}

static int wait_answer(struct ev_source *s, uint64_t now, void *userdata)
{
	struct ttrpc_call *call = userdata;
	Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

	ts.seconds = 1700000001;
	resp.exit_status = 137;
	resp.exited_at = &ts;
	ev_source_unref(s);
	return ttrpc_call_reply(call, &resp.base);
}

static int h_wait(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	const Containerd__Task__V2__WaitRequest *r = (const void *)req;
	struct server_ctx *ctx = userdata;
	struct ev_source *t = NULL;
	int ret;

	if (streq(r->id, "forever")) {
		ttrpc_call_on_cancel(call, wait_cancelled, NULL);
		return 0;
	}
	/* Answer later, from a timer: the async path. */
	ret = ev_add_timer(ctx->loop, &t, now_mono_ns() + 100000000, wait_answer, call);
	return ret;
}

static const struct ttrpc_method methods[] = {
	{"Connect", h_connect}, {"State", h_state}, {"Kill", h_kill},
	{"Wait", h_wait},	{NULL, NULL},
};

static void on_shutdown(struct ttrpc_server *s, void *userdata)
{
	ev_loop_exit(userdata, 0);
}

static int on_term(struct ev_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct server_ctx *ctx = userdata;

	ttrpc_server_shutdown(ctx->srv, on_shutdown, ctx->loop);
	return 0;
}

static int serve(const char *sock)
{
	cleanup_ev_loop struct ev_loop *loop = NULL;
	cleanup_err struct wh_err *e = NULL;
	struct server_ctx ctx = {0};
	int r;

	r = ev_loop_new(&loop);
	if (r < 0)
		return log_error_errno(r, "loop: %s", strerror(-r));
	ctx.loop = loop;
	if (ev_add_signal(loop, NULL, SIGTERM, on_term, &ctx) < 0 ||
	    ev_add_signal(loop, NULL, SIGINT, on_term, &ctx) < 0)
		return log_error_errno(-EINVAL, "cannot watch signals");
	if (ttrpc_server_new(loop, &ctx.srv, &e) < 0 ||
	    ttrpc_server_register(ctx.srv, &containerd__task__v2__task__descriptor, methods, &ctx,
				  &e) < 0 ||
	    ttrpc_server_listen(ctx.srv, sock, 0600, &e) < 0) {
		log_error("serve: %s", wh_err_msg(e));
		ttrpc_server_free(ctx.srv);
		return -EINVAL;
	}
	printf("ready\n");
	fflush(stdout);
	r = ev_loop_run(loop);
	ttrpc_server_free(ctx.srv);
	return r;
}

/* ---- bench ---- */

struct bench {
	struct ev_loop *loop;
	struct ttrpc_client **clients;
	int n_clients;
	uint64_t end;
	uint64_t calls;
	uint64_t *lat; /* samples in ns */
	size_t n_lat, cap_lat;
	int in_flight;
	int failed;
};

struct slot {
	struct bench *b;
	int idx;
	uint64_t started;
};

static void bench_issue(struct slot *s);

static void bench_reply(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct slot *s = userdata;
	struct bench *b = s->b;
	uint64_t now = now_mono_ns();

	b->in_flight--;
	if (reply->code != TTRPC_OK) {
		fprintf(stderr, "bench: call failed: %s\n", reply->message);
		b->failed = 1;
		ev_loop_exit(b->loop, 1);
		return;
	}
	b->calls++;
	xgrow((void **)&b->lat, &b->cap_lat, b->n_lat + 1, sizeof(*b->lat));
	b->lat[b->n_lat++] = now - s->started;
	if (now < b->end)
		bench_issue(s);
	else if (b->in_flight == 0)
		ev_loop_exit(b->loop, 0);
}

static void bench_issue(struct slot *s)
{
	Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	cleanup_err struct wh_err *e = NULL;
	struct bench *b = s->b;

	req.id = (char *)"bench";
	s->started = now_mono_ns();
	if (ttrpc_client_call_async(b->clients[s->idx], TASK, "Connect", &req.base,
				    &containerd__task__v2__connect_response__descriptor, NULL,
				    bench_reply, s, &e) < 0) {
		fprintf(stderr, "bench: %s\n", wh_err_msg(e));
		b->failed = 1;
		ev_loop_exit(b->loop, 1);
		return;
	}
	b->in_flight++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int bench(const char *sock, int conns, double seconds)
{
	cleanup_ev_loop struct ev_loop *loop = NULL;
	struct bench b = {0};
	struct slot *slots;
	uint64_t start, elapsed, sum = 0;
	int r;

	if (conns <= 0 || conns > 1024 || seconds <= 0)
		return log_error_errno(-EINVAL, "bench: bad arguments");
	r = ev_loop_new(&loop);
	if (r < 0)
		return r;
	b.loop = loop;
	b.n_clients = conns;
	b.clients = xnew0(struct ttrpc_client *, conns);
	slots = xnew0(struct slot, conns);
	for (int i = 0; i < conns; i++) {
		cleanup_err struct wh_err *e = NULL;

		if (ttrpc_client_connect(loop, sock, &b.clients[i], &e) < 0) {
			fprintf(stderr, "bench: %s\n", wh_err_msg(e));
			return -ECONNREFUSED;
		}
		slots[i] = (struct slot){.b = &b, .idx = i};
	}
	start = now_mono_ns();
	b.end = start + (uint64_t)(seconds * 1e9);
	for (int i = 0; i < conns; i++)
		bench_issue(&slots[i]);
	r = ev_loop_run(loop);
	elapsed = now_mono_ns() - start;
	for (int i = 0; i < conns; i++)
		ttrpc_client_free(b.clients[i]);
	free(b.clients);
	free(slots);
	if (r != 0 || b.failed || b.n_lat == 0) {
		free(b.lat);
		return -EIO;
	}
	qsort(b.lat, b.n_lat, sizeof(*b.lat), cmp_u64);
	for (size_t i = 0; i < b.n_lat; i++)
		sum += b.lat[i];
	/* One line, the same format as the Go peer's. */
	printf("calls=%" PRIu64 " rps=%.0f mean_us=%.2f p50_us=%.2f p99_us=%.2f\n", b.calls,
	       (double)b.calls / ((double)elapsed / 1e9), (double)sum / (double)b.n_lat / 1e3,
	       (double)b.lat[b.n_lat / 2] / 1e3, (double)b.lat[b.n_lat * 99 / 100] / 1e3);
	free(b.lat);
	return 0;
}

/* ---- check-go: our client against a Go ttrpc server ---- */

#define EXPECT(cond)                                                                         \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "check-go: %s:%d: failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                      \
			return -1;                                                           \
		}                                                                            \
	} while (0)

static int state_call(struct ttrpc_client *c, const char *id, ProtobufCMessage **ret,
		      struct wh_err **err)
{
	Containerd__Task__V2__StateRequest req = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
	struct ttrpc_call_opts opts = {.timeout_ns = 10000000000ULL};

	req.id = (char *)id;
	return ttrpc_client_call(c, TASK, "State", &req.base,
				 &containerd__task__v2__state_response__descriptor, &opts, ret,
				 err);
}

struct many {
	int done, bad;
	char ids[64][16];
};

static void on_many(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct many *m = userdata;
	const Containerd__Task__V2__StateResponse *r = (const void *)reply->msg;
	bool found = false;

	for (int i = 0; r && i < 64; i++)
		found |= streq(m->ids[i], r->id);
	if (reply->code != TTRPC_OK || !found)
		m->bad++;
	m->done++;
}

static int check_go(const char *sock)
{
	cleanup_ev_loop struct ev_loop *loop = NULL;
	cleanup_ttrpc_client struct ttrpc_client *c = NULL;
	cleanup_err struct wh_err *e = NULL;
	Containerd__Task__V2__ConnectRequest creq = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	Containerd__Task__V2__KillRequest kreq = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
	const char *md[] = {"containerd-namespace", "wharf-ns", NULL};
	struct ttrpc_call_opts opts = {.timeout_ns = 10000000000ULL, .metadata = md};
	ProtobufCMessage *m = NULL;
	struct many many = {0};

	EXPECT(ev_loop_new(&loop) == 0);
	EXPECT(ttrpc_client_connect(loop, sock, &c, &e) == 0);
	creq.id = (char *)"x";
	EXPECT(ttrpc_client_call(c, TASK, "Connect", &creq.base,
				 &containerd__task__v2__connect_response__descriptor, &opts, &m,
				 &e) == 0);
	EXPECT(streq(((Containerd__Task__V2__ConnectResponse *)m)->version, "wharf-ns"));
	EXPECT(((Containerd__Task__V2__ConnectResponse *)m)->task_pid == 4242);
	protobuf_c_message_free_unpacked(m, NULL);
	{
		cleanup_err struct wh_err *e2 = NULL;
		const Containerd__Task__V2__StateResponse *st;

		EXPECT(state_call(c, "s1", &m, &e2) == 0);
		st = (const void *)m;
		EXPECT(streq(st->id, "s1") && streq(st->bundle, "/bundle/s1") && st->pid == 7);
		EXPECT(st->status == CONTAINERD__V1__TYPES__STATUS__RUNNING);
		EXPECT(st->exited_at && st->exited_at->seconds == 1700000000 &&
		       st->exited_at->nanos == 5);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	{
		cleanup_err struct wh_err *e2 = NULL;

		/* Go sends the 5 MiB answer; we skip it and fail just that call. */
		EXPECT(state_call(c, "big", &m, &e2) == -ENOSPC);
		EXPECT(str_startswith(wh_err_msg(e2), "message length ") &&
		       str_endswith(wh_err_msg(e2), " exceed maximum message size of 4194304"));
	}
	{
		cleanup_err struct wh_err *e2 = NULL;

		EXPECT(state_call(c, "after-big", &m, &e2) == 0);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	{
		cleanup_err struct wh_err *e2 = NULL;

		kreq.id = (char *)"missing";
		EXPECT(ttrpc_client_call(c, TASK, "Kill", &kreq.base,
					 &google__protobuf__empty__descriptor, NULL, &m,
					 &e2) == -ENOENT);
		EXPECT(streq(wh_err_msg(e2), "container missing: not found"));
	}
	{
		cleanup_err struct wh_err *e2 = NULL, *e3 = NULL;

		EXPECT(ttrpc_client_call(c, "foo.Bar", "X", &creq.base,
					 &containerd__task__v2__connect_response__descriptor, NULL,
					 &m, &e2) == -ENOSYS);
		EXPECT(streq(wh_err_msg(e2), "service foo.Bar"));
		EXPECT(ttrpc_client_call(c, TASK, "Nope", &creq.base,
					 &containerd__task__v2__connect_response__descriptor, NULL,
					 &m, &e3) == -ENOSYS);
		EXPECT(streq(wh_err_msg(e3), "method Nope"));
	}
	for (int i = 0; i < 64; i++) {
		Containerd__Task__V2__StateRequest req = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;

		snprintf(many.ids[i], sizeof(many.ids[i]), "m%d", i);
		req.id = many.ids[i];
		EXPECT(ttrpc_client_call_async(c, TASK, "State", &req.base,
					       &containerd__task__v2__state_response__descriptor,
					       NULL, on_many, &many, NULL) > 0);
	}
	while (many.done < 64)
		EXPECT(ev_loop_run_once(loop, 10000000000ULL) > 0);
	EXPECT(many.bad == 0);
	printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && streq(argv[1], "serve"))
		return serve(argv[2]) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	if (argc == 3 && streq(argv[1], "check-go"))
		return check_go(argv[2]) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	if (argc == 5 && streq(argv[1], "bench"))
		return bench(argv[2], atoi(argv[3]), atof(argv[4])) < 0 ? EXIT_FAILURE
									: EXIT_SUCCESS;
	fprintf(stderr, "usage: %s serve SOCKET | bench SOCKET CONNS SECONDS | check-go SOCKET\n",
		argv[0]);
	return 2;
}

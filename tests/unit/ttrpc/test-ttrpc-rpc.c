/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server + client round trips over a real unix socket on one event loop: sync and async calls,
 * many clients and many calls in flight answered out of order, metadata, error statuses,
 * unknown services and methods, deadlines, oversize frames both ways, garbage from a raw peer,
 * connection loss, clean shutdown and the peer credential check.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "proto/task/v2/shim.pb-c.h"
#include "ttrpc/internal.h"
#include "ttrpc/ttrpc.h"

#define TASK "containerd.task.v2.Task"
#define MAX_QUEUED 1024

struct fixture {
	char dir[64];
	char sock[96];
	struct ev_loop *loop;
	struct ttrpc_server *srv;
	struct ev_source *answer; /* defer answering queued State calls in reverse order */
	struct ttrpc_call *queued[MAX_QUEUED];
	size_t n_queued;
	int n_cancelled;
	int n_waits;
	bool shutdown_done;
	bool hold_answers;
};

/* ---- the test service ---- */

static int h_connect(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	const char *ns = ttrpc_call_metadata(call, "containerd-namespace");

	resp.shim_pid = (uint32_t)getpid();
	resp.task_pid = 42;
	resp.version = (char *)(ns ? ns : "none");
	return ttrpc_call_reply(call, &resp.base);
}

static int h_state(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	struct fixture *fx = userdata;

	/* Answer later, from the loop: the async path. */
	assert_true(fx->n_queued < MAX_QUEUED);
	fx->queued[fx->n_queued++] = call;
	return ev_source_set_enabled(fx->answer, EV_ONESHOT);
}

static int answer_queued(struct ev_source *s, void *userdata)
{
	struct fixture *fx = userdata;

	/* Newest first, so answers go out in the reverse order of the requests. */
	while (!fx->hold_answers && fx->n_queued > 0) {
		struct ttrpc_call *call = fx->queued[--fx->n_queued];
		const Containerd__Task__V2__StateRequest *req =
			(const void *)protobuf_c_message_unpack(
				&containerd__task__v2__state_request__descriptor, NULL,
				ttrpc_call_request(call)->payload.len,
				ttrpc_call_request(call)->payload.data);
		Containerd__Task__V2__StateResponse resp =
			CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;

		assert_non_null(req);
		resp.id = req->id;
		resp.exec_id = req->exec_id;
		resp.status = CONTAINERD__V1__TYPES__STATUS__RUNNING;
		resp.pid = (uint32_t)fx->n_queued;
		assert_int_equal(ttrpc_call_reply(call, &resp.base), 0);
		protobuf_c_message_free_unpacked((ProtobufCMessage *)req, NULL);
	}
	return 0;
}

static int h_kill(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	return -ENOENT; /* answered for us from the errno */
}

static int h_delete(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	const Containerd__Task__V2__DeleteRequest *r = (const void *)req;

	return ttrpc_call_reply_error(call, TTRPC_FAILED_PRECONDITION,
				      "container %s running: failed precondition", r->id);
}

static void wait_cancelled(struct ttrpc_call *call, void *userdata)
{
	struct fixture *fx = userdata;
	Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;

	fx->n_cancelled++;
	assert_true(ttrpc_call_is_cancelled(call));
	/* The answer is discarded but frees the call. */
	assert_int_equal(ttrpc_call_reply(call, &resp.base), 0);
}

static int h_wait(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	struct fixture *fx = userdata;

	fx->n_waits++;
	if (ttrpc_call_request(call)->timeout_nano > 0)
		assert_true(ttrpc_call_deadline(call) > now_mono_ns() - 1000000000ULL);
	else
		assert_int_equal(ttrpc_call_deadline(call), 0);
	ttrpc_call_on_cancel(call, wait_cancelled, fx);
	return 0; /* pending until cancelled */
}

static int h_stats(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	Containerd__Task__V2__StatsResponse resp = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	cleanup_free uint8_t *big = xcalloc(1, TTRPC_MAX_MESSAGE + 16);

	any.type_url = (char *)"io.containerd.cgroups.v1.Metrics";
	any.value.data = big;
	any.value.len = TTRPC_MAX_MESSAGE + 16;
	resp.stats = &any;
	return ttrpc_call_reply(call, &resp.base);
}

static const struct ttrpc_method methods[] = {
	{"Connect", h_connect}, {"State", h_state}, {"Kill", h_kill}, {"Delete", h_delete},
	{"Wait", h_wait},	{"Stats", h_stats}, {NULL, NULL},
};

static int setup(void **state)
{
	struct fixture *fx = xnew0(struct fixture, 1);
	cleanup_err struct wh_err *e = NULL;

	strcpy(fx->dir, "/tmp/ttrpc-unit-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->sock, sizeof(fx->sock), "%s/s.sock", fx->dir);
	assert_int_equal(ev_loop_new(&fx->loop), 0);
	assert_int_equal(ev_add_defer(fx->loop, &fx->answer, answer_queued, fx), 0);
	assert_int_equal(ev_source_set_enabled(fx->answer, EV_OFF), 0);
	assert_int_equal(ttrpc_server_new(fx->loop, &fx->srv, &e), 0);
	assert_int_equal(ttrpc_server_register(fx->srv, &containerd__task__v2__task__descriptor,
					       methods, fx, &e),
			 0);
	assert_int_equal(ttrpc_server_listen(fx->srv, fx->sock, 0600, &e), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	ttrpc_server_free(fx->srv);
	ev_source_unref(fx->answer);
	ev_loop_free(fx->loop);
	assert_int_equal(rm_rf(fx->dir), 0);
	free(fx);
	return 0;
}

static struct ttrpc_client *connect_client(struct fixture *fx)
{
	cleanup_err struct wh_err *e = NULL;
	struct ttrpc_client *c = NULL;
	cleanup_free char *addr = xasprintf("unix://%s", fx->sock);

	assert_int_equal(ttrpc_client_connect(fx->loop, addr, &c, &e), 0);
	return c;
}

/* ---- client calls ---- */

static void test_sync_connect_with_metadata(void **state)
{
	struct fixture *fx = *state;
	cleanup_ttrpc_client struct ttrpc_client *c = connect_client(fx);
	Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	const char *md[] = {"containerd-namespace", "k8s.io", NULL};
	struct ttrpc_call_opts opts = {.timeout_ns = 5000000000ULL, .metadata = md};
	cleanup_err struct wh_err *e = NULL;
	ProtobufCMessage *m = NULL;
	Containerd__Task__V2__ConnectResponse *resp;

	req.id = (char *)"t1";
	assert_int_equal(ttrpc_client_call(c, TASK, "Connect", &req.base,
					   &containerd__task__v2__connect_response__descriptor,
					   &opts, &m, &e),
			 0);
	resp = (void *)m;
	assert_int_equal(resp->shim_pid, (uint32_t)getpid());
	assert_int_equal(resp->task_pid, 42);
	assert_string_equal(resp->version, "k8s.io");
	protobuf_c_message_free_unpacked(m, NULL);
	/* Without metadata the handler sees none. */
	assert_int_equal(ttrpc_client_call(c, TASK, "Connect", &req.base,
					   &containerd__task__v2__connect_response__descriptor,
					   NULL, &m, &e),
			 0);
	assert_string_equal(((Containerd__Task__V2__ConnectResponse *)m)->version, "none");
	protobuf_c_message_free_unpacked(m, NULL);
	assert_int_equal(ttrpc_client_n_pending(c), 0);
}

struct expect {
	char id[32];
	int code;
	bool done;
	int *n_done;
};

static void on_state_reply(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct expect *x = userdata;
	Containerd__Task__V2__StateResponse *r = (void *)reply->msg;

	assert_false(x->done);
	x->done = true;
	x->code = reply->code;
	if (reply->code == TTRPC_OK) {
		assert_string_equal(r->id, x->id);
		assert_int_equal(r->status, CONTAINERD__V1__TYPES__STATUS__RUNNING);
	}
	(*x->n_done)++;
}

static void test_async_many_clients_out_of_order(void **state)
{
	enum { N_CLIENTS = 8, N_CALLS = 64 };
	struct fixture *fx = *state;
	struct ttrpc_client *cs[N_CLIENTS];
	struct expect *xs = xnew0(struct expect, N_CLIENTS * N_CALLS);
	int n_done = 0, last_id[N_CLIENTS] = {0};

	for (int k = 0; k < N_CLIENTS; k++)
		cs[k] = connect_client(fx);
	for (int i = 0; i < N_CALLS; i++) {
		for (int k = 0; k < N_CLIENTS; k++) {
			Containerd__Task__V2__StateRequest req =
				CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
			struct expect *x = &xs[k * N_CALLS + i];
			int id;

			snprintf(x->id, sizeof(x->id), "c%d-%d", k, i);
			x->n_done = &n_done;
			req.id = x->id;
			id = ttrpc_client_call_async(
				cs[k], TASK, "State", &req.base,
				&containerd__task__v2__state_response__descriptor, NULL,
				on_state_reply, x, NULL);
			/* Odd, strictly increasing stream ids per connection. */
			assert_int_equal(id % 2, 1);
			assert_true(id > last_id[k]);
			last_id[k] = id;
		}
	}
	for (int k = 0; k < N_CLIENTS; k++)
		assert_int_equal(ttrpc_client_n_pending(cs[k]), N_CALLS);
	while (n_done < N_CLIENTS * N_CALLS)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) > 0);
	for (int i = 0; i < N_CLIENTS * N_CALLS; i++)
		assert_int_equal(xs[i].code, TTRPC_OK);
	assert_int_equal(ttrpc_server_n_connections(fx->srv), N_CLIENTS);
	for (int k = 0; k < N_CLIENTS; k++)
		ttrpc_client_free(cs[k]);
	free(xs);
}

static void test_error_statuses(void **state)
{
	struct fixture *fx = *state;
	cleanup_ttrpc_client struct ttrpc_client *c = connect_client(fx);
	Containerd__Task__V2__KillRequest kill = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
	Containerd__Task__V2__DeleteRequest del = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
	Containerd__Task__V2__PidsRequest pids = CONTAINERD__TASK__V2__PIDS_REQUEST__INIT;
	ProtobufCMessage *m = NULL;

	{
		cleanup_err struct wh_err *e = NULL;

		assert_int_equal(ttrpc_client_call(c, TASK, "Kill", &kill.base,
						   &google__protobuf__empty__descriptor, NULL, &m,
						   &e),
				 -ENOENT);
		assert_string_equal(wh_err_msg(e), "No such file or directory");
	}
	{
		cleanup_err struct wh_err *e = NULL;

		del.id = (char *)"abc";
		assert_int_equal(
			ttrpc_client_call(c, TASK, "Delete", &del.base,
					  &containerd__task__v2__delete_response__descriptor, NULL,
					  &m, &e),
			-EBUSY);
		assert_string_equal(wh_err_msg(e), "container abc running: failed precondition");
	}
	{
		cleanup_err struct wh_err *e = NULL;

		assert_int_equal(ttrpc_client_call(c, TASK, "Pids", &pids.base,
						   &containerd__task__v2__pids_response__descriptor,
						   NULL, &m, &e),
				 -ENOSYS);
		assert_string_equal(wh_err_msg(e), "method Pids");
	}
	{
		cleanup_err struct wh_err *e = NULL;

		assert_int_equal(ttrpc_client_call(c, "foo.Bar", "Baz", &pids.base,
						   &containerd__task__v2__pids_response__descriptor,
						   NULL, &m, &e),
				 -ENOSYS);
		assert_string_equal(wh_err_msg(e), "service foo.Bar");
	}
	{
		cleanup_err struct wh_err *e = NULL;

		/* A response over 4 MiB becomes RESOURCE_EXHAUSTED (ENOSPC's class). */
		assert_int_equal(
			ttrpc_client_call(c, TASK, "Stats", &pids.base,
					  &containerd__task__v2__stats_response__descriptor, NULL,
					  &m, &e),
			-ENOSPC);
		assert_non_null(strstr(wh_err_msg(e), "exceeds maximum message size of 4194304"));
	}
	assert_true(ttrpc_client_is_connected(c));
}

static void test_request_too_big(void **state)
{
	struct fixture *fx = *state;
	cleanup_ttrpc_client struct ttrpc_client *c = connect_client(fx);
	Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	cleanup_free char *big = xmalloc(TTRPC_MAX_MESSAGE + 2);
	cleanup_err struct wh_err *e = NULL, *e2 = NULL;
	ProtobufCMessage *m = NULL;

	memset(big, 'x', TTRPC_MAX_MESSAGE + 1);
	big[TTRPC_MAX_MESSAGE + 1] = '\0';
	req.id = big;
	assert_int_equal(ttrpc_client_call(c, TASK, "Connect", &req.base,
					   &containerd__task__v2__connect_response__descriptor,
					   NULL, &m, &e),
			 -EMSGSIZE);
	assert_non_null(strstr(wh_err_msg(e), "maximum message size"));
	/* Nothing was sent: the connection still works. */
	req.id = (char *)"small";
	assert_int_equal(ttrpc_client_call(c, TASK, "Connect", &req.base,
					   &containerd__task__v2__connect_response__descriptor,
					   NULL, &m, &e2),
			 0);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void test_deadline(void **state)
{
	struct fixture *fx = *state;
	cleanup_ttrpc_client struct ttrpc_client *c = connect_client(fx);
	Containerd__Task__V2__WaitRequest req = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
	struct ttrpc_call_opts opts = {.timeout_ns = 20000000};
	cleanup_err struct wh_err *e = NULL;
	ProtobufCMessage *m = NULL;

	req.id = (char *)"w";
	assert_int_equal(ttrpc_client_call(c, TASK, "Wait", &req.base,
					   &containerd__task__v2__wait_response__descriptor, &opts,
					   &m, &e),
			 -ETIMEDOUT);
	assert_string_equal(wh_err_msg(e), "context deadline exceeded");
	/* The server's deadline fires too and cancels the handler's call. */
	while (fx->n_cancelled < 1)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) >= 0);
	assert_int_equal(fx->n_waits, 1);
}

static int n_closed;

static void on_client_close(struct ttrpc_client *c, void *userdata)
{
	n_closed++;
}

static void on_wait_reply(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct expect *x = userdata;

	x->done = true;
	x->code = reply->code;
	assert_string_equal(reply->message, "ttrpc: closed");
	assert_null(reply->msg);
}

static void on_wait_reply_any(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct expect *x = userdata;

	x->done = true;
	x->code = reply->code;
}

static void test_connection_loss_fails_pending(void **state)
{
	struct fixture *fx = *state;
	cleanup_ttrpc_client struct ttrpc_client *c = connect_client(fx);
	Containerd__Task__V2__WaitRequest req = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
	struct expect x[3] = {0};
	cleanup_err struct wh_err *e = NULL;

	n_closed = 0;
	ttrpc_client_on_close(c, on_client_close, NULL);
	for (int i = 0; i < 3; i++)
		assert_true(
			ttrpc_client_call_async(c, TASK, "Wait", &req.base,
						&containerd__task__v2__wait_response__descriptor,
						NULL, on_wait_reply, &x[i], NULL) > 0);
	while (fx->n_waits < 3)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) > 0);
	/* The server goes away: its calls are cancelled, our pending calls fail. */
	fx->srv = ttrpc_server_free(fx->srv);
	assert_int_equal(fx->n_cancelled, 3);
	while (!x[0].done || !x[1].done || !x[2].done)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) > 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(x[i].code, TTRPC_UNAVAILABLE);
	assert_int_equal(n_closed, 1);
	assert_false(ttrpc_client_is_connected(c));
	assert_int_equal(ttrpc_client_call_async(c, TASK, "Wait", &req.base,
						 &containerd__task__v2__wait_response__descriptor,
						 NULL, on_wait_reply, &x[0], &e),
			 -ENOTCONN);
	/* The socket file went with the server. */
	assert_int_equal(access(fx->sock, F_OK), -1);
}

static void on_shutdown_done(struct ttrpc_server *s, void *userdata)
{
	struct fixture *fx = userdata;

	fx->shutdown_done = true;
}

static void test_clean_shutdown(void **state)
{
	struct fixture *fx = *state;
	cleanup_ttrpc_client struct ttrpc_client *c = connect_client(fx);
	struct ttrpc_client *idle = connect_client(fx);
	Containerd__Task__V2__StateRequest req = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
	struct expect x = {0}, late = {0};
	int n_done = 0;
	cleanup_err struct wh_err *e = NULL;
	struct ttrpc_client *c2 = NULL;

	strcpy(x.id, "inflight");
	x.n_done = &n_done;
	req.id = x.id;
	fx->hold_answers = true;
	/* Let both connections be accepted before shutting down. */
	while (ttrpc_server_n_connections(fx->srv) < 2)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) > 0);
	assert_true(ttrpc_client_call_async(c, TASK, "State", &req.base,
					    &containerd__task__v2__state_response__descriptor, NULL,
					    on_state_reply, &x, NULL) > 0);
	/* Run until the server holds the call (queued, not answered yet). */
	while (fx->n_queued == 0)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) > 0);
	ttrpc_server_shutdown(fx->srv, on_shutdown_done, fx);
	assert_int_equal(access(fx->sock, F_OK), -1);
	assert_true(ttrpc_client_connect(fx->loop, fx->sock, &c2, &e) < 0);
	/* A new request on the busy connection is refused while the old one finishes. */
	strcpy(late.id, "late");
	late.n_done = &n_done;
	req.id = late.id;
	assert_true(ttrpc_client_call_async(c, TASK, "State", &req.base,
					    &containerd__task__v2__state_response__descriptor, NULL,
					    on_state_reply, &late, NULL) > 0);
	while (!late.done)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) > 0);
	assert_int_equal(late.code, TTRPC_UNAVAILABLE);
	assert_false(x.done);
	assert_false(fx->shutdown_done);
	fx->hold_answers = false;
	assert_int_equal(ev_source_set_enabled(fx->answer, EV_ONESHOT), 0);
	while (!fx->shutdown_done)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) >= 0);
	assert_true(x.done);
	assert_int_equal(x.code, TTRPC_OK);
	assert_int_equal(ttrpc_server_n_connections(fx->srv), 0);
	ttrpc_client_free(idle);
}

static void free_client_in_reply(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct expect *x = userdata;

	x->done = true;
	x->code = reply->code;
	/* The CLI pattern: done with the answer, drop the client from its own callback. */
	ttrpc_client_free(c);
}

static void test_free_client_from_reply_callback(void **state)
{
	struct fixture *fx = *state;
	struct ttrpc_client *c = connect_client(fx);
	Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	struct expect x[2] = {0};

	req.id = (char *)"t";
	/*
	 * Whether or not the second answer arrived in the same read, its call is failed
	 * (CANCELLED) by the free and its callback never sees a freed client.
	 */
	assert_true(ttrpc_client_call_async(c, TASK, "Connect", &req.base,
					    &containerd__task__v2__connect_response__descriptor,
					    NULL, free_client_in_reply, &x[0], NULL) > 0);
	assert_true(ttrpc_client_call_async(c, TASK, "Connect", &req.base,
					    &containerd__task__v2__connect_response__descriptor,
					    NULL, on_wait_reply_any, &x[1], NULL) > 0);
	while (!x[0].done)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) > 0);
	assert_int_equal(x[0].code, TTRPC_OK);
	assert_true(x[1].done);
	assert_int_equal(x[1].code, TTRPC_CANCELLED);
	/* The server sees the connection go. */
	while (ttrpc_server_n_connections(fx->srv) > 0)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) >= 0);
}

static int h_shutdown(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	struct fixture *fx = userdata;

	/* The shim pattern: answer Shutdown, then stop serving from inside the handler. */
	assert_int_equal(ttrpc_call_reply(call, NULL), 0);
	ttrpc_server_shutdown(fx->srv, on_shutdown_done, fx);
	return 0;
}

static void test_shutdown_from_handler(void **state)
{
	struct fixture *fx = *state;
	cleanup_ttrpc_client struct ttrpc_client *c = connect_client(fx);
	Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
	static const struct ttrpc_method sd[] = {{"Shutdown", h_shutdown}, {NULL, NULL}};
	cleanup_err struct wh_err *e = NULL, *e2 = NULL;
	ProtobufCMessage *m = NULL;

	/* Re-register the task service with a Shutdown handler on a fresh server. */
	fx->srv = ttrpc_server_free(fx->srv);
	c = ttrpc_client_free(c);
	assert_int_equal(ttrpc_server_new(fx->loop, &fx->srv, &e), 0);
	assert_int_equal(
		ttrpc_server_register(fx->srv, &containerd__task__v2__task__descriptor, sd, fx, &e),
		0);
	assert_int_equal(ttrpc_server_listen(fx->srv, fx->sock, 0600, &e), 0);
	c = connect_client(fx);
	req.id = (char *)"t";
	assert_int_equal(ttrpc_client_call(c, TASK, "Shutdown", &req.base,
					   &google__protobuf__empty__descriptor, NULL, &m, &e2),
			 0);
	protobuf_c_message_free_unpacked(m, NULL);
	while (!fx->shutdown_done)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) >= 0);
	/* The answer was flushed before the connection closed; then the client saw EOF. */
	while (ttrpc_client_is_connected(c))
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) >= 0);
	assert_int_equal(access(fx->sock, F_OK), -1);
}

static void test_in_flight_limit(void **state)
{
	struct fixture *fx = *state;
	cleanup_ttrpc_client struct ttrpc_client *c = connect_client(fx);
	Containerd__Task__V2__WaitRequest req = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
	enum { LIMIT = 4096 };
	struct expect *xs = xnew0(struct expect, LIMIT + 1);

	req.id = (char *)"w";
	/* Every Wait stays pending on the server; one more than the cap is refused. */
	for (int i = 0; i <= LIMIT; i++)
		assert_true(
			ttrpc_client_call_async(c, TASK, "Wait", &req.base,
						&containerd__task__v2__wait_response__descriptor,
						NULL, on_wait_reply_any, &xs[i], NULL) > 0);
	while (!xs[LIMIT].done)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) > 0);
	assert_int_equal(xs[LIMIT].code, TTRPC_RESOURCE_EXHAUSTED);
	assert_int_equal(fx->n_waits, LIMIT);
	for (int i = 0; i < LIMIT; i++)
		assert_false(xs[i].done);
	/* Dropping the client cancels them on both sides. */
	c = ttrpc_client_free(c);
	while (fx->n_cancelled < LIMIT)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) >= 0);
	free(xs);
}

/* ---- a raw peer ---- */

static int raw_connect(struct fixture *fx)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, fx->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Writes everything, running the loop while the socket is full. */
static void raw_send(struct fixture *fx, int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			assert_true(ev_loop_run_once(fx->loop, 10000000) >= 0);
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Reads one whole frame, running the loop until it arrives. Returns its data (caller frees). */
static uint8_t *raw_recv(struct fixture *fx, int fd, struct ttrpc_frame *f)
{
	uint8_t h[TTRPC_HEADER_SIZE];
	uint8_t *data;
	size_t got = 0;

	while (got < sizeof(h)) {
		ssize_t n = read(fd, h + got, sizeof(h) - got);

		if (n < 0 && errno == EAGAIN) {
			assert_true(ev_loop_run_once(fx->loop, 10000000) >= 0);
			continue;
		}
		assert_true(n > 0);
		got += (size_t)n;
	}
	f->length = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	f->stream_id = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
	f->type = h[8];
	assert_true(f->length < (1u << 20));
	data = xmalloc(f->length + 1);
	got = 0;
	while (got < f->length) {
		ssize_t n = read(fd, data + got, f->length - got);

		if (n < 0 && errno == EAGAIN) {
			assert_true(ev_loop_run_once(fx->loop, 10000000) >= 0);
			continue;
		}
		assert_true(n > 0);
		got += (size_t)n;
	}
	return data;
}

static void expect_status(struct fixture *fx, int fd, uint32_t sid, int code, const char *prefix)
{
	struct ttrpc_frame f;
	cleanup_free uint8_t *d = raw_recv(fx, fd, &f);
	Ttrpc__Response *r;

	assert_int_equal(f.stream_id, sid);
	assert_int_equal(f.type, TTRPC_TYPE_RESPONSE);
	r = ttrpc__response__unpack(NULL, f.length, d);
	assert_non_null(r);
	assert_non_null(r->status);
	assert_int_equal(r->status->code, code);
	if (!str_startswith(r->status->message, prefix))
		fail_msg("status message '%s' does not start with '%s'", r->status->message,
			 prefix);
	ttrpc__response__free_unpacked(r, NULL);
}

static void send_request(struct fixture *fx, int fd, uint32_t sid, uint8_t type,
			 const char *service, const char *method, const void *payload, size_t len)
{
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	cleanup_free uint8_t *buf = NULL;
	size_t blen = 0, cap = 0;

	req.service = (char *)service;
	req.method = (char *)method;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = len;
	assert_int_equal(ttrpc_frame_append(&buf, &blen, &cap, sid, type, 0, &req.base), 0);
	raw_send(fx, fd, buf, blen);
}

static void expect_connect_reply(struct fixture *fx, int fd, uint32_t sid)
{
	struct ttrpc_frame f;
	cleanup_free uint8_t *d = raw_recv(fx, fd, &f);
	Ttrpc__Response *r;
	Containerd__Task__V2__ConnectResponse *cr;

	assert_int_equal(f.stream_id, sid);
	r = ttrpc__response__unpack(NULL, f.length, d);
	assert_non_null(r);
	assert_null(r->status); /* success carries no status, as Go's server */
	cr = containerd__task__v2__connect_response__unpack(NULL, r->payload.len, r->payload.data);
	assert_non_null(cr);
	assert_int_equal(cr->task_pid, 42);
	containerd__task__v2__connect_response__free_unpacked(cr, NULL);
	ttrpc__response__free_unpacked(r, NULL);
}

static void test_raw_protocol_errors(void **state)
{
	struct fixture *fx = *state;
	cleanup_close int fd = raw_connect(fx);
	static const uint8_t connect_payload[] = {0x0a, 0x02, 'i', 'd'};
	static const uint8_t bad_payload[] = {0x0a, 0x40, 'x'};
	static const uint8_t garbage[] = {0x0a, 0x7f, 0x01, 0x02};
	uint8_t h[TTRPC_HEADER_SIZE];

	/* Even stream id. */
	send_request(fx, fd, 2, TTRPC_TYPE_REQUEST, TASK, "Connect", connect_payload,
		     sizeof(connect_payload));
	expect_status(fx, fd, 2, TTRPC_INVALID_ARGUMENT,
		      "StreamID must be odd for client initiated streams");
	/* A request envelope that is not protobuf. */
	ttrpc_header_put(h, sizeof(garbage), 3, TTRPC_TYPE_REQUEST, 0);
	raw_send(fx, fd, h, sizeof(h));
	raw_send(fx, fd, garbage, sizeof(garbage));
	expect_status(fx, fd, 3, TTRPC_INVALID_ARGUMENT, "unmarshal request error: ");
	/* A payload that is not a ConnectRequest. */
	send_request(fx, fd, 5, TTRPC_TYPE_REQUEST, TASK, "Connect", bad_payload,
		     sizeof(bad_payload));
	expect_status(fx, fd, 5, TTRPC_INTERNAL, "ttrpc: error unmarshalling payload: ");
	/* Unknown service and method, byte-exact as Go's. */
	send_request(fx, fd, 7, TTRPC_TYPE_REQUEST, "foo.Bar", "X", NULL, 0);
	expect_status(fx, fd, 7, TTRPC_UNIMPLEMENTED, "service foo.Bar");
	send_request(fx, fd, 9, TTRPC_TYPE_REQUEST, TASK, "Nope", NULL, 0);
	expect_status(fx, fd, 9, TTRPC_UNIMPLEMENTED, "method Nope");
	/* A Data frame (ttrpc 1.2 streams) is ignored; the next request is answered. */
	send_request(fx, fd, 11, TTRPC_TYPE_DATA, TASK, "Connect", connect_payload,
		     sizeof(connect_payload));
	send_request(fx, fd, 13, TTRPC_TYPE_REQUEST, TASK, "Connect", connect_payload,
		     sizeof(connect_payload));
	expect_connect_reply(fx, fd, 13);
}

static void test_raw_oversize_frame_survives(void **state)
{
	struct fixture *fx = *state;
	cleanup_close int fd = raw_connect(fx);
	static const uint8_t connect_payload[] = {0x0a, 0x02, 'i', 'd'};
	const uint32_t big = (5u << 20) + 3;
	cleanup_free uint8_t *junk = xcalloc(1, big);
	uint8_t h[TTRPC_HEADER_SIZE];

	ttrpc_header_put(h, big, 21, TTRPC_TYPE_REQUEST, 0);
	raw_send(fx, fd, h, sizeof(h));
	raw_send(fx, fd, junk, big);
	send_request(fx, fd, 23, TTRPC_TYPE_REQUEST, TASK, "Connect", connect_payload,
		     sizeof(connect_payload));
	expect_status(fx, fd, 21, TTRPC_RESOURCE_EXHAUSTED,
		      "message length 5242883 exceed maximum message size of 4194304");
	/* The connection survives: the next frame is parsed and answered. */
	expect_connect_reply(fx, fd, 23);
}

static int on_child_exit(struct ev_source *s, const siginfo_t *si, void *userdata)
{
	int *status = userdata;

	*status = si->si_code == CLD_EXITED ? si->si_status : 100 + si->si_status;
	return 0;
}

static void test_peer_credentials(void **state)
{
	struct fixture *fx = *state;
	cleanup_ev_source struct ev_source *child = NULL;
	int status = -1;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	assert_int_equal(chmod(fx->dir, 0755), 0);
	assert_int_equal(chmod(fx->sock, 0777), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		static const uint8_t frame[] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 0};
		char b;
		int fd;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		strcpy(sa.sun_path, fx->sock);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(3);
		if (write(fd, frame, sizeof(frame)) != sizeof(frame))
			_exit(0); /* already closed on us: refused */
		/* Refused peers are closed without an answer. */
		_exit(read(fd, &b, 1) <= 0 ? 0 : 1);
	}
	assert_int_equal(ev_add_child(fx->loop, &child, pid, on_child_exit, &status), 0);
	while (status < 0)
		assert_true(ev_loop_run_once(fx->loop, 5000000000ULL) >= 0);
	assert_int_equal(status, 0);
	assert_int_equal(ttrpc_server_n_connections(fx->srv), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync_connect_with_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_many_clients_out_of_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_error_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_loss_fails_pending, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_clean_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_client_from_reply_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_from_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_flight_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_protocol_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_oversize_frame_survives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_credentials, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

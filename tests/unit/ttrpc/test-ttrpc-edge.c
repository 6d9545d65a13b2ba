/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Edge cases of the ttrpc client against a raw (hand-driven) server socket: garbage and oversize
 * responses, answers for unknown streams, async timeouts, freeing a client with calls pending;
 * the write-queue high-water mark against a peer that does not read; listener set-up rules
 * (live and stale socket files, inherited fds, abstract names) and registration errors.
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

/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "proto/task/v2/shim.pb-c.h"
#include "ttrpc/internal.h"
#include "ttrpc/ttrpc.h"

#define TASK "containerd.task.v2.Task"

struct raw {
	char dir[64];
	char sock[96];
	int lfd;
	int peer; /* the accepted end the test drives */
	struct ev_loop *loop;
	struct ttrpc_client *c;
};

static int setup(void **state)
{
	struct raw *r = xnew0(struct raw, 1);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cleanup_err struct wh_err *e = NULL;

	strcpy(r->dir, "/tmp/ttrpc-edge-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->sock, sizeof(r->sock), "%s/raw.sock", r->dir);
	strcpy(sa.sun_path, r->sock);
	r->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(r->lfd >= 0);
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(r->lfd, 4), 0);
	assert_int_equal(ev_loop_new(&r->loop), 0);
	assert_int_equal(ttrpc_client_connect(r->loop, r->sock, &r->c, &e), 0);
	r->peer = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(r->peer >= 0);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct raw *r = *state;

	ttrpc_client_free(r->c);
	ev_loop_free(r->loop);
	wh_close(r->peer);
	wh_close(r->lfd);
	assert_int_equal(rm_rf(r->dir), 0);
	free(r);
	return 0;
}

/* Reads one request frame from the client (blocking) and returns its stream id. */
static uint32_t read_request(struct raw *r)
{
	uint8_t h[TTRPC_HEADER_SIZE];
	struct ttrpc_frame f;
	uint8_t *data;

	assert_int_equal(ev_loop_run_once(r->loop, 0) >= 0, 1);
	assert_int_equal(read(r->peer, h, sizeof(h)), (ssize_t)sizeof(h));
	f.length = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	f.stream_id = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
	assert_int_equal(h[8], TTRPC_TYPE_REQUEST);
	data = xmalloc(f.length + 1);
	assert_int_equal(read(r->peer, data, f.length), (ssize_t)f.length);
	free(data);
	return f.stream_id;
}

static void write_all_blocking(int fd, const void *buf, size_t len)
{
	assert_int_equal(write_all(fd, buf, len), 0);
}

struct result {
	bool done;
	int code;
	char msg[160];
	bool had_msg;
};

static void on_reply(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct result *res = userdata;

	assert_false(res->done);
	res->done = true;
	res->code = reply->code;
	res->had_msg = reply->msg != NULL;
	snprintf(res->msg, sizeof(res->msg), "%s", reply->message);
}

static int start_call(struct raw *r, struct result *res, uint64_t timeout_ns)
{
	Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	struct ttrpc_call_opts opts = {.timeout_ns = timeout_ns};

	req.id = (char *)"x";
	return ttrpc_client_call_async(r->c, TASK, "Connect", &req.base,
				       &containerd__task__v2__connect_response__descriptor, &opts,
				       on_reply, res, NULL);
}

static void run_until(struct raw *r, const bool *flag)
{
	while (!*flag)
		assert_true(ev_loop_run_once(r->loop, 5000000000ULL) >= 0);
}

static void test_garbage_response(void **state)
{
	struct raw *r = *state;
	struct result res = {0};
	uint8_t h[TTRPC_HEADER_SIZE];
	static const uint8_t garbage[] = {0x0a, 0x7f, 0x00};
	uint32_t sid;

	assert_int_equal(start_call(r, &res, 0), 1);
	sid = read_request(r);
	assert_int_equal(sid, 1);
	ttrpc_header_put(h, sizeof(garbage), sid, TTRPC_TYPE_RESPONSE, 0);
	write_all_blocking(r->peer, h, sizeof(h));
	write_all_blocking(r->peer, garbage, sizeof(garbage));
	run_until(r, &res.done);
	assert_int_equal(res.code, TTRPC_INTERNAL);
	assert_true(str_startswith(res.msg, "ttrpc: unmarshal response error"));
	assert_false(res.had_msg);
	assert_true(ttrpc_client_is_connected(r->c));
}

static void test_bad_payload_and_unknown_stream(void **state)
{
	struct raw *r = *state;
	struct result res = {0};
	uint8_t buf[64];
	/* Response{2: bytes "\x08"} : a ConnectResponse cut in the middle of a varint. */
	static const uint8_t bad[] = {0x12, 0x01, 0x08};
	uint32_t sid;

	assert_int_equal(start_call(r, &res, 0), 1);
	sid = read_request(r);
	/* An answer for a stream nobody asked about is ignored. */
	ttrpc_header_put(buf, 0, 99, TTRPC_TYPE_RESPONSE, 0);
	/* A Data frame (1.2 streams) is ignored too. */
	ttrpc_header_put(buf + 10, 0, sid, TTRPC_TYPE_DATA, 0);
	ttrpc_header_put(buf + 20, sizeof(bad), sid, TTRPC_TYPE_RESPONSE, 0);
	memcpy(buf + 30, bad, sizeof(bad));
	write_all_blocking(r->peer, buf, 30 + sizeof(bad));
	run_until(r, &res.done);
	assert_int_equal(res.code, TTRPC_INTERNAL);
	assert_true(str_startswith(res.msg, "ttrpc: error unmarshalling payload: invalid "
					    "'containerd.task.v2.ConnectResponse'"));
	assert_int_equal(ttrpc_client_n_pending(r->c), 0);
}

static void test_oversize_response_frame(void **state)
{
	struct raw *r = *state;
	struct result res = {0}, res2 = {0};
	const uint32_t big = TTRPC_MAX_MESSAGE + 100;
	cleanup_free uint8_t *junk = xcalloc(1, big);
	uint8_t h[TTRPC_HEADER_SIZE];
	uint32_t sid, sid2;
	size_t off = 0;

	assert_int_equal(start_call(r, &res, 0), 1);
	assert_int_equal(start_call(r, &res2, 0), 3);
	sid = read_request(r);
	sid2 = read_request(r);
	assert_int_equal(sid2, 3);
	ttrpc_header_put(h, big, sid, TTRPC_TYPE_RESPONSE, 0);
	write_all_blocking(r->peer, h, sizeof(h));
	/* Feed the junk in pieces, letting the client drain the socket between them. */
	assert_int_equal(fd_set_nonblock(r->peer, true), 0);
	while (off < big) {
		ssize_t n = write(r->peer, junk + off, big - off);

		if (n > 0)
			off += (size_t)n;
		assert_true(ev_loop_run_once(r->loop, 1000000) >= 0);
	}
	assert_int_equal(fd_set_nonblock(r->peer, false), 0);
	/* An Empty-payload success on the next stream: the connection survived. */
	ttrpc_header_put(h, 0, sid2, TTRPC_TYPE_RESPONSE, 0);
	write_all_blocking(r->peer, h, sizeof(h));
	run_until(r, &res.done);
	run_until(r, &res2.done);
	assert_int_equal(res.code, TTRPC_RESOURCE_EXHAUSTED);
	assert_string_equal(res.msg,
			    "message length 4194404 exceed maximum message size of 4194304");
	assert_int_equal(res2.code, TTRPC_OK);
	assert_true(res2.had_msg); /* a zero-length payload decodes to a default message */
}

static void test_async_timeout_then_late_answer(void **state)
{
	struct raw *r = *state;
	struct result res = {0};
	uint8_t h[TTRPC_HEADER_SIZE];
	uint32_t sid;

	assert_int_equal(start_call(r, &res, 10000000), 1);
	sid = read_request(r);
	run_until(r, &res.done);
	assert_int_equal(res.code, TTRPC_DEADLINE_EXCEEDED);
	assert_int_equal(ttrpc_client_n_pending(r->c), 0);
	/* The late answer finds no call and is dropped; the connection stays usable. */
	ttrpc_header_put(h, 0, sid, TTRPC_TYPE_RESPONSE, 0);
	write_all_blocking(r->peer, h, sizeof(h));
	assert_true(ev_loop_run_once(r->loop, 100000000) >= 0);
	assert_true(ttrpc_client_is_connected(r->c));
}

static void test_free_with_pending(void **state)
{
	struct raw *r = *state;
	struct result res[3] = {0};

	for (int i = 0; i < 3; i++)
		assert_true(start_call(r, &res[i], 0) > 0);
	r->c = ttrpc_client_free(r->c);
	for (int i = 0; i < 3; i++) {
		assert_true(res[i].done);
		assert_int_equal(res[i].code, TTRPC_CANCELLED);
	}
}

static void test_peer_eof_fails_calls(void **state)
{
	struct raw *r = *state;
	struct result res = {0};
	cleanup_err struct wh_err *e = NULL;
	ProtobufCMessage *m = NULL;
	Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;

	assert_int_equal(start_call(r, &res, 0), 1);
	(void)read_request(r);
	r->peer = wh_close(r->peer);
	run_until(r, &res.done);
	assert_int_equal(res.code, TTRPC_UNAVAILABLE);
	assert_string_equal(res.msg, "ttrpc: closed");
	/* A sync call on a closed client fails at once. */
	assert_int_equal(ttrpc_client_call(r->c, TASK, "Connect", &req.base,
					   &containerd__task__v2__connect_response__descriptor,
					   NULL, &m, &e),
			 -ENOTCONN);
}

/* ---- server-side rules ---- */

static int h_connect(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	cleanup_free char *big = xmalloc(512 * 1024 + 1);

	/* Large answers fill the write queue fast. */
	memset(big, 'v', 512 * 1024);
	big[512 * 1024] = '\0';
	resp.version = big;
	return ttrpc_call_reply(call, &resp.base);
}

static const struct ttrpc_method methods[] = {{"Connect", h_connect}, {NULL, NULL}};

static void test_slow_reader_gets_every_answer(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ttrpc_server struct ttrpc_server *s = NULL;
	cleanup_err struct wh_err *e = NULL;
	static const uint8_t payload[] = {0x0a, 0x01, 'x'};
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	cleanup_free uint8_t *frames = NULL;
	size_t len = 0, cap = 0, off = 0, answered = 0;
	int sv[2], sndbuf = 4096;

	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ttrpc_server_new(l, &s, &e), 0);
	assert_int_equal(ttrpc_server_register(s, &containerd__task__v2__task__descriptor, methods,
					       NULL, &e),
			 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	assert_int_equal(ttrpc_server_add_conn_fd_take(s, sv[0], &e), 0);
	req.service = (char *)TASK;
	req.method = (char *)"Connect";
	req.payload.data = (uint8_t *)payload;
	req.payload.len = sizeof(payload);
	/* 64 requests whose answers total 32 MiB, while we read nothing. */
	for (uint32_t i = 0; i < 64; i++)
		assert_int_equal(ttrpc_frame_append(&frames, &len, &cap, 2 * i + 1,
						    TTRPC_TYPE_REQUEST, 0, &req.base),
				 0);
	for (int i = 0; i < 200 && off < len; i++) {
		ssize_t n = write(sv[1], frames + off, len - off);

		if (n > 0)
			off += (size_t)n;
		assert_true(ev_loop_run_once(l, 1000000) >= 0);
	}
	/* Reading the answers now drains everything, without loss or reordering damage. */
	{
		uint8_t *in = NULL;
		size_t in_len = 0, in_cap = 0;

		while (answered < 64) {
			struct ttrpc_frame f;
			size_t k;
			ssize_t n;

			if (off < len) {
				n = write(sv[1], frames + off, len - off);
				if (n > 0)
					off += (size_t)n;
			}
			xgrow((void **)&in, &in_cap, in_len + 65536, 1);
			n = read(sv[1], in + in_len, 65536);
			if (n > 0)
				in_len += (size_t)n;
			while ((k = ttrpc_frame_parse(in, in_len, &f)) > 0) {
				assert_false(f.oversize);
				assert_int_equal(f.type, TTRPC_TYPE_RESPONSE);
				answered++;
				memmove(in, in + k, in_len - k);
				in_len -= k;
			}
			assert_true(ev_loop_run_once(l, 1000000) >= 0);
		}
		free(in);
	}
	assert_int_equal(answered, 64);
	close(sv[1]);
}

static long rss_kb(void)
{
	cleanup_free char *status = NULL;
	const char *p;

	assert_true(read_file("/proc/self/status", 1 << 16, &status, NULL) >= 0);
	p = strstr(status, "VmRSS:");
	assert_non_null(p);
	return strtol(p + 6, NULL, 10);
}

static void test_high_water_queue_is_bounded(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ttrpc_server struct ttrpc_server *s = NULL;
	cleanup_err struct wh_err *e = NULL;
	Containerd__Task__V2__ConnectRequest cr = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	cleanup_free char *id = xmalloc(8 + 1);
	cleanup_free uint8_t *payload = NULL;
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	cleanup_free uint8_t *frames = NULL;
	size_t len = 0, cap = 0, off = 0;
	int sv[2];
	long rss_before = rss_kb();

	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ttrpc_server_new(l, &s, &e), 0);
	assert_int_equal(ttrpc_server_register(s, &containerd__task__v2__task__descriptor, methods,
					       NULL, &e),
			 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(ttrpc_server_add_conn_fd_take(s, sv[0], &e), 0);
	req.service = (char *)TASK;
	req.method = (char *)"Connect";
	/* Small requests: all of them fit in the socket buffer and in one read. */
	memset(id, 'i', 8);
	id[8] = '\0';
	cr.id = id;
	payload = xmalloc(protobuf_c_message_get_packed_size(&cr.base));
	req.payload.len = protobuf_c_message_pack(&cr.base, payload);
	req.payload.data = payload;
	/* 1024 requests (512 MiB of answers) from a peer that never reads. */
	for (uint32_t i = 0; i < 1024; i++)
		assert_int_equal(ttrpc_frame_append(&frames, &len, &cap, 2 * i + 1,
						    TTRPC_TYPE_REQUEST, 0, &req.base),
				 0);
	for (int i = 0; i < 2000; i++) {
		ssize_t n = off < len ? write(sv[1], frames + off, len - off) : 0;

		if (n > 0)
			off += (size_t)n;
		assert_true(ev_loop_run_once(l, 0) >= 0);
	}
	/* Every request is buffered on our side, yet answers were queued only up to the mark. */
	assert_int_equal(off, len);
	/* Queue under the mark (8 MiB) + one answer + buffers: far from 512 MiB. */
	assert_true(rss_kb() - rss_before < 128 * 1024);
	close(sv[1]);
}

static void test_listen_rules(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ttrpc_server struct ttrpc_server *a = NULL, *b = NULL;
	cleanup_err struct wh_err *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL;
	cleanup_err struct wh_err *e6 = NULL, *e7 = NULL;
	cleanup_free char *nodir = NULL;
	const char *dir = *state;
	cleanup_free char *sock = NULL, *sock2 = NULL, *sock3 = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	sock = xasprintf("%s/a.sock", dir);
	sock2 = xasprintf("%s/b.sock", dir);
	sock3 = xasprintf("%s/c.sock", dir);
	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ttrpc_server_new(l, &a, NULL), 0);
	assert_int_equal(ttrpc_server_new(l, &b, NULL), 0);
	assert_int_equal(ttrpc_server_listen(a, sock, 0600, &e1), 0);
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A live socket is not taken over. */
	assert_int_equal(ttrpc_server_listen(b, sock, 0600, &e2), -EADDRINUSE);
	assert_non_null(strstr(wh_err_msg(e2), "a server is listening there"));
	/* A stale one (nobody listening) is replaced. */
	strcpy(sa.sun_path, sock2);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(ttrpc_server_listen(b, sock2, 0660, &e3), 0);
	assert_int_equal(stat(sock2, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(ttrpc_server_listen(b, "@abstract", 0600, &e4), -EINVAL);
	/* An inherited listening fd (a shim's fd 3) is served too. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, sock3);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(ttrpc_server_listen_fd_take(b, fd, &e5), 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	/* Errors name what failed. */
	nodir = xasprintf("%s/missing/s.sock", dir);
	assert_int_equal(ttrpc_server_listen(b, nodir, 0600, &e6), -ENOENT);
	assert_true(str_startswith(wh_err_msg(e6), "bind '"));
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(fd);
	assert_int_equal(ttrpc_server_listen_fd_take(b, fd, &e7), -EBADF);
	a = ttrpc_server_free(a);
	b = ttrpc_server_free(b);
	/* Servers remove the socket files they created. */
	assert_int_equal(access(sock, F_OK), -1);
	assert_int_equal(access(sock2, F_OK), -1);
	/* An inherited socket's file belongs to whoever bound it. */
	assert_int_equal(access(sock3, F_OK), 0);
	assert_int_equal(unlink(sock3), 0);
}

static int setup_dir(void **state)
{
	char *dir = xstrdup("/tmp/ttrpc-listen-XXXXXX");

	assert_non_null(mkdtemp(dir));
	*state = dir;
	return 0;
}

/* Runs even when the test failed half-way. */
static int teardown_dir(void **state)
{
	char *dir = *state;

	assert_int_equal(rm_rf(dir), 0);
	free(dir);
	return 0;
}

static void test_register_errors(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ttrpc_server struct ttrpc_server *s = NULL;
	cleanup_err struct wh_err *e1 = NULL, *e2 = NULL;
	static const struct ttrpc_method bad[] = {
		{"Connect", h_connect}, {"Frobnicate", h_connect}, {NULL, NULL}};

	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ttrpc_server_new(l, &s, NULL), 0);
	assert_int_equal(
		ttrpc_server_register(s, &containerd__task__v2__task__descriptor, bad, NULL, &e1),
		-EINVAL);
	assert_string_equal(wh_err_msg(e1),
			    "service 'containerd.task.v2.Task' has no method 'Frobnicate'");
	assert_int_equal(ttrpc_server_register(s, &containerd__task__v2__task__descriptor, methods,
					       NULL, NULL),
			 0);
	assert_int_equal(ttrpc_server_register(s, &containerd__task__v2__task__descriptor, methods,
					       NULL, &e2),
			 -EEXIST);
}

struct holder {
	struct ttrpc_client *client;
	int n_replies;
	int n_frees;
};

static void free_if_disconnected(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct holder *h = userdata;

	h->n_replies++;
	assert_int_equal(reply->code, TTRPC_UNAVAILABLE);
	/* The shim's event publisher does this in every failed reply. */
	if (h->client && !ttrpc_client_is_connected(c)) {
		h->n_frees++;
		h->client = ttrpc_client_free(h->client);
	}
}

static void test_free_from_close_callbacks(void **state)
{
	struct raw *r = *state;
	struct holder h = {.client = r->c};
	Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;

	req.id = (char *)"x";
	for (int i = 0; i < 4; i++)
		assert_true(
			ttrpc_client_call_async(r->c, TASK, "Connect", &req.base,
						&containerd__task__v2__connect_response__descriptor,
						NULL, free_if_disconnected, &h, NULL) > 0);
	r->c = NULL; /* the holder owns it now */
	r->peer = wh_close(r->peer);
	while (h.n_replies < 4)
		assert_true(ev_loop_run_once(r->loop, 5000000000ULL) >= 0);
	/*
	 * The first failure freed it; that free failed the other three from inside. The first of
	 * them still saw h.client set and freed it again (ignored, and it cleared h.client): the
	 * memory went once, after the outermost callback.
	 */
	assert_int_equal(h.n_replies, 4);
	assert_int_equal(h.n_frees, 2);
	assert_null(h.client);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_garbage_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_payload_and_unknown_stream, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_oversize_response_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_timeout_then_late_answer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_free_with_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_eof_fails_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_from_close_callbacks, setup, teardown),
		cmocka_unit_test(test_slow_reader_gets_every_answer),
		cmocka_unit_test(test_high_water_queue_is_bounded),
		cmocka_unit_test_setup_teardown(test_listen_rules, setup_dir, teardown_dir),
		cmocka_unit_test(test_register_errors),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ttrpc client: strictly increasing odd stream ids, many calls in flight, answers matched
 * by stream id in any order, per-call timeouts, callbacks on the loop, a synchronous wrapper for
 * the CLI, and every pending call failed with UNAVAILABLE when the connection goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "common/common.h"
#include "proto/google/rpc/status.pb-c.h"
#include "ttrpc/internal.h"

#define MAX_PENDING 65536

struct pending {
	struct ttrpc_client *client;
	struct pending *next, *prev;
	uint32_t stream_id;
	const ProtobufCMessageDescriptor *resp_desc;
	ttrpc_reply_fn *cb;
	void *userdata;
	struct ev_source *timer;
};

struct ttrpc_client {
	struct ev_loop *loop;
	struct ttrpc_conn *conn;
	uint32_t next_id;
	struct pending *head, *tail; /* oldest first: answers mostly come in order */
	unsigned n_pending;
	void (*close_fn)(struct ttrpc_client *, void *);
	void *close_userdata;
	unsigned busy; /* callbacks running: a free from inside them is deferred */
	bool doomed;   /* ttrpc_client_free() was called */
};

static void client_destroy(struct ttrpc_client *c)
{
	ttrpc_conn_unref(c->conn);
	free(c);
}

static void client_enter(struct ttrpc_client *c)
{
	c->busy++;
}

/* Frees a doomed client once the outermost callback returns. */
static void client_leave(struct ttrpc_client *c)
{
	if (--c->busy == 0 && c->doomed)
		client_destroy(c);
}

static void pending_unlink(struct ttrpc_client *c, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		c->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		c->tail = p->prev;
	c->n_pending--;
}

static struct pending *pending_find(struct ttrpc_client *c, uint32_t id)
{
	for (struct pending *p = c->head; p; p = p->next)
		if (p->stream_id == id)
			return p;
	return NULL;
}

/* Unlinks p, runs its callback with reply and frees p (and the message unless taken). */
static void pending_complete(struct ttrpc_client *c, struct pending *p, struct ttrpc_reply *reply)
{
	pending_unlink(c, p);
	p->timer = ev_source_disable_unref(p->timer);
	p->cb(c, reply, p->userdata);
	if (reply->msg)
		protobuf_c_message_free_unpacked(reply->msg, NULL);
	free(p);
}

static void pending_fail(struct ttrpc_client *c, struct pending *p, int code, const char *msg)
{
	struct ttrpc_reply reply = {.code = code, .message = msg};

	pending_complete(c, p, &reply);
}

static void client_on_response(struct ttrpc_client *c, struct pending *p,
			       const struct ttrpc_frame *f)
{
	cleanup_err struct wh_err *e = NULL;
	struct ttrpc_reply reply = {.code = TTRPC_OK, .message = ""};
	Ttrpc__Response *resp = NULL;
	ProtobufCMessage *m = NULL;

	if (ttrpc_response_decode(f->data, f->length, &resp, &e) < 0) {
		cleanup_free char *msg = xasprintf("ttrpc: %s", wh_err_msg(e));

		pending_fail(c, p, TTRPC_INTERNAL, msg);
		return;
	}
	if (resp->status && resp->status->code != TTRPC_OK) {
		pending_fail(c, p, resp->status->code,
			     resp->status->message ? resp->status->message : "");
		ttrpc__response__free_unpacked(resp, NULL);
		return;
	}
	if (ttrpc_payload_decode(p->resp_desc, resp->payload.data, resp->payload.len, &m, &e) < 0) {
		cleanup_free char *msg = xasprintf("ttrpc: %s", wh_err_msg(e));

		ttrpc__response__free_unpacked(resp, NULL);
		pending_fail(c, p, TTRPC_INTERNAL, msg);
		return;
	}
	ttrpc__response__free_unpacked(resp, NULL);
	reply.msg = m;
	pending_complete(c, p, &reply);
}

static void client_on_frame(struct ttrpc_conn *conn, const struct ttrpc_frame *f, void *userdata)
{
	struct ttrpc_client *c = userdata;
	struct pending *p;

	if (f->type != TTRPC_TYPE_RESPONSE)
		return;
	p = pending_find(c, f->stream_id);
	if (!p)
		return; /* timed out or never ours */
	client_enter(c);
	if (f->oversize) {
		cleanup_free char *m = ttrpc_oversize_message(f->length);

		pending_fail(c, p, TTRPC_RESOURCE_EXHAUSTED, m);
	} else {
		client_on_response(c, p, f);
	}
	client_leave(c);
}

static void fail_all(struct ttrpc_client *c, int code, const char *msg)
{
	while (c->head)
		pending_fail(c, c->head, code, msg);
}

static void client_on_close(struct ttrpc_conn *conn, int error, void *userdata)
{
	struct ttrpc_client *c = userdata;

	client_enter(c);
	/* Go's client reports EOF, EPIPE and ECONNRESET alike as "ttrpc: closed". */
	fail_all(c, TTRPC_UNAVAILABLE, "ttrpc: closed");
	if (c->close_fn && !c->doomed)
		c->close_fn(c, c->close_userdata);
	client_leave(c);
}

static const struct ttrpc_conn_ops client_ops = {
	.on_frame = client_on_frame,
	.on_close = client_on_close,
};

int ttrpc_client_new_fd_take(struct ev_loop *l, int fd, struct ttrpc_client **ret,
			     struct wh_err **err)
{
	struct ttrpc_client *c = xnew0(struct ttrpc_client, 1);
	int r;

	c->loop = l;
	c->next_id = 1;
	r = ttrpc_conn_new_take(l, fd, &client_ops, c, &c->conn);
	if (r < 0) {
		free(c);
		return wh_err_set(err, r, "watch ttrpc connection");
	}
	*ret = c;
	return 0;
}

int ttrpc_client_connect(struct ev_loop *l, const char *address, struct ttrpc_client **ret,
			 struct wh_err **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cleanup_close int fd = -EBADF;
	const char *path;
	int r;

	r = ttrpc_socket_path(address, &path, err);
	if (r < 0)
		return r;
	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return wh_err_set(err, errno, "socket for '%s'", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return wh_err_set(err, errno, "connect '%s'", path);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return wh_err_set(err, errno, "connect '%s': set non-blocking", path);
	return ttrpc_client_new_fd_take(l, TAKE_FD(fd), ret, err);
}

struct ttrpc_client *ttrpc_client_free(struct ttrpc_client *c)
{
	if (!c || c->doomed)
		return NULL; /* a second free from a callback the first one runs */
	c->doomed = true;
	c->close_fn = NULL;
	client_enter(c);
	/* Freed while failing calls of a lost connection: the rest fail for the same reason. */
	if (ttrpc_conn_is_closed(c->conn))
		fail_all(c, TTRPC_UNAVAILABLE, "ttrpc: closed");
	else
		fail_all(c, TTRPC_CANCELLED, "ttrpc: client closed");
	ttrpc_conn_close(c->conn, -ECANCELED);
	client_leave(c);
	return NULL;
}

void ttrpc_client_on_close(struct ttrpc_client *c, void (*fn)(struct ttrpc_client *, void *),
			   void *userdata)
{
	c->close_fn = fn;
	c->close_userdata = userdata;
}

bool ttrpc_client_is_connected(const struct ttrpc_client *c)
{
	return !c->doomed && !ttrpc_conn_is_closed(c->conn);
}

unsigned ttrpc_client_n_pending(const struct ttrpc_client *c)
{
	return c->n_pending;
}

static int call_timeout(struct ev_source *t, uint64_t now, void *userdata)
{
	struct pending *p = userdata;
	struct ttrpc_client *c = p->client;

	client_enter(c);
	pending_fail(c, p, TTRPC_DEADLINE_EXCEEDED, "context deadline exceeded");
	client_leave(c);
	return 0;
}

/* Builds and queues the Request frame. */
static int send_request(struct ttrpc_client *c, uint32_t id, const char *service,
			const char *method, const ProtobufCMessage *req,
			const struct ttrpc_call_opts *opts)
{
	Ttrpc__Request env = TTRPC__REQUEST__INIT;
	cleanup_free Ttrpc__KeyValue *kv = NULL;
	cleanup_free Ttrpc__KeyValue **kvp = NULL;
	cleanup_free uint8_t *payload = NULL;
	size_t n = req ? protobuf_c_message_get_packed_size(req) : 0, n_md = 0;

	if (n > TTRPC_MAX_MESSAGE)
		return -EMSGSIZE;
	payload = xmalloc(n ? n : 1);
	if (n)
		protobuf_c_message_pack(req, payload);
	env.service = (char *)service;
	env.method = (char *)method;
	env.payload.data = payload;
	env.payload.len = n;
	if (opts && opts->timeout_ns)
		env.timeout_nano = (int64_t)MIN(opts->timeout_ns, (uint64_t)INT64_MAX);
	while (opts && opts->metadata && opts->metadata[2 * n_md] && opts->metadata[2 * n_md + 1])
		n_md++;
	if (n_md > 0) {
		kv = xnew0(Ttrpc__KeyValue, n_md);
		kvp = xnew0(Ttrpc__KeyValue *, n_md);
		for (size_t i = 0; i < n_md; i++) {
			ttrpc__key_value__init(&kv[i]);
			kv[i].key = (char *)opts->metadata[2 * i];
			kv[i].value = (char *)opts->metadata[2 * i + 1];
			kvp[i] = &kv[i];
		}
		env.n_metadata = n_md;
		env.metadata = kvp;
	}
	return ttrpc_conn_send(c->conn, id, TTRPC_TYPE_REQUEST, &env.base);
}

int ttrpc_client_call_async(struct ttrpc_client *c, const char *service, const char *method,
			    const ProtobufCMessage *req,
			    const ProtobufCMessageDescriptor *resp_desc,
			    const struct ttrpc_call_opts *opts, ttrpc_reply_fn *cb, void *userdata,
			    struct wh_err **err)
{
	struct pending *p;
	uint32_t id;
	int r;

	if (c->doomed || ttrpc_conn_is_closed(c->conn))
		return wh_err_setx(err, ENOTCONN, "call %s/%s: ttrpc: closed", service, method);
	if (c->n_pending >= MAX_PENDING)
		return wh_err_setx(err, EAGAIN, "call %s/%s: too many calls in flight", service,
				   method);
	if (c->next_id >= UINT32_MAX - 1)
		return wh_err_setx(err, EOVERFLOW, "call %s/%s: stream ids exhausted", service,
				   method);
	id = c->next_id;
	r = send_request(c, id, service, method, req, opts);
	if (r == -EMSGSIZE)
		return wh_err_setx(err, EMSGSIZE,
				   "call %s/%s: request exceeds maximum message size of %u",
				   service, method, TTRPC_MAX_MESSAGE);
	if (r < 0)
		return wh_err_set(err, r, "call %s/%s", service, method);
	c->next_id += 2;
	p = xnew0(struct pending, 1);
	p->client = c;
	p->stream_id = id;
	p->resp_desc = resp_desc;
	p->cb = cb;
	p->userdata = userdata;
	p->prev = c->tail;
	if (c->tail)
		c->tail->next = p;
	else
		c->head = p;
	c->tail = p;
	c->n_pending++;
	if (opts && opts->timeout_ns) {
		r = ev_add_timer(c->loop, &p->timer, now_mono_ns() + opts->timeout_ns, call_timeout,
				 p);
		if (r < 0)
			log_debug_errno(r, "ttrpc: no timer for call %s/%s", service, method);
	}
	return (int)MIN(id, (uint32_t)INT32_MAX);
}

struct sync_state {
	bool done;
	int code;
	char *message;
	ProtobufCMessage *msg;
};

static void sync_reply(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct sync_state *st = userdata;

	st->done = true;
	st->code = reply->code;
	st->message = xstrdup(reply->message ? reply->message : "");
	st->msg = TAKE_PTR(reply->msg);
}

int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
		      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		      const struct ttrpc_call_opts *opts, ProtobufCMessage **ret_resp,
		      struct wh_err **err)
{
	struct sync_state st = {0};
	cleanup_free char *msg = NULL;
	int r, id;

	id = ttrpc_client_call_async(c, service, method, req, resp_desc, opts, sync_reply, &st,
				     err);
	if (id < 0)
		return id;
	while (!st.done) {
		r = ev_loop_run_once(c->loop, UINT64_MAX);
		if (r < 0 || (!st.done && ev_loop_is_exiting(c->loop))) {
			struct pending *p = pending_find(c, (uint32_t)id);

			/* Detach our stack state before giving up. */
			if (p)
				pending_fail(c, p, TTRPC_CANCELLED, "loop stopped");
			free(st.message);
			if (st.msg)
				protobuf_c_message_free_unpacked(st.msg, NULL);
			return wh_err_set(err, r < 0 ? r : -ECANCELED, "call %s/%s", service,
					  method);
		}
	}
	msg = st.message;
	if (st.code != TTRPC_OK)
		return wh_err_setx(err, ttrpc_errno_from_code(st.code), "%s", msg);
	*ret_resp = st.msg;
	return 0;
}

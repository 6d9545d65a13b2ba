/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ttrpc server: listeners on socket files, the peer credential check, connections, the
 * service/method table over protobuf-c descriptors, calls answered now or later, deadlines from
 * timeout_nano, and a clean shutdown. Error answers follow Go ttrpc 1.1.1 (PROTOCOLS.md §1.6).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/common.h"
#include "proto/google/rpc/status.pb-c.h"
#include "ttrpc/internal.h"

#define MAX_CONNECTIONS 4096
#define MAX_CALLS_PER_CONN 4096
#define ACCEPT_PER_WAKEUP 32

struct service {
	const ProtobufCServiceDescriptor *desc;
	ttrpc_handler_fn **handlers; /* desc->n_methods entries, NULL = unimplemented */
	void *userdata;
};

struct listener {
	int fd;
	struct ev_source *src;
	char *path; /* the socket file we created, removed on close */
	dev_t dev;
	ino_t ino;
	struct ttrpc_server *srv;
};

struct sconn {
	struct ttrpc_server *srv;
	struct ttrpc_conn *conn;
	struct sconn *next, *prev;
	struct ttrpc_call *calls;
	unsigned n_calls;
};

struct ttrpc_call {
	struct sconn *sc; /* NULL once cancelled by connection loss */
	struct ttrpc_call *next, *prev;
	uint32_t stream_id;
	Ttrpc__Request *req;
	ProtobufCMessage *msg;
	const ProtobufCMethodDescriptor *method;
	uint64_t deadline;
	struct ev_source *timer;
	bool cancelled;
	bool in_handler;
	bool answered;
	void (*cancel_fn)(struct ttrpc_call *, void *);
	void *cancel_userdata;
};

struct ttrpc_server {
	struct ev_loop *loop;
	struct service *services;
	size_t n_services;
	struct listener *listeners;
	size_t n_listeners;
	struct sconn *conns;
	unsigned n_conns;
	bool peer_check;
	bool shutting_down;
	struct ev_source *shutdown_check;
	void (*done)(struct ttrpc_server *, void *);
	void *done_userdata;
};

static void server_check_shutdown(struct ttrpc_server *s);

/* ---- calls ---- */

static void call_cancel(struct ttrpc_call *call)
{
	if (call->cancelled)
		return;
	call->cancelled = true;
	call->timer = ev_source_disable_unref(call->timer);
	if (call->cancel_fn)
		call->cancel_fn(call, call->cancel_userdata);
}

static void call_unlink(struct ttrpc_call *call)
{
	struct sconn *sc = call->sc;

	if (!sc)
		return;
	if (call->prev)
		call->prev->next = call->next;
	else
		sc->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->next = call->prev = NULL;
	sc->n_calls--;
	call->sc = NULL;
}

static void call_free(struct ttrpc_call *call)
{
	struct ttrpc_server *srv = call->sc ? call->sc->srv : NULL;

	call_unlink(call);
	call->timer = ev_source_disable_unref(call->timer);
	if (call->msg)
		protobuf_c_message_free_unpacked(call->msg, NULL);
	if (call->req)
		ttrpc__request__free_unpacked(call->req, NULL);
	free(call);
	if (srv && srv->shutting_down)
		server_check_shutdown(srv);
}

/* Marks the call answered; frees it unless its handler is still running. */
static void call_finish(struct ttrpc_call *call)
{
	call->answered = true;
	if (!call->in_handler)
		call_free(call);
}

static bool call_can_send(struct ttrpc_call *call)
{
	wh_assert(!call->answered);
	return !call->cancelled && call->sc && !ttrpc_conn_is_closed(call->sc->conn);
}

int ttrpc_call_reply(struct ttrpc_call *call, const ProtobufCMessage *resp)
{
	int r = 0;

	if (call_can_send(call)) {
		wh_assert(!resp || resp->descriptor == call->method->output);
		r = ttrpc_conn_send_response(call->sc->conn, call->stream_id, resp);
		if (r == -EMSGSIZE) {
			cleanup_free char *m = xasprintf(
				"response of %zu bytes exceeds maximum message size of %u",
				protobuf_c_message_get_packed_size(resp), TTRPC_MAX_MESSAGE);

			r = ttrpc_conn_send_status(call->sc->conn, call->stream_id,
						   TTRPC_RESOURCE_EXHAUSTED, m);
		}
	}
	call_finish(call);
	return r;
}

static int call_reply_status(struct ttrpc_call *call, int code, const char *msg)
{
	int r = 0;

	if (code == TTRPC_OK)
		code = TTRPC_UNKNOWN; /* an error answer is never OK */
	if (call_can_send(call))
		r = ttrpc_conn_send_status(call->sc->conn, call->stream_id, code, msg);
	call_finish(call);
	return r;
}

int ttrpc_call_reply_error(struct ttrpc_call *call, int code, const char *fmt, ...)
{
	cleanup_free char *m = NULL;
	va_list ap;

	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	return call_reply_status(call, code, m);
}

int ttrpc_call_reply_err(struct ttrpc_call *call, int r, const struct wh_err *e)
{
	const char *m = e ? wh_err_msg(e) : strerror(abs(r));

	return call_reply_status(call, ttrpc_code_from_errno(e ? e->code : r), m);
}

const char *ttrpc_call_metadata(const struct ttrpc_call *call, const char *key)
{
	for (size_t i = 0; i < call->req->n_metadata; i++)
		if (call->req->metadata[i]->key && streq(call->req->metadata[i]->key, key))
			return call->req->metadata[i]->value;
	return NULL;
}

const Ttrpc__Request *ttrpc_call_request(const struct ttrpc_call *call)
{
	return call->req;
}

uint64_t ttrpc_call_deadline(const struct ttrpc_call *call)
{
	return call->deadline;
}

bool ttrpc_call_is_cancelled(const struct ttrpc_call *call)
{
	return call->cancelled;
}

void ttrpc_call_on_cancel(struct ttrpc_call *call, void (*fn)(struct ttrpc_call *, void *),
			  void *userdata)
{
	call->cancel_fn = fn;
	call->cancel_userdata = userdata;
}

static int call_deadline(struct ev_source *t, uint64_t now, void *userdata)
{
	struct ttrpc_call *call = userdata;

	/* Go handlers see their context expire and answer with its error. */
	if (call->sc && !ttrpc_conn_is_closed(call->sc->conn))
		(void)ttrpc_conn_send_status(call->sc->conn, call->stream_id,
					     TTRPC_DEADLINE_EXCEEDED, "context deadline exceeded");
	call_cancel(call);
	return 0;
}

/* ---- request dispatch ---- */

static const struct service *find_service(struct ttrpc_server *s, const char *name)
{
	for (size_t i = 0; i < s->n_services; i++)
		if (streq(s->services[i].desc->name, name))
			return &s->services[i];
	return NULL;
}

static int find_method(const struct service *svc, const char *name)
{
	for (unsigned i = 0; i < svc->desc->n_methods; i++)
		if (streq(svc->desc->methods[i].name, name))
			return (int)i;
	return -1;
}

static void start_call(struct sconn *sc, struct ttrpc_call *call, const struct service *svc,
		       ttrpc_handler_fn *fn)
{
	int r;

	call->sc = sc;
	call->next = sc->calls;
	if (sc->calls)
		sc->calls->prev = call;
	sc->calls = call;
	sc->n_calls++;
	if (call->req->timeout_nano > 0) {
		call->deadline = now_mono_ns() + (uint64_t)call->req->timeout_nano;
		if (ev_add_timer(sc->srv->loop, &call->timer, call->deadline, call_deadline,
				 call) == 0)
			ev_source_set_description(call->timer, "ttrpc call deadline");
	}
	call->in_handler = true;
	r = fn(call, call->msg, svc->userdata);
	call->in_handler = false;
	if (!call->answered && r < 0)
		(void)ttrpc_call_reply_err(call, r, NULL);
	else if (call->answered)
		call_free(call);
}

static void handle_request(struct sconn *sc, const struct ttrpc_frame *f)
{
	struct ttrpc_conn *c = sc->conn;
	cleanup_err struct wh_err *e = NULL;
	struct ttrpc_call *call;
	const struct service *svc;
	int m;

	call = xnew0(struct ttrpc_call, 1);
	call->stream_id = f->stream_id;
	if (ttrpc_request_decode(f->data, f->length, &call->req, &e) < 0) {
		(void)ttrpc_conn_send_status(c, f->stream_id, TTRPC_INVALID_ARGUMENT,
					     wh_err_msg(e));
		goto out_free;
	}
	if (f->stream_id % 2 != 1) {
		(void)ttrpc_conn_send_status(c, f->stream_id, TTRPC_INVALID_ARGUMENT,
					     "StreamID must be odd for client initiated streams");
		goto out_free;
	}
	if (sc->srv->shutting_down) {
		(void)ttrpc_conn_send_status(c, f->stream_id, TTRPC_UNAVAILABLE,
					     "ttrpc: server closed");
		goto out_free;
	}
	if (sc->n_calls >= MAX_CALLS_PER_CONN) {
		(void)ttrpc_conn_send_status(c, f->stream_id, TTRPC_RESOURCE_EXHAUSTED,
					     "too many requests in flight on this connection");
		goto out_free;
	}
	svc = find_service(sc->srv, call->req->service ? call->req->service : "");
	if (!svc) {
		cleanup_free char *msg = xasprintf("service %s", call->req->service);

		(void)ttrpc_conn_send_status(c, f->stream_id, TTRPC_UNIMPLEMENTED, msg);
		goto out_free;
	}
	m = find_method(svc, call->req->method ? call->req->method : "");
	if (m < 0 || !svc->handlers[m]) {
		cleanup_free char *msg = xasprintf("method %s", call->req->method);

		(void)ttrpc_conn_send_status(c, f->stream_id, TTRPC_UNIMPLEMENTED, msg);
		goto out_free;
	}
	call->method = &svc->desc->methods[m];
	if (ttrpc_payload_decode(call->method->input, call->req->payload.data,
				 call->req->payload.len, &call->msg, &e) < 0) {
		cleanup_free char *msg = xasprintf("ttrpc: %s", wh_err_msg(e));

		(void)ttrpc_conn_send_status(c, f->stream_id, TTRPC_INTERNAL, msg);
		goto out_free;
	}
	start_call(sc, call, svc, svc->handlers[m]);
	return;
out_free:
	call_free(call);
}

static void sconn_on_frame(struct ttrpc_conn *c, const struct ttrpc_frame *f, void *userdata)
{
	struct sconn *sc = userdata;

	if (f->oversize) {
		cleanup_free char *m = ttrpc_oversize_message(f->length);

		/* Go ttrpc answers on that stream whatever the frame's type was. */
		(void)ttrpc_conn_send_status(c, f->stream_id, TTRPC_RESOURCE_EXHAUSTED, m);
		return;
	}
	if (f->type != TTRPC_TYPE_REQUEST)
		return; /* 1.1.1 ignores other types (1.2 Data frames included) */
	handle_request(sc, f);
}

static void sconn_on_close(struct ttrpc_conn *c, int error, void *userdata)
{
	struct sconn *sc = userdata;
	struct ttrpc_server *s = sc->srv;

	if (error < 0)
		log_debug_errno(error, "ttrpc connection closed: %s", strerror(-error));
	while (sc->calls) {
		struct ttrpc_call *call = sc->calls;

		call_unlink(call);
		call_cancel(call);
	}
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		s->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	s->n_conns--;
	/* A listener paused on EMFILE may accept again. */
	for (size_t i = 0; i < s->n_listeners; i++)
		if (s->listeners[i].src && !s->shutting_down)
			(void)ev_source_set_enabled(s->listeners[i].src, EV_ON);
	ttrpc_conn_unref(sc->conn);
	free(sc);
	if (s->shutting_down)
		server_check_shutdown(s);
}

static const struct ttrpc_conn_ops sconn_ops = {
	.on_frame = sconn_on_frame,
	.on_close = sconn_on_close,
};

static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == geteuid() && cred.gid == getegid();
}

int ttrpc_server_add_conn_fd_take(struct ttrpc_server *s, int fd, struct wh_err **err)
{
	struct sconn *sc;
	int r;

	if (s->n_conns >= MAX_CONNECTIONS) {
		wh_close(fd);
		return wh_err_setx(err, EMFILE, "too many ttrpc connections (%d)", MAX_CONNECTIONS);
	}
	sc = xnew0(struct sconn, 1);
	sc->srv = s;
	r = ttrpc_conn_new_take(s->loop, fd, &sconn_ops, sc, &sc->conn);
	if (r < 0) {
		free(sc);
		return wh_err_set(err, r, "watch ttrpc connection");
	}
	sc->next = s->conns;
	if (s->conns)
		s->conns->prev = sc;
	s->conns = sc;
	s->n_conns++;
	return 0;
}

static int listener_io(struct ev_source *src, int fd, uint32_t revents, void *userdata)
{
	struct listener *li = userdata;
	struct ttrpc_server *s = li->srv;

	for (int i = 0; i < ACCEPT_PER_WAKEUP; i++) {
		cleanup_err struct wh_err *e = NULL;
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				/* Level-triggered: pause until a connection closes. */
				log_warn_errno(-errno, "ttrpc accept: %s, pausing",
					       strerror(errno));
				return ev_source_set_enabled(src, EV_OFF);
			}
			return 0;
		}
		if (s->peer_check && !peer_allowed(cfd)) {
			log_debug("ttrpc: refused a peer with other credentials");
			wh_close(cfd);
			continue;
		}
		if (ttrpc_server_add_conn_fd_take(s, cfd, &e) < 0)
			log_warn("ttrpc: %s, ignoring", wh_err_msg(e));
	}
	return 0;
}

/* ---- listeners ---- */

static void listener_close(struct listener *li)
{
	struct stat st;

	li->src = ev_source_disable_unref(li->src);
	/* Remove the file only if it is still the socket we bound. */
	if (li->path && stat(li->path, &st) == 0 && st.st_dev == li->dev && st.st_ino == li->ino)
		(void)unlink(li->path);
	li->fd = wh_close(li->fd);
	free(li->path);
	li->path = NULL;
}

static int add_listener(struct ttrpc_server *s, int fd, const char *path, struct wh_err **err)
{
	struct listener *li;
	struct stat st;
	int r;

	/* Listener records are pointed at by their sources: allocate once, never move. */
	if (s->n_listeners >= 8) {
		wh_close(fd);
		return wh_err_setx(err, EMFILE, "too many ttrpc listeners");
	}
	if (!s->listeners)
		s->listeners = xnew0(struct listener, 8);
	li = &s->listeners[s->n_listeners];
	*li = (struct listener){.fd = fd, .srv = s};
	if (path && stat(path, &st) == 0) {
		li->path = xstrdup(path);
		li->dev = st.st_dev;
		li->ino = st.st_ino;
	}
	r = ev_add_io(s->loop, &li->src, fd, EPOLLIN, listener_io, li);
	if (r < 0) {
		listener_close(li);
		return wh_err_set(err, r, "watch ttrpc listener");
	}
	ev_source_set_description(li->src, "ttrpc listener");
	s->n_listeners++;
	return 0;
}

int ttrpc_server_listen_fd_take(struct ttrpc_server *s, int fd, struct wh_err **err)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0) {
		int r = wh_err_set(err, errno, "listener fd %d", fd);

		wh_close(fd);
		return r;
	}
	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int r = wh_err_set(err, errno, "listener fd %d", fd);

		wh_close(fd);
		return r;
	}
	return add_listener(s, fd, NULL, err);
}

/* True when something accepts connections at path. */
static bool socket_alive(const struct sockaddr_un *sa)
{
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return true; /* cannot tell: do not remove */
	return connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno != ECONNREFUSED;
}

int ttrpc_server_listen(struct ttrpc_server *s, const char *address, unsigned mode,
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
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return wh_err_set(err, errno, "socket for '%s'", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EADDRINUSE)
			return wh_err_set(err, errno, "bind '%s'", path);
		if (socket_alive(&sa))
			return wh_err_setx(err, EADDRINUSE,
					   "bind '%s': a server is listening there", path);
		(void)unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return wh_err_set(err, errno, "bind '%s'", path);
	}
	if (chmod(path, mode) < 0) {
		r = wh_err_set(err, errno, "chmod '%s'", path);
		(void)unlink(path);
		return r;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		r = wh_err_set(err, errno, "listen '%s'", path);
		(void)unlink(path);
		return r;
	}
	r = add_listener(s, TAKE_FD(fd), path, err);
	if (r < 0)
		(void)unlink(path);
	return r;
}

/* ---- server ---- */

int ttrpc_server_new(struct ev_loop *l, struct ttrpc_server **ret, struct wh_err **err)
{
	struct ttrpc_server *s = xnew0(struct ttrpc_server, 1);

	s->loop = l;
	s->peer_check = true;
	*ret = s;
	return 0;
}

void ttrpc_server_set_peer_check(struct ttrpc_server *s, bool on)
{
	s->peer_check = on;
}

unsigned ttrpc_server_n_connections(const struct ttrpc_server *s)
{
	return s->n_conns;
}

int ttrpc_server_register(struct ttrpc_server *s, const ProtobufCServiceDescriptor *desc,
			  const struct ttrpc_method *handlers, void *userdata, struct wh_err **err)
{
	struct service svc = {.desc = desc, .userdata = userdata};

	if (find_service(s, desc->name))
		return wh_err_setx(err, EEXIST, "service '%s' already registered", desc->name);
	svc.handlers = xnew0(ttrpc_handler_fn *, desc->n_methods ? desc->n_methods : 1);
	for (const struct ttrpc_method *m = handlers; m && m->name; m++) {
		const struct service tmp = {.desc = desc};
		int i = find_method(&tmp, m->name);

		if (i < 0) {
			free(svc.handlers);
			return wh_err_setx(err, EINVAL, "service '%s' has no method '%s'",
					   desc->name, m->name);
		}
		svc.handlers[i] = m->handler;
	}
	s->services = xrealloc(s->services, (s->n_services + 1) * sizeof(*s->services));
	s->services[s->n_services++] = svc;
	return 0;
}

/* From the loop: closes idle connections once their answers flushed, then reports completion. */
static int shutdown_check_cb(struct ev_source *src, void *userdata)
{
	struct ttrpc_server *s = userdata;
	struct ttrpc_conn **idle = xnew0(struct ttrpc_conn *, s->n_conns + 1);
	size_t n = 0;

	/* Collect first: closing runs sconn_on_close, which edits the list. */
	for (struct sconn *sc = s->conns; sc; sc = sc->next)
		if (sc->n_calls == 0)
			idle[n++] = ttrpc_conn_ref(sc->conn);
	for (size_t i = 0; i < n; i++) {
		ttrpc_conn_close_when_drained(idle[i]);
		ttrpc_conn_unref(idle[i]);
	}
	free(idle);
	if (s->n_conns == 0 && s->done) {
		void (*done)(struct ttrpc_server *, void *) = s->done;

		s->done = NULL;
		done(s, s->done_userdata);
	}
	return 0;
}

static void server_check_shutdown(struct ttrpc_server *s)
{
	if (s->shutdown_check)
		(void)ev_source_set_enabled(s->shutdown_check, EV_ONESHOT);
}

void ttrpc_server_shutdown(struct ttrpc_server *s, void (*done)(struct ttrpc_server *, void *),
			   void *userdata)
{
	s->shutting_down = true;
	s->done = done;
	s->done_userdata = userdata;
	for (size_t i = 0; i < s->n_listeners; i++)
		listener_close(&s->listeners[i]);
	if (!s->shutdown_check &&
	    ev_add_defer(s->loop, &s->shutdown_check, shutdown_check_cb, s) == 0)
		ev_source_set_description(s->shutdown_check, "ttrpc server shutdown");
	server_check_shutdown(s);
}

struct ttrpc_server *ttrpc_server_free(struct ttrpc_server *s)
{
	if (!s)
		return NULL;
	s->done = NULL;
	s->shutting_down = true;
	s->shutdown_check = ev_source_disable_unref(s->shutdown_check);
	for (size_t i = 0; i < s->n_listeners; i++)
		listener_close(&s->listeners[i]);
	while (s->conns)
		ttrpc_conn_close(s->conns->conn, -ECANCELED);
	for (size_t i = 0; i < s->n_services; i++)
		free(s->services[i].handlers);
	free(s->services);
	free(s->listeners);
	free(s);
	return NULL;
}

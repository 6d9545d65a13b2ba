/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One ttrpc connection on the event loop: bounded non-blocking reads into an input buffer that
 * is cut into frames (oversize frames skipped), and a write queue flushed eagerly, with a
 * high-water mark that pauses reading from a peer that does not read its answers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include "common/common.h"
#include "ttrpc/internal.h"

#define READ_CHUNK (64u << 10)
#define KEEP_BUFFER (256u << 10) /* larger idle buffers are released (shim memory) */
#define MAX_STATUS_MESSAGE (64u << 10)

struct ttrpc_conn {
	unsigned n_ref;
	int fd;
	struct ev_source *io;
	const struct ttrpc_conn_ops *ops;
	void *userdata;
	uint8_t *in;
	size_t in_len, in_cap;
	uint64_t discard; /* bytes of an oversize frame still to skip */
	uint8_t *out;
	size_t out_len, out_cap, out_pos;
	int write_error;
	bool closed;
	bool close_when_drained;
};

static void conn_update_events(struct ttrpc_conn *c)
{
	size_t pending = c->out_len - c->out_pos;
	uint32_t ev = 0;

	if (c->closed)
		return;
	if (pending <= TTRPC_WRITE_HIGH_WATER)
		ev |= EPOLLIN;
	if (pending > 0 || c->write_error)
		ev |= EPOLLOUT;
	(void)ev_source_set_io_events(c->io, ev);
}

/* Writes what the socket takes. Errors are recorded and acted on from the io callback. */
static void conn_flush(struct ttrpc_conn *c)
{
	while (!c->write_error && c->out_pos < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				c->write_error = -errno;
			break;
		}
		c->out_pos += (size_t)n;
	}
	if (c->out_pos == c->out_len) {
		c->out_pos = c->out_len = 0;
		if (c->out_cap > KEEP_BUFFER) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
	}
	conn_update_events(c);
}

static void conn_compact_out(struct ttrpc_conn *c)
{
	if (c->out_pos > 0 && c->out_pos >= c->out_len / 2) {
		memmove(c->out, c->out + c->out_pos, c->out_len - c->out_pos);
		c->out_len -= c->out_pos;
		c->out_pos = 0;
	}
}

int ttrpc_conn_send(struct ttrpc_conn *c, uint32_t stream_id, uint8_t type,
		    const ProtobufCMessage *msg)
{
	int r;

	if (c->closed)
		return -ENOTCONN;
	conn_compact_out(c);
	r = ttrpc_frame_append(&c->out, &c->out_len, &c->out_cap, stream_id, type, 0, msg);
	if (r < 0)
		return r;
	conn_flush(c);
	return 0;
}

int ttrpc_conn_send_response(struct ttrpc_conn *c, uint32_t stream_id, const ProtobufCMessage *msg)
{
	int r;

	if (c->closed)
		return -ENOTCONN;
	conn_compact_out(c);
	r = ttrpc_frame_append_response(&c->out, &c->out_len, &c->out_cap, stream_id, msg);
	if (r < 0)
		return r;
	conn_flush(c);
	return 0;
}

int ttrpc_conn_send_status(struct ttrpc_conn *c, uint32_t stream_id, int code, const char *msg)
{
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	cleanup_free char *cut = NULL;

	/* A status message must never make the answer itself oversize. */
	if (strlen(msg) > MAX_STATUS_MESSAGE) {
		cut = xstrndup(msg, MAX_STATUS_MESSAGE);
		msg = cut;
	}
	st.code = code;
	st.message = (char *)msg;
	resp.status = &st;
	return ttrpc_conn_send(c, stream_id, TTRPC_TYPE_RESPONSE, &resp.base);
}

/* Cuts complete frames off the input buffer and hands them out. */
static void conn_parse(struct ttrpc_conn *c)
{
	size_t pos = 0;

	while (!c->closed) {
		struct ttrpc_frame f;
		size_t k;

		/* Above the mark, buffered requests wait too: their answers would pile up. */
		if (c->out_len - c->out_pos > TTRPC_WRITE_HIGH_WATER)
			break;
		if (c->discard > 0) {
			size_t d = (size_t)MIN(c->discard, (uint64_t)(c->in_len - pos));

			pos += d;
			c->discard -= d;
			if (c->discard > 0)
				break;
			continue;
		}
		k = ttrpc_frame_parse(c->in + pos, c->in_len - pos, &f);
		if (k == 0)
			break;
		pos += k;
		if (f.oversize)
			c->discard = f.length;
		c->ops->on_frame(c, &f, c->userdata);
	}
	if (c->closed)
		return;
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	if (c->in_len == 0 && c->in_cap > KEEP_BUFFER) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

static void conn_read(struct ttrpc_conn *c)
{
	size_t total = 0;

	while (!c->closed && total < TTRPC_READ_PER_WAKEUP) {
		size_t room;
		ssize_t n;

		xgrow((void **)&c->in, &c->in_cap, c->in_len + READ_CHUNK, 1);
		room = c->in_cap - c->in_len;
		n = read(c->fd, c->in + c->in_len, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				ttrpc_conn_close(c, -errno);
			return;
		}
		if (n == 0) {
			ttrpc_conn_close(c, 0);
			return;
		}
		total += (size_t)n;
		c->in_len += (size_t)n;
		conn_parse(c);
		if (c->out_len - c->out_pos > TTRPC_WRITE_HIGH_WATER)
			return; /* paused: conn_update_events dropped EPOLLIN */
		/* A short read drained the socket: skip the read that would say EAGAIN. */
		if ((size_t)n < room)
			return;
	}
}

static int conn_io(struct ev_source *s, int fd, uint32_t revents, void *userdata)
{
	struct ttrpc_conn *c = ttrpc_conn_ref(userdata);

	if (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		conn_flush(c);
	if (!c->closed && c->write_error)
		ttrpc_conn_close(c, c->write_error);
	/* Frames left buffered while paused are handled before reading more. */
	if (!c->closed && c->in_len > 0 && c->out_len - c->out_pos <= TTRPC_WRITE_HIGH_WATER)
		conn_parse(c);
	if (!c->closed && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
	    c->out_len - c->out_pos <= TTRPC_WRITE_HIGH_WATER)
		conn_read(c);
	if (!c->closed && c->close_when_drained && c->out_len == c->out_pos)
		ttrpc_conn_close(c, 0);
	ttrpc_conn_unref(c);
	return 0;
}

int ttrpc_conn_new_take(struct ev_loop *l, int fd, const struct ttrpc_conn_ops *ops, void *userdata,
			struct ttrpc_conn **ret)
{
	struct ttrpc_conn *c = xnew0(struct ttrpc_conn, 1);
	int r;

	c->n_ref = 1;
	c->fd = fd;
	c->ops = ops;
	c->userdata = userdata;
	r = ev_add_io(l, &c->io, fd, EPOLLIN, conn_io, c);
	if (r < 0) {
		wh_close(fd);
		free(c);
		return r;
	}
	ev_source_set_description(c->io, "ttrpc connection");
	*ret = c;
	return 0;
}

struct ttrpc_conn *ttrpc_conn_ref(struct ttrpc_conn *c)
{
	c->n_ref++;
	return c;
}

struct ttrpc_conn *ttrpc_conn_unref(struct ttrpc_conn *c)
{
	if (!c || --c->n_ref > 0)
		return NULL;
	c->io = ev_source_unref(c->io);
	wh_close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	return NULL;
}

void ttrpc_conn_close(struct ttrpc_conn *c, int error)
{
	if (c->closed)
		return;
	c->closed = true;
	c->io = ev_source_disable_unref(c->io);
	/* shutdown() rather than close(): the fd number stays ours until the last unref. */
	(void)shutdown(c->fd, SHUT_RDWR);
	ttrpc_conn_ref(c);
	c->ops->on_close(c, error, c->userdata);
	ttrpc_conn_unref(c);
}

void ttrpc_conn_close_when_drained(struct ttrpc_conn *c)
{
	if (c->closed)
		return;
	if (c->out_len == c->out_pos) {
		ttrpc_conn_close(c, 0);
		return;
	}
	c->close_when_drained = true;
}

bool ttrpc_conn_is_closed(const struct ttrpc_conn *c)
{
	return c->closed;
}

int ttrpc_conn_fd(const struct ttrpc_conn *c)
{
	return c->fd;
}

size_t ttrpc_conn_out_pending(const struct ttrpc_conn *c)
{
	return c->out_len - c->out_pos;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to ttrpc/: the buffered connection both the server and the client sit on, and frame
 * helpers they share. Tests may include it; other folders may not.
 */
#pragma once

#include "ttrpc/ttrpc.h"

/* Reading from the peer pauses while more than this many bytes wait to be written. */
#define TTRPC_WRITE_HIGH_WATER (8u << 20)
/* Bytes read per wakeup at most, so one busy peer cannot starve the loop. */
#define TTRPC_READ_PER_WAKEUP (256u << 10)

struct ttrpc_conn;

struct ttrpc_conn_ops {
	/* One parsed frame; f->data is valid during the call only. Oversize frames have no data. */
	void (*on_frame)(struct ttrpc_conn *c, const struct ttrpc_frame *f, void *userdata);
	/* Called once, when the connection closes: error 0 on EOF, else a negative errno. */
	void (*on_close)(struct ttrpc_conn *c, int error, void *userdata);
};

/* Wraps a connected non-blocking socket; takes fd even on error. ops and userdata are borrowed. */
int ttrpc_conn_new_take(struct ev_loop *l, int fd, const struct ttrpc_conn_ops *ops, void *userdata,
			struct ttrpc_conn **ret);
struct ttrpc_conn *ttrpc_conn_ref(struct ttrpc_conn *c);
struct ttrpc_conn *ttrpc_conn_unref(struct ttrpc_conn *c);
/* Queues a frame holding msg (NULL: no data) and writes what the socket takes now. */
int ttrpc_conn_send(struct ttrpc_conn *c, uint32_t stream_id, uint8_t type,
		    const ProtobufCMessage *msg);
/* Queues a successful Response frame whose payload is msg (NULL or empty: zero-length data). */
int ttrpc_conn_send_response(struct ttrpc_conn *c, uint32_t stream_id, const ProtobufCMessage *msg);
/* Queues an error Response frame. */
int ttrpc_conn_send_status(struct ttrpc_conn *c, uint32_t stream_id, int code, const char *msg);
/* Closes at once (idempotent); on_close runs from here the first time. */
void ttrpc_conn_close(struct ttrpc_conn *c, int error);
/* Closes once everything queued is written (at once when nothing is). */
void ttrpc_conn_close_when_drained(struct ttrpc_conn *c);
bool ttrpc_conn_is_closed(const struct ttrpc_conn *c);
int ttrpc_conn_fd(const struct ttrpc_conn *c);
size_t ttrpc_conn_out_pending(const struct ttrpc_conn *c);

/* Appends a Response frame with payload msg, encoded by hand to avoid a second copy. */
int ttrpc_frame_append_response(uint8_t **buf, size_t *len, size_t *cap, uint32_t stream_id,
				const ProtobufCMessage *msg);
/* The message Go ttrpc sends for an oversize frame. Caller frees. */
char *ttrpc_oversize_message(uint32_t length);

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttrpc 1.1 (containerd's framed protobuf RPC, PROTOCOLS.md §1): the frame codec, status
 * mapping, a server and a client, both on the common event loop (common/ev.h), unary calls only.
 *
 * Transport: unix stream sockets named by a file path (a leading "unix://" is accepted and
 * stripped); abstract sockets are refused. Every fd is close-on-exec and non-blocking.
 *
 * Limits: a frame carries at most TTRPC_MAX_MESSAGE (4 MiB) of data. A larger incoming frame is
 * discarded and answered (server) or failed (client) on its stream with RESOURCE_EXHAUSTED
 * "message length N exceed maximum message size of 4194304"; the connection survives, as with Go
 * ttrpc. A larger outgoing request is refused with -EMSGSIZE before anything is written; a larger
 * answer is replaced by a RESOURCE_EXHAUSTED status.
 *
 * Ownership: messages passed in are borrowed (packed before the call returns). Decoded messages
 * handed to callbacks belong to the library unless a callback takes them (TAKE_PTR).
 * Nothing here is thread-safe; everything runs on the loop's thread.
 */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/ev.h"
#include "proto/ttrpc/ttrpc.pb-c.h"

#define TTRPC_MAX_MESSAGE (4u << 20)
#define TTRPC_HEADER_SIZE 10u

enum ttrpc_msg_type {
	TTRPC_TYPE_REQUEST = 1,
	TTRPC_TYPE_RESPONSE = 2,
	TTRPC_TYPE_DATA = 3, /* ttrpc >= 1.2 streams; ignored here */
};

/* gRPC status codes, carried as google.rpc.Status.code. */
enum ttrpc_code {
	TTRPC_OK = 0,
	TTRPC_CANCELLED = 1,
	TTRPC_UNKNOWN = 2,
	TTRPC_INVALID_ARGUMENT = 3,
	TTRPC_DEADLINE_EXCEEDED = 4,
	TTRPC_NOT_FOUND = 5,
	TTRPC_ALREADY_EXISTS = 6,
	TTRPC_PERMISSION_DENIED = 7,
	TTRPC_RESOURCE_EXHAUSTED = 8,
	TTRPC_FAILED_PRECONDITION = 9,
	TTRPC_ABORTED = 10,
	TTRPC_OUT_OF_RANGE = 11,
	TTRPC_UNIMPLEMENTED = 12,
	TTRPC_INTERNAL = 13,
	TTRPC_UNAVAILABLE = 14,
	TTRPC_DATA_LOSS = 15,
	TTRPC_UNAUTHENTICATED = 16,
	_TTRPC_CODE_MAX,
};

/* ---- status.c: the one errno <-> gRPC code table (STYLE.md 2.2 item 8) ---- */

/* errno (either sign) -> code; 0 -> OK; unlisted -> UNKNOWN. */
int ttrpc_code_from_errno(int err);
/* code -> positive errno (the inverse of the table); OK -> 0; unlisted -> EIO. */
int ttrpc_errno_from_code(int code);
/* The code's name ("NotFound", ...); out-of-range codes give "Unknown". */
const char *ttrpc_code_name(int code);

/* ---- frame.c: the pure codec ---- */

struct ttrpc_frame {
	uint32_t length; /* data length, excluding the header */
	uint32_t stream_id;
	uint8_t type;
	uint8_t flags;
	bool oversize;	     /* length > TTRPC_MAX_MESSAGE: data is not present */
	const uint8_t *data; /* length bytes, inside the parsed buffer */
};

/* Writes a 10-byte header (big-endian length and stream id, type, flags). */
void ttrpc_header_put(uint8_t out[TTRPC_HEADER_SIZE], uint32_t length, uint32_t stream_id,
		      uint8_t type, uint8_t flags);
/*
 * Parses the frame at the start of buf. Returns 0 when more bytes are needed, else the bytes the
 * frame takes: header + data, or only the header for an oversize frame (ret->oversize; the caller
 * must then skip ret->length more bytes). Never fails: any 10 bytes are a header.
 */
size_t ttrpc_frame_parse(const uint8_t *buf, size_t len, struct ttrpc_frame *ret);
/*
 * Appends a frame holding msg (NULL: empty data) to *buf (grown with xrealloc; *len and *cap
 * track it). -EMSGSIZE if the packed message exceeds TTRPC_MAX_MESSAGE (nothing appended).
 */
int ttrpc_frame_append(uint8_t **buf, size_t *len, size_t *cap, uint32_t stream_id, uint8_t type,
		       uint8_t flags, const ProtobufCMessage *msg);
/* Decodes a Request envelope; -EBADMSG with "unmarshal request error: ..." on garbage. */
int ttrpc_request_decode(const uint8_t *data, size_t len, Ttrpc__Request **ret,
			 struct wh_err **err);
/* Decodes a Response envelope (empty data is a success with no payload). -EBADMSG on garbage. */
int ttrpc_response_decode(const uint8_t *data, size_t len, Ttrpc__Response **ret,
			  struct wh_err **err);
/* Decodes a payload as desc; -EBADMSG "error unmarshalling payload: ..." on failure. */
int ttrpc_payload_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
			 ProtobufCMessage **ret, struct wh_err **err);
/* Strips "unix://"; refuses empty, abstract ("@..." or NUL) and too long (> 107) paths. */
int ttrpc_socket_path(const char *address, const char **ret_path, struct wh_err **err);

/* ---- server.c ---- */

struct ttrpc_server;
struct ttrpc_call;

/*
 * A method handler. req is the decoded request (owned by the call). The handler must answer
 * every call exactly once, now or later, with ttrpc_call_reply() or ttrpc_call_reply_error*():
 * answering frees the call. Returning a negative errno without answering answers for it with
 * that errno's status. Returning >= 0 without answering leaves the call pending (async).
 */
typedef int ttrpc_handler_fn(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata);

struct ttrpc_method {
	const char *name; /* "State" */
	ttrpc_handler_fn *handler;
};

/* Creates a server on loop l (borrowed; must outlive the server). */
int ttrpc_server_new(struct ev_loop *l, struct ttrpc_server **ret, struct wh_err **err);
/*
 * Closes listeners and connections at once; pending calls are cancelled. NULL-safe. Not from a
 * handler or callback of this server (use ttrpc_server_shutdown() there).
 */
struct ttrpc_server *ttrpc_server_free(struct ttrpc_server *s);
/*
 * Registers service desc (e.g. &containerd__task__v2__task__descriptor) with handlers for its
 * methods, a {NULL, NULL}-terminated list (copied). Request and response types come from desc.
 * A method of desc without a handler answers UNIMPLEMENTED. -EEXIST if the service is registered,
 * -EINVAL if a handler names a method desc lacks.
 */
int ttrpc_server_register(struct ttrpc_server *s, const ProtobufCServiceDescriptor *desc,
			  const struct ttrpc_method *handlers, void *userdata, struct wh_err **err);
/*
 * Binds and listens on a socket file at address with the given mode. A stale socket file (nobody
 * listening) is replaced; a live one gives -EADDRINUSE. The file is removed by shutdown/free.
 */
int ttrpc_server_listen(struct ttrpc_server *s, const char *address, unsigned mode,
			struct wh_err **err);
/* Serves an already listening socket (e.g. fd 3 from a shim's parent); takes fd, even on error. */
int ttrpc_server_listen_fd_take(struct ttrpc_server *s, int fd, struct wh_err **err);
/* Serves one connected socket (e.g. a socketpair end); takes fd, even on error. */
int ttrpc_server_add_conn_fd_take(struct ttrpc_server *s, int fd, struct wh_err **err);
/* By default a peer must have the server's euid and egid (SO_PEERCRED), as Go ttrpc requires. */
void ttrpc_server_set_peer_check(struct ttrpc_server *s, bool on);
/*
 * Stops accepting, lets in-flight calls finish and their answers flush, then closes every
 * connection and runs done (may be NULL) from the loop. New requests meanwhile get UNAVAILABLE.
 */
void ttrpc_server_shutdown(struct ttrpc_server *s, void (*done)(struct ttrpc_server *, void *),
			   void *userdata);
unsigned ttrpc_server_n_connections(const struct ttrpc_server *s);

/* Answers with resp (borrowed; of the method's output type). Frees call. */
int ttrpc_call_reply(struct ttrpc_call *call, const ProtobufCMessage *resp);
/* Answers with status code and a message. Frees call. */
__attribute__((format(printf, 3, 4))) int ttrpc_call_reply_error(struct ttrpc_call *call, int code,
								 const char *fmt, ...);
/* Answers with the status of an errno (code via the table) and the error's message. Frees call. */
int ttrpc_call_reply_err(struct ttrpc_call *call, int r, const struct wh_err *e);
/* The first value of metadata key (e.g. "containerd-namespace"), or NULL. */
const char *ttrpc_call_metadata(const struct ttrpc_call *call, const char *key);
const Ttrpc__Request *ttrpc_call_request(const struct ttrpc_call *call);
/* CLOCK_MONOTONIC deadline in ns from timeout_nano, or 0 for none. */
uint64_t ttrpc_call_deadline(const struct ttrpc_call *call);
/* True once the answer can no longer reach the peer (deadline passed, connection gone). */
bool ttrpc_call_is_cancelled(const struct ttrpc_call *call);
/*
 * Runs fn (once) when the call is cancelled: its deadline passes (the peer then gets
 * DEADLINE_EXCEEDED), its connection closes, or the server is freed. The call must still be
 * answered to be freed; the answer is then discarded.
 */
void ttrpc_call_on_cancel(struct ttrpc_call *call, void (*fn)(struct ttrpc_call *, void *),
			  void *userdata);

/* ---- client.c ---- */

struct ttrpc_client;

struct ttrpc_call_opts {
	uint64_t timeout_ns;	     /* 0: none; sent as timeout_nano and enforced locally */
	const char *const *metadata; /* key, value, key, value, ..., NULL */
};

struct ttrpc_reply {
	int code;	       /* TTRPC_OK or a gRPC code */
	const char *message;   /* status message ("" on success) */
	ProtobufCMessage *msg; /* the decoded response on success; take it or it is freed */
};

typedef void ttrpc_reply_fn(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata);

/* Connects (blocking; unix connect does not wait) to address and serves on loop l. */
int ttrpc_client_connect(struct ev_loop *l, const char *address, struct ttrpc_client **ret,
			 struct wh_err **err);
/* Wraps a connected socket; takes fd, even on error. */
int ttrpc_client_new_fd_take(struct ev_loop *l, int fd, struct ttrpc_client **ret,
			     struct wh_err **err);
/*
 * Fails pending calls with CANCELLED (UNAVAILABLE if the connection was already lost; callbacks
 * run from here), closes. NULL-safe. May be called
 * from the client's own callbacks (reply, close), even several times while the first free is
 * failing calls: the memory goes when the outermost callback returns.
 */
struct ttrpc_client *ttrpc_client_free(struct ttrpc_client *c);
/* Runs fn when the connection is lost (after pending calls were failed with UNAVAILABLE). */
void ttrpc_client_on_close(struct ttrpc_client *c, void (*fn)(struct ttrpc_client *, void *),
			   void *userdata);
bool ttrpc_client_is_connected(const struct ttrpc_client *c);
unsigned ttrpc_client_n_pending(const struct ttrpc_client *c);

/*
 * Starts a call of service/method with req; cb runs exactly once on the loop with the reply or a
 * failure (UNAVAILABLE "ttrpc: closed" on connection loss, DEADLINE_EXCEEDED on timeout), never
 * from inside this function. Returns the call's stream id (> 0) or a negative errno: -ENOTCONN,
 * -EMSGSIZE (request over 4 MiB).
 */
int ttrpc_client_call_async(struct ttrpc_client *c, const char *service, const char *method,
			    const ProtobufCMessage *req,
			    const ProtobufCMessageDescriptor *resp_desc,
			    const struct ttrpc_call_opts *opts, ttrpc_reply_fn *cb, void *userdata,
			    struct wh_err **err);
/*
 * Synchronous call: runs the client's loop until the answer or the timeout (opts->timeout_ns).
 * Must not be called from a callback of that loop (use a loop of its own, as the CLI does).
 * On success *ret_resp is the decoded response (free with protobuf_c_message_free_unpacked).
 * A non-OK status returns -errno of its code (the table) with err's message = status message.
 */
int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
		      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		      const struct ttrpc_call_opts *opts, ProtobufCMessage **ret_resp,
		      struct wh_err **err);

static inline void ttrpc_client_freep(struct ttrpc_client **c)
{
	if (*c)
		ttrpc_client_free(*c);
}
static inline void ttrpc_server_freep(struct ttrpc_server **s)
{
	if (*s)
		ttrpc_server_free(*s);
}
#define cleanup_ttrpc_client __attribute__((__cleanup__(ttrpc_client_freep)))
#define cleanup_ttrpc_server __attribute__((__cleanup__(ttrpc_server_freep)))

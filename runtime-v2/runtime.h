/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-v2: the supervisor side of shim v2 (PROTOCOLS.md §2): bundles under
 * <state>/tasks/<ns>/<id>/, resolving a runtime name to a shim binary, the `start` protocol, a
 * task.v2 client on the event loop, the events receiver (Events/Forward on TTRPC_ADDRESS),
 * reconnecting to shims after a restart and cleaning up dead ones with `shim delete`.
 *
 * Ownership: a struct rt_shim is owned by the caller (rt_shim_free). Requests passed in are
 * borrowed; responses handed back belong to the caller (protobuf_c_message_free_unpacked).
 * Everything runs on the loop's thread.
 *
 * Blocking: running a shim binary (`start`, `delete`) blocks the caller until it returns (bounded
 * by rt_config.start_timeout_ns), without running the loop, so rt_shim_start(),
 * rt_shim_delete_binary(), rt_shim_cleanup_dead() and rt_bundle_*() may be called from a loop
 * callback. The sync calls (rt_task_* except rt_task_call_async, rt_shim_connect, rt_shim_shutdown,
 * rt_restore) run the loop until their answer and must not be called from a callback of it: the
 * daemon restores before it starts its loop, then uses rt_task_call_async and
 * rt_shim_shutdown_async.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/ev.h"
#include "proto/events/task.pb-c.h"
#include "proto/google/protobuf/any.pb-c.h"
#include "proto/services/events/ttrpc/v1/events.pb-c.h"
#include "proto/task/v2/shim.pb-c.h"
#include "ttrpc/ttrpc.h"

struct wh_mount_list;

#define RT_TASK_SERVICE "containerd.task.v2.Task"
#define RT_EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"

/* What every shim launch and cleanup needs; strings are borrowed for the runtime's life. */
struct rt_config {
	const char *state_dir;	    /* bundles at <state>/tasks/<ns>/<id>/ */
	const char *shim_dir;	    /* searched before PATH for containerd-shim-*; may be NULL */
	const char *grpc_address;   /* -address given to shims (our API socket) */
	const char *ttrpc_address;  /* TTRPC_ADDRESS: where rt_events serves Forward */
	const char *publish_binary; /* -publish-binary; NULL: our own executable */
	bool debug;		    /* pass -debug to `start` */
	uint64_t start_timeout_ns;  /* bound on `start` and `delete`; 0: 30 s */
};

/* ---- resolve.c ---- */

/*
 * Resolves a runtime name to a shim binary: an absolute path is used as is (must be an executable
 * file); `io.containerd.<name>.<version>` (any dotted name of >= 2 parts) gives
 * `containerd-shim-<name>-<version>`, looked up in shim_dir (may be NULL), then in $PATH.
 * -EINVAL for a malformed name, -ENOENT when no such binary exists. *ret is an absolute path.
 */
int rt_resolve_shim(const char *runtime, const char *shim_dir, char **ret, struct wh_err **err);

/* ---- bundle.c ---- */

/* <state>/tasks/<ns>/<id> (malloc'ed). */
char *rt_bundle_path(const char *state_dir, const char *ns, const char *id);
/*
 * Validates ns and id as containerd identifiers ([A-Za-z0-9]+ joined by . _ -, at most 76 chars).
 * -EINVAL naming the bad one.
 */
int rt_validate_identifier(const char *what, const char *s, struct wh_err **err);
/*
 * Creates the bundle <state>/tasks/<ns>/<id>/ (0700; parents 0711): config.json from spec (the
 * OCI spec JSON bytes, checked to be a JSON object), rootfs/ with mounts performed on it (may be
 * NULL or empty: rootfs stays an empty dir), and the `log` fifo. -EEXIST if the bundle exists.
 * On failure nothing is left behind. *ret_path is the bundle's path.
 */
int rt_bundle_create(const char *state_dir, const char *ns, const char *id, const void *spec,
		     size_t spec_len, const struct wh_mount_list *mounts, char **ret_path,
		     struct wh_err **err);
/*
 * Unmounts everything on rootfs/, then removes the bundle (renamed to .<id> first, so a half
 * removed bundle is never taken for a task). A missing bundle is success.
 */
int rt_bundle_remove(const char *bundle, struct wh_err **err);

/* ---- shim.c: launching and connecting ---- */

struct rt_shim;

struct rt_start_opts {
	const char *ns;
	const char *id;
	const char *runtime; /* "io.containerd.runc.v2", "io.containerd.wharf.v2", or a path */
	const void *spec;    /* OCI config.json bytes */
	size_t spec_len;
	const struct wh_mount_list *mounts;   /* rootfs mounts; NULL: none */
	const Google__Protobuf__Any *options; /* written to the shim's stdin; NULL: empty */
};

/*
 * Creates the bundle, opens its log fifo (relayed line by line to our log as
 * "shim ns=.. id=..: ..."), runs `<shim> -namespace NS -address GRPC -publish-binary BIN -id ID
 * [-debug] start` in it (env TTRPC_ADDRESS, GRPC_ADDRESS, NAMESPACE, MAX_SHIM_VERSION=2; stdin =
 * options), reads the address it prints (a plain address or 1.7's JSON bootstrap), writes
 * shim-binary-path and connects. On any failure the bundle is removed, a shim daemon that did
 * start is told to shut down, and err says what went wrong (the shim's own output included).
 */
int rt_shim_start(struct ev_loop *l, const struct rt_config *cfg, const struct rt_start_opts *o,
		  struct rt_shim **ret, struct wh_err **err);
/*
 * Connects to an already running shim of the bundle (reads its `address` and `shim-binary-path`,
 * reopens its log fifo) and calls Connect. -ENOENT without an address file; -ECONNREFUSED (or
 * another errno) when nobody answers.
 */
int rt_shim_connect(struct ev_loop *l, const struct rt_config *cfg, const char *ns, const char *id,
		    struct rt_shim **ret, struct wh_err **err);
/* Drops the connection (the shim keeps running). NULL-safe; returns NULL. */
struct rt_shim *rt_shim_free(struct rt_shim *s);

const char *rt_shim_bundle(const struct rt_shim *s);
const char *rt_shim_id(const struct rt_shim *s);
const char *rt_shim_namespace(const struct rt_shim *s);
const char *rt_shim_address(const struct rt_shim *s);
const char *rt_shim_binary(const struct rt_shim *s);
struct ttrpc_client *rt_shim_client(const struct rt_shim *s);
/* Runs fn once when the connection to the shim is lost (the shim exited or was killed). */
void rt_shim_on_close(struct rt_shim *s, void (*fn)(struct rt_shim *, void *), void *userdata);
bool rt_shim_is_connected(const struct rt_shim *s);

/* ---- delete.c: `shim delete` and shutdown ---- */

struct rt_delete_result {
	uint32_t pid;
	uint32_t exit_status;
	int64_t exited_at_ns; /* Unix time in ns; 0 if the shim gave none */
};

/*
 * Runs `<shim> -namespace NS -address GRPC -publish-binary BIN -id ID -bundle B delete` in the
 * bundle (as containerd does for a shim that went away) and decodes the DeleteResponse it prints.
 * binary NULL: the bundle's shim-binary-path. Non-zero exit: -EIO with the shim's stderr.
 */
int rt_shim_delete_binary(const struct rt_config *cfg, const char *binary, const char *ns,
			  const char *id, struct rt_delete_result *ret, struct wh_err **err);
/*
 * After the task was deleted: calls Shutdown, waits (up to the start timeout) for the shim to
 * drop the connection, then runs `shim delete` and removes the bundle (§2.7, §7). The shim
 * handle stays valid (disconnected) and must still be freed.
 */
int rt_shim_shutdown(struct rt_shim *s, struct wh_err **err);

/*
 * The same without blocking the loop on the shim's exit: sends Shutdown and returns; when the
 * connection drops, runs `shim delete`, removes the bundle and calls done (from the loop) with
 * 0 or a negative errno and a message (-EBUSY when the shim stays up past the start timeout:
 * tasks left in it). Replaces the handle's on_close hook. The handle must stay alive until done
 * runs.
 */
int rt_shim_shutdown_async(struct rt_shim *s,
			   void (*done)(struct rt_shim *, int r, const char *msg, void *),
			   void *userdata, struct wh_err **err);
/*
 * Cleans up after a shim that died (its connection closed without Shutdown, or it cannot be
 * reached): `shim delete` (which kills what is left of the container and reports its exit),
 * removes a stale socket file and the bundle. *ret gets the DeleteResponse.
 */
int rt_shim_cleanup_dead(const struct rt_config *cfg, const char *ns, const char *id,
			 struct rt_delete_result *ret, struct wh_err **err);

/* ---- task.c: the task.v2 client ---- */

enum rt_method {
	RT_STATE,
	RT_CREATE,
	RT_START,
	RT_DELETE,
	RT_PIDS,
	RT_PAUSE,
	RT_RESUME,
	RT_CHECKPOINT,
	RT_KILL,
	RT_EXEC,
	RT_RESIZE_PTY,
	RT_CLOSE_IO,
	RT_UPDATE,
	RT_WAIT,
	RT_STATS,
	RT_CONNECT,
	RT_SHUTDOWN,
	_RT_METHOD_MAX,
};

const char *rt_method_name(enum rt_method m);

/*
 * Calls method m with req (must be the method's request type: -EINVAL otherwise). cb runs once on
 * the loop with the decoded reply (reply->msg of the method's response type) or a failure.
 * timeout_ns 0: none. Returns the stream id or a negative errno (-ENOTCONN).
 */
int rt_task_call_async(struct rt_shim *s, enum rt_method m, const ProtobufCMessage *req,
		       uint64_t timeout_ns, ttrpc_reply_fn *cb, void *userdata,
		       struct wh_err **err);
/* The same, waiting for the answer (runs the loop). *ret_resp may be NULL to drop it. */
int rt_task_call(struct rt_shim *s, enum rt_method m, const ProtobufCMessage *req,
		 uint64_t timeout_ns, ProtobufCMessage **ret_resp, struct wh_err **err);

/* Stdio of a process: fifo paths (or any URI the shim understands); NULL = none. */
struct rt_stdio {
	const char *in, *out, *err;
	bool terminal;
};

/* Sync conveniences for tests and the CLI; exec_id NULL = the init process. */
int rt_task_create(struct rt_shim *s, const struct rt_stdio *io, const Google__Protobuf__Any *opts,
		   uint32_t *ret_pid, struct wh_err **err);
int rt_task_start(struct rt_shim *s, const char *exec_id, uint32_t *ret_pid, struct wh_err **err);
int rt_task_state(struct rt_shim *s, const char *exec_id, Containerd__Task__V2__StateResponse **ret,
		  struct wh_err **err);
int rt_task_kill(struct rt_shim *s, const char *exec_id, uint32_t signal, bool all,
		 struct wh_err **err);
/* timeout_ns 0: wait as long as the process runs; -ETIMEDOUT (DEADLINE_EXCEEDED) after it. */
int rt_task_wait(struct rt_shim *s, const char *exec_id, uint64_t timeout_ns, uint32_t *ret_status,
		 int64_t *ret_exited_at_ns, struct wh_err **err);
int rt_task_delete(struct rt_shim *s, const char *exec_id, struct rt_delete_result *ret,
		   struct wh_err **err);
/* process_json: the OCI Process JSON (sent as the spec Any, §3.2). */
int rt_task_exec(struct rt_shim *s, const char *exec_id, const struct rt_stdio *io,
		 const char *process_json, struct wh_err **err);
/* *ret_pids: a malloc'ed array of *ret_n pids. */
int rt_task_pids(struct rt_shim *s, uint32_t **ret_pids, size_t *ret_n, struct wh_err **err);
int rt_task_pause(struct rt_shim *s, struct wh_err **err);
int rt_task_resume(struct rt_shim *s, struct wh_err **err);
int rt_task_close_io(struct rt_shim *s, const char *exec_id, struct wh_err **err);
int rt_task_resize_pty(struct rt_shim *s, const char *exec_id, uint32_t width, uint32_t height,
		       struct wh_err **err);
/* resources_json: OCI LinuxResources JSON. */
int rt_task_update(struct rt_shim *s, const char *resources_json, struct wh_err **err);
/* *ret: the metrics Any (type_url io.containerd.cgroups.v1.Metrics or v2). */
int rt_task_stats(struct rt_shim *s, Google__Protobuf__Any **ret, struct wh_err **err);
int rt_task_connect(struct rt_shim *s, uint32_t *ret_shim_pid, uint32_t *ret_task_pid,
		    struct wh_err **err);

/* ---- events.c: the Forward receiver ---- */

struct rt_events;

/*
 * A forwarded event: env was validated (topic, namespace, timestamp, event present). Borrowed:
 * valid during the callback only.
 */
typedef void rt_event_fn(const Containerd__Services__Events__Ttrpc__V1__Envelope *env,
			 void *userdata);

/* Serves Events/Forward on address (socket file, mode 0600) on loop l. */
int rt_events_new(struct ev_loop *l, const char *address, rt_event_fn *cb, void *userdata,
		  struct rt_events **ret, struct wh_err **err);
struct rt_events *rt_events_free(struct rt_events *e);
/* containerd's checks: topic "/a/b" of identifiers; namespace an identifier. -EINVAL. */
int rt_validate_topic(const char *topic, struct wh_err **err);

/* ---- restore.c: reconnect after a restart ---- */

enum rt_restore_outcome {
	RT_RESTORE_LIVE,    /* reconnected: shim set, state filled */
	RT_RESTORE_CLEANED, /* shim was gone: `shim delete` ran, the bundle was removed */
	RT_RESTORE_FAILED,  /* neither worked: message says why; the bundle is left */
};

struct rt_restored {
	char *ns, *id, *bundle;
	enum rt_restore_outcome outcome;
	struct rt_shim *shim; /* LIVE: owned by the entry until taken (TAKE_PTR) */
	/* LIVE: from State; CLEANED: from the DeleteResponse. */
	uint32_t status; /* containerd.v1.types.Status (CLEANED: STOPPED) */
	uint32_t pid, exit_status;
	int64_t exited_at_ns;
	char *message; /* why a shim was taken for dead, or why it failed */
};

struct rt_restore_report {
	struct rt_restored *v;
	size_t n;
};

/*
 * Scans <state>/tasks/<ns>/<id>/ (dot entries and empty dirs are skipped; empty dirs removed),
 * reconnects to every live shim (Connect + State, 5 s), and cleans the dead ones with
 * `shim delete` + bundle removal. Per-task failures land in the report, not in the return value;
 * only a failure to read the state dir itself is an error.
 */
int rt_restore(struct ev_loop *l, const struct rt_config *cfg, struct rt_restore_report *ret,
	       struct wh_err **err);
void rt_restore_report_done(struct rt_restore_report *r);

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharfd's internals shared by its files: the config, the daemon object, the transport-independent
 * service handler shape, and the protobuf-c conversion helpers. Private to supervisor/ (and its
 * tests).
 */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/ev.h"
#include "proto/google/protobuf/any.pb-c.h"
#include "proto/google/protobuf/timestamp.pb-c.h"
#include "proto/types/mount.pb-c.h"

struct content_store;
struct meta_db;
struct snapshotter;
struct ttrpc_server;
struct wh_mount_list;
struct events_bus;
struct tasks;
struct pool;

#define WHARFD_VERSION "0.1.0"
#define WHARFD_REVISION "wharf"

#define DEFAULT_ROOT "/var/lib/wharf"
#define DEFAULT_STATE "/run/wharf"
#define DEFAULT_CONFIG "/etc/wharf/config.toml"
#define DEFAULT_SNAPSHOTTER "overlayfs"
#define DEFAULT_RUNTIME "io.containerd.wharf.v2"
#define DEFAULT_NAMESPACE "default"

/* ---- config.c ---- */

/* [runtimes."<name>"]: defaults for containers of that runtime. */
struct runtime_config {
	char *name;	   /* "io.containerd.runc.v2" */
	char *shim;	   /* explicit shim binary path, or NULL (resolved from the name) */
	char *binary_name; /* runc Options.binary_name default (runc, crun, runsc, wharf-oci) */
	char *root;	   /* runc Options.root default */
	bool systemd_cgroup;
};

struct config {
	char *path; /* the file read, or NULL when none */
	char *root, *state, *address;
	char *log_level; /* "info" */
	char *snapshotter;
	char *runtime;
	char *shim_dir;
	struct runtime_config *runtimes;
	size_t n_runtimes;
	char *registry_config_path; /* hosts.toml dir (containerd's config_path), or NULL */
	char **plain_http;	    /* registries spoken to in plain http */
	char **cni_bin_dirs;
	char *cni_conf_dir;
};

/* Fills c with the defaults. */
void config_defaults(struct config *c);
/*
 * Reads path over the defaults. A missing file is fine only when !required. Errors name the file,
 * line and column ("config.toml:3:1: 'ttrpc.adress': unknown key").
 */
int config_load(struct config *c, const char *path, bool required, struct wh_err **err);
/* Parses TOML text (name for messages) over c. */
int config_parse(struct config *c, const char *text, size_t len, const char *name,
		 struct wh_err **err);
void config_release(struct config *c);
const struct runtime_config *config_runtime(const struct config *c, const char *name);

/* ---- the daemon ---- */

struct daemon {
	struct ev_loop *loop;
	struct config cfg;
	struct ttrpc_server *server;
	struct content_store *cs;
	struct meta_db *db;
	struct snapshotter *overlay, *native; /* native always; overlay when supported */
	struct events_bus *events;
	struct tasks *tasks;
	struct pool *pool;	  /* NULL in a worker's view of the daemon */
	struct pool *worker_pool; /* set only in a worker's view: for pool_post_event */
	char uuid[37];
	int lock_fd;
	char *ttrpc_events_address; /* where shims forward their events */
	char *db_path;
	struct ev_source *gc_timer, *shutdown_timer;
	bool stopping;
	char *worker_path; /* wharfd-worker, beside wharfd's own binary */
	/* Set in wharfd-worker: where daemon_publish sends events (to wharfd, worker.c). */
	void (*publish_hook)(struct daemon *d, const char *ns, const char *topic,
			     const ProtobufCMessage *msg);
};

/* The snapshotter named name (NULL or "": the default). -ENOENT naming it when unknown. */
int daemon_snapshotter(struct daemon *d, const char *name, struct snapshotter **ret,
		       const char **ret_name, struct wh_err **err);

/* Runs garbage collection about a second from now (after deletes). API loop only. */
void daemon_gc_soon(struct daemon *d);

/* ---- service handlers (transport-independent) ---- */

struct svc_ctx {
	struct daemon *d;
	char *ns;	   /* from containerd-namespace, default "default" */
	char *lease;	   /* from containerd-lease, or NULL */
	void *transport;   /* the transport's call (ttrpc: struct ttrpc_call) */
	void *cancel_hook; /* svc_ctx_on_cancel's, freed with the detached ctx */
	uint64_t start_ns; /* when the request arrived (debug timing) */
	const ProtobufCMessageDescriptor *resp_desc;
};

/* Handlers return 0 with *ret_resp set (or NULL for an empty answer of the output type), a
 * negative errno with err set, or SVC_ASYNC after svc_ctx_detach: the answer comes later through
 * svc_complete. Responses are heap messages freed with protobuf_c_message_free_unpacked. */
#define SVC_ASYNC 1
typedef int svc_fn(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
		   struct wh_err **err);

struct svc_method {
	const char *name;
	svc_fn *fn;
};

struct svc_service {
	const ProtobufCServiceDescriptor *desc;
	const struct svc_method *methods; /* {NULL, NULL}-terminated */
};

/* A heap copy of c for an answer given later. */
struct svc_ctx *svc_ctx_detach(const struct svc_ctx *c);
/* Answers a detached call: resp (taken, may be NULL: empty) when r >= 0, else r with e (taken). */
void svc_complete(struct svc_ctx *c, int r, ProtobufCMessage *resp, struct wh_err *e);
/* True when the transport can no longer deliver the answer. */
bool svc_ctx_cancelled(const struct svc_ctx *c);
void svc_ctx_on_cancel(struct svc_ctx *c, void (*fn)(struct svc_ctx *, void *), void *userdata);

extern const struct svc_service svc_namespaces, svc_containers, svc_leases, svc_content,
	svc_snapshots, svc_images, svc_version, svc_introspection, svc_events, svc_subscriptions,
	svc_transfer, svc_diff, svc_tasks;

/* Their work, run only in wharfd-worker (worker_main.c); wharfd's svc_transfer and svc_diff
 * forward each call there (worker.c). */
extern const struct svc_service worker_svc_transfer, worker_svc_diff;

/* ---- worker.c: calls run out of process ---- */
/*
 * Runs method of service in a new wharfd-worker process (d->worker_path) against the same root
 * and state, and waits for it (a worker thread's job). The request goes in on its stdin; events
 * it publishes are forwarded to the bus as they come; its answer is unpacked with c->resp_desc.
 */
int worker_call(struct svc_ctx *c, const ProtobufCServiceDescriptor *service, const char *method,
		const ProtobufCMessage *req, ProtobufCMessage **ret, struct wh_err **err);
/* SIGTERM to every worker running, and to those started from now on (wharfd is stopping). */
void worker_stop_all(void);
/* The frames wharfd-worker writes on its stdout: a type byte, a 32-bit little-endian length. */
#define WORKER_FRAME_EVENT 'E'	  /* ns NUL topic NUL type_url NUL value */
#define WORKER_FRAME_RESPONSE 'R' /* the packed response */
#define WORKER_FRAME_ERROR 'X'	  /* errno as 4 bytes little-endian, then the message */
#define WORKER_REQUEST_MAX (64u << 20)

/* Serves every service on the ttrpc server. */
int svc_register_ttrpc(struct daemon *d, struct ttrpc_server *s, struct wh_err **err);

/* ---- pool.c: blocking work on worker threads ---- */
/* Runs on the API loop with a worker's successful response (e.g. to publish events). */
typedef void pool_done_fn(struct daemon *d, const char *ns, const ProtobufCMessage *resp);
int pool_new(struct daemon *d, struct pool **ret, struct wh_err **err);
/* Stops the workers (after their current job); answers what is left. */
struct pool *pool_free(struct pool *p);
/* From a worker: publishes msg on the API loop (thread-safe). */
void pool_post_event(struct pool *p, const char *ns, const char *topic,
		     const ProtobufCMessage *msg);
/* The same with the event already packed (ev: taken). */
void pool_post_any(struct pool *p, const char *ns, const char *topic, Google__Protobuf__Any *ev);
/* Detaches c and runs fn(req) on a worker; returns SVC_ASYNC. */
int pool_submit(struct svc_ctx *c, const ProtobufCMessage *req, svc_fn *fn, pool_done_fn *done);

/* ---- events.c ---- */
int events_bus_new(struct daemon *d, struct events_bus **ret);
struct events_bus *events_bus_free(struct events_bus *b);
/* Publishes an event (event: taken) on topic in namespace ns; timestamp_ns 0: now. */
void events_publish(struct events_bus *b, const char *ns, const char *topic, uint64_t timestamp_ns,
		    Google__Protobuf__Any *event);
/* Publishes msg from any thread: the bus on the API loop, through the pool from a worker. */
void daemon_publish(struct daemon *d, const char *ns, const char *topic,
		    const ProtobufCMessage *msg);
/* Publishes a message packed as an Any with type_url "types.containerd.io/<full name>". */
void events_publish_msg(struct events_bus *b, const char *ns, const char *topic,
			const ProtobufCMessage *msg);

/* ---- tasks.c ---- */
int tasks_new(struct daemon *d, struct tasks **ret, struct wh_err **err);
struct tasks *tasks_free(struct tasks *t);
/* Reaps restored tasks whose container record is gone (queued; returns how many). */
int tasks_reconcile(struct tasks *t);
/* True when container ns/id has a task. */
bool tasks_has(struct tasks *t, const char *ns, const char *id);

/* ---- snview.c: the namespaced snapshotter view over metadata records + a backend ---- */
/* A snapshotter for namespace ns: keys recorded in metadata, backend keys "<ns>/<key>"; lease
 * (may be NULL) gains what it creates. Borrowed args must outlive it. */
struct snapshotter *snview_new(struct daemon *d, const char *ns, const char *snapshotter_name,
			       struct snapshotter *backend, const char *lease);
/* meta_gc's remove hook. */
int snview_gc_remove(void *userdata, const char *snapshotter, const char *backend_key,
		     struct wh_err **err);

/* ---- pb.c: protobuf-c helpers ---- */
char *pb_str(const char *s); /* xstrdup of s, "" for NULL */
static inline const char *pb_nz(const char *s)
{
	return s && *s ? s : NULL;
}
/* A map<string,string> field from a kv strv: *ret_v gets n entries of entry_desc. */
void pb_map_from_strv(const ProtobufCMessageDescriptor *entry_desc, char *const *kv, size_t *ret_n,
		      void *ret_v);
/* A kv strv from map entries (NULL when n == 0). */
char **pb_map_to_strv(void *const *entries, size_t n);
Google__Protobuf__Timestamp *pb_ts(uint64_t real_ns);
uint64_t pb_ts_ns(const Google__Protobuf__Timestamp *t);
Google__Protobuf__Any *pb_any(const char *type_url, const void *data, size_t len);
/* Packs msg into an Any with type_url "types.containerd.io/<full name>". */
Google__Protobuf__Any *pb_any_msg(const ProtobufCMessage *msg);
/* A message of desc, zero-initialized, on the heap. */
void *pb_new(const ProtobufCMessageDescriptor *desc);
/* A field mask's paths as a NULL-terminated vector of borrowed strings (free the array only). */
const char **pb_paths(size_t n, char **paths);
/* The mount list of a repeated containerd.types.Mount, and back. */
void pb_mounts_to_list(Containerd__Types__Mount *const *v, size_t n, struct wh_mount_list *ret);
void pb_mounts_from_list(const struct wh_mount_list *l, size_t *ret_n,
			 Containerd__Types__Mount ***ret_v);
/* A filter from repeated filter strings (n == 0: NULL, match all). */
struct filter;
int pb_filters(char *const *v, size_t n, struct filter **ret, struct wh_err **err);

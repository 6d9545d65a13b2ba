/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metadata (containerd's core/metadata) in SQLite: namespaces, images, containers, content
 * ownership and labels, snapshot records, leases, and the garbage collector.
 *
 * Storage: one SQLite file (DESIGN.md: <root>/metadata.db) in WAL mode with a busy timeout;
 * PRAGMA user_version holds the schema version and meta_db_open runs the migrations that are
 * missing (a newer file than this code knows is refused with -EPROTONOSUPPORT). Every write is
 * one short transaction. SQLITE_BUSY maps to -EAGAIN, a unique-key violation to -EEXIST.
 *
 * Namespaces: every call takes one; NULL or "" is -EINVAL "namespace required", a name that is
 * not a containerd identifier ([A-Za-z0-9]+ joined by single '.', '_' or '-', at most 76) is
 * -EINVAL. Creating an object in a namespace creates the namespace (as containerd does).
 *
 * Labels are NULL-terminated key, value, key, value ... string vectors (strv: free with
 * strv_free); a key plus value longer than 4096 bytes is -EINVAL. Label filters use the field
 * path labels.<key> (labels."a.b" for keys with dots).
 *
 * Content: the store (content/content.h) is shared on disk; metadata records which namespaces
 * own a blob, and the labels of each (containerd keeps labels here too). A blob is visible in a
 * namespace only after that namespace committed it (the data is written again, then verified).
 * Ingest refs are namespaced: the store sees "<ns>/<ref>".
 *
 * Garbage collection (meta_gc): mark from the roots (images' targets, containers' snapshots, the
 * resources of unexpired leases, objects labelled containerd.io/gc.root) through the labels
 * containerd.io/gc.ref.content[.<any>] (value: a digest) and containerd.io/gc.ref.snapshot.<name>
 * [/<any>] (value: a snapshot key of snapshotter <name>) on images, containers, content and
 * snapshots, and from snapshots to their parents; then sweep within that namespace: leases whose
 * containerd.io/gc.expire (RFC 3339) is past, unmarked content rows (and the blob once no
 * namespace holds it), unmarked snapshot records (removed from their snapshotter through
 * meta_snapshot_remove_fn, children first), and expired ingests that no lease holds (an ingest
 * opened without a lease expires after 24 hours). Blobs on disk that no namespace holds are
 * removed too (a commit that died before its row), so every user of the content store goes
 * through metadata; backend snapshots are removed after the records' transaction, so a failed
 * or interrupted removal leaks the backend copy, never a record. Commits hold a shared flock on
 * <db>.gclock and the collector an exclusive one, so a commit is never half-seen by a sweep.
 *
 * Thread safety: a meta_db is used by one thread at a time; open one per thread (SQLite handles
 * the rest, across processes too). All calls block on disk I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "common/digest.h"

struct wh_err;
struct filter;
struct content_store;
struct content_reader;
struct content_status;
struct meta_db;
struct meta_writer;

#define META_LABEL_GC_ROOT "containerd.io/gc.root"
#define META_LABEL_GC_EXPIRE "containerd.io/gc.expire"
#define META_LABEL_GC_REF_CONTENT "containerd.io/gc.ref.content"
#define META_LABEL_GC_REF_SNAPSHOT "containerd.io/gc.ref.snapshot."

/* ---- the database ---- */
#define META_SCHEMA_VERSION 1

/* Opens (creating, migrating) the database at path. cs is borrowed and must outlive db. */
int meta_db_open(const char *path, struct content_store *cs, struct meta_db **ret,
		 struct wh_err **err);
struct meta_db *meta_db_close(struct meta_db *db);
/* How long a call waits for another connection's write lock before -EAGAIN (default 10 s). */
void meta_db_set_busy_timeout(struct meta_db *db, int ms);
/* PRAGMA user_version of the open file. */
int meta_db_schema_version(struct meta_db *db, struct wh_err **err);
/* PRAGMA integrity_check: 0 when "ok", else -EUCLEAN with SQLite's report. */
int meta_db_integrity_check(struct meta_db *db, struct wh_err **err);

/* The value of key in a label vector, or NULL. */
const char *meta_labels_get(char *const *kv, const char *key);

/* ---- namespaces ---- */
/* -EEXIST when it exists. */
int meta_namespace_create(struct meta_db *db, const char *ns, char *const *labels,
			  struct wh_err **err);
/* -ENOENT when absent; *ret_labels may be NULL (no labels) on success. */
int meta_namespace_get(struct meta_db *db, const char *ns, char ***ret_labels, struct wh_err **err);
/* All namespace names, sorted (strv; NULL when there are none). */
int meta_namespace_list(struct meta_db *db, char ***ret, struct wh_err **err);
/* Sets (value non-NULL) or removes one label. */
int meta_namespace_set_label(struct meta_db *db, const char *ns, const char *key, const char *value,
			     struct wh_err **err);
/* -EBUSY "namespace 'x' must be empty, but it still has images, ..." unless empty. */
int meta_namespace_delete(struct meta_db *db, const char *ns, struct wh_err **err);

/* ---- images ---- */
struct meta_descriptor {
	char *media_type;
	char digest[DIGEST_STR_LEN];
	int64_t size;
	char **annotations; /* kv strv */
};

struct meta_image {
	char *name;
	struct meta_descriptor target;
	char **labels;
	uint64_t created_ns, updated_ns; /* set by the store */
};

void meta_image_release(struct meta_image *img);
void meta_images_free(struct meta_image *v, size_t n);
/* Needs a name and a target with media type and valid digest. -EEXIST when the name exists. */
int meta_image_create(struct meta_db *db, const char *ns, struct meta_image *img,
		      struct wh_err **err);
int meta_image_get(struct meta_db *db, const char *ns, const char *name, struct meta_image *ret,
		   struct wh_err **err);
/*
 * Updates the image img->name from img. paths (NULL-terminated; NULL or empty means target and
 * labels) are "target" (with its annotations), "labels" and "labels.<k>". -EINVAL for other
 * paths, -ENOENT when the image is absent.
 */
int meta_image_update(struct meta_db *db, const char *ns, struct meta_image *img,
		      const char *const *paths, struct wh_err **err);
/* Filter fields: name, target.digest, target.mediatype, labels.<k>. */
int meta_image_list(struct meta_db *db, const char *ns, const struct filter *f,
		    struct meta_image **ret, size_t *ret_n, struct wh_err **err);
int meta_image_delete(struct meta_db *db, const char *ns, const char *name, struct wh_err **err);

/* ---- containers ---- */
struct meta_any { /* a protobuf Any */
	char *type_url;
	void *value;
	size_t len;
};

struct meta_extension {
	char *name;
	struct meta_any any;
};

struct meta_container {
	char *id;
	char **labels;
	char *image;
	char *runtime_name;
	struct meta_any runtime_options;
	struct meta_any spec;
	char *snapshotter;
	char *snapshot_key;
	struct meta_extension *extensions;
	size_t n_extensions;
	uint64_t created_ns, updated_ns;
};

void meta_container_release(struct meta_container *c);
void meta_containers_free(struct meta_container *v, size_t n);
/* Needs an id and a runtime name (containerd's rules); a snapshot key needs a snapshotter. */
int meta_container_create(struct meta_db *db, const char *ns, struct meta_container *c,
			  struct wh_err **err);
int meta_container_get(struct meta_db *db, const char *ns, const char *id,
		       struct meta_container *ret, struct wh_err **err);
/*
 * paths: "labels", "labels.<k>", "image", "spec", "snapshotkey", "extensions",
 * "extensions.<name>"; NULL/empty means all of them. The runtime and the snapshotter are
 * immutable (-EINVAL when they differ).
 */
int meta_container_update(struct meta_db *db, const char *ns, struct meta_container *c,
			  const char *const *paths, struct wh_err **err);
/* Filter fields: id, image, runtime.name, snapshotter, snapshotkey, labels.<k>. */
int meta_container_list(struct meta_db *db, const char *ns, const struct filter *f,
			struct meta_container **ret, size_t *ret_n, struct wh_err **err);
int meta_container_delete(struct meta_db *db, const char *ns, const char *id, struct wh_err **err);

/* ---- content (namespaced view of the shared store) ---- */
struct meta_content_info {
	char digest[DIGEST_STR_LEN];
	uint64_t size;
	uint64_t created_ns, updated_ns;
	char **labels;
};

void meta_content_info_release(struct meta_content_info *i);
/*
 * Opens the writer of ref in ns (resuming an existing ingest). lease (may be NULL) must exist in
 * ns; the ingest then belongs to it and is never collected while the lease lives.
 */
int meta_writer_open(struct meta_db *db, const char *ns, const char *ref, uint64_t total,
		     const char *expected, const char *lease, struct meta_writer **ret,
		     struct wh_err **err);
int meta_writer_write(struct meta_writer *w, const void *buf, size_t len, struct wh_err **err);
/* Offset etc. of the writer (st->ref is the caller's ref, owned by st). */
int meta_writer_status(struct meta_writer *w, struct content_status *ret, struct wh_err **err);
/*
 * Commits (content_writer_commit's checks) and records the blob in the namespace with labels;
 * the writer's lease, if any, gains the digest. -EEXIST when the namespace already has it; a
 * blob that exists on disk from another namespace is adopted after verification.
 */
int meta_writer_commit(struct meta_writer *w, uint64_t size, const char *expected,
		       char *const *labels, char ret_digest[DIGEST_STR_LEN], struct wh_err **err);
struct meta_writer *meta_writer_free(struct meta_writer *w);

int meta_content_info(struct meta_db *db, const char *ns, const char *digest,
		      struct meta_content_info *ret, struct wh_err **err);
/* paths: "labels", "labels.<k>" (NULL/empty: "labels"). */
int meta_content_update(struct meta_db *db, const char *ns, const char *digest, char *const *labels,
			const char *const *paths, struct wh_err **err);
typedef int meta_content_walk_fn(const struct meta_content_info *info, void *userdata);
/* Filter fields: digest, size, labels.<k>. */
int meta_content_walk(struct meta_db *db, const char *ns, const struct filter *f,
		      meta_content_walk_fn *fn, void *userdata, struct wh_err **err);
/* Removes the namespace's ownership; the blob goes at the next collection. */
int meta_content_delete(struct meta_db *db, const char *ns, const char *digest,
			struct wh_err **err);
int meta_content_reader_open(struct meta_db *db, const char *ns, const char *digest,
			     struct content_reader **ret, struct wh_err **err);
/* Ingests of ns (refs as the caller named them). Filter fields: ref, expected. */
int meta_content_list_statuses(struct meta_db *db, const char *ns, const struct filter *f,
			       struct content_status **ret, size_t *ret_n, struct wh_err **err);
int meta_content_status(struct meta_db *db, const char *ns, const char *ref,
			struct content_status *ret, struct wh_err **err);
int meta_content_abort(struct meta_db *db, const char *ns, const char *ref, struct wh_err **err);

/* ---- snapshot records ---- */
enum meta_snapshot_kind {
	META_SNAPSHOT_VIEW = 1, /* containerd's snapshots.Kind values */
	META_SNAPSHOT_ACTIVE = 2,
	META_SNAPSHOT_COMMITTED = 3,
	_META_SNAPSHOT_KIND_MAX,
	_META_SNAPSHOT_KIND_INVALID = -22,
};

struct meta_snapshot {
	char *snapshotter;
	char *key;
	char *backend_key; /* the snapshotter's own key/id */
	char *parent;	   /* key in the same namespace and snapshotter, or NULL */
	enum meta_snapshot_kind kind;
	char **labels;
	uint64_t created_ns, updated_ns;
};

void meta_snapshot_release(struct meta_snapshot *s);
void meta_snapshots_free(struct meta_snapshot *v, size_t n);
/* -EEXIST, -ENOENT for a missing parent, -EINVAL for a parent that is not committed. lease (may
 * be NULL) gains the snapshot. */
int meta_snapshot_create(struct meta_db *db, const char *ns, struct meta_snapshot *s,
			 const char *lease, struct wh_err **err);
int meta_snapshot_get(struct meta_db *db, const char *ns, const char *snapshotter, const char *key,
		      struct meta_snapshot *ret, struct wh_err **err);
/* paths: "labels", "labels.<k>" (NULL/empty: "labels"). */
int meta_snapshot_update(struct meta_db *db, const char *ns, struct meta_snapshot *s,
			 const char *const *paths, struct wh_err **err);
/* Snapshots of snapshotter (NULL: all). Filter fields: name (the key), parent, kind ("view",
 * "active", "committed"), snapshotter, labels.<k>. */
int meta_snapshot_list(struct meta_db *db, const char *ns, const char *snapshotter,
		       const struct filter *f, struct meta_snapshot **ret, size_t *ret_n,
		       struct wh_err **err);
/*
 * Commits the active snapshot key as the committed snapshot name (containerd's Commit): the new
 * record keeps the parent, gets backend_key (the snapshotter's id of the committed layer, or the
 * active one's when NULL) and labels, and the active record goes. -ENOENT, -EEXIST when name
 * exists, -EINVAL unless key is active. lease (may be NULL) gains the committed snapshot.
 */
int meta_snapshot_commit(struct meta_db *db, const char *ns, const char *snapshotter,
			 const char *key, const char *name, const char *backend_key,
			 char *const *labels, const char *lease, struct wh_err **err);
/* Removes the record; -EBUSY while it has children. The backend is the caller's business. */
int meta_snapshot_delete(struct meta_db *db, const char *ns, const char *snapshotter,
			 const char *key, struct wh_err **err);

/* ---- leases ---- */
struct meta_lease {
	char *id;
	char **labels;
	uint64_t created_ns;
};

struct meta_lease_resource {
	char *id;
	char *type; /* "content", "ingests" or "snapshots/<snapshotter>" */
};

void meta_lease_release(struct meta_lease *l);
void meta_leases_free(struct meta_lease *v, size_t n);
void meta_lease_resources_free(struct meta_lease_resource *v, size_t n);
/* -EEXIST when it exists; a containerd.io/gc.expire label must be RFC 3339 (-EINVAL). */
int meta_lease_create(struct meta_db *db, const char *ns, const char *id, char *const *labels,
		      struct wh_err **err);
/* Filter fields: id, labels.<k>. */
int meta_lease_list(struct meta_db *db, const char *ns, const struct filter *f,
		    struct meta_lease **ret, size_t *ret_n, struct wh_err **err);
/* Removes the lease and its resource list (the resources go at the next collection). */
int meta_lease_delete(struct meta_db *db, const char *ns, const char *id, struct wh_err **err);
/* Adds a resource (idempotent). A content id must be a valid digest; the type must be known. */
int meta_lease_add_resource(struct meta_db *db, const char *ns, const char *lease,
			    const struct meta_lease_resource *res, struct wh_err **err);
int meta_lease_delete_resource(struct meta_db *db, const char *ns, const char *lease,
			       const struct meta_lease_resource *res, struct wh_err **err);
int meta_lease_list_resources(struct meta_db *db, const char *ns, const char *lease,
			      struct meta_lease_resource **ret, size_t *ret_n, struct wh_err **err);

/* ---- garbage collection ---- */
/*
 * Removes a snapshot from its snapshotter (wired to snapshots/ by the supervisor). Called after
 * the record is gone; a failure is counted in meta_gc_stats.errors and reported, the sweep goes on.
 */
typedef int meta_snapshot_remove_fn(void *userdata, const char *snapshotter,
				    const char *backend_key, struct wh_err **err);

struct meta_gc_stats {
	size_t leases_expired;
	size_t content_removed; /* namespace rows */
	size_t blobs_removed;	/* files on disk */
	size_t snapshots_removed;
	size_t ingests_removed;
	size_t errors;
};

/*
 * One mark-and-sweep over every namespace. remove (may be NULL: snapshot records are then
 * dropped without a backend call) is called children first. Returns 0, or the first error
 * (the sweep still does what it can; stats count errors).
 */
int meta_gc(struct meta_db *db, meta_snapshot_remove_fn *remove, void *userdata,
	    struct meta_gc_stats *ret_stats, struct wh_err **err);

/* Parses RFC 3339 ("2006-01-02T15:04:05[.frac](Z|+hh:mm)") into CLOCK_REALTIME ns. -EINVAL. */
int meta_parse_rfc3339(const char *s, uint64_t *ret_ns);

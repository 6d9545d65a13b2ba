/* SPDX-License-Identifier: Apache-2.0 */
/* Private to metadata/: the handle, SQLite helpers, namespace checks and label storage. */
#pragma once

#include <sqlite3.h>

#include "common/common.h"
#include "metadata/metadata.h"

struct meta_db {
	sqlite3 *db;
	struct content_store *cs;
	char *path;
	int gc_lock_fd; /* <path>.gclock: shared by commits, exclusive for a collection */
};

/* Object kinds in the labels table. */
#define KIND_NAMESPACE "namespace"
#define KIND_IMAGE "image"
#define KIND_ANNOTATION "annotation" /* image target annotations */
#define KIND_CONTAINER "container"
#define KIND_CONTENT "content"
#define KIND_SNAPSHOT "snapshot"
#define KIND_LEASE "lease"

DEFINE_CLEANUP(sqlite3_stmt *, sqlite3_finalize)
#define cleanup_stmt cleanup(sqlite3_finalizep)

/* Sets err from the connection's error (copied at once) with code mapped: BUSY -> EAGAIN,
 * UNIQUE/PRIMARYKEY -> EEXIST, else EIO. Returns -code. */
__attribute__((format(printf, 4, 5))) int db_error(struct meta_db *db, int rc, struct wh_err **err,
						   const char *fmt, ...);
int db_prepare(struct meta_db *db, sqlite3_stmt **st, const char *sql, struct wh_err **err);
int db_exec(struct meta_db *db, const char *sql, struct wh_err **err);
/* Steps a statement that returns no rows. */
int db_step_done(struct meta_db *db, sqlite3_stmt *st, struct wh_err **err);
int db_begin(struct meta_db *db, struct wh_err **err); /* BEGIN IMMEDIATE */
int db_commit(struct meta_db *db, struct wh_err **err);
void db_rollback(struct meta_db *db);
void db_bind_text(sqlite3_stmt *st, int i, const char *s); /* NULL binds NULL */
/* Text of column i, copied (NULL for NULL). */
char *db_col_strdup(sqlite3_stmt *st, int i);

/* -EINVAL unless ns is a valid containerd identifier. */
int check_namespace(const char *ns, struct wh_err **err);
/* -EINVAL unless s is a valid identifier (what names it in the message). */
int check_identifier(const char *what, const char *s, struct wh_err **err);
/* Creates the namespace row when missing (inside the caller's transaction). */
int ensure_namespace(struct meta_db *db, const char *ns, struct wh_err **err);

/* ---- labels(ns, kind, id, key, value) ---- */
int labels_check(char *const *kv, struct wh_err **err);
int labels_load(struct meta_db *db, const char *ns, const char *kind, const char *id, char ***ret,
		struct wh_err **err);
int labels_replace(struct meta_db *db, const char *ns, const char *kind, const char *id,
		   char *const *kv, struct wh_err **err);
int labels_set(struct meta_db *db, const char *ns, const char *kind, const char *id,
	       const char *key, const char *value, struct wh_err **err);
int labels_delete_all(struct meta_db *db, const char *ns, const char *kind, const char *id,
		      struct wh_err **err);
/*
 * Deletes object id of namespace ns in one transaction: each of sqls ("DELETE FROM t WHERE ns = ?
 * AND key = ?", bound to ns and id; the first must remove a row, else -ENOENT "<what> 'id' not
 * found"), then its labels of each of kinds. NULL-terminated lists.
 */
int db_delete_object(struct meta_db *db, const char *ns, const char *what, const char *id,
		     const char *const *sqls, const char *const *kinds, struct wh_err **err);
/*
 * Applies "labels" / "labels.<k>" paths from kv. A path that is neither is left to the caller:
 * *ret_other is set when one was seen. NULL/empty paths count as "labels".
 */
int labels_apply_paths(struct meta_db *db, const char *ns, const char *kind, const char *id,
		       char *const *kv, const char *const *paths, bool *ret_other,
		       struct wh_err **err);
/* Touches updated_at of a row: UPDATE <table> SET updated=now WHERE ns=? AND <idcol>=? */
int touch_row(struct meta_db *db, const char *table, const char *idcol, const char *ns,
	      const char *id, struct wh_err **err);

/* Lease checks shared by content and snapshots: -ENOENT unless lease exists in ns. */
int lease_check(struct meta_db *db, const char *ns, const char *lease, struct wh_err **err);
int lease_add(struct meta_db *db, const char *ns, const char *lease, const char *type,
	      const char *id, struct wh_err **err);

/* Deletes the row and labels of one snapshot (inside the caller's transaction). */
int snapshot_delete_row(struct meta_db *db, const char *ns, const char *snapshotter,
			const char *key, struct wh_err **err);

/* The flock of commits and collections. */
int gc_lock(struct meta_db *db, bool exclusive, struct wh_err **err);
void gc_unlock(struct meta_db *db);

/* Drops an error after deliberate handling (err may be NULL). */
static inline void err_clear(struct wh_err **err)
{
	if (err && *err)
		*err = wh_err_free(*err);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The garbage collector (containerd's core/metadata/gc.go semantics): expire leases, mark from
 * the roots through the gc.ref labels and snapshot parents, sweep the rest, then remove blobs
 * no namespace holds, backend snapshots (children first) and expired ingests.
 */
#include <errno.h>

#include "content/content.h"
#include "metadata/internal.h"

struct node {
	char *ns;
	char *kind; /* KIND_CONTENT or KIND_SNAPSHOT */
	char *id;   /* digest, or snapshotter/key */
};

struct dead_snapshot {
	char *ns, *snapshotter, *key, *backend_key, *parent;
	bool removed;
};

struct gc {
	struct meta_db *db;
	struct node *work;
	size_t n_work, cap_work;
	struct dead_snapshot *snaps;
	size_t n_snaps, cap_snaps;
	char **dead_ingests; /* "<ns>/<ref>" backend refs */
	struct meta_gc_stats stats;
	sqlite3_stmt *mark_st;
};

static void gc_release(struct gc *gc)
{
	for (size_t i = 0; i < gc->n_work; i++) {
		free(gc->work[i].ns);
		free(gc->work[i].kind);
		free(gc->work[i].id);
	}
	free(gc->work);
	for (size_t i = 0; i < gc->n_snaps; i++) {
		free(gc->snaps[i].ns);
		free(gc->snaps[i].snapshotter);
		free(gc->snaps[i].key);
		free(gc->snaps[i].backend_key);
		free(gc->snaps[i].parent);
	}
	free(gc->snaps);
	strv_free(gc->dead_ingests);
	sqlite3_finalize(gc->mark_st);
}

static int mark(struct gc *gc, const char *ns, const char *kind, const char *id,
		struct wh_err **err)
{
	int r;

	sqlite3_reset(gc->mark_st);
	db_bind_text(gc->mark_st, 1, ns);
	db_bind_text(gc->mark_st, 2, kind);
	db_bind_text(gc->mark_st, 3, id);
	r = db_step_done(gc->db, gc->mark_st, err);
	if (r < 0 || sqlite3_changes(gc->db->db) == 0)
		return r;
	xgrow((void **)&gc->work, &gc->cap_work, gc->n_work + 1, sizeof(*gc->work));
	gc->work[gc->n_work++] = (struct node){xstrdup(ns), xstrdup(kind), xstrdup(id)};
	return 0;
}

/* Follows one containerd.io/gc.ref.* label. Unknown or malformed references are ignored, as
 * containerd does. */
static int mark_label_ref(struct gc *gc, const char *ns, const char *key, const char *value,
			  struct wh_err **err)
{
	const char *rest;

	if (str_startswith(key, META_LABEL_GC_REF_CONTENT)) {
		rest = key + strlen(META_LABEL_GC_REF_CONTENT);
		if ((*rest && *rest != '.' && *rest != '/') || !digest_is_valid(value))
			return 0;
		return mark(gc, ns, KIND_CONTENT, value, err);
	}
	if (str_startswith(key, META_LABEL_GC_REF_SNAPSHOT)) {
		cleanup_free char *snapshotter = NULL, *id = NULL;
		rest = key + strlen(META_LABEL_GC_REF_SNAPSHOT);
		snapshotter = xstrndup(rest, strcspn(rest, "/"));
		if (!*snapshotter || !*value)
			return 0;
		id = xasprintf("%s/%s", snapshotter, value);
		return mark(gc, ns, KIND_SNAPSHOT, id, err);
	}
	return 0;
}

static int mark_labels_of(struct gc *gc, const char *ns, const char *kind, const char *id,
			  struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = db_prepare(gc->db, &st,
			       "SELECT key, value FROM labels WHERE ns = ? AND kind = ? AND id = ? "
			       "AND key LIKE 'containerd.io/gc.ref.%'",
			       err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, kind);
	db_bind_text(st, 3, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = mark_label_ref(gc, ns, (const char *)sqlite3_column_text(st, 0),
				   (const char *)sqlite3_column_text(st, 1), err);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return db_error(gc->db, rc, err, "read labels");
	return 0;
}

static int delete_lease(struct meta_db *db, const char *ns, const char *id, struct wh_err **err)
{
	static const char *const sqls[] = {
		"DELETE FROM leases WHERE ns = ? AND id = ?",
		"DELETE FROM lease_resources WHERE ns = ? AND lease = ?",
		"DELETE FROM labels WHERE ns = ? AND kind = 'lease' AND id = ?",
	};
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(sqls); i++) {
		cleanup_stmt sqlite3_stmt *st = NULL;
		r = db_prepare(db, &st, sqls[i], err);
		if (r < 0)
			return r;
		db_bind_text(st, 1, ns);
		db_bind_text(st, 2, id);
		r = db_step_done(db, st, err);
	}
	return r;
}

static int expire_leases(struct gc *gc, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	uint64_t now = now_real_ns();
	char **expired = NULL; /* ns, id pairs */
	int rc, r = db_prepare(gc->db, &st,
			       "SELECT l.ns, l.id, lb.value FROM leases l JOIN labels lb ON "
			       "lb.ns = l.ns AND lb.kind = 'lease' AND lb.id = l.id AND lb.key = ?",
			       err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, META_LABEL_GC_EXPIRE);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t t;
		if (meta_parse_rfc3339((const char *)sqlite3_column_text(st, 2), &t) < 0 || t > now)
			continue;
		strv_push(&expired, (const char *)sqlite3_column_text(st, 0));
		strv_push(&expired, (const char *)sqlite3_column_text(st, 1));
	}
	if (rc != SQLITE_DONE)
		r = db_error(gc->db, rc, err, "read lease expiry");
	for (size_t i = 0; r >= 0 && expired && expired[i]; i += 2) {
		r = delete_lease(gc->db, expired[i], expired[i + 1], err);
		gc->stats.leases_expired++;
	}
	strv_free(expired);
	return r;
}

/* Marks the rows of a query returning (ns, kind, id). */
static int mark_query(struct gc *gc, const char *sql, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = db_prepare(gc->db, &st, sql, err);

	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ns = (const char *)sqlite3_column_text(st, 0);
		const char *kind = (const char *)sqlite3_column_text(st, 1);
		const char *id = (const char *)sqlite3_column_text(st, 2);
		if (!ns || !kind || !id)
			continue;
		r = mark(gc, ns, kind, id, err);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return db_error(gc->db, rc, err, "mark roots");
	return 0;
}

/* Follows the labels of the rows of a query returning (ns, kind, id). */
static int follow_query(struct gc *gc, const char *sql, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = db_prepare(gc->db, &st, sql, err);

	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = mark_labels_of(gc, (const char *)sqlite3_column_text(st, 0),
				   (const char *)sqlite3_column_text(st, 1),
				   (const char *)sqlite3_column_text(st, 2), err);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return db_error(gc->db, rc, err, "follow root labels");
	return 0;
}

static int mark_roots(struct gc *gc, struct wh_err **err)
{
	static const char *const roots[] = {
		/* unexpired leases (expired ones are gone by now) hold their resources */
		"SELECT ns, 'content', rid FROM lease_resources WHERE type = 'content'",
		"SELECT ns, 'snapshot', substr(type, 11) || '/' || rid FROM lease_resources "
		"WHERE type LIKE 'snapshots/%'",
		"SELECT ns, 'content', digest FROM images",
		"SELECT ns, 'snapshot', snapshotter || '/' || snapshot_key FROM containers "
		"WHERE snapshotter IS NOT NULL AND snapshotter != '' AND snapshot_key IS NOT NULL "
		"AND snapshot_key != ''",
		"SELECT ns, kind, id FROM labels WHERE key = '" META_LABEL_GC_ROOT "' AND "
		"kind IN ('content', 'snapshot')",
	};
	static const char *const labelled[] = {
		"SELECT ns, 'image', name FROM images",
		"SELECT ns, 'container', id FROM containers",
	};
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(roots); i++)
		r = mark_query(gc, roots[i], err);
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(labelled); i++)
		r = follow_query(gc, labelled[i], err);
	return r;
}

static int mark_parent(struct gc *gc, const struct node *n, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	const char *slash = strchr(n->id, '/');
	cleanup_free char *snapshotter = NULL;
	int rc, r;

	if (!slash)
		return 0;
	/* snapshotter names hold no '/': split the id to use the primary key */
	snapshotter = xstrndup(n->id, (size_t)(slash - n->id));
	r = db_prepare(gc->db, &st,
		       "SELECT parent FROM snapshots WHERE ns = ? AND snapshotter = ? AND key = ? "
		       "AND parent IS NOT NULL",
		       err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, n->ns);
	db_bind_text(st, 2, snapshotter);
	db_bind_text(st, 3, slash + 1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		cleanup_free char *parent =
			xasprintf("%s/%s", snapshotter, (const char *)sqlite3_column_text(st, 0));
		return mark(gc, n->ns, KIND_SNAPSHOT, parent, err);
	}
	if (rc != SQLITE_DONE)
		return db_error(gc->db, rc, err, "read snapshot parent");
	return 0;
}

static int propagate(struct gc *gc, struct wh_err **err)
{
	/* gc->work grows while we walk it: index, not pointer */
	for (size_t i = 0; i < gc->n_work; i++) {
		struct node n = gc->work[i];
		int r = mark_labels_of(gc, n.ns, n.kind, n.id, err);
		if (r >= 0 && streq(n.kind, KIND_SNAPSHOT))
			r = mark_parent(gc, &gc->work[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int sweep_content(struct gc *gc, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	char **dead = NULL;
	int rc, r = db_prepare(gc->db, &st,
			       "SELECT ns, digest FROM content c WHERE NOT EXISTS (SELECT 1 FROM "
			       "gc_mark m WHERE m.ns = c.ns AND m.kind = 'content' AND "
			       "m.id = c.digest)",
			       err);

	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		strv_push(&dead, (const char *)sqlite3_column_text(st, 0));
		strv_push(&dead, (const char *)sqlite3_column_text(st, 1));
	}
	if (rc != SQLITE_DONE)
		r = db_error(gc->db, rc, err, "find unreferenced content");
	for (size_t i = 0; r >= 0 && dead && dead[i]; i += 2) {
		cleanup_stmt sqlite3_stmt *del = NULL;
		r = db_prepare(gc->db, &del, "DELETE FROM content WHERE ns = ? AND digest = ?",
			       err);
		if (r < 0)
			break;
		db_bind_text(del, 1, dead[i]);
		db_bind_text(del, 2, dead[i + 1]);
		r = db_step_done(gc->db, del, err);
		if (r >= 0)
			r = labels_delete_all(gc->db, dead[i], KIND_CONTENT, dead[i + 1], err);
		gc->stats.content_removed++;
	}
	strv_free(dead);
	return r;
}

static int sweep_snapshots(struct gc *gc, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = db_prepare(gc->db, &st,
			       "SELECT ns, snapshotter, key, backend_key, parent FROM snapshots s "
			       "WHERE NOT EXISTS (SELECT 1 FROM gc_mark m WHERE m.ns = s.ns AND "
			       "m.kind = 'snapshot' AND m.id = s.snapshotter || '/' || s.key)",
			       err);

	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&gc->snaps, &gc->cap_snaps, gc->n_snaps + 1, sizeof(*gc->snaps));
		gc->snaps[gc->n_snaps++] = (struct dead_snapshot){
			.ns = db_col_strdup(st, 0),
			.snapshotter = db_col_strdup(st, 1),
			.key = db_col_strdup(st, 2),
			.backend_key = db_col_strdup(st, 3),
			.parent = db_col_strdup(st, 4),
		};
	}
	if (rc != SQLITE_DONE)
		return db_error(gc->db, rc, err, "find unreferenced snapshots");
	for (size_t i = 0; r >= 0 && i < gc->n_snaps; i++)
		r = snapshot_delete_row(gc->db, gc->snaps[i].ns, gc->snaps[i].snapshotter,
					gc->snaps[i].key, err);
	return r;
}

static int sweep_ingests(struct gc *gc, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL, *del = NULL;
	int rc, r = db_prepare(gc->db, &st,
			       "SELECT ns, ref FROM ingests i WHERE expires < ? AND NOT EXISTS "
			       "(SELECT 1 FROM lease_resources l WHERE l.ns = i.ns AND "
			       "l.type = 'ingests' AND l.rid = i.ref)",
			       err);

	if (r >= 0)
		r = db_prepare(gc->db, &del, "DELETE FROM ingests WHERE ns = ? AND ref = ?", err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (int64_t)now_real_ns());
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ns = (const char *)sqlite3_column_text(st, 0);
		const char *ref = (const char *)sqlite3_column_text(st, 1);
		strv_consume(&gc->dead_ingests, xasprintf("%s/%s", ns, ref));
		sqlite3_reset(del);
		db_bind_text(del, 1, ns);
		db_bind_text(del, 2, ref);
		r = db_step_done(gc->db, del, err);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return db_error(gc->db, rc, err, "find expired ingests");
	return 0;
}

static int mark_and_sweep(struct gc *gc, struct wh_err **err)
{
	int r = db_exec(gc->db,
			"CREATE TEMP TABLE IF NOT EXISTS gc_mark (ns TEXT, kind TEXT, id TEXT, "
			"PRIMARY KEY (ns, kind, id)); DELETE FROM gc_mark",
			err);

	if (r >= 0)
		r = db_prepare(gc->db, &gc->mark_st,
			       "INSERT OR IGNORE INTO gc_mark (ns, kind, id) VALUES (?, ?, ?)",
			       err);
	if (r >= 0)
		r = expire_leases(gc, err);
	if (r >= 0)
		r = mark_roots(gc, err);
	if (r >= 0)
		r = propagate(gc, err);
	if (r >= 0)
		r = sweep_content(gc, err);
	if (r >= 0)
		r = sweep_snapshots(gc, err);
	if (r >= 0)
		r = sweep_ingests(gc, err);
	return r;
}

struct blob_sweep {
	struct gc *gc;
	sqlite3_stmt *st;
	char **dead;
};

static int collect_blob(const struct content_info *info, void *userdata)
{
	struct blob_sweep *b = userdata;
	int rc;

	sqlite3_reset(b->st);
	db_bind_text(b->st, 1, info->digest);
	rc = sqlite3_step(b->st);
	if (rc == SQLITE_DONE)
		strv_push(&b->dead, info->digest);
	else if (rc != SQLITE_ROW)
		return -EIO;
	return 0;
}

/* Blobs that no namespace holds (rows swept now, or a commit that died before its row). */
static int remove_blobs(struct gc *gc, struct wh_err **err)
{
	struct blob_sweep b = {.gc = gc};
	int r = db_prepare(gc->db, &b.st, "SELECT 1 FROM content WHERE digest = ? LIMIT 1", err);

	if (r < 0)
		return r;
	r = content_walk(gc->db->cs, NULL, collect_blob, &b, err);
	sqlite3_finalize(b.st);
	if (r == -EIO && err && !*err)
		r = db_error(gc->db, SQLITE_IOERR, err, "look up blob owners");
	for (size_t i = 0; r >= 0 && b.dead && b.dead[i]; i++) {
		struct wh_err *e = NULL;
		int q = content_delete(gc->db->cs, b.dead[i], &e);
		if (q < 0 && q != -ENOENT) {
			gc->stats.errors++;
			wh_err_move(err, &e);
			r = q;
		}
		wh_err_free(e);
		if (q >= 0)
			gc->stats.blobs_removed++;
	}
	strv_free(b.dead);
	return r;
}

static bool has_live_child(struct gc *gc, const struct dead_snapshot *s)
{
	for (size_t i = 0; i < gc->n_snaps; i++) {
		const struct dead_snapshot *c = &gc->snaps[i];
		if (!c->removed && c->parent && streq(c->parent, s->key) && streq(c->ns, s->ns) &&
		    streq(c->snapshotter, s->snapshotter))
			return true;
	}
	return false;
}

static int remove_snapshots(struct gc *gc, meta_snapshot_remove_fn *remove, void *userdata,
			    struct wh_err **err)
{
	int first = 0;
	bool progress = true;

	while (progress) {
		progress = false;
		for (size_t i = 0; i < gc->n_snaps; i++) {
			struct dead_snapshot *s = &gc->snaps[i];
			struct wh_err *e = NULL;
			int r = 0;

			if (s->removed || has_live_child(gc, s))
				continue;
			if (remove)
				r = remove(userdata, s->snapshotter, s->backend_key, &e);
			s->removed = progress = true;
			if (r < 0 && r != -ENOENT) {
				gc->stats.errors++;
				if (!first) {
					first = r;
					wh_err_move(err, &e);
				}
			} else {
				gc->stats.snapshots_removed++;
			}
			wh_err_free(e);
		}
	}
	return first;
}

static void remove_ingests(struct gc *gc)
{
	strv_foreach(ref, gc->dead_ingests) {
		/* -EAGAIN: a writer still holds it; -ENOENT: never started or already gone */
		if (content_abort(gc->db->cs, *ref, NULL) >= 0)
			gc->stats.ingests_removed++;
	}
}

int meta_gc(struct meta_db *db, meta_snapshot_remove_fn *remove, void *userdata,
	    struct meta_gc_stats *ret_stats, struct wh_err **err)
{
	struct gc gc = {.db = db};
	int r = gc_lock(db, true, err);

	if (r < 0)
		return r;
	r = db_begin(db, err);
	if (r >= 0)
		r = mark_and_sweep(&gc, err);
	if (r >= 0)
		r = db_commit(db, err);
	else
		db_rollback(db);
	if (r >= 0) {
		int q = remove_blobs(&gc, err);
		int s = remove_snapshots(&gc, remove, userdata, q < 0 ? NULL : err);
		remove_ingests(&gc);
		r = q < 0 ? q : s;
	}
	gc_unlock(db);
	if (ret_stats)
		*ret_stats = gc.stats;
	gc_release(&gc);
	if (r < 0)
		return wh_err_wrap(err, r, "garbage collection");
	return 0;
}

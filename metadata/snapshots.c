/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot records per namespace: (snapshotter, key) -> backend key, parent, kind, labels. The
 * snapshotters themselves live in snapshots/; this is containerd's metadata/snapshot.go view.
 */
#include <errno.h>

#include "common/filter.h"
#include "metadata/internal.h"

#define KEY_MAX 4096

static const char *const kind_names[_META_SNAPSHOT_KIND_MAX] = {
	[META_SNAPSHOT_VIEW] = "view",
	[META_SNAPSHOT_ACTIVE] = "active",
	[META_SNAPSHOT_COMMITTED] = "committed",
};

void meta_snapshot_release(struct meta_snapshot *s)
{
	if (!s)
		return;
	free(s->snapshotter);
	free(s->key);
	free(s->backend_key);
	free(s->parent);
	strv_free(s->labels);
	memset(s, 0, sizeof(*s));
}

void meta_snapshots_free(struct meta_snapshot *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		meta_snapshot_release(&v[i]);
	free(v);
}

static char *label_id(const char *snapshotter, const char *key)
{
	return xasprintf("%s/%s", snapshotter, key);
}

static int check_key(const char *snapshotter, const char *key, struct wh_err **err)
{
	int r = check_identifier("snapshotter", snapshotter, err);

	if (r < 0)
		return r;
	if (!key || !*key)
		return wh_err_setx(err, EINVAL, "snapshot key required");
	if (strlen(key) > KEY_MAX)
		return wh_err_setx(err, EINVAL, "snapshot key longer than %d bytes", KEY_MAX);
	return 0;
}

#define SNAP_COLS "snapshotter, key, backend_key, parent, kind, created, updated"

static int load_snapshot(struct meta_db *db, const char *ns, sqlite3_stmt *st,
			 struct meta_snapshot *ret, struct wh_err **err)
{
	struct meta_snapshot s = {0};
	cleanup_free char *id = NULL;
	int r;

	s.snapshotter = db_col_strdup(st, 0);
	s.key = db_col_strdup(st, 1);
	s.backend_key = db_col_strdup(st, 2);
	s.parent = db_col_strdup(st, 3);
	s.kind = (enum meta_snapshot_kind)sqlite3_column_int(st, 4);
	s.created_ns = (uint64_t)sqlite3_column_int64(st, 5);
	s.updated_ns = (uint64_t)sqlite3_column_int64(st, 6);
	id = label_id(s.snapshotter, s.key);
	r = labels_load(db, ns, KIND_SNAPSHOT, id, &s.labels, err);
	if (r < 0) {
		meta_snapshot_release(&s);
		return r;
	}
	*ret = s;
	return 0;
}

static int get_snapshot(struct meta_db *db, const char *ns, const char *snapshotter,
			const char *key, struct meta_snapshot *ret, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = db_prepare(db, &st,
			       "SELECT " SNAP_COLS
			       " FROM snapshots WHERE ns = ? AND snapshotter = ? "
			       "AND key = ?",
			       err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, snapshotter);
	db_bind_text(st, 3, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return wh_err_setx(err, ENOENT, "snapshot '%s' of '%s' not found", key,
				   snapshotter);
	if (rc != SQLITE_ROW)
		return db_error(db, rc, err, "get snapshot '%s'", key);
	if (!ret)
		return 0;
	return load_snapshot(db, ns, st, ret, err);
}

static int insert_snapshot(struct meta_db *db, const char *ns, const struct meta_snapshot *s,
			   struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *id = label_id(s->snapshotter, s->key);
	int r = db_prepare(
		db, &st,
		"INSERT INTO snapshots (ns, snapshotter, key, backend_key, parent, kind, "
		"created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, s->snapshotter);
	db_bind_text(st, 3, s->key);
	db_bind_text(st, 4, s->backend_key);
	db_bind_text(st, 5, s->parent && *s->parent ? s->parent : NULL);
	sqlite3_bind_int(st, 6, (int)s->kind);
	sqlite3_bind_int64(st, 7, (int64_t)now_real_ns());
	sqlite3_bind_int64(st, 8, (int64_t)now_real_ns());
	r = db_step_done(db, st, err);
	if (r >= 0)
		r = labels_replace(db, ns, KIND_SNAPSHOT, id, s->labels, err);
	return r;
}

static int create_snapshot(struct meta_db *db, const char *ns, const struct meta_snapshot *s,
			   const char *lease, struct wh_err **err)
{
	int r = ensure_namespace(db, ns, err);

	if (r >= 0 && lease)
		r = lease_check(db, ns, lease, err);
	if (r >= 0 && s->parent && *s->parent) {
		struct meta_snapshot parent = {0};
		r = get_snapshot(db, ns, s->snapshotter, s->parent, &parent, err);
		if (r >= 0 && parent.kind != META_SNAPSHOT_COMMITTED)
			r = wh_err_setx(err, EINVAL, "parent '%s' is not a committed snapshot",
					s->parent);
		meta_snapshot_release(&parent);
	}
	if (r >= 0)
		r = insert_snapshot(db, ns, s, err);
	if (r >= 0 && lease) {
		cleanup_free char *type = xasprintf("snapshots/%s", s->snapshotter);
		r = lease_add(db, ns, lease, type, s->key, err);
	}
	return r;
}

int meta_snapshot_create(struct meta_db *db, const char *ns, struct meta_snapshot *s,
			 const char *lease, struct wh_err **err)
{
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_key(s->snapshotter, s->key, err);
	if (r >= 0 && (!s->backend_key || !*s->backend_key))
		r = wh_err_setx(err, EINVAL, "snapshot '%s': backend key required", s->key);
	if (r >= 0 && (s->kind <= 0 || s->kind >= _META_SNAPSHOT_KIND_MAX))
		r = wh_err_setx(err, EINVAL, "snapshot '%s': invalid kind %d", s->key,
				(int)s->kind);
	if (r >= 0)
		r = labels_check(s->labels, err);
	if (r < 0)
		return wh_err_wrap(err, r, "create snapshot");
	r = db_begin(db, err);
	if (r >= 0)
		r = create_snapshot(db, ns, s, lease, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		if (r == -EEXIST) {
			err_clear(err);
			return wh_err_setx(err, EEXIST, "snapshot '%s' of '%s' already exists",
					   s->key, s->snapshotter);
		}
		return wh_err_wrap(err, r, "create snapshot '%s'", s->key);
	}
	return 0;
}

int meta_snapshot_get(struct meta_db *db, const char *ns, const char *snapshotter, const char *key,
		      struct meta_snapshot *ret, struct wh_err **err)
{
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_key(snapshotter, key, err);
	if (r < 0)
		return r;
	return get_snapshot(db, ns, snapshotter, key, ret, err);
}

int meta_snapshot_update(struct meta_db *db, const char *ns, struct meta_snapshot *s,
			 const char *const *paths, struct wh_err **err)
{
	cleanup_free char *id = NULL;
	bool other = false;
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_key(s->snapshotter, s->key, err);
	if (r >= 0)
		r = labels_check(s->labels, err);
	if (r < 0)
		return wh_err_wrap(err, r, "update snapshot");
	id = label_id(s->snapshotter, s->key);
	r = db_begin(db, err);
	if (r >= 0)
		r = get_snapshot(db, ns, s->snapshotter, s->key, NULL, err);
	if (r >= 0)
		r = labels_apply_paths(db, ns, KIND_SNAPSHOT, id, s->labels, paths, &other, err);
	if (r >= 0 && other)
		r = wh_err_setx(err, EINVAL, "only labels may be updated on a snapshot");
	if (r >= 0) {
		cleanup_stmt sqlite3_stmt *st = NULL;
		r = db_prepare(
			db, &st,
			"UPDATE snapshots SET updated = ? WHERE ns = ? AND snapshotter = ? AND "
			"key = ?",
			err);
		if (r >= 0) {
			sqlite3_bind_int64(st, 1, (int64_t)now_real_ns());
			db_bind_text(st, 2, ns);
			db_bind_text(st, 3, s->snapshotter);
			db_bind_text(st, 4, s->key);
			r = db_step_done(db, st, err);
		}
	}
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		return wh_err_wrap(err, r, "update snapshot '%s'", s->key);
	}
	return 0;
}

static int commit_snapshot(struct meta_db *db, const char *ns, const char *snapshotter,
			   const char *key, const char *name, const char *backend_key,
			   char *const *labels, const char *lease, struct wh_err **err)
{
	struct meta_snapshot old = {0}, s = {0};
	int r = get_snapshot(db, ns, snapshotter, key, &old, err);

	if (r < 0)
		return r;
	if (old.kind != META_SNAPSHOT_ACTIVE) {
		r = wh_err_setx(err, EINVAL, "snapshot '%s' is not active", key);
		goto out;
	}
	if (lease) {
		r = lease_check(db, ns, lease, err);
		if (r < 0)
			goto out;
	}
	s = (struct meta_snapshot){.snapshotter = old.snapshotter,
				   .key = (char *)name,
				   .backend_key =
					   (char *)(backend_key ? backend_key : old.backend_key),
				   .parent = old.parent,
				   .kind = META_SNAPSHOT_COMMITTED,
				   .labels = (char **)labels};
	r = snapshot_delete_row(db, ns, snapshotter, key, err);
	if (r >= 0)
		r = insert_snapshot(db, ns, &s, err);
	if (r >= 0 && lease) {
		cleanup_free char *type = xasprintf("snapshots/%s", snapshotter);
		r = lease_add(db, ns, lease, type, name, err);
	}
out:
	meta_snapshot_release(&old);
	return r;
}

int meta_snapshot_commit(struct meta_db *db, const char *ns, const char *snapshotter,
			 const char *key, const char *name, const char *backend_key,
			 char *const *labels, const char *lease, struct wh_err **err)
{
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_key(snapshotter, key, err);
	if (r >= 0)
		r = check_key(snapshotter, name, err);
	if (r >= 0 && backend_key && !*backend_key)
		r = wh_err_setx(err, EINVAL, "commit snapshot '%s': empty backend key", key);
	if (r >= 0)
		r = labels_check(labels, err);
	if (r < 0)
		return wh_err_wrap(err, r, "commit snapshot");
	r = db_begin(db, err);
	if (r >= 0)
		r = commit_snapshot(db, ns, snapshotter, key, name, backend_key, labels, lease,
				    err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		if (r == -EEXIST) {
			err_clear(err);
			return wh_err_setx(err, EEXIST, "snapshot '%s' of '%s' already exists",
					   name, snapshotter);
		}
		return wh_err_wrap(err, r, "commit snapshot '%s' as '%s'", key, name);
	}
	return 0;
}

static bool snapshot_field(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const struct meta_snapshot *s = userdata;
	const char *v = NULL;

	if (n == 1 && streq(path[0], "name"))
		v = s->key;
	else if (n == 1 && streq(path[0], "parent"))
		v = s->parent;
	else if (n == 1 && streq(path[0], "snapshotter"))
		v = s->snapshotter;
	else if (n == 1 && streq(path[0], "kind") && s->kind > 0 &&
		 s->kind < _META_SNAPSHOT_KIND_MAX)
		v = kind_names[s->kind];
	else
		return filter_lookup_labels(s->labels, path, n, ret);
	if (!v)
		return false;
	*ret = v;
	return true;
}

int meta_snapshot_list(struct meta_db *db, const char *ns, const char *snapshotter,
		       const struct filter *f, struct meta_snapshot **ret, size_t *ret_n,
		       struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct meta_snapshot *v = NULL;
	size_t n = 0, cap = 0;
	int rc, r = check_namespace(ns, err);

	if (r >= 0 && snapshotter)
		r = check_identifier("snapshotter", snapshotter, err);
	if (r >= 0)
		r = db_prepare(db, &st,
			       "SELECT " SNAP_COLS
			       " FROM snapshots WHERE ns = ?1 AND (?2 IS NULL OR "
			       "snapshotter = ?2) ORDER BY snapshotter, key",
			       err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, snapshotter);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_snapshot s;
		r = load_snapshot(db, ns, st, &s, err);
		if (r < 0) {
			meta_snapshots_free(v, n);
			return r;
		}
		if (!filter_match(f, snapshot_field, &s)) {
			meta_snapshot_release(&s);
			continue;
		}
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		v[n++] = s;
	}
	if (rc != SQLITE_DONE) {
		meta_snapshots_free(v, n);
		return db_error(db, rc, err, "list snapshots");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int has_children(struct meta_db *db, const char *ns, const char *snapshotter,
			const char *key, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = db_prepare(db, &st,
			       "SELECT 1 FROM snapshots WHERE ns = ? AND snapshotter = ? AND "
			       "parent = ? LIMIT 1",
			       err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, snapshotter);
	db_bind_text(st, 3, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		return db_error(db, rc, err, "look up children of '%s'", key);
	return 0;
}

int snapshot_delete_row(struct meta_db *db, const char *ns, const char *snapshotter,
			const char *key, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *id = label_id(snapshotter, key);
	int r = db_prepare(
		db, &st, "DELETE FROM snapshots WHERE ns = ? AND snapshotter = ? AND key = ?", err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, snapshotter);
	db_bind_text(st, 3, key);
	r = db_step_done(db, st, err);
	if (r >= 0)
		r = labels_delete_all(db, ns, KIND_SNAPSHOT, id, err);
	return r;
}

int meta_snapshot_delete(struct meta_db *db, const char *ns, const char *snapshotter,
			 const char *key, struct wh_err **err)
{
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_key(snapshotter, key, err);
	if (r < 0)
		return wh_err_wrap(err, r, "delete snapshot");
	r = db_begin(db, err);
	if (r >= 0)
		r = get_snapshot(db, ns, snapshotter, key, NULL, err);
	if (r >= 0)
		r = has_children(db, ns, snapshotter, key, err);
	if (r > 0)
		r = wh_err_setx(err, EBUSY, "cannot remove snapshot '%s' with child", key);
	if (r >= 0)
		r = snapshot_delete_row(db, ns, snapshotter, key, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		return wh_err_wrap(err, r, "delete snapshot '%s'", key);
	}
	return 0;
}

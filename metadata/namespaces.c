/* SPDX-License-Identifier: Apache-2.0 */
/* Namespaces: create, get, list, labels, and delete only when empty. */
#include <errno.h>

#include "metadata/internal.h"

static int namespace_exists(struct meta_db *db, const char *ns, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = db_prepare(db, &st, "SELECT 1 FROM namespaces WHERE name = ?", err);
	int rc;

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		return db_error(db, rc, err, "look up namespace '%s'", ns);
	return 0;
}

int meta_namespace_create(struct meta_db *db, const char *ns, char *const *labels,
			  struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = labels_check(labels, err);
	if (r < 0)
		return wh_err_wrap(err, r, "create namespace");
	r = db_begin(db, err);
	if (r < 0)
		return wh_err_wrap(err, r, "create namespace '%s'", ns);
	r = db_prepare(db, &st, "INSERT INTO namespaces (name, created, updated) VALUES (?, ?, ?)",
		       err);
	if (r >= 0) {
		db_bind_text(st, 1, ns);
		sqlite3_bind_int64(st, 2, (int64_t)now_real_ns());
		sqlite3_bind_int64(st, 3, (int64_t)now_real_ns());
		r = db_step_done(db, st, err);
	}
	if (r >= 0)
		r = labels_replace(db, ns, KIND_NAMESPACE, ns, labels, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		if (r == -EEXIST) {
			err_clear(err);
			return wh_err_setx(err, EEXIST, "namespace '%s' already exists", ns);
		}
		return wh_err_wrap(err, r, "create namespace '%s'", ns);
	}
	return 0;
}

int meta_namespace_get(struct meta_db *db, const char *ns, char ***ret_labels, struct wh_err **err)
{
	int r = check_namespace(ns, err);

	if (r < 0)
		return r;
	r = namespace_exists(db, ns, err);
	if (r < 0)
		return r;
	if (r == 0)
		return wh_err_setx(err, ENOENT, "namespace '%s' not found", ns);
	return labels_load(db, ns, KIND_NAMESPACE, ns, ret_labels, err);
}

int meta_namespace_list(struct meta_db *db, char ***ret, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_strv char **v = NULL;
	int r = db_prepare(db, &st, "SELECT name FROM namespaces ORDER BY name", err);
	int rc;

	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strv_push(&v, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		return db_error(db, rc, err, "list namespaces");
	*ret = TAKE_PTR(v);
	return 0;
}

static int touch_namespace(struct meta_db *db, const char *ns, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = db_prepare(db, &st, "UPDATE namespaces SET updated = ? WHERE name = ?", err);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (int64_t)now_real_ns());
	db_bind_text(st, 2, ns);
	return db_step_done(db, st, err);
}

int meta_namespace_set_label(struct meta_db *db, const char *ns, const char *key, const char *value,
			     struct wh_err **err)
{
	char *kv[] = {(char *)key, (char *)(value ? value : ""), NULL};
	int r = check_namespace(ns, err);

	if (r >= 0 && !key)
		r = wh_err_setx(err, EINVAL, "label key required");
	if (r >= 0)
		r = labels_check(kv, err);
	if (r < 0)
		return wh_err_wrap(err, r, "set label of namespace");
	r = db_begin(db, err);
	if (r < 0)
		return r;
	r = namespace_exists(db, ns, err);
	if (r == 0)
		r = wh_err_setx(err, ENOENT, "namespace '%s' not found", ns);
	if (r >= 0)
		r = labels_set(db, ns, KIND_NAMESPACE, ns, key, value, err);
	if (r >= 0)
		r = touch_namespace(db, ns, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		return wh_err_wrap(err, r, "set label '%s' of namespace '%s'", key, ns);
	}
	return 0;
}

/* Appends the names of the non-empty object tables of ns to sb. */
static int namespace_contents(struct meta_db *db, const char *ns, struct strbuf *sb,
			      struct wh_err **err)
{
	static const char *const tables[][2] = {
		{"images", "images"},	    {"containers", "containers"}, {"content", "blobs"},
		{"snapshots", "snapshots"}, {"leases", "leases"},	  {"ingests", "ingests"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
		cleanup_stmt sqlite3_stmt *st = NULL;
		cleanup_free char *sql =
			xasprintf("SELECT 1 FROM %s WHERE ns = ? LIMIT 1", tables[i][0]);
		int rc, r = db_prepare(db, &st, sql, err);

		if (r < 0)
			return r;
		db_bind_text(st, 1, ns);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return db_error(db, rc, err, "count %s", tables[i][0]);
		if (rc == SQLITE_ROW)
			strbuf_addf(sb, "%s%s", sb->len ? ", " : "", tables[i][1]);
	}
	return 0;
}

int meta_namespace_delete(struct meta_db *db, const char *ns, struct wh_err **err)
{
	cleanup_strbuf struct strbuf used = STRBUF_INIT;
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = check_namespace(ns, err);

	if (r < 0)
		return r;
	r = db_begin(db, err);
	if (r < 0)
		return wh_err_wrap(err, r, "delete namespace '%s'", ns);
	r = namespace_exists(db, ns, err);
	if (r == 0)
		r = wh_err_setx(err, ENOENT, "namespace '%s' not found", ns);
	if (r >= 0)
		r = namespace_contents(db, ns, &used, err);
	if (r >= 0 && used.len)
		r = wh_err_setx(err, EBUSY, "namespace '%s' must be empty, but it still has %s", ns,
				used.buf);
	if (r >= 0)
		r = db_prepare(db, &st, "DELETE FROM namespaces WHERE name = ?", err);
	if (r >= 0) {
		db_bind_text(st, 1, ns);
		r = db_step_done(db, st, err);
	}
	if (r >= 0)
		r = labels_delete_all(db, ns, KIND_NAMESPACE, ns, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		return wh_err_wrap(err, r, "delete namespace");
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Leases: create, list, delete, and their resources (content, ingests, snapshots/<name>). */
#include <errno.h>

#include "common/filter.h"
#include "metadata/internal.h"

void meta_lease_release(struct meta_lease *l)
{
	if (!l)
		return;
	free(l->id);
	strv_free(l->labels);
	memset(l, 0, sizeof(*l));
}

void meta_leases_free(struct meta_lease *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		meta_lease_release(&v[i]);
	free(v);
}

void meta_lease_resources_free(struct meta_lease_resource *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].id);
		free(v[i].type);
	}
	free(v);
}

int lease_check(struct meta_db *db, const char *ns, const char *lease, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = db_prepare(db, &st, "SELECT 1 FROM leases WHERE ns = ? AND id = ?", err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, lease);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return wh_err_setx(err, ENOENT, "lease '%s' not found in namespace '%s'", lease,
				   ns);
	if (rc != SQLITE_ROW)
		return db_error(db, rc, err, "look up lease '%s'", lease);
	return 0;
}

int lease_add(struct meta_db *db, const char *ns, const char *lease, const char *type,
	      const char *id, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = db_prepare(db, &st,
			   "INSERT OR IGNORE INTO lease_resources (ns, lease, type, rid) "
			   "VALUES (?, ?, ?, ?)",
			   err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, lease);
	db_bind_text(st, 3, type);
	db_bind_text(st, 4, id);
	return db_step_done(db, st, err);
}

static int check_expire(char *const *labels, struct wh_err **err)
{
	const char *exp = meta_labels_get(labels, META_LABEL_GC_EXPIRE);
	uint64_t ns;

	if (exp && meta_parse_rfc3339(exp, &ns) < 0)
		return wh_err_setx(err, EINVAL, "label %s: '%s' is not an RFC 3339 time",
				   META_LABEL_GC_EXPIRE, exp);
	return 0;
}

int meta_lease_create(struct meta_db *db, const char *ns, const char *id, char *const *labels,
		      struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_identifier("lease id", id, err);
	if (r >= 0)
		r = labels_check(labels, err);
	if (r >= 0)
		r = check_expire(labels, err);
	if (r < 0)
		return wh_err_wrap(err, r, "create lease");
	r = db_begin(db, err);
	if (r >= 0)
		r = ensure_namespace(db, ns, err);
	if (r >= 0)
		r = db_prepare(db, &st, "INSERT INTO leases (ns, id, created) VALUES (?, ?, ?)",
			       err);
	if (r >= 0) {
		db_bind_text(st, 1, ns);
		db_bind_text(st, 2, id);
		sqlite3_bind_int64(st, 3, (int64_t)now_real_ns());
		r = db_step_done(db, st, err);
	}
	if (r >= 0)
		r = labels_replace(db, ns, KIND_LEASE, id, labels, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		if (r == -EEXIST) {
			err_clear(err);
			return wh_err_setx(err, EEXIST, "lease '%s' already exists", id);
		}
		return wh_err_wrap(err, r, "create lease '%s'", id);
	}
	return 0;
}

static bool lease_field(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const struct meta_lease *l = userdata;

	if (n == 1 && streq(path[0], "id")) {
		*ret = l->id;
		return true;
	}
	return filter_lookup_labels(l->labels, path, n, ret);
}

int meta_lease_list(struct meta_db *db, const char *ns, const struct filter *f,
		    struct meta_lease **ret, size_t *ret_n, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct meta_lease *v = NULL;
	size_t n = 0, cap = 0;
	int rc, r = check_namespace(ns, err);

	if (r >= 0)
		r = db_prepare(db, &st, "SELECT id, created FROM leases WHERE ns = ? ORDER BY id",
			       err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_lease l = {0};
		l.id = db_col_strdup(st, 0);
		l.created_ns = (uint64_t)sqlite3_column_int64(st, 1);
		r = labels_load(db, ns, KIND_LEASE, l.id, &l.labels, err);
		if (r < 0) {
			meta_lease_release(&l);
			meta_leases_free(v, n);
			return r;
		}
		if (!filter_match(f, lease_field, &l)) {
			meta_lease_release(&l);
			continue;
		}
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		v[n++] = l;
	}
	if (rc != SQLITE_DONE) {
		meta_leases_free(v, n);
		return db_error(db, rc, err, "list leases");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int meta_lease_delete(struct meta_db *db, const char *ns, const char *id, struct wh_err **err)
{
	static const char *const sqls[] = {"DELETE FROM leases WHERE ns = ? AND id = ?",
					   "DELETE FROM lease_resources WHERE ns = ? AND lease = ?",
					   NULL};
	static const char *const kinds[] = {KIND_LEASE, NULL};
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_identifier("lease id", id, err);
	if (r >= 0)
		r = db_delete_object(db, ns, "lease", id, sqls, kinds, err);
	return r < 0 ? wh_err_wrap(err, r, "delete lease") : 0;
}

static int check_resource(const struct meta_lease_resource *res, struct wh_err **err)
{
	if (!res || !res->type || !res->id || !*res->id)
		return wh_err_setx(err, EINVAL, "lease resource needs a type and an id");
	if (streq(res->type, "content")) {
		if (!digest_is_valid(res->id))
			return wh_err_setx(err, EINVAL, "lease resource: invalid digest '%s'",
					   res->id);
		return 0;
	}
	if (streq(res->type, "ingests"))
		return 0;
	if (str_startswith(res->type, "snapshots/") && res->type[10] &&
	    !strchr(res->type + 10, '/'))
		return 0;
	return wh_err_setx(err, EINVAL,
			   "lease resource type '%s' unknown: want content, ingests or "
			   "snapshots/<snapshotter>",
			   res->type);
}

int meta_lease_add_resource(struct meta_db *db, const char *ns, const char *lease,
			    const struct meta_lease_resource *res, struct wh_err **err)
{
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_resource(res, err);
	if (r < 0)
		return wh_err_wrap(err, r, "add lease resource");
	r = db_begin(db, err);
	if (r >= 0)
		r = lease_check(db, ns, lease, err);
	if (r >= 0)
		r = lease_add(db, ns, lease, res->type, res->id, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		return wh_err_wrap(err, r, "add resource %s '%s' to lease", res->type, res->id);
	}
	return 0;
}

int meta_lease_delete_resource(struct meta_db *db, const char *ns, const char *lease,
			       const struct meta_lease_resource *res, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_resource(res, err);
	if (r < 0)
		return wh_err_wrap(err, r, "delete lease resource");
	r = db_begin(db, err);
	if (r >= 0)
		r = lease_check(db, ns, lease, err);
	if (r >= 0)
		r = db_prepare(
			db, &st,
			"DELETE FROM lease_resources WHERE ns = ? AND lease = ? AND type = ? "
			"AND rid = ?",
			err);
	if (r >= 0) {
		db_bind_text(st, 1, ns);
		db_bind_text(st, 2, lease);
		db_bind_text(st, 3, res->type);
		db_bind_text(st, 4, res->id);
		r = db_step_done(db, st, err);
	}
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		return wh_err_wrap(err, r, "delete resource %s '%s' of lease", res->type, res->id);
	}
	return 0;
}

int meta_lease_list_resources(struct meta_db *db, const char *ns, const char *lease,
			      struct meta_lease_resource **ret, size_t *ret_n, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct meta_lease_resource *v = NULL;
	size_t n = 0, cap = 0;
	int rc, r = check_namespace(ns, err);

	if (r >= 0)
		r = lease_check(db, ns, lease, err);
	if (r >= 0)
		r = db_prepare(db, &st,
			       "SELECT type, rid FROM lease_resources WHERE ns = ? AND lease = ? "
			       "ORDER BY type, rid",
			       err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, lease);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		v[n].type = db_col_strdup(st, 0);
		v[n].id = db_col_strdup(st, 1);
		n++;
	}
	if (rc != SQLITE_DONE) {
		meta_lease_resources_free(v, n);
		return db_error(db, rc, err, "list lease resources");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Containers (containerd's metadata/containers.go): id, labels, image, runtime name and options,
 * spec, snapshotter and snapshot key, extensions, timestamps. Anys are stored as type + bytes.
 */
#include <errno.h>

#include "common/filter.h"
#include "metadata/internal.h"

#define ANY_MAX (16u << 20)

static void any_release(struct meta_any *a)
{
	free(a->type_url);
	free(a->value);
	memset(a, 0, sizeof(*a));
}

void meta_container_release(struct meta_container *c)
{
	if (!c)
		return;
	free(c->id);
	strv_free(c->labels);
	free(c->image);
	free(c->runtime_name);
	any_release(&c->runtime_options);
	any_release(&c->spec);
	free(c->snapshotter);
	free(c->snapshot_key);
	for (size_t i = 0; i < c->n_extensions; i++) {
		free(c->extensions[i].name);
		any_release(&c->extensions[i].any);
	}
	free(c->extensions);
	memset(c, 0, sizeof(*c));
}

void meta_containers_free(struct meta_container *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		meta_container_release(&v[i]);
	free(v);
}

static int check_any(const char *what, const struct meta_any *a, struct wh_err **err)
{
	if (a->len > ANY_MAX)
		return wh_err_setx(err, EINVAL, "%s larger than %u bytes", what, ANY_MAX);
	if (a->len && !a->value)
		return wh_err_setx(err, EINVAL, "%s: value missing", what);
	return 0;
}

static int check_container(const struct meta_container *c, struct wh_err **err)
{
	int r = check_identifier("container id", c->id, err);

	if (r < 0)
		return r;
	if (!c->runtime_name || !*c->runtime_name)
		return wh_err_setx(err, EINVAL, "container '%s': runtime name required", c->id);
	if (c->snapshot_key && *c->snapshot_key && (!c->snapshotter || !*c->snapshotter))
		return wh_err_setx(err, EINVAL,
				   "container '%s': snapshot key given without a snapshotter",
				   c->id);
	r = labels_check(c->labels, err);
	if (r >= 0)
		r = check_any("runtime options", &c->runtime_options, err);
	if (r >= 0)
		r = check_any("spec", &c->spec, err);
	for (size_t i = 0; r >= 0 && i < c->n_extensions; i++) {
		if (!c->extensions[i].name || !*c->extensions[i].name)
			return wh_err_setx(err, EINVAL, "container '%s': extension name required",
					   c->id);
		r = check_any("extension", &c->extensions[i].any, err);
	}
	return r;
}

static void bind_any(sqlite3_stmt *st, int i, const struct meta_any *a)
{
	db_bind_text(st, i, a->type_url);
	if (a->value)
		sqlite3_bind_blob64(st, i + 1, a->value, a->len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i + 1);
}

static void col_any(sqlite3_stmt *st, int i, struct meta_any *a)
{
	const void *p = sqlite3_column_blob(st, i + 1);

	a->type_url = db_col_strdup(st, i);
	a->len = (size_t)sqlite3_column_bytes(st, i + 1);
	a->value = p ? xmemdup(p, a->len) : NULL;
}

static int write_extensions(struct meta_db *db, const char *ns, const struct meta_container *c,
			    const char *only, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *del = NULL, *ins = NULL;
	int r = db_prepare(db, &del,
			   "DELETE FROM container_extensions WHERE ns = ? AND id = ? AND "
			   "(?3 IS NULL OR name = ?3)",
			   err);

	if (r >= 0)
		r = db_prepare(db, &ins,
			       "INSERT INTO container_extensions (ns, id, name, type_url, value) "
			       "VALUES (?, ?, ?, ?, ?)",
			       err);
	if (r < 0)
		return r;
	db_bind_text(del, 1, ns);
	db_bind_text(del, 2, c->id);
	db_bind_text(del, 3, only);
	r = db_step_done(db, del, err);
	for (size_t i = 0; r >= 0 && i < c->n_extensions; i++) {
		if (only && !streq(only, c->extensions[i].name))
			continue;
		sqlite3_reset(ins);
		db_bind_text(ins, 1, ns);
		db_bind_text(ins, 2, c->id);
		db_bind_text(ins, 3, c->extensions[i].name);
		bind_any(ins, 4, &c->extensions[i].any);
		r = db_step_done(db, ins, err);
	}
	return r;
}

int meta_container_create(struct meta_db *db, const char *ns, struct meta_container *c,
			  struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_container(c, err);
	if (r < 0)
		return wh_err_wrap(err, r, "create container");
	r = db_begin(db, err);
	if (r >= 0)
		r = ensure_namespace(db, ns, err);
	if (r >= 0)
		r = db_prepare(db, &st,
			       "INSERT INTO containers (ns, id, image, runtime_name, runtime_type, "
			       "runtime_value, spec_type, spec_value, snapshotter, snapshot_key, "
			       "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       err);
	if (r >= 0) {
		db_bind_text(st, 1, ns);
		db_bind_text(st, 2, c->id);
		db_bind_text(st, 3, c->image);
		db_bind_text(st, 4, c->runtime_name);
		bind_any(st, 5, &c->runtime_options);
		bind_any(st, 7, &c->spec);
		db_bind_text(st, 9, c->snapshotter);
		db_bind_text(st, 10, c->snapshot_key);
		sqlite3_bind_int64(st, 11, (int64_t)now_real_ns());
		sqlite3_bind_int64(st, 12, (int64_t)now_real_ns());
		r = db_step_done(db, st, err);
	}
	if (r >= 0)
		r = labels_replace(db, ns, KIND_CONTAINER, c->id, c->labels, err);
	if (r >= 0)
		r = write_extensions(db, ns, c, NULL, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		if (r == -EEXIST) {
			err_clear(err);
			return wh_err_setx(err, EEXIST, "container '%s' already exists", c->id);
		}
		return wh_err_wrap(err, r, "create container '%s'", c->id);
	}
	return 0;
}

static int load_extensions(struct meta_db *db, const char *ns, struct meta_container *c,
			   struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc, r = db_prepare(
			db, &st,
			"SELECT name, type_url, value FROM container_extensions WHERE ns = ? "
			"AND id = ? ORDER BY name",
			err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, c->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow((void **)&c->extensions, &cap, c->n_extensions + 1, sizeof(*c->extensions));
		c->extensions[c->n_extensions].name = db_col_strdup(st, 0);
		col_any(st, 1, &c->extensions[c->n_extensions].any);
		c->n_extensions++;
	}
	if (rc != SQLITE_DONE)
		return db_error(db, rc, err, "load extensions");
	return 0;
}

#define CONTAINER_COLS                                                                  \
	"id, image, runtime_name, runtime_type, runtime_value, spec_type, spec_value, " \
	"snapshotter, snapshot_key, created, updated"

static int load_container(struct meta_db *db, const char *ns, sqlite3_stmt *st,
			  struct meta_container *ret, struct wh_err **err)
{
	struct meta_container c = {0};
	int r;

	c.id = db_col_strdup(st, 0);
	c.image = db_col_strdup(st, 1);
	c.runtime_name = db_col_strdup(st, 2);
	col_any(st, 3, &c.runtime_options);
	col_any(st, 5, &c.spec);
	c.snapshotter = db_col_strdup(st, 7);
	c.snapshot_key = db_col_strdup(st, 8);
	c.created_ns = (uint64_t)sqlite3_column_int64(st, 9);
	c.updated_ns = (uint64_t)sqlite3_column_int64(st, 10);
	r = labels_load(db, ns, KIND_CONTAINER, c.id, &c.labels, err);
	if (r >= 0)
		r = load_extensions(db, ns, &c, err);
	if (r < 0) {
		meta_container_release(&c);
		return r;
	}
	*ret = c;
	return 0;
}

static int get_container(struct meta_db *db, const char *ns, const char *id,
			 struct meta_container *ret, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = db_prepare(db, &st,
			       "SELECT " CONTAINER_COLS " FROM containers WHERE ns = ? AND id = ?",
			       err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return wh_err_setx(err, ENOENT, "container '%s' not found", id);
	if (rc != SQLITE_ROW)
		return db_error(db, rc, err, "get container '%s'", id);
	return load_container(db, ns, st, ret, err);
}

int meta_container_get(struct meta_db *db, const char *ns, const char *id,
		       struct meta_container *ret, struct wh_err **err)
{
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_identifier("container id", id, err);
	if (r < 0)
		return r;
	return get_container(db, ns, id, ret, err);
}

static bool str_eq_null(const char *a, const char *b)
{
	return streq(a ? a : "", b ? b : "");
}

static int update_field(struct meta_db *db, const char *ns, const struct meta_container *c,
			const char *path, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	if (streq(path, "image"))
		r = db_prepare(db, &st,
			       "UPDATE containers SET image = ?3 WHERE ns = ?1 AND id = ?2", err);
	else if (streq(path, "snapshotkey"))
		r = db_prepare(db, &st,
			       "UPDATE containers SET snapshot_key = ?3 WHERE ns = ?1 AND id = ?2",
			       err);
	else if (streq(path, "spec"))
		r = db_prepare(
			db, &st,
			"UPDATE containers SET spec_type = ?3, spec_value = ?4 WHERE ns = ?1 "
			"AND id = ?2",
			err);
	else if (streq(path, "extensions"))
		return write_extensions(db, ns, c, NULL, err);
	else if (str_startswith(path, "extensions.") && path[11])
		return write_extensions(db, ns, c, path + 11, err);
	else
		return wh_err_setx(err, EINVAL, "cannot update '%s' of container", path);
	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, c->id);
	if (streq(path, "image"))
		db_bind_text(st, 3, c->image);
	else if (streq(path, "snapshotkey"))
		db_bind_text(st, 3, c->snapshot_key);
	else
		bind_any(st, 3, &c->spec);
	return db_step_done(db, st, err);
}

static int update_container(struct meta_db *db, const char *ns, struct meta_container *c,
			    const char *const *paths, struct wh_err **err)
{
	static const char *const all[] = {"labels",	 "image",      "spec",
					  "snapshotkey", "extensions", NULL};
	struct meta_container old = {0};
	bool other = false;
	int r = get_container(db, ns, c->id, &old, err);

	if (r < 0)
		return r;
	if (!str_eq_null(old.runtime_name, c->runtime_name))
		r = wh_err_setx(err, EINVAL, "container '%s': runtime is immutable", c->id);
	else if (!str_eq_null(old.snapshotter, c->snapshotter))
		r = wh_err_setx(err, EINVAL, "container '%s': snapshotter is immutable", c->id);
	meta_container_release(&old);
	if (r < 0)
		return r;
	if (!paths || !*paths)
		paths = all;
	r = labels_apply_paths(db, ns, KIND_CONTAINER, c->id, c->labels, paths, &other, err);
	for (size_t i = 0; r >= 0 && other && paths[i]; i++) {
		if (!streq(paths[i], "labels") && !str_startswith(paths[i], "labels."))
			r = update_field(db, ns, c, paths[i], err);
	}
	if (r >= 0)
		r = touch_row(db, "containers", "id", ns, c->id, err);
	return r;
}

int meta_container_update(struct meta_db *db, const char *ns, struct meta_container *c,
			  const char *const *paths, struct wh_err **err)
{
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_container(c, err);
	if (r < 0)
		return wh_err_wrap(err, r, "update container");
	r = db_begin(db, err);
	if (r >= 0)
		r = update_container(db, ns, c, paths, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		return wh_err_wrap(err, r, "update container '%s'", c->id);
	}
	return 0;
}

static bool container_field(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const struct meta_container *c = userdata;
	const char *v = NULL;

	if (n == 1 && streq(path[0], "id"))
		v = c->id;
	else if (n == 1 && streq(path[0], "image"))
		v = c->image;
	else if (n == 2 && streq(path[0], "runtime") && streq(path[1], "name"))
		v = c->runtime_name;
	else if (n == 1 && streq(path[0], "snapshotter"))
		v = c->snapshotter;
	else if (n == 1 && streq(path[0], "snapshotkey"))
		v = c->snapshot_key;
	else
		return filter_lookup_labels(c->labels, path, n, ret);
	if (!v || !*v)
		return false;
	*ret = v;
	return true;
}

int meta_container_list(struct meta_db *db, const char *ns, const struct filter *f,
			struct meta_container **ret, size_t *ret_n, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct meta_container *v = NULL;
	size_t n = 0, cap = 0;
	int rc, r = check_namespace(ns, err);

	if (r >= 0)
		r = db_prepare(db, &st,
			       "SELECT " CONTAINER_COLS " FROM containers WHERE ns = ? ORDER BY id",
			       err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_container c;
		r = load_container(db, ns, st, &c, err);
		if (r < 0) {
			meta_containers_free(v, n);
			return r;
		}
		if (!filter_match(f, container_field, &c)) {
			meta_container_release(&c);
			continue;
		}
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		v[n++] = c;
	}
	if (rc != SQLITE_DONE) {
		meta_containers_free(v, n);
		return db_error(db, rc, err, "list containers");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int meta_container_delete(struct meta_db *db, const char *ns, const char *id, struct wh_err **err)
{
	static const char *const sqls[] = {
		"DELETE FROM containers WHERE ns = ? AND id = ?",
		"DELETE FROM container_extensions WHERE ns = ? AND id = ?", NULL};
	static const char *const kinds[] = {KIND_CONTAINER, NULL};
	int r = check_namespace(ns, err);

	if (r >= 0)
		r = check_identifier("container id", id, err);
	if (r >= 0)
		r = db_delete_object(db, ns, "container", id, sqls, kinds, err);
	return r < 0 ? wh_err_wrap(err, r, "delete container") : 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The namespaced view of the content store (containerd's metadata/content.go): ownership rows,
 * labels per namespace, namespaced ingests with leases, and commit under the GC lock.
 */
#include "content/content.h"

#include <errno.h>

#include "common/filter.h"
#include "metadata/internal.h"

#define INGEST_EXPIRY_NS (24ull * 3600 * 1000000000ull)

struct meta_writer {
	struct meta_db *db;
	char *ns;
	char *ref;
	char *lease;
	struct content_writer *w;
};

void meta_content_info_release(struct meta_content_info *i)
{
	if (i) {
		strv_free(i->labels);
		i->labels = NULL;
	}
}

static char *backend_ref(const char *ns, const char *ref)
{
	return xasprintf("%s/%s", ns, ref);
}

static int record_ingest(struct meta_db *db, const char *ns, const char *ref, const char *expected,
			 const char *lease, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = db_begin(db, err);

	if (r >= 0)
		r = ensure_namespace(db, ns, err);
	if (r >= 0 && lease)
		r = lease_check(db, ns, lease, err);
	if (r >= 0)
		r = db_prepare(db, &st,
			       "INSERT OR REPLACE INTO ingests (ns, ref, expected, expires) "
			       "VALUES (?, ?, ?, ?)",
			       err);
	if (r >= 0) {
		db_bind_text(st, 1, ns);
		db_bind_text(st, 2, ref);
		db_bind_text(st, 3, expected);
		/* under a lease the ingest lives as long as the lease */
		sqlite3_bind_int64(st, 4,
				   lease ? INT64_MAX : (int64_t)(now_real_ns() + INGEST_EXPIRY_NS));
		r = db_step_done(db, st, err);
	}
	if (r >= 0 && lease)
		r = lease_add(db, ns, lease, "ingests", ref, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0)
		db_rollback(db);
	return r;
}

int meta_writer_open(struct meta_db *db, const char *ns, const char *ref, uint64_t total,
		     const char *expected, const char *lease, struct meta_writer **ret,
		     struct wh_err **err)
{
	cleanup_free char *bref = NULL;
	struct meta_writer *mw;
	int r = check_namespace(ns, err);

	if (r >= 0 && (!ref || !*ref))
		r = wh_err_setx(err, EINVAL, "ref required");
	if (r >= 0 && expected && *expected && !digest_is_valid(expected))
		r = wh_err_setx(err, EINVAL, "invalid expected digest '%s'", expected);
	if (r < 0)
		return wh_err_wrap(err, r, "open writer");
	if (lease) {
		/* refuse early, before an ingest exists on disk */
		r = lease_check(db, ns, lease, err);
		if (r < 0)
			return wh_err_wrap(err, r, "open writer '%s'", ref);
	}
	mw = xnew0(struct meta_writer, 1);
	mw->db = db;
	mw->ns = xstrdup(ns);
	mw->ref = xstrdup(ref);
	mw->lease = lease ? xstrdup(lease) : NULL;
	bref = backend_ref(ns, ref);
	r = content_writer_open(db->cs, bref, total, expected, &mw->w, err);
	if (r < 0) {
		meta_writer_free(mw);
		return r;
	}
	r = record_ingest(db, ns, ref, expected, lease, err);
	if (r < 0) {
		struct content_status st = {0};
		bool empty = content_writer_status(mw->w, &st, NULL) >= 0 && st.offset == 0;
		content_status_release(&st);
		meta_writer_free(mw);
		if (empty)
			(void)content_abort(db->cs, bref, NULL);
		return wh_err_wrap(err, r, "open writer '%s'", ref);
	}
	*ret = mw;
	return 0;
}

int meta_writer_write(struct meta_writer *w, const void *buf, size_t len, struct wh_err **err)
{
	return content_writer_write(w->w, buf, len, err);
}

int meta_writer_status(struct meta_writer *w, struct content_status *ret, struct wh_err **err)
{
	int r = content_writer_status(w->w, ret, err);

	if (r >= 0) {
		free(ret->ref);
		ret->ref = xstrdup(w->ref);
	}
	return r;
}

static int content_row_exists(struct meta_db *db, const char *ns, const char *digest,
			      struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = db_prepare(db, &st, "SELECT 1 FROM content WHERE ns = ? AND digest = ?", err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, digest);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		return db_error(db, rc, err, "look up content");
	return 0;
}

static int delete_ingest_row(struct meta_db *db, const char *ns, const char *ref,
			     struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL, *st2 = NULL;
	int r = db_prepare(db, &st, "DELETE FROM ingests WHERE ns = ? AND ref = ?", err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, ref);
	r = db_step_done(db, st, err);
	if (r >= 0)
		r = db_prepare(db, &st2,
			       "DELETE FROM lease_resources WHERE ns = ? AND type = 'ingests' AND "
			       "rid = ?",
			       err);
	if (r >= 0) {
		db_bind_text(st2, 1, ns);
		db_bind_text(st2, 2, ref);
		r = db_step_done(db, st2, err);
	}
	return r;
}

static int record_content(struct meta_writer *w, const char *digest, uint64_t size,
			  char *const *labels, struct wh_err **err)
{
	struct meta_db *db = w->db;
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = db_begin(db, err);

	if (r >= 0)
		r = ensure_namespace(db, w->ns, err);
	if (r >= 0)
		r = db_prepare(db, &st,
			       "INSERT INTO content (ns, digest, size, created, updated) "
			       "VALUES (?, ?, ?, ?, ?)",
			       err);
	if (r >= 0) {
		db_bind_text(st, 1, w->ns);
		db_bind_text(st, 2, digest);
		sqlite3_bind_int64(st, 3, (int64_t)size);
		sqlite3_bind_int64(st, 4, (int64_t)now_real_ns());
		sqlite3_bind_int64(st, 5, (int64_t)now_real_ns());
		r = db_step_done(db, st, err);
	}
	if (r >= 0)
		r = labels_replace(db, w->ns, KIND_CONTENT, digest, labels, err);
	/* the lease may be gone by now: then the content is simply not leased */
	if (r >= 0 && w->lease && lease_check(db, w->ns, w->lease, NULL) >= 0)
		r = lease_add(db, w->ns, w->lease, "content", digest, err);
	if (r >= 0)
		r = delete_ingest_row(db, w->ns, w->ref, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0)
		db_rollback(db);
	return r;
}

int meta_writer_commit(struct meta_writer *w, uint64_t size, const char *expected,
		       char *const *labels, char ret_digest[DIGEST_STR_LEN], struct wh_err **err)
{
	char dg[DIGEST_STR_LEN];
	struct content_info info;
	int r = labels_check(labels, err);

	if (r < 0)
		return wh_err_wrap(err, r, "commit '%s'", w->ref);
	r = gc_lock(w->db, false, err);
	if (r < 0)
		return r;
	r = content_writer_commit(w->w, size, expected, dg, err);
	if (r == -EEXIST) {
		/* on disk from another namespace (or a commit that crashed before its row):
		 * the data was written and verified again, so the namespace may own it */
		content_writer_digest(w->w, dg);
		err_clear(err);
		r = 0;
	}
	if (r < 0)
		goto out_unlock;
	r = content_info(w->db->cs, dg, &info, err);
	if (r < 0)
		goto out_unlock;
	r = record_content(w, dg, info.size, labels, err);
	if (r == -EEXIST) {
		/* the namespace had it already: the ingest is done all the same */
		err_clear(err);
		if (db_begin(w->db, NULL) >= 0 &&
		    delete_ingest_row(w->db, w->ns, w->ref, NULL) >= 0)
			(void)db_commit(w->db, NULL);
		db_rollback(w->db);
		r = wh_err_setx(err, EEXIST, "content %s already exists", dg);
	}
	if (r >= 0 && ret_digest)
		memcpy(ret_digest, dg, DIGEST_STR_LEN);
out_unlock:
	gc_unlock(w->db);
	if (r < 0)
		return wh_err_wrap(err, r, "commit '%s'", w->ref);
	return 0;
}

struct meta_writer *meta_writer_free(struct meta_writer *w)
{
	if (!w)
		return NULL;
	content_writer_free(w->w);
	free(w->ns);
	free(w->ref);
	free(w->lease);
	free(w);
	return NULL;
}

static int check_ns_digest(const char *ns, const char *digest, struct wh_err **err)
{
	int r = check_namespace(ns, err);

	if (r >= 0 && (!digest || !digest_is_valid(digest)))
		r = wh_err_setx(err, EINVAL, "invalid digest '%s'", digest ? digest : "(null)");
	return r;
}

static int load_info(struct meta_db *db, const char *ns, sqlite3_stmt *st,
		     struct meta_content_info *ret, struct wh_err **err)
{
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->digest, sizeof(ret->digest), "%s", (const char *)sqlite3_column_text(st, 0));
	ret->size = (uint64_t)sqlite3_column_int64(st, 1);
	ret->created_ns = (uint64_t)sqlite3_column_int64(st, 2);
	ret->updated_ns = (uint64_t)sqlite3_column_int64(st, 3);
	return labels_load(db, ns, KIND_CONTENT, ret->digest, &ret->labels, err);
}

int meta_content_info(struct meta_db *db, const char *ns, const char *digest,
		      struct meta_content_info *ret, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = check_ns_digest(ns, digest, err);

	if (r >= 0)
		r = db_prepare(
			db, &st,
			"SELECT digest, size, created, updated FROM content WHERE ns = ? AND "
			"digest = ?",
			err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, digest);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return wh_err_setx(err, ENOENT, "content %s not found in namespace '%s'", digest,
				   ns);
	if (rc != SQLITE_ROW)
		return db_error(db, rc, err, "content info");
	return load_info(db, ns, st, ret, err);
}

int meta_content_update(struct meta_db *db, const char *ns, const char *digest, char *const *labels,
			const char *const *paths, struct wh_err **err)
{
	bool other = false;
	int r = check_ns_digest(ns, digest, err);

	if (r >= 0)
		r = labels_check(labels, err);
	if (r < 0)
		return wh_err_wrap(err, r, "update content");
	r = db_begin(db, err);
	if (r >= 0) {
		r = content_row_exists(db, ns, digest, err);
		if (r == 0)
			r = wh_err_setx(err, ENOENT, "content %s not found in namespace '%s'",
					digest, ns);
	}
	if (r >= 0)
		r = labels_apply_paths(db, ns, KIND_CONTENT, digest, labels, paths, &other, err);
	if (r >= 0 && other)
		r = wh_err_setx(err, EINVAL, "only labels may be updated on content");
	if (r >= 0)
		r = touch_row(db, "content", "digest", ns, digest, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		return wh_err_wrap(err, r, "update content %s", digest);
	}
	return 0;
}

struct info_lookup {
	const struct meta_content_info *info;
	char size[32];
};

static bool info_field(void *userdata, const char *const *path, size_t n, const char **ret)
{
	struct info_lookup *l = userdata;

	if (n == 1 && streq(path[0], "digest")) {
		*ret = l->info->digest;
		return true;
	}
	if (n == 1 && streq(path[0], "size")) {
		*ret = l->size;
		return true;
	}
	return filter_lookup_labels(l->info->labels, path, n, ret);
}

int meta_content_walk(struct meta_db *db, const char *ns, const struct filter *f,
		      meta_content_walk_fn *fn, void *userdata, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int rc, r = check_namespace(ns, err);

	if (r >= 0)
		r = db_prepare(db, &st,
			       "SELECT digest, size, created, updated FROM content WHERE ns = ? "
			       "ORDER BY digest",
			       err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct meta_content_info info;
		struct info_lookup l = {.info = &info};

		r = load_info(db, ns, st, &info, err);
		if (r < 0)
			return r;
		snprintf(l.size, sizeof(l.size), "%llu", (unsigned long long)info.size);
		if (filter_match(f, info_field, &l))
			r = fn(&info, userdata);
		meta_content_info_release(&info);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return db_error(db, rc, err, "walk content");
	return 0;
}

int meta_content_delete(struct meta_db *db, const char *ns, const char *digest, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = check_ns_digest(ns, digest, err);

	if (r < 0)
		return wh_err_wrap(err, r, "delete content");
	r = db_begin(db, err);
	if (r >= 0)
		r = db_prepare(db, &st, "DELETE FROM content WHERE ns = ? AND digest = ?", err);
	if (r >= 0) {
		db_bind_text(st, 1, ns);
		db_bind_text(st, 2, digest);
		r = db_step_done(db, st, err);
	}
	if (r >= 0 && sqlite3_changes(db->db) == 0)
		r = wh_err_setx(err, ENOENT, "content %s not found in namespace '%s'", digest, ns);
	if (r >= 0)
		r = labels_delete_all(db, ns, KIND_CONTENT, digest, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0) {
		db_rollback(db);
		return wh_err_wrap(err, r, "delete content");
	}
	return 0;
}

int meta_content_reader_open(struct meta_db *db, const char *ns, const char *digest,
			     struct content_reader **ret, struct wh_err **err)
{
	int r = check_ns_digest(ns, digest, err);

	if (r >= 0)
		r = content_row_exists(db, ns, digest, err);
	if (r == 0)
		r = wh_err_setx(err, ENOENT, "content %s not found in namespace '%s'", digest, ns);
	if (r < 0)
		return r;
	return content_reader_open(db->cs, digest, ret, err);
}

int meta_content_status(struct meta_db *db, const char *ns, const char *ref,
			struct content_status *ret, struct wh_err **err)
{
	cleanup_free char *bref = NULL;
	int r = check_namespace(ns, err);

	if (r >= 0 && (!ref || !*ref))
		r = wh_err_setx(err, EINVAL, "ref required");
	if (r < 0)
		return r;
	bref = backend_ref(ns, ref);
	r = content_status(db->cs, bref, ret, err);
	if (r >= 0) {
		free(ret->ref);
		ret->ref = xstrdup(ref);
	}
	return r;
}

static bool status_field(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const struct content_status *st = userdata;

	if (n == 1 && streq(path[0], "ref")) {
		*ret = st->ref;
		return true;
	}
	if (n == 1 && streq(path[0], "expected") && *st->expected) {
		*ret = st->expected;
		return true;
	}
	return false;
}

int meta_content_list_statuses(struct meta_db *db, const char *ns, const struct filter *f,
			       struct content_status **ret, size_t *ret_n, struct wh_err **err)
{
	cleanup_free char *prefix = NULL;
	struct content_status *all = NULL;
	size_t n = 0, k = 0;
	int r = check_namespace(ns, err);

	if (r < 0)
		return r;
	/* filter after stripping the namespace, so that "ref==x" means the caller's ref */
	r = content_list_statuses(db->cs, NULL, &all, &n, err);
	if (r < 0)
		return r;
	prefix = xasprintf("%s/", ns);
	for (size_t i = 0; i < n; i++) {
		bool keep = str_startswith(all[i].ref, prefix);
		if (keep) {
			char *short_ref = xstrdup(all[i].ref + strlen(prefix));
			free(all[i].ref);
			all[i].ref = short_ref;
		}
		if (keep)
			keep = filter_match(f, status_field, &all[i]);
		if (!keep) {
			content_status_release(&all[i]);
			continue;
		}
		all[k++] = all[i];
	}
	*ret = all;
	*ret_n = k;
	return 0;
}

int meta_content_abort(struct meta_db *db, const char *ns, const char *ref, struct wh_err **err)
{
	cleanup_free char *bref = NULL;
	int r = check_namespace(ns, err);

	if (r >= 0 && (!ref || !*ref))
		r = wh_err_setx(err, EINVAL, "ref required");
	if (r < 0)
		return r;
	bref = backend_ref(ns, ref);
	r = content_abort(db->cs, bref, err);
	if (r < 0)
		return r;
	r = db_begin(db, err);
	if (r >= 0)
		r = delete_ingest_row(db, ns, ref, err);
	if (r >= 0)
		r = db_commit(db, err);
	if (r < 0)
		db_rollback(db);
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The builtin snapshotters: records in SQLite (WAL) under the root, one directory per snapshot
 * (<id>/fs, and <id>/work for overlay), made crash-safe by building in new-* directories and
 * renaming inside the transaction; removals rename to rm-* first. cleanup removes what no
 * record owns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common/common.h"
#include "common/filter.h"
#include "snapshots/internal.h"

enum driver {
	DRIVER_OVERLAY,
	DRIVER_NATIVE,
};

struct local {
	enum driver driver;
	char *root;
	int rootfd;
	sqlite3 *db;
	pthread_mutex_t lock;
	int lock_fd; /* <root>/metadata.db.lock, see local_lock */
};

/*
 * Threads of one process take the mutex; processes (wharfd and its wharfd-worker) share the
 * root too, so every change also holds <root>/metadata.db.lock shared and cleanup holds it
 * exclusively: cleanup must never take another process's half-made snapshot for an orphan.
 */
static void local_lock(struct local *l, bool exclusive)
{
	pthread_mutex_lock(&l->lock);
	while (l->lock_fd >= 0 && flock(l->lock_fd, exclusive ? LOCK_EX : LOCK_SH) < 0 &&
	       errno == EINTR)
		;
}

static void local_unlock(struct local *l)
{
	if (l->lock_fd >= 0)
		(void)flock(l->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&l->lock);
}

struct rec {
	int64_t id;
	char *key;
	int64_t parent_id; /* 0: none */
	int kind;
	int64_t created, updated, size, inodes;
};

static void rec_done(struct rec *r)
{
	free(r->key);
	r->key = NULL;
}

#define KEY_MAX 4096

static int check_key(const char *what, const char *key, struct wh_err **err)
{
	if (!key || !*key)
		return wh_err_setx(err, EINVAL, "%s is empty", what);
	if (strlen(key) > KEY_MAX)
		return wh_err_setx(err, EINVAL, "%s is longer than %d bytes", what, KEY_MAX);
	return 0;
}

static int check_labels(char *const *labels, struct wh_err **err)
{
	size_t n = strv_length(labels);
	if (n % 2)
		return wh_err_setx(err, EINVAL, "labels: key '%s' has no value", labels[n - 1]);
	for (size_t i = 0; i < n; i += 2) {
		if (!*labels[i] || strlen(labels[i]) > KEY_MAX)
			return wh_err_setx(err, EINVAL, "label key '%.64s' is empty or too long",
					   labels[i]);
		if (strlen(labels[i + 1]) > 65536)
			return wh_err_setx(err, EINVAL, "label '%s' has a value over 64 KiB",
					   labels[i]);
	}
	return 0;
}

/* ---- sqlite ---- */

static int db_err(struct local *l, struct wh_err **err, const char *what)
{
	int c = sqlite3_errcode(l->db);
	int e = c == SQLITE_BUSY || c == SQLITE_LOCKED ? EBUSY
		: c == SQLITE_CONSTRAINT	       ? EEXIST
		: c == SQLITE_FULL		       ? ENOSPC
						       : EIO;
	return wh_err_setx(err, e, "snapshot metadata: %s: %s", what, sqlite3_errmsg(l->db));
}

static int db_exec(struct local *l, const char *sql, struct wh_err **err)
{
	if (sqlite3_exec(l->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(l, err, sql);
	return 0;
}

static void stmt_freep(sqlite3_stmt **s)
{
	if (*s)
		sqlite3_finalize(*s);
}
#define cleanup_stmt cleanup(stmt_freep)

static int db_prepare(struct local *l, const char *sql, sqlite3_stmt **ret, struct wh_err **err)
{
	if (sqlite3_prepare_v2(l->db, sql, -1, ret, NULL) != SQLITE_OK)
		return db_err(l, err, "prepare");
	return 0;
}

#define REC_COLS "id, key, parent_id, kind, created, updated, size, inodes"

static void rec_from_row(sqlite3_stmt *s, struct rec *r)
{
	r->id = sqlite3_column_int64(s, 0);
	r->key = xstrdup((const char *)sqlite3_column_text(s, 1));
	r->parent_id = sqlite3_column_type(s, 2) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 2);
	r->kind = sqlite3_column_int(s, 3);
	r->created = sqlite3_column_int64(s, 4);
	r->updated = sqlite3_column_int64(s, 5);
	r->size = sqlite3_column_int64(s, 6);
	r->inodes = sqlite3_column_int64(s, 7);
}

/* 0 and *ret filled, or -ENOENT (with err naming the key). */
static int rec_get(struct local *l, const char *key, int64_t id, struct rec *ret,
		   struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *s = NULL;
	int r = db_prepare(l,
			   key ? "SELECT " REC_COLS " FROM snapshots WHERE key = ?"
			       : "SELECT " REC_COLS " FROM snapshots WHERE id = ?",
			   &s, err);
	if (r < 0)
		return r;
	if (key)
		sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		if (key)
			return wh_err_setx(err, ENOENT, "snapshot '%s' does not exist", key);
		return wh_err_setx(err, ENOENT, "snapshot #%lld does not exist", (long long)id);
	}
	if (rc != SQLITE_ROW)
		return db_err(l, err, "read snapshot");
	rec_from_row(s, ret);
	return 0;
}

static int labels_get(struct local *l, int64_t id, char ***ret, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *s = NULL;
	int r = db_prepare(l, "SELECT key, value FROM labels WHERE sid = ? ORDER BY key", &s, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, id);
	char **v = xnew0(char *, 1);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		strv_push(&v, (const char *)sqlite3_column_text(s, 0));
		strv_push(&v, (const char *)sqlite3_column_text(s, 1));
	}
	if (rc != SQLITE_DONE) {
		strv_free(v);
		return db_err(l, err, "read labels");
	}
	*ret = v;
	return 0;
}

static int labels_set(struct local *l, int64_t id, char *const *labels, bool replace,
		      struct wh_err **err)
{
	int r;
	if (replace) {
		cleanup_stmt sqlite3_stmt *d = NULL;
		if ((r = db_prepare(l, "DELETE FROM labels WHERE sid = ?", &d, err)) < 0)
			return r;
		sqlite3_bind_int64(d, 1, id);
		if (sqlite3_step(d) != SQLITE_DONE)
			return db_err(l, err, "delete labels");
	}
	cleanup_stmt sqlite3_stmt *s = NULL;
	if ((r = db_prepare(l, "INSERT OR REPLACE INTO labels(sid, key, value) VALUES (?, ?, ?)",
			    &s, err)) < 0)
		return r;
	for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_text(s, 2, labels[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, labels[i + 1], -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE)
			return db_err(l, err, "write label");
	}
	return 0;
}

static int label_delete(struct local *l, int64_t id, const char *key, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *s = NULL;
	int r = db_prepare(l, "DELETE FROM labels WHERE sid = ? AND key = ?", &s, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_err(l, err, "delete label");
	return 0;
}

static int rec_info(struct local *l, const struct rec *rc, struct snapshot_info *ret,
		    struct wh_err **err)
{
	struct snapshot_info i = {0};
	if (rc->parent_id) {
		struct rec p = {0};
		int r = rec_get(l, NULL, rc->parent_id, &p, err);
		if (r < 0)
			return r;
		i.parent = TAKE_PTR(p.key);
	}
	int r = labels_get(l, rc->id, &i.labels, err);
	if (r < 0) {
		snapshot_info_done(&i);
		return r;
	}
	i.name = xstrdup(rc->key);
	i.kind = rc->kind;
	i.created_ns = (uint64_t)rc->created;
	i.updated_ns = (uint64_t)rc->updated;
	*ret = i;
	return 0;
}

static void rollback(struct local *l)
{
	sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- paths and mounts ---- */

static char *snap_dir(struct local *l, int64_t id, const char *sub)
{
	return sub ? xasprintf("%s/%lld/%s", l->root, (long long)id, sub)
		   : xasprintf("%s/%lld", l->root, (long long)id);
}

/* The ids of the parent chain of rc, nearest first. */
static int parent_chain(struct local *l, const struct rec *rc, int64_t **ret, size_t *ret_n,
			struct wh_err **err)
{
	int64_t *v = NULL;
	size_t n = 0;
	int64_t pid = rc->parent_id;
	while (pid) {
		struct rec p = {0};
		int r = rec_get(l, NULL, pid, &p, err);
		if (r < 0) {
			free(v);
			return r;
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = p.id;
		pid = p.parent_id;
		rec_done(&p);
		if (n > 100000) {
			free(v);
			return wh_err_setx(err, ELOOP, "snapshot '%s': parent chain loops",
					   rc->key);
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int rec_mounts(struct local *l, const struct rec *rc, struct wh_mount_list *ret,
		      struct wh_err **err)
{
	cleanup_free int64_t *chain = NULL;
	size_t n = 0;
	struct wh_mount_list m = {0};
	bool ro = rc->kind == SNAPSHOT_KIND_VIEW;
	char *bind_ro[] = {(char *)"ro", (char *)"rbind", NULL};
	char *bind_rw[] = {(char *)"rw", (char *)"rbind", NULL};

	if (rc->kind == SNAPSHOT_KIND_COMMITTED)
		return wh_err_setx(err, EBUSY, "snapshot '%s' is committed: it has no mounts",
				   rc->key);
	if (l->driver == DRIVER_NATIVE) {
		cleanup_free char *fs = snap_dir(l, rc->id, "fs");
		wh_mount_list_add(&m, "bind", fs, NULL, ro ? bind_ro : bind_rw);
		*ret = m;
		return 0;
	}
	int r = parent_chain(l, rc, &chain, &n, err);
	if (r < 0)
		return r;
	if (n == 0) {
		cleanup_free char *fs = snap_dir(l, rc->id, "fs");
		wh_mount_list_add(&m, "bind", fs, NULL, ro ? bind_ro : bind_rw);
	} else if (ro && n == 1) {
		cleanup_free char *fs = snap_dir(l, chain[0], "fs");
		wh_mount_list_add(&m, "bind", fs, NULL, bind_ro);
	} else {
		cleanup_strv char **opts = NULL;
		struct strbuf lower = STRBUF_INIT;
		strbuf_adds(&lower, "lowerdir=");
		for (size_t i = 0; i < n; i++) {
			cleanup_free char *fs = snap_dir(l, chain[i], "fs");
			if (i)
				strbuf_addc(&lower, ':');
			strbuf_adds(&lower, fs);
		}
		if (!ro) {
			strv_push(&opts, "index=off");
			strv_consume(&opts,
				     xasprintf("workdir=%s/%lld/work", l->root, (long long)rc->id));
			strv_consume(&opts,
				     xasprintf("upperdir=%s/%lld/fs", l->root, (long long)rc->id));
		}
		strv_consume(&opts, strbuf_detach(&lower, NULL));
		wh_mount_list_add(&m, "overlay", "overlay", NULL, opts);
	}
	*ret = m;
	return 0;
}

/* ---- the operations ---- */

static int l_stat(void *impl, const char *key, struct snapshot_info *ret, struct wh_err **err)
{
	struct local *l = impl;
	int r = check_key("key", key, err);
	if (r < 0)
		return r;
	local_lock(l, false);
	struct rec rc = {0};
	r = rec_get(l, key, 0, &rc, err);
	if (r >= 0)
		r = rec_info(l, &rc, ret, err);
	rec_done(&rc);
	local_unlock(l);
	return r;
}

static int l_update(void *impl, const struct snapshot_info *info, char *const *fieldpaths,
		    struct snapshot_info *ret, struct wh_err **err)
{
	struct local *l = impl;
	int r = check_key("name", info->name, err);
	if (r < 0)
		return r;
	if ((r = check_labels(info->labels, err)) < 0)
		return r;
	strv_foreach(f, (char **)fieldpaths) {
		if (!streq(*f, "labels") && !str_startswith(*f, "labels."))
			return wh_err_setx(err, EINVAL,
					   "cannot update field '%s' of snapshot '%s': only "
					   "labels can change",
					   *f, info->name);
	}
	local_lock(l, false);
	struct rec rc = {0};
	if ((r = rec_get(l, info->name, 0, &rc, err)) < 0)
		goto out;
	if ((r = db_exec(l, "BEGIN IMMEDIATE", err)) < 0)
		goto out;
	if (strv_length(fieldpaths) == 0) {
		r = labels_set(l, rc.id, info->labels, true, err);
	} else {
		strv_foreach(f, (char **)fieldpaths) {
			if (streq(*f, "labels")) {
				r = labels_set(l, rc.id, info->labels, true, err);
			} else {
				const char *k = *f + 7;
				const char *v = snapshot_labels_get(info->labels, k);
				if (v) {
					char *one[] = {(char *)k, (char *)v, NULL};
					r = labels_set(l, rc.id, one, false, err);
				} else {
					r = label_delete(l, rc.id, k, err);
				}
			}
			if (r < 0)
				break;
		}
	}
	if (r >= 0) {
		cleanup_stmt sqlite3_stmt *s = NULL;
		if ((r = db_prepare(l, "UPDATE snapshots SET updated = ? WHERE id = ?", &s, err)) >=
		    0) {
			sqlite3_bind_int64(s, 1, (int64_t)now_real_ns());
			sqlite3_bind_int64(s, 2, rc.id);
			if (sqlite3_step(s) != SQLITE_DONE)
				r = db_err(l, err, "update snapshot");
		}
	}
	if (r >= 0)
		r = db_exec(l, "COMMIT", err);
	if (r < 0) {
		rollback(l);
		goto out;
	}
	if (ret) {
		rec_done(&rc);
		if ((r = rec_get(l, info->name, 0, &rc, err)) >= 0)
			r = rec_info(l, &rc, ret, err);
	}
out:
	rec_done(&rc);
	local_unlock(l);
	return r < 0 ? r : 0;
}

static int usage_of(struct local *l, int64_t id, struct snapshot_usage *ret, struct wh_err **err)
{
	cleanup_free char *fs = snap_dir(l, id, "fs");
	cleanup_close int fd = open(fs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return wh_err_set(err, errno, "open '%s'", fs);
	return tree_usage(fd, ret, err);
}

static int l_usage(void *impl, const char *key, struct snapshot_usage *ret, struct wh_err **err)
{
	struct local *l = impl;
	int r = check_key("key", key, err);
	if (r < 0)
		return r;
	local_lock(l, false);
	struct rec rc = {0};
	r = rec_get(l, key, 0, &rc, err);
	if (r >= 0) {
		if (rc.kind == SNAPSHOT_KIND_COMMITTED) {
			ret->size = rc.size;
			ret->inodes = rc.inodes;
		} else {
			r = usage_of(l, rc.id, ret, err);
		}
	}
	rec_done(&rc);
	local_unlock(l);
	return r < 0 ? r : 0;
}

static int l_mounts(void *impl, const char *key, struct wh_mount_list *ret, struct wh_err **err)
{
	struct local *l = impl;
	int r = check_key("key", key, err);
	if (r < 0)
		return r;
	local_lock(l, false);
	struct rec rc = {0};
	r = rec_get(l, key, 0, &rc, err);
	if (r >= 0)
		r = rec_mounts(l, &rc, ret, err);
	rec_done(&rc);
	local_unlock(l);
	return r < 0 ? r : 0;
}

/* Builds new-XXXXXX/{fs,work} (with the parent's tree for native). Returns its name. */
static int make_dirs(struct local *l, const struct rec *parent, char **ret, struct wh_err **err)
{
	char tmpl[] = "new-XXXXXX";
	cleanup_free char *path = path_join(l->root, tmpl);
	if (!mkdtemp(path))
		return wh_err_set(err, errno, "create a directory in '%s'", l->root);
	char *name = xstrdup(strrchr(path, '/') + 1);
	int r = 0;
	cleanup_free char *fs = path_join(path, "fs");
	cleanup_free char *work = path_join(path, "work");
	if (mkdir(fs, 0755) < 0) {
		r = wh_err_set(err, errno, "mkdir '%s'", fs);
		goto fail;
	}
	if (l->driver == DRIVER_OVERLAY && mkdir(work, 0711) < 0) {
		r = wh_err_set(err, errno, "mkdir '%s'", work);
		goto fail;
	}
	if (l->driver == DRIVER_NATIVE && parent) {
		cleanup_free char *pfs = snap_dir(l, parent->id, "fs");
		cleanup_close int sfd = open(pfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		cleanup_close int dfd = open(fs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || dfd < 0) {
			r = wh_err_set(err, errno, "open '%s'", sfd < 0 ? pfs : fs);
			goto fail;
		}
		if ((r = tree_copy(sfd, dfd, err)) < 0) {
			wh_err_wrap(err, r, "copy snapshot '%s'", parent->key);
			goto fail;
		}
	}
	failpoint("prepare-dirs");
	*ret = name;
	return 0;
fail:
	rm_rf(path);
	free(name);
	return r;
}

static int create_snapshot(struct local *l, int kind, const char *key, const char *parent,
			   char *const *labels, struct wh_mount_list *ret, struct wh_err **err)
{
	int r = check_key("key", key, err);
	if (r < 0)
		return r;
	if ((r = check_labels(labels, err)) < 0)
		return r;
	if (parent && !*parent)
		parent = NULL;
	local_lock(l, false);
	struct rec prec = {0}, rc = {0};
	cleanup_free char *tmp = NULL;
	cleanup_err struct wh_err *ignore = NULL;
	if (rec_get(l, key, 0, &rc, &ignore) >= 0) {
		r = wh_err_setx(err, EEXIST, "snapshot '%s' already exists", key);
		goto out;
	}
	if (parent) {
		if ((r = rec_get(l, parent, 0, &prec, err)) < 0) {
			wh_err_wrap(err, r, "parent of '%s'", key);
			goto out;
		}
		if (prec.kind != SNAPSHOT_KIND_COMMITTED) {
			r = wh_err_setx(err, EBUSY, "parent '%s' of '%s' is not committed", parent,
					key);
			goto out;
		}
	}
	if ((r = make_dirs(l, parent ? &prec : NULL, &tmp, err)) < 0)
		goto out;
	if ((r = db_exec(l, "BEGIN IMMEDIATE", err)) < 0)
		goto fail_dirs;
	{
		cleanup_stmt sqlite3_stmt *s = NULL;
		if ((r = db_prepare(l,
				    "INSERT INTO snapshots(key, parent_id, kind, created, updated) "
				    "VALUES (?, ?, ?, ?, ?)",
				    &s, err)) < 0)
			goto fail_tx;
		int64_t now = (int64_t)now_real_ns();
		sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
		if (parent)
			sqlite3_bind_int64(s, 2, prec.id);
		else
			sqlite3_bind_null(s, 2);
		sqlite3_bind_int(s, 3, kind);
		sqlite3_bind_int64(s, 4, now);
		sqlite3_bind_int64(s, 5, now);
		if (sqlite3_step(s) != SQLITE_DONE) {
			r = db_err(l, err, "insert snapshot");
			goto fail_tx;
		}
	}
	rc = (struct rec){.id = sqlite3_last_insert_rowid(l->db),
			  .key = xstrdup(key),
			  .parent_id = parent ? prec.id : 0,
			  .kind = kind};
	if ((r = labels_set(l, rc.id, labels, false, err)) < 0)
		goto fail_tx;
	{
		/* a directory with a fresh id can only be an orphan of a crash */
		char idname[32];
		snprintf(idname, sizeof(idname), "%lld", (long long)rc.id);
		if ((r = rm_rf_at(l->rootfd, idname)) < 0) {
			wh_err_set(err, r, "remove orphan '%s/%s'", l->root, idname);
			goto fail_tx;
		}
		if (renameat(l->rootfd, tmp, l->rootfd, idname) < 0) {
			r = wh_err_set(err, errno, "rename '%s' to '%s'", tmp, idname);
			goto fail_tx;
		}
		failpoint("prepare-renamed");
		if ((r = db_exec(l, "COMMIT", err)) < 0) {
			renameat(l->rootfd, idname, l->rootfd, tmp);
			goto fail_tx;
		}
	}
	if (ret && (r = rec_mounts(l, &rc, ret, err)) < 0)
		goto out;
	r = 0;
	goto out;
fail_tx:
	rollback(l);
fail_dirs:
	rm_rf_at(l->rootfd, tmp);
out:
	rec_done(&prec);
	rec_done(&rc);
	local_unlock(l);
	return r;
}

static int l_prepare(void *impl, const char *key, const char *parent, char *const *labels,
		     struct wh_mount_list *ret, struct wh_err **err)
{
	return create_snapshot(impl, SNAPSHOT_KIND_ACTIVE, key, parent, labels, ret, err);
}

static int l_view(void *impl, const char *key, const char *parent, char *const *labels,
		  struct wh_mount_list *ret, struct wh_err **err)
{
	return create_snapshot(impl, SNAPSHOT_KIND_VIEW, key, parent, labels, ret, err);
}

static int l_commit(void *impl, const char *name, const char *key, char *const *labels,
		    struct wh_err **err)
{
	struct local *l = impl;
	int r = check_key("name", name, err);
	if (r < 0 || (r = check_key("key", key, err)) < 0)
		return r;
	if ((r = check_labels(labels, err)) < 0)
		return r;
	local_lock(l, false);
	struct rec rc = {0}, other = {0};
	cleanup_err struct wh_err *ignore = NULL;
	struct snapshot_usage u = {0};
	if ((r = rec_get(l, key, 0, &rc, err)) < 0)
		goto out;
	if (rc.kind != SNAPSHOT_KIND_ACTIVE) {
		r = wh_err_setx(err, EBUSY, "snapshot '%s' is %s, not active", key,
				snapshot_kind_to_string(rc.kind));
		goto out;
	}
	if (!streq(name, key) && rec_get(l, name, 0, &other, &ignore) >= 0) {
		r = wh_err_setx(err, EEXIST, "snapshot '%s' already exists", name);
		goto out;
	}
	if ((r = usage_of(l, rc.id, &u, err)) < 0)
		goto out;
	if ((r = db_exec(l, "BEGIN IMMEDIATE", err)) < 0)
		goto out;
	{
		cleanup_stmt sqlite3_stmt *s = NULL;
		if ((r = db_prepare(
			     l,
			     "UPDATE snapshots SET key = ?, kind = ?, updated = ?, size = ?, "
			     "inodes = ? WHERE id = ?",
			     &s, err)) < 0)
			goto fail_tx;
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, SNAPSHOT_KIND_COMMITTED);
		sqlite3_bind_int64(s, 3, (int64_t)now_real_ns());
		sqlite3_bind_int64(s, 4, u.size);
		sqlite3_bind_int64(s, 5, u.inodes);
		sqlite3_bind_int64(s, 6, rc.id);
		if (sqlite3_step(s) != SQLITE_DONE) {
			r = db_err(l, err, "commit snapshot");
			goto fail_tx;
		}
	}
	if (labels && (r = labels_set(l, rc.id, labels, true, err)) < 0)
		goto fail_tx;
	failpoint("commit-before-commit");
	if ((r = db_exec(l, "COMMIT", err)) < 0)
		goto fail_tx;
	r = 0;
	goto out;
fail_tx:
	rollback(l);
out:
	rec_done(&rc);
	rec_done(&other);
	local_unlock(l);
	return r;
}

static int l_remove(void *impl, const char *key, struct wh_err **err)
{
	struct local *l = impl;
	int r = check_key("key", key, err);
	if (r < 0)
		return r;
	local_lock(l, false);
	struct rec rc = {0};
	char idname[32], rmname[40];
	if ((r = rec_get(l, key, 0, &rc, err)) < 0)
		goto out;
	{
		cleanup_stmt sqlite3_stmt *s = NULL;
		if ((r = db_prepare(l, "SELECT key FROM snapshots WHERE parent_id = ? LIMIT 1", &s,
				    err)) < 0)
			goto out;
		sqlite3_bind_int64(s, 1, rc.id);
		if (sqlite3_step(s) == SQLITE_ROW) {
			r = wh_err_setx(err, EBUSY,
					"cannot remove snapshot '%s': it has children (e.g. '%s')",
					key, (const char *)sqlite3_column_text(s, 0));
			goto out;
		}
	}
	if ((r = db_exec(l, "BEGIN IMMEDIATE", err)) < 0)
		goto out;
	{
		cleanup_stmt sqlite3_stmt *s = NULL;
		if ((r = db_prepare(l, "DELETE FROM snapshots WHERE id = ?", &s, err)) < 0)
			goto fail_tx;
		sqlite3_bind_int64(s, 1, rc.id);
		if (sqlite3_step(s) != SQLITE_DONE) {
			r = db_err(l, err, "delete snapshot");
			goto fail_tx;
		}
	}
	snprintf(idname, sizeof(idname), "%lld", (long long)rc.id);
	snprintf(rmname, sizeof(rmname), "rm-%lld", (long long)rc.id);
	rm_rf_at(l->rootfd, rmname);
	if (renameat(l->rootfd, idname, l->rootfd, rmname) < 0 && errno != ENOENT) {
		r = wh_err_set(err, errno, "rename '%s/%s'", l->root, idname);
		goto fail_tx;
	}
	failpoint("remove-renamed");
	if ((r = db_exec(l, "COMMIT", err)) < 0) {
		renameat(l->rootfd, rmname, l->rootfd, idname);
		goto fail_tx;
	}
	if ((r = rm_rf_at(l->rootfd, rmname)) < 0) {
		/* the record is gone; cleanup will finish the job */
		wh_err_set(err, r, "remove '%s/%s' of snapshot '%s'", l->root, rmname, key);
		goto out;
	}
	r = 0;
	goto out;
fail_tx:
	rollback(l);
out:
	rec_done(&rc);
	local_unlock(l);
	return r;
}

static int l_walk(void *impl, char *const *filters, snapshot_walk_fn fn, void *userdata,
		  struct wh_err **err)
{
	struct local *l = impl;
	struct snapshot_info *infos = NULL;
	size_t n = 0;
	cleanup_filter struct filter *f = NULL;
	int r = snapshot_filters_parse(filters, &f, err);
	if (r < 0)
		return r;
	local_lock(l, false);
	{
		cleanup_stmt sqlite3_stmt *s = NULL;
		if ((r = db_prepare(l, "SELECT " REC_COLS " FROM snapshots ORDER BY id", &s, err)) <
		    0)
			goto unlock;
		int rc;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			struct rec x = {0};
			rec_from_row(s, &x);
			infos = xrealloc(infos, (n + 1) * sizeof(*infos));
			r = rec_info(l, &x, &infos[n], err);
			rec_done(&x);
			if (r < 0)
				goto unlock;
			n++;
		}
		if (rc != SQLITE_DONE)
			r = db_err(l, err, "list snapshots");
	}
unlock:
	local_unlock(l);
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (!snapshot_filters_match(f, &infos[i]))
			continue;
		r = fn(&infos[i], userdata);
		if (r > 0) {
			r = 0;
			break;
		}
		if (r < 0)
			wh_err_wrap(err, r, "walk '%s'", infos[i].name);
	}
	for (size_t i = 0; i < n; i++)
		snapshot_info_done(&infos[i]);
	free(infos);
	return r < 0 ? r : 0;
}

static int l_cleanup(void *impl, struct wh_err **err)
{
	struct local *l = impl;
	int r = 0;
	local_lock(l, true);
	cleanup_close int dfd = openat(l->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		r = wh_err_set(err, errno, "open '%s'", l->root);
		goto out;
	}
	dfd = -EBADF;
	struct dirent *de;
	char **orphans = NULL;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (streq(n, ".") || streq(n, ".."))
			continue;
		bool orphan = str_startswith(n, "new-") || str_startswith(n, "rm-");
		uint64_t id;
		if (str_startswith(n, "rm-") && parse_u64(n + 3, &id) >= 0) {
			/* a remove whose transaction never committed: the record still owns it */
			struct rec x = {0};
			cleanup_err struct wh_err *e = NULL;
			bool owned = rec_get(l, NULL, (int64_t)id, &x, &e) >= 0;
			rec_done(&x);
			if (owned && renameat(l->rootfd, n, l->rootfd, n + 3) == 0)
				continue;
		}
		if (!orphan && parse_u64(n, &id) >= 0) {
			struct rec x = {0};
			cleanup_err struct wh_err *e = NULL;
			int q = rec_get(l, NULL, (int64_t)id, &x, &e);
			rec_done(&x);
			if (q == -ENOENT)
				orphan = true;
			else if (q < 0) {
				r = wh_err_move(err, &e);
				break;
			}
		}
		if (orphan)
			strv_push(&orphans, n);
	}
	closedir(d);
	strv_foreach(o, orphans) {
		if (r < 0)
			break;
		cleanup_free char *p = path_join(l->root, *o);
		if ((r = unmount_below(p, err)) < 0)
			break;
		if ((r = rm_rf(p)) < 0)
			wh_err_set(err, r, "remove '%s'", p);
	}
	strv_free(orphans);
out:
	local_unlock(l);
	return r < 0 ? r : 0;
}

static void l_close(void *impl)
{
	struct local *l = impl;
	if (!l)
		return;
	if (l->db)
		sqlite3_close(l->db);
	wh_close(l->rootfd);
	wh_close(l->lock_fd);
	pthread_mutex_destroy(&l->lock);
	free(l->root);
	free(l);
}

static const struct snapshotter_ops overlay_ops = {
	.name = "overlayfs",
	.stat = l_stat,
	.update = l_update,
	.usage = l_usage,
	.mounts = l_mounts,
	.prepare = l_prepare,
	.view = l_view,
	.commit = l_commit,
	.remove = l_remove,
	.walk = l_walk,
	.cleanup = l_cleanup,
	.close = l_close,
};

static const struct snapshotter_ops native_ops = {
	.name = "native",
	.stat = l_stat,
	.update = l_update,
	.usage = l_usage,
	.mounts = l_mounts,
	.prepare = l_prepare,
	.view = l_view,
	.commit = l_commit,
	.remove = l_remove,
	.walk = l_walk,
	.cleanup = l_cleanup,
	.close = l_close,
};

static const char schema[] = "PRAGMA foreign_keys = ON;"
			     "CREATE TABLE IF NOT EXISTS snapshots ("
			     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
			     " key TEXT NOT NULL UNIQUE,"
			     " parent_id INTEGER REFERENCES snapshots(id),"
			     " kind INTEGER NOT NULL,"
			     " created INTEGER NOT NULL DEFAULT 0,"
			     " updated INTEGER NOT NULL DEFAULT 0,"
			     " size INTEGER NOT NULL DEFAULT 0,"
			     " inodes INTEGER NOT NULL DEFAULT 0);"
			     "CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent_id);"
			     "CREATE TABLE IF NOT EXISTS labels ("
			     " sid INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,"
			     " key TEXT NOT NULL,"
			     " value TEXT NOT NULL,"
			     " PRIMARY KEY (sid, key));";

static int local_new(enum driver driver, const char *root, struct snapshotter **ret,
		     struct wh_err **err)
{
	if (!root || root[0] != '/')
		return wh_err_setx(err, EINVAL, "snapshotter root '%s' is not an absolute path",
				   root ? root : "");
	int r = mkdir_p(root, 0700);
	if (r < 0)
		return wh_err_set(err, r, "create '%s'", root);
	if (driver == DRIVER_OVERLAY && !snapshots_overlay_supported(root))
		return wh_err_setx(err, ENOTSUP,
				   "overlay is not supported on '%s' (use the native snapshotter)",
				   root);
	cleanup_free char *dbp = path_join(root, "metadata.db");
	struct local *l = xnew0(struct local, 1);
	l->driver = driver;
	l->root = xstrdup(root);
	pthread_mutex_init(&l->lock, NULL);
	l->lock_fd = -EBADF;
	l->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->rootfd < 0) {
		r = wh_err_set(err, errno, "open '%s'", root);
		goto fail;
	}
	l->lock_fd = openat(l->rootfd, "metadata.db.lock",
			    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (l->lock_fd < 0) {
		r = wh_err_set(err, errno, "open '%s/metadata.db.lock'", root);
		goto fail;
	}
	if (sqlite3_open_v2(dbp, &l->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		r = wh_err_setx(err, EIO, "open '%s': %s", dbp,
				l->db ? sqlite3_errmsg(l->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(l->db, 10000);
	if ((r = db_exec(l, "PRAGMA journal_mode = WAL", err)) < 0 ||
	    (r = db_exec(l, "PRAGMA synchronous = FULL", err)) < 0 ||
	    (r = db_exec(l, schema, err)) < 0) {
		wh_err_wrap(err, r, "open '%s'", dbp);
		goto fail;
	}
	*ret = snapshotter_new(driver == DRIVER_OVERLAY ? &overlay_ops : &native_ops, l);
	return 0;
fail:
	l_close(l);
	return r;
}

int snapshotter_overlay_new(const char *root, struct snapshotter **ret, struct wh_err **err)
{
	return local_new(DRIVER_OVERLAY, root, ret, err);
}

int snapshotter_native_new(const char *root, struct snapshotter **ret, struct wh_err **err)
{
	return local_new(DRIVER_NATIVE, root, ret, err);
}

bool snapshots_overlay_supported(const char *dir)
{
	cleanup_free char *base = path_join(dir, "new-XXXXXX");
	if (!mkdtemp(base))
		return false;
	const char *subs[] = {"lower", "upper", "work", "merged"};
	bool ok = true;
	for (size_t i = 0; i < ARRAY_SIZE(subs) && ok; i++) {
		cleanup_free char *p = path_join(base, subs[i]);
		ok = mkdir(p, 0755) == 0;
	}
	if (ok) {
		cleanup_free char *merged = path_join(base, "merged");
		cleanup_free char *data =
			xasprintf("index=off,lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work",
				  base, base, base);
		ok = mount("overlay", merged, "overlay", 0, data) == 0;
		if (ok)
			umount2(merged, MNT_DETACH);
	}
	rm_rf(base);
	return ok;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metadata database: open in WAL mode, schema migrations, SQLite error mapping (STYLE.md 2.2
 * item 9), statement helpers, identifiers and the labels table.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <sys/file.h>

#include "metadata/internal.h"

#define BUSY_TIMEOUT_MS 10000
#define LABEL_MAX 4096
#define IDENT_MAX 76

/* Migration i brings the schema from version i to i + 1. Never edit a shipped one. */
static const char *const migrations[] = {
	"CREATE TABLE namespaces (name TEXT PRIMARY KEY, created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL);"
	"CREATE TABLE labels (ns TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,"
	"  key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ns, kind, id, key));"
	"CREATE TABLE images (ns TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL,"
	"  digest TEXT NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL, PRIMARY KEY (ns, name));"
	"CREATE TABLE containers (ns TEXT NOT NULL, id TEXT NOT NULL, image TEXT,"
	"  runtime_name TEXT NOT NULL, runtime_type TEXT, runtime_value BLOB, spec_type TEXT,"
	"  spec_value BLOB, snapshotter TEXT, snapshot_key TEXT, created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL, PRIMARY KEY (ns, id));"
	"CREATE TABLE container_extensions (ns TEXT NOT NULL, id TEXT NOT NULL,"
	"  name TEXT NOT NULL, type_url TEXT, value BLOB, PRIMARY KEY (ns, id, name));"
	"CREATE TABLE content (ns TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,"
	"  created INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (ns, digest));"
	"CREATE INDEX content_digest ON content (digest);"
	"CREATE TABLE ingests (ns TEXT NOT NULL, ref TEXT NOT NULL, expected TEXT,"
	"  expires INTEGER NOT NULL, PRIMARY KEY (ns, ref));"
	"CREATE TABLE snapshots (ns TEXT NOT NULL, snapshotter TEXT NOT NULL, key TEXT NOT NULL,"
	"  backend_key TEXT NOT NULL, parent TEXT, kind INTEGER NOT NULL,"
	"  created INTEGER NOT NULL, updated INTEGER NOT NULL,"
	"  PRIMARY KEY (ns, snapshotter, key));"
	"CREATE INDEX snapshots_parent ON snapshots (ns, snapshotter, parent);"
	"CREATE TABLE leases (ns TEXT NOT NULL, id TEXT NOT NULL, created INTEGER NOT NULL,"
	"  PRIMARY KEY (ns, id));"
	"CREATE TABLE lease_resources (ns TEXT NOT NULL, lease TEXT NOT NULL, type TEXT NOT NULL,"
	"  rid TEXT NOT NULL, PRIMARY KEY (ns, lease, type, rid));",
};

int db_error(struct meta_db *db, int rc, struct wh_err **err, const char *fmt, ...)
{
	int ext = sqlite3_extended_errcode(db->db);
	/* sqlite3_errmsg is overwritten by the next call on the connection: copy it first */
	cleanup_free char *msg = xstrdup(sqlite3_errmsg(db->db));
	cleanup_free char *ctx = NULL;
	int code = EIO;
	va_list ap;

	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		code = EAGAIN;
	else if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		code = EEXIST;
	else if ((rc & 0xff) == SQLITE_FULL)
		code = ENOSPC;
	va_start(ap, fmt);
	ctx = xvasprintf(fmt, ap);
	va_end(ap);
	return wh_err_setx(err, code, "%s: sqlite: %s", ctx, msg);
}

int db_prepare(struct meta_db *db, sqlite3_stmt **st, const char *sql, struct wh_err **err)
{
	int rc = sqlite3_prepare_v2(db->db, sql, -1, st, NULL);

	if (rc != SQLITE_OK)
		return db_error(db, rc, err, "prepare");
	return 0;
}

int db_exec(struct meta_db *db, const char *sql, struct wh_err **err)
{
	int rc = sqlite3_exec(db->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return db_error(db, rc, err, "exec");
	return 0;
}

int db_step_done(struct meta_db *db, sqlite3_stmt *st, struct wh_err **err)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_error(db, rc, err, "step");
	return 0;
}

int db_begin(struct meta_db *db, struct wh_err **err)
{
	return db_exec(db, "BEGIN IMMEDIATE", err);
}

int db_commit(struct meta_db *db, struct wh_err **err)
{
	int r = db_exec(db, "COMMIT", err);

	if (r < 0)
		db_rollback(db);
	return r;
}

void db_rollback(struct meta_db *db)
{
	if (!sqlite3_get_autocommit(db->db))
		(void)sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
}

void db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

char *db_col_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? xstrdup((const char *)s) : NULL;
}

static int migrate_locked(struct meta_db *db, struct wh_err **err)
{
	/* read under the write lock: another process may have migrated while we waited */
	int version = meta_db_schema_version(db, err);
	char pragma[64];
	int r;

	if (version < 0)
		return version;
	if (version > (int)ARRAY_SIZE(migrations))
		return wh_err_setx(err, EPROTONOSUPPORT,
				   "metadata schema version %d is newer than this build's %d",
				   version, (int)ARRAY_SIZE(migrations));
	for (int v = version; v < (int)ARRAY_SIZE(migrations); v++) {
		r = db_exec(db, migrations[v], err);
		if (r < 0)
			return wh_err_wrap(err, r, "migrate to schema %d", v + 1);
	}
	if (version == (int)ARRAY_SIZE(migrations))
		return 0;
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", (int)ARRAY_SIZE(migrations));
	return db_exec(db, pragma, err);
}

/* All missing migrations run in one transaction: a crash leaves the old version intact. */
static int migrate(struct meta_db *db, struct wh_err **err)
{
	int r = meta_db_schema_version(db, err);

	if (r == (int)ARRAY_SIZE(migrations))
		return 0; /* the common case takes no write lock */
	r = db_begin(db, err);

	if (r < 0)
		return wh_err_wrap(err, r, "migrate");
	r = migrate_locked(db, err);
	if (r >= 0)
		r = db_commit(db, err);
	else
		db_rollback(db);
	return r;
}

int meta_db_open(const char *path, struct content_store *cs, struct meta_db **ret,
		 struct wh_err **err)
{
	struct meta_db *db;
	cleanup_free char *lock = NULL, *open_lock = NULL;
	cleanup_close int open_fd = -EBADF;
	int rc, r;

	if (!path || !*path || !cs)
		return wh_err_setx(err, EINVAL, "open metadata: need a path and a content store");
	/*
	 * Opens are serialized across processes (wharfd, its workers): switching a new file to WAL
	 * and migrating it take locks SQLite does not wait for ("database is locked", or an I/O
	 * error when several processes create the file at once).
	 */
	open_lock = xasprintf("%s.openlock", path);
	open_fd = open(open_lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (open_fd < 0)
		return wh_err_set(err, errno, "open metadata '%s'", path);
	while (flock(open_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return wh_err_set(err, errno, "open metadata: lock '%s'", open_lock);
	db = xnew0(struct meta_db, 1);
	db->cs = cs;
	db->path = xstrdup(path);
	db->gc_lock_fd = -EBADF;
	rc = sqlite3_open_v2(path, &db->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK) {
		r = db->db ? db_error(db, rc, err, "open metadata '%s'", path)
			   : wh_err_setx(err, ENOMEM, "open metadata '%s'", path);
		goto out_close;
	}
	sqlite3_extended_result_codes(db->db, 1);
	sqlite3_busy_timeout(db->db, BUSY_TIMEOUT_MS);
	r = db_exec(db,
		    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		    "PRAGMA foreign_keys=ON",
		    err);
	if (r < 0) {
		r = wh_err_wrap(err, r, "open metadata '%s'", path);
		goto out_close;
	}
	r = migrate(db, err);
	if (r < 0) {
		r = wh_err_wrap(err, r, "open metadata '%s'", path);
		goto out_close;
	}
	lock = xasprintf("%s.gclock", path);
	db->gc_lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (db->gc_lock_fd < 0) {
		r = wh_err_set(err, errno, "open metadata: create '%s'", lock);
		goto out_close;
	}
	*ret = db;
	return 0;
out_close:
	meta_db_close(db);
	return r;
}

struct meta_db *meta_db_close(struct meta_db *db)
{
	if (!db)
		return NULL;
	sqlite3_close_v2(db->db);
	wh_close(db->gc_lock_fd);
	free(db->path);
	free(db);
	return NULL;
}

void meta_db_set_busy_timeout(struct meta_db *db, int ms)
{
	sqlite3_busy_timeout(db->db, ms);
}

int meta_db_schema_version(struct meta_db *db, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = db_prepare(db, &st, "PRAGMA user_version", err);

	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_error(db, SQLITE_ERROR, err, "read schema version");
	return sqlite3_column_int(st, 0);
}

int meta_db_integrity_check(struct meta_db *db, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	int r = db_prepare(db, &st, "PRAGMA integrity_check", err);
	int rc;

	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		if (sb.len)
			strbuf_adds(&sb, "; ");
		strbuf_adds(&sb, line ? line : "");
	}
	if (rc != SQLITE_DONE)
		return db_error(db, rc, err, "integrity check");
	if (!streq(sb.buf, "ok"))
		return wh_err_setx(err, EUCLEAN, "integrity check of '%s' failed: %s", db->path,
				   sb.buf);
	return 0;
}

int gc_lock(struct meta_db *db, bool exclusive, struct wh_err **err)
{
	while (flock(db->gc_lock_fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
		if (errno != EINTR)
			return wh_err_set(err, errno, "lock '%s.gclock'", db->path);
	}
	return 0;
}

void gc_unlock(struct meta_db *db)
{
	(void)flock(db->gc_lock_fd, LOCK_UN);
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int check_identifier(const char *what, const char *s, struct wh_err **err)
{
	size_t n;

	if (!s || !*s)
		return wh_err_setx(err, EINVAL, "%s required", what);
	n = strlen(s);
	if (n > IDENT_MAX)
		return wh_err_setx(err, EINVAL, "%s '%.20s...' longer than %d characters", what, s,
				   IDENT_MAX);
	/* containerd's identifiers: [A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))* */
	for (size_t i = 0; i < n; i++) {
		if (is_alnum(s[i]))
			continue;
		if ((s[i] == '.' || s[i] == '_' || s[i] == '-') && i > 0 && i + 1 < n &&
		    is_alnum(s[i - 1]) && is_alnum(s[i + 1]))
			continue;
		return wh_err_setx(err, EINVAL,
				   "%s '%s' invalid: want letters and digits joined by single "
				   "'.', '_' or '-'",
				   what, s);
	}
	return 0;
}

int check_namespace(const char *ns, struct wh_err **err)
{
	if (!ns || !*ns)
		return wh_err_setx(err, EINVAL, "namespace required");
	return check_identifier("namespace", ns, err);
}

int ensure_namespace(struct meta_db *db, const char *ns, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = db_prepare(
		db, &st,
		"INSERT OR IGNORE INTO namespaces (name, created, updated) VALUES (?, ?, ?)", err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	sqlite3_bind_int64(st, 2, (int64_t)now_real_ns());
	sqlite3_bind_int64(st, 3, (int64_t)now_real_ns());
	return db_step_done(db, st, err);
}

const char *meta_labels_get(char *const *kv, const char *key)
{
	for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
		if (streq(kv[i], key))
			return kv[i + 1];
	return NULL;
}

int labels_check(char *const *kv, struct wh_err **err)
{
	size_t n = strv_length(kv);

	if (n % 2)
		return wh_err_setx(err, EINVAL, "labels: odd number of strings");
	for (size_t i = 0; i < n; i += 2) {
		if (!*kv[i])
			return wh_err_setx(err, EINVAL, "label key empty");
		if (strlen(kv[i]) + strlen(kv[i + 1]) > LABEL_MAX)
			return wh_err_setx(err, EINVAL,
					   "label key and value of '%.40s' greater than "
					   "maximum size (%d bytes)",
					   kv[i], LABEL_MAX);
	}
	return 0;
}

int labels_load(struct meta_db *db, const char *ns, const char *kind, const char *id, char ***ret,
		struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_strv char **kv = NULL;
	int r = db_prepare(db, &st,
			   "SELECT key, value FROM labels WHERE ns = ? AND kind = ? AND id = ? "
			   "ORDER BY key",
			   err);
	int rc;

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, kind);
	db_bind_text(st, 3, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		strv_push(&kv, (const char *)sqlite3_column_text(st, 0));
		strv_push(&kv, (const char *)sqlite3_column_text(st, 1));
	}
	if (rc != SQLITE_DONE)
		return db_error(db, rc, err, "load labels");
	*ret = TAKE_PTR(kv);
	return 0;
}

int labels_set(struct meta_db *db, const char *ns, const char *kind, const char *id,
	       const char *key, const char *value, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	if (value)
		r = db_prepare(db, &st,
			       "INSERT OR REPLACE INTO labels (ns, kind, id, key, value) "
			       "VALUES (?, ?, ?, ?, ?)",
			       err);
	else
		r = db_prepare(
			db, &st,
			"DELETE FROM labels WHERE ns = ? AND kind = ? AND id = ? AND key = ?", err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, kind);
	db_bind_text(st, 3, id);
	db_bind_text(st, 4, key);
	if (value)
		db_bind_text(st, 5, value);
	return db_step_done(db, st, err);
}

int labels_delete_all(struct meta_db *db, const char *ns, const char *kind, const char *id,
		      struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = db_prepare(db, &st, "DELETE FROM labels WHERE ns = ? AND kind = ? AND id = ?", err);

	if (r < 0)
		return r;
	db_bind_text(st, 1, ns);
	db_bind_text(st, 2, kind);
	db_bind_text(st, 3, id);
	return db_step_done(db, st, err);
}

int db_delete_object(struct meta_db *db, const char *ns, const char *what, const char *id,
		     const char *const *sqls, const char *const *kinds, struct wh_err **err)
{
	int r = db_begin(db, err);

	for (size_t i = 0; r >= 0 && sqls[i]; i++) {
		cleanup_stmt sqlite3_stmt *st = NULL;

		r = db_prepare(db, &st, sqls[i], err);
		if (r < 0)
			break;
		db_bind_text(st, 1, ns);
		db_bind_text(st, 2, id);
		r = db_step_done(db, st, err);
		if (r >= 0 && i == 0 && sqlite3_changes(db->db) == 0)
			r = wh_err_setx(err, ENOENT, "%s '%s' not found", what, id);
	}
	for (size_t i = 0; r >= 0 && kinds[i]; i++)
		r = labels_delete_all(db, ns, kinds[i], id, err);
	if (r >= 0)
		r = db_commit(db, err);
	else
		db_rollback(db);
	return r;
}

int labels_replace(struct meta_db *db, const char *ns, const char *kind, const char *id,
		   char *const *kv, struct wh_err **err)
{
	int r = labels_delete_all(db, ns, kind, id, err);

	for (size_t i = 0; r >= 0 && kv && kv[i] && kv[i + 1]; i += 2)
		r = labels_set(db, ns, kind, id, kv[i], kv[i + 1], err);
	return r;
}

int labels_apply_paths(struct meta_db *db, const char *ns, const char *kind, const char *id,
		       char *const *kv, const char *const *paths, bool *ret_other,
		       struct wh_err **err)
{
	int r = 0;

	*ret_other = false;
	if (!paths || !*paths)
		return labels_replace(db, ns, kind, id, kv, err);
	for (size_t i = 0; paths[i] && r >= 0; i++) {
		if (streq(paths[i], "labels"))
			r = labels_replace(db, ns, kind, id, kv, err);
		else if (str_startswith(paths[i], "labels.") && paths[i][7])
			r = labels_set(db, ns, kind, id, paths[i] + 7,
				       meta_labels_get(kv, paths[i] + 7), err);
		else
			*ret_other = true;
	}
	return r;
}

int touch_row(struct meta_db *db, const char *table, const char *idcol, const char *ns,
	      const char *id, struct wh_err **err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *sql =
		xasprintf("UPDATE %s SET updated = ? WHERE ns = ? AND %s = ?", table, idcol);
	int r = db_prepare(db, &st, sql, err);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (int64_t)now_real_ns());
	db_bind_text(st, 2, ns);
	db_bind_text(st, 3, id);
	return db_step_done(db, st, err);
}

int meta_parse_rfc3339(const char *s, uint64_t *ret_ns)
{
	struct tm tm = {0};
	const char *p;
	uint64_t frac = 0, scale = 1000000000ull;
	int64_t off = 0, secs;
	time_t t;

	if (!s)
		return -EINVAL;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
		if (hh > 23 || mm > 59)
			return -EINVAL;
		off = (hh * 60 + mm) * 60;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm);
	secs = (int64_t)t - off;
	if (secs < 0)
		return -ERANGE;
	*ret_ns = (uint64_t)secs * 1000000000ull + frac;
	return 0;
}

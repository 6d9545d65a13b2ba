/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingests of the local content store: writers locked per ref with flock, resumable from the
 * data on disk, verified commit by fsync + rename into blobs/, statuses and abort.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <sys/file.h>
#include <sys/stat.h>

#include "common/common.h"
#include "common/filter.h"
#include "content/internal.h"

#define REF_MAX 4096
#define META_MAX 8192

struct content_writer {
	struct content_store *cs;
	char *ref;
	char name[DIGEST_HEX_LEN + 1];
	int dir_fd;
	int lock_fd;
	int data_fd;
	uint64_t offset;
	uint64_t total;
	char expected[DIGEST_STR_LEN];
	uint64_t started_ns;
	struct digester *md; /* sha256 of data[0, offset) */
	bool done;
};

static void hash_reset(struct content_writer *w)
{
	digester_reset(w->md);
}

static void hash_update(struct content_writer *w, const void *buf, size_t len)
{
	digester_update(w->md, buf, len);
}

/*
 * Removes ingest/<name> while its lock is held. It is renamed away first: unlinking its lock
 * file in place would let a racing opener create a fresh one in the same directory and take it
 * while the directory still looks current. After the rename every racer's check fails.
 */
int content_retire_ingest(struct content_store *cs, const char *name)
{
	static unsigned counter;
	char trash[DIGEST_HEX_LEN + 64];
	int r = 0;

	snprintf(trash, sizeof(trash), ".trash-%s-%d-%u", name, (int)getpid(),
		 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	if (renameat(cs->ingest_fd, name, cs->ingest_fd, trash) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* a racer may still drop a lock file in through an old fd: try again */
	for (int i = 0; i < 3; i++) {
		r = rm_rf_at(cs->ingest_fd, trash);
		if (r != -ENOTEMPTY)
			break;
	}
	/* leftovers go at the next content_store_open */
	return r == -ENOTEMPTY ? 0 : r;
}

void content_ingest_name(const char *ref, char out[DIGEST_HEX_LEN + 1])
{
	char d[DIGEST_STR_LEN];

	digest_buf(ref, strlen(ref), d);
	memcpy(out, d + 7, DIGEST_HEX_LEN + 1);
}

void content_status_release(struct content_status *st)
{
	if (st) {
		free(st->ref);
		st->ref = NULL;
	}
}

void content_statuses_free(struct content_status *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		content_status_release(&v[i]);
	free(v);
}

static int read_small(int dir_fd, const char *name, char **ret)
{
	size_t len;

	return read_file_at(dir_fd, name, META_MAX, ret, &len);
}

/*
 * Replaces a small ingest file by temp + rename, without fsync: against a killed process it is
 * atomic, and after a power loss an ingest may restart from zero (only blobs must be durable,
 * and commit fsyncs them). Four fsyncs per ingest cost tens of ms on a journaled fs.
 */
static int write_small(int dir_fd, const char *name, const char *s)
{
	static unsigned counter;
	char tmp[64];
	int fd, r;

	snprintf(tmp, sizeof(tmp), ".tmp-%s.%d.%u", name, (int)getpid(),
		 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, s, strlen(s));
	wh_close(fd);
	if (r >= 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(dir_fd, tmp, 0);
	return r;
}

static int read_u64_file(int dir_fd, const char *name, uint64_t *ret)
{
	cleanup_free char *s = NULL;
	int r = read_small(dir_fd, name, &s);

	if (r < 0)
		return r;
	return parse_u64(s, ret);
}

int content_read_status(int dir_fd, struct content_status *ret)
{
	cleanup_free char *ref = NULL, *expected = NULL;
	struct content_status st = {0};
	struct stat sb;
	int r;

	r = read_small(dir_fd, "ref", &ref);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : r;
	r = read_u64_file(dir_fd, "total", &st.total);
	if (r < 0)
		return r;
	r = read_u64_file(dir_fd, "startedat", &st.started_ns);
	if (r < 0)
		return r;
	r = read_small(dir_fd, "expected", &expected);
	if (r < 0)
		return r;
	if (*expected && !digest_is_valid(expected))
		return -EBADMSG;
	snprintf(st.expected, sizeof(st.expected), "%s", expected);
	if (fstatat(dir_fd, "data", &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		st.offset = (uint64_t)sb.st_size;
		st.updated_ns =
			(uint64_t)sb.st_mtim.tv_sec * 1000000000ull + (uint64_t)sb.st_mtim.tv_nsec;
	} else if (errno != ENOENT) {
		return -errno;
	} else {
		st.updated_ns = st.started_ns;
	}
	st.ref = TAKE_PTR(ref);
	*ret = st;
	return 0;
}

static int check_ref(const char *ref, struct wh_err **err)
{
	if (!ref || !*ref)
		return wh_err_setx(err, EINVAL, "invalid ref: empty");
	if (strlen(ref) > REF_MAX)
		return wh_err_setx(err, EINVAL, "invalid ref: longer than %d bytes", REF_MAX);
	return 0;
}

static bool same_file(int fd, int dir_fd, const char *name)
{
	struct stat a, b;

	if (fstat(fd, &a) < 0 || fstatat(dir_fd, name, &b, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * Opens ingest/<name>/ and takes its lock. An abort may remove the directory between our open
 * and our flock: then the lock we hold is on an unlinked file, so check and retry.
 */
static int lock_ingest(struct content_store *cs, const char *ref, const char *name, bool create,
		       int *ret_dir, int *ret_lock, struct wh_err **err)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		cleanup_close int dir_fd = -EBADF, lock_fd = -EBADF;

		if (create && mkdirat(cs->ingest_fd, name, 0700) < 0 && errno != EEXIST)
			return wh_err_set(err, errno, "create ingest of ref '%s'", ref);
		dir_fd = openat(cs->ingest_fd, name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dir_fd < 0 && errno == ENOENT && create)
			continue;
		if (dir_fd < 0 && errno == ENOENT)
			return wh_err_setx(err, ENOENT, "ingest of ref '%s' not found", ref);
		if (dir_fd < 0)
			return wh_err_set(err, errno, "open ingest of ref '%s'", ref);
		lock_fd = openat(dir_fd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (lock_fd < 0 && errno == ENOENT)
			continue;
		if (lock_fd < 0)
			return wh_err_set(err, errno, "open lock of ref '%s'", ref);
		if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK)
				return wh_err_setx(err, EAGAIN,
						   "ref '%s' locked: another writer is active",
						   ref);
			return wh_err_set(err, errno, "lock ref '%s'", ref);
		}
		if (!same_file(lock_fd, dir_fd, "lock") || !same_file(dir_fd, cs->ingest_fd, name))
			continue;
		*ret_dir = TAKE_FD(dir_fd);
		*ret_lock = TAKE_FD(lock_fd);
		return 0;
	}
	return wh_err_setx(err, EAGAIN, "ref '%s' locked: ingest keeps changing", ref);
}

/* Writes the metadata of a new ingest; "ref" goes last and marks the ingest complete. */
static int init_ingest(struct content_writer *w)
{
	char buf[32];
	int r;

	if (ftruncate(w->data_fd, 0) < 0)
		return -errno;
	w->started_ns = now_real_ns();
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)w->total);
	r = write_small(w->dir_fd, "total", buf);
	if (r < 0)
		return r;
	r = write_small(w->dir_fd, "expected", w->expected);
	if (r < 0)
		return r;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)w->started_ns);
	r = write_small(w->dir_fd, "startedat", buf);
	if (r < 0)
		return r;
	return write_small(w->dir_fd, "ref", w->ref);
}

/* Hashes the data already on disk (once) so that writing continues at its end. */
static int rehash_prefix(struct content_writer *w)
{
	size_t cap = 1 << 20;
	cleanup_free char *buf = xmalloc(cap);
	uint64_t off = 0;

	hash_reset(w);
	for (;;) {
		ssize_t n = pread(w->data_fd, buf, cap, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		hash_update(w, buf, (size_t)n);
		off += (uint64_t)n;
	}
	w->offset = off;
	if (lseek(w->data_fd, (off_t)off, SEEK_SET) < 0)
		return -errno;
	return 0;
}

static int resume_ingest(struct content_writer *w, uint64_t total, const char *expected,
			 struct wh_err **err)
{
	struct content_status st = {0};
	int r = content_read_status(w->dir_fd, &st);

	/* no complete ingest, or damaged files: the directory is ref's by its name, start afresh */
	if (r == -ENOENT || r == -EINVAL || r == -EBADMSG || r == -ERANGE)
		return 1;
	if (r < 0)
		return wh_err_set(err, r, "read ingest of ref '%s'", w->ref);
	bool foreign = !streq(st.ref, w->ref);
	content_status_release(&st);
	if (foreign)
		return 1;
	if (total && st.total && total != st.total)
		return wh_err_setx(err, EINVAL,
				   "ref '%s': total %llu differs from the ingest's total %llu",
				   w->ref, (unsigned long long)total, (unsigned long long)st.total);
	if (*expected && *st.expected && !streq(expected, st.expected))
		return wh_err_setx(err, EINVAL,
				   "ref '%s': expected %s differs from the ingest's %s", w->ref,
				   expected, st.expected);
	w->total = st.total ? st.total : total;
	snprintf(w->expected, sizeof(w->expected), "%s", *st.expected ? st.expected : expected);
	w->started_ns = st.started_ns;
	if (w->total != st.total || !streq(w->expected, st.expected)) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)w->total);
		r = write_small(w->dir_fd, "total", buf);
		if (r >= 0)
			r = write_small(w->dir_fd, "expected", w->expected);
		if (r < 0)
			return wh_err_set(err, r, "update ingest of ref '%s'", w->ref);
	}
	r = rehash_prefix(w);
	if (r < 0)
		return wh_err_set(err, r, "rehash ingest of ref '%s'", w->ref);
	return 0;
}

int content_writer_open(struct content_store *cs, const char *ref, uint64_t total,
			const char *expected, struct content_writer **ret, struct wh_err **err)
{
	struct content_writer *w;
	int r;

	r = check_ref(ref, err);
	if (r < 0)
		return r;
	if (!expected)
		expected = "";
	if (*expected && !digest_is_valid(expected))
		return wh_err_setx(err, EINVAL, "ref '%s': invalid expected digest '%s'", ref,
				   expected);
	w = xnew0(struct content_writer, 1);
	w->cs = cs;
	w->ref = xstrdup(ref);
	w->dir_fd = w->lock_fd = w->data_fd = -EBADF;
	w->md = digester_new();
	hash_reset(w);
	content_ingest_name(ref, w->name);
	r = lock_ingest(cs, ref, w->name, true, &w->dir_fd, &w->lock_fd, err);
	if (r < 0)
		goto out_free;
	w->data_fd = openat(w->dir_fd, "data", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (w->data_fd < 0) {
		r = wh_err_set(err, errno, "open data of ref '%s'", ref);
		goto out_free;
	}
	r = resume_ingest(w, total, expected, err);
	if (r < 0)
		goto out_free;
	if (r > 0) {
		w->total = total;
		snprintf(w->expected, sizeof(w->expected), "%s", expected);
		r = init_ingest(w);
		if (r < 0) {
			r = wh_err_set(err, r, "create ingest of ref '%s'", ref);
			goto out_free;
		}
	}
	*ret = w;
	return 0;
out_free:
	content_writer_free(w);
	return r;
}

int content_writer_write(struct content_writer *w, const void *buf, size_t len, struct wh_err **err)
{
	int r;

	if (w->done)
		return wh_err_setx(err, EINVAL, "write ref '%s': already committed", w->ref);
	if (w->total && w->offset + len > w->total)
		return wh_err_setx(err, EINVAL, "write ref '%s': %llu bytes exceed the total %llu",
				   w->ref, (unsigned long long)(w->offset + len),
				   (unsigned long long)w->total);
	r = write_all(w->data_fd, buf, len);
	if (r < 0) {
		/* A short write leaves the file ahead of the hash: resync from disk. */
		int r2 = rehash_prefix(w);
		if (r2 < 0)
			w->done = true;
		return wh_err_set(err, r, "write ref '%s'", w->ref);
	}
	hash_update(w, buf, len);
	w->offset += len;
	return 0;
}

int content_writer_status(struct content_writer *w, struct content_status *ret, struct wh_err **err)
{
	struct content_status st = {0};
	struct stat sb;

	if (fstat(w->data_fd, &sb) < 0)
		return wh_err_set(err, errno, "status of ref '%s'", w->ref);
	st.ref = xstrdup(w->ref);
	st.offset = w->offset;
	st.total = w->total;
	memcpy(st.expected, w->expected, sizeof(st.expected));
	st.started_ns = w->started_ns;
	st.updated_ns = (uint64_t)sb.st_mtim.tv_sec * 1000000000ull + (uint64_t)sb.st_mtim.tv_nsec;
	*ret = st;
	return 0;
}

void content_writer_digest(struct content_writer *w, char out[DIGEST_STR_LEN])
{
	/* the running hash goes on, and nothing is read again */
	digester_peek(w->md, out);
}

int content_writer_truncate(struct content_writer *w, uint64_t size, struct wh_err **err)
{
	if (size != 0)
		return wh_err_setx(err, EINVAL, "truncate ref '%s': only size 0 is supported",
				   w->ref);
	if (w->done)
		return wh_err_setx(err, EINVAL, "truncate ref '%s': already committed", w->ref);
	if (ftruncate(w->data_fd, 0) < 0 || lseek(w->data_fd, 0, SEEK_SET) < 0)
		return wh_err_set(err, errno, "truncate ref '%s'", w->ref);
	hash_reset(w);
	w->offset = 0;
	return 0;
}

static int remove_ingest(struct content_writer *w)
{
	int r = content_retire_ingest(w->cs, w->name);

	w->done = true;
	return r;
}

int content_writer_commit(struct content_writer *w, uint64_t size, const char *expected,
			  char ret_digest[DIGEST_STR_LEN], struct wh_err **err)
{
	char got[DIGEST_STR_LEN];
	const char *hex;
	int r;

	if (w->done)
		return wh_err_setx(err, EINVAL, "commit ref '%s': already committed", w->ref);
	if (!expected || !*expected)
		expected = w->expected;
	if (*expected && !digest_is_valid(expected))
		return wh_err_setx(err, EINVAL, "commit ref '%s': invalid expected digest '%s'",
				   w->ref, expected);
	if (!size)
		size = w->total;
	if (size && size != w->offset)
		return wh_err_setx(err, EINVAL,
				   "commit ref '%s': unexpected commit size %llu, expected %llu",
				   w->ref, (unsigned long long)w->offset, (unsigned long long)size);
	content_writer_digest(w, got);
	if (*expected && !streq(expected, got))
		return wh_err_setx(err, EINVAL,
				   "commit ref '%s': unexpected commit digest %s, expected %s",
				   w->ref, got, expected);
	hex = got + 7;
	if (faccessat(w->cs->blobs_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		remove_ingest(w);
		return wh_err_setx(err, EEXIST, "commit ref '%s': content %s already exists",
				   w->ref, got);
	}
	if (fsync(w->data_fd) < 0)
		return wh_err_set(err, errno, "commit ref '%s': fsync", w->ref);
	if (fchmod(w->data_fd, 0444) < 0)
		return wh_err_set(err, errno, "commit ref '%s': chmod", w->ref);
	if (renameat2(w->dir_fd, "data", w->cs->blobs_fd, hex, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST) {
			remove_ingest(w);
			return wh_err_setx(err, EEXIST,
					   "commit ref '%s': content %s already exists", w->ref,
					   got);
		}
		r = -errno;
		(void)fchmod(w->data_fd, 0600);
		return wh_err_set(err, r, "commit ref '%s': rename into blobs", w->ref);
	}
	if (fsync(w->cs->blobs_fd) < 0) {
		r = -errno;
		remove_ingest(w);
		return wh_err_set(err, r, "commit ref '%s': fsync blobs", w->ref);
	}
	remove_ingest(w);
	if (ret_digest)
		memcpy(ret_digest, got, DIGEST_STR_LEN);
	return 0;
}

struct content_writer *content_writer_free(struct content_writer *w)
{
	if (!w)
		return NULL;
	wh_close(w->data_fd);
	wh_close(w->dir_fd);
	wh_close(w->lock_fd); /* releases the flock */
	digester_free(w->md);
	free(w->ref);
	free(w);
	return NULL;
}

int content_status(struct content_store *cs, const char *ref, struct content_status *ret,
		   struct wh_err **err)
{
	char name[DIGEST_HEX_LEN + 1];
	cleanup_close int dir_fd = -EBADF;
	int r = check_ref(ref, err);

	if (r < 0)
		return r;
	content_ingest_name(ref, name);
	dir_fd = openat(cs->ingest_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0 && errno == ENOENT)
		return wh_err_setx(err, ENOENT, "ingest of ref '%s' not found", ref);
	if (dir_fd < 0)
		return wh_err_set(err, errno, "open ingest of ref '%s'", ref);
	r = content_read_status(dir_fd, ret);
	if (r == -ENOENT)
		return wh_err_setx(err, ENOENT, "ingest of ref '%s' not found", ref);
	if (r < 0)
		return wh_err_set(err, r, "read ingest of ref '%s'", ref);
	return 0;
}

static bool status_field(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const struct content_status *st = userdata;

	if (n != 1)
		return false;
	if (streq(path[0], "ref")) {
		*ret = st->ref;
		return true;
	}
	if (streq(path[0], "expected") && *st->expected) {
		*ret = st->expected;
		return true;
	}
	return false;
}

int content_list_statuses(struct content_store *cs, const struct filter *f,
			  struct content_status **ret, size_t *ret_n, struct wh_err **err)
{
	cleanup_closedir DIR *d = NULL;
	struct content_status *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd;

	fd = openat(cs->ingest_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return wh_err_set(err, errno, "list ingests");
	d = fdopendir(fd);
	if (!d) {
		wh_close(fd);
		return wh_err_set(err, ENOMEM, "list ingests");
	}
	while ((de = readdir(d))) {
		cleanup_close int dir_fd = -EBADF;
		struct content_status st;

		if (de->d_name[0] == '.')
			continue;
		dir_fd = openat(cs->ingest_fd, de->d_name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dir_fd < 0 || content_read_status(dir_fd, &st) < 0)
			continue; /* vanished, or not a complete ingest */
		if (!filter_match(f, status_field, &st)) {
			content_status_release(&st);
			continue;
		}
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		v[n++] = st;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int content_abort(struct content_store *cs, const char *ref, struct wh_err **err)
{
	char name[DIGEST_HEX_LEN + 1];
	cleanup_close int dir_fd = -EBADF, lock_fd = -EBADF;
	int r = check_ref(ref, err);

	if (r < 0)
		return r;
	content_ingest_name(ref, name);
	r = lock_ingest(cs, ref, name, false, &dir_fd, &lock_fd, err);
	if (r < 0)
		return r;
	r = content_retire_ingest(cs, name);
	if (r < 0)
		return wh_err_set(err, r, "abort ref '%s'", ref);
	return 0;
}

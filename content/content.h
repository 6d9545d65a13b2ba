/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local content store (containerd's plugins/content/local): namespace-agnostic, immutable
 * blobs addressed by digest, and resumable ingests keyed by a ref string.
 *
 * On disk, below the root given to content_store_open (DESIGN.md: <root>/content):
 *   blobs/sha256/<hex>        a blob, mode 0444; it appears only by an atomic rename of a file
 *                             that was written completely, verified (size and digest) and fsynced
 *   ingest/<sha256(ref)>/     one in-progress write: ref, data, total, expected, startedat and
 *                             a lock file (the data's mtime is its updated time). These small
 *                             files are replaced atomically but not fsynced: after a power loss an
 *                             ingest may restart; damaged ones restart at offset 0
 *   ingest/.trash-*           ingests being removed (renamed away first, see writer.c); leftovers
 *                             of a crash go at the next content_store_open
 *
 * Labels: this store keeps none. As in containerd, labels of content live in metadata/ (per
 * namespace); content_info's labels-free struct is what the disk knows. Filters given to
 * content_walk and content_list_statuses see the fields "digest", "size" (blobs) and "ref",
 * "expected" (ingests).
 *
 * Writers: at most one per ref at a time, across processes (flock on ingest/<h>/lock); a second
 * gets -EAGAIN "ref 'x' locked". A writer survives its process: after a crash or a dropped
 * connection, content_writer_open on the same ref resumes at the stored offset (content_status
 * tells it), re-hashing the existing prefix once; the data is otherwise read once (streaming
 * sha256 as it is written).
 *
 * Thread safety: a store may be used from several threads; a writer or a reader by one thread at
 * a time. All calls may block on disk I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "common/digest.h"

struct wh_err;
struct filter;
struct content_store;
struct content_writer;
struct content_reader;

struct content_info {
	char digest[DIGEST_STR_LEN];
	uint64_t size;
	uint64_t created_ns; /* CLOCK_REALTIME ns: when the blob was committed */
	uint64_t updated_ns;
};

struct content_status {
	char *ref;		       /* owned */
	uint64_t offset;	       /* bytes written so far */
	uint64_t total;		       /* expected size, 0 when unknown */
	char expected[DIGEST_STR_LEN]; /* expected digest, "" when unknown */
	uint64_t started_ns;
	uint64_t updated_ns;
};

/* Releases the fields of a status (not the struct). */
void content_status_release(struct content_status *st);
/* Frees an array of n statuses as returned by content_list_statuses. */
void content_statuses_free(struct content_status *v, size_t n);

/* Opens (creating blobs/sha256 and ingest/ as needed) the store rooted at root. */
int content_store_open(const char *root, struct content_store **ret, struct wh_err **err);
struct content_store *content_store_free(struct content_store *cs);
const char *content_store_root(const struct content_store *cs);

/* -ENOENT "content 'sha256:...' not found"; -EINVAL for a malformed digest. */
int content_info(struct content_store *cs, const char *digest, struct content_info *ret,
		 struct wh_err **err);
/* True when the blob exists (a malformed digest is simply absent). */
bool content_exists(struct content_store *cs, const char *digest);

typedef int content_walk_fn(const struct content_info *info, void *userdata);
/* Calls fn for every blob matching f (NULL: all). A negative return from fn stops the walk and
 * is returned. */
int content_walk(struct content_store *cs, const struct filter *f, content_walk_fn *fn,
		 void *userdata, struct wh_err **err);
/* Removes a blob. -ENOENT when absent. */
int content_delete(struct content_store *cs, const char *digest, struct wh_err **err);

/* ---- readers (pread ranges of a committed blob) ---- */
int content_reader_open(struct content_store *cs, const char *digest, struct content_reader **ret,
			struct wh_err **err);
uint64_t content_reader_size(const struct content_reader *r);
/* Reads up to len bytes at off; returns the count (0 at or past the end). */
ssize_t content_reader_read_at(struct content_reader *r, void *buf, size_t len, uint64_t off,
			       struct wh_err **err);
/* The underlying read-only fd (borrowed), e.g. for sendfile/splice. */
int content_reader_fd(const struct content_reader *r);
struct content_reader *content_reader_free(struct content_reader *r);

/* ---- ingests ---- */
/*
 * Opens the writer of ref (creating the ingest, or resuming an existing one at its offset).
 * total (0: unknown) and expected (NULL or "": unknown) are checked at commit and recorded; on
 * resume a non-zero total or a non-empty expected must agree with the stored ones (-EINVAL).
 * -EAGAIN when another writer (in any process) holds ref. -EINVAL for an empty ref or a
 * malformed expected digest.
 */
int content_writer_open(struct content_store *cs, const char *ref, uint64_t total,
			const char *expected, struct content_writer **ret, struct wh_err **err);
/* Appends len bytes, hashing them on the way. */
int content_writer_write(struct content_writer *w, const void *buf, size_t len,
			 struct wh_err **err);
/* Offset, total, expected and times of the writer (st->ref is a copy). */
int content_writer_status(struct content_writer *w, struct content_status *ret,
			  struct wh_err **err);
/* The digest of the bytes written so far ("sha256:..."). */
void content_writer_digest(struct content_writer *w, char out[DIGEST_STR_LEN]);
/* Drops the written bytes (containerd's Truncate(0)); only size 0 is supported (-EINVAL). */
int content_writer_truncate(struct content_writer *w, uint64_t size, struct wh_err **err);
/*
 * Verifies the size (size, or the writer's total when size is 0) and the digest (expected, or the
 * writer's expected when NULL/""), fsyncs and renames the data to blobs/. On a mismatch nothing is
 * committed and the ingest stays (-EINVAL naming both sizes or digests, e.g. "unexpected commit
 * digest sha256:aa..., expected sha256:bb..."). When the blob already exists the ingest is removed
 * and -EEXIST "content sha256:... already exists" is returned. After a successful commit (or
 * -EEXIST) the writer is done: only content_writer_free may follow. ret_digest (may be NULL) gets
 * the committed digest.
 */
int content_writer_commit(struct content_writer *w, uint64_t size, const char *expected,
			  char ret_digest[DIGEST_STR_LEN], struct wh_err **err);
/* Closes the writer and releases its lock; an uncommitted ingest stays for a later resume. */
struct content_writer *content_writer_free(struct content_writer *w);

/* Status of the ingest of ref, held by a writer or not. -ENOENT when there is none. */
int content_status(struct content_store *cs, const char *ref, struct content_status *ret,
		   struct wh_err **err);
/* All ingests matching f (NULL: all). *ret is freed with content_statuses_free. */
int content_list_statuses(struct content_store *cs, const struct filter *f,
			  struct content_status **ret, size_t *ret_n, struct wh_err **err);
/* Removes the ingest of ref. -ENOENT when there is none, -EAGAIN while a writer holds it. */
int content_abort(struct content_store *cs, const char *ref, struct wh_err **err);

/* Hex of sha256(ref): the name of ref's ingest directory. out has DIGEST_HEX_LEN + 1 bytes. */
void content_ingest_name(const char *ref, char out[DIGEST_HEX_LEN + 1]);

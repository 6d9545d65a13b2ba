/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers for snapshots: building layer tars with libarchive and canonical tree listings. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <sys/types.h>

struct tarb; /* a tar being built in memory */

struct tarb *tarb_new(void);
/* Adds entries; names are written exactly as given (hostile ones included). */
void tarb_dir(struct tarb *t, const char *name, mode_t perm);
void tarb_file(struct tarb *t, const char *name, mode_t perm, const char *data);
void tarb_file_owned(struct tarb *t, const char *name, mode_t perm, unsigned uid, unsigned gid,
		     long mtime, const char *data);
void tarb_symlink(struct tarb *t, const char *name, const char *target);
void tarb_hardlink(struct tarb *t, const char *name, const char *target);
void tarb_chardev(struct tarb *t, const char *name, unsigned major, unsigned minor);
void tarb_fifo(struct tarb *t, const char *name);
void tarb_xattr_file(struct tarb *t, const char *name, const char *xname, const char *xvalue);
/* Finishes and returns the uncompressed tar (caller frees) and its length. */
char *tarb_finish(struct tarb *t, size_t *ret_len);

/* Compresses buf with gzip ("gzip") or zstd ("zstd") or nothing; caller frees. */
char *compress_buf(const char *how, const char *buf, size_t len, size_t *ret_len);
/* A memfd (or pipe-less tmp file) holding buf, positioned at 0. */
int buf_fd(const char *buf, size_t len);

/* Canonical listing of the tree under dir: one line per entry, sorted (type, mode, owner,
 * size, content hash, link target, rdev, xattrs except trusted.overlay.*, hard link group,
 * mtime for non-directories). Caller frees. */
char *tree_manifest(const char *dir);

/* Runs a shell command; returns its exit status (or -1). */
int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* SPDX-License-Identifier: Apache-2.0 */
/* Private to snapshots/: the string map, tree copy and usage, filters, xattr and stream helpers. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/stat.h>
#include <sys/types.h>

#include "snapshots/snapshots.h"

/* ---- a string-keyed hash map (open addressing); values are borrowed pointers ---- */
struct strmap {
	char **keys;
	void **vals;
	size_t cap, n;
};
void strmap_done(struct strmap *m);
/* Inserts or replaces; returns true when key was new. key is copied. */
bool strmap_put(struct strmap *m, const char *key, void *val);
/* True when present; *ret (may be NULL) gets the value. */
bool strmap_get(const struct strmap *m, const char *key, void **ret);

/* ---- trees ---- */
/* Copies the contents and the metadata of directory srcfd into the (existing) directory dstfd:
 * owners, modes, xattrs, times, hard links, symlinks, devices, fifos, sockets. */
int tree_copy(int srcfd, int dstfd, struct wh_err **err);
/* Copies one non-directory entry with its metadata (a copy-up). */
int entry_copy_at(int sfd, const char *sname, int dfd, const char *dname);
/* Copies owner, mode, xattrs and times of one entry onto another. */
int meta_copy_at(int sfd, const char *sname, int dfd, const char *dname);
/* Disk usage under dirfd (itself included), each inode once, not crossing mounts. */
int tree_usage(int dirfd, struct snapshot_usage *ret, struct wh_err **err);
/* Copies the xattrs of the entry name in srcdir to name in dstdir (no symlink follows).
 * skip_overlay drops trusted.overlay.* ones. */
int xattrs_copy_at(int srcdir, const char *sname, int dstdir, const char *dname, bool skip_overlay);
/* "/proc/self/fd/<dirfd>/<name>": a path to an entry that l*xattr() can use without following
 * its last component. Caller frees. */
char *proc_fd_path(int dirfd, const char *name);

/* ---- mounts ---- */
/* Lazily unmounts every mount point at or below dir (deepest first). Returns how many. */
int unmount_below(const char *dir, struct wh_err **err);

/* ---- walk filters over common/filter.h ---- */
struct filter;
int snapshot_filters_parse(char *const *filters, struct filter **ret, struct wh_err **err);
bool snapshot_filters_match(const struct filter *f, const struct snapshot_info *info);

/* ---- crash tests: raise(SIGKILL) when $WHARF_SNAPSHOTS_FAILPOINT names this point ---- */
void failpoint(const char *name);

/* ---- apply ---- */
/* layer_apply_dir with the lower directories of an overlay (nearest first, may be NULL): hard
 * links to files that only exist below are copied up first, as overlay itself does. */
int layer_apply_dir_lowers(int dirfd, bool overlay_whiteouts, char *const *lowers,
			   layer_read_fn read_fn, void *userdata, const char *media_type,
			   struct layer_apply_result *ret, struct wh_err **err);

/* ---- compressed streams ---- */
/*
 * A reader thread reads the compressed stream from read_fn, hashes it, decompresses it and
 * queues the output; the caller takes the output buffer by buffer (and it is hashed as taken).
 * expect: the compression the media type announced, or -1 to detect it from the magic bytes;
 * a mismatch between the two is an error.
 */
struct decomp;
int decomp_new(int expect, layer_read_fn read_fn, void *userdata, struct decomp **ret,
	       struct wh_err **err);
/* The next buffer (valid until the next call); *ret_len 0 at the end. */
int decomp_next(struct decomp *d, const void **ret_buf, size_t *ret_len, struct wh_err **err);
/* Drains the rest of the stream (hashing it) and fills the result digests. */
int decomp_finish(struct decomp *d, struct layer_apply_result *ret, struct wh_err **err);
/* Stops the thread (if running) and frees. NULL-safe. */
struct decomp *decomp_free(struct decomp *d);

struct comp; /* compresses bytes written to it onto an fd */
int comp_new(enum layer_compression c, int fd, struct comp **ret, struct wh_err **err);
int comp_write(struct comp *c, const void *buf, size_t n, struct wh_err **err);
int comp_finish(struct comp *c, struct layer_diff_result *ret, struct wh_err **err);
struct comp *comp_free(struct comp *c);

/* ---- libarchive ---- */
struct archive_entry;
void archive_entry_freep(struct archive_entry **e);

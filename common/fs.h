/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File and path helpers. Leaf helpers: they return -errno and take no error object.
 * Every fd they return is O_CLOEXEC.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

/* Writes/reads all of buf, retrying on EINTR and short writes. read_full returns bytes read
 * (less than len only at EOF). */
int write_all(int fd, const void *buf, size_t len);
ssize_t read_full(int fd, void *buf, size_t len);

/*
 * openat2(2) wrappers. fs_open_in_root resolves path inside the directory dirfd as if it were
 * the root (RESOLVE_IN_ROOT: "..", absolute symlinks and absolute paths stay inside).
 * fs_open_beneath refuses to leave dirfd at all (RESOLVE_BENEATH) and, with no_symlinks, to
 * follow any symlink (RESOLVE_NO_SYMLINKS). Both also refuse magic links. -EXDEV/-ELOOP when
 * resolution would escape, -ENOSYS on kernels without openat2.
 */
int fs_open_in_root(int dirfd, const char *path, int flags, mode_t mode);
int fs_open_beneath(int dirfd, const char *path, int flags, mode_t mode, bool no_symlinks);

/* mkdir -p: creates path and its missing parents with mode; fine if it is already a dir. */
int mkdir_p(const char *path, mode_t mode);
/* mkdir -p of path below dirfd without following symlinks in any component: -ELOOP/-ENOTDIR
 * when a component is not a real directory. Returns an O_PATH|O_DIRECTORY fd of the leaf. */
int mkdir_p_beneath(int dirfd, const char *path, mode_t mode);

/*
 * Atomic replace: writes data to a temp file beside path, fsyncs it, renames it over path and
 * fsyncs the directory. Readers see the old content or the new one, never a mix.
 */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/* Reads a whole file (at most max bytes: -EFBIG beyond). *ret is NUL-terminated; caller frees. */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);
int read_fd(int fd, size_t max, char **ret, size_t *ret_len);

/* rm -rf without crossing mount points or following symlinks. -ENOENT is success. */
int rm_rf(const char *path);
int rm_rf_at(int dirfd, const char *name);

/* fsync of the directory holding path. */
int fsync_parent(const char *path);

/* Joins a and b with exactly one '/'. Caller frees. */
char *path_join(const char *a, const char *b);
/* True when every component is non-empty, not "." and not "..", and path is relative. */
bool path_is_safe_relative(const char *path);

/* Sets or clears O_NONBLOCK / FD_CLOEXEC. */
int fd_set_nonblock(int fd, bool on);
int fd_set_cloexec(int fd, bool on);
/* Moves fd to a number >= 3 with F_DUPFD_CLOEXEC (closing the old one). Returns the new fd. */
int fd_move_above_stdio(int fd);

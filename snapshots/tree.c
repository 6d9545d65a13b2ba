/* SPDX-License-Identifier: Apache-2.0 */
/* Whole-tree work for the native snapshotter and usage: faithful copies, disk usage, xattrs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "common/common.h"
#include "snapshots/internal.h"

char *proc_fd_path(int dirfd, const char *name)
{
	return xasprintf("/proc/self/fd/%d/%s", dirfd, name);
}

int xattrs_copy_at(int srcdir, const char *sname, int dstdir, const char *dname, bool skip_overlay)
{
	cleanup_free char *sp = proc_fd_path(srcdir, sname);
	cleanup_free char *dp = proc_fd_path(dstdir, dname);
	ssize_t n = llistxattr(sp, NULL, 0);
	if (n < 0)
		return errno == ENOTSUP ? 0 : -errno;
	if (n == 0)
		return 0;
	cleanup_free char *names = xmalloc((size_t)n);
	n = llistxattr(sp, names, (size_t)n);
	if (n < 0)
		return -errno;
	cleanup_free char *val = NULL;
	size_t cap = 0;
	for (char *k = names; k < names + n; k += strlen(k) + 1) {
		if (skip_overlay && str_startswith(k, "trusted.overlay."))
			continue;
		ssize_t vl = lgetxattr(sp, k, NULL, 0);
		if (vl < 0)
			return -errno;
		if ((size_t)vl + 1 > cap) {
			cap = (size_t)vl + 1;
			val = xrealloc(val, cap);
		}
		vl = lgetxattr(sp, k, val, cap);
		if (vl < 0)
			return -errno;
		if (lsetxattr(dp, k, val, (size_t)vl, 0) < 0)
			return -errno;
	}
	return 0;
}

struct copy_ctx {
	int dst_root;
	struct strmap links; /* "dev:ino" -> dst relative path (owned) */
	dev_t dev;
};

static int copy_data(int sfd, int dfd, off_t size)
{
	off_t done = 0;
	bool cfr = true;
	while (done < size) {
		ssize_t n;
		if (cfr) {
			n = copy_file_range(sfd, NULL, dfd, NULL, (size_t)(size - done), 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
				      errno == EOPNOTSUPP)) {
				cfr = false;
				continue;
			}
		} else {
			char buf[65536];
			n = read(sfd, buf, sizeof(buf));
			if (n > 0 && write_all(dfd, buf, (size_t)n) < 0)
				return -errno;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += n;
	}
	return 0;
}

/* Owner, mode, xattrs and times of dname in dfd from st and sname in sfd. */
static int copy_meta(int sfd, const char *sname, int dfd, const char *dname, const struct stat *st)
{
	if (fchownat(dfd, dname, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISLNK(st->st_mode) && fchmodat(dfd, dname, st->st_mode & 07777, 0) < 0)
		return -errno;
	int r = xattrs_copy_at(sfd, sname, dfd, dname, false);
	if (r < 0)
		return r;
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	if (utimensat(dfd, dname, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* Kept out of copy_dir so that its PATH_MAX buffer is not on every level of the recursion. */
static __attribute__((noinline)) int copy_symlink(int sfd, int dfd, const char *name)
{
	char target[PATH_MAX];
	ssize_t tl = readlinkat(sfd, name, target, sizeof(target) - 1);
	if (tl < 0)
		return -errno;
	target[tl] = 0;
	return symlinkat(target, dfd, name) < 0 ? -errno : 0;
}

static int copy_dir(struct copy_ctx *c, int sfd, int dfd, const char *rel, struct wh_err **err)
{
	int dup = fcntl(sfd, F_DUPFD_CLOEXEC, 3);
	if (dup < 0)
		return wh_err_set(err, errno, "dup");
	cleanup_closedir DIR *d = fdopendir(dup);
	if (!d) {
		wh_close(dup);
		return wh_err_set(err, errno, "opendir '%s'", rel);
	}
	rewinddir(d); /* the dup shares its offset with sfd */
	struct dirent *de;
	int r;
	while ((errno = 0, de = readdir(d))) {
		const char *n = de->d_name;
		if (streq(n, ".") || streq(n, ".."))
			continue;
		cleanup_free char *path = *rel ? xasprintf("%s/%s", rel, n) : xstrdup(n);
		struct stat st;
		if (fstatat(sfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return wh_err_set(err, errno, "stat '%s'", path);
		if (st.st_dev != c->dev)
			continue; /* a mount point inside: not part of the snapshot */
		if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
			char key[64];
			snprintf(key, sizeof(key), "%lu:%lu", (unsigned long)st.st_dev,
				 (unsigned long)st.st_ino);
			void *target;
			if (strmap_get(&c->links, key, &target)) {
				if (linkat(c->dst_root, target, dfd, n, 0) < 0)
					return wh_err_set(err, errno, "link '%s' to '%s'", path,
							  (char *)target);
				continue;
			}
			strmap_put(&c->links, key, xstrdup(path));
		}
		if (S_ISDIR(st.st_mode)) {
			if (mkdirat(dfd, n, 0700) < 0)
				return wh_err_set(err, errno, "mkdir '%s'", path);
			cleanup_close int s2 =
				openat(sfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			cleanup_close int d2 =
				openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s2 < 0 || d2 < 0)
				return wh_err_set(err, errno, "open '%s'", path);
			if ((r = copy_dir(c, s2, d2, path, err)) < 0)
				return r;
		} else if (S_ISREG(st.st_mode)) {
			cleanup_close int s2 = openat(sfd, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			cleanup_close int d2 = openat(
				dfd, n, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (s2 < 0 || d2 < 0)
				return wh_err_set(err, errno, "open '%s'", path);
			if ((r = copy_data(s2, d2, st.st_size)) < 0)
				return wh_err_set(err, r, "copy '%s'", path);
		} else if (S_ISLNK(st.st_mode)) {
			if ((r = copy_symlink(sfd, dfd, n)) < 0)
				return wh_err_set(err, r, "copy the symlink '%s'", path);
		} else {
			if (mknodat(dfd, n, st.st_mode, st.st_rdev) < 0)
				return wh_err_set(err, errno, "mknod '%s'", path);
		}
		if ((r = copy_meta(sfd, n, dfd, n, &st)) < 0)
			return wh_err_set(err, r, "copy the metadata of '%s'", path);
	}
	if (errno)
		return wh_err_set(err, errno, "readdir '%s'", rel);
	return 0;
}

int tree_copy(int srcfd, int dstfd, struct wh_err **err)
{
	struct stat st;
	if (fstat(srcfd, &st) < 0)
		return wh_err_set(err, errno, "stat the source tree");
	struct copy_ctx c = {.dst_root = dstfd, .dev = st.st_dev};
	int r = copy_dir(&c, srcfd, dstfd, "", err);
	if (r >= 0 && (r = copy_meta(srcfd, ".", dstfd, ".", &st)) < 0)
		wh_err_set(err, r, "copy the metadata of the tree root");
	for (size_t i = 0; i < c.links.cap; i++)
		free(c.links.vals ? c.links.vals[i] : NULL);
	strmap_done(&c.links);
	return r;
}

struct usage_ctx {
	struct strmap seen;
	dev_t dev;
	struct snapshot_usage u;
};

static int usage_dir(struct usage_ctx *c, int fd, struct wh_err **err)
{
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup < 0)
		return wh_err_set(err, errno, "dup");
	cleanup_closedir DIR *d = fdopendir(dup);
	if (!d) {
		wh_close(dup);
		return wh_err_set(err, errno, "opendir");
	}
	rewinddir(d); /* the dup shares its offset with fd */
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return wh_err_set(err, errno, "stat '%s'", de->d_name);
		if (st.st_dev != c->dev)
			continue;
		if (st.st_nlink > 1 && !S_ISDIR(st.st_mode)) {
			char key[64];
			snprintf(key, sizeof(key), "%lu", (unsigned long)st.st_ino);
			if (!strmap_put(&c->seen, key, NULL))
				continue;
		}
		c->u.inodes++;
		c->u.size += (int64_t)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode)) {
			cleanup_close int s2 = openat(
				fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s2 < 0)
				return wh_err_set(err, errno, "open '%s'", de->d_name);
			int r = usage_dir(c, s2, err);
			if (r < 0)
				return r;
		}
	}
	if (errno)
		return wh_err_set(err, errno, "readdir");
	return 0;
}

int tree_usage(int dirfd, struct snapshot_usage *ret, struct wh_err **err)
{
	struct stat st;
	if (fstat(dirfd, &st) < 0)
		return wh_err_set(err, errno, "stat");
	struct usage_ctx c = {.dev = st.st_dev};
	c.u.inodes = 1;
	c.u.size = (int64_t)st.st_blocks * 512;
	int r = usage_dir(&c, dirfd, err);
	strmap_done(&c.seen);
	if (r < 0)
		return wh_err_wrap(err, r, "disk usage");
	*ret = c.u;
	return 0;
}

int entry_copy_at(int sfd, const char *sname, int dfd, const char *dname)
{
	struct stat st;
	if (fstatat(sfd, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	int r;
	if (S_ISREG(st.st_mode)) {
		cleanup_close int s2 = openat(sfd, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		cleanup_close int d2 = openat(
			dfd, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (s2 < 0 || d2 < 0)
			return -errno;
		if ((r = copy_data(s2, d2, st.st_size)) < 0)
			return r;
	} else if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t tl = readlinkat(sfd, sname, target, sizeof(target) - 1);
		if (tl < 0)
			return -errno;
		target[tl] = 0;
		if (symlinkat(target, dfd, dname) < 0)
			return -errno;
	} else if (S_ISDIR(st.st_mode)) {
		return -EISDIR;
	} else if (mknodat(dfd, dname, st.st_mode, st.st_rdev) < 0) {
		return -errno;
	}
	return copy_meta(sfd, sname, dfd, dname, &st);
}

int meta_copy_at(int sfd, const char *sname, int dfd, const char *dname)
{
	struct stat st;
	if (fstatat(sfd, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return copy_meta(sfd, sname, dfd, dname, &st);
}

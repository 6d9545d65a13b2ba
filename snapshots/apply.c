/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer apply: an OCI layer tar (streamed through the decompressing reader) written into a
 * snapshot directory. Every path is resolved inside the snapshot root (openat2
 * RESOLVE_IN_ROOT) and every entry is created with *at() calls that never follow its last
 * component, so nothing in the archive can reach outside. Whiteouts become overlay whiteouts
 * or deletions.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "common/common.h"
#include "snapshots/internal.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META_PREFIX ".wh..wh."

struct dir_time {
	char *path;
	struct timespec ts[2];
};

struct apply {
	int root;
	bool overlay;
	struct decomp *dec;
	struct wh_err *stream_err;
	struct strmap seen; /* normalized paths of this layer's entries; value: 1 dir, 2 other */
	struct dir_time *dirs;
	size_t ndirs;
	char *cached_path; /* the parent directory cached in cached_fd */
	int cached_fd;
	char *const *lowers; /* overlay lower directories, nearest first */
};

static la_ssize_t la_read(struct archive *a, void *ud, const void **buf)
{
	struct apply *c = ud;
	size_t n = 0;
	int r = decomp_next(c->dec, buf, &n, &c->stream_err);
	if (r < 0) {
		archive_set_error(a, -r, "%s", wh_err_msg(c->stream_err));
		return -1;
	}
	return (la_ssize_t)n;
}

static void cache_drop(struct apply *c)
{
	free(c->cached_path);
	c->cached_path = NULL;
	c->cached_fd = wh_close(c->cached_fd);
}

/*
 * Normalizes an archive name: leading '/' and "./" dropped, "//" and trailing '/' collapsed.
 * Refuses "..", and names over NAME_MAX / PATH_MAX. "" is the root.
 */
static int normalize(const char *name, char **ret, const char **why)
{
	if (!name) {
		*why = "has no name";
		return -EINVAL;
	}
	if (strlen(name) >= PATH_MAX) {
		*why = "has a name over PATH_MAX";
		return -ENAMETOOLONG;
	}
	struct strbuf b = STRBUF_INIT;
	const char *p = name;
	while (*p) {
		while (*p == '/')
			p++;
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);
		if (len == 0)
			break;
		if (len == 1 && p[0] == '.') {
			p = e;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			strbuf_release(&b);
			*why = "has a '..' component";
			return -EINVAL;
		}
		if (len > NAME_MAX) {
			strbuf_release(&b);
			*why = "has a component over NAME_MAX";
			return -ENAMETOOLONG;
		}
		if (b.len)
			strbuf_addc(&b, '/');
		strbuf_add(&b, p, len);
		p = e;
	}
	*ret = strbuf_detach(&b, NULL);
	return 0;
}

static int copy_up_dirs(struct apply *c, const char *path);

/* Opens directory path inside the root (optionally creating missing components). */
static int open_dir(struct apply *c, const char *path, bool create)
{
	if (!*path) {
		int fd = fcntl(c->root, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? -errno : fd;
	}
	int fd = fs_open_in_root(c->root, path, O_RDONLY | O_DIRECTORY, 0);
	if (fd >= 0 || fd != -ENOENT || !create)
		return fd;
	if (c->overlay && c->lowers) {
		/* as overlay's copy-up: missing directories come with their lower metadata */
		int r = copy_up_dirs(c, path);
		if (r < 0)
			return r;
		return fs_open_in_root(c->root, path, O_RDONLY | O_DIRECTORY, 0);
	}
	/* create missing components one by one, each resolved inside the root */
	cleanup_free char *p = xstrdup(path);
	for (char *s = p;; s++) {
		if (*s != '/' && *s != 0)
			continue;
		char saved = *s;
		*s = 0;
		cleanup_close int d = fs_open_in_root(c->root, p, O_RDONLY | O_DIRECTORY, 0);
		if (d == -ENOENT) {
			char *slash = strrchr(p, '/');
			cleanup_close int parent =
				slash ? (*slash = 0,
					 fs_open_in_root(c->root, p, O_RDONLY | O_DIRECTORY, 0))
				      : fcntl(c->root, F_DUPFD_CLOEXEC, 3);
			if (slash)
				*slash = '/';
			if (parent < 0)
				return parent;
			if (mkdirat(parent, slash ? slash + 1 : p, 0755) < 0 && errno != EEXIST)
				return -errno;
		} else if (d < 0) {
			return d;
		}
		*s = saved;
		if (saved == 0)
			break;
	}
	return fs_open_in_root(c->root, path, O_RDONLY | O_DIRECTORY, 0);
}

/* The parent directory fd of path (borrowed), and its base name. */
static int parent_of(struct apply *c, const char *path, bool create, int *ret_fd,
		     const char **ret_base)
{
	const char *slash = strrchr(path, '/');
	cleanup_free char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
	*ret_base = slash ? slash + 1 : path;
	if (c->cached_path && streq(c->cached_path, dir)) {
		*ret_fd = c->cached_fd;
		return 0;
	}
	cache_drop(c);
	int fd = open_dir(c, dir, create);
	if (fd < 0)
		return fd;
	c->cached_fd = fd;
	c->cached_path = TAKE_PTR(dir);
	*ret_fd = fd;
	return 0;
}

/* Removes whatever is at name (unless both it and the new entry are directories). */
static int make_room(struct apply *c, int dfd, const char *name, bool new_is_dir, bool *ret_dir)
{
	struct stat st;
	*ret_dir = false;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode) && new_is_dir) {
		*ret_dir = true;
		return 0;
	}
	/* the cached directory is the parent of name: removing name leaves it valid */
	return rm_rf_at(dfd, name);
}

static int set_xattrs(struct archive_entry *e, int dfd, const char *name, int fd)
{
	const char *k;
	const void *v;
	size_t len;
	archive_entry_xattr_reset(e);
	cleanup_free char *path = NULL;
	while (archive_entry_xattr_next(e, &k, &v, &len) == ARCHIVE_OK) {
		if (str_startswith(k, "trusted.overlay."))
			continue; /* overlay's own: never taken from an archive */
		int r;
		if (fd >= 0) {
			r = fsetxattr(fd, k, v, len, 0);
		} else {
			if (!path)
				path = proc_fd_path(dfd, name);
			r = lsetxattr(path, k, v, len, 0);
		}
		/* the kernel keeps user.* off symlinks and devices: nothing to restore there */
		if (r < 0 && !(errno == EPERM && fd < 0 && str_startswith(k, "user.")))
			return -errno;
	}
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
}

static int write_data(struct archive *a, int fd, struct apply *c)
{
	const void *buf;
	size_t size;
	la_int64_t offset, pos = 0;
	bool sparse = false;
	for (;;) {
		int r = archive_read_data_block(a, &buf, &size, &offset);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return -EIO;
		if (offset != pos) {
			if (lseek(fd, offset, SEEK_SET) < 0)
				return -errno;
			sparse = true;
			pos = offset;
		}
		if (size && write_all(fd, buf, size) < 0)
			return -errno;
		pos += (la_int64_t)size;
	}
	(void)c;
	if (sparse && ftruncate(fd, pos) < 0)
		return -errno;
	return 0;
}

static int whiteout(struct apply *c, const char *path, const char *parent_path, const char *base)
{
	int dfd;
	const char *ignored;
	if (streq(base, WH_OPAQUE)) {
		if (c->overlay) {
			cache_drop(c);
			cleanup_close int d = open_dir(c, parent_path, true);
			if (d < 0)
				return d;
			if (fsetxattr(d, "trusted.overlay.opaque", "y", 1, 0) < 0)
				return -errno;
			return 0;
		}
		cleanup_close int d = open_dir(c, parent_path, false);
		if (d == -ENOENT)
			return 0;
		if (d < 0)
			return d;
		cleanup_closedir DIR *dir = fdopendir(fcntl(d, F_DUPFD_CLOEXEC, 3));
		if (!dir)
			return -errno;
		rewinddir(dir);
		struct dirent *de;
		cleanup_strv char **doomed = NULL;
		while ((de = readdir(dir))) {
			if (streq(de->d_name, ".") || streq(de->d_name, ".."))
				continue;
			cleanup_free char *child =
				*parent_path ? xasprintf("%s/%s", parent_path, de->d_name)
					     : xstrdup(de->d_name);
			if (!strmap_get(&c->seen, child, NULL))
				strv_push(&doomed, de->d_name);
		}
		cache_drop(c);
		strv_foreach(x, doomed) {
			int r = rm_rf_at(d, *x);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (str_startswith(base, WH_META_PREFIX))
		return 0; /* aufs metadata (.wh..wh.plnk and such): ignored */
	const char *victim = base + strlen(WH_PREFIX);
	if (!*victim || streq(victim, ".") || streq(victim, ".."))
		return -EINVAL;
	cleanup_free char *vpath =
		*parent_path ? xasprintf("%s/%s", parent_path, victim) : xstrdup(victim);
	(void)path;
	cache_drop(c); /* the victim may be a directory we have cached */
	int r = parent_of(c, vpath, c->overlay, &dfd, &ignored);
	if ((r == -ENOENT || r == -ENOTDIR) && !c->overlay)
		return 0;
	if (r < 0)
		return r;
	if ((r = rm_rf_at(dfd, victim)) < 0)
		return r;
	if (c->overlay && mknodat(dfd, victim, S_IFCHR | 0, makedev(0, 0)) < 0)
		return -errno;
	return 0;
}

/* Copies dir/name from the nearest lower directory that has it into the upper directory tfd. */
static int copy_up(struct apply *c, const char *dir, const char *name, int tfd)
{
	strv_foreach(l, (char **)c->lowers) {
		cleanup_close int lfd = open(*l, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lfd < 0)
			return -errno;
		cleanup_close int ldir =
			*dir ? fs_open_in_root(lfd, dir, O_RDONLY | O_DIRECTORY, 0) : TAKE_FD(lfd);
		if (ldir == -ENOENT || ldir == -ENOTDIR)
			continue;
		if (ldir < 0)
			return ldir;
		struct stat st;
		if (fstatat(ldir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
			return -ENOENT; /* deleted in that layer */
		return entry_copy_at(ldir, name, tfd, name);
	}
	return -ENOENT;
}

/* Creates the directories of path missing in the upper directory, with the metadata of the
 * nearest lower directory that has them. */
static int copy_up_dirs(struct apply *c, const char *path)
{
	cleanup_free char *p = xstrdup(path);
	for (char *s = p;; s++) {
		if (*s != '/' && *s != 0)
			continue;
		char saved = *s;
		*s = 0;
		cleanup_close int d = open_dir(c, p, false);
		if (d == -ENOENT) {
			char *slash = strrchr(p, '/');
			const char *name = slash ? slash + 1 : p;
			cleanup_free char *parent =
				slash ? xstrndup(p, (size_t)(slash - p)) : xstrdup("");
			cleanup_close int pfd = open_dir(c, parent, false);
			if (pfd < 0)
				return pfd;
			if (mkdirat(pfd, name, 0755) < 0 && errno != EEXIST)
				return -errno;
			strv_foreach(l, (char **)c->lowers) {
				cleanup_close int lfd =
					open(*l, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				if (lfd < 0)
					return -errno;
				cleanup_close int lp =
					*parent ? fs_open_in_root(lfd, parent,
								  O_RDONLY | O_DIRECTORY, 0)
						: TAKE_FD(lfd);
				struct stat st;
				if (lp < 0 || fstatat(lp, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
				    !S_ISDIR(st.st_mode))
					continue;
				int r = meta_copy_at(lp, name, pfd, name);
				if (r < 0)
					return r;
				break;
			}
		} else if (d < 0) {
			return d;
		}
		*s = saved;
		if (saved == 0)
			return 0;
	}
}

static int apply_entry(struct apply *c, struct archive *a, struct archive_entry *e,
		       const char *path)
{
	const char *slash = strrchr(path, '/');
	cleanup_free char *parent_path =
		slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
	const char *base = slash ? slash + 1 : path;
	if (str_startswith(base, WH_PREFIX))
		return whiteout(c, path, parent_path, base);

	mode_t type = archive_entry_filetype(e);
	const char *hardlink = archive_entry_hardlink(e);
	bool is_dir = !hardlink && type == AE_IFDIR;
	int dfd, r;
	if ((r = parent_of(c, path, true, &dfd, &base)) < 0)
		return r;
	bool exists_dir;
	if ((r = make_room(c, dfd, base, is_dir, &exists_dir)) < 0)
		return r;

	if (hardlink) {
		const char *why = NULL;
		cleanup_free char *target = NULL;
		if ((r = normalize(hardlink, &target, &why)) < 0 || !*target)
			return r < 0 ? r : -EINVAL;
		const char *tslash = strrchr(target, '/');
		cleanup_free char *tdir =
			tslash ? xstrndup(target, (size_t)(tslash - target)) : xstrdup("");
		const char *tbase = tslash ? tslash + 1 : target;
		cleanup_close int tfd = open_dir(c, tdir, c->overlay && c->lowers);
		if (tfd < 0)
			return tfd;
		struct stat st;
		if (fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (c->overlay && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
				return -ENOENT; /* deleted by a whiteout */
		} else if (errno == ENOENT && c->overlay) {
			if ((r = copy_up(c, tdir, tbase, tfd)) < 0)
				return r;
		}
		if (linkat(tfd, tbase, dfd, base, 0) < 0)
			return -errno;
		return 0;
	}

	uid_t uid = (uid_t)archive_entry_uid(e);
	gid_t gid = (gid_t)archive_entry_gid(e);
	mode_t perm = archive_entry_perm(e) & 07777;
	struct timespec ts[2];
	entry_times(e, ts);

	switch (type) {
	case AE_IFREG: {
		cleanup_close int fd = openat(
			dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if ((r = write_data(a, fd, c)) < 0)
			return r;
		if (fchown(fd, uid, gid) < 0 || fchmod(fd, perm) < 0)
			return -errno;
		if ((r = set_xattrs(e, dfd, base, fd)) < 0)
			return r;
		if (futimens(fd, ts) < 0)
			return -errno;
		return 0;
	}
	case AE_IFDIR: {
		if (!exists_dir && mkdirat(dfd, base, 0700) < 0)
			return -errno;
		cleanup_close int fd =
			openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (fchown(fd, uid, gid) < 0 || fchmod(fd, perm) < 0)
			return -errno;
		if ((r = set_xattrs(e, dfd, base, fd)) < 0)
			return r;
		c->dirs = xrealloc(c->dirs, (c->ndirs + 1) * sizeof(*c->dirs));
		c->dirs[c->ndirs].path = xstrdup(path);
		memcpy(c->dirs[c->ndirs].ts, ts, sizeof(ts));
		c->ndirs++;
		return 0;
	}
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);
		if (!target || !*target)
			return -EINVAL;
		if (strlen(target) >= PATH_MAX)
			return -ENAMETOOLONG;
		if (symlinkat(target, dfd, base) < 0)
			return -errno;
		break;
	}
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO: {
		dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
		if (mknodat(dfd, base, type | perm, type == AE_IFIFO ? 0 : dev) < 0)
			return -errno;
		break;
	}
	default:
		return -ENOTSUP;
	}
	if (fchownat(dfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (type != AE_IFLNK && fchmodat(dfd, base, perm, 0) < 0)
		return -errno;
	if ((r = set_xattrs(e, dfd, base, -1)) < 0)
		return r;
	if (utimensat(dfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int finish_dirs(struct apply *c, struct wh_err **err)
{
	for (size_t i = c->ndirs; i-- > 0;) {
		cleanup_close int fd = fs_open_in_root(c->root, c->dirs[i].path,
						       O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
			continue; /* replaced or removed by a later entry */
		if (fd < 0)
			return wh_err_set(err, fd, "entry '%s': reopen", c->dirs[i].path);
		if (futimens(fd, c->dirs[i].ts) < 0)
			return wh_err_set(err, errno, "entry '%s': set times", c->dirs[i].path);
	}
	return 0;
}

static int apply_archive(struct apply *c, struct archive *a, struct wh_err **err)
{
	struct archive_entry *e;
	cleanup_free char *last = NULL; /* the previous entry, to place a damaged header */
	for (;;) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			if (c->stream_err)
				return wh_err_move(err, &c->stream_err);
			const char *why =
				archive_error_string(a) ? archive_error_string(a) : "unknown error";
			if (!last)
				return wh_err_setx(err, EINVAL,
						   "read the layer tar: the first entry: %s", why);
			return wh_err_setx(err, EINVAL,
					   "read the layer tar: the entry after '%s': %s", last,
					   why);
		}
		const char *name = archive_entry_pathname(e);
		free(last);
		last = xstrdup(name ? name : "");
		const char *why = NULL;
		cleanup_free char *path = NULL;
		if ((r = normalize(name, &path, &why)) < 0)
			return wh_err_setx(err, -r, "entry '%s' %s", name ? name : "", why);
		const char *hl = archive_entry_hardlink(e);
		cleanup_free char *hpath = NULL;
		if (hl && (r = normalize(hl, &hpath, &why)) < 0)
			return wh_err_setx(err, -r, "entry '%s': hard link target '%s' %s", name,
					   hl, why);
		if (!*path)
			continue; /* the root itself: its metadata belongs to the snapshotter */
		bool dir = !hl && archive_entry_filetype(e) == AE_IFDIR;
		void *prev;
		if (strmap_get(&c->seen, path, &prev)) {
			if (!(dir && prev == (void *)1))
				return wh_err_setx(err, EEXIST,
						   "entry '%s' appears twice in the layer", name);
		}
		strmap_put(&c->seen, path, dir ? (void *)1 : (void *)2);
		if ((r = apply_entry(c, a, e, path)) < 0) {
			if (c->stream_err)
				return wh_err_move(err, &c->stream_err);
			if (r == -EIO && archive_errno(a))
				return wh_err_setx(err, EIO, "entry '%s': %s", name,
						   archive_error_string(a));
			if (r == -ENOTSUP)
				return wh_err_setx(err, ENOTSUP,
						   "entry '%s' has an unsupported type", name);
			if (hl)
				return wh_err_set(err, r, "entry '%s': hard link to '%s'", name,
						  hl);
			return wh_err_set(err, r, "entry '%s'", name);
		}
	}
}

int layer_apply_dir(int dirfd, bool overlay_whiteouts, layer_read_fn read_fn, void *userdata,
		    const char *media_type, struct layer_apply_result *ret, struct wh_err **err)
{
	return layer_apply_dir_lowers(dirfd, overlay_whiteouts, NULL, read_fn, userdata, media_type,
				      ret, err);
}

int layer_apply_dir_lowers(int dirfd, bool overlay_whiteouts, char *const *lowers,
			   layer_read_fn read_fn, void *userdata, const char *media_type,
			   struct layer_apply_result *ret, struct wh_err **err)
{
	int expect = -1;
	if (media_type && *media_type) {
		enum layer_compression lc;
		if (layer_compression_from_media_type(media_type, &lc) < 0)
			return wh_err_setx(err, ENOTSUP, "unsupported layer media type '%s'",
					   media_type);
		expect = (int)lc;
	}
	struct apply c = {
		.root = dirfd, .overlay = overlay_whiteouts, .cached_fd = -EBADF, .lowers = lowers};
	int r = decomp_new(expect, read_fn, userdata, &c.dec, err);
	if (r < 0)
		return r;
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (archive_read_open(a, &c, NULL, la_read, NULL) != ARCHIVE_OK) {
		if (c.stream_err)
			r = wh_err_move(err, &c.stream_err);
		else
			r = wh_err_setx(err, EINVAL, "read the layer tar: %s",
					archive_error_string(a));
		goto out;
	}
	if ((r = apply_archive(&c, a, err)) < 0)
		goto out;
	cache_drop(&c);
	if ((r = finish_dirs(&c, err)) < 0)
		goto out;
	struct layer_apply_result res = {0};
	if ((r = decomp_finish(c.dec, &res, err)) < 0)
		goto out;
	if (ret)
		*ret = res;
	r = 0;
out:
	archive_read_free(a);
	decomp_free(c.dec);
	cache_drop(&c);
	wh_err_free(c.stream_err);
	for (size_t i = 0; i < c.ndirs; i++)
		free(c.dirs[i].path);
	free(c.dirs);
	strmap_done(&c.seen);
	return r;
}

static ssize_t fd_read(void *userdata, void *buf, size_t n)
{
	ssize_t r = read(*(int *)userdata, buf, n);
	return r < 0 ? -errno : r;
}

static const char *mount_option(const struct wh_mount *m, const char *key)
{
	size_t kl = strlen(key);
	strv_foreach(o, m->options) {
		if (strncmp(*o, key, kl) == 0 && (*o)[kl] == '=')
			return *o + kl + 1;
	}
	return NULL;
}

int layer_apply_read(const struct wh_mount_list *mounts, layer_read_fn read_fn, void *userdata,
		     const char *media_type, struct layer_apply_result *ret, struct wh_err **err)
{
	const char *dir = NULL;
	bool overlay = false;
	if (mounts->n == 1 && streq(mounts->v[0].type, "overlay") &&
	    (dir = mount_option(&mounts->v[0], "upperdir"))) {
		overlay = true;
	} else if (mounts->n == 1 &&
		   (streq(mounts->v[0].type, "bind") || streq(mounts->v[0].type, "rbind"))) {
		if (strv_contains(mounts->v[0].options, "ro"))
			return wh_err_setx(err, EROFS, "cannot apply a layer to read-only mounts");
		dir = mounts->v[0].source;
	}
	if (dir) {
		cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return wh_err_set(err, errno, "open '%s'", dir);
		cleanup_strv char **lowers = NULL;
		const char *lo = overlay ? mount_option(&mounts->v[0], "lowerdir") : NULL;
		if (lo) {
			cleanup_free char *copy = xstrdup(lo);
			char *save = NULL;
			for (char *p = strtok_r(copy, ":", &save); p;
			     p = strtok_r(NULL, ":", &save))
				strv_push(&lowers, p);
		}
		return layer_apply_dir_lowers(fd, overlay, lowers, read_fn, userdata, media_type,
					      ret, err);
	}
	/* anything else: mount it and apply through the mount */
	char tmp[] = "/tmp/wharf-apply-XXXXXX";
	if (!mkdtemp(tmp))
		return wh_err_set(err, errno, "mkdtemp");
	int r = wh_mount_all(mounts, tmp, err);
	if (r >= 0) {
		cleanup_close int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			r = wh_err_set(err, errno, "open '%s'", tmp);
		else
			r = layer_apply_dir(fd, false, read_fn, userdata, media_type, ret, err);
		fd = wh_close(fd);
		cleanup_err struct wh_err *e2 = NULL;
		int u = wh_unmount_all(tmp, MNT_DETACH, &e2);
		if (u < 0 && r >= 0)
			r = wh_err_move(err, &e2);
	}
	rmdir(tmp);
	return r;
}

int layer_apply(const struct wh_mount_list *mounts, int fd, const char *media_type,
		struct layer_apply_result *ret, struct wh_err **err)
{
	return layer_apply_read(mounts, fd_read, &fd, media_type, ret, err);
}

void archive_entry_freep(struct archive_entry **e)
{
	if (*e)
		archive_entry_free(*e);
}

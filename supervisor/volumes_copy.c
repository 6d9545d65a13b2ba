/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pre-fill of a new volume from the image (Docker's copy-up at first use): a tree copy
 * over directory fds that keeps owners, modes, times, hard links, symlinks (never followed)
 * and extended attributes, and the read-only mount of a container's rootfs snapshot in a
 * private mount namespace of a short-lived thread to copy from.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "common/err.h"
#include "common/fs.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "snapshots/snapshots.h"
#include "supervisor/volumes.h"

#define COPY_MAX_DEPTH 512
#define XATTR_LIST_MAX_BYTES (64u << 10)

struct copy {
	int dst_root;
	struct inode_map links; /* paths relative to the destination root */
	struct strbuf path;	/* the entry being copied, relative to the roots */
};

static size_t inode_slot(const struct inode_map *m, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)dev * 0x9e3779b97f4a7c15ull ^ (uint64_t)ino * 0xc2b2ae3d27d4eb4full;
	size_t i = (size_t)(h ^ (h >> 31)) & (m->cap - 1);

	while (m->v[i].used && (m->v[i].dev != dev || m->v[i].ino != ino))
		i = (i + 1) & (m->cap - 1);
	return i;
}

struct inode_entry *inode_map_get(struct inode_map *m, dev_t dev, ino_t ino, bool *ret_new)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct inode_map g = {.cap = m->cap ? m->cap * 2 : 64, .n = m->n};

		g.v = xnew0(struct inode_entry, g.cap);
		for (size_t k = 0; k < m->cap; k++)
			if (m->v[k].used)
				g.v[inode_slot(&g, m->v[k].dev, m->v[k].ino)] = m->v[k];
		free(m->v);
		*m = g;
	}
	i = inode_slot(m, dev, ino);
	*ret_new = !m->v[i].used;
	if (*ret_new) {
		m->v[i] = (struct inode_entry){.dev = dev, .ino = ino, .used = true};
		m->n++;
	}
	return &m->v[i];
}

void inode_map_release(struct inode_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->v[i].path);
	free(m->v);
	*m = (struct inode_map){0};
}

static int copy_fail(struct copy *c, struct wh_err **err, int r, const char *what)
{
	return wh_err_set(err, r, "%s '%s'", what, c->path.len ? c->path.buf : ".");
}

/* Extended attributes from fd src to fd dst; what the destination refuses is skipped. */
static int copy_xattrs(struct copy *c, int src, int dst, struct wh_err **err)
{
	cleanup_free char *names = NULL, *val = NULL;
	ssize_t n = flistxattr(src, NULL, 0);

	if (n < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
		return 0;
	if (n < 0)
		return copy_fail(c, err, errno, "list xattrs of");
	if (n == 0)
		return 0;
	if ((size_t)n > XATTR_LIST_MAX_BYTES)
		return copy_fail(c, err, E2BIG, "xattr list too long on");
	names = xmalloc((size_t)n + 1);
	n = flistxattr(src, names, (size_t)n);
	if (n < 0)
		return copy_fail(c, err, errno, "list xattrs of");
	for (char *k = names; k < names + n; k += strlen(k) + 1) {
		ssize_t vn;

		/* The overlay's own bookkeeping is not content. */
		if (str_startswith(k, "trusted.overlay.") || str_startswith(k, "user.overlay."))
			continue;
		vn = fgetxattr(src, k, NULL, 0);
		if (vn < 0)
			continue;
		free(val);
		val = xmalloc((size_t)vn + 1);
		vn = fgetxattr(src, k, val, (size_t)vn);
		if (vn < 0)
			continue;
		if (fsetxattr(dst, k, val, (size_t)vn, 0) < 0 && errno != EPERM &&
		    errno != ENOTSUP && errno != EOPNOTSUPP && errno != EACCES)
			return copy_fail(c, err, errno, "set xattr on");
	}
	return 0;
}

/* Owner, xattrs, mode (after chown, which clears set-id bits) and times of an open fd. */
static int copy_meta_fd(struct copy *c, int src, int dst, const struct stat *st, bool times,
			struct wh_err **err)
{
	const struct timespec ts[2] = {st->st_atim, st->st_mtim};
	int r;

	if (fchown(dst, st->st_uid, st->st_gid) < 0)
		return copy_fail(c, err, errno, "chown");
	if ((r = copy_xattrs(c, src, dst, err)) < 0)
		return r;
	if (fchmod(dst, st->st_mode & 07777) < 0)
		return copy_fail(c, err, errno, "chmod");
	if (times && futimens(dst, ts) < 0)
		return copy_fail(c, err, errno, "set times of");
	return 0;
}

static int copy_data(struct copy *c, int src, int dst, off_t size, struct wh_err **err)
{
	char buf[64 << 10];
	off_t done = 0;

	while (done < size) {
		ssize_t n = copy_file_range(src, NULL, dst, NULL, (size_t)(size - done), 0);

		if (n == 0)
			break;
		if (n > 0) {
			done += n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return copy_fail(c, err, errno, "copy");
		break; /* fall back to read/write from where we are */
	}
	for (;;) {
		ssize_t n = read(src, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return copy_fail(c, err, errno, "read");
		if (n == 0)
			return 0;
		if (write_all(dst, buf, (size_t)n) < 0)
			return copy_fail(c, err, errno, "write");
	}
}

/* A hard link to an inode already copied: links it and returns 1; 0 when it is new. */
static int try_link(struct copy *c, int dst_dir, const char *name, const struct stat *st,
		    struct wh_err **err)
{
	struct inode_entry *e;
	bool fresh;

	if (st->st_nlink < 2)
		return 0;
	e = inode_map_get(&c->links, st->st_dev, st->st_ino, &fresh);
	if (fresh) {
		e->path = xstrdup(c->path.buf);
		return 0;
	}
	if (linkat(c->dst_root, e->path, dst_dir, name, 0) < 0)
		return copy_fail(c, err, errno, "hard link");
	return 1;
}

static int copy_file(struct copy *c, int src_dir, int dst_dir, const char *name,
		     const struct stat *st, struct wh_err **err)
{
	cleanup_close int s = -EBADF, d = -EBADF;
	struct stat now;
	int r;

	if ((r = try_link(c, dst_dir, name, st, err)) != 0)
		return r < 0 ? r : 0;
	s = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (s < 0)
		return copy_fail(c, err, errno, "open");
	if (fstat(s, &now) < 0)
		return copy_fail(c, err, errno, "stat");
	if (!S_ISREG(now.st_mode) || now.st_ino != st->st_ino)
		return copy_fail(c, err, ESTALE, "changed while copying:");
	d = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (d < 0)
		return copy_fail(c, err, errno, "create");
	if ((r = copy_data(c, s, d, now.st_size, err)) < 0)
		return r;
	return copy_meta_fd(c, s, d, &now, true, err);
}

static int copy_special(struct copy *c, int dst_dir, const char *name, const struct stat *st,
			struct wh_err **err)
{
	const struct timespec ts[2] = {st->st_atim, st->st_mtim};
	int r;

	if ((r = try_link(c, dst_dir, name, st, err)) != 0)
		return r < 0 ? r : 0;
	if (mknodat(dst_dir, name, (st->st_mode & S_IFMT) | 0600, st->st_rdev) < 0)
		return copy_fail(c, err, errno, "mknod");
	if (fchownat(dst_dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(c, err, errno, "chown");
	/* A node we just made in a directory nothing else writes: not a symlink. */
	if (fchmodat(dst_dir, name, st->st_mode & 07777, 0) < 0)
		return copy_fail(c, err, errno, "chmod");
	if (utimensat(dst_dir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(c, err, errno, "set times of");
	return 0;
}

static int copy_symlink(struct copy *c, int src_dir, int dst_dir, const char *name,
			const struct stat *st, struct wh_err **err)
{
	const struct timespec ts[2] = {st->st_atim, st->st_mtim};
	char target[PATH_MAX + 1];
	ssize_t n = readlinkat(src_dir, name, target, sizeof(target));

	if (n < 0)
		return copy_fail(c, err, errno, "read link");
	if ((size_t)n >= sizeof(target))
		return copy_fail(c, err, ENAMETOOLONG, "read link");
	target[n] = '\0';
	if (symlinkat(target, dst_dir, name) < 0)
		return copy_fail(c, err, errno, "symlink");
	if (fchownat(dst_dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(c, err, errno, "chown");
	if (utimensat(dst_dir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(c, err, errno, "set times of");
	return 0;
}

static int copy_dir_contents(struct copy *c, int src, int dst, unsigned depth, struct wh_err **err);

static int copy_dir(struct copy *c, int src_dir, int dst_dir, const char *name,
		    const struct stat *st, unsigned depth, struct wh_err **err)
{
	cleanup_close int s = -EBADF, d = -EBADF;
	struct stat now;
	int r;

	s = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s < 0)
		return copy_fail(c, err, errno, "open directory");
	if (fstat(s, &now) < 0)
		return copy_fail(c, err, errno, "stat");
	if (now.st_ino != st->st_ino || now.st_dev != st->st_dev)
		return copy_fail(c, err, ESTALE, "changed while copying:");
	if (mkdirat(dst_dir, name, 0700) < 0)
		return copy_fail(c, err, errno, "mkdir");
	d = openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0)
		return copy_fail(c, err, errno, "open directory");
	if ((r = copy_dir_contents(c, s, d, depth + 1, err)) < 0)
		return r;
	return copy_meta_fd(c, s, d, &now, true, err);
}

static int copy_entry(struct copy *c, int src, int dst, const char *name, unsigned depth,
		      struct wh_err **err)
{
	size_t len = c->path.len;
	struct stat st;
	int r = 0;

	if (len)
		strbuf_addc(&c->path, '/');
	strbuf_adds(&c->path, name);
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = copy_fail(c, err, errno, "stat");
	else if (S_ISDIR(st.st_mode))
		r = copy_dir(c, src, dst, name, &st, depth, err);
	else if (S_ISREG(st.st_mode))
		r = copy_file(c, src, dst, name, &st, err);
	else if (S_ISLNK(st.st_mode))
		r = copy_symlink(c, src, dst, name, &st, err);
	else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		r = copy_special(c, dst, name, &st, err);
	/* Sockets belong to the process that made them: not content. */
	strbuf_setlen(&c->path, len);
	return r;
}

static int copy_dir_contents(struct copy *c, int src, int dst, unsigned depth, struct wh_err **err)
{
	cleanup_closedir DIR *dir = NULL;
	struct dirent *de;
	int fd, r;

	if (depth > COPY_MAX_DEPTH)
		return copy_fail(c, err, ELOOP, "more than 512 levels of directories at");
	fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return copy_fail(c, err, errno, "dup");
	dir = fdopendir(fd);
	if (!dir) {
		r = -errno;
		wh_close(fd);
		return copy_fail(c, err, r, "read directory");
	}
	/* The dup shares the caller's offset: start from the top whatever it was. */
	rewinddir(dir);
	errno = 0;
	while ((de = readdir(dir))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if ((r = copy_entry(c, src, dst, de->d_name, depth, err)) < 0)
			return r;
		errno = 0;
	}
	if (errno)
		return copy_fail(c, err, errno, "read directory");
	return 0;
}

int volume_copy_tree(int src_dir, int dst_dir, struct wh_err **err)
{
	struct copy c = {.dst_root = dst_dir, .path = STRBUF_INIT};
	struct stat st;
	int r;

	if (fstat(src_dir, &st) < 0)
		return wh_err_set(err, errno, "stat the source directory");
	r = copy_dir_contents(&c, src_dir, dst_dir, 0, err);
	if (r >= 0)
		r = copy_meta_fd(&c, src_dir, dst_dir, &st, false, err);
	inode_map_release(&c.links);
	strbuf_release(&c.path);
	return r;
}

/* ---- the rootfs, read-only, in a private mount namespace ---- */

/* The rootfs mounts made read-only: an overlay's upper joins its lowers, binds get "ro". */
static void readonly_rootfs(const struct wh_mount_list *in, struct wh_mount_list *out)
{
	for (size_t i = 0; i < in->n; i++) {
		const struct wh_mount *m = &in->v[i];
		cleanup_strv char **opts = NULL;
		const char *upper = NULL, *lower = NULL;

		strv_foreach(o, m->options) {
			if (str_startswith(*o, "upperdir="))
				upper = *o + strlen("upperdir=");
			else if (str_startswith(*o, "lowerdir="))
				lower = *o + strlen("lowerdir=");
			else if (!str_startswith(*o, "workdir=") && !streq(*o, "rw") &&
				 !streq(*o, "ro"))
				strv_push(&opts, *o);
		}
		if (streq(m->type, "overlay") && lower)
			strv_consume(&opts, upper ? xasprintf("lowerdir=%s:%s", upper, lower)
						  : xasprintf("lowerdir=%s", lower));
		strv_push(&opts, "ro");
		wh_mount_list_add(out, m->type, m->source, m->target, opts);
	}
}

struct prefill {
	const struct wh_mount_list *rootfs;
	const char *tmp_parent;
	const struct volume_fill *fills;
	size_t n;
	int r;
	struct wh_err *e;
};

static int fill_one(int root, const struct volume_fill *f, struct wh_err **err)
{
	cleanup_close int s = -EBADF, d = -EBADF;
	int r;

	s = fs_open_in_root(root, f->image_path, O_RDONLY | O_DIRECTORY, 0);
	if (s == -ENOENT || s == -ENOTDIR)
		return 0;
	if (s < 0)
		return wh_err_set(err, s, "image path '%s'", f->image_path);
	d = open(f->data_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0)
		return wh_err_set(err, errno, "open '%s'", f->data_dir);
	if ((r = volume_copy_tree(s, d, err)) < 0)
		return wh_err_wrap(err, r, "copy the image's '%s'", f->image_path);
	return 1;
}

static int prefill_in_ns(struct prefill *p, const char *dir, struct wh_err **err)
{
	struct wh_mount_list ro = {0};
	cleanup_close int root = -EBADF;
	int r, copied = 0;

	readonly_rootfs(p->rootfs, &ro);
	r = wh_mount_all(&ro, dir, err);
	wh_mount_list_done(&ro);
	if (r < 0)
		return wh_err_wrap(err, r, "mount the container's rootfs");
	root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		r = wh_err_set(err, errno, "open the rootfs");
	for (size_t i = 0; r >= 0 && i < p->n; i++) {
		r = fill_one(root, &p->fills[i], err);
		copied += r > 0;
	}
	root = wh_close(root);
	wh_unmount_all(dir, 0, NULL);
	return r < 0 ? r : copied;
}

static void *prefill_thread(void *userdata)
{
	struct prefill *p = userdata;
	cleanup_free char *dir = path_join(p->tmp_parent, ".prefill-XXXXXX");

	/* Only this thread moves: its own fs struct and mount namespace, gone when it ends. */
	if (unshare(CLONE_NEWNS | CLONE_FS) < 0) {
		p->r = wh_err_set(&p->e, errno, "private mount namespace");
		return NULL;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		p->r = wh_err_set(&p->e, errno, "make the private mount namespace private");
		return NULL;
	}
	if (!mkdtemp(dir)) {
		p->r = wh_err_set(&p->e, errno, "temp dir under '%s'", p->tmp_parent);
		return NULL;
	}
	p->r = prefill_in_ns(p, dir, &p->e);
	rmdir(dir);
	return NULL;
}

int volume_prefill(const struct wh_mount_list *rootfs, const char *tmp_parent,
		   const struct volume_fill *fills, size_t n, struct wh_err **err)
{
	struct prefill p = {rootfs, tmp_parent, fills, n, 0, NULL};
	pthread_t t;
	int r;

	if (n == 0)
		return 0;
	if (!rootfs || rootfs->n == 0)
		return wh_err_setx(err, EINVAL, "the container has no rootfs mounts to copy from");
	if ((r = pthread_create(&t, NULL, prefill_thread, &p)) != 0)
		return wh_err_set(err, r, "start the pre-fill thread");
	pthread_join(t, NULL);
	if (p.r < 0)
		return wh_err_move(err, &p.e);
	return p.r;
}

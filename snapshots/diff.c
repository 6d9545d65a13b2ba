/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer diff: the OCI layer tar (pax) between two trees, compressed on the way out. An overlay
 * upper directory is read as it is (0/0 character devices are whiteouts, the opaque xattr an
 * opaque directory); two plain trees are compared entry by entry.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "common/common.h"
#include "snapshots/internal.h"

struct pending {
	char *path;
	int dirfd; /* parent */
	char *name;
	struct stat st;
};

struct diff {
	struct archive *a;
	struct comp *comp;
	struct wh_err *werr; /* from the write callback */
	bool overlay;
	struct strmap links; /* "ino" -> path emitted (owned) */
	struct pending *stack;
	size_t nstack, flushed; /* stack[0..flushed) already written */
	/* comparing two trees: the hard-link groups of upper that changed, and the lower root */
	struct strmap dirty; /* "dev:ino" -> non-NULL when that group changed */
	int lroot;
};

static bool same(int ufd, int lfd, const char *name, const struct stat *u, const struct stat *l);

/* True when the file's hard-link group changed (a member is new, changed or gained or lost a
 * link): then every member of it goes into the layer, so that the group stays one inode. */
static bool group_dirty(struct diff *d, const struct stat *st)
{
	char key[64];
	snprintf(key, sizeof(key), "%lu:%lu", (unsigned long)st->st_dev, (unsigned long)st->st_ino);
	void *v;
	return S_ISREG(st->st_mode) && st->st_nlink > 1 && strmap_get(&d->dirty, key, &v) && v;
}

static la_ssize_t la_write(struct archive *a, void *ud, const void *buf, size_t n)
{
	struct diff *d = ud;
	int r = comp_write(d->comp, buf, n, &d->werr);
	if (r < 0) {
		archive_set_error(a, -r, "%s", wh_err_msg(d->werr));
		return -1;
	}
	return (la_ssize_t)n;
}

static int archive_fail(struct diff *d, const char *path, struct wh_err **err)
{
	if (d->werr)
		return wh_err_move(err, &d->werr);
	return wh_err_setx(err, EIO, "write '%s' to the layer: %s", path,
			   archive_error_string(d->a) ? archive_error_string(d->a) : "error");
}

static int add_xattrs(struct archive_entry *e, int dirfd, const char *name)
{
	cleanup_free char *p = proc_fd_path(dirfd, name);
	ssize_t n = llistxattr(p, NULL, 0);
	if (n <= 0)
		return n < 0 && errno != ENOTSUP ? -errno : 0;
	cleanup_free char *names = xmalloc((size_t)n);
	if ((n = llistxattr(p, names, (size_t)n)) < 0)
		return -errno;
	for (char *k = names; k < names + n; k += strlen(k) + 1) {
		if (str_startswith(k, "trusted.overlay."))
			continue;
		ssize_t vl = lgetxattr(p, k, NULL, 0);
		if (vl < 0)
			return -errno;
		cleanup_free char *v = xmalloc((size_t)vl + 1);
		if ((vl = lgetxattr(p, k, v, (size_t)vl + 1)) < 0)
			return -errno;
		archive_entry_xattr_add_entry(e, k, v, (size_t)vl);
	}
	return 0;
}

/* Writes one entry (with its data for regular files). */
static int emit(struct diff *d, int dirfd, const char *name, const char *path,
		const struct stat *st, struct wh_err **err)
{
	cleanup(archive_entry_freep) struct archive_entry *e = archive_entry_new();
	archive_entry_copy_stat(e, st);
	archive_entry_unset_atime(e);
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	archive_entry_set_pathname(e, path);
	archive_entry_set_nlink(e, 1);
	int r;
	bool hardlink = false;
	if (S_ISREG(st->st_mode) && st->st_nlink > 1) {
		char key[64];
		snprintf(key, sizeof(key), "%lu:%lu", (unsigned long)st->st_dev,
			 (unsigned long)st->st_ino);
		void *first;
		if (strmap_get(&d->links, key, &first)) {
			archive_entry_set_hardlink(e, first);
			archive_entry_set_size(e, 0);
			hardlink = true;
		} else {
			strmap_put(&d->links, key, xstrdup(path));
		}
	}
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (n < 0)
			return wh_err_set(err, errno, "readlink '%s'", path);
		target[n] = 0;
		archive_entry_set_symlink(e, target);
	}
	if (!hardlink && (r = add_xattrs(e, dirfd, name)) < 0)
		return wh_err_set(err, r, "read the xattrs of '%s'", path);
	if (archive_write_header(d->a, e) != ARCHIVE_OK)
		return archive_fail(d, path, err);
	if (hardlink || !S_ISREG(st->st_mode) || st->st_size == 0)
		return 0;
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return wh_err_set(err, errno, "open '%s'", path);
	static __thread char buf[256 * 1024];
	off_t left = st->st_size;
	while (left > 0) {
		ssize_t n = read(fd, buf, (size_t)MIN((off_t)sizeof(buf), left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return wh_err_set(err, errno, "read '%s'", path);
		if (n == 0)
			return wh_err_setx(err, EIO, "'%s' shrank while it was read", path);
		if (archive_write_data(d->a, buf, (size_t)n) != n)
			return archive_fail(d, path, err);
		left -= n;
	}
	return 0;
}

static int emit_whiteout(struct diff *d, const char *dir, const char *name, struct wh_err **err)
{
	cleanup_free char *path =
		*dir ? xasprintf("%s/.wh.%s", dir, name) : xasprintf(".wh.%s", name);
	cleanup(archive_entry_freep) struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0);
	archive_entry_set_size(e, 0);
	if (archive_write_header(d->a, e) != ARCHIVE_OK)
		return archive_fail(d, path, err);
	return 0;
}

/* Writes the directories on the stack that are not written yet (parents of a change). */
static int flush(struct diff *d, struct wh_err **err)
{
	for (; d->flushed < d->nstack; d->flushed++) {
		struct pending *p = &d->stack[d->flushed];
		int r = emit(d, p->dirfd, p->name, p->path, &p->st, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int change(struct diff *d, int dirfd, const char *name, const char *path,
		  const struct stat *st, struct wh_err **err)
{
	int r = flush(d, err);
	if (r < 0)
		return r;
	return emit(d, dirfd, name, path, st, err);
}

static void push(struct diff *d, int dirfd, const char *name, const char *path,
		 const struct stat *st, bool written)
{
	d->stack = xrealloc(d->stack, (d->nstack + 1) * sizeof(*d->stack));
	d->stack[d->nstack++] = (struct pending){xstrdup(path), dirfd, xstrdup(name), *st};
	if (written)
		d->flushed = d->nstack;
}

static void pop(struct diff *d)
{
	struct pending *p = &d->stack[--d->nstack];
	free(p->path);
	free(p->name);
	if (d->flushed > d->nstack)
		d->flushed = d->nstack;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in dirfd. */
static int list_dir(int dirfd, char ***ret)
{
	int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (dup < 0)
		return -errno;
	DIR *dir = fdopendir(dup);
	if (!dir) {
		wh_close(dup);
		return -errno;
	}
	rewinddir(dir); /* the dup shares its offset with dirfd */
	char **v = xnew0(char *, 1);
	struct dirent *de;
	while ((errno = 0, de = readdir(dir))) {
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			strv_push(&v, de->d_name);
	}
	int e = errno;
	closedir(dir);
	if (e) {
		strv_free(v);
		return -e;
	}
	qsort(v, strv_length(v), sizeof(char *), cmp_str);
	*ret = v;
	return 0;
}

static bool xattrs_equal(int ufd, int lfd, const char *name)
{
	struct archive_entry *a = archive_entry_new(), *b = archive_entry_new();
	bool eq = add_xattrs(a, ufd, name) >= 0 && add_xattrs(b, lfd, name) >= 0 &&
		  archive_entry_xattr_count(a) == archive_entry_xattr_count(b);
	if (eq) {
		const char *k1, *k2;
		const void *v1, *v2;
		size_t l1, l2;
		archive_entry_xattr_reset(a);
		archive_entry_xattr_reset(b);
		while (eq && archive_entry_xattr_next(a, &k1, &v1, &l1) == ARCHIVE_OK &&
		       archive_entry_xattr_next(b, &k2, &v2, &l2) == ARCHIVE_OK)
			eq = streq(k1, k2) && l1 == l2 && memcmp(v1, v2, l1) == 0;
	}
	archive_entry_free(a);
	archive_entry_free(b);
	return eq;
}

static bool content_equal(int ufd, int lfd, const char *name, off_t size)
{
	cleanup_close int a = openat(ufd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_close int b = openat(lfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (a < 0 || b < 0)
		return false;
	char x[65536], y[65536];
	for (off_t left = size; left > 0;) {
		ssize_t n = read_full(a, x, sizeof(x));
		ssize_t m = read_full(b, y, sizeof(y));
		if (n <= 0 || n != m || memcmp(x, y, (size_t)n) != 0)
			return false;
		left -= n;
	}
	return true;
}

static bool same(int ufd, int lfd, const char *name, const struct stat *u, const struct stat *l)
{
	if (u->st_mode != l->st_mode || u->st_uid != l->st_uid || u->st_gid != l->st_gid)
		return false;
	if (!S_ISDIR(u->st_mode) && (u->st_size != l->st_size || u->st_rdev != l->st_rdev))
		return false;
	if (u->st_mtim.tv_sec != l->st_mtim.tv_sec || u->st_mtim.tv_nsec != l->st_mtim.tv_nsec)
		return false;
	if (S_ISLNK(u->st_mode)) {
		char a[PATH_MAX], b[PATH_MAX];
		ssize_t n = readlinkat(ufd, name, a, sizeof(a));
		ssize_t m = readlinkat(lfd, name, b, sizeof(b));
		if (n < 0 || n != m || memcmp(a, b, (size_t)n) != 0)
			return false;
	}
	if (!xattrs_equal(ufd, lfd, name))
		return false;
	/* times without nanoseconds may hide a change made within the same second */
	if (S_ISREG(u->st_mode) && u->st_mtim.tv_nsec == 0 &&
	    !content_equal(ufd, lfd, name, u->st_size))
		return false;
	return true;
}

static bool is_opaque(int dirfd, const char *name)
{
	cleanup_free char *p = proc_fd_path(dirfd, name);
	char v[4];
	ssize_t n = lgetxattr(p, "trusted.overlay.opaque", v, sizeof(v));
	return n == 1 && v[0] == 'y';
}

/* True for the overlay features whose upper entries do not stand on their own (a renamed
 * directory's redirect, a metadata-only copy-up). wharf mounts without them. */
static bool overlay_special(int dirfd, const char *name)
{
	cleanup_free char *p = proc_fd_path(dirfd, name);
	return lgetxattr(p, "trusted.overlay.redirect", NULL, 0) >= 0 ||
	       lgetxattr(p, "trusted.overlay.metacopy", NULL, 0) >= 0;
}

/* ufd: the upper directory; lfd: the same directory in the lower tree or -1. */
static int walk(struct diff *d, int ufd, int lfd, const char *rel, struct wh_err **err)
{
	cleanup_strv char **names = NULL;
	int r = list_dir(ufd, &names);
	if (r < 0)
		return wh_err_set(err, r, "list '%s'", *rel ? rel : "/");
	strv_foreach(n, names) {
		cleanup_free char *path = *rel ? xasprintf("%s/%s", rel, *n) : xstrdup(*n);
		struct stat st, lst;
		if (fstatat(ufd, *n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return wh_err_set(err, errno, "stat '%s'", path);
		if (S_ISSOCK(st.st_mode))
			continue; /* sockets do not go into layers */
		if (d->overlay && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
			if ((r = flush(d, err)) < 0 || (r = emit_whiteout(d, rel, *n, err)) < 0)
				return r;
			continue;
		}
		if (d->overlay && overlay_special(ufd, *n))
			return wh_err_setx(err, ENOTSUP,
					   "'%s' carries an overlay redirect or metacopy: layers "
					   "cannot be read from this upper directory",
					   path);
		bool in_lower = lfd >= 0 && fstatat(lfd, *n, &lst, AT_SYMLINK_NOFOLLOW) == 0;
		if (in_lower && (lst.st_mode & S_IFMT) != (st.st_mode & S_IFMT))
			in_lower = false;
		if (!S_ISDIR(st.st_mode)) {
			if (in_lower && same(ufd, lfd, *n, &st, &lst) && !group_dirty(d, &st))
				continue;
			if ((r = change(d, ufd, *n, path, &st, err)) < 0)
				return r;
			continue;
		}
		bool opaque = d->overlay && is_opaque(ufd, *n);
		bool changed = !in_lower || !same(ufd, lfd, *n, &st, &lst) || d->overlay;
		if (changed && (r = change(d, ufd, *n, path, &st, err)) < 0)
			return r;
		push(d, ufd, *n, path, &st, changed);
		if (opaque) {
			cleanup_free char *wp = xasprintf("%s/.wh..wh..opq", path);
			cleanup(archive_entry_freep) struct archive_entry *e = archive_entry_new();
			archive_entry_set_pathname(e, wp);
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0);
			archive_entry_set_size(e, 0);
			if (archive_write_header(d->a, e) != ARCHIVE_OK)
				return archive_fail(d, wp, err);
		}
		cleanup_close int u2 =
			openat(ufd, *n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		cleanup_close int l2 =
			in_lower ? openat(lfd, *n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
				 : -EBADF;
		if (u2 < 0)
			return wh_err_set(err, errno, "open '%s'", path);
		r = walk(d, u2, l2, path, err);
		pop(d);
		if (r < 0)
			return r;
	}
	if (lfd < 0 || d->overlay)
		return 0;
	cleanup_strv char **lnames = NULL;
	if ((r = list_dir(lfd, &lnames)) < 0)
		return wh_err_set(err, r, "list the lower '%s'", *rel ? rel : "/");
	strv_foreach(n, lnames) {
		struct stat st;
		if (fstatat(ufd, *n, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (errno != ENOENT)
			return wh_err_set(err, errno, "stat '%s/%s'", rel, *n);
		if ((r = flush(d, err)) < 0 || (r = emit_whiteout(d, rel, *n, err)) < 0)
			return r;
	}
	return 0;
}

/* Finds the hard-link groups of the upper tree (under fd) that changed against lfd. */
static int groups_collect(struct diff *d, int fd, int lfd, const char *rel)
{
	cleanup_strv char **names = NULL;
	int r = list_dir(fd, &names);
	if (r < 0)
		return r;
	strv_foreach(n, names) {
		struct stat st, ls;
		if (fstatat(fd, *n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		cleanup_free char *path = *rel ? xasprintf("%s/%s", rel, *n) : xstrdup(*n);
		bool in_lower = lfd >= 0 && fstatat(lfd, *n, &ls, AT_SYMLINK_NOFOLLOW) == 0 &&
				(ls.st_mode & S_IFMT) == (st.st_mode & S_IFMT);
		if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
			char key[64];
			snprintf(key, sizeof(key), "%lu:%lu", (unsigned long)st.st_dev,
				 (unsigned long)st.st_ino);
			bool changed = !in_lower || ls.st_nlink != st.st_nlink ||
				       !same(fd, lfd, *n, &st, &ls);
			void *v = NULL;
			strmap_get(&d->dirty, key, &v);
			strmap_put(&d->dirty, key, v || changed ? (void *)1 : NULL);
		} else if (S_ISDIR(st.st_mode)) {
			cleanup_close int c =
				openat(fd, *n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (c < 0)
				return -errno;
			cleanup_close int lc =
				in_lower ? openat(lfd, *n,
						  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
					 : -EBADF;
			if ((r = groups_collect(d, c, lc, path)) < 0)
				return r;
		}
	}
	return 0;
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

/* A directory holding the tree of mounts: a bind's source, an overlay's upper (or top lower)
 * when overlay_ok, or a read-only temporary mount (*ret_tmp set, to unmount). */
static int tree_dir(const struct wh_mount_list *m, bool overlay_ok, char **ret_dir,
		    bool *ret_overlay, char **ret_tmp, struct wh_err **err)
{
	*ret_overlay = false;
	*ret_tmp = NULL;
	if (m->n == 1 && (streq(m->v[0].type, "bind") || streq(m->v[0].type, "rbind"))) {
		*ret_dir = xstrdup(m->v[0].source);
		return 0;
	}
	if (overlay_ok && m->n == 1 && streq(m->v[0].type, "overlay")) {
		const char *up = mount_option(&m->v[0], "upperdir");
		const char *low = mount_option(&m->v[0], "lowerdir");
		if (up) {
			*ret_dir = xstrdup(up);
		} else if (low) {
			const char *colon = strchr(low, ':');
			*ret_dir = colon ? xstrndup(low, (size_t)(colon - low)) : xstrdup(low);
		}
		if (up || low) {
			*ret_overlay = true;
			return 0;
		}
	}
	char tmp[] = "/tmp/wharf-diff-XXXXXX";
	if (!mkdtemp(tmp))
		return wh_err_set(err, errno, "mkdtemp");
	struct wh_mount_list ro = {0};
	wh_mount_list_copy(&ro, m);
	for (size_t i = 0; i < ro.n; i++)
		strv_push(&ro.v[i].options, "ro");
	int r = wh_mount_all(&ro, tmp, err);
	wh_mount_list_done(&ro);
	if (r < 0) {
		rmdir(tmp);
		return r;
	}
	*ret_dir = xstrdup(tmp);
	*ret_tmp = xstrdup(tmp);
	return 0;
}

static void tree_release(char *tmp)
{
	if (!tmp)
		return;
	wh_unmount_all(tmp, MNT_DETACH, NULL);
	rmdir(tmp);
	free(tmp);
}

int layer_diff(const struct wh_mount_list *lower, const struct wh_mount_list *upper,
	       enum layer_compression compression, int out_fd, struct layer_diff_result *ret,
	       struct wh_err **err)
{
	cleanup_free char *udir = NULL, *ldir = NULL;
	char *utmp = NULL, *ltmp = NULL;
	bool overlay = false, ignored;
	struct diff d = {.lroot = -EBADF};
	cleanup_close int ufd = -EBADF, lfd = -EBADF;
	int r = tree_dir(upper, true, &udir, &overlay, &utmp, err);
	if (r < 0)
		return wh_err_wrap(err, r, "the upper tree");
	if (!overlay && lower->n > 0 &&
	    (r = tree_dir(lower, false, &ldir, &ignored, &ltmp, err)) < 0) {
		wh_err_wrap(err, r, "the lower tree");
		goto out;
	}
	ufd = open(udir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0) {
		r = wh_err_set(err, errno, "open '%s'", udir);
		goto out;
	}
	if (ldir && (lfd = open(ldir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = wh_err_set(err, errno, "open '%s'", ldir);
		goto out;
	}
	d.overlay = overlay;
	d.lroot = lfd;
	if (lfd >= 0 && (r = groups_collect(&d, ufd, lfd, "")) < 0) {
		r = wh_err_set(err, r, "list the hard links of '%s'", udir);
		goto out;
	}
	if ((r = comp_new(compression, out_fd, &d.comp, err)) < 0)
		goto out;
	d.a = archive_write_new();
	archive_write_set_format_pax(d.a);
	archive_write_set_bytes_per_block(d.a, 10240);
	archive_write_set_bytes_in_last_block(d.a, 1);
	if (archive_write_open(d.a, &d, NULL, la_write, NULL) != ARCHIVE_OK) {
		r = archive_fail(&d, "(open)", err);
		goto out;
	}
	if ((r = walk(&d, ufd, lfd, "", err)) < 0)
		goto out;
	if (archive_write_close(d.a) != ARCHIVE_OK) {
		r = archive_fail(&d, "(end)", err);
		goto out;
	}
	struct layer_diff_result res = {0};
	if ((r = comp_finish(d.comp, &res, err)) < 0)
		goto out;
	if (ret)
		*ret = res;
	r = 0;
out:
	if (d.a)
		archive_write_free(d.a);
	comp_free(d.comp);
	wh_err_free(d.werr);
	while (d.nstack)
		pop(&d);
	free(d.stack);
	for (size_t i = 0; i < d.links.cap; i++)
		free(d.links.vals ? d.links.vals[i] : NULL);
	strmap_done(&d.links);
	strmap_done(&d.dirty);
	ufd = wh_close(ufd);
	lfd = wh_close(lfd);
	tree_release(utmp);
	tree_release(ltmp);
	return r;
}

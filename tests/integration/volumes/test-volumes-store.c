/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharfd's volume store and pre-fill, as root on a private tmpfs: records, names, in-use
 * labels, the tree copy (owners, set-id modes, times, xattrs, hard links, symlinks never
 * followed, fifos and devices, sockets skipped, depth bound), the pre-fill through a real
 * read-only overlay of hand-made layers (whiteouts and opaque directories honoured, the upper
 * and work dirs untouched, no mount left behind), image paths that are symlinks out of the
 * rootfs, and the two Tasks.Create steps on a spec.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>

/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "snapshots/snapshots.h"
#include "supervisor/supervisor.h"
#include "supervisor/volumes.h"

static char *T; /* the test's tmpfs */

static char *tp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *tp(const char *fmt, ...)
{
	va_list ap;
	cleanup_free char *rel = NULL;

	va_start(ap, fmt);
	rel = xvasprintf(fmt, ap);
	va_end(ap);
	return path_join(T, rel);
}

/* Writes a file, making its parent directories. */
static void put(const char *path, const char *data, mode_t mode)
{
	cleanup_free char *parent = xstrdup(path);

	*strrchr(parent, '/') = '\0';
	assert_int_equal(mkdir_p(parent, 0755), 0);
	assert_int_equal(write_file_atomic(path, data, strlen(data), mode), 0);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/vol-store-XXXXXX";

	(void)state;
	if (!mkdtemp(tmpl))
		return -1;
	if (mount("tmpfs", tmpl, "tmpfs", 0, "mode=0700") < 0)
		return -1;
	T = xstrdup(tmpl);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	umount2(T, MNT_DETACH);
	rmdir(T);
	free(T);
	return 0;
}

/* ---- the store ---- */

static void test_names(void **state)
{
	(void)state;
	assert_true(volume_name_valid("a"));
	assert_true(volume_name_valid("A9_.-z"));
	assert_false(volume_name_valid(""));
	assert_false(volume_name_valid(".hidden"));
	assert_false(volume_name_valid("a/b"));
	assert_false(volume_name_valid(".."));
	assert_true(volume_label_has("a,bb,c", "bb"));
	assert_true(volume_label_has("a", "a"));
	assert_false(volume_label_has("a,bb,c", "b"));
	assert_false(volume_label_has("abc", "ab"));
	assert_false(volume_label_has("", "a"));
	assert_false(volume_label_has(NULL, "a"));
}

static void test_store(void **state)
{
	cleanup_free char *root = tp("store");
	char *labels[] = {(char *)"k", (char *)"v", (char *)"x", (char *)"", NULL};
	struct wh_err *e = NULL;
	struct volume v, *all = NULL;
	size_t n = 0;
	bool created = false;
	int64_t usage = 0;

	(void)state;
	assert_int_equal(volume_create(root, "default", "one", labels, false, &v, &created, NULL),
			 0);
	assert_true(created);
	assert_string_equal(v.name, "one");
	cleanup_free char *want = xasprintf("%s/volumes/default/one/_data", root);
	assert_string_equal(v.mountpoint, want);
	assert_int_equal(access(want, F_OK), 0);
	assert_true(v.created_ns > 0);
	assert_false(v.initialized);
	volume_release(&v);
	/* Again: the same volume, labels as first given. */
	assert_int_equal(volume_create(root, "default", "one", NULL, true, &v, &created, NULL), 0);
	assert_false(created);
	assert_false(v.anonymous);
	assert_int_equal(strv_length(v.labels), 4);
	assert_string_equal(v.labels[0], "k");
	assert_string_equal(v.labels[1], "v");
	assert_string_equal(v.labels[3], "");
	volume_release(&v);
	assert_int_equal(volume_create(root, "default", "two", NULL, true, NULL, NULL, NULL), 0);
	assert_int_equal(volume_create(root, "other", "one", NULL, false, NULL, NULL, NULL), 0);
	assert_int_equal(volume_list(root, "default", &all, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].name, "one");
	assert_string_equal(all[1].name, "two");
	assert_true(all[1].anonymous);
	volumes_free(all, n);
	/* Data counts on disk. */
	cleanup_free char *big = path_join(want, "big");
	{
		char buf[8192];

		memset(buf, 'x', sizeof(buf));
		buf[sizeof(buf) - 1] = 0;
		put(big, buf, 0644);
	}
	assert_int_equal(volume_disk_usage(want, &usage), 0);
	assert_true(usage >= 8192);

	/* Bad names and namespaces never become paths. */
	assert_int_equal(volume_create(root, "default", "../x", NULL, false, NULL, NULL, &e),
			 -EINVAL);
	assert_non_null(strstr(e->msg, "volume name '../x' is invalid"));
	e = wh_err_free(e);
	assert_int_equal(volume_create(root, "../etc", "x", NULL, false, NULL, NULL, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "namespace '../etc'"));
	e = wh_err_free(e);
	assert_int_equal(volume_get(root, "default", "nope", &v, &e), -ENOENT);
	assert_string_equal(e->msg, "volume \"nope\" not found");
	e = wh_err_free(e);
	assert_int_equal(volume_remove(root, "default", "nope", &e), -ENOENT);
	e = wh_err_free(e);
	assert_int_equal(volume_list(root, "empty", &all, &n, NULL), 0);
	assert_int_equal(n, 0);

	/* Remove: the name is free again at once, the data gone. */
	assert_int_equal(volume_remove(root, "default", "one", NULL), 0);
	assert_int_equal(access(want, F_OK), -1);
	assert_int_equal(volume_get(root, "default", "one", &v, NULL), -ENOENT);
	assert_int_equal(volume_get(root, "other", "one", &v, NULL), 0);
	volume_release(&v);
	/* A creation that died before its record: the directory is taken over, cleanly. */
	cleanup_free char *half = tp("store/volumes/default/half/_data");
	assert_int_equal(mkdir_p(half, 0755), 0);
	assert_int_equal(volume_get(root, "default", "half", &v, NULL), -ENOENT);
	assert_int_equal(volume_list(root, "default", &all, &n, NULL), 0);
	assert_int_equal(n, 1); /* "two" only */
	volumes_free(all, n);
	assert_int_equal(volume_create(root, "default", "half", NULL, false, NULL, &created, NULL),
			 0);
	assert_true(created);
	/* A record that does not parse: listed without it, Get says which file. */
	cleanup_free char *bad = tp("store/volumes/default/broken/volume.json");
	put(bad, "{not json", 0600);
	assert_int_equal(volume_list(root, "default", &all, &n, NULL), 0);
	for (size_t i = 0; i < n; i++)
		assert_string_not_equal(all[i].name, "broken");
	volumes_free(all, n);
	assert_true(volume_get(root, "default", "broken", &v, &e) < 0);
	assert_non_null(strstr(e->msg, "broken/volume.json"));
	e = wh_err_free(e);
	/* What a removal that failed half-way left is cleaned by the next list. */
	cleanup_free char *trash = tp("store/volumes/default/.removing-x-1-1/_data");
	assert_int_equal(mkdir_p(trash, 0755), 0);
	assert_int_equal(volume_list(root, "default", &all, &n, NULL), 0);
	volumes_free(all, n);
	cleanup_free char *trash_dir = tp("store/volumes/default/.removing-x-1-1");
	assert_int_equal(access(trash_dir, F_OK), -1);
}

/* ---- the copy ---- */

static void make_tree(const char *s)
{
	cleanup_free char *d = path_join(s, "d"), *f = path_join(s, "d/suid"),
			  *h1 = path_join(s, "h1"), *h2 = path_join(s, "d/h2"),
			  *ln = path_join(s, "abs-link"), *dl = path_join(s, "dir-link"),
			  *fifo = path_join(s, "fifo"), *dev = path_join(s, "null"),
			  *sock = path_join(s, "sock"), *empty = path_join(s, "empty");
	const struct timespec old[2] = {{1000000, 0}, {1000000, 5}};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	assert_int_equal(mkdir_p(d, 0755), 0);
	put(f, "#!/bin/sh\n", 0755);
	assert_int_equal(chown(f, 0, 0), 0);
	assert_int_equal(chmod(f, 04755), 0);
	assert_int_equal(chown(d, 1234, 5678), 0);
	assert_int_equal(chmod(d, 02750), 0);
	put(h1, "linked", 0640);
	assert_int_equal(chown(h1, 42, 43), 0);
	assert_int_equal(link(h1, h2), 0);
	assert_int_equal(setxattr(h1, "trusted.wharf", "v1", 2, 0), 0);
	assert_int_equal(setxattr(h1, "trusted.overlay.opaque", "y", 1, 0), 0);
	assert_int_equal(symlink("/etc/passwd", ln), 0);
	assert_int_equal(lchown(ln, 7, 8), 0);
	assert_int_equal(symlink("d", dl), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(chmod(fifo, 0620), 0);
	assert_int_equal(mknod(dev, S_IFCHR | 0666, makedev(1, 3)), 0);
	put(empty, "", 0600);
	assert_int_equal(utimensat(AT_FDCWD, empty, old, 0), 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_true(strlen(sock) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(chown(s, 99, 98), 0);
	assert_int_equal(chmod(s, 0711), 0);
	/* Several MiB, more than one copy_file_range call may move. */
	{
		size_t len = (3u << 20) + 12345;
		cleanup_free char *big = path_join(s, "d/big"), *data = xmalloc(len);

		for (size_t i = 0; i < len; i++)
			data[i] = (char)(i * 131 + (i >> 12));
		assert_int_equal(write_file_atomic(big, data, len, 0644), 0);
	}
}

static void test_copy_tree(void **state)
{
	cleanup_free char *s = tp("copy/src"), *d = tp("copy/dst");
	cleanup_close int sfd = -EBADF, dfd = -EBADF;
	struct stat st, st2;
	char buf[64];
	ssize_t n;

	(void)state;
	make_tree(s);
	assert_int_equal(mkdir_p(d, 0755), 0);
	sfd = open(s, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(volume_copy_tree(sfd, dfd, NULL), 0);

	cleanup_free char *f = path_join(d, "d/suid"), *dd = path_join(d, "d"),
			  *h1 = path_join(d, "h1"), *h2 = path_join(d, "d/h2"),
			  *ln = path_join(d, "abs-link"), *dl = path_join(d, "dir-link"),
			  *fifo = path_join(d, "fifo"), *dev = path_join(d, "null"),
			  *sock = path_join(d, "sock"), *empty = path_join(d, "empty");
	/* The root takes the source's owner and mode (docker's copyOwnership). */
	assert_int_equal(stat(d, &st), 0);
	assert_int_equal(st.st_uid, 99);
	assert_int_equal(st.st_gid, 98);
	assert_int_equal(st.st_mode & 07777, 0711);
	assert_int_equal(stat(dd, &st), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(st.st_mode & 07777, 02750);
	/* The set-uid bit survives the chown (mode is set after it). */
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(stat(h1, &st), 0);
	assert_int_equal(stat(h2, &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(st.st_uid, 42);
	assert_int_equal(st.st_mode & 07777, 0640);
	n = getxattr(h1, "trusted.wharf", buf, sizeof(buf));
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "v1", 2);
	/* The overlay's own xattrs are bookkeeping, not content. */
	assert_int_equal(getxattr(h1, "trusted.overlay.opaque", buf, sizeof(buf)), -1);
	/* Symlinks are copied as links, never followed. */
	assert_int_equal(lstat(ln, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_uid, 7);
	n = readlink(ln, buf, sizeof(buf));
	assert_int_equal(n, strlen("/etc/passwd"));
	assert_memory_equal(buf, "/etc/passwd", (size_t)n);
	assert_int_equal(lstat(dl, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(lstat(fifo, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0620);
	assert_int_equal(lstat(dev, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(1, 3));
	assert_int_equal(access(sock, F_OK), -1);
	assert_int_equal(stat(empty, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mtim.tv_sec, 1000000);
	assert_int_equal(st.st_mtim.tv_nsec, 5);

	{
		cleanup_free char *sb = path_join(s, "d/big"), *db = path_join(d, "d/big");
		cleanup_free char *a = NULL, *b2 = NULL;
		size_t la = 0, lb = 0;

		assert_int_equal(read_file(sb, 8u << 20, &a, &la), 0);
		assert_int_equal(read_file(db, 8u << 20, &b2, &lb), 0);
		assert_int_equal(la, lb);
		assert_memory_equal(a, b2, la);
	}
	/* Copying again over what is there fails (EEXIST) and names the entry. */
	struct wh_err *e = NULL;
	assert_true(volume_copy_tree(sfd, dfd, &e) < 0);
	assert_non_null(e);
	assert_non_null(strstr(e->msg, "'"));
	wh_err_free(e);
}

static void test_copy_depth(void **state)
{
	cleanup_free char *s = tp("deep/src"), *d = tp("deep/dst");
	cleanup_close int sfd = -EBADF, dfd = -EBADF, cur = -EBADF;
	struct wh_err *e = NULL;

	(void)state;
	assert_int_equal(mkdir_p(s, 0755), 0);
	assert_int_equal(mkdir_p(d, 0755), 0);
	cur = open(s, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < 520; i++) {
		int next;

		assert_int_equal(mkdirat(cur, "x", 0755), 0);
		next = openat(cur, "x", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(cur);
		cur = next;
	}
	sfd = open(s, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(volume_copy_tree(sfd, dfd, &e), -ELOOP);
	assert_non_null(strstr(e->msg, "more than 512 levels"));
	wh_err_free(e);
}

/* Many inodes of two links each: every pair is copied as one inode (the table is a hash: this
 * took 20 s for 120k when it was a list), and volume_disk_usage counts each inode once. */
static void test_copy_many_links(void **state)
{
	cleanup_free char *s = tp("links/src"), *d = tp("links/dst");
	cleanup_close int sfd = -EBADF, dfd = -EBADF;
	enum { N = 5000 };
	struct stat a, b;
	int64_t used_src = 0, used_dst = 0;

	(void)state;
	assert_int_equal(mkdir_p(s, 0755), 0);
	assert_int_equal(mkdir_p(d, 0755), 0);
	sfd = open(s, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < N; i++) {
		char f[32], l[32];
		int fd;

		snprintf(f, sizeof(f), "f%d", i);
		snprintf(l, sizeof(l), "l%d", i);
		fd = openat(sfd, f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		assert_true(fd >= 0 && write(fd, f, strlen(f)) == (ssize_t)strlen(f));
		close(fd);
		assert_int_equal(linkat(sfd, f, sfd, l, 0), 0);
	}
	dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(volume_copy_tree(sfd, dfd, NULL), 0);
	for (int i = 0; i < N; i += 997) {
		char f[32], l[32];

		snprintf(f, sizeof(f), "f%d", i);
		snprintf(l, sizeof(l), "l%d", i);
		assert_int_equal(fstatat(dfd, f, &a, 0), 0);
		assert_int_equal(fstatat(dfd, l, &b, 0), 0);
		assert_true(a.st_ino == b.st_ino && a.st_nlink == 2);
	}
	assert_int_equal(volume_disk_usage(s, &used_src), 0);
	assert_int_equal(volume_disk_usage(d, &used_dst), 0);
	assert_true(used_src > 0 && used_dst > 0);
	/* the same number of inodes on both sides, each counted once (not twice for its links) */
	assert_true(used_dst < 2 * used_src && used_src < 2 * used_dst);
}

/* A name of 255 bytes (the longest a file may have) can be made and removed. */
static void test_long_name(void **state)
{
	cleanup_free char *root = tp("long");
	char name[256];

	(void)state;
	memset(name, 'v', 255);
	name[255] = 0;
	assert_int_equal(volume_create(root, "default", name, NULL, false, NULL, NULL, NULL), 0);
	assert_int_equal(volume_remove(root, "default", name, NULL), 0);
}

/* ---- the pre-fill through a real overlay ---- */

static bool mounted_prefill(void)
{
	cleanup_free char *mi = NULL;

	assert_int_equal(read_file("/proc/self/mountinfo", 1 << 22, &mi, NULL), 0);
	return strstr(mi, ".prefill-") != NULL;
}

static void test_prefill_overlay(void **state)
{
	cleanup_free char *l1 = tp("ov/l1"), *l2 = tp("ov/l2"), *up = tp("ov/upper"),
			  *work = tp("ov/work"), *vol = tp("ov/vol"), *tmp = tp("ov/tmp");
	cleanup_free char *lower = NULL, *upper = NULL, *workdir = NULL;
	struct wh_mount_list rootfs = {0};
	struct volume_fill fill;
	char buf[8];

	(void)state;
	/* lower 1: data/{a,gone,op/old}; lower 2: a whiteout of gone, op made opaque with
	 * op/new; upper: data/b. */
	cleanup_free char *a = path_join(l1, "data/a"), *gone = path_join(l1, "data/gone"),
			  *old = path_join(l1, "data/op/old"), *wh = path_join(l2, "data/gone"),
			  *op = path_join(l2, "data/op"), *nw = path_join(l2, "data/op/new"),
			  *b = path_join(up, "data/b");
	put(a, "a", 0644);
	put(gone, "gone", 0644);
	put(old, "old", 0644);
	assert_int_equal(mkdir_p(op, 0755), 0);
	assert_int_equal(mknod(wh, S_IFCHR | 0, makedev(0, 0)), 0);
	assert_int_equal(setxattr(op, "trusted.overlay.opaque", "y", 1, 0), 0);
	put(nw, "new", 0644);
	put(b, "b", 0600);
	assert_int_equal(mkdir_p(work, 0755), 0);
	assert_int_equal(mkdir_p(vol, 0755), 0);
	assert_int_equal(mkdir_p(tmp, 0700), 0);
	lower = xasprintf("lowerdir=%s:%s", l2, l1);
	upper = xasprintf("upperdir=%s", up);
	workdir = xasprintf("workdir=%s", work);
	wh_mount_list_add(&rootfs, "overlay", "overlay", NULL,
			  (char *[]){(char *)"index=off", workdir, upper, lower, NULL});

	fill = (struct volume_fill){"/data", vol};
	assert_int_equal(volume_prefill(&rootfs, tmp, &fill, 1, NULL), 1);
	cleanup_free char *va = path_join(vol, "a"), *vb = path_join(vol, "b"),
			  *vg = path_join(vol, "gone"), *vo = path_join(vol, "op/old"),
			  *vn = path_join(vol, "op/new"), *vop = path_join(vol, "op");
	assert_int_equal(access(va, F_OK), 0);
	assert_int_equal(access(vb, F_OK), 0);
	assert_int_equal(access(vn, F_OK), 0);
	assert_int_equal(access(vg, F_OK), -1);
	assert_int_equal(access(vo, F_OK), -1);
	assert_int_equal(getxattr(vop, "trusted.overlay.opaque", buf, sizeof(buf)), -1);
	/* Read-only: the container's work dir was never used, nothing stays mounted, the temp
	 * dir is gone. */
	cleanup_free char *workwork = path_join(work, "work");
	assert_int_equal(access(workwork, F_OK), -1);
	assert_false(mounted_prefill());
	{
		cleanup_closedir DIR *dir = opendir(tmp);
		struct dirent *de;

		while ((de = readdir(dir)))
			assert_true(de->d_name[0] == '.' &&
				    (!de->d_name[1] || streq(de->d_name, "..")));
	}
	/* A path missing from the image copies nothing and is no error. */
	cleanup_free char *vol2 = tp("ov/vol2");
	assert_int_equal(mkdir_p(vol2, 0755), 0);
	fill = (struct volume_fill){"/not/there", vol2};
	assert_int_equal(volume_prefill(&rootfs, tmp, &fill, 1, NULL), 0);
	/* A rootfs that cannot be mounted: the reason, nothing left. */
	struct wh_mount_list bad = {0};
	struct wh_err *e = NULL;
	wh_mount_list_add(&bad, "overlay", "overlay", NULL,
			  (char *[]){(char *)"lowerdir=/nonexistent-wharf-test", NULL});
	fill = (struct volume_fill){"/data", vol2};
	assert_true(volume_prefill(&bad, tmp, &fill, 1, &e) < 0);
	assert_non_null(strstr(e->msg, "mount the container's rootfs"));
	wh_err_free(e);
	assert_false(mounted_prefill());
	wh_mount_list_done(&bad);
	wh_mount_list_done(&rootfs);
}

static void test_prefill_symlinks(void **state)
{
	cleanup_free char *rootdir = tp("sl/rootfs"), *host = tp("sl/host-secret"),
			  *vol = tp("sl/vol"), *vol2 = tp("sl/vol2"), *tmp = tp("sl/tmp");
	cleanup_free char *secret = path_join(host, "secret"), *etc = path_join(rootdir, "etc"),
			  *passwd = path_join(rootdir, "etc/passwd"),
			  *esc = path_join(rootdir, "escape"), *abs = path_join(rootdir, "abs");
	cleanup_free char *up = xasprintf("../../../../../../..%s", host);
	struct wh_mount_list rootfs = {0};
	struct volume_fill fills[2];

	(void)state;
	put(secret, "host", 0600);
	put(passwd, "image", 0644);
	assert_int_equal(symlink(up, esc), 0);
	assert_int_equal(symlink("/etc", abs), 0);
	assert_int_equal(mkdir_p(vol, 0755), 0);
	assert_int_equal(mkdir_p(vol2, 0755), 0);
	assert_int_equal(mkdir_p(tmp, 0700), 0);
	wh_mount_list_add(&rootfs, "bind", rootdir, NULL,
			  (char *[]){(char *)"rbind", (char *)"rw", NULL});
	/* "/escape" climbs out of the rootfs by "..": inside the root it is a missing path. An
	 * absolute link "/abs" -> "/etc" is the image's /etc, not the host's. */
	fills[0] = (struct volume_fill){"/escape", vol};
	fills[1] = (struct volume_fill){"/abs", vol2};
	assert_int_equal(volume_prefill(&rootfs, tmp, fills, 2, NULL), 1);
	cleanup_free char *leak = path_join(vol, "secret"), *got = path_join(vol2, "passwd"),
			  *text = NULL;
	assert_int_equal(access(leak, F_OK), -1);
	assert_int_equal(read_file(got, 64, &text, NULL), 0);
	assert_string_equal(text, "image");
	assert_false(mounted_prefill());
	wh_mount_list_done(&rootfs);
}

/* ---- the Tasks.Create steps on a spec ---- */

static void test_task_steps(void **state)
{
	cleanup_free char *root = tp("tasks"), *rootdir = tp("tasks-rootfs");
	cleanup_free char *hosts = path_join(rootdir, "etc/hosts");
	char *labels[] = {(char *)"wharf/volumes", (char *)"named,anon1,nc",
			  (char *)"wharf/volumes.anonymous", (char *)"anon1", NULL};
	struct meta_container mc = {.id = (char *)"c1", .labels = labels};
	struct daemon d = {0};
	const char *spec_text =
		"{\"ociVersion\":\"1.0.2\",\"mounts\":["
		"{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
		"{\"destination\":\"/etc\",\"type\":\"volume\",\"source\":\"named\","
		"\"options\":[\"rbind\",\"ro\",\"rro\"]},"
		"{\"destination\":\"/a\",\"type\":\"volume\",\"source\":\"anon1\"},"
		"{\"destination\":\"/n\",\"type\":\"volume\",\"source\":\"nc\","
		"\"options\":[\"rbind\",\"rw\",\"nocopy\"]}],"
		"\"process\":{\"args\":[\"true\"]}}";
	void *spec = xstrdup(spec_text);
	size_t len = strlen(spec_text);
	struct wh_mount_list rootfs = {0};
	struct volume v;
	yajl_val doc, mounts;

	(void)state;
	d.cfg.root = root;
	put(hosts, "127.0.0.1 localhost\n", 0644);
	assert_int_equal(volumes_task_prepare(&d, "default", &mc, &spec, &len, NULL), 0);
	assert_int_equal(json_parse(spec, len, &doc, NULL), 0);
	mounts = json_get(doc, "mounts");
	assert_int_equal(mounts->u.array.len, 4);
	assert_string_equal(YAJL_GET_STRING(json_get(mounts->u.array.values[0], "type")), "proc");
	for (size_t i = 1; i < 4; i++) {
		yajl_val m = mounts->u.array.values[i];
		yajl_val o = json_get(m, "options");

		assert_string_equal(YAJL_GET_STRING(json_get(m, "type")), "bind");
		assert_true(str_startswith(YAJL_GET_STRING(json_get(m, "source")), root));
		assert_true(str_endswith(YAJL_GET_STRING(json_get(m, "source")), "/_data"));
		for (size_t j = 0; j < o->u.array.len; j++)
			assert_string_not_equal(YAJL_GET_STRING(o->u.array.values[j]), "nocopy");
	}
	assert_string_equal(
		YAJL_GET_STRING(json_get(mounts->u.array.values[2], "options")->u.array.values[0]),
		"rbind");
	assert_non_null(json_get(doc, "process"));
	yajl_tree_free(doc);
	assert_int_equal(volume_get(root, "default", "anon1", &v, NULL), 0);
	assert_true(v.anonymous);
	volume_release(&v);
	assert_int_equal(volume_get(root, "default", "named", &v, NULL), 0);
	assert_false(v.anonymous);
	assert_false(v.initialized);
	volume_release(&v);
	assert_int_equal(volume_get(root, "default", "nc", &v, NULL), 0);
	assert_true(v.initialized); /* nocopy: never filled */
	volume_release(&v);

	/* The pre-fill of the rewritten spec: named gets the image's /etc, the others nothing.
	 * A stage dir a killed wharfd left is started afresh. */
	cleanup_free char *junk = xasprintf("%s/volumes/default/named/.prefill/junk", root);
	put(junk, "half a copy", 0644);
	wh_mount_list_add(&rootfs, "bind", rootdir, NULL, (char *[]){(char *)"rbind", NULL});
	assert_int_equal(volumes_task_prefill(root, "default", spec, len, &rootfs, NULL), 0);
	cleanup_free char *got = xasprintf("%s/volumes/default/named/_data/hosts", root);
	assert_int_equal(access(got, F_OK), 0);
	assert_int_equal(volume_get(root, "default", "named", &v, NULL), 0);
	assert_true(v.initialized);
	volume_release(&v);
	cleanup_free char *junk2 = xasprintf("%s/volumes/default/named/_data/junk", root);
	cleanup_free char *stage = xasprintf("%s/volumes/default/named/.prefill", root);
	assert_int_equal(access(junk2, F_OK), -1);
	assert_int_equal(access(stage, F_OK), -1);
	/* Used once: a second pre-fill after emptying it copies nothing. */
	assert_int_equal(unlink(got), 0);
	assert_int_equal(volumes_task_prefill(root, "default", spec, len, &rootfs, NULL), 0);
	assert_int_equal(access(got, F_OK), -1);
	free(spec);
	wh_mount_list_done(&rootfs);

	/* A bad volume name and a missing bind source: errors naming the mount. */
	struct wh_err *e = NULL;
	const char *bad = "{\"mounts\":[{\"destination\":\"/x\",\"type\":\"volume\","
			  "\"source\":\"../up\"}]}";
	spec = xstrdup(bad);
	len = strlen(bad);
	assert_int_equal(volumes_task_prepare(&d, "default", &mc, &spec, &len, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "mount '/x'"));
	assert_non_null(strstr(e->msg, "volume name '../up' is invalid"));
	e = wh_err_free(e);
	free(spec);
	const char *nosrc = "{\"mounts\":[{\"destination\":\"/x\",\"type\":\"bind\","
			    "\"source\":\"/nonexistent-wharf\",\"options\":[\"rbind\"]}]}";
	spec = xstrdup(nosrc);
	len = strlen(nosrc);
	assert_int_equal(volumes_task_prepare(&d, "default", &mc, &spec, &len, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "mount '/x': bind source '/nonexistent-wharf'"));
	e = wh_err_free(e);
	free(spec);
	/* A spec without volume mounts is left as it is. */
	const char *plain = "{\"mounts\":[{\"destination\":\"/t\",\"type\":\"tmpfs\"}]}";
	spec = xstrdup(plain);
	len = strlen(plain);
	assert_int_equal(volumes_task_prepare(&d, "default", &mc, &spec, &len, NULL), 0);
	assert_int_equal(volumes_task_prefill(root, "default", spec, len, &rootfs, NULL), 0);
	free(spec);
}

/* A pre-fill that fails leaves the volume empty and uninitialized, for the next use to retry. */
static void test_prefill_failure(void **state)
{
	cleanup_free char *root = tp("fails");
	cleanup_free char *data = xasprintf("%s/volumes/default/f/_data", root);
	cleanup_free char *stage = xasprintf("%s/volumes/default/f/.prefill", root);
	cleanup_free char *spec = xasprintf("{\"mounts\":[{\"destination\":\"/etc\",\"type\":"
					    "\"bind\",\"source\":\"%s\"}]}",
					    data);
	struct wh_mount_list bad = {0};
	struct wh_err *e = NULL;
	struct volume v;

	(void)state;
	assert_int_equal(volume_create(root, "default", "f", NULL, false, NULL, NULL, NULL), 0);
	wh_mount_list_add(&bad, "overlay", "overlay", NULL,
			  (char *[]){(char *)"lowerdir=/nonexistent-wharf-test", NULL});
	assert_true(volumes_task_prefill(root, "default", spec, strlen(spec), &bad, &e) < 0);
	assert_non_null(strstr(e->msg, "pre-fill new volumes from the image"));
	wh_err_free(e);
	assert_int_equal(volume_get(root, "default", "f", &v, NULL), 0);
	assert_false(v.initialized);
	volume_release(&v);
	assert_int_equal(access(data, F_OK), 0);
	assert_int_equal(access(stage, F_OK), -1);
	wh_mount_list_done(&bad);
}

/* A container whose label does not name a volume its spec uses gets the label at Tasks.Create. */
static void test_label_recorded(void **state)
{
	cleanup_free char *root = tp("labels"), *cs_dir = tp("labels/content"),
			  *db_path = tp("labels/metadata.db");
	struct content_store *cs = NULL;
	struct meta_container c = {0}, got = {0};
	struct daemon d = {0};
	const char *text = "{\"mounts\":[{\"destination\":\"/x\",\"type\":\"volume\","
			   "\"source\":\"vx\"},{\"destination\":\"/y\",\"type\":\"volume\","
			   "\"source\":\"vy\"}]}";
	void *spec = xstrdup(text);
	size_t len = strlen(text);
	const char *uses = NULL;

	(void)state;
	assert_int_equal(content_store_open(cs_dir, &cs, NULL), 0);
	assert_int_equal(meta_db_open(db_path, cs, &d.db, NULL), 0);
	d.cfg.root = root;
	c.id = (char *)"lc";
	c.runtime_name = (char *)"io.containerd.wharf.v2";
	c.labels = (char *[]){(char *)"wharf/volumes", (char *)"vx", (char *)"other", (char *)"1",
			      NULL};
	assert_int_equal(meta_container_create(d.db, "default", &c, NULL), 0);
	assert_int_equal(meta_container_get(d.db, "default", "lc", &got, NULL), 0);
	assert_int_equal(volumes_task_prepare(&d, "default", &got, &spec, &len, NULL), 0);
	meta_container_release(&got);
	assert_int_equal(meta_container_get(d.db, "default", "lc", &got, NULL), 0);
	for (size_t i = 0; got.labels && got.labels[i]; i += 2)
		if (streq(got.labels[i], "wharf/volumes"))
			uses = got.labels[i + 1];
	assert_non_null(uses);
	assert_string_equal(uses, "vx,vy");
	assert_int_equal(strv_length(got.labels), 4); /* "other" kept */
	meta_container_release(&got);
	free(spec);
	meta_db_close(d.db);
	content_store_free(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),		cmocka_unit_test(test_store),
		cmocka_unit_test(test_copy_tree),	cmocka_unit_test(test_copy_depth),
		cmocka_unit_test(test_prefill_overlay), cmocka_unit_test(test_prefill_symlinks),
		cmocka_unit_test(test_task_steps),	cmocka_unit_test(test_prefill_failure),
		cmocka_unit_test(test_label_recorded),	cmocka_unit_test(test_copy_many_links),
		cmocka_unit_test(test_long_name),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}

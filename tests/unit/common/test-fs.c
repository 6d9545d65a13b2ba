/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/fs.h: openat2 confinement (RESOLVE_IN_ROOT keeps "..", absolute paths and
 * absolute symlinks inside; RESOLVE_BENEATH refuses escapes), mkdir -p, atomic writes, whole-file
 * reads, rm -rf (no symlink following, no mount crossing), path helpers and fd flags. Everything
 * lives in a temp dir under /tmp; the mount cases run only as root and skip otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include <sys/mount.h>
#include <sys/stat.h>

#include "common/common.h"

/* Set when main() moved this process into a private mount namespace (as root only). */
static bool private_ns;

struct fx {
	char dir[64];
	int dfd;
};

static int setup(void **state)
{
	struct fx *fx = xnew0(struct fx, 1);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/fixtures-fs-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	fx->dfd = open(fx->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*state = fx;
	return fx->dfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	/* Mounts a failed test left behind (only in the private namespace). */
	if (private_ns) {
		const char *mnts[] = {"t/tmpfs", "t/bind"};
		for (size_t i = 0; i < ARRAY_SIZE(mnts); i++) {
			cleanup_free char *p = path_join(fx->dir, mnts[i]);
			umount2(p, MNT_DETACH);
		}
	}
	wh_close(fx->dfd);
	int r = rm_rf(fx->dir);
	free(fx);
	return r;
}

static void put(struct fx *fx, const char *rel, const char *content)
{
	cleanup_free char *p = path_join(fx->dir, rel);
	assert_int_equal(write_file_atomic(p, content, strlen(content), 0644), 0);
}

static void mk(struct fx *fx, const char *rel)
{
	cleanup_free char *p = path_join(fx->dir, rel);
	assert_int_equal(mkdir_p(p, 0755), 0);
}

static void ln(struct fx *fx, const char *target, const char *rel)
{
	assert_int_equal(symlinkat(target, fx->dfd, rel), 0);
}

static bool exists(struct fx *fx, const char *rel)
{
	struct stat st;
	return fstatat(fx->dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static char *read_all_fd(int fd)
{
	char *buf = NULL;
	assert_int_equal(read_fd(fd, 4096, &buf, NULL), 0);
	return buf;
}

static void assert_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	assert_true(fl >= 0 && (fl & FD_CLOEXEC));
}

/* A tree with a "host" secret outside the root and links that try to reach it. */
static int make_root(struct fx *fx)
{
	mk(fx, "root/etc");
	mk(fx, "root/sub/dir");
	put(fx, "root/etc/passwd", "inside\n");
	mk(fx, "etc");
	put(fx, "etc/passwd", "outside\n");
	ln(fx, "/etc/passwd", "root/abs");
	ln(fx, "../../../../../../etc/passwd", "root/sub/dir/up");
	ln(fx, "/", "root/sub/rootlink");
	ln(fx, "passwd", "root/etc/rel");
	cleanup_free char *p = path_join(fx->dir, "root");
	int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void test_open_in_root(void **state)
{
	struct fx *fx = *state;
	cleanup_close int root = make_root(fx);
	const char *paths[] = {
		"etc/passwd",	    "/etc/passwd",
		"../../etc/passwd", "abs",
		"sub/dir/up",	    "sub/rootlink/etc/passwd",
		"etc/rel",	    "sub/../../../etc/passwd",
		"/../etc/./passwd", "sub/rootlink/../../etc/passwd",
	};
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		cleanup_close int fd = fs_open_in_root(root, paths[i], O_RDONLY, 0);
		if (fd < 0)
			fail_msg("open '%s' in root: %s", paths[i], strerror(-fd));
		assert_cloexec(fd);
		cleanup_free char *s = read_all_fd(fd);
		if (!streq(s, "inside\n"))
			fail_msg("'%s' resolved outside the root", paths[i]);
	}
	/* A directory open with a mode given (ignored without O_CREAT). */
	cleanup_close int dir =
		fs_open_in_root(root, "/sub/rootlink/sub", O_RDONLY | O_DIRECTORY, 0755);
	assert_true(dir >= 0);
	cleanup_close int bdir =
		fs_open_beneath(root, "sub/dir", O_RDONLY | O_DIRECTORY, 0755, true);
	assert_true(bdir >= 0);
	/* O_TMPFILE gets its mode. */
	cleanup_close int tmpf = fs_open_in_root(root, "/etc", O_TMPFILE | O_RDWR, 0600);
	assert_true(tmpf >= 0);
	/* Creating through an absolute symlink creates inside. */
	cleanup_close int fd = fs_open_in_root(root, "sub/rootlink/new", O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_true(exists(fx, "root/new"));
	assert_false(exists(fx, "new"));
	assert_int_equal(fs_open_in_root(root, "missing", O_RDONLY, 0), -ENOENT);
	/* Magic links are refused. */
	cleanup_close int slash = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(fs_open_in_root(slash, "/proc/self/exe", O_PATH, 0), -ELOOP);
	assert_int_equal(fs_open_beneath(slash, "proc/self/cwd/x", O_PATH, 0, false), -ELOOP);
}

static void test_open_beneath(void **state)
{
	struct fx *fx = *state;
	cleanup_close int root = make_root(fx);
	cleanup_close int ok = fs_open_beneath(root, "etc/passwd", O_RDONLY, 0, false);
	assert_true(ok >= 0);
	assert_cloexec(ok);
	cleanup_free char *s = read_all_fd(ok);
	assert_string_equal(s, "inside\n");
	/* A relative symlink that stays beneath is followed unless symlinks are refused. */
	cleanup_close int rel = fs_open_beneath(root, "etc/rel", O_RDONLY, 0, false);
	assert_true(rel >= 0);
	assert_int_equal(fs_open_beneath(root, "etc/rel", O_RDONLY, 0, true), -ELOOP);
	assert_int_equal(fs_open_beneath(root, "sub/../etc/passwd", O_RDONLY, 0, true) >= 0, 1);
	/* Every way out is refused. */
	assert_int_equal(fs_open_beneath(root, "../etc/passwd", O_RDONLY, 0, false), -EXDEV);
	assert_int_equal(fs_open_beneath(root, "/etc/passwd", O_RDONLY, 0, false), -EXDEV);
	assert_int_equal(fs_open_beneath(root, "abs", O_RDONLY, 0, false), -EXDEV);
	assert_int_equal(fs_open_beneath(root, "sub/dir/up", O_RDONLY, 0, false), -EXDEV);
	assert_int_equal(fs_open_beneath(root, "sub/rootlink/etc/passwd", O_RDONLY, 0, false),
			 -EXDEV);
	assert_int_equal(fs_open_beneath(root, "abs", O_RDONLY, 0, true), -ELOOP);
	/* O_CREAT beneath creates where asked and nowhere else. */
	cleanup_close int c = fs_open_beneath(root, "sub/created", O_WRONLY | O_CREAT, 0640, true);
	assert_true(c >= 0);
	struct stat st;
	assert_int_equal(fstat(c, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640 & ~umask(umask(0)));
}

static void test_mkdir_p(void **state)
{
	struct fx *fx = *state;
	cleanup_free char *p = path_join(fx->dir, "a/b/c/d");
	assert_int_equal(mkdir_p(p, 0700), 0);
	assert_int_equal(mkdir_p(p, 0700), 0); /* exists: fine */
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	cleanup_free char *slashes = path_join(fx->dir, "x//y/z/");
	assert_int_equal(mkdir_p(slashes, 0755), 0);
	assert_true(exists(fx, "x/y/z"));
	put(fx, "file", "f");
	cleanup_free char *under_file = path_join(fx->dir, "file/sub");
	assert_int_equal(mkdir_p(under_file, 0755), -ENOTDIR);
	cleanup_free char *is_file = path_join(fx->dir, "file");
	assert_int_equal(mkdir_p(is_file, 0755), -ENOTDIR);
	assert_int_equal(mkdir_p("", 0755), -EINVAL);
}

static void test_mkdir_p_beneath(void **state)
{
	struct fx *fx = *state;
	int fd = mkdir_p_beneath(fx->dfd, "m/n/o", 0755);
	assert_true(fd >= 0);
	assert_cloexec(fd);
	assert_true(fcntl(fd, F_GETFL) & O_PATH);
	wh_close(fd);
	assert_true(exists(fx, "m/n/o"));
	fd = mkdir_p_beneath(fx->dfd, "./m/n/o/p", 0755);
	assert_true(fd >= 0);
	wh_close(fd);
	/* A symlinked component is refused and nothing is made through it. */
	mk(fx, "elsewhere");
	ln(fx, "../elsewhere", "m/link");
	assert_int_equal(mkdir_p_beneath(fx->dfd, "m/link/q", 0755), -ELOOP);
	assert_false(exists(fx, "elsewhere/q"));
	assert_int_equal(mkdir_p_beneath(fx->dfd, "m/../escape", 0755), -EXDEV);
	assert_false(exists(fx, "escape"));
	put(fx, "m/file", "x");
	assert_int_equal(mkdir_p_beneath(fx->dfd, "m/file/q", 0755), -ELOOP);
}

static size_t count_entries(struct fx *fx, const char *rel)
{
	cleanup_free char *p = path_join(fx->dir, rel);
	DIR *d = opendir(p);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_write_atomic(void **state)
{
	struct fx *fx = *state;
	mk(fx, "w");
	cleanup_free char *p = path_join(fx->dir, "w/state.json");
	assert_int_equal(write_file_atomic(p, "old", 3, 0600), 0);
	assert_int_equal(write_file_atomic(p, "new content", 11, 0640), 0);
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(read_file(p, 100, &buf, &len), 0);
	assert_int_equal(len, 11);
	assert_string_equal(buf, "new content");
	free(buf);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);  /* the mode asked for, umask or not */
	assert_int_equal(count_entries(fx, "w"), 1); /* no temp file left behind */

	/* Relative to a dirfd, and over a symlink: the link is replaced, its target untouched. */
	put(fx, "w/target", "target");
	ln(fx, "target", "w/link");
	assert_int_equal(write_file_atomic_at(fx->dfd, "w/link", "", 0, 0644), 0);
	assert_int_equal(read_file_at(fx->dfd, "w/target", 100, &buf, &len), 0);
	assert_string_equal(buf, "target");
	free(buf);
	assert_int_equal(fstatat(fx->dfd, "w/link", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 0);

	/* A bare name is relative to dirfd. */
	assert_int_equal(write_file_atomic_at(fx->dfd, "bare", "b", 1, 0600), 0);
	assert_true(exists(fx, "bare"));
	assert_int_equal(fsync_parent("/bare-name-in-root"), 0);

	/* Failures leave nothing behind. */
	cleanup_free char *missing = path_join(fx->dir, "nodir/file");
	assert_int_equal(write_file_atomic(missing, "x", 1, 0644), -ENOENT);
	mk(fx, "w/adir/inner");
	assert_int_equal(write_file_atomic_at(fx->dfd, "w/adir", "x", 1, 0644), -EISDIR);
	assert_int_equal(count_entries(fx, "w"), 4);
}

struct writer {
	const char *path;
	char fill;
	int failures;
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;
	char buf[4096];
	memset(buf, w->fill, sizeof(buf));
	for (int i = 0; i < 50; i++)
		if (write_file_atomic(w->path, buf, sizeof(buf), 0644) < 0)
			w->failures++;
	return NULL;
}

/* Threads replacing one file at once: every write succeeds and readers see one whole version. */
static void test_write_atomic_threads(void **state)
{
	struct fx *fx = *state;
	cleanup_free char *p = path_join(fx->dir, "shared");
	struct writer w[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){.path = p, .fill = (char)('a' + i)};
		assert_int_equal(pthread_create(&th[i], NULL, write_loop, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(read_file(p, 1 << 20, &buf, &len), 0);
	assert_int_equal(len, 4096);
	for (size_t i = 1; i < len; i++)
		assert_int_equal(buf[i], buf[0]);
	free(buf);
	assert_int_equal(count_entries(fx, "."), 1);
}

static void test_read_file(void **state)
{
	struct fx *fx = *state;
	put(fx, "r", "0123456789");
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(read_file_at(fx->dfd, "r", 10, &buf, &len), 0);
	assert_int_equal(len, 10);
	assert_int_equal(buf[10], 0);
	free(buf);
	assert_int_equal(read_file_at(fx->dfd, "r", 9, &buf, &len), -EFBIG);
	assert_int_equal(read_file_at(fx->dfd, "nope", 9, &buf, &len), -ENOENT);
	/* Embedded NULs and larger-than-one-read files come back whole. */
	size_t big = 100000;
	cleanup_free char *data = xmalloc(big);
	for (size_t i = 0; i < big; i++)
		data[i] = (char)(i % 251);
	cleanup_free char *p = path_join(fx->dir, "big");
	assert_int_equal(write_file_atomic(p, data, big, 0644), 0);
	assert_int_equal(read_file(p, big, &buf, &len), 0);
	assert_int_equal(len, big);
	assert_memory_equal(buf, data, big);
	free(buf);
	/* An empty file gives an empty heap string. */
	put(fx, "empty", "");
	assert_int_equal(read_file_at(fx->dfd, "empty", 0, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
}

static void test_read_write_all(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write_all(p[1], "hello", 5), 0);
	wh_close(p[1]);
	char buf[16] = "";
	assert_int_equal(read_full(p[0], buf, sizeof(buf)), 5); /* short only at EOF */
	assert_string_equal(buf, "hello");
	assert_int_equal(read_full(p[0], buf, sizeof(buf)), 0);
	wh_close(p[0]);
	assert_int_equal(write_all(-1, "x", 1), -EBADF);
	assert_int_equal(read_full(-1, buf, 1), -EBADF);
}

static void test_rm_rf(void **state)
{
	struct fx *fx = *state;
	mk(fx, "t/a/b/c");
	put(fx, "t/a/b/c/f", "x");
	put(fx, "t/top", "x");
	mk(fx, "keep/dir");
	put(fx, "keep/dir/precious", "p");
	put(fx, "keep/file", "p");
	ln(fx, "../keep/dir", "t/dirlink");
	ln(fx, "/tmp", "t/abslink");
	ln(fx, "../keep/file", "t/a/filelink");
	assert_int_equal(chmod(fx->dir, 0755), 0);
	assert_int_equal(rm_rf_at(fx->dfd, "t"), 0);
	assert_false(exists(fx, "t"));
	assert_true(exists(fx, "keep/dir/precious"));
	assert_true(exists(fx, "keep/file"));
	/* A symlink given as the target is removed itself, not what it points to. */
	ln(fx, "keep", "klink");
	cleanup_free char *klink = path_join(fx->dir, "klink");
	assert_int_equal(rm_rf(klink), 0);
	assert_false(exists(fx, "klink"));
	assert_true(exists(fx, "keep/dir/precious"));
	/* Missing is success; a plain file is removed. */
	assert_int_equal(rm_rf_at(fx->dfd, "never-was"), 0);
	assert_int_equal(rm_rf_at(fx->dfd, "keep/file"), 0);
	assert_false(exists(fx, "keep/file"));
}

/* Mounts fstype (or a bind of the dir "src") on rel; false when this process may not mount. */
static bool try_mount(struct fx *fx, const char *rel, const char *src)
{
	if (!private_ns)
		return false;
	cleanup_free char *p = path_join(fx->dir, rel);
	cleanup_free char *s = src ? path_join(fx->dir, src) : NULL;
	int r = src ? mount(s, p, NULL, MS_BIND, NULL) : mount("tmpfs", p, "tmpfs", 0, "size=1m");
	if (r < 0 && (errno == EPERM || errno == EACCES))
		return false;
	assert_int_equal(r, 0);
	return true;
}

static void unmount(struct fx *fx, const char *rel)
{
	cleanup_free char *p = path_join(fx->dir, rel);
	assert_int_equal(umount2(p, MNT_DETACH), 0);
}

static void test_rm_rf_mounts(void **state)
{
	struct fx *fx = *state;
	mk(fx, "t/tmpfs");
	mk(fx, "t/bind");
	mk(fx, "t/other/x");
	mk(fx, "src");
	put(fx, "src/precious", "p");
	if (!try_mount(fx, "t/tmpfs", NULL)) {
		skip();
		return;
	}
	put(fx, "t/tmpfs/on-tmpfs", "t");
	/* A bind mount from the same filesystem has the same st_dev: it must still be seen. */
	assert_true(try_mount(fx, "t/bind", "src"));
	assert_int_equal(rm_rf_at(fx->dfd, "t"), -EBUSY);
	/* Nothing inside either mount was touched; the rest was removed. */
	assert_true(exists(fx, "t/tmpfs/on-tmpfs"));
	assert_true(exists(fx, "t/bind/precious"));
	assert_true(exists(fx, "src/precious"));
	assert_false(exists(fx, "t/other"));
	unmount(fx, "t/tmpfs");
	unmount(fx, "t/bind");
	assert_int_equal(rm_rf_at(fx->dfd, "t"), 0);
	assert_false(exists(fx, "t"));
	assert_true(exists(fx, "src/precious"));
}

static void test_paths(void **state)
{
	struct {
		const char *a, *b, *want;
	} joins[] = {
		{"/a", "b", "/a/b"}, {"/a/", "b", "/a/b"},  {"/a//", "/b", "/a/b"},
		{"/", "b", "/b"},    {"/", "/b/c", "/b/c"}, {"a", "b/", "a/b/"},
		{"rel", "", "rel/"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(joins); i++) {
		cleanup_free char *j = path_join(joins[i].a, joins[i].b);
		assert_string_equal(j, joins[i].want);
	}
	const char *safe[] = {"a", "a/b", "a/b.c/..d", ".hidden/x", "a..b"};
	const char *unsafe[] = {"",    "/a",	"..",	"a/../b", ".",
				"./a", "a/./b", "a//b", "a/",	  "a/.."};
	for (size_t i = 0; i < ARRAY_SIZE(safe); i++)
		if (!path_is_safe_relative(safe[i]))
			fail_msg("'%s' should be safe", safe[i]);
	for (size_t i = 0; i < ARRAY_SIZE(unsafe); i++)
		if (path_is_safe_relative(unsafe[i]))
			fail_msg("'%s' should be unsafe", unsafe[i]);
	assert_false(path_is_safe_relative(NULL));
}

static void test_fd_flags(void **state)
{
	struct fx *fx = *state;
	int p[2];
	assert_int_equal(pipe2(p, 0), 0);
	assert_int_equal(fd_set_cloexec(p[0], true), 0);
	assert_cloexec(p[0]);
	assert_int_equal(fd_set_cloexec(p[0], false), 0);
	assert_false(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fd_set_nonblock(p[0], true), 0);
	assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	char c;
	assert_int_equal(read(p[0], &c, 1), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fd_set_nonblock(p[0], false), 0);
	assert_false(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	wh_close(p[0]);
	wh_close(p[1]);
	assert_int_equal(fd_set_nonblock(-1, true), -EBADF);
	assert_int_equal(fd_set_cloexec(-1, true), -EBADF);

	/* fd_move_above_stdio: an fd that landed on 0 moves up and 0 is freed. */
	int saved = fcntl(0, F_DUPFD_CLOEXEC, 3);
	assert_true(saved >= 3);
	close(0);
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(fd, 0);
	int moved = fd_move_above_stdio(fd);
	assert_true(moved > 2);
	assert_cloexec(moved);
	assert_int_equal(fcntl(0, F_GETFD), -1);
	assert_int_equal(dup2(saved, 0), 0);
	wh_close(saved);
	wh_close(moved);
	assert_int_equal(fd_move_above_stdio(fx->dfd), fx->dfd);

	/* wh_close ignores negatives, keeps errno and returns -EBADF. */
	errno = 1234;
	assert_int_equal(wh_close(-EBADF), -EBADF);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(wh_close(fd), -EBADF);
	assert_int_equal(errno, 1234);

	cleanup_free char *f = path_join(fx->dir, "sync");
	put(fx, "sync", "x");
	assert_int_equal(fsync_parent(f), 0);
	assert_int_equal(fsync_parent("relative-file"), 0);
	assert_int_equal(fsync_parent("/no/such/dir/file"), -ENOENT);
}

int main(void)
{
	/*
	 * Mount tests run in a private mount namespace so that the host never sees their mounts,
	 * even if the test dies. Entered before any test opens a directory: an fd opened in the old
	 * namespace would not see the new mounts.
	 */
	if (geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
		private_ns = true;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_in_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_beneath, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_p_beneath, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
		cmocka_unit_test(test_read_write_all),
		cmocka_unit_test_setup_teardown(test_rm_rf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rm_rf_mounts, setup, teardown),
		cmocka_unit_test(test_paths),
		cmocka_unit_test_setup_teardown(test_fd_flags, setup, teardown),
	};
	return cmocka_run_group_tests_name("fs", tests, NULL, NULL);
}

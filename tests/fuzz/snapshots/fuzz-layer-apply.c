/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: layer apply of arbitrary (plain, gzip or zstd) tar bytes, as a registry or an
 * imported archive may serve them. Each input is applied twice through the public entry point,
 * into a fresh directory each time: as a bind mount (native: whiteouts delete, onto a small
 * pre-populated tree) and as an overlay upperdir over a fixed lower tree (whiteout devices,
 * opaque xattrs, copy-up of parents and hard-link targets from the lower).
 *
 * After every apply: nothing was written outside the target (the canary directories stay empty,
 * the scratch root holds only what we made, the lower tree is unchanged), no fd leaked, and a
 * success read the whole stream (size and digest of the input). As root the scratch root is a
 * tmpfs mounted in a private mount namespace (unshare(CLONE_NEWNS) at start); otherwise a temp dir.
 * Use small inputs: -max_len=65536.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/stat.h>

#include "common/common.h"
#include "snapshots/snapshots.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[] = "/tmp/fuzz-snapshots-XXXXXX";
static char *lower, *box, *target, *work, *canary, *box_canary;
static uint64_t lower_print;
static bool verbose; /* FUZZ_VERBOSE=1: print each apply's outcome */

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static void must(int r, const char *what)
{
	if (r < 0)
		fail("%s: %s", what, strerror(r == -1 ? errno : -r));
}

/* A small tree like a base layer's: dirs, files, a symlink, a hard link, a nested dir. */
static void populate(const char *dir)
{
	cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(fd, "open tree");
	must(mkdirat(fd, "etc", 0755), "mkdir etc");
	must(mkdirat(fd, "bin", 0755), "mkdir bin");
	must(mkdirat(fd, "var", 0755), "mkdir var");
	must(mkdirat(fd, "var/lib", 0700), "mkdir var/lib");
	must(mkdirat(fd, "var/lib/d", 0755), "mkdir var/lib/d");
	static const struct {
		const char *path, *text;
	} files[] = {
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
		{"etc/hostname", "lower\n"},
		{"bin/busybox", "\177ELF not really\n"},
		{"var/lib/d/f", "deep\n"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		must(write_file_atomic_at(fd, files[i].path, files[i].text, strlen(files[i].text),
					  0644),
		     files[i].path);
	must(symlinkat("busybox", fd, "bin/sh"), "symlink bin/sh");
	must(symlinkat("/etc/passwd", fd, "etc/abs-link"), "symlink etc/abs-link");
	must(symlinkat("../../..", fd, "var/lib/up"), "symlink var/lib/up");
	must(linkat(fd, "bin/busybox", fd, "bin/ls", 0), "link bin/ls");
}

/* Names, inodes, types, sizes, modes, link counts and change times of a tree, as one number. */
static uint64_t fingerprint(int dirfd, uint64_t h)
{
	DIR *d = fdopendir(dirfd);
	if (!d)
		fail("fdopendir: %m");
	struct dirent *de;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			fail("stat '%s': %m", de->d_name);
		for (const char *p = de->d_name; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ULL;
		/* ctime moves on any change to the inode (data, owner, mode, links, xattrs, times)
		 * and cannot be set from user space. */
		h = (h ^ st.st_mode ^ ((uint64_t)st.st_size << 20) ^
		     ((uint64_t)st.st_nlink << 40)) *
		    1099511628211ULL;
		h = (h ^ st.st_ino ^ ((uint64_t)st.st_ctim.tv_sec << 30) ^
		     (uint64_t)st.st_ctim.tv_nsec) *
		    1099511628211ULL;
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0)
				fail("open '%s': %m", de->d_name);
			h = fingerprint(fd, h);
		}
	}
	closedir(d);
	return h;
}

static uint64_t tree_print(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fail("open '%s': %m", dir);
	return fingerprint(fd, 14695981039346656037ULL);
}

/* The names in dir, sorted and joined by spaces. */
static char *listing(const char *dir)
{
	struct dirent **v = NULL;
	int n = scandir(dir, &v, NULL, alphasort);
	if (n < 0)
		fail("scandir '%s': %m", dir);
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < n; i++) {
		if (!streq(v[i]->d_name, ".") && !streq(v[i]->d_name, ".."))
			strbuf_addf(&sb, "%s%s", sb.len ? " " : "", v[i]->d_name);
		free(v[i]);
	}
	free(v);
	return strbuf_detach(&sb, NULL);
}

static void expect_listing(const char *dir, const char *want)
{
	cleanup_free char *have = listing(dir);
	if (!streq(have, want))
		fail("'%s' holds '%s', expected '%s': the layer wrote outside its target", dir,
		     have, want);
}

static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open /dev/null: %m");
	close(fd);
	return fd;
}

static void cleanup_scratch(void)
{
	if (geteuid() == 0)
		(void)umount2(scratch, MNT_DETACH);
	else
		(void)rm_rf(scratch);
	(void)rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!mkdtemp(scratch))
		fail("mkdtemp: %m");
	if (geteuid() == 0) {
		/* Our mounts stay ours: a private mount namespace, a size-capped tmpfs. */
		must(unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)");
		must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make / private");
		must(mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=0700"),
		     "mount tmpfs");
	}
	atexit(cleanup_scratch);
	lower = path_join(scratch, "lower");
	box = path_join(scratch, "box");
	canary = path_join(scratch, "canary");
	target = path_join(box, "target");
	work = path_join(box, "work");
	box_canary = path_join(box, "canary");
	must(mkdir(lower, 0755), "mkdir lower");
	must(mkdir(box, 0700), "mkdir box");
	must(mkdir(canary, 0700), "mkdir canary");
	must(mkdir(work, 0700), "mkdir work");
	must(mkdir(box_canary, 0700), "mkdir box canary");
	populate(lower);
	lower_print = tree_print(lower);
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	return 0;
}

struct input {
	const uint8_t *data;
	size_t size, off;
};

static ssize_t input_read(void *userdata, void *buf, size_t n)
{
	struct input *in = userdata;
	size_t k = MIN(n, in->size - in->off);

	memcpy(buf, in->data + in->off, k);
	in->off += k;
	return (ssize_t)k;
}

static void apply_one(const uint8_t *data, size_t size, bool overlay)
{
	/* Measured per apply: libFuzzer's symbolizer may open pipes between inputs. */
	int next_fd = lowest_free_fd();
	must(mkdir(target, 0755), "mkdir target");
	struct wh_mount_list ml = {0};
	if (overlay) {
		cleanup_free char *lo = xasprintf("lowerdir=%s", lower);
		cleanup_free char *up = xasprintf("upperdir=%s", target);
		cleanup_free char *wo = xasprintf("workdir=%s", work);
		char *opts[] = {lo, up, wo, NULL};
		wh_mount_list_add(&ml, "overlay", "overlay", NULL, opts);
	} else {
		populate(target);
		char *opts[] = {(char *)"rbind", (char *)"rw", NULL};
		wh_mount_list_add(&ml, "bind", target, NULL, opts);
	}

	struct input in = {data, size, 0};
	struct layer_apply_result res;
	struct wh_err *err = NULL;
	int r = layer_apply_read(&ml, input_read, &in, NULL, &res, &err);
	if (r < 0) {
		if (!err || r != -err->code || !wh_err_msg(err)[0])
			fail("apply failed with %d and no matching error", r);
		if (verbose)
			fprintf(stderr, "%s: %s\n", overlay ? "overlay" : "bind", wh_err_msg(err));
		wh_err_free(err);
	} else {
		char want[DIGEST_STR_LEN];
		digest_buf(data, size, want);
		if (res.size != size || !streq(res.digest, want))
			fail("apply succeeded after reading %" PRIu64 " of %zu bytes (%s)",
			     res.size, size, res.digest);
		if (!digest_is_valid(res.diff_id))
			fail("apply succeeded with diff id '%s'", res.diff_id);
		bool compressed = (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) ||
				  (size >= 4 && memcmp(data, "\x28\xb5\x2f\xfd", 4) == 0);
		if (!compressed &&
		    (!streq(res.diff_id, res.digest) || res.uncompressed_size != size))
			fail("an uncompressed layer got diff id %s for digest %s", res.diff_id,
			     res.digest);
		if (verbose)
			fprintf(stderr, "%s: applied %s\n", overlay ? "overlay" : "bind",
				res.diff_id);
	}
	wh_mount_list_done(&ml);

	/* Nothing outside target changed. */
	expect_listing(scratch, "box canary lower");
	expect_listing(box, "canary target work");
	expect_listing(canary, "");
	expect_listing(box_canary, "");
	expect_listing(work, "");
	if (tree_print(lower) != lower_print)
		fail("the lower tree changed: the layer wrote outside its target");
	int fd = lowest_free_fd();
	if (fd != next_fd) {
		char link[PATH_MAX] = "";
		cleanup_free char *p = xasprintf("/proc/self/fd/%d", next_fd);
		(void)!readlink(p, link, sizeof(link) - 1);
		fail("fd %d (%s) leaked by layer apply", next_fd, link);
	}
	must(rm_rf(target), "rm -rf target");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	apply_one(data, size, false);
	apply_one(data, size, true);
	return 0;
}

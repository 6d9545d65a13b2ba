/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for layer apply and diff on plain directories: entry kinds, whiteouts in both
 * forms, compressions and digests, a corpus of hostile tars, diff round trips, chain IDs. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "common/common.h"
#include "helpers.h"
#include "snapshots/snapshots.h"

static char base[64];

static int setup(void **state)
{
	strcpy(base, "/tmp/snapshots-unit-XXXXXX");
	wh_assert(mkdtemp(base));
	cleanup_free char *lowdir = xasprintf("%s/empty-lower", base);
	wh_assert(mkdir(lowdir, 0755) == 0);
	return 0;
}

static int teardown(void **state)
{
	rm_rf(base);
	return 0;
}

/* A fresh empty directory under base. */
static char *fresh(const char *name)
{
	char *p = xasprintf("%s/%s", base, name);
	rm_rf(p);
	wh_assert(mkdir(p, 0755) == 0);
	return p;
}

/* Applies tar (compressed with how, announced as media_type) onto dir. */
static int apply_buf(const char *dir, bool overlay, const char *tar, size_t len, const char *how,
		     const char *media_type, struct layer_apply_result *res, struct wh_err **err)
{
	size_t clen;
	cleanup_free char *c = compress_buf(how, tar, len, &clen);
	cleanup_close int fd = buf_fd(c, clen);
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	wh_assert(dfd >= 0);
	struct wh_mount_list m = {0};
	char *opts_rw[] = {(char *)"rw", (char *)"rbind", NULL};
	int r;
	if (overlay) {
		/* the overlay form: apply straight into the directory as an upperdir */
		cleanup_free char *up = xasprintf("upperdir=%s", dir);
		cleanup_free char *lowdir = xasprintf("%s/empty-lower", base);
		cleanup_free char *low = xasprintf("lowerdir=%s", lowdir);
		char *o[] = {up, low, NULL};
		wh_mount_list_add(&m, "overlay", "overlay", NULL, o);
	} else {
		wh_mount_list_add(&m, "bind", dir, NULL, opts_rw);
	}
	r = layer_apply(&m, fd, media_type, res, err);
	wh_mount_list_done(&m);
	return r;
}

static void test_chain_ids(void **state)
{
	const char *ids[] = {
		"sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
		"sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d",
		"sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6",
	};
	char out[3][DIGEST_STR_LEN];
	assert_int_equal(snapshots_chain_ids(ids, 3, out, NULL), 0);
	assert_string_equal(out[0], ids[0]);
	assert_string_equal(
		out[1], "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676");
	assert_string_equal(
		out[2], "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106");
	char one[DIGEST_STR_LEN];
	assert_int_equal(snapshots_chain_id(ids, 3, one, NULL), 0);
	assert_string_equal(one, out[2]);
	const char *bad[] = {ids[0], "sha256:xyz"};
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(snapshots_chain_ids(bad, 2, out, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "diff ID 1"));
}

static void test_media_types(void **state)
{
	enum layer_compression c;
	assert_int_equal(layer_compression_from_media_type(SNAPSHOTS_MEDIA_TYPE_TAR_GZIP, &c), 0);
	assert_int_equal(c, LAYER_COMPRESSION_GZIP);
	assert_int_equal(layer_compression_from_media_type(
				 "application/vnd.docker.image.rootfs.diff.tar.gzip", &c),
			 0);
	assert_int_equal(c, LAYER_COMPRESSION_GZIP);
	assert_int_equal(layer_compression_from_media_type(SNAPSHOTS_MEDIA_TYPE_TAR_ZSTD, &c), 0);
	assert_int_equal(c, LAYER_COMPRESSION_ZSTD);
	assert_int_equal(layer_compression_from_media_type(SNAPSHOTS_MEDIA_TYPE_TAR, &c), 0);
	assert_int_equal(c, LAYER_COMPRESSION_NONE);
	assert_int_equal(layer_compression_from_media_type("application/x-bzip2", &c), -ENOTSUP);
	assert_string_equal(layer_media_type(LAYER_COMPRESSION_ZSTD),
			    SNAPSHOTS_MEDIA_TYPE_TAR_ZSTD);
}

static char *sample_layer(size_t *len)
{
	struct tarb *t = tarb_new();
	tarb_dir(t, "etc/", 0755);
	tarb_file_owned(t, "etc/passwd", 0640, 1000, 1001, 1600000000, "root:x:0:0\n");
	tarb_file(t, "etc/setuid", 04755, "#!/bin/sh\n");
	tarb_symlink(t, "etc/link", "/etc/passwd");
	tarb_hardlink(t, "etc/hard", "etc/passwd");
	tarb_fifo(t, "etc/fifo");
	tarb_chardev(t, "etc/null", 1, 3);
	tarb_xattr_file(t, "etc/xattr", "user.note", "hello");
	tarb_dir(t, "usr/share/doc/", 0700);
	tarb_file(t, "./usr/share/doc/readme", 0644, "read me");
	return tarb_finish(t, len);
}

static void check_sample(const char *dir)
{
	struct stat st;
	cleanup_free char *p = xasprintf("%s/etc/passwd", dir);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1001);
	assert_int_equal(st.st_size, 11);
	assert_int_equal(st.st_mtim.tv_sec, 1600000000);
	assert_int_equal(st.st_mtim.tv_nsec, 123456789);
	assert_int_equal(st.st_nlink, 2);
	ino_t ino = st.st_ino;
	free(p);
	p = xasprintf("%s/etc/hard", dir);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_ino, ino);
	free(p);
	p = xasprintf("%s/etc/setuid", dir);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	free(p);
	p = xasprintf("%s/etc/link", dir);
	char buf[64] = {0};
	assert_int_equal(readlink(p, buf, sizeof(buf)), 11);
	assert_string_equal(buf, "/etc/passwd");
	free(p);
	p = xasprintf("%s/etc/fifo", dir);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	free(p);
	p = xasprintf("%s/etc/null", dir);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(1, 3));
	free(p);
	p = xasprintf("%s/etc/xattr", dir);
	assert_int_equal(lgetxattr(p, "user.note", buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	free(p);
	p = xasprintf("%s/usr/share/doc", dir);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_mtim.tv_sec, 1700000000);
}

static void test_apply_kinds_and_digests(void **state)
{
	size_t len;
	cleanup_free char *tar = sample_layer(&len);
	char want_diff[DIGEST_STR_LEN];
	digest_buf(tar, len, want_diff);
	const char *hows[] = {"none", "gzip", "zstd"};
	const char *mts[] = {SNAPSHOTS_MEDIA_TYPE_TAR, SNAPSHOTS_MEDIA_TYPE_TAR_GZIP,
			     SNAPSHOTS_MEDIA_TYPE_TAR_ZSTD};
	for (size_t i = 0; i < 3; i++) {
		cleanup_free char *dir = fresh("kinds");
		struct layer_apply_result res;
		cleanup_err struct wh_err *err = NULL;
		int r = apply_buf(dir, false, tar, len, hows[i], mts[i], &res, &err);
		assert_int_equal(r, 0);
		check_sample(dir);
		assert_string_equal(res.diff_id, want_diff);
		assert_int_equal(res.uncompressed_size, len);
		size_t clen;
		cleanup_free char *c = compress_buf(hows[i], tar, len, &clen);
		char want_dg[DIGEST_STR_LEN];
		digest_buf(c, clen, want_dg);
		assert_string_equal(res.digest, want_dg);
		assert_int_equal(res.size, clen);
		/* detection from the magic when no media type is given */
		cleanup_free char *dir2 = fresh("kinds2");
		assert_int_equal(apply_buf(dir2, false, tar, len, hows[i], NULL, &res, NULL), 0);
		check_sample(dir2);
	}
}

static void test_media_type_mismatch(void **state)
{
	size_t len;
	cleanup_free char *tar = sample_layer(&len);
	cleanup_free char *dir = fresh("mismatch");
	cleanup_err struct wh_err *err = NULL;
	int r = apply_buf(dir, false, tar, len, "gzip", SNAPSHOTS_MEDIA_TYPE_TAR_ZSTD, NULL, &err);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err->msg, "says zstd but its first bytes are gzip"));
	err = wh_err_free(err);
	/* a truncated gzip stream */
	size_t clen;
	cleanup_free char *c = compress_buf("gzip", tar, len, &clen);
	cleanup_close int fd = buf_fd(c, clen / 2);
	struct wh_mount_list m = {0};
	char *o[] = {(char *)"rw", (char *)"rbind", NULL};
	wh_mount_list_add(&m, "bind", dir, NULL, o);
	r = layer_apply(&m, fd, SNAPSHOTS_MEDIA_TYPE_TAR_GZIP, NULL, &err);
	wh_mount_list_done(&m);
	assert_true(r < 0);
	assert_non_null(err);
	/* not a tar at all */
	err = wh_err_free(err);
	const char junk[] = "this is not a tar archive, not even close, but it is long enough "
			    "to be looked at by the tar reader as a header block...";
	cleanup_free char *dir2 = fresh("junk");
	r = apply_buf(dir2, false, junk, sizeof(junk), "none", NULL, NULL, &err);
	assert_true(r < 0);
}

static void test_whiteouts(void **state)
{
	/* lower content */
	struct tarb *t = tarb_new();
	tarb_dir(t, "a/", 0755);
	tarb_file(t, "a/keep", 0644, "k");
	tarb_file(t, "a/gone", 0644, "g");
	tarb_dir(t, "o/", 0755);
	tarb_file(t, "o/old", 0644, "o");
	size_t l1;
	cleanup_free char *layer1 = tarb_finish(t, &l1);
	t = tarb_new();
	tarb_dir(t, "a/", 0755);
	tarb_file(t, "a/.wh.gone", 0644, "");
	tarb_dir(t, "o/", 0755);
	tarb_file(t, "o/.wh..wh..opq", 0644, "");
	tarb_file(t, "o/new", 0644, "n");
	tarb_file(t, ".wh.missing", 0644, "");
	size_t l2;
	cleanup_free char *layer2 = tarb_finish(t, &l2);

	/* native: deletions */
	cleanup_free char *dir = fresh("wh-native");
	assert_int_equal(apply_buf(dir, false, layer1, l1, "none", NULL, NULL, NULL), 0);
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(apply_buf(dir, false, layer2, l2, "gzip", NULL, NULL, &err), 0);
	cleanup_free char *m = tree_manifest(dir);
	assert_non_null(strstr(m, "a/keep "));
	assert_null(strstr(m, "a/gone"));
	assert_null(strstr(m, "o/old"));
	assert_non_null(strstr(m, "o/new "));
	assert_null(strstr(m, ".wh."));

	/* overlay form: 0/0 character devices and the opaque xattr */
	cleanup_free char *up = fresh("wh-overlay");
	assert_int_equal(apply_buf(up, true, layer2, l2, "none", NULL, NULL, NULL), 0);
	struct stat st;
	cleanup_free char *p = xasprintf("%s/a/gone", up);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	free(p);
	p = xasprintf("%s/o", up);
	char v[4];
	assert_int_equal(lgetxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
	assert_int_equal(v[0], 'y');
	free(p);
	p = xasprintf("%s/missing", up);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	free(p);
	p = xasprintf("%s/o/.wh..wh..opq", up);
	assert_int_equal(lstat(p, &st), -1);
}

/* ---- hostile archives ---- */

struct hostile {
	const char *what;
	bool must_fail;
	const char *error_names; /* a substring the error must contain, or NULL */
	void (*build)(struct tarb *t, const char *canary);
	const char *contained; /* when it may succeed: where the entry must land in root ("C/" = the
				  canary path) */
};

static void h_dotdot(struct tarb *t, const char *canary)
{
	tarb_file(t, "../../../../../../../../tmp/pwned-dotdot", 0644, "x");
}
static void h_dotdot_mid(struct tarb *t, const char *canary)
{
	tarb_dir(t, "a/", 0755);
	tarb_file(t, "a/../../escape", 0644, "x");
}
static void h_absolute(struct tarb *t, const char *canary)
{
	cleanup_free char *p = xasprintf("%s/abs-file", canary);
	tarb_file(t, p, 0644, "x");
}
static void h_symlink_abs(struct tarb *t, const char *canary)
{
	tarb_symlink(t, "link", canary);
	tarb_file(t, "link/pwned", 0644, "x");
}
static void h_symlink_rel(struct tarb *t, const char *canary)
{
	tarb_symlink(t, "rel", "../../../../../../../../../../../../../../..");
	cleanup_free char *p = xasprintf("rel%s/pwned", canary);
	tarb_file(t, p, 0644, "x");
}
static void h_symlink_then_dir(struct tarb *t, const char *canary)
{
	tarb_symlink(t, "d", canary);
	tarb_dir(t, "d/sub/", 0755);
	tarb_file(t, "d/sub/f", 0644, "x");
}
static void h_hardlink_dotdot(struct tarb *t, const char *canary)
{
	tarb_hardlink(t, "hl", "../../../../../../../../etc/passwd");
}
static void h_hardlink_abs(struct tarb *t, const char *canary)
{
	cleanup_free char *p = xasprintf("%s/secret", canary);
	tarb_hardlink(t, "hl", p);
}
static void h_hardlink_via_symlink(struct tarb *t, const char *canary)
{
	tarb_symlink(t, "s", canary);
	tarb_hardlink(t, "hl", "s/secret");
}
static void h_whiteout_dotdot(struct tarb *t, const char *canary)
{
	tarb_file(t, "a/../../.wh.canary", 0644, "");
}
static void h_whiteout_via_symlink(struct tarb *t, const char *canary)
{
	tarb_symlink(t, "s", canary);
	tarb_file(t, "s/.wh.secret", 0644, "");
}
static void h_opaque_via_symlink(struct tarb *t, const char *canary)
{
	tarb_symlink(t, "s", canary);
	tarb_file(t, "s/.wh..wh..opq", 0644, "");
}
static void h_whiteout_dotdot_name(struct tarb *t, const char *canary)
{
	tarb_file(t, ".wh...", 0644, "");
}
static void h_duplicate(struct tarb *t, const char *canary)
{
	tarb_file(t, "dup", 0644, "1");
	tarb_file(t, "./dup", 0644, "2");
}
static void h_symlink_replaced(struct tarb *t, const char *canary)
{
	cleanup_free char *p = xasprintf("%s/secret", canary);
	tarb_symlink(t, "f", p);
	tarb_file(t, "f", 0644, "overwrite");
}
static void h_long_component(struct tarb *t, const char *canary)
{
	char name[300];
	memset(name, 'a', 299);
	name[299] = 0;
	tarb_file(t, name, 0644, "x");
}
static void h_long_path(struct tarb *t, const char *canary)
{
	struct strbuf b = STRBUF_INIT;
	while (b.len < 5000)
		strbuf_adds(&b, "dddddddddddddddddddd/");
	strbuf_adds(&b, "f");
	tarb_file(t, b.buf, 0644, "x");
	strbuf_release(&b);
}
static void h_overlay_xattr(struct tarb *t, const char *canary)
{
	tarb_xattr_file(t, "x", "trusted.overlay.redirect", "/etc");
}

static const struct hostile corpus[] = {
	{"dot-dot", true, "../../../../../../../../tmp/pwned-dotdot", h_dotdot, NULL},
	{"dot-dot in the middle", true, "a/../../escape", h_dotdot_mid, NULL},
	{"absolute name", false, NULL, h_absolute, "C/abs-file"},
	{"absolute symlink on the path", false, NULL, h_symlink_abs, NULL},
	{"relative symlink climbing out", false, NULL, h_symlink_rel, "C/pwned"},
	{"symlink then directory below", false, NULL, h_symlink_then_dir, NULL},
	{"hard link with dot-dot", true, "hl", h_hardlink_dotdot, NULL},
	{"hard link to an absolute path", true, "hl", h_hardlink_abs, NULL},
	{"hard link through a symlink", true, "hl", h_hardlink_via_symlink, NULL},
	{"whiteout with dot-dot", true, ".wh.canary", h_whiteout_dotdot, NULL},
	{"whiteout through a symlink", false, NULL, h_whiteout_via_symlink, NULL},
	{"opaque through a symlink", false, NULL, h_opaque_via_symlink, NULL},
	{"whiteout of dot-dot", true, ".wh...", h_whiteout_dotdot_name, NULL},
	{"duplicate entry", true, "./dup", h_duplicate, NULL},
	{"symlink replaced by a file", true, "'f'", h_symlink_replaced, NULL},
	{"component over NAME_MAX", true, "NAME_MAX", h_long_component, NULL},
	{"path over PATH_MAX", true, "PATH_MAX", h_long_path, NULL},
	{"overlay xattr", false, NULL, h_overlay_xattr, "x"},
};

static void test_hostile(void **state)
{
	cleanup_free char *canary = fresh("canary");
	cleanup_free char *secret = xasprintf("%s/secret", canary);
	wh_assert(write_file_atomic(secret, "s", 1, 0600) >= 0);
	cleanup_free char *before = tree_manifest(canary);
	cleanup_free char *base_before = NULL;
	for (int overlay = 0; overlay < 2; overlay++) {
		for (size_t i = 0; i < ARRAY_SIZE(corpus); i++) {
			cleanup_free char *root = fresh("root");
			if (!base_before)
				base_before = tree_manifest(base);
			struct tarb *t = tarb_new();
			corpus[i].build(t, canary);
			size_t len;
			cleanup_free char *tar = tarb_finish(t, &len);
			cleanup_err struct wh_err *err = NULL;
			int r = apply_buf(root, overlay, tar, len, "none", NULL, NULL, &err);
			print_message("%s (%s): r=%d %s\n", corpus[i].what,
				      overlay ? "overlay" : "native", r, err ? err->msg : "");
			if (corpus[i].must_fail) {
				assert_true(r < 0);
				assert_non_null(err);
				if (corpus[i].error_names)
					assert_non_null(strstr(err->msg, corpus[i].error_names));
			}
			if (corpus[i].contained) {
				/* it succeeded, and what it wrote is inside root */
				assert_int_equal(r, 0);
				cleanup_free char *rel =
					str_startswith(corpus[i].contained, "C/")
						? xasprintf("%s/%s", canary,
							    corpus[i].contained + 2)
						: xstrdup(corpus[i].contained);
				cleanup_free char *in = xasprintf("%s/%s", root, rel);
				assert_int_equal(access(in, F_OK), 0);
				char v[8];
				assert_int_equal(
					lgetxattr(in, "trusted.overlay.redirect", v, sizeof(v)),
					-1);
			}
			cleanup_free char *after = tree_manifest(canary);
			assert_string_equal(before, after);
			struct stat st;
			assert_int_equal(stat(secret, &st), 0);
			assert_int_equal(st.st_nlink, 1);
			assert_int_equal(access("/tmp/pwned-dotdot", F_OK), -1);
			/* nothing appeared beside root and canary */
			rm_rf(root);
			assert_int_equal(mkdir(root, 0755), 0);
			cleanup_free char *base_after = tree_manifest(base);
			cleanup_free char *b1 = xstrdup(base_before);
			/* compare only the top-level names */
			{
				struct strbuf s1 = STRBUF_INIT, s2 = STRBUF_INIT;
				for (char *l = base_before; *l;) {
					char *e = strchr(l, '\n');
					if (!memchr(l, '/', (size_t)(strchr(l, ' ') - l)))
						strbuf_add(&s1, l,
							   (size_t)(strchr(l, ' ') - l + 1));
					l = e + 1;
				}
				for (char *l = base_after; *l;) {
					char *e = strchr(l, '\n');
					if (!memchr(l, '/', (size_t)(strchr(l, ' ') - l)))
						strbuf_add(&s2, l,
							   (size_t)(strchr(l, ' ') - l + 1));
					l = e + 1;
				}
				assert_string_equal(s1.buf, s2.buf);
				strbuf_release(&s1);
				strbuf_release(&s2);
			}
			(void)b1;
		}
	}
}

/* ---- diff ---- */

static int diff_to_fd(const char *lower, const char *upper, enum layer_compression c,
		      struct layer_diff_result *res, int *ret_fd)
{
	struct wh_mount_list lm = {0}, um = {0};
	char *o[] = {(char *)"ro", (char *)"rbind", NULL};
	if (lower)
		wh_mount_list_add(&lm, "bind", lower, NULL, o);
	wh_mount_list_add(&um, "bind", upper, NULL, o);
	int fd = memfd_create("diff", MFD_CLOEXEC);
	wh_assert(fd >= 0);
	cleanup_err struct wh_err *err = NULL;
	int r = layer_diff(&lm, &um, c, fd, res, &err);
	if (r < 0)
		print_message("diff: %s\n", err->msg);
	wh_mount_list_done(&lm);
	wh_mount_list_done(&um);
	lseek(fd, 0, SEEK_SET);
	*ret_fd = fd;
	return r;
}

static void test_diff_roundtrip(void **state)
{
	size_t len;
	cleanup_free char *tar = sample_layer(&len);
	cleanup_free char *a = fresh("rt-a");
	assert_int_equal(apply_buf(a, false, tar, len, "none", NULL, NULL, NULL), 0);
	enum layer_compression cs[] = {LAYER_COMPRESSION_NONE, LAYER_COMPRESSION_GZIP,
				       LAYER_COMPRESSION_ZSTD};
	for (size_t i = 0; i < 3; i++) {
		struct layer_diff_result d;
		cleanup_close int fd = -1;
		assert_int_equal(diff_to_fd(NULL, a, cs[i], &d, &fd), 0);
		assert_string_equal(d.media_type, layer_media_type(cs[i]));
		struct stat st;
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal((uint64_t)st.st_size, d.size);
		char dg[DIGEST_STR_LEN];
		uint64_t n;
		assert_int_equal(digest_fd(fd, dg, &n), 0);
		assert_string_equal(dg, d.digest);
		lseek(fd, 0, SEEK_SET);
		cleanup_free char *b = fresh("rt-b");
		struct layer_apply_result res;
		struct wh_mount_list m = {0};
		char *o[] = {(char *)"rw", (char *)"rbind", NULL};
		wh_mount_list_add(&m, "bind", b, NULL, o);
		assert_int_equal(layer_apply(&m, fd, d.media_type, &res, NULL), 0);
		wh_mount_list_done(&m);
		assert_string_equal(res.diff_id, d.diff_id);
		assert_string_equal(res.digest, d.digest);
		cleanup_free char *ma = tree_manifest(a);
		cleanup_free char *mb = tree_manifest(b);
		assert_string_equal(ma, mb);
	}
}

static void test_diff_changes(void **state)
{
	/* lower L, upper U = L + changes; apply diff(L, U) on a copy of L and expect U */
	size_t len;
	cleanup_free char *tar = sample_layer(&len);
	cleanup_free char *l = fresh("ch-l");
	cleanup_free char *u = fresh("ch-u");
	cleanup_free char *c = fresh("ch-c");
	assert_int_equal(apply_buf(l, false, tar, len, "none", NULL, NULL, NULL), 0);
	assert_int_equal(apply_buf(u, false, tar, len, "none", NULL, NULL, NULL), 0);
	assert_int_equal(apply_buf(c, false, tar, len, "none", NULL, NULL, NULL), 0);
	assert_int_equal(run("set -e; cd '%s'; rm etc/fifo; rm -r usr; echo new > etc/new;"
			     " echo changed >> etc/passwd; chmod 0600 etc/setuid;"
			     " ln etc/new etc/new2; mkdir -p var/lib; touch var/lib/x;"
			     " ln -sf /elsewhere etc/link",
			     u),
			 0);
	struct layer_diff_result d;
	cleanup_close int fd = -1;
	assert_int_equal(diff_to_fd(l, u, LAYER_COMPRESSION_GZIP, &d, &fd), 0);
	struct wh_mount_list m = {0};
	char *o[] = {(char *)"rw", (char *)"rbind", NULL};
	wh_mount_list_add(&m, "bind", c, NULL, o);
	cleanup_err struct wh_err *err = NULL;
	int r = layer_apply(&m, fd, NULL, NULL, &err);
	if (r < 0)
		print_message("%s\n", err->msg);
	assert_int_equal(r, 0);
	wh_mount_list_done(&m);
	cleanup_free char *mu = tree_manifest(u);
	cleanup_free char *mc = tree_manifest(c);
	assert_string_equal(mu, mc);
	/* an unchanged tree gives an empty layer (only the end blocks) */
	struct layer_diff_result e;
	cleanup_close int fd2 = -1;
	assert_int_equal(diff_to_fd(u, c, LAYER_COMPRESSION_NONE, &e, &fd2), 0);
	assert_int_equal(e.uncompressed_size, 1024);
}

/* A layer made by GNU tar from a real tree: applying it gives what `tar -x` gives. */
static void test_same_as_gnu_tar(void **state)
{
	cleanup_free char *src = fresh("gnu-src");
	assert_int_equal(run("set -e; cd '%s'; mkdir -p a/b c; echo one > a/one; ln a/one a/b/two;"
			     " ln -s ../a/one c/sym; mknod c/null c 1 3; mkfifo c/fifo;"
			     " echo s > a/setgid; chmod 2755 a/setgid; chown 12:34 a/one;"
			     " setfattr -n user.color -v blue a/one;"
			     " dd if=/dev/urandom of=a/big bs=64k count=40 status=none;"
			     " truncate -s 10M a/sparse; echo tail >> a/sparse;"
			     " touch -d @1600000000 a/b c",
			     src),
			 0);
	cleanup_free char *tarpath = xasprintf("%s/gnu.tar.gz", base);
	assert_int_equal(run("tar --xattrs --sparse -C '%s' -czf '%s' .", src, tarpath), 0);
	cleanup_free char *by_tar = fresh("gnu-by-tar");
	assert_int_equal(run("tar --xattrs --same-owner -C '%s' -xzpf '%s'", by_tar, tarpath), 0);
	cleanup_free char *by_us = fresh("gnu-by-us");
	cleanup_close int fd = open(tarpath, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct wh_mount_list m = {0};
	char *o[] = {(char *)"rw", (char *)"rbind", NULL};
	wh_mount_list_add(&m, "bind", by_us, NULL, o);
	cleanup_err struct wh_err *err = NULL;
	struct layer_apply_result res;
	int r = layer_apply(&m, fd, "application/vnd.docker.image.rootfs.diff.tar.gzip", &res,
			    &err);
	wh_mount_list_done(&m);
	if (r < 0)
		print_message("%s\n", err->msg);
	assert_int_equal(r, 0);
	cleanup_free char *a = tree_manifest(by_tar);
	cleanup_free char *b = tree_manifest(by_us);
	assert_string_equal(a, b);
	/* the diff ID is the sha256 of the uncompressed stream, as gzip -dc | sha256sum says */
	cleanup_free char *cmd = xasprintf("gzip -dc '%s' | sha256sum", tarpath);
	FILE *p = popen(cmd, "r");
	char hex[65] = {0};
	assert_int_equal(fscanf(p, "%64s", hex), 1);
	pclose(p);
	assert_string_equal(res.diff_id + 7, hex);
}

/* Concatenated gzip members and zstd frames are one stream. */
static void test_multi_member_streams(void **state)
{
	size_t len;
	cleanup_free char *tar = sample_layer(&len);
	const char *hows[] = {"gzip", "zstd"};
	for (size_t i = 0; i < 2; i++) {
		size_t l1, l2, half = len / 2;
		cleanup_free char *c1 = compress_buf(hows[i], tar, half, &l1);
		cleanup_free char *c2 = compress_buf(hows[i], tar + half, len - half, &l2);
		cleanup_free char *all = xmalloc(l1 + l2);
		memcpy(all, c1, l1);
		memcpy(all + l1, c2, l2);
		cleanup_close int fd = buf_fd(all, l1 + l2);
		cleanup_free char *dir = fresh("multi");
		struct wh_mount_list m = {0};
		char *o[] = {(char *)"rw", (char *)"rbind", NULL};
		wh_mount_list_add(&m, "bind", dir, NULL, o);
		struct layer_apply_result res;
		assert_int_equal(layer_apply(&m, fd, NULL, &res, NULL), 0);
		wh_mount_list_done(&m);
		check_sample(dir);
		char want[DIGEST_STR_LEN];
		digest_buf(tar, len, want);
		assert_string_equal(res.diff_id, want);
		assert_int_equal(res.size, l1 + l2);
	}
}

/* A read callback instead of an fd, fed in small uneven pieces. */
struct trickle {
	const char *buf;
	size_t len, pos;
};

static ssize_t trickle_read(void *ud, void *buf, size_t n)
{
	struct trickle *t = ud;
	size_t k = MIN(MIN(n, (size_t)7 + t->pos % 13), t->len - t->pos);
	memcpy(buf, t->buf + t->pos, k);
	t->pos += k;
	return (ssize_t)k;
}

static ssize_t failing_read(void *ud, void *buf, size_t n)
{
	struct trickle *t = ud;
	if (t->pos > t->len / 2)
		return -ECONNRESET;
	return trickle_read(ud, buf, n);
}

static void test_read_callback(void **state)
{
	size_t len, clen;
	cleanup_free char *tar = sample_layer(&len);
	cleanup_free char *gz = compress_buf("gzip", tar, len, &clen);
	cleanup_free char *dir = fresh("cb");
	struct wh_mount_list m = {0};
	char *o[] = {(char *)"rw", (char *)"rbind", NULL};
	wh_mount_list_add(&m, "bind", dir, NULL, o);
	struct trickle t = {gz, clen, 0};
	assert_int_equal(
		layer_apply_read(&m, trickle_read, &t, SNAPSHOTS_MEDIA_TYPE_TAR_GZIP, NULL, NULL),
		0);
	check_sample(dir);
	/* a download that breaks midway fails with the reader's error */
	cleanup_free char *dir2 = fresh("cb2");
	wh_mount_list_done(&m);
	wh_mount_list_add(&m, "bind", dir2, NULL, o);
	struct trickle t2 = {gz, clen, 0};
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(
		layer_apply_read(&m, failing_read, &t2, SNAPSHOTS_MEDIA_TYPE_TAR_GZIP, NULL, &err),
		-ECONNRESET);
	assert_non_null(strstr(err->msg, "read the layer"));
	wh_mount_list_done(&m);
	/* a read-only mount list is refused */
	char *ro[] = {(char *)"ro", (char *)"rbind", NULL};
	wh_mount_list_add(&m, "bind", dir2, NULL, ro);
	err = wh_err_free(err);
	assert_int_equal(layer_apply_read(&m, trickle_read, &t, NULL, NULL, &err), -EROFS);
	wh_mount_list_done(&m);
}

/* The empty layer (1024 zero bytes, as docker writes it) has a well-known diff ID. */
static void test_empty_layer(void **state)
{
	char zeros[1024] = {0};
	cleanup_free char *dir = fresh("empty");
	struct layer_apply_result res;
	assert_int_equal(apply_buf(dir, false, zeros, sizeof(zeros), "gzip",
				   SNAPSHOTS_MEDIA_TYPE_TAR_GZIP, &res, NULL),
			 0);
	assert_string_equal(
		res.diff_id,
		"sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
	assert_int_equal(res.uncompressed_size, 1024);
	/* a layer with an unknown media type is refused before anything is read */
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(apply_buf(dir, false, zeros, sizeof(zeros), "none",
				   "application/vnd.oci.image.layer.v1.tar+bzip2", &res, &err),
			 -ENOTSUP);
	assert_non_null(strstr(err->msg, "tar+bzip2"));
	/* an empty symlink target is refused, naming the entry */
	struct tarb *t = tarb_new();
	tarb_symlink(t, "nowhere", "");
	size_t len;
	cleanup_free char *tar = tarb_finish(t, &len);
	err = wh_err_free(err);
	int r = apply_buf(dir, false, tar, len, "none", NULL, NULL, &err);
	assert_true(r < 0);
	assert_non_null(strstr(err->msg, "'nowhere'"));
}

/* Random hostile archives built from nasty pieces: whatever they do, the canary outside the
 * root stays untouched and nothing appears beside the root. */
static uint64_t rng = 1;
static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((rng >> 33) % n);
}

static char *random_name(const char *canary)
{
	static const char *parts[] = {"..",	  ".",	"a",	  "b",
				      "link",	  "hl", ".wh.a",  ".wh..wh..opq",
				      ".wh.link", "",	"canary", "secret"};
	struct strbuf b = STRBUF_INIT;
	if (rnd(4) == 0)
		strbuf_adds(&b, rnd(2) ? canary : "/");
	unsigned n = 1 + rnd(4);
	for (unsigned i = 0; i < n; i++) {
		if (b.len && b.buf[b.len - 1] != '/')
			strbuf_addc(&b, '/');
		strbuf_adds(&b, parts[rnd(ARRAY_SIZE(parts))]);
	}
	if (!b.len)
		strbuf_adds(&b, "a");
	return strbuf_detach(&b, NULL);
}

static void test_hostile_random(void **state)
{
	cleanup_free char *canary = fresh("canary-r");
	cleanup_free char *secret = xasprintf("%s/secret", canary);
	wh_assert(write_file_atomic(secret, "s", 1, 0600) >= 0);
	cleanup_free char *before = tree_manifest(canary);
	static const char *targets[] = {"/", "..",   "../..",	   "../../../../..",
					"a", "link", "/etc/passwd"};
	int failed = 0, succeeded = 0;
	for (int round = 0; round < 400; round++) {
		cleanup_free char *root = fresh("root-r");
		struct tarb *t = tarb_new();
		unsigned n = 1 + rnd(6);
		for (unsigned i = 0; i < n; i++) {
			cleanup_free char *name = random_name(canary);
			switch (rnd(5)) {
			case 0:
				tarb_dir(t, name, 0755);
				break;
			case 1: {
				cleanup_free char *tg =
					rnd(3) ? xstrdup(targets[rnd(ARRAY_SIZE(targets))])
					       : xstrdup(canary);
				tarb_symlink(t, name, tg);
				break;
			}
			case 2: {
				cleanup_free char *tg = random_name(canary);
				tarb_hardlink(t, name, tg);
				break;
			}
			default:
				tarb_file(t, name, 0644, "payload");
				break;
			}
		}
		size_t len;
		cleanup_free char *tar = tarb_finish(t, &len);
		cleanup_err struct wh_err *err = NULL;
		int r = apply_buf(root, round % 2, tar, len, "none", NULL, NULL, &err);
		if (r < 0) {
			failed++;
			if (!strstr(err->msg, "entry"))
				print_message("unnamed: %s\n", err->msg);
			assert_non_null(strstr(err->msg, "entry"));
		} else {
			succeeded++;
		}
		cleanup_free char *after = tree_manifest(canary);
		assert_string_equal(before, after);
		struct stat st;
		assert_int_equal(stat(secret, &st), 0);
		assert_int_equal(st.st_nlink, 1);
		assert_int_equal(access("/secret", F_OK), -1);
		assert_int_equal(access("/payload", F_OK), -1);
		assert_int_equal(access("/a", F_OK), -1);
		assert_int_equal(access("/tmp/a", F_OK), -1);
		cleanup_free char *side = xasprintf("%s/a", base);
		assert_int_equal(access(side, F_OK), -1);
	}
	print_message("random hostile archives: %d refused, %d contained\n", failed, succeeded);
	assert_true(failed > 0 && succeeded > 0);
}

int main(void)
{
	/* owners, device nodes and trusted.* xattrs need root: skip (77) without it */
	if (geteuid() != 0) {
		fprintf(stderr, "test-snapshots-apply: needs root, skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_ids),
		cmocka_unit_test(test_media_types),
		cmocka_unit_test(test_apply_kinds_and_digests),
		cmocka_unit_test(test_media_type_mismatch),
		cmocka_unit_test(test_whiteouts),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_diff_roundtrip),
		cmocka_unit_test(test_diff_changes),
		cmocka_unit_test(test_same_as_gnu_tar),
		cmocka_unit_test(test_multi_member_streams),
		cmocka_unit_test(test_read_callback),
		cmocka_unit_test(test_empty_layer),
		cmocka_unit_test(test_hostile_random),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

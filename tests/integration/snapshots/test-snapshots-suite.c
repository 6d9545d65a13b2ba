/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshotter conformance suite (containerd's testsuite is the model), run against overlay and
 * native as root with real mounts in a private mount namespace: lifecycle and errors, labels,
 * usage, walk filters, merged views after layers with deletions, opaque directories and hard
 * links (the same from both), long overlay chains, diff round trips, crash recovery.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "common/common.h"
#include "helpers.h"
#include "snapshots/snapshots.h"

static char base[64];

struct drv {
	const char *name;
	int (*make)(const char *root, struct snapshotter **ret, struct wh_err **err);
};
static const struct drv drivers[] = {
	{"overlay", snapshotter_overlay_new},
	{"native", snapshotter_native_new},
};

static int group_setup(void **state)
{
	strcpy(base, "/tmp/snapshots-it-XXXXXX");
	wh_assert(mkdtemp(base));
	/* heavy churn goes to tmpfs (the root fs is slow after deletes) */
	wh_assert(mount("tmpfs", base, "tmpfs", 0, "size=2g,mode=0755") == 0);
	return 0;
}

static int group_teardown(void **state)
{
	wh_unmount_all(base, MNT_DETACH, NULL);
	rm_rf(base);
	return 0;
}

static char *root_for(const char *what, const struct drv *d)
{
	char *p = xasprintf("%s/%s-%s", base, what, d->name);
	rm_rf(p);
	return p;
}

static struct snapshotter *open_s(const struct drv *d, const char *root)
{
	struct snapshotter *s = NULL;
	cleanup_err struct wh_err *err = NULL;
	int r = d->make(root, &s, &err);
	if (r < 0)
		print_message("%s: %s\n", d->name, err->msg);
	wh_assert(r == 0);
	return s;
}

/* Prints the lines of x missing from y and the other way round. */
static void print_line_diff(const char *xn, const char *x, const char *yn, const char *y)
{
	for (int k = 0; k < 2; k++) {
		const char *p = k ? y : x, *other = k ? x : y;
		while (*p) {
			const char *e = strchr(p, '\n');
			size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
			cleanup_free char *line = xstrndup(p, n);
			bool found = false;
			for (const char *q = other; (q = strstr(q, line)); q++) {
				if (q == other || q[-1] == '\n') {
					found = true;
					break;
				}
			}
			if (!found)
				print_message("  only in %s: %s", k ? yn : xn, line);
			p += n;
		}
	}
}

/* Asserts two manifests are equal, printing the differing lines first. */
static void assert_same_tree(const char *xn, const char *x, const char *yn, const char *y)
{
	if (!streq(x, y))
		print_line_diff(xn, x, yn, y);
	assert_true(streq(x, y));
}

static char *mnt_dir(const char *name)
{
	char *p = xasprintf("%s/mnt-%s", base, name);
	mkdir(p, 0755);
	return p;
}

static void mount_ok(const struct wh_mount_list *m, const char *target)
{
	cleanup_err struct wh_err *err = NULL;
	int r = wh_mount_all(m, target, &err);
	if (r < 0)
		print_message("mount: %s\n", err->msg);
	assert_int_equal(r, 0);
}

static void umount_ok(const char *target)
{
	assert_int_equal(wh_unmount_all(target, 0, NULL), 0);
}

static int apply_tar(const struct wh_mount_list *m, const char *tar, size_t len,
		     struct layer_apply_result *res)
{
	size_t clen;
	cleanup_free char *gz = compress_buf("gzip", tar, len, &clen);
	cleanup_close int fd = buf_fd(gz, clen);
	cleanup_err struct wh_err *err = NULL;
	int r = layer_apply(m, fd, SNAPSHOTS_MEDIA_TYPE_TAR_GZIP, res, &err);
	if (r < 0)
		print_message("apply: %s\n", err->msg);
	return r;
}

static int count_cb(const struct snapshot_info *i, void *ud)
{
	(*(int *)ud)++;
	return 0;
}

static int walk_count(struct snapshotter *s, const char *filter, struct wh_err **err)
{
	int n = 0;
	char *f[] = {(char *)filter, NULL};
	int r = snapshotter_walk(s, filter ? f : NULL, count_cb, &n, err);
	return r < 0 ? r : n;
}

static void test_lifecycle(void **state)
{
	for (size_t di = 0; di < ARRAY_SIZE(drivers); di++) {
		const struct drv *d = &drivers[di];
		cleanup_free char *root = root_for("life", d);
		struct snapshotter *s = open_s(d, root);
		cleanup_free char *mnt = mnt_dir("life");
		struct wh_mount_list m = {0};
		char *labels[] = {(char *)"foo", (char *)"bar", (char *)"x.y/z", (char *)"1", NULL};
		cleanup_err struct wh_err *err = NULL;

		assert_int_equal(snapshotter_prepare(s, "a", NULL, labels, &m, &err), 0);
		assert_int_equal(m.n, 1);
		mount_ok(&m, mnt);
		assert_int_equal(run("echo hello > %s/hello && mkdir %s/d && echo x > %s/d/x", mnt,
				     mnt, mnt),
				 0);
		umount_ok(mnt);
		wh_mount_list_done(&m);

		/* errors */
		assert_int_equal(snapshotter_prepare(s, "a", NULL, NULL, &m, &err), -EEXIST);
		err = wh_err_free(err);
		assert_int_equal(snapshotter_prepare(s, "b", "nope", NULL, &m, &err), -ENOENT);
		err = wh_err_free(err);
		assert_int_equal(snapshotter_prepare(s, "b", "a", NULL, &m, &err), -EBUSY);
		assert_non_null(strstr(err->msg, "not committed"));
		err = wh_err_free(err);
		assert_int_equal(snapshotter_prepare(s, "", NULL, NULL, &m, &err), -EINVAL);
		err = wh_err_free(err);

		struct snapshot_usage u;
		assert_int_equal(snapshotter_usage(s, "a", &u, NULL), 0);
		assert_true(u.inodes >= 4);
		assert_true(u.size > 0);
		assert_int_equal(snapshotter_commit(s, "c1", "a", NULL, &err), 0);
		struct snapshot_usage u2;
		assert_int_equal(snapshotter_usage(s, "c1", &u2, NULL), 0);
		assert_int_equal(u.inodes, u2.inodes);
		struct snapshot_info info;
		assert_int_equal(snapshotter_stat(s, "a", &info, &err), -ENOENT);
		err = wh_err_free(err);
		assert_int_equal(snapshotter_stat(s, "c1", &info, NULL), 0);
		assert_string_equal(info.name, "c1");
		assert_null(info.parent);
		assert_int_equal(info.kind, SNAPSHOT_KIND_COMMITTED);
		assert_string_equal(snapshot_labels_get(info.labels, "foo"), "bar");
		assert_string_equal(snapshot_labels_get(info.labels, "x.y/z"), "1");
		assert_true(info.created_ns > 0 && info.updated_ns >= info.created_ns);
		snapshot_info_done(&info);
		assert_int_equal(snapshotter_mounts(s, "c1", &m, &err), -EBUSY);
		err = wh_err_free(err);

		/* children */
		assert_int_equal(snapshotter_prepare(s, "b", "c1", NULL, &m, &err), 0);
		mount_ok(&m, mnt);
		assert_int_equal(run("test \"$(cat %s/hello)\" = hello && rm %s/hello && echo y > "
				     "%s/d/y",
				     mnt, mnt, mnt),
				 0);
		umount_ok(mnt);
		wh_mount_list_done(&m);
		assert_int_equal(snapshotter_mounts(s, "b", &m, NULL), 0);
		wh_mount_list_done(&m);
		assert_int_equal(snapshotter_commit(s, "c1", "b", NULL, &err), -EEXIST);
		err = wh_err_free(err);
		assert_int_equal(snapshotter_commit(s, "c2", "b", NULL, NULL), 0);
		assert_int_equal(snapshotter_stat(s, "c2", &info, NULL), 0);
		assert_string_equal(info.parent, "c1");
		snapshot_info_done(&info);

		/* views are read-only and cannot be committed */
		assert_int_equal(snapshotter_view(s, "v", "c2", NULL, &m, NULL), 0);
		mount_ok(&m, mnt);
		assert_int_equal(run("test ! -e %s/hello && test -e %s/d/x && test -e %s/d/y", mnt,
				     mnt, mnt),
				 0);
		assert_int_equal(run("touch %s/new 2>/dev/null", mnt) != 0, 1);
		umount_ok(mnt);
		wh_mount_list_done(&m);
		assert_int_equal(snapshotter_commit(s, "cv", "v", NULL, &err), -EBUSY);
		err = wh_err_free(err);
		assert_int_equal(snapshotter_view(s, "v1", "c1", NULL, &m, NULL), 0);
		mount_ok(&m, mnt);
		assert_int_equal(run("test -e %s/hello && ! touch %s/new 2>/dev/null", mnt, mnt),
				 0);
		umount_ok(mnt);
		wh_mount_list_done(&m);

		/* remove refuses while children exist */
		assert_int_equal(snapshotter_remove(s, "c1", &err), -EBUSY);
		assert_non_null(strstr(err->msg, "children"));
		err = wh_err_free(err);

		/* labels */
		char *upd[] = {(char *)"foo", (char *)"baz", (char *)"new", (char *)"n", NULL};
		struct snapshot_info ui = {.name = (char *)"c1", .labels = upd};
		char *fp1[] = {(char *)"labels.foo", (char *)"labels.x.y/z", NULL};
		assert_int_equal(snapshotter_update(s, &ui, fp1, &info, &err), 0);
		assert_string_equal(snapshot_labels_get(info.labels, "foo"), "baz");
		assert_null(snapshot_labels_get(info.labels, "x.y/z"));
		assert_null(snapshot_labels_get(info.labels, "new"));
		snapshot_info_done(&info);
		assert_int_equal(snapshotter_update(s, &ui, NULL, &info, NULL), 0);
		assert_string_equal(snapshot_labels_get(info.labels, "new"), "n");
		snapshot_info_done(&info);
		char *fp2[] = {(char *)"parent", NULL};
		assert_int_equal(snapshotter_update(s, &ui, fp2, NULL, &err), -EINVAL);
		err = wh_err_free(err);

		/* walk with filters */
		assert_int_equal(walk_count(s, NULL, NULL), 4);
		assert_int_equal(walk_count(s, "kind==committed", NULL), 2);
		assert_int_equal(walk_count(s, "kind==view", NULL), 2);
		assert_int_equal(walk_count(s, "labels.foo==baz", NULL), 1);
		assert_int_equal(walk_count(s, "parent==c1,kind==committed", NULL), 1);
		assert_int_equal(walk_count(s, "name~=^v", NULL), 2);
		assert_int_equal(walk_count(s, "labels.new", NULL), 1);
		assert_int_equal(walk_count(s, "labels.\"x.y/z\"==1", NULL), 0);
		assert_int_equal(walk_count(s, "kind==view,name==v", NULL), 1);
		assert_int_equal(walk_count(s, "kind==", &err), -EINVAL);
		err = wh_err_free(err);

		/* more bad input: each refused with the right code, nothing made */
		struct snapshot_info ghost = {.name = (char *)"ghost"};
		assert_int_equal(snapshotter_update(s, &ghost, NULL, NULL, &err), -ENOENT);
		err = wh_err_free(err);
		assert_int_equal(snapshotter_usage(s, "ghost", &u, &err), -ENOENT);
		err = wh_err_free(err);
		assert_int_equal(snapshotter_mounts(s, "ghost", &m, &err), -ENOENT);
		err = wh_err_free(err);
		assert_int_equal(snapshotter_commit(s, "x", "ghost", NULL, &err), -ENOENT);
		err = wh_err_free(err);
		char *odd[] = {(char *)"k", NULL};
		assert_int_equal(snapshotter_prepare(s, "odd", NULL, odd, &m, &err), -EINVAL);
		assert_non_null(strstr(err->msg, "'k' has no value"));
		err = wh_err_free(err);
		char *empty_key[] = {(char *)"", (char *)"v", NULL};
		assert_int_equal(snapshotter_prepare(s, "odd", NULL, empty_key, &m, &err), -EINVAL);
		err = wh_err_free(err);
		cleanup_free char *huge = xmalloc(5000);
		memset(huge, 'k', 4999);
		huge[4999] = 0;
		assert_int_equal(snapshotter_prepare(s, huge, NULL, NULL, &m, &err), -EINVAL);
		err = wh_err_free(err);
		assert_int_equal(snapshotter_stat(s, "odd", &info, &err), -ENOENT);
		err = wh_err_free(err);
		assert_int_equal(run("ls %s | grep -q '^new-'", root), 1);

		/* persistence */
		s = snapshotter_close(s);
		s = open_s(d, root);
		assert_int_equal(snapshotter_stat(s, "c2", &info, NULL), 0);
		assert_string_equal(info.parent, "c1");
		snapshot_info_done(&info);
		assert_int_equal(walk_count(s, NULL, NULL), 4);

		/* remove everything, leaves only the metadata */
		assert_int_equal(snapshotter_remove(s, "v", NULL), 0);
		assert_int_equal(snapshotter_remove(s, "v1", NULL), 0);
		assert_int_equal(snapshotter_remove(s, "c2", NULL), 0);
		assert_int_equal(snapshotter_remove(s, "c1", NULL), 0);
		assert_int_equal(snapshotter_remove(s, "c1", &err), -ENOENT);
		err = wh_err_free(err);
		assert_int_equal(run("test -z \"$(ls %s | grep -v '^metadata.db')\"", root), 0);
		s = snapshotter_close(s);
		rmdir(mnt);
	}
}

/* four layers: deletions, an opaque directory, hard links, a file replaced by a dir */
static char *layer(int i, size_t *len)
{
	struct tarb *t = tarb_new();
	switch (i) {
	case 0:
		tarb_dir(t, "etc/", 0755);
		tarb_file(t, "etc/a", 0644, "a0");
		tarb_file(t, "etc/b", 0600, "b0");
		tarb_dir(t, "opq/", 0755);
		tarb_file(t, "opq/old1", 0644, "1");
		tarb_dir(t, "opq/sub/", 0755);
		tarb_file(t, "opq/sub/old2", 0644, "2");
		tarb_file(t, "thing", 0644, "file");
		tarb_dir(t, "gone/", 0755);
		tarb_file(t, "gone/inner", 0644, "i");
		break;
	case 1:
		tarb_dir(t, "etc/", 0755);
		tarb_file(t, "etc/.wh.b", 0644, "");
		tarb_file_owned(t, "etc/c", 0640, 33, 44, 1500000000, "c1");
		tarb_hardlink(t, "etc/c-link", "etc/c");
		tarb_dir(t, "opq/", 0711);
		tarb_file(t, "opq/.wh..wh..opq", 0644, "");
		tarb_file(t, "opq/new", 0644, "n");
		tarb_file(t, ".wh.gone", 0644, "");
		break;
	case 2:
		tarb_file(t, ".wh.thing", 0644, "");
		tarb_dir(t, "thing/", 0755);
		tarb_file(t, "thing/now-a-dir", 0644, "d");
		tarb_symlink(t, "etc/sym", "../thing");
		tarb_fifo(t, "etc/fifo");
		tarb_xattr_file(t, "etc/xa", "user.k", "v");
		break;
	default:
		tarb_dir(t, "etc/", 0755);
		tarb_file(t, "etc/a", 0644, "a3 overwritten");
		tarb_dir(t, "gone/", 0700);
		tarb_file(t, "gone/back", 0644, "b");
		break;
	}
	return tarb_finish(t, len);
}

/* Builds the 4-layer chain; returns the manifest of the merged active view on top. */
static char *build_chain(const struct drv *d, struct snapshotter *s, char chain[4][DIGEST_STR_LEN])
{
	cleanup_free char *mnt = mnt_dir("chain");
	const char *diff_ids[4];
	struct layer_apply_result res[4];
	for (int i = 0; i < 4; i++) {
		size_t len;
		cleanup_free char *tar = layer(i, &len);
		cleanup_free char *key = xasprintf("extract-%d", i);
		struct wh_mount_list m = {0};
		cleanup_err struct wh_err *err = NULL;
		int r = snapshotter_prepare(s, key, i ? chain[i - 1] : NULL, NULL, &m, &err);
		assert_int_equal(r, 0);
		assert_int_equal(apply_tar(&m, tar, len, &res[i]), 0);
		wh_mount_list_done(&m);
		diff_ids[i] = res[i].diff_id;
		char cid[DIGEST_STR_LEN];
		assert_int_equal(snapshots_chain_id(diff_ids, (size_t)i + 1, cid, NULL), 0);
		memcpy(chain[i], cid, DIGEST_STR_LEN);
		assert_int_equal(snapshotter_commit(s, chain[i], key, NULL, NULL), 0);
	}
	struct wh_mount_list m = {0};
	assert_int_equal(snapshotter_prepare(s, "top", chain[3], NULL, &m, NULL), 0);
	mount_ok(&m, mnt);
	char *man = tree_manifest(mnt);
	umount_ok(mnt);
	wh_mount_list_done(&m);
	rmdir(mnt);
	return man;
}

static void test_merged_views(void **state)
{
	char *mans[2] = {NULL, NULL};
	for (size_t di = 0; di < ARRAY_SIZE(drivers); di++) {
		const struct drv *d = &drivers[di];
		cleanup_free char *root = root_for("merged", d);
		struct snapshotter *s = open_s(d, root);
		char chain[4][DIGEST_STR_LEN];
		mans[di] = build_chain(d, s, chain);
		const char *m = mans[di];
		print_message("%s merged view:\n%s", d->name, m);
		assert_non_null(strstr(m, "etc/a 100644 0:0 size=14"));
		assert_null(strstr(m, "etc/b "));
		assert_non_null(strstr(m, "etc/c 100640 33:44 size=2"));
		assert_non_null(strstr(m, "etc/c-link 100640 33:44 size=2"));
		assert_non_null(strstr(m, "link=etc/c"));
		assert_non_null(strstr(m, "opq 40711"));
		assert_non_null(strstr(m, "opq/new "));
		assert_null(strstr(m, "opq/old1"));
		assert_null(strstr(m, "opq/sub"));
		assert_null(strstr(m, "gone/inner"));
		assert_non_null(strstr(m, "gone 40700"));
		assert_non_null(strstr(m, "gone/back "));
		assert_non_null(strstr(m, "thing 40755"));
		assert_non_null(strstr(m, "thing/now-a-dir "));
		assert_non_null(strstr(m, "etc/sym 120777 0:0 -> ../thing"));
		assert_non_null(strstr(m, "etc/fifo 10640"));
		assert_non_null(strstr(m, "x:user.k=v"));
		assert_null(strstr(m, ".wh."));
		/* chain IDs are the same from both (they only depend on the layers) */
		struct snapshot_info info;
		assert_int_equal(snapshotter_stat(s, chain[3], &info, NULL), 0);
		assert_string_equal(info.parent, chain[2]);
		snapshot_info_done(&info);
		s = snapshotter_close(s);
	}
	assert_string_equal(mans[0], mans[1]);
	free(mans[0]);
	free(mans[1]);
}

static void test_long_chain(void **state)
{
	/* a root with a long path so that absolute lowerdirs overflow a page */
	for (size_t di = 0; di < ARRAY_SIZE(drivers); di++) {
		const struct drv *d = &drivers[di];
		char pad[201];
		memset(pad, 'p', 200);
		pad[200] = 0;
		cleanup_free char *root = xasprintf("%s/long-%s/%s/%s", base, d->name, pad, pad);
		struct snapshotter *s = open_s(d, root);
		cleanup_free char *mnt = mnt_dir("long");
		const int n = 120;
		char parent[32] = "";
		for (int i = 0; i < n; i++) {
			struct wh_mount_list m = {0};
			cleanup_free char *key = xasprintf("k%d", i);
			assert_int_equal(snapshotter_prepare(s, key, *parent ? parent : NULL, NULL,
							     &m, NULL),
					 0);
			struct tarb *t = tarb_new();
			cleanup_free char *name = xasprintf("f%03d", i);
			tarb_file(t, name, 0644, name);
			size_t len;
			cleanup_free char *tar = tarb_finish(t, &len);
			assert_int_equal(apply_tar(&m, tar, len, NULL), 0);
			wh_mount_list_done(&m);
			snprintf(parent, sizeof(parent), "c%d", i);
			assert_int_equal(snapshotter_commit(s, parent, key, NULL, NULL), 0);
		}
		struct wh_mount_list m = {0};
		assert_int_equal(snapshotter_prepare(s, "top", parent, NULL, &m, NULL), 0);
		size_t optlen = 0;
		strv_foreach(o, m.v[0].options)
			optlen += strlen(*o) + 1;
		if (di == 0)
			assert_true(optlen > 4096);
		mount_ok(&m, mnt);
		assert_int_equal(
			run("test $(ls %s | wc -l) -eq %d && test \"$(cat %s/f000)\" = f000 "
			    "&& echo w > %s/written",
			    mnt, n, mnt, mnt),
			0);
		umount_ok(mnt);
		wh_mount_list_done(&m);
		/* the read-only view of the whole chain mounts as well */
		assert_int_equal(snapshotter_view(s, "view", parent, NULL, &m, NULL), 0);
		mount_ok(&m, mnt);
		assert_int_equal(run("test $(ls %s | wc -l) -eq %d", mnt, n), 0);
		umount_ok(mnt);
		wh_mount_list_done(&m);
		s = snapshotter_close(s);
		rmdir(mnt);
	}
}

static void test_diff_roundtrip(void **state)
{
	for (size_t di = 0; di < ARRAY_SIZE(drivers); di++) {
		const struct drv *d = &drivers[di];
		cleanup_free char *root = root_for("rt", d);
		struct snapshotter *s = open_s(d, root);
		char chain[4][DIGEST_STR_LEN];
		cleanup_free char *want = build_chain(d, s, chain);
		/* each layer: diff(view of chain[i], view of chain[i-1]) applied onto a fresh
		 * chain gives the same merged view */
		char prev[DIGEST_STR_LEN] = "";
		for (int i = 0; i < 4; i++) {
			struct wh_mount_list up = {0}, low = {0};
			cleanup_free char *vk = xasprintf("view-%d", i);
			cleanup_free char *lk = xasprintf("lview-%d", i);
			assert_int_equal(snapshotter_view(s, vk, chain[i], NULL, &up, NULL), 0);
			if (i)
				assert_int_equal(
					snapshotter_view(s, lk, chain[i - 1], NULL, &low, NULL), 0);
			int fd = memfd_create("layer", MFD_CLOEXEC);
			struct layer_diff_result dr;
			cleanup_err struct wh_err *err = NULL;
			int r = layer_diff(&low, &up, LAYER_COMPRESSION_ZSTD, fd, &dr, &err);
			if (r < 0)
				print_message("diff: %s\n", err->msg);
			assert_int_equal(r, 0);
			wh_mount_list_done(&up);
			wh_mount_list_done(&low);
			lseek(fd, 0, SEEK_SET);
			cleanup_free char *key = xasprintf("re-%d", i);
			struct wh_mount_list m = {0};
			assert_int_equal(
				snapshotter_prepare(s, key, *prev ? prev : NULL, NULL, &m, NULL),
				0);
			struct layer_apply_result ar;
			r = layer_apply(&m, fd, dr.media_type, &ar, &err);
			if (r < 0)
				print_message("apply: %s\n", err->msg);
			assert_int_equal(r, 0);
			close(fd);
			assert_string_equal(ar.diff_id, dr.diff_id);
			wh_mount_list_done(&m);
			snprintf(prev, sizeof(prev), "re-c%d", i);
			assert_int_equal(snapshotter_commit(s, prev, key, NULL, NULL), 0);
		}
		struct wh_mount_list m = {0};
		cleanup_free char *mnt = mnt_dir("rt");
		assert_int_equal(snapshotter_view(s, "re-top", prev, NULL, &m, NULL), 0);
		mount_ok(&m, mnt);
		cleanup_free char *got = tree_manifest(mnt);
		umount_ok(mnt);
		wh_mount_list_done(&m);
		assert_same_tree("want", want, "got", got);

		/* the diff of an active snapshot against its parent, after changes */
		assert_int_equal(snapshotter_mounts(s, "top", &m, NULL), 0);
		mount_ok(&m, mnt);
		assert_int_equal(run("cd %s && rm etc/a && rm -r opq && echo z > etc/z && mkdir -p "
				     "new/dir && ln etc/z new/dir/zl",
				     mnt),
				 0);
		cleanup_free char *want2 = tree_manifest(mnt);
		umount_ok(mnt);
		struct wh_mount_list low = {0};
		assert_int_equal(snapshotter_view(s, "top-parent", chain[3], NULL, &low, NULL), 0);
		int fd = memfd_create("layer", MFD_CLOEXEC);
		struct layer_diff_result dr;
		assert_int_equal(layer_diff(&low, &m, LAYER_COMPRESSION_GZIP, fd, &dr, NULL), 0);
		wh_mount_list_done(&m);
		wh_mount_list_done(&low);
		lseek(fd, 0, SEEK_SET);
		assert_int_equal(snapshotter_prepare(s, "top2", chain[3], NULL, &m, NULL), 0);
		assert_int_equal(layer_apply(&m, fd, dr.media_type, NULL, NULL), 0);
		close(fd);
		mount_ok(&m, mnt);
		cleanup_free char *got2 = tree_manifest(mnt);
		umount_ok(mnt);
		wh_mount_list_done(&m);
		assert_same_tree("want", want2, "got", got2);
		s = snapshotter_close(s);
		rmdir(mnt);
	}
}

/* Runs fn in a child with the failpoint armed; expects it killed by SIGKILL. */
static void crash_at(const char *fp, const struct drv *d, const char *root,
		     void (*fn)(struct snapshotter *s))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("WHARF_SNAPSHOTS_FAILPOINT", fp, 1);
		struct snapshotter *s = NULL;
		if (d->make(root, &s, NULL) < 0)
			_exit(3);
		fn(s);
		_exit(4);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
}

static void do_prepare(struct snapshotter *s)
{
	snapshotter_prepare(s, "crash", "base", NULL, NULL, NULL);
}
static void do_commit(struct snapshotter *s)
{
	snapshotter_commit(s, "crash-committed", "active", NULL, NULL);
}
static void do_remove(struct snapshotter *s)
{
	snapshotter_remove(s, "victim", NULL);
}

static bool mounted_below(const char *dir)
{
	return run("grep -q ' %s/' /proc/self/mountinfo", dir) == 0;
}

static void test_crash_cleanup(void **state)
{
	for (size_t di = 0; di < ARRAY_SIZE(drivers); di++) {
		const struct drv *d = &drivers[di];
		cleanup_free char *root = root_for("crash", d);
		struct snapshotter *s = open_s(d, root);
		struct wh_mount_list m = {0};
		assert_int_equal(snapshotter_prepare(s, "b0", NULL, NULL, &m, NULL), 0);
		size_t len;
		cleanup_free char *tar = layer(0, &len);
		assert_int_equal(apply_tar(&m, tar, len, NULL), 0);
		wh_mount_list_done(&m);
		assert_int_equal(snapshotter_commit(s, "base", "b0", NULL, NULL), 0);
		assert_int_equal(snapshotter_prepare(s, "active", "base", NULL, NULL, NULL), 0);
		assert_int_equal(snapshotter_prepare(s, "victim", "base", NULL, NULL, NULL), 0);
		s = snapshotter_close(s);

		crash_at("prepare-dirs", d, root, do_prepare);
		crash_at("prepare-renamed", d, root, do_prepare);
		crash_at("commit-before-commit", d, root, do_commit);
		crash_at("remove-renamed", d, root, do_remove);
		assert_int_equal(run("ls %s | grep -q '^new-'", root), 0);
		/* a crash in the middle of work on a mount below an orphan */
		cleanup_free char *orphan = xasprintf("%s/new-zzzzzz/fs", root);
		assert_int_equal(mkdir_p(orphan, 0755), 0);
		assert_int_equal(mount("tmpfs", orphan, "tmpfs", 0, NULL), 0);
		cleanup_free char *orphan_id = xasprintf("%s/999", root);
		assert_int_equal(mkdir(orphan_id, 0755), 0);

		s = open_s(d, root);
		cleanup_err struct wh_err *err = NULL;
		int r = snapshotter_cleanup(s, &err);
		if (r < 0)
			print_message("cleanup: %s\n", err->msg);
		assert_int_equal(r, 0);
		assert_false(mounted_below(root));
		assert_int_equal(run("ls %s | grep -q -E '^(new-|rm-|999$)'", root), 1);
		struct snapshot_info info;
		assert_int_equal(snapshotter_stat(s, "crash", &info, &err), -ENOENT);
		err = wh_err_free(err);
		assert_int_equal(snapshotter_stat(s, "active", &info, NULL), 0);
		assert_int_equal(info.kind, SNAPSHOT_KIND_ACTIVE);
		snapshot_info_done(&info);
		/* the remove never committed: the victim is whole again */
		assert_int_equal(snapshotter_mounts(s, "victim", &m, NULL), 0);
		cleanup_free char *mnt = mnt_dir("crash");
		mount_ok(&m, mnt);
		assert_int_equal(run("test -e %s/etc/a", mnt), 0);
		umount_ok(mnt);
		wh_mount_list_done(&m);
		rmdir(mnt);
		/* and every snapshot still works end to end */
		assert_int_equal(snapshotter_remove(s, "victim", NULL), 0);
		assert_int_equal(snapshotter_remove(s, "active", NULL), 0);
		assert_int_equal(snapshotter_remove(s, "base", NULL), 0);
		assert_int_equal(snapshotter_cleanup(s, NULL), 0);
		assert_int_equal(run("test -z \"$(ls %s | grep -v '^metadata.db')\"", root), 0);
		s = snapshotter_close(s);
	}
}

static void test_overlay_detection(void **state)
{
	/* overlay cannot have its upper on an overlay: the snapshotter refuses to start there */
	cleanup_free char *dir = xasprintf("%s/ovl", base);
	cleanup_free char *merged = xasprintf("%s/merged", dir);
	assert_int_equal(run("mkdir -p %s/l %s/u %s/w %s", dir, dir, dir, merged), 0);
	cleanup_free char *opts =
		xasprintf("lowerdir=%s/l,upperdir=%s/u,workdir=%s/w", dir, dir, dir);
	assert_int_equal(mount("overlay", merged, "overlay", 0, opts), 0);
	cleanup_free char *inner = xasprintf("%s/root", merged);
	assert_true(snapshots_overlay_supported(base));
	assert_false(snapshots_overlay_supported(merged));
	struct snapshotter *s = NULL;
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(snapshotter_overlay_new(inner, &s, &err), -ENOTSUP);
	assert_non_null(strstr(err->msg, "native"));
	/* native works there */
	assert_int_equal(snapshotter_native_new(inner, &s, NULL), 0);
	s = snapshotter_close(s);
	assert_int_equal(umount2(merged, 0), 0);
}

/* Native copies are faithful: the child of a committed snapshot with every kind of entry
 * looks exactly like its parent (including directory times and a socket). */
static void test_native_copy_fidelity(void **state)
{
	const struct drv *d = &drivers[1];
	cleanup_free char *root = root_for("fidelity", d);
	struct snapshotter *s = open_s(d, root);
	cleanup_free char *mnt = mnt_dir("fid");
	struct wh_mount_list m = {0};
	assert_int_equal(snapshotter_prepare(s, "p", NULL, NULL, &m, NULL), 0);
	mount_ok(&m, mnt);
	assert_int_equal(
		run("set -e; cd %s; mkdir -p d/e; echo x > d/f; ln d/f d/e/g; ln -s /abs l;"
		    " mknod blk b 7 0; mknod chr c 1 5; mkfifo fifo; chmod 4711 d/f;"
		    " chown -h 5:6 l; setfattr -n user.a -v 1 d/f; setfattr -n trusted.t -v 2 d;"
		    " python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"sock\")';"
		    " truncate -s 1M sparse; touch -h -d @1500000000 l d/e d",
		    mnt),
		0);
	cleanup_free char *want = tree_manifest(mnt);
	umount_ok(mnt);
	wh_mount_list_done(&m);
	assert_int_equal(snapshotter_commit(s, "pc", "p", NULL, NULL), 0);
	assert_int_equal(snapshotter_prepare(s, "child", "pc", NULL, &m, NULL), 0);
	mount_ok(&m, mnt);
	cleanup_free char *got = tree_manifest(mnt);
	struct stat a, b;
	cleanup_free char *de = xasprintf("%s/d/e", mnt);
	assert_int_equal(stat(de, &a), 0);
	assert_int_equal(a.st_mtim.tv_sec, 1500000000);
	cleanup_free char *l = xasprintf("%s/l", mnt);
	assert_int_equal(lstat(l, &b), 0);
	assert_int_equal(b.st_mtim.tv_sec, 1500000000);
	assert_int_equal(b.st_uid, 5);
	umount_ok(mnt);
	wh_mount_list_done(&m);
	assert_same_tree("want", want, "got", got);
	assert_non_null(strstr(got, "sock 140755"));
	assert_non_null(strstr(got, "x:trusted.t=2"));
	s = snapshotter_close(s);
	rmdir(mnt);
}

struct worker {
	const struct drv *d;
	struct snapshotter *s;
	int id;
	int ok, exists;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 10; i++) {
		cleanup_free char *key = xasprintf("w%d-%d", w->id, i);
		cleanup_free char *name = xasprintf("w%d-c%d", w->id, i);
		struct wh_mount_list m = {0};
		if (snapshotter_prepare(w->s, key, "shared-base", NULL, &m, NULL) < 0)
			continue;
		struct tarb *t = tarb_new();
		cleanup_free char *f = xasprintf("from-%d-%d", w->id, i);
		tarb_file(t, f, 0644, f);
		size_t len;
		cleanup_free char *tar = tarb_finish(t, &len);
		int r = apply_tar(&m, tar, len, NULL);
		wh_mount_list_done(&m);
		if (r >= 0 && snapshotter_commit(w->s, name, key, NULL, NULL) >= 0)
			w->ok++;
		/* everybody races for the same key: exactly one wins each round */
		cleanup_free char *race = xasprintf("race-%d", i);
		r = snapshotter_prepare(w->s, race, NULL, NULL, NULL, NULL);
		if (r == -EEXIST)
			w->exists++;
		else if (r == 0)
			w->ok += 100;
	}
	return NULL;
}

static void test_concurrency(void **state)
{
	for (size_t di = 0; di < ARRAY_SIZE(drivers); di++) {
		const struct drv *d = &drivers[di];
		cleanup_free char *root = root_for("conc", d);
		struct snapshotter *s = open_s(d, root);
		assert_int_equal(snapshotter_prepare(s, "b", NULL, NULL, NULL, NULL), 0);
		assert_int_equal(snapshotter_commit(s, "shared-base", "b", NULL, NULL), 0);
		pthread_t th[4];
		struct worker w[4];
		for (int i = 0; i < 4; i++) {
			w[i] = (struct worker){d, s, i, 0, 0};
			assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
		}
		int ok = 0, exists = 0, won = 0;
		for (int i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			ok += w[i].ok % 100;
			won += w[i].ok / 100;
			exists += w[i].exists;
		}
		assert_int_equal(ok, 40);
		assert_int_equal(won, 10);
		assert_int_equal(exists, 30);
		assert_int_equal(walk_count(s, "parent==shared-base", NULL), 40);
		assert_int_equal(walk_count(s, NULL, NULL), 51);
		s = snapshotter_close(s);
	}
}

/* Layers that lean on lower layers: entries below directories they do not list, and hard
 * links to files of a lower layer. overlay copies up as overlay itself would; native and
 * overlay end up with the same merged view. */
static void test_entries_over_lower(void **state)
{
	char *mans[2] = {NULL, NULL};
	for (size_t di = 0; di < ARRAY_SIZE(drivers); di++) {
		const struct drv *d = &drivers[di];
		cleanup_free char *root = root_for("lower", d);
		struct snapshotter *s = open_s(d, root);
		struct tarb *t = tarb_new();
		struct wh_mount_list m = {0};
		tarb_dir(t, "usr/", 0750);
		tarb_dir(t, "usr/bin/", 0711);
		tarb_file_owned(t, "usr/bin/tool", 0755, 3, 4, 1400000000, "tool");
		size_t len;
		cleanup_free char *l0 = tarb_finish(t, &len);
		assert_int_equal(snapshotter_prepare(s, "a", NULL, NULL, &m, NULL), 0);
		assert_int_equal(apply_tar(&m, l0, len, NULL), 0);
		wh_mount_list_done(&m);
		assert_int_equal(
			run("chown 7:8 %s/*/fs/usr && chown 1:2 %s/*/fs/usr/bin", root, root), 0);
		assert_int_equal(snapshotter_commit(s, "A", "a", NULL, NULL), 0);
		t = tarb_new();
		tarb_file(t, "usr/bin/new", 0644, "new");
		tarb_hardlink(t, "usr/bin/tool2", "usr/bin/tool");
		tarb_hardlink(t, "usr/lib/tool3", "usr/bin/tool");
		cleanup_free char *l1 = tarb_finish(t, &len);
		assert_int_equal(snapshotter_prepare(s, "b", "A", NULL, &m, NULL), 0);
		assert_int_equal(apply_tar(&m, l1, len, NULL), 0);
		wh_mount_list_done(&m);
		assert_int_equal(snapshotter_commit(s, "B", "b", NULL, NULL), 0);
		assert_int_equal(snapshotter_view(s, "v", "B", NULL, &m, NULL), 0);
		cleanup_free char *mnt = mnt_dir("lower");
		mount_ok(&m, mnt);
		mans[di] = tree_manifest(mnt);
		umount_ok(mnt);
		wh_mount_list_done(&m);
		rmdir(mnt);
		print_message("%s:\n%s", d->name, mans[di]);
		assert_non_null(strstr(mans[di], "usr 40750 7:8\n"));
		assert_non_null(strstr(mans[di], "usr/bin 40711 1:2\n"));
		assert_non_null(strstr(mans[di], "link=usr/bin/tool\n"));
		assert_non_null(strstr(mans[di], "usr/lib/tool3 100755 3:4"));
		s = snapshotter_close(s);
	}
	assert_string_equal(mans[0], mans[1]);
	free(mans[0]);
	free(mans[1]);
}

static bool mountinfo_has(const char *target, const char *what)
{
	return run("grep ' %s ' /proc/self/mountinfo | grep -q -- '%s'", target, what) == 0;
}

/* The mount helper everyone uses: flags and data, targets below the mount point, propagation,
 * undo on failure, unsafe targets. */
static void test_mount_helper(void **state)
{
	cleanup_free char *mnt = mnt_dir("helper");
	struct wh_mount_list m = {0};
	char *o1[] = {(char *)"nosuid",	   (char *)"nodev",    (char *)"size=1m",
		      (char *)"mode=0710", (char *)"rprivate", NULL};
	char *o2[] = {(char *)"ro", (char *)"noexec", NULL};
	wh_mount_list_add(&m, "tmpfs", "tmpfs", NULL, o1);
	wh_mount_list_add(&m, "tmpfs", "tmpfs", "/inner", o2);
	/* the second mount needs its target made on the first */
	cleanup_err struct wh_err *err = NULL;
	assert_true(wh_mount_all(&m, mnt, &err) < 0);
	assert_non_null(strstr(err->msg, "mount 2 of 2"));
	err = wh_err_free(err);
	assert_false(mountinfo_has(mnt, "tmpfs")); /* the first one was undone */
	wh_mount_list_done(&m);

	wh_mount_list_add(&m, "tmpfs", "tmpfs", NULL, o1);
	mount_ok(&m, mnt);
	assert_true(mountinfo_has(mnt, "nosuid,nodev"));
	assert_true(mountinfo_has(mnt, "size=1024k"));
	assert_true(mountinfo_has(mnt, "mode=710"));
	cleanup_free char *inner = xasprintf("%s/inner", mnt);
	assert_int_equal(mkdir(inner, 0755), 0);
	struct wh_mount_list m2 = {0};
	wh_mount_list_add(&m2, "tmpfs", "tmpfs", "inner", o2);
	mount_ok(&m2, mnt);
	assert_true(mountinfo_has(inner, "ro,noexec"));
	wh_mount_list_done(&m2);
	/* a bind with ro is remounted read-only */
	cleanup_free char *b = xasprintf("%s/bind", base);
	mkdir(b, 0755);
	char *ob[] = {(char *)"ro", (char *)"rbind", NULL};
	wh_mount_list_add(&m2, "bind", inner, NULL, ob);
	mount_ok(&m2, b);
	assert_true(mountinfo_has(b, "ro"));
	assert_int_equal(wh_unmount_all(b, 0, NULL), 0);
	wh_mount_list_done(&m2);
	/* unsafe targets are refused */
	wh_mount_list_add(&m2, "tmpfs", "tmpfs", "../escape", o2);
	assert_int_equal(wh_mount_all(&m2, mnt, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "../escape"));
	wh_mount_list_done(&m2);
	/* unmount_all takes off the whole stack */
	mount_ok(&m, mnt);
	assert_int_equal(wh_unmount_all(mnt, MNT_DETACH, NULL), 0);
	assert_false(mountinfo_has(mnt, "tmpfs"));
	assert_int_equal(wh_unmount_all(mnt, 0, NULL), 0); /* not mounted: fine */
	wh_mount_list_done(&m);
	rmdir(mnt);
}

/* ---- randomized: changes made through real mounts, carried to the other snapshotter ---- */

static uint64_t rng_state;
static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((rng_state >> 33) % n);
}

static void collect(const char *dir, const char *rel, char ***files, char ***dirs)
{
	cleanup_free char *p = *rel ? xasprintf("%s/%s", dir, rel) : xstrdup(dir);
	DIR *d = opendir(p);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		cleanup_free char *r =
			*rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		cleanup_free char *full = xasprintf("%s/%s", dir, r);
		struct stat st;
		if (lstat(full, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			strv_push(dirs, r);
			collect(dir, r, files, dirs);
		} else if (S_ISREG(st.st_mode)) {
			strv_push(files, r);
		}
	}
	closedir(d);
}

static void random_changes(const char *mnt, int gen, int nops)
{
	for (int i = 0; i < nops; i++) {
		cleanup_strv char **files = NULL, **dirs = NULL;
		collect(mnt, "", &files, &dirs);
		strv_push(&dirs, "");
		size_t nf = strv_length(files), nd = strv_length(dirs);
		const char *d = dirs[rnd((unsigned)nd)];
		cleanup_free char *dpath = *d ? xasprintf("%s/%s", mnt, d) : xstrdup(mnt);
		cleanup_free char *fresh_name = xasprintf("%s/g%d-%d", dpath, gen, i);
		const char *f = nf ? files[rnd((unsigned)nf)] : NULL;
		cleanup_free char *fpath = f ? xasprintf("%s/%s", mnt, f) : NULL;
		switch (rnd(12)) {
		case 0:
		case 1: {
			cleanup_free char *data =
				xasprintf("data %d %d %u\n", gen, i, rnd(1000000));
			assert_int_equal(write_file_atomic(fresh_name, data, strlen(data), 0644),
					 0);
			break;
		}
		case 2:
			if (fpath)
				assert_int_equal(unlink(fpath), 0);
			break;
		case 3:
			assert_int_equal(mkdir(fresh_name, 0700 + rnd(0100)), 0);
			break;
		case 4:
			if (*d && rnd(3) == 0) {
				/* a whole directory goes, and one of that name comes back */
				assert_int_equal(rm_rf(dpath), 0);
				if (rnd(2))
					assert_int_equal(mkdir(dpath, 0755), 0);
			}
			break;
		case 5:
			if (fpath)
				assert_int_equal(chmod(fpath, 0600 + rnd(0200)), 0);
			break;
		case 6:
			if (fpath)
				assert_int_equal(link(fpath, fresh_name), 0);
			break;
		case 7:
			assert_int_equal(symlink(f ? f : "/nowhere", fresh_name), 0);
			break;
		case 8:
			if (fpath) {
				FILE *x = fopen(fpath, "ae");
				assert_non_null(x);
				fprintf(x, "more %d\n", i);
				fclose(x);
			}
			break;
		case 10:
			if (fpath) {
				cleanup_free char *v = xasprintf("v%u", rnd(100));
				assert_int_equal(setxattr(fpath, rnd(2) ? "user.a" : "user.b", v,
							  strlen(v), 0),
						 0);
			}
			break;
		case 11:
			if (*d)
				assert_int_equal(lchown(dpath, rnd(3), rnd(3)), 0);
			else if (fpath)
				assert_int_equal(lchown(fpath, 1000 + rnd(3), rnd(3)), 0);
			break;
		default:
			if (fpath)
				assert_int_equal(rename(fpath, fresh_name), 0);
			break;
		}
	}
}

static void random_carry_over(uint64_t seed_base);

static void test_random_carry_over(void **state)
{
	/* WHARF_SNAPSHOTS_SEEDS=n runs more seeds */
	const char *env = getenv("WHARF_SNAPSHOTS_SEEDS");
	int seeds = env ? atoi(env) : 3;
	for (int seed = 0; seed < seeds; seed++)
		random_carry_over(42 + (uint64_t)seed * 1000);
}

static void random_carry_over(uint64_t seed_base)
{
	for (size_t from = 0; from < 2; from++) {
		const struct drv *a = &drivers[from], *b = &drivers[1 - from];
		rng_state = seed_base + from;
		cleanup_free char *ra = root_for("rand-a", a);
		cleanup_free char *rb = root_for("rand-b", b);
		struct snapshotter *sa = open_s(a, ra), *sb = open_s(b, rb);
		cleanup_free char *mnt = mnt_dir("rand");
		const int gens = 6;
		for (int g = 0; g < gens; g++) {
			cleanup_free char *key = xasprintf("k%d", g);
			cleanup_free char *name = xasprintf("g%d", g);
			cleanup_free char *parent = g ? xasprintf("g%d", g - 1) : NULL;
			struct wh_mount_list m = {0};
			assert_int_equal(snapshotter_prepare(sa, key, parent, NULL, &m, NULL), 0);
			mount_ok(&m, mnt);
			random_changes(mnt, g, 40);
			umount_ok(mnt);
			/* the layer of this generation, from the active snapshot against its parent
			 */
			struct wh_mount_list low = {0};
			cleanup_free char *lk = xasprintf("low%d", g);
			if (parent)
				assert_int_equal(snapshotter_view(sa, lk, parent, NULL, &low, NULL),
						 0);
			int fd = memfd_create("layer", MFD_CLOEXEC);
			struct layer_diff_result dr;
			cleanup_err struct wh_err *err = NULL;
			int r = layer_diff(&low, &m, LAYER_COMPRESSION_GZIP, fd, &dr, &err);
			if (r < 0)
				print_message("diff: %s\n", err->msg);
			assert_int_equal(r, 0);
			wh_mount_list_done(&m);
			wh_mount_list_done(&low);
			assert_int_equal(snapshotter_commit(sa, name, key, NULL, NULL), 0);
			lseek(fd, 0, SEEK_SET);
			assert_int_equal(snapshotter_prepare(sb, key, parent, NULL, &m, NULL), 0);
			r = layer_apply(&m, fd, dr.media_type, NULL, &err);
			if (r < 0)
				print_message("apply: %s\n", err->msg);
			assert_int_equal(r, 0);
			close(fd);
			wh_mount_list_done(&m);
			assert_int_equal(snapshotter_commit(sb, name, key, NULL, NULL), 0);
			/* both chains show the same tree at every generation */
			char *mans[2];
			struct snapshotter *ss[2] = {sa, sb};
			for (int k = 0; k < 2; k++) {
				cleanup_free char *vk = xasprintf("cmp%d", g);
				assert_int_equal(snapshotter_view(ss[k], vk, name, NULL, &m, NULL),
						 0);
				mount_ok(&m, mnt);
				mans[k] = tree_manifest(mnt);
				umount_ok(mnt);
				wh_mount_list_done(&m);
			}
			if (!streq(mans[0], mans[1])) {
				print_message("generation %d (%s -> %s) differs:\n", g, a->name,
					      b->name);
				print_line_diff(a->name, mans[0], b->name, mans[1]);
			}
			assert_string_equal(mans[0], mans[1]);
			free(mans[0]);
			free(mans[1]);
		}
		sa = snapshotter_close(sa);
		sb = snapshotter_close(sb);
		rmdir(mnt);
	}
}

/* The generic paths: a diff whose lower is a multi-layer overlay view (mounted read-only on a
 * temporary directory) against a plain tree, and an apply through mounts that are neither an
 * overlay with an upperdir nor a plain bind (mounted, applied through, unmounted). */
static void test_generic_mount_paths(void **state)
{
	cleanup_free char *ro = root_for("gen", &drivers[0]);
	cleanup_free char *rn = root_for("gen", &drivers[1]);
	struct snapshotter *so = open_s(&drivers[0], ro), *sn = open_s(&drivers[1], rn);
	char co[4][DIGEST_STR_LEN], cn[4][DIGEST_STR_LEN];
	cleanup_free char *want = build_chain(&drivers[0], so, co);
	free(build_chain(&drivers[1], sn, cn));
	struct wh_mount_list low = {0}, up = {0};
	assert_int_equal(snapshotter_view(so, "low", co[2], NULL, &low, NULL), 0);
	assert_string_equal(low.v[0].type, "overlay");
	assert_int_equal(snapshotter_view(sn, "up", cn[3], NULL, &up, NULL), 0);
	assert_string_equal(up.v[0].type, "bind");
	int fd = memfd_create("layer", MFD_CLOEXEC);
	struct layer_diff_result dr;
	cleanup_err struct wh_err *err = NULL;
	int r = layer_diff(&low, &up, LAYER_COMPRESSION_ZSTD, fd, &dr, &err);
	if (r < 0)
		print_message("diff: %s\n", err->msg);
	assert_int_equal(r, 0);
	wh_mount_list_done(&low);
	wh_mount_list_done(&up);
	assert_int_equal(run("ls /tmp | grep -q wharf-diff-"), 1);
	assert_int_equal(run("grep -q /tmp/wharf- /proc/self/mountinfo"), 1);

	/* apply it through a "none" + rbind mount list onto a native child of layer 2 */
	struct wh_mount_list m = {0};
	assert_int_equal(snapshotter_prepare(sn, "again", cn[2], NULL, &m, NULL), 0);
	char *opts[] = {(char *)"rbind", (char *)"rw", NULL};
	struct wh_mount_list g = {0};
	wh_mount_list_add(&g, "none", m.v[0].source, NULL, opts);
	lseek(fd, 0, SEEK_SET);
	struct layer_apply_result ar;
	r = layer_apply(&g, fd, dr.media_type, &ar, &err);
	if (r < 0)
		print_message("apply: %s\n", err->msg);
	assert_int_equal(r, 0);
	close(fd);
	assert_string_equal(ar.diff_id, dr.diff_id);
	assert_int_equal(run("ls /tmp | grep -q wharf-apply-"), 1);
	assert_int_equal(run("grep -q /tmp/wharf- /proc/self/mountinfo"), 1);
	cleanup_free char *mnt = mnt_dir("gen");
	mount_ok(&m, mnt);
	cleanup_free char *got = tree_manifest(mnt);
	umount_ok(mnt);
	rmdir(mnt);
	wh_mount_list_done(&m);
	wh_mount_list_done(&g);
	assert_same_tree("overlay chain", want, "native, re-applied", got);
	so = snapshotter_close(so);
	sn = snapshotter_close(sn);
}

/* An upper directory written with overlay redirects is refused by diff, not misread. */
static void test_diff_refuses_redirects(void **state)
{
	const struct drv *d = &drivers[0];
	cleanup_free char *root = root_for("redirect", d);
	struct snapshotter *s = open_s(d, root);
	char chain[4][DIGEST_STR_LEN];
	free(build_chain(d, s, chain));
	struct wh_mount_list m = {0};
	assert_int_equal(snapshotter_mounts(s, "top", &m, NULL), 0);
	strv_push(&m.v[0].options, "redirect_dir=on");
	cleanup_free char *mnt = mnt_dir("redirect");
	mount_ok(&m, mnt);
	assert_int_equal(run("mv %s/gone %s/renamed", mnt, mnt), 0);
	umount_ok(mnt);
	rmdir(mnt);
	struct wh_mount_list low = {0};
	assert_int_equal(snapshotter_view(s, "parent", chain[3], NULL, &low, NULL), 0);
	int fd = memfd_create("layer", MFD_CLOEXEC);
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(layer_diff(&low, &m, LAYER_COMPRESSION_GZIP, fd, NULL, &err), -ENOTSUP);
	assert_non_null(strstr(err->msg, "'renamed'"));
	close(fd);
	wh_mount_list_done(&m);
	wh_mount_list_done(&low);
	s = snapshotter_close(s);
}

/* A very deep tree (1500 levels, names near PATH_MAX) goes through apply, copies, usage, mounts
 * and diff. */
static void test_deep_tree(void **state)
{
	for (size_t di = 0; di < ARRAY_SIZE(drivers); di++) {
		const struct drv *d = &drivers[di];
		cleanup_free char *root = root_for("deep", d);
		struct snapshotter *s = open_s(d, root);
		struct tarb *t = tarb_new();
		struct strbuf p = STRBUF_INIT;
		for (int i = 0; i < 1500; i++) {
			strbuf_adds(&p, "d/");
			tarb_dir(t, p.buf, 0755);
		}
		strbuf_adds(&p, "leaf");
		tarb_file(t, p.buf, 0644, "deep");
		size_t len;
		cleanup_free char *tar = tarb_finish(t, &len);
		struct wh_mount_list m = {0};
		assert_int_equal(snapshotter_prepare(s, "a", NULL, NULL, &m, NULL), 0);
		assert_int_equal(apply_tar(&m, tar, len, NULL), 0);
		wh_mount_list_done(&m);
		assert_int_equal(snapshotter_commit(s, "A", "a", NULL, NULL), 0);
		struct snapshot_usage u;
		assert_int_equal(snapshotter_usage(s, "A", &u, NULL), 0);
		assert_int_equal(u.inodes, 1502);
		assert_int_equal(snapshotter_prepare(s, "b", "A", NULL, &m, NULL), 0);
		cleanup_free char *mnt = mnt_dir("deep");
		mount_ok(&m, mnt);
		cleanup_free char *man = tree_manifest(mnt);
		assert_non_null(strstr(man, "/leaf 100644"));
		umount_ok(mnt);
		rmdir(mnt);
		struct wh_mount_list none = {0}, v = {0};
		assert_int_equal(snapshotter_view(s, "v", "A", NULL, &v, NULL), 0);
		int fd = memfd_create("layer", MFD_CLOEXEC);
		struct layer_diff_result dr;
		assert_int_equal(layer_diff(&none, &v, LAYER_COMPRESSION_NONE, fd, &dr, NULL), 0);
		char want[DIGEST_STR_LEN];
		digest_buf(tar, len, want);
		/* the layer written back is byte for byte the one applied (both pax by libarchive)
		 */
		assert_string_equal(dr.diff_id, want);
		close(fd);
		wh_mount_list_done(&v);
		wh_mount_list_done(&m);
		strbuf_release(&p);
		s = snapshotter_close(s);
	}
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "needs root\n");
		return 77;
	}
	/* a private mount namespace: nothing leaks to the host even if a test fails */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		perror("private mount namespace");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_merged_views),
		cmocka_unit_test(test_long_chain),
		cmocka_unit_test(test_diff_roundtrip),
		cmocka_unit_test(test_crash_cleanup),
		cmocka_unit_test(test_overlay_detection),
		cmocka_unit_test(test_native_copy_fidelity),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_entries_over_lower),
		cmocka_unit_test(test_mount_helper),
		cmocka_unit_test(test_random_carry_over),
		cmocka_unit_test(test_generic_mount_paths),
		cmocka_unit_test(test_diff_refuses_redirects),
		cmocka_unit_test(test_deep_tree),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

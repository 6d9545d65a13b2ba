/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the garbage collector: chains of gc.ref labels across namespaces, leases and
 * their expiry, gc.root, snapshot parents and removal order, ingests, and a collector running in
 * another process while commits go on.
 */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <sys/wait.h>

#include "common/common.h"
#include "content/content.h"
#include "metadata/metadata.h"

/* cmocka.h needs these before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define S(x) ((char *)(x))

struct fixture {
	char dir[64];
	char *dbpath, *content;
	struct content_store *cs;
	struct meta_db *db;
};

static int setup(void **state)
{
	struct fixture *f = xnew0(struct fixture, 1);

	snprintf(f->dir, sizeof(f->dir), "/tmp/content-gc-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->content = path_join(f->dir, "content");
	f->dbpath = path_join(f->dir, "metadata.db");
	if (content_store_open(f->content, &f->cs, NULL) < 0 ||
	    meta_db_open(f->dbpath, f->cs, &f->db, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	meta_db_close(f->db);
	content_store_free(f->cs);
	rm_rf(f->dir);
	free(f->dbpath);
	free(f->content);
	free(f);
	return 0;
}

static void put(struct fixture *f, const char *ns, const char *data, char *const *labels,
		const char *lease, char out[DIGEST_STR_LEN])
{
	cleanup_err struct wh_err *err = NULL;
	struct meta_writer *w = NULL;
	int r = meta_writer_open(f->db, ns, data, 0, NULL, lease, &w, &err);

	if (r >= 0)
		r = meta_writer_write(w, data, strlen(data), &err);
	if (r >= 0)
		r = meta_writer_commit(w, 0, NULL, labels, out, &err);
	meta_writer_free(w);
	if (r < 0)
		fail_msg("put '%s' in %s: %s", data, ns, wh_err_msg(err));
}

static bool has(struct fixture *f, const char *ns, const char *dg)
{
	struct meta_content_info info;

	if (meta_content_info(f->db, ns, dg, &info, NULL) < 0)
		return false;
	meta_content_info_release(&info);
	return true;
}

static bool has_snap(struct fixture *f, const char *ns, const char *key)
{
	struct meta_snapshot s;

	if (meta_snapshot_get(f->db, ns, "overlayfs", key, &s, NULL) < 0)
		return false;
	meta_snapshot_release(&s);
	return true;
}

static struct meta_gc_stats gc(struct fixture *f)
{
	cleanup_err struct wh_err *err = NULL;
	struct meta_gc_stats st;

	if (meta_gc(f->db, NULL, NULL, &st, &err) < 0)
		fail_msg("gc: %s", wh_err_msg(err));
	return st;
}

/* image -> index -> manifest -> {config, layer}, plus a stray blob */
static void test_image_chain(void **state)
{
	struct fixture *f = *state;
	char layer[DIGEST_STR_LEN], config[DIGEST_STR_LEN], manifest[DIGEST_STR_LEN];
	char index[DIGEST_STR_LEN], stray[DIGEST_STR_LEN];
	struct meta_gc_stats st;

	put(f, "default", "layer-data", NULL, NULL, layer);
	put(f, "default", "config-data", NULL, NULL, config);
	{
		char *l[] = {S("containerd.io/gc.ref.content.config"), config,
			     S("containerd.io/gc.ref.content.l.0"), layer, NULL};
		put(f, "default", "manifest-data", l, NULL, manifest);
	}
	{
		char *l[] = {S("containerd.io/gc.ref.content.m.0"), manifest, NULL};
		put(f, "default", "index-data", l, NULL, index);
	}
	put(f, "default", "stray-data", NULL, NULL, stray);
	struct meta_image img = {
		.name = S("example.com/app:1"),
		.target = {.media_type = S("application/vnd.oci.image.index.v1+json")}};
	memcpy(img.target.digest, index, DIGEST_STR_LEN);
	assert_int_equal(meta_image_create(f->db, "default", &img, NULL), 0);

	st = gc(f);
	assert_int_equal(st.content_removed, 1);
	assert_int_equal(st.blobs_removed, 1);
	assert_false(has(f, "default", stray));
	assert_false(content_exists(f->cs, stray));
	assert_true(has(f, "default", index) && has(f, "default", manifest));
	assert_true(has(f, "default", config) && has(f, "default", layer));

	/* a second run finds nothing */
	st = gc(f);
	assert_int_equal(st.content_removed + st.blobs_removed, 0);

	assert_int_equal(meta_image_delete(f->db, "default", "example.com/app:1", NULL), 0);
	st = gc(f);
	assert_int_equal(st.content_removed, 4);
	assert_int_equal(st.blobs_removed, 4);
	assert_false(content_exists(f->cs, layer));
	assert_false(content_exists(f->cs, index));
}

/* the same blob in two namespaces: each namespace's reference counts only there */
static void test_across_namespaces(void **state)
{
	struct fixture *f = *state;
	char layer[DIGEST_STR_LEN], cfg_a[DIGEST_STR_LEN], cfg_b[DIGEST_STR_LEN];
	struct meta_gc_stats st;

	put(f, "ns-a", "common-layer", NULL, NULL, layer);
	put(f, "ns-b", "common-layer", NULL, NULL, layer);
	{
		char *l[] = {S("containerd.io/gc.ref.content.l.0"), layer,
			     S("containerd.io/gc.root"), S("2024-01-01T00:00:00Z"), NULL};
		put(f, "ns-a", "config-a", l, NULL, cfg_a);
	}
	/* ns-b's config references the layer, but nothing roots the config in ns-b */
	{
		char *l[] = {S("containerd.io/gc.ref.content.l.0"), layer, NULL};
		put(f, "ns-b", "config-b", l, NULL, cfg_b);
	}
	st = gc(f);
	assert_int_equal(st.content_removed, 2); /* ns-b's config and layer rows */
	assert_int_equal(st.blobs_removed, 1);	 /* config-b; the layer is still ns-a's */
	assert_true(has(f, "ns-a", layer) && has(f, "ns-a", cfg_a));
	assert_false(has(f, "ns-b", layer) || has(f, "ns-b", cfg_b));
	assert_true(content_exists(f->cs, layer));
	assert_false(content_exists(f->cs, cfg_b));

	/* drop the root label: everything goes */
	{
		char *none[] = {NULL};
		const char *paths[] = {"labels.containerd.io/gc.root", NULL};
		assert_int_equal(meta_content_update(f->db, "ns-a", cfg_a, none, paths, NULL), 0);
	}
	st = gc(f);
	assert_int_equal(st.content_removed, 2);
	assert_int_equal(st.blobs_removed, 2);
	assert_false(content_exists(f->cs, layer));
}

static void test_leases_and_expiry(void **state)
{
	struct fixture *f = *state;
	char *past[] = {S("containerd.io/gc.expire"), S("2001-01-01T00:00:00Z"), NULL};
	char *future[] = {S("containerd.io/gc.expire"), S("2999-01-01T00:00:00Z"), NULL};
	char a[DIGEST_STR_LEN], b[DIGEST_STR_LEN], c[DIGEST_STR_LEN], child[DIGEST_STR_LEN];
	struct meta_lease *v = NULL;
	struct meta_gc_stats st;
	size_t n = 0;

	assert_int_equal(meta_lease_create(f->db, "default", "plain", NULL, NULL), 0);
	assert_int_equal(meta_lease_create(f->db, "default", "expired", past, NULL), 0);
	assert_int_equal(meta_lease_create(f->db, "default", "later", future, NULL), 0);
	put(f, "default", "child-of-a", NULL, NULL, child);
	{
		/* a leased blob keeps what it references */
		char *l[] = {S("containerd.io/gc.ref.content"), child, NULL};
		put(f, "default", "in-plain", l, "plain", a);
	}
	put(f, "default", "in-expired", NULL, "expired", b);
	put(f, "default", "in-later", NULL, "later", c);

	st = gc(f);
	assert_int_equal(st.leases_expired, 1);
	assert_int_equal(st.content_removed, 1);
	assert_true(has(f, "default", a) && has(f, "default", child) && has(f, "default", c));
	assert_false(has(f, "default", b));
	assert_int_equal(meta_lease_list(f->db, "default", NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	meta_leases_free(v, n);

	assert_int_equal(meta_lease_delete(f->db, "default", "plain", NULL), 0);
	st = gc(f);
	assert_int_equal(st.content_removed, 2);
	assert_false(has(f, "default", a) || has(f, "default", child));
	assert_true(has(f, "default", c));
}

struct removed {
	char **order; /* "snapshotter:backend" */
	int fail_on;  /* index of the call that fails, -1 none */
	int calls;
};

static int remove_cb(void *userdata, const char *snapshotter, const char *backend_key,
		     struct wh_err **err)
{
	struct removed *r = userdata;

	if (r->calls++ == r->fail_on)
		return wh_err_setx(err, EIO, "backend refuses '%s'", backend_key);
	strv_consume(&r->order, xasprintf("%s:%s", snapshotter, backend_key));
	return 0;
}

static void add_snap(struct fixture *f, const char *ns, const char *key, const char *parent,
		     enum meta_snapshot_kind kind, char *const *labels)
{
	struct meta_snapshot s = {.snapshotter = S("overlayfs"),
				  .key = S(key),
				  .backend_key = xasprintf("id-%s", key),
				  .parent = S(parent),
				  .kind = kind,
				  .labels = (char **)labels};
	cleanup_err struct wh_err *err = NULL;

	if (meta_snapshot_create(f->db, ns, &s, NULL, &err) < 0)
		fail_msg("snapshot %s: %s", key, wh_err_msg(err));
	free(s.backend_key);
}

static void test_snapshots(void **state)
{
	struct fixture *f = *state;
	struct removed rm = {.fail_on = -1};
	char cfg[DIGEST_STR_LEN], snapcontent[DIGEST_STR_LEN];
	cleanup_err struct wh_err *err = NULL;
	struct meta_gc_stats st;

	/* a container's rw layer keeps its parents */
	add_snap(f, "default", "l1", NULL, META_SNAPSHOT_COMMITTED, NULL);
	add_snap(f, "default", "l2", "l1", META_SNAPSHOT_COMMITTED, NULL);
	add_snap(f, "default", "rw", "l2", META_SNAPSHOT_ACTIVE, NULL);
	struct meta_container c = {.id = S("ctr"),
				   .runtime_name = S("io.containerd.runc.v2"),
				   .snapshotter = S("overlayfs"),
				   .snapshot_key = S("rw")};
	assert_int_equal(meta_container_create(f->db, "default", &c, NULL), 0);
	/* an unpacked image: config content labels its top snapshot (containerd's unpacker) */
	add_snap(f, "default", "u1", NULL, META_SNAPSHOT_COMMITTED, NULL);
	{
		char *l[] = {S("containerd.io/gc.ref.content.x"), S(""), NULL};
		put(f, "default", "snap-labelled-content", NULL, NULL, snapcontent);
		l[1] = snapcontent;
		add_snap(f, "default", "u2", "u1", META_SNAPSHOT_COMMITTED, l);
	}
	{
		char *l[] = {S("containerd.io/gc.ref.snapshot.overlayfs"), S("u2"),
			     S("containerd.io/gc.root"), S("x"), NULL};
		put(f, "default", "unpacked-config", l, NULL, cfg);
	}
	/* an orphan chain o1 <- o2 <- o3, and o2 <- o4 */
	add_snap(f, "default", "o1", NULL, META_SNAPSHOT_COMMITTED, NULL);
	add_snap(f, "default", "o2", "o1", META_SNAPSHOT_COMMITTED, NULL);
	add_snap(f, "default", "o3", "o2", META_SNAPSHOT_ACTIVE, NULL);
	add_snap(f, "default", "o4", "o2", META_SNAPSHOT_VIEW, NULL);
	/* the same key in another namespace, unreferenced */
	add_snap(f, "other", "l1", NULL, META_SNAPSHOT_COMMITTED, NULL);

	assert_int_equal(meta_gc(f->db, remove_cb, &rm, &st, &err), 0);
	assert_int_equal(st.snapshots_removed, 5);
	assert_int_equal(st.errors, 0);
	assert_int_equal(strv_length(rm.order), 5);
	/* children before parents */
	for (size_t i = 0; rm.order[i]; i++) {
		if (streq(rm.order[i], "overlayfs:id-o2")) {
			assert_true(strv_contains(rm.order, "overlayfs:id-o3"));
			for (size_t j = i; rm.order[j]; j++)
				assert_false(streq(rm.order[j], "overlayfs:id-o3") ||
					     streq(rm.order[j], "overlayfs:id-o4"));
		}
	}
	assert_string_equal(rm.order[strv_length(rm.order) - 1], "overlayfs:id-o1");
	assert_true(has_snap(f, "default", "rw") && has_snap(f, "default", "l2") &&
		    has_snap(f, "default", "l1"));
	assert_true(has_snap(f, "default", "u2") && has_snap(f, "default", "u1"));
	assert_true(has(f, "default", snapcontent) && has(f, "default", cfg));
	assert_false(has_snap(f, "default", "o1") || has_snap(f, "default", "o4"));
	assert_false(has_snap(f, "other", "l1"));
	strv_free(rm.order);

	/* deleting the container frees rw, l2, l1; a failing backend is reported */
	assert_int_equal(meta_container_delete(f->db, "default", "ctr", NULL), 0);
	rm = (struct removed){.fail_on = 0};
	assert_int_equal(meta_gc(f->db, remove_cb, &rm, &st, &err), -EIO);
	assert_non_null(strstr(err->msg, "backend refuses 'id-rw'"));
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.snapshots_removed, 2);
	assert_int_equal(strv_length(rm.order), 2);
	assert_string_equal(rm.order[1], "overlayfs:id-l1");
	strv_free(rm.order);
	assert_false(has_snap(f, "default", "rw"));
}

/* image and container labels reference content and snapshots too (containerd 1.7) */
static void test_object_label_refs(void **state)
{
	struct fixture *f = *state;
	char sig[DIGEST_STR_LEN], target[DIGEST_STR_LEN], bogus[DIGEST_STR_LEN];

	put(f, "default", "signature", NULL, NULL, sig);
	put(f, "default", "target", NULL, NULL, target);
	put(f, "default", "unrelated", NULL, NULL, bogus);
	add_snap(f, "default", "extra-snap", NULL, META_SNAPSHOT_COMMITTED, NULL);
	add_snap(f, "default", "lost-snap", NULL, META_SNAPSHOT_COMMITTED, NULL);
	{
		/* a malformed reference is ignored, not fatal */
		char *l[] = {S("containerd.io/gc.ref.content.sig"),
			     sig,
			     S("containerd.io/gc.ref.content.bad"),
			     S("sha256:zzz"),
			     S("containerd.io/gc.ref.contentx"),
			     bogus,
			     NULL};
		struct meta_image img = {.name = S("signed:1"),
					 .target = {.media_type = S("application/json")},
					 .labels = l};
		memcpy(img.target.digest, target, DIGEST_STR_LEN);
		assert_int_equal(meta_image_create(f->db, "default", &img, NULL), 0);
	}
	{
		char *l[] = {S("containerd.io/gc.ref.snapshot.overlayfs/extra"), S("extra-snap"),
			     NULL};
		struct meta_container c = {
			.id = S("c1"), .runtime_name = S("io.containerd.runc.v2"), .labels = l};
		assert_int_equal(meta_container_create(f->db, "default", &c, NULL), 0);
	}
	gc(f);
	assert_true(has(f, "default", sig) && has(f, "default", target));
	assert_false(has(f, "default", bogus));
	assert_true(has_snap(f, "default", "extra-snap"));
	assert_false(has_snap(f, "default", "lost-snap"));
}

static void test_leased_snapshot(void **state)
{
	struct fixture *f = *state;
	struct meta_snapshot s = {.snapshotter = S("overlayfs"),
				  .key = S("extract-1"),
				  .backend_key = S("9"),
				  .kind = META_SNAPSHOT_ACTIVE};

	assert_int_equal(meta_lease_create(f->db, "default", "unpack", NULL, NULL), 0);
	assert_int_equal(meta_snapshot_create(f->db, "default", &s, "unpack", NULL), 0);
	gc(f);
	assert_true(has_snap(f, "default", "extract-1"));
	assert_int_equal(meta_lease_delete(f->db, "default", "unpack", NULL), 0);
	gc(f);
	assert_false(has_snap(f, "default", "extract-1"));
}

static void expire_ingests(struct fixture *f)
{
	sqlite3 *raw = NULL;

	/* stands for 24 hours passing */
	assert_int_equal(sqlite3_open(f->dbpath, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw,
				      "UPDATE ingests SET expires = 0 WHERE "
				      "expires != 9223372036854775807",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(raw);
}

static void test_ingests(void **state)
{
	struct fixture *f = *state;
	struct meta_writer *leased = NULL, *plain = NULL;
	struct content_status cst;
	struct meta_gc_stats st;
	char dg[DIGEST_STR_LEN];

	assert_int_equal(meta_lease_create(f->db, "default", "pull", NULL, NULL), 0);
	assert_int_equal(
		meta_writer_open(f->db, "default", "leased", 0, NULL, "pull", &leased, NULL), 0);
	assert_int_equal(meta_writer_write(leased, "half", 4, NULL), 0);
	assert_int_equal(meta_writer_open(f->db, "default", "plain", 0, NULL, NULL, &plain, NULL),
			 0);
	assert_int_equal(meta_writer_write(plain, "dropped", 7, NULL), 0);
	meta_writer_free(plain); /* the client went away */

	/* fresh ingests are not touched */
	st = gc(f);
	assert_int_equal(st.ingests_removed, 0);
	expire_ingests(f);
	st = gc(f);
	assert_int_equal(st.ingests_removed, 1);
	assert_int_equal(meta_content_status(f->db, "default", "plain", &cst, NULL), -ENOENT);
	assert_int_equal(meta_content_status(f->db, "default", "leased", &cst, NULL), 0);
	assert_int_equal(cst.offset, 4);
	content_status_release(&cst);
	/* the leased ingest finishes; its content is leased */
	assert_int_equal(meta_writer_write(leased, " done", 5, NULL), 0);
	assert_int_equal(meta_writer_commit(leased, 0, NULL, NULL, dg, NULL), 0);
	meta_writer_free(leased);
	gc(f);
	assert_true(has(f, "default", dg));
}

static void test_orphan_blob(void **state)
{
	struct fixture *f = *state;
	struct content_writer *w = NULL;
	char dg[DIGEST_STR_LEN];
	struct meta_gc_stats st;

	/* a commit that crashed between the store and the metadata row */
	assert_int_equal(content_writer_open(f->cs, "raw", 0, NULL, &w, NULL), 0);
	assert_int_equal(content_writer_write(w, "orphan", 6, NULL), 0);
	assert_int_equal(content_writer_commit(w, 0, NULL, dg, NULL), 0);
	content_writer_free(w);
	st = gc(f);
	assert_int_equal(st.blobs_removed, 1);
	assert_false(content_exists(f->cs, dg));
}

/* A collector in another process, looping, while this one commits under a lease. */
static void test_concurrent_gc(void **state)
{
	struct fixture *f = *state;
	char dgs[40][DIGEST_STR_LEN];
	int status = 0;
	pid_t pid;

	assert_int_equal(meta_lease_create(f->db, "default", "busy", NULL, NULL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct content_store *cs = NULL;
		struct meta_db *db = NULL;
		if (content_store_open(f->content, &cs, NULL) < 0 ||
		    meta_db_open(f->dbpath, cs, &db, NULL) < 0)
			_exit(2);
		for (;;) {
			if (meta_gc(db, NULL, NULL, NULL, NULL) < 0)
				_exit(3);
			usleep(500); /* flock is not fair: let commits in */
		}
	}
	for (int i = 0; i < 40; i++) {
		char data[32];
		snprintf(data, sizeof(data), "concurrent-%d", i);
		put(f, "default", data, NULL, "busy", dgs[i]);
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status)); /* it never failed on its own */
	for (int i = 0; i < 40; i++) {
		assert_true(has(f, "default", dgs[i]));
		assert_true(content_exists(f->cs, dgs[i]));
	}
	assert_int_equal(meta_db_integrity_check(f->db, NULL), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_image_chain), T(test_across_namespaces), T(test_leases_and_expiry),
		T(test_snapshots),   T(test_leased_snapshot),	T(test_object_label_refs),
		T(test_ingests),     T(test_orphan_blob),	T(test_concurrent_gc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of metadata/: the database (WAL, schema version, integrity), namespaces, images,
 * containers, snapshot records and leases, with their errors.
 */
#include <errno.h>
#include <sqlite3.h>
#include <unistd.h>

#include <sys/wait.h>

#include "common/common.h"
#include "common/filter.h"
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
#define DG_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DG_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct fixture {
	char dir[64];
	char *dbpath;
	struct content_store *cs;
	struct meta_db *db;
};

static int setup(void **state)
{
	struct fixture *f = xnew0(struct fixture, 1);
	cleanup_free char *content = NULL;

	snprintf(f->dir, sizeof(f->dir), "/tmp/content-meta-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	content = path_join(f->dir, "content");
	f->dbpath = path_join(f->dir, "metadata.db");
	if (content_store_open(content, &f->cs, NULL) < 0)
		return -1;
	if (meta_db_open(f->dbpath, f->cs, &f->db, NULL) < 0)
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
	free(f);
	return 0;
}

#define assert_err(expr, code, text)                                              \
	do {                                                                      \
		cleanup_err struct wh_err *_e = NULL;                             \
		int _r = (expr);                                                  \
		if (_r != -(code) || !_e || !strstr(_e->msg, (text)))             \
			fail_msg("%s: got %d '%s', want %d with '%s'", #expr, _r, \
				 _e ? _e->msg : "", -(code), (text));             \
	} while (0)
/* expressions inside assert_err use `&_e` as their error */
#define E (&_e)

static void test_db_open(void **state)
{
	struct fixture *f = *state;
	struct meta_db *db2 = NULL;
	sqlite3 *raw = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(meta_db_schema_version(f->db, NULL), META_SCHEMA_VERSION);
	assert_int_equal(meta_db_integrity_check(f->db, NULL), 0);
	/* WAL mode is persistent in the file */
	assert_int_equal(sqlite3_open(f->dbpath, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	/* a file from the future is refused */
	assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 99", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(raw);
	assert_err(meta_db_open(f->dbpath, f->cs, &db2, E), EPROTONOSUPPORT, "newer");
	assert_null(db2);
	assert_err(meta_db_open("", f->cs, &db2, E), EINVAL, "need a path");
	assert_err(meta_db_open(f->dbpath, NULL, &db2, E), EINVAL, "content store");
	assert_err(meta_db_open("/proc/nonexistent/dir/x.db", f->cs, &db2, E), ENOENT,
		   "open metadata '/proc/nonexistent/dir/x.db'");
}

/* Several processes creating the same fresh database at once all succeed (one migrates). */
static void test_db_concurrent_create(void **state)
{
	struct fixture *f = *state;
	cleanup_free char *fresh = path_join(f->dir, "fresh.db");
	pid_t pids[4];

	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct meta_db *db = NULL;
			struct wh_err *e = NULL;
			if (meta_db_open(fresh, f->cs, &db, &e) < 0) {
				fprintf(stderr, "child %zu: %s\n", i, wh_err_msg(e));
				_exit(1);
			}
			_exit(meta_db_schema_version(db, NULL) == META_SCHEMA_VERSION ? 0 : 2);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		int status = 0;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

static void test_db_reopen_keeps_data(void **state)
{
	struct fixture *f = *state;
	cleanup_strv char **names = NULL;

	assert_int_equal(meta_namespace_create(f->db, "keep", NULL, NULL), 0);
	f->db = meta_db_close(f->db);
	assert_int_equal(meta_db_open(f->dbpath, f->cs, &f->db, NULL), 0);
	assert_int_equal(meta_namespace_list(f->db, &names, NULL), 0);
	assert_int_equal(strv_length(names), 1);
	assert_string_equal(names[0], "keep");
}

static void test_namespaces(void **state)
{
	struct fixture *f = *state;
	char *labels[] = {S("team"), S("infra"), NULL};
	cleanup_strv char **got = NULL, **names = NULL;

	assert_int_equal(meta_namespace_create(f->db, "default", labels, NULL), 0);
	assert_int_equal(meta_namespace_create(f->db, "k8s.io", NULL, NULL), 0);
	assert_err(meta_namespace_create(f->db, "default", NULL, E), EEXIST, "already exists");
	assert_int_equal(meta_namespace_get(f->db, "default", &got, NULL), 0);
	assert_string_equal(meta_labels_get(got, "team"), "infra");
	assert_int_equal(meta_namespace_set_label(f->db, "default", "team", "apps", NULL), 0);
	assert_int_equal(meta_namespace_set_label(f->db, "default", "extra", "1", NULL), 0);
	strv_free(got);
	assert_int_equal(meta_namespace_get(f->db, "default", &got, NULL), 0);
	assert_string_equal(meta_labels_get(got, "team"), "apps");
	assert_string_equal(meta_labels_get(got, "extra"), "1");
	assert_int_equal(meta_namespace_set_label(f->db, "default", "extra", NULL, NULL), 0);
	strv_free(got);
	assert_int_equal(meta_namespace_get(f->db, "default", &got, NULL), 0);
	assert_null(meta_labels_get(got, "extra"));
	assert_int_equal(meta_namespace_list(f->db, &names, NULL), 0);
	assert_int_equal(strv_length(names), 2);
	assert_string_equal(names[0], "default");
	assert_string_equal(names[1], "k8s.io");
	assert_int_equal(meta_namespace_delete(f->db, "k8s.io", NULL), 0);
	assert_err(meta_namespace_delete(f->db, "k8s.io", E), ENOENT, "not found");
	assert_err(meta_namespace_get(f->db, "k8s.io", &got, E), ENOENT, "not found");
	assert_err(meta_namespace_set_label(f->db, "nope", "a", "b", E), ENOENT, "not found");
}

static void test_invalid_namespaces(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"-lead", "trail-", "a..b", "with space", "a/b", "ä",
		/* 80 characters: over the 76 allowed */
		"01234567890123456789012345678901234567890123456789012345678901234567890123456789"};
	struct meta_image img = {.name = S("x"), .target = {.media_type = S("m"), .digest = DG_A}};
	cleanup_strv char **got = NULL;

	assert_err(meta_namespace_create(f->db, NULL, NULL, E), EINVAL, "namespace required");
	assert_err(meta_namespace_create(f->db, "", NULL, E), EINVAL, "namespace required");
	assert_err(meta_image_create(f->db, NULL, &img, E), EINVAL, "namespace required");
	assert_err(meta_image_list(f->db, "", NULL, &(struct meta_image *){NULL}, &(size_t){0}, E),
		   EINVAL, "namespace required");
	assert_err(meta_lease_create(f->db, NULL, "l", NULL, E), EINVAL, "namespace required");
	assert_err(meta_content_walk(f->db, "", NULL, NULL, NULL, E), EINVAL, "namespace required");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_err(meta_namespace_create(f->db, bad[i], NULL, E), EINVAL, "namespace");
		assert_err(meta_namespace_get(f->db, bad[i], &got, E), EINVAL, "namespace");
	}
}

static int noop_walk(const struct meta_content_info *info, void *userdata)
{
	return 0;
}

/* Every namespaced call refuses a missing namespace with the same clear error. */
static void test_every_call_needs_namespace(void **state)
{
	struct fixture *f = *state;
	struct meta_image img = {.name = S("x"), .target = {.media_type = S("m"), .digest = DG_A}};
	struct meta_container c = {.id = S("c"), .runtime_name = S("r")};
	struct meta_snapshot s = {.snapshotter = S("native"),
				  .key = S("k"),
				  .backend_key = S("1"),
				  .kind = META_SNAPSHOT_ACTIVE};
	struct meta_lease_resource res = {.type = S("content"), .id = S(DG_A)};
	struct meta_content_info info;
	struct content_status st, *sv = NULL;
	struct content_reader *rd = NULL;
	struct meta_writer *w = NULL;
	struct meta_image gi, *iv = NULL;
	struct meta_container gc, *cv = NULL;
	struct meta_snapshot gs, *snv = NULL;
	struct meta_lease *lv = NULL;
	struct meta_lease_resource *rv = NULL;
	cleanup_strv char **kv = NULL;
	size_t n = 0;

	for (int i = 0; i < 2; i++) {
		const char *ns = i ? "" : NULL;
#define NS_REQUIRED(expr) assert_err(expr, EINVAL, "namespace required")
		NS_REQUIRED(meta_namespace_create(f->db, ns, NULL, E));
		NS_REQUIRED(meta_namespace_get(f->db, ns, &kv, E));
		NS_REQUIRED(meta_namespace_set_label(f->db, ns, "k", "v", E));
		NS_REQUIRED(meta_namespace_delete(f->db, ns, E));
		NS_REQUIRED(meta_image_create(f->db, ns, &img, E));
		NS_REQUIRED(meta_image_get(f->db, ns, "x", &gi, E));
		NS_REQUIRED(meta_image_update(f->db, ns, &img, NULL, E));
		NS_REQUIRED(meta_image_list(f->db, ns, NULL, &iv, &n, E));
		NS_REQUIRED(meta_image_delete(f->db, ns, "x", E));
		NS_REQUIRED(meta_container_create(f->db, ns, &c, E));
		NS_REQUIRED(meta_container_get(f->db, ns, "c", &gc, E));
		NS_REQUIRED(meta_container_update(f->db, ns, &c, NULL, E));
		NS_REQUIRED(meta_container_list(f->db, ns, NULL, &cv, &n, E));
		NS_REQUIRED(meta_container_delete(f->db, ns, "c", E));
		NS_REQUIRED(meta_writer_open(f->db, ns, "r", 0, NULL, NULL, &w, E));
		NS_REQUIRED(meta_content_info(f->db, ns, DG_A, &info, E));
		NS_REQUIRED(meta_content_update(f->db, ns, DG_A, NULL, NULL, E));
		NS_REQUIRED(meta_content_walk(f->db, ns, NULL, noop_walk, NULL, E));
		NS_REQUIRED(meta_content_delete(f->db, ns, DG_A, E));
		NS_REQUIRED(meta_content_reader_open(f->db, ns, DG_A, &rd, E));
		NS_REQUIRED(meta_content_list_statuses(f->db, ns, NULL, &sv, &n, E));
		NS_REQUIRED(meta_content_status(f->db, ns, "r", &st, E));
		NS_REQUIRED(meta_content_abort(f->db, ns, "r", E));
		NS_REQUIRED(meta_snapshot_create(f->db, ns, &s, NULL, E));
		NS_REQUIRED(meta_snapshot_get(f->db, ns, "native", "k", &gs, E));
		NS_REQUIRED(meta_snapshot_update(f->db, ns, &s, NULL, E));
		NS_REQUIRED(
			meta_snapshot_commit(f->db, ns, "native", "k", "n", NULL, NULL, NULL, E));
		NS_REQUIRED(meta_snapshot_list(f->db, ns, NULL, NULL, &snv, &n, E));
		NS_REQUIRED(meta_snapshot_delete(f->db, ns, "native", "k", E));
		NS_REQUIRED(meta_lease_create(f->db, ns, "l", NULL, E));
		NS_REQUIRED(meta_lease_list(f->db, ns, NULL, &lv, &n, E));
		NS_REQUIRED(meta_lease_delete(f->db, ns, "l", E));
		NS_REQUIRED(meta_lease_add_resource(f->db, ns, "l", &res, E));
		NS_REQUIRED(meta_lease_delete_resource(f->db, ns, "l", &res, E));
		NS_REQUIRED(meta_lease_list_resources(f->db, ns, "l", &rv, &n, E));
#undef NS_REQUIRED
	}
	/* nothing was created on the way */
	assert_int_equal(meta_namespace_list(f->db, &kv, NULL), 0);
	assert_null(kv);
}

static void test_namespace_delete_only_when_empty(void **state)
{
	struct fixture *f = *state;
	struct meta_image img = {.name = S("busybox"),
				 .target = {.media_type = S("application/x"), .digest = DG_A}};

	/* creating an object creates its namespace */
	assert_int_equal(meta_image_create(f->db, "busy", &img, NULL), 0);
	assert_int_equal(meta_lease_create(f->db, "busy", "l1", NULL, NULL), 0);
	assert_err(meta_namespace_delete(f->db, "busy", E), EBUSY,
		   "namespace 'busy' must be empty, but it still has images, leases");
	assert_int_equal(meta_image_delete(f->db, "busy", "busybox", NULL), 0);
	assert_int_equal(meta_lease_delete(f->db, "busy", "l1", NULL), 0);
	assert_int_equal(meta_namespace_delete(f->db, "busy", NULL), 0);
}

static void test_images(void **state)
{
	struct fixture *f = *state;
	char *ann[] = {S("org.opencontainers.image.ref.name"), S("latest"), NULL};
	char *labels[] = {S("app"), S("web"), S("tier"), S("front"), NULL};
	struct meta_image img = {
		.name = S("docker.io/library/nginx:latest"),
		.target = {.media_type = S("application/vnd.oci.image.index.v1+json"),
			   .digest = DG_A,
			   .size = 1234,
			   .annotations = ann},
		.labels = labels};
	struct meta_image got = {0}, *v = NULL;
	cleanup_filter struct filter *fl = NULL;
	size_t n = 0;

	assert_int_equal(meta_image_create(f->db, "ns1", &img, NULL), 0);
	assert_err(meta_image_create(f->db, "ns1", &img, E), EEXIST, "already exists");
	/* the same name in another namespace is another image */
	assert_int_equal(meta_image_create(f->db, "ns2", &img, NULL), 0);
	assert_int_equal(meta_image_get(f->db, "ns1", img.name, &got, NULL), 0);
	assert_string_equal(got.name, img.name);
	assert_string_equal(got.target.media_type, img.target.media_type);
	assert_string_equal(got.target.digest, DG_A);
	assert_int_equal(got.target.size, 1234);
	assert_string_equal(
		meta_labels_get(got.target.annotations, "org.opencontainers.image.ref.name"),
		"latest");
	assert_string_equal(meta_labels_get(got.labels, "tier"), "front");
	assert_true(got.created_ns > 0 && got.updated_ns >= got.created_ns);
	meta_image_release(&got);

	/* update one label only */
	{
		char *nl[] = {S("tier"), S("back"), S("app"), S("ignored"), NULL};
		const char *paths[] = {"labels.tier", NULL};
		struct meta_image up = img;
		up.labels = nl;
		memcpy(up.target.digest, DG_B, sizeof(DG_B));
		assert_int_equal(meta_image_update(f->db, "ns1", &up, paths, NULL), 0);
		assert_int_equal(meta_image_get(f->db, "ns1", img.name, &got, NULL), 0);
		assert_string_equal(meta_labels_get(got.labels, "tier"), "back");
		assert_string_equal(meta_labels_get(got.labels, "app"), "web");
		assert_string_equal(got.target.digest, DG_A); /* target not in paths */
		meta_image_release(&got);
		const char *tpaths[] = {"target", NULL};
		assert_int_equal(meta_image_update(f->db, "ns1", &up, tpaths, NULL), 0);
		assert_int_equal(meta_image_get(f->db, "ns1", img.name, &got, NULL), 0);
		assert_string_equal(got.target.digest, DG_B);
		meta_image_release(&got);
		const char *bad[] = {"name", NULL};
		assert_err(meta_image_update(f->db, "ns1", &up, bad, E), EINVAL,
			   "cannot update 'name'");
		up.name = S("missing");
		assert_err(meta_image_update(f->db, "ns1", &up, NULL, E), ENOENT, "not found");
	}

	img.name = S("docker.io/library/alpine:3");
	img.labels = NULL;
	assert_int_equal(meta_image_create(f->db, "ns1", &img, NULL), 0);
	assert_int_equal(filter_parse("name~=nginx", &fl, NULL), 0);
	assert_int_equal(meta_image_list(f->db, "ns1", fl, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].name, "docker.io/library/nginx:latest");
	meta_images_free(v, n);
	fl = filter_free(fl);
	assert_int_equal(filter_parse("labels.app==web,target.digest==" DG_B, &fl, NULL), 0);
	assert_int_equal(meta_image_list(f->db, "ns1", fl, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	meta_images_free(v, n);
	assert_int_equal(meta_image_list(f->db, "ns1", NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	meta_images_free(v, n);

	assert_int_equal(meta_image_delete(f->db, "ns1", "docker.io/library/nginx:latest", NULL),
			 0);
	assert_err(meta_image_delete(f->db, "ns1", "docker.io/library/nginx:latest", E), ENOENT,
		   "not found");
	assert_err(meta_image_get(f->db, "ns1", "docker.io/library/nginx:latest", &got, E), ENOENT,
		   "not found");
	/* still there in ns2 */
	assert_int_equal(meta_image_get(f->db, "ns2", "docker.io/library/nginx:latest", &got, NULL),
			 0);
	meta_image_release(&got);
}

static void test_image_errors(void **state)
{
	struct fixture *f = *state;
	struct meta_image img = {.name = S("x"), .target = {.media_type = S("m"), .digest = "bad"}};
	char *odd[] = {S("k"), NULL};
	char big[5000];

	assert_err(meta_image_create(f->db, "ns", &img, E), EINVAL, "invalid target digest");
	memcpy(img.target.digest, DG_A, sizeof(DG_A));
	img.name = S("");
	assert_err(meta_image_create(f->db, "ns", &img, E), EINVAL, "image name required");
	img.name = S("x");
	img.target.media_type = NULL;
	assert_err(meta_image_create(f->db, "ns", &img, E), EINVAL, "media type required");
	img.target.media_type = S("m");
	img.labels = odd;
	assert_err(meta_image_create(f->db, "ns", &img, E), EINVAL, "odd number");
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	char *huge[] = {S("k"), big, NULL};
	img.labels = huge;
	assert_err(meta_image_create(f->db, "ns", &img, E), EINVAL, "maximum size");
}

static void test_containers(void **state)
{
	struct fixture *f = *state;
	char *labels[] = {S("io.kubernetes.pod"), S("web-1"), NULL};
	struct meta_extension ext[] = {
		{.name = S("ext.a"),
		 .any = {.type_url = S("types/A"), .value = S("\x01\x02"), .len = 2}},
		{.name = S("ext.b"),
		 .any = {.type_url = S("types/B"), .value = S("bee"), .len = 3}},
	};
	struct meta_container c = {
		.id = S("ctr-1"),
		.labels = labels,
		.image = S("docker.io/library/busybox:latest"),
		.runtime_name = S("io.containerd.runc.v2"),
		.runtime_options = {.type_url = S("containerd.runc.v1.Options"),
				    .value = S("\x08\x01\x00\x7f"),
				    .len = 4},
		.spec = {.type_url = S("types.containerd.io/opencontainers/runtime-spec/1/Spec"),
			 .value = S("{\"ociVersion\":\"1.0.2\"}"),
			 .len = 22},
		.snapshotter = S("overlayfs"),
		.snapshot_key = S("ctr-1-snap"),
		.extensions = ext,
		.n_extensions = 2,
	};
	struct meta_container got = {0}, *v = NULL;
	cleanup_filter struct filter *fl = NULL;
	size_t n = 0;

	assert_int_equal(meta_container_create(f->db, "default", &c, NULL), 0);
	assert_err(meta_container_create(f->db, "default", &c, E), EEXIST, "already exists");
	assert_int_equal(meta_container_get(f->db, "default", "ctr-1", &got, NULL), 0);
	assert_string_equal(got.image, c.image);
	assert_string_equal(got.runtime_name, c.runtime_name);
	assert_string_equal(got.runtime_options.type_url, c.runtime_options.type_url);
	assert_int_equal(got.runtime_options.len, 4);
	assert_memory_equal(got.runtime_options.value, "\x08\x01\x00\x7f", 4);
	assert_int_equal(got.spec.len, 22);
	assert_memory_equal(got.spec.value, c.spec.value, 22);
	assert_string_equal(got.snapshotter, "overlayfs");
	assert_string_equal(got.snapshot_key, "ctr-1-snap");
	assert_int_equal(got.n_extensions, 2);
	assert_string_equal(got.extensions[1].name, "ext.b");
	assert_memory_equal(got.extensions[1].any.value, "bee", 3);
	assert_string_equal(meta_labels_get(got.labels, "io.kubernetes.pod"), "web-1");
	meta_container_release(&got);

	/* updates: image and one extension; runtime and snapshotter are immutable */
	{
		struct meta_container up = c;
		struct meta_extension ext2[] = {
			{.name = S("ext.b"),
			 .any = {.type_url = S("types/B2"), .value = S("B"), .len = 1}},
		};
		const char *paths[] = {"image", "extensions.ext.b", NULL};
		up.image = S("docker.io/library/alpine:latest");
		up.extensions = ext2;
		up.n_extensions = 1;
		assert_int_equal(meta_container_update(f->db, "default", &up, paths, NULL), 0);
		assert_int_equal(meta_container_get(f->db, "default", "ctr-1", &got, NULL), 0);
		assert_string_equal(got.image, "docker.io/library/alpine:latest");
		assert_int_equal(got.n_extensions, 2);
		assert_string_equal(got.extensions[1].any.type_url, "types/B2");
		assert_string_equal(got.extensions[0].any.type_url, "types/A");
		assert_true(got.updated_ns >= got.created_ns);
		meta_container_release(&got);
		up.runtime_name = S("io.containerd.wharf.v2");
		assert_err(meta_container_update(f->db, "default", &up, paths, E), EINVAL,
			   "runtime is immutable");
		up.runtime_name = c.runtime_name;
		up.snapshotter = S("native");
		assert_err(meta_container_update(f->db, "default", &up, paths, E), EINVAL,
			   "snapshotter is immutable");
		up.snapshotter = c.snapshotter;
		const char *bad[] = {"id", NULL};
		assert_err(meta_container_update(f->db, "default", &up, bad, E), EINVAL,
			   "cannot update 'id'");
		up.id = S("missing");
		assert_err(meta_container_update(f->db, "default", &up, NULL, E), ENOENT,
			   "not found");
	}

	c.id = S("ctr-2");
	c.labels = NULL;
	c.snapshotter = c.snapshot_key = NULL;
	assert_int_equal(meta_container_create(f->db, "default", &c, NULL), 0);
	assert_int_equal(filter_parse("labels.\"io.kubernetes.pod\"==web-1", &fl, NULL), 0);
	assert_int_equal(meta_container_list(f->db, "default", fl, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, "ctr-1");
	meta_containers_free(v, n);
	fl = filter_free(fl);
	assert_int_equal(filter_parse("runtime.name==io.containerd.runc.v2", &fl, NULL), 0);
	assert_int_equal(meta_container_list(f->db, "default", fl, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	meta_containers_free(v, n);
	assert_int_equal(meta_container_list(f->db, "other", NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 0);
	meta_containers_free(v, n);
	assert_int_equal(meta_container_delete(f->db, "default", "ctr-1", NULL), 0);
	assert_err(meta_container_delete(f->db, "default", "ctr-1", E), ENOENT, "not found");
	assert_err(meta_container_get(f->db, "default", "ctr-1", &got, E), ENOENT, "not found");
}

static void test_container_errors(void **state)
{
	struct fixture *f = *state;
	struct meta_container c = {.id = S("bad id"), .runtime_name = S("r")};

	assert_err(meta_container_create(f->db, "default", &c, E), EINVAL, "container id");
	c.id = S("ok");
	c.runtime_name = NULL;
	assert_err(meta_container_create(f->db, "default", &c, E), EINVAL, "runtime name required");
	c.runtime_name = S("r");
	c.snapshot_key = S("k");
	assert_err(meta_container_create(f->db, "default", &c, E), EINVAL, "without a snapshotter");
}

static void test_snapshots(void **state)
{
	struct fixture *f = *state;
	char *labels[] = {S("containerd.io/snapshot.ref"), S("sha256:layer"), NULL};
	struct meta_snapshot base = {.snapshotter = S("overlayfs"),
				     .key = S("layer-1"),
				     .backend_key = S("1"),
				     .kind = META_SNAPSHOT_COMMITTED,
				     .labels = labels};
	struct meta_snapshot act = {.snapshotter = S("overlayfs"),
				    .key = S("ctr-rw"),
				    .backend_key = S("2"),
				    .parent = S("layer-1"),
				    .kind = META_SNAPSHOT_ACTIVE};
	struct meta_snapshot got = {0}, *v = NULL;
	cleanup_filter struct filter *fl = NULL;
	size_t n = 0;

	assert_int_equal(meta_snapshot_create(f->db, "default", &base, NULL, NULL), 0);
	assert_err(meta_snapshot_create(f->db, "default", &base, NULL, E), EEXIST,
		   "already exists");
	assert_int_equal(meta_snapshot_create(f->db, "default", &act, NULL, NULL), 0);
	/* an active snapshot cannot be a parent; a missing parent is not found */
	act.key = S("child-of-active");
	act.parent = S("ctr-rw");
	assert_err(meta_snapshot_create(f->db, "default", &act, NULL, E), EINVAL,
		   "not a committed");
	act.parent = S("missing");
	assert_err(meta_snapshot_create(f->db, "default", &act, NULL, E), ENOENT, "not found");
	/* another namespace does not see the parent */
	act.parent = S("layer-1");
	assert_err(meta_snapshot_create(f->db, "other", &act, NULL, E), ENOENT, "not found");
	act.kind = 7;
	assert_err(meta_snapshot_create(f->db, "default", &act, NULL, E), EINVAL, "invalid kind");
	act.kind = META_SNAPSHOT_VIEW;
	act.backend_key = NULL;
	assert_err(meta_snapshot_create(f->db, "default", &act, NULL, E), EINVAL, "backend key");
	act.backend_key = S("3");
	act.snapshotter = S("bad/name");
	assert_err(meta_snapshot_create(f->db, "default", &act, NULL, E), EINVAL, "snapshotter");
	act.snapshotter = S("overlayfs");
	assert_err(meta_snapshot_create(f->db, "default", &act, S("no-lease"), E), ENOENT,
		   "lease 'no-lease' not found");

	assert_int_equal(meta_snapshot_get(f->db, "default", "overlayfs", "ctr-rw", &got, NULL), 0);
	assert_string_equal(got.parent, "layer-1");
	assert_string_equal(got.backend_key, "2");
	assert_int_equal(got.kind, META_SNAPSHOT_ACTIVE);
	meta_snapshot_release(&got);

	{
		char *nl[] = {S("x"), S("y"), NULL};
		const char *paths[] = {"labels.x", NULL};
		struct meta_snapshot up = base;
		up.labels = nl;
		assert_int_equal(meta_snapshot_update(f->db, "default", &up, paths, NULL), 0);
		assert_int_equal(
			meta_snapshot_get(f->db, "default", "overlayfs", "layer-1", &got, NULL), 0);
		assert_string_equal(meta_labels_get(got.labels, "x"), "y");
		assert_string_equal(meta_labels_get(got.labels, "containerd.io/snapshot.ref"),
				    "sha256:layer");
		meta_snapshot_release(&got);
		const char *bad[] = {"parent", NULL};
		assert_err(meta_snapshot_update(f->db, "default", &up, bad, E), EINVAL,
			   "only labels");
	}

	assert_int_equal(filter_parse("kind==committed", &fl, NULL), 0);
	assert_int_equal(meta_snapshot_list(f->db, "default", "overlayfs", fl, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].key, "layer-1");
	meta_snapshots_free(v, n);
	fl = filter_free(fl);
	assert_int_equal(filter_parse("parent==layer-1", &fl, NULL), 0);
	assert_int_equal(meta_snapshot_list(f->db, "default", NULL, fl, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].key, "ctr-rw");
	meta_snapshots_free(v, n);
	assert_int_equal(meta_snapshot_list(f->db, "default", "native", NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 0);
	meta_snapshots_free(v, n);

	assert_err(meta_snapshot_delete(f->db, "default", "overlayfs", "layer-1", E), EBUSY,
		   "with child");
	assert_int_equal(meta_snapshot_delete(f->db, "default", "overlayfs", "ctr-rw", NULL), 0);
	assert_int_equal(meta_snapshot_delete(f->db, "default", "overlayfs", "layer-1", NULL), 0);
	assert_err(meta_snapshot_delete(f->db, "default", "overlayfs", "layer-1", E), ENOENT,
		   "not found");
}

static void test_snapshot_commit(void **state)
{
	struct fixture *f = *state;
	char *labels[] = {S("containerd.io/snapshot.ref"), S("sha256:diff"), NULL};
	struct meta_snapshot base = {.snapshotter = S("overlayfs"),
				     .key = S("base"),
				     .backend_key = S("1"),
				     .kind = META_SNAPSHOT_COMMITTED};
	struct meta_snapshot act = {.snapshotter = S("overlayfs"),
				    .key = S("extract-2"),
				    .backend_key = S("2"),
				    .parent = S("base"),
				    .kind = META_SNAPSHOT_ACTIVE};
	struct meta_lease_resource *rv = NULL;
	struct meta_snapshot got = {0};
	size_t n = 0;

	assert_int_equal(meta_snapshot_create(f->db, "default", &base, NULL, NULL), 0);
	assert_int_equal(meta_snapshot_create(f->db, "default", &act, NULL, NULL), 0);
	assert_int_equal(meta_lease_create(f->db, "default", "unpack", NULL, NULL), 0);
	assert_err(meta_snapshot_commit(f->db, "default", "overlayfs", "base", "x", NULL, NULL,
					NULL, E),
		   EINVAL, "not active");
	assert_err(meta_snapshot_commit(f->db, "default", "overlayfs", "extract-2", "base", NULL,
					NULL, NULL, E),
		   EEXIST, "already exists");
	assert_err(meta_snapshot_commit(f->db, "default", "overlayfs", "nope", "x", NULL, NULL,
					NULL, E),
		   ENOENT, "not found");
	assert_err(meta_snapshot_commit(f->db, "default", "overlayfs", "extract-2", "x", NULL, NULL,
					"no-lease", E),
		   ENOENT, "lease");
	assert_int_equal(meta_snapshot_commit(f->db, "default", "overlayfs", "extract-2",
					      "sha256:chain", "3", labels, "unpack", NULL),
			 0);
	assert_int_equal(
		meta_snapshot_get(f->db, "default", "overlayfs", "sha256:chain", &got, NULL), 0);
	assert_int_equal(got.kind, META_SNAPSHOT_COMMITTED);
	assert_string_equal(got.parent, "base");
	assert_string_equal(got.backend_key, "3");
	assert_string_equal(meta_labels_get(got.labels, "containerd.io/snapshot.ref"),
			    "sha256:diff");
	meta_snapshot_release(&got);
	assert_err(meta_snapshot_get(f->db, "default", "overlayfs", "extract-2", &got, E), ENOENT,
		   "not found");
	assert_int_equal(meta_lease_list_resources(f->db, "default", "unpack", &rv, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rv[0].type, "snapshots/overlayfs");
	assert_string_equal(rv[0].id, "sha256:chain");
	meta_lease_resources_free(rv, n);
}

static void test_leases(void **state)
{
	struct fixture *f = *state;
	char *labels[] = {S("containerd.io/gc.expire"), S("2099-01-02T03:04:05Z"), NULL};
	char *bad_exp[] = {S("containerd.io/gc.expire"), S("tomorrow"), NULL};
	struct meta_lease_resource res[] = {
		{.type = S("content"), .id = S(DG_A)},
		{.type = S("snapshots/overlayfs"), .id = S("key-1")},
		{.type = S("ingests"), .id = S("ref-1")},
	};
	struct meta_lease_resource *rv = NULL;
	struct meta_lease *v = NULL;
	cleanup_filter struct filter *fl = NULL;
	size_t n = 0;

	assert_int_equal(meta_lease_create(f->db, "default", "lease-1", labels, NULL), 0);
	assert_err(meta_lease_create(f->db, "default", "lease-1", NULL, E), EEXIST,
		   "already exists");
	assert_err(meta_lease_create(f->db, "default", "lease-2", bad_exp, E), EINVAL, "RFC 3339");
	assert_err(meta_lease_create(f->db, "default", "bad id!", NULL, E), EINVAL, "lease id");
	assert_int_equal(meta_lease_create(f->db, "default", "lease-2", NULL, NULL), 0);
	for (size_t i = 0; i < ARRAY_SIZE(res); i++)
		assert_int_equal(
			meta_lease_add_resource(f->db, "default", "lease-1", &res[i], NULL), 0);
	/* idempotent */
	assert_int_equal(meta_lease_add_resource(f->db, "default", "lease-1", &res[0], NULL), 0);
	assert_int_equal(meta_lease_list_resources(f->db, "default", "lease-1", &rv, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_string_equal(rv[0].type, "content");
	assert_string_equal(rv[2].type, "snapshots/overlayfs");
	meta_lease_resources_free(rv, n);
	assert_int_equal(meta_lease_delete_resource(f->db, "default", "lease-1", &res[2], NULL), 0);
	assert_int_equal(meta_lease_list_resources(f->db, "default", "lease-1", &rv, &n, NULL), 0);
	assert_int_equal(n, 2);
	meta_lease_resources_free(rv, n);

	struct meta_lease_resource badres[] = {
		{.type = S("content"), .id = S("sha256:short")},
		{.type = S("volumes"), .id = S("x")},
		{.type = S("snapshots/"), .id = S("x")},
		{.type = S("ingests"), .id = S("")},
	};
	assert_err(meta_lease_add_resource(f->db, "default", "lease-1", &badres[0], E), EINVAL,
		   "invalid digest");
	assert_err(meta_lease_add_resource(f->db, "default", "lease-1", &badres[1], E), EINVAL,
		   "unknown");
	assert_err(meta_lease_add_resource(f->db, "default", "lease-1", &badres[2], E), EINVAL,
		   "unknown");
	assert_err(meta_lease_add_resource(f->db, "default", "lease-1", &badres[3], E), EINVAL,
		   "needs a type and an id");
	assert_err(meta_lease_add_resource(f->db, "default", "nope", &res[0], E), ENOENT,
		   "not found");
	assert_err(meta_lease_list_resources(f->db, "default", "nope", &rv, &n, E), ENOENT,
		   "not found");

	assert_int_equal(filter_parse("labels.\"containerd.io/gc.expire\"", &fl, NULL), 0);
	assert_int_equal(meta_lease_list(f->db, "default", fl, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, "lease-1");
	assert_true(v[0].created_ns > 0);
	meta_leases_free(v, n);
	assert_int_equal(meta_lease_list(f->db, "default", NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	meta_leases_free(v, n);
	assert_int_equal(meta_lease_delete(f->db, "default", "lease-1", NULL), 0);
	assert_err(meta_lease_delete(f->db, "default", "lease-1", E), ENOENT, "not found");
	assert_err(meta_lease_list_resources(f->db, "default", "lease-1", &rv, &n, E), ENOENT,
		   "not found");
}

static void test_rfc3339(void **state)
{
	uint64_t t = 0;

	assert_int_equal(meta_parse_rfc3339("1970-01-01T00:00:10Z", &t), 0);
	assert_int_equal(t, 10000000000ull);
	assert_int_equal(meta_parse_rfc3339("1970-01-01T01:00:10.5+01:00", &t), 0);
	assert_int_equal(t, 10500000000ull);
	assert_int_equal(meta_parse_rfc3339("1970-01-01T00:00:10.123456789123Z", &t), 0);
	assert_int_equal(t, 10123456789ull);
	assert_int_equal(meta_parse_rfc3339("2024-02-30", &t), -EINVAL);
	assert_int_equal(meta_parse_rfc3339("2024-01-01T00:00:00", &t), -EINVAL);
	assert_int_equal(meta_parse_rfc3339("2024-01-01T00:00:00Zjunk", &t), -EINVAL);
	assert_int_equal(meta_parse_rfc3339("2024-01-01T00:00:00.Z", &t), -EINVAL);
	assert_int_equal(meta_parse_rfc3339(NULL, &t), -EINVAL);
}

static void test_busy_maps_to_eagain(void **state)
{
	struct fixture *f = *state;
	sqlite3 *raw = NULL;
	struct meta_db *db2 = NULL;
	cleanup_err struct wh_err *err = NULL;

	/* another connection holds the write lock */
	assert_int_equal(sqlite3_open(f->dbpath, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(meta_db_open(f->dbpath, f->cs, &db2, NULL), 0);
	meta_db_set_busy_timeout(db2, 50);
	assert_int_equal(meta_namespace_create(db2, "blocked", NULL, &err), -EAGAIN);
	assert_non_null(strstr(err->msg, "locked"));
	sqlite3_exec(raw, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(raw);
	assert_int_equal(meta_namespace_create(db2, "blocked", NULL, NULL), 0);
	meta_db_close(db2);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_db_open),
		T(test_db_concurrent_create),
		T(test_db_reopen_keeps_data),
		T(test_namespaces),
		T(test_invalid_namespaces),
		T(test_every_call_needs_namespace),
		T(test_namespace_delete_only_when_empty),
		T(test_images),
		T(test_image_errors),
		T(test_containers),
		T(test_container_errors),
		T(test_snapshots),
		T(test_snapshot_commit),
		T(test_leases),
		cmocka_unit_test(test_rfc3339),
		T(test_busy_maps_to_eagain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

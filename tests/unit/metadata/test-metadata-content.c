/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of metadata/ content: namespaced ownership, labels, walk, ingests, leases, errors. */
#include <errno.h>
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

struct fixture {
	char dir[64];
	struct content_store *cs;
	struct meta_db *db;
};

static int setup(void **state)
{
	struct fixture *f = xnew0(struct fixture, 1);
	cleanup_free char *content = NULL, *dbpath = NULL;

	snprintf(f->dir, sizeof(f->dir), "/tmp/content-mc-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	content = path_join(f->dir, "content");
	dbpath = path_join(f->dir, "metadata.db");
	if (content_store_open(content, &f->cs, NULL) < 0 ||
	    meta_db_open(dbpath, f->cs, &f->db, NULL) < 0)
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
#define E (&_e)

static int put(struct meta_db *db, const char *ns, const char *ref, const char *data,
	       char *const *labels, const char *lease, char out[DIGEST_STR_LEN],
	       struct wh_err **err)
{
	struct meta_writer *w = NULL;
	int r = meta_writer_open(db, ns, ref, strlen(data), NULL, lease, &w, err);

	if (r < 0)
		return r;
	r = meta_writer_write(w, data, strlen(data), err);
	if (r >= 0)
		r = meta_writer_commit(w, 0, NULL, labels, out, err);
	meta_writer_free(w);
	return r;
}

static void test_namespaced_visibility(void **state)
{
	struct fixture *f = *state;
	char *labels[] = {S("origin"), S("ns-a"), NULL};
	char dg[DIGEST_STR_LEN], dg2[DIGEST_STR_LEN];
	struct meta_content_info info;
	struct content_reader *rd = NULL;
	char buf[16];

	assert_int_equal(put(f->db, "ns-a", "r1", "shared bytes", labels, NULL, dg, NULL), 0);
	assert_int_equal(meta_content_info(f->db, "ns-a", dg, &info, NULL), 0);
	assert_int_equal(info.size, 12);
	assert_string_equal(meta_labels_get(info.labels, "origin"), "ns-a");
	meta_content_info_release(&info);
	/* on disk, but not in ns-b */
	assert_true(content_exists(f->cs, dg));
	assert_err(meta_content_info(f->db, "ns-b", dg, &info, E), ENOENT, "not found");
	assert_err(meta_content_reader_open(f->db, "ns-b", dg, &rd, E), ENOENT, "not found");
	assert_int_equal(meta_content_reader_open(f->db, "ns-a", dg, &rd, NULL), 0);
	assert_int_equal(content_reader_read_at(rd, buf, 5, 7, NULL), 5);
	assert_memory_equal(buf, "bytes", 5);
	content_reader_free(rd);

	/* ns-b proves it has the data by writing it; it gets its own labels */
	assert_int_equal(put(f->db, "ns-b", "r1", "shared bytes", NULL, NULL, dg2, NULL), 0);
	assert_string_equal(dg, dg2);
	assert_int_equal(meta_content_info(f->db, "ns-b", dg, &info, NULL), 0);
	assert_null(meta_labels_get(info.labels, "origin"));
	meta_content_info_release(&info);
	/* a second commit in the same namespace is AlreadyExists */
	assert_err(put(f->db, "ns-a", "r2", "shared bytes", NULL, NULL, dg2, E), EEXIST,
		   "already exists");

	/* delete drops ns-a's ownership only */
	assert_int_equal(meta_content_delete(f->db, "ns-a", dg, NULL), 0);
	assert_err(meta_content_delete(f->db, "ns-a", dg, E), ENOENT, "not found");
	assert_err(meta_content_info(f->db, "ns-a", dg, &info, E), ENOENT, "not found");
	assert_int_equal(meta_content_info(f->db, "ns-b", dg, &info, NULL), 0);
	meta_content_info_release(&info);
	assert_true(content_exists(f->cs, dg));
}

static void test_commit_expected_mismatch(void **state)
{
	struct fixture *f = *state;
	struct meta_writer *w = NULL;
	char want[DIGEST_STR_LEN], have[DIGEST_STR_LEN];
	struct meta_content_info info;

	digest_buf("expected", 8, want);
	digest_buf("actual!!", 8, have);
	assert_int_equal(meta_writer_open(f->db, "default", "mm", 8, want, NULL, &w, NULL), 0);
	assert_int_equal(meta_writer_write(w, "actual!!", 8, NULL), 0);
	assert_err(meta_writer_commit(w, 0, NULL, NULL, NULL, E), EINVAL,
		   "unexpected commit digest");
	meta_writer_free(w);
	assert_err(meta_content_info(f->db, "default", have, &info, E), ENOENT, "not found");
	assert_err(meta_content_info(f->db, "default", want, &info, E), ENOENT, "not found");
	assert_false(content_exists(f->cs, have));
}

static void test_update_labels(void **state)
{
	struct fixture *f = *state;
	char *labels[] = {S("a"), S("1"), S("b"), S("2"), NULL};
	char *upd[] = {S("a"), S("10"), S("c"), S("3"), NULL};
	const char *one[] = {"labels.a", "labels.b", NULL};
	const char *bad[] = {"size", NULL};
	char dg[DIGEST_STR_LEN], missing[DIGEST_STR_LEN];
	struct meta_content_info info;

	assert_int_equal(put(f->db, "default", "u", "labelled", labels, NULL, dg, NULL), 0);
	/* labels.b absent from the update: removed; labels.a replaced; c untouched (not asked) */
	assert_int_equal(meta_content_update(f->db, "default", dg, upd, one, NULL), 0);
	assert_int_equal(meta_content_info(f->db, "default", dg, &info, NULL), 0);
	assert_string_equal(meta_labels_get(info.labels, "a"), "10");
	assert_null(meta_labels_get(info.labels, "b"));
	assert_null(meta_labels_get(info.labels, "c"));
	assert_true(info.updated_ns >= info.created_ns);
	meta_content_info_release(&info);
	/* no paths: replace all */
	assert_int_equal(meta_content_update(f->db, "default", dg, upd, NULL, NULL), 0);
	assert_int_equal(meta_content_info(f->db, "default", dg, &info, NULL), 0);
	assert_string_equal(meta_labels_get(info.labels, "c"), "3");
	meta_content_info_release(&info);
	assert_err(meta_content_update(f->db, "default", dg, upd, bad, E), EINVAL, "only labels");
	digest_buf("nothing", 7, missing);
	assert_err(meta_content_update(f->db, "default", missing, upd, NULL, E), ENOENT,
		   "not found");
	assert_err(meta_content_update(f->db, "default", "sha256:xyz", upd, NULL, E), EINVAL,
		   "invalid digest");
}

static int collect(const struct meta_content_info *info, void *userdata)
{
	strv_push(userdata, info->digest);
	return 0;
}

static void test_walk_filters(void **state)
{
	struct fixture *f = *state;
	char *l1[] = {S("kind"), S("layer"), NULL};
	char *l2[] = {S("kind"), S("config"), NULL};
	char d1[DIGEST_STR_LEN], d2[DIGEST_STR_LEN], d3[DIGEST_STR_LEN];
	cleanup_filter struct filter *fl = NULL;
	cleanup_strv char **got = NULL;
	const char *ss[] = {"labels.kind==config", "size==3"};

	assert_int_equal(put(f->db, "default", "w1", "layer-bytes", l1, NULL, d1, NULL), 0);
	assert_int_equal(put(f->db, "default", "w2", "{}", l2, NULL, d2, NULL), 0);
	assert_int_equal(put(f->db, "default", "w3", "abc", NULL, NULL, d3, NULL), 0);
	assert_int_equal(put(f->db, "other", "w1", "other-bytes", l1, NULL, NULL, NULL), 0);
	assert_int_equal(filter_parse("labels.kind==layer", &fl, NULL), 0);
	assert_int_equal(meta_content_walk(f->db, "default", fl, collect, &got, NULL), 0);
	assert_int_equal(strv_length(got), 1);
	assert_string_equal(got[0], d1);
	got = strv_free(got);
	fl = filter_free(fl);
	assert_int_equal(filter_parse_all(ss, 2, &fl, NULL), 0);
	assert_int_equal(meta_content_walk(f->db, "default", fl, collect, &got, NULL), 0);
	assert_int_equal(strv_length(got), 2);
	assert_true(strv_contains(got, d2) && strv_contains(got, d3));
	got = strv_free(got);
	assert_int_equal(meta_content_walk(f->db, "default", NULL, collect, &got, NULL), 0);
	assert_int_equal(strv_length(got), 3);
}

static void test_ingests_namespaced(void **state)
{
	struct fixture *f = *state;
	struct meta_writer *w1 = NULL, *w2 = NULL, *w3 = NULL;
	struct content_status st, *v = NULL;
	cleanup_filter struct filter *fl = NULL;
	size_t n = 0;

	assert_int_equal(meta_writer_open(f->db, "ns-a", "layer", 0, NULL, NULL, &w1, NULL), 0);
	assert_int_equal(meta_writer_write(w1, "part", 4, NULL), 0);
	/* the same ref in the same namespace is locked, in another namespace it is another ingest
	 */
	assert_err(meta_writer_open(f->db, "ns-a", "layer", 0, NULL, NULL, &w2, E), EAGAIN,
		   "locked");
	assert_int_equal(meta_writer_open(f->db, "ns-b", "layer", 0, NULL, NULL, &w2, NULL), 0);
	assert_int_equal(meta_writer_open(f->db, "ns-a", "config", 0, NULL, NULL, &w3, NULL), 0);
	assert_int_equal(meta_writer_status(w1, &st, NULL), 0);
	assert_string_equal(st.ref, "layer");
	assert_int_equal(st.offset, 4);
	content_status_release(&st);

	assert_int_equal(meta_content_list_statuses(f->db, "ns-a", NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	content_statuses_free(v, n);
	assert_int_equal(filter_parse("ref==layer", &fl, NULL), 0);
	assert_int_equal(meta_content_list_statuses(f->db, "ns-a", fl, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].ref, "layer");
	assert_int_equal(v[0].offset, 4);
	content_statuses_free(v, n);
	assert_int_equal(meta_content_list_statuses(f->db, "ns-c", NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 0);
	content_statuses_free(v, n);

	assert_int_equal(meta_content_status(f->db, "ns-a", "layer", &st, NULL), 0);
	assert_int_equal(st.offset, 4);
	content_status_release(&st);
	assert_err(meta_content_abort(f->db, "ns-a", "layer", E), EAGAIN, "locked");
	meta_writer_free(w1);
	assert_int_equal(meta_content_abort(f->db, "ns-a", "layer", NULL), 0);
	assert_err(meta_content_status(f->db, "ns-a", "layer", &st, E), ENOENT, "not found");
	assert_err(meta_content_abort(f->db, "ns-a", "layer", E), ENOENT, "not found");
	meta_writer_free(w2);
	meta_writer_free(w3);
}

static void test_writer_errors(void **state)
{
	struct fixture *f = *state;
	struct meta_writer *w = NULL;

	assert_err(meta_writer_open(f->db, NULL, "r", 0, NULL, NULL, &w, E), EINVAL,
		   "namespace required");
	assert_err(meta_writer_open(f->db, "a/b", "r", 0, NULL, NULL, &w, E), EINVAL, "namespace");
	assert_err(meta_writer_open(f->db, "default", "", 0, NULL, NULL, &w, E), EINVAL,
		   "ref required");
	assert_err(meta_writer_open(f->db, "default", "r", 0, "sha256:nope", NULL, &w, E), EINVAL,
		   "invalid expected digest");
	assert_err(meta_writer_open(f->db, "default", "r", 0, NULL, "no-lease", &w, E), ENOENT,
		   "lease 'no-lease' not found");
	assert_null(w);
	assert_err(meta_content_status(f->db, "", "r", &(struct content_status){0}, E), EINVAL,
		   "namespace required");
	assert_err(meta_content_abort(f->db, "default", NULL, E), EINVAL, "ref required");
}

static void test_lease_gets_content(void **state)
{
	struct fixture *f = *state;
	struct meta_lease_resource *rv = NULL;
	char dg[DIGEST_STR_LEN];
	size_t n = 0;

	assert_int_equal(meta_lease_create(f->db, "default", "pull-1", NULL, NULL), 0);
	assert_int_equal(put(f->db, "default", "blob", "leased", NULL, "pull-1", dg, NULL), 0);
	assert_int_equal(meta_lease_list_resources(f->db, "default", "pull-1", &rv, &n, NULL), 0);
	/* the ingest resource went with the commit; the content stays leased */
	assert_int_equal(n, 1);
	assert_string_equal(rv[0].type, "content");
	assert_string_equal(rv[0].id, dg);
	meta_lease_resources_free(rv, n);
}

/*
 * Processes commit the same bytes at once: across namespaces all succeed (the blob is shared),
 * within one namespace exactly one succeeds and the others get AlreadyExists.
 */
static void test_concurrent_same_digest(void **state)
{
	struct fixture *f = *state;
	static const char *const nss[] = {"n1", "n2", "n3", "n1", "n1", "n2"};
	cleanup_free char *content = path_join(f->dir, "content");
	cleanup_free char *dbpath = path_join(f->dir, "metadata.db");
	int ok[3] = {0}, exists[3] = {0};
	pid_t pids[ARRAY_SIZE(nss)];
	char dg[DIGEST_STR_LEN];

	for (size_t i = 0; i < ARRAY_SIZE(nss); i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct content_store *cs = NULL;
			struct meta_db *db = NULL;
			char ref[16];
			int r;
			snprintf(ref, sizeof(ref), "ref-%zu", i);
			if (content_store_open(content, &cs, NULL) < 0 ||
			    meta_db_open(dbpath, cs, &db, NULL) < 0)
				_exit(2);
			r = put(db, nss[i], ref, "the same layer", NULL, NULL, NULL, NULL);
			_exit(r == 0 ? 0 : r == -EEXIST ? 1 : 3);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(nss); i++) {
		int status = 0, k = nss[i][1] - '1';
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_true(WEXITSTATUS(status) <= 1);
		if (WEXITSTATUS(status) == 0)
			ok[k]++;
		else
			exists[k]++;
	}
	assert_int_equal(ok[0], 1);
	assert_int_equal(exists[0], 2);
	assert_int_equal(ok[1], 1);
	assert_int_equal(exists[1], 1);
	assert_int_equal(ok[2], 1);
	digest_buf("the same layer", 14, dg);
	for (int k = 0; k < 3; k++) {
		struct meta_content_info info;
		char ns[4];
		snprintf(ns, sizeof(ns), "n%d", k + 1);
		assert_int_equal(meta_content_info(f->db, ns, dg, &info, NULL), 0);
		meta_content_info_release(&info);
	}
	/* no ingest is left behind by the losers */
	for (int k = 0; k < 3; k++) {
		struct content_status *v = NULL;
		size_t n = 0;
		char ns[4];
		snprintf(ns, sizeof(ns), "n%d", k + 1);
		assert_int_equal(meta_content_list_statuses(f->db, ns, NULL, &v, &n, NULL), 0);
		assert_int_equal(n, 0);
		content_statuses_free(v, n);
	}
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_namespaced_visibility), T(test_commit_expected_mismatch),
		T(test_update_labels),	       T(test_walk_filters),
		T(test_ingests_namespaced),    T(test_writer_errors),
		T(test_lease_gets_content),    T(test_concurrent_same_digest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

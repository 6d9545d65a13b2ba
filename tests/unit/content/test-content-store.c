/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of content/: blobs, ingests, resume, locking, verification and their errors. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include "common/common.h"
#include "common/filter.h"
#include "content/content.h"

/* cmocka.h needs these before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

struct fixture {
	char dir[64];
	struct content_store *cs;
};

static int setup(void **state)
{
	struct fixture *f = xnew0(struct fixture, 1);

	snprintf(f->dir, sizeof(f->dir), "/tmp/content-unit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	if (content_store_open(f->dir, &f->cs, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	content_store_free(f->cs);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void digest_of(const char *s, char out[DIGEST_STR_LEN])
{
	digest_buf(s, strlen(s), out);
}

/* Ingests s under ref and commits it; returns the commit's result. */
static int ingest(struct content_store *cs, const char *ref, const char *s, const char *expected,
		  struct wh_err **err)
{
	struct content_writer *w = NULL;
	int r = content_writer_open(cs, ref, 0, expected, &w, err);

	if (r < 0)
		return r;
	r = content_writer_write(w, s, strlen(s), err);
	if (r >= 0)
		r = content_writer_commit(w, strlen(s), expected, NULL, err);
	content_writer_free(w);
	return r;
}

static void test_open_errors(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct content_store *cs = NULL;

	assert_int_equal(content_store_open("", &cs, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "empty root"));
	err = wh_err_free(err);
	assert_int_equal(content_store_open("/proc/version/x", &cs, &err), -ENOTDIR);
	assert_null(cs);
}

static void test_write_commit_info_read(void **state)
{
	struct fixture *f = *state;
	const char *data = "hello, content store";
	char dg[DIGEST_STR_LEN], got[DIGEST_STR_LEN], path[256];
	struct content_writer *w = NULL;
	struct content_reader *rd = NULL;
	struct content_info info;
	struct stat st;
	char buf[DIGEST_STR_LEN];

	digest_of(data, dg);
	assert_int_equal(content_writer_open(f->cs, "ref-1", strlen(data), dg, &w, NULL), 0);
	assert_int_equal(content_writer_write(w, data, 5, NULL), 0);
	/* the digest so far, and writing goes on from there */
	content_writer_digest(w, got);
	digest_buf(data, 5, buf);
	assert_string_equal(got, buf);
	assert_int_equal(content_writer_write(w, data + 5, strlen(data) - 5, NULL), 0);
	assert_false(content_exists(f->cs, dg));
	assert_int_equal(content_writer_commit(w, 0, NULL, got, NULL), 0);
	assert_string_equal(got, dg);
	/* a committed writer refuses more work */
	assert_int_equal(content_writer_write(w, "x", 1, NULL), -EINVAL);
	assert_int_equal(content_writer_commit(w, 0, NULL, NULL, NULL), -EINVAL);
	content_writer_free(w);

	assert_true(content_exists(f->cs, dg));
	assert_int_equal(content_info(f->cs, dg, &info, NULL), 0);
	assert_string_equal(info.digest, dg);
	assert_int_equal(info.size, strlen(data));
	assert_true(info.created_ns > 0);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", f->dir, dg + 7);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0444);
	/* the ingest is gone */
	assert_int_equal(content_status(f->cs, "ref-1", &(struct content_status){0}, NULL),
			 -ENOENT);

	assert_int_equal(content_reader_open(f->cs, dg, &rd, NULL), 0);
	assert_int_equal(content_reader_size(rd), strlen(data));
	assert_true(content_reader_fd(rd) >= 0);
	assert_int_equal(content_reader_read_at(rd, buf, 5, 7, NULL), 5);
	assert_memory_equal(buf, "conte", 5);
	assert_int_equal(content_reader_read_at(rd, buf, sizeof(buf), 15, NULL), 5);
	assert_memory_equal(buf, "store", 5);
	assert_int_equal(content_reader_read_at(rd, buf, sizeof(buf), 100, NULL), 0);
	content_reader_free(rd);
}

static void test_digest_mismatch_commits_nothing(void **state)
{
	struct fixture *f = *state;
	cleanup_err struct wh_err *err = NULL;
	char want[DIGEST_STR_LEN], have[DIGEST_STR_LEN];
	struct content_status st;

	digest_of("something else", want);
	digest_of("payload", have);
	assert_int_equal(ingest(f->cs, "ref-bad", "payload", want, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "unexpected commit digest"));
	assert_non_null(strstr(err->msg, want));
	assert_non_null(strstr(err->msg, have));
	assert_false(content_exists(f->cs, have));
	assert_false(content_exists(f->cs, want));
	/* the ingest stays, with its data, for the caller to abort or fix */
	assert_int_equal(content_status(f->cs, "ref-bad", &st, NULL), 0);
	assert_int_equal(st.offset, 7);
	content_status_release(&st);
}

static void test_size_mismatch(void **state)
{
	struct fixture *f = *state;
	cleanup_err struct wh_err *err = NULL;
	struct content_writer *w = NULL;
	char dg[DIGEST_STR_LEN];

	digest_of("abc", dg);
	assert_int_equal(content_writer_open(f->cs, "ref-size", 0, NULL, &w, NULL), 0);
	assert_int_equal(content_writer_write(w, "abc", 3, NULL), 0);
	assert_int_equal(content_writer_commit(w, 4, NULL, NULL, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "unexpected commit size 3, expected 4"));
	assert_false(content_exists(f->cs, dg));
	/* the writer still works after a failed commit */
	assert_int_equal(content_writer_commit(w, 3, dg, NULL, NULL), 0);
	content_writer_free(w);
	assert_true(content_exists(f->cs, dg));
}

static void test_total_enforced(void **state)
{
	struct fixture *f = *state;
	cleanup_err struct wh_err *err = NULL;
	struct content_writer *w = NULL;

	assert_int_equal(content_writer_open(f->cs, "ref-total", 4, NULL, &w, NULL), 0);
	assert_int_equal(content_writer_write(w, "abc", 3, NULL), 0);
	assert_int_equal(content_writer_write(w, "de", 2, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "exceed the total 4"));
	err = wh_err_free(err);
	assert_int_equal(content_writer_commit(w, 0, NULL, NULL, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "unexpected commit size 3, expected 4"));
	content_writer_free(w);
}

static void test_bad_digests(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"",
		"sha256:",
		"sha256:abc",
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		"sha256:../../../../../../../../../../../../../../../../../etc/passwd00000",
	};
	struct content_info info;
	struct content_reader *rd = NULL;
	struct content_writer *w = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_err struct wh_err *err = NULL;
		assert_int_equal(content_info(f->cs, bad[i], &info, &err), -EINVAL);
		assert_non_null(strstr(err->msg, "invalid digest"));
		assert_int_equal(content_delete(f->cs, bad[i], NULL), -EINVAL);
		assert_int_equal(content_reader_open(f->cs, bad[i], &rd, NULL), -EINVAL);
		assert_false(content_exists(f->cs, bad[i]));
		if (*bad[i]) {
			assert_int_equal(content_writer_open(f->cs, "r", 0, bad[i], &w, NULL),
					 -EINVAL);
		}
	}
	assert_int_equal(content_info(f->cs, NULL, &info, NULL), -EINVAL);
}

static void test_not_found(void **state)
{
	struct fixture *f = *state;
	cleanup_err struct wh_err *err = NULL;
	struct content_info info;
	struct content_reader *rd = NULL;
	char dg[DIGEST_STR_LEN];

	digest_of("never written", dg);
	assert_int_equal(content_info(f->cs, dg, &info, &err), -ENOENT);
	assert_non_null(strstr(err->msg, "not found"));
	assert_int_equal(content_delete(f->cs, dg, NULL), -ENOENT);
	assert_int_equal(content_reader_open(f->cs, dg, &rd, NULL), -ENOENT);
	assert_int_equal(content_abort(f->cs, "no-such-ref", NULL), -ENOENT);
}

static void test_double_writer_locked(void **state)
{
	struct fixture *f = *state;
	cleanup_err struct wh_err *err = NULL;
	struct content_writer *w1 = NULL, *w2 = NULL;

	assert_int_equal(content_writer_open(f->cs, "shared-ref", 0, NULL, &w1, NULL), 0);
	assert_int_equal(content_writer_open(f->cs, "shared-ref", 0, NULL, &w2, &err), -EAGAIN);
	assert_non_null(strstr(err->msg, "ref 'shared-ref' locked"));
	assert_null(w2);
	err = wh_err_free(err);
	assert_int_equal(content_abort(f->cs, "shared-ref", &err), -EAGAIN);
	err = wh_err_free(err);
	/* another ref is independent */
	assert_int_equal(content_writer_open(f->cs, "other-ref", 0, NULL, &w2, NULL), 0);
	content_writer_free(w2);
	content_writer_free(w1);
	assert_int_equal(content_writer_open(f->cs, "shared-ref", 0, NULL, &w2, NULL), 0);
	content_writer_free(w2);
}

static void test_double_writer_other_process(void **state)
{
	struct fixture *f = *state;
	struct content_writer *w = NULL;
	int status = 0;
	pid_t pid;

	assert_int_equal(content_writer_open(f->cs, "xproc", 0, NULL, &w, NULL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct content_store *cs = NULL;
		struct content_writer *w2 = NULL;
		if (content_store_open(f->dir, &cs, NULL) < 0)
			_exit(2);
		_exit(content_writer_open(cs, "xproc", 0, NULL, &w2, NULL) == -EAGAIN ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	content_writer_free(w);
}

/*
 * Two processes race to write one ref while a third aborts it over and over: a writer must
 * never hold the ref while another does (the abort unlinks the lock file under waiters).
 */
static void race_writer(struct fixture *f, const char *marker, int rounds)
{
	struct content_store *cs = NULL;

	if (content_store_open(f->dir, &cs, NULL) < 0)
		_exit(2);
	for (int i = 0; i < rounds; i++) {
		struct content_writer *w = NULL;
		int fd, r = content_writer_open(cs, "race", 0, NULL, &w, NULL);
		if (r == -EAGAIN)
			continue;
		if (r < 0)
			_exit(3);
		fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			_exit(errno == EEXIST ? 4 : 5); /* two holders at once */
		close(fd);
		(void)content_writer_write(w, "x", 1, NULL);
		usleep(50);
		unlink(marker);
		content_writer_free(w);
	}
	content_store_free(cs);
	_exit(0);
}

static void test_lock_race_with_abort(void **state)
{
	struct fixture *f = *state;
	cleanup_free char *marker = path_join(f->dir, "holder");
	pid_t pids[3];

	for (int k = 0; k < 3; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0 && k < 2)
			race_writer(f, marker, 1000);
		if (pids[k] == 0) {
			struct content_store *cs = NULL;
			if (content_store_open(f->dir, &cs, NULL) < 0)
				_exit(2);
			for (int i = 0; i < 2000; i++) {
				int r = content_abort(cs, "race", NULL);
				if (r < 0 && r != -EAGAIN && r != -ENOENT)
					_exit(100 + (-r & 127));
			}
			content_store_free(cs);
			_exit(0);
		}
	}
	for (int k = 0; k < 3; k++) {
		int status = 0;
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

static void test_resume(void **state)
{
	struct fixture *f = *state;
	const char *data = "0123456789abcdefghij";
	char dg[DIGEST_STR_LEN], mid[DIGEST_STR_LEN], part[DIGEST_STR_LEN];
	struct content_writer *w = NULL;
	struct content_status st;

	digest_of(data, dg);
	assert_int_equal(content_writer_open(f->cs, "resume", 20, dg, &w, NULL), 0);
	assert_int_equal(content_writer_write(w, data, 8, NULL), 0);
	content_writer_digest(w, mid);
	digest_buf(data, 8, part);
	assert_string_equal(mid, part);
	content_writer_free(w); /* the "dropped connection" */

	assert_int_equal(content_status(f->cs, "resume", &st, NULL), 0);
	assert_string_equal(st.ref, "resume");
	assert_int_equal(st.offset, 8);
	assert_int_equal(st.total, 20);
	assert_string_equal(st.expected, dg);
	assert_true(st.started_ns > 0 && st.updated_ns >= st.started_ns / 2);
	content_status_release(&st);

	/* resuming without repeating total and expected keeps them */
	assert_int_equal(content_writer_open(f->cs, "resume", 0, NULL, &w, NULL), 0);
	assert_int_equal(content_writer_status(w, &st, NULL), 0);
	assert_int_equal(st.offset, 8);
	assert_int_equal(st.total, 20);
	content_status_release(&st);
	assert_int_equal(content_writer_write(w, data + 8, 12, NULL), 0);
	assert_int_equal(content_writer_commit(w, 0, NULL, NULL, NULL), 0);
	content_writer_free(w);
	assert_true(content_exists(f->cs, dg));
}

/* Damaged ingest files (a disk that lost them) restart the ingest instead of wedging the ref. */
static void test_resume_damaged(void **state)
{
	struct fixture *f = *state;
	static const char *const files[] = {"total", "ref", "expected", "startedat"};
	char name[DIGEST_HEX_LEN + 1];
	struct content_writer *w = NULL;
	struct content_status st;

	content_ingest_name("damaged", name);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		cleanup_free char *path = xasprintf("%s/ingest/%s/%s", f->dir, name, files[i]);
		assert_int_equal(content_writer_open(f->cs, "damaged", 0, NULL, &w, NULL), 0);
		assert_int_equal(content_writer_write(w, "12345", 5, NULL), 0);
		content_writer_free(w);
		assert_int_equal(write_file_atomic(path, "garbage", 7, 0600), 0);
		assert_int_equal(content_writer_open(f->cs, "damaged", 0, NULL, &w, NULL), 0);
		assert_int_equal(content_writer_status(w, &st, NULL), 0);
		assert_int_equal(st.offset, 0);
		assert_string_equal(st.ref, "damaged");
		content_status_release(&st);
		content_writer_free(w);
		assert_int_equal(content_status(f->cs, "damaged", &st, NULL), 0);
		assert_int_equal(st.offset, 0);
		content_status_release(&st);
	}
}

static void test_resume_conflicts(void **state)
{
	struct fixture *f = *state;
	cleanup_err struct wh_err *err = NULL;
	char a[DIGEST_STR_LEN], b[DIGEST_STR_LEN];
	struct content_writer *w = NULL;

	digest_of("a", a);
	digest_of("b", b);
	assert_int_equal(content_writer_open(f->cs, "conf", 10, a, &w, NULL), 0);
	content_writer_free(w);
	assert_int_equal(content_writer_open(f->cs, "conf", 11, NULL, &w, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "total 11 differs"));
	err = wh_err_free(err);
	assert_int_equal(content_writer_open(f->cs, "conf", 0, b, &w, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "differs"));
	assert_int_equal(content_abort(f->cs, "conf", NULL), 0);
	assert_int_equal(content_status(f->cs, "conf", &(struct content_status){0}, NULL), -ENOENT);
}

static void test_commit_existing(void **state)
{
	struct fixture *f = *state;
	cleanup_err struct wh_err *err = NULL;
	char dg[DIGEST_STR_LEN];

	digest_of("dup", dg);
	assert_int_equal(ingest(f->cs, "dup-1", "dup", dg, NULL), 0);
	assert_int_equal(ingest(f->cs, "dup-2", "dup", dg, &err), -EEXIST);
	assert_non_null(strstr(err->msg, "already exists"));
	/* the losing ingest is cleaned up */
	assert_int_equal(content_status(f->cs, "dup-2", &(struct content_status){0}, NULL),
			 -ENOENT);
	assert_true(content_exists(f->cs, dg));
}

static void test_truncate(void **state)
{
	struct fixture *f = *state;
	struct content_writer *w = NULL;
	char dg[DIGEST_STR_LEN], got[DIGEST_STR_LEN];

	digest_of("fresh", dg);
	assert_int_equal(content_writer_open(f->cs, "trunc", 0, NULL, &w, NULL), 0);
	assert_int_equal(content_writer_write(w, "garbage", 7, NULL), 0);
	assert_int_equal(content_writer_truncate(w, 3, NULL), -EINVAL);
	assert_int_equal(content_writer_truncate(w, 0, NULL), 0);
	assert_int_equal(content_writer_write(w, "fresh", 5, NULL), 0);
	assert_int_equal(content_writer_commit(w, 5, dg, got, NULL), 0);
	assert_string_equal(got, dg);
	content_writer_free(w);
}

static int count_cb(const struct content_info *info, void *userdata)
{
	(*(int *)userdata)++;
	return 0;
}

static int stop_cb(const struct content_info *info, void *userdata)
{
	return -ECANCELED;
}

static void test_walk_filters(void **state)
{
	struct fixture *f = *state;
	cleanup_filter struct filter *fl = NULL;
	char dg[DIGEST_STR_LEN], expr[128];
	int n = 0;

	assert_int_equal(ingest(f->cs, "w1", "one", NULL, NULL), 0);
	assert_int_equal(ingest(f->cs, "w2", "three", NULL, NULL), 0);
	assert_int_equal(ingest(f->cs, "w3", "five!", NULL, NULL), 0);
	assert_int_equal(content_walk(f->cs, NULL, count_cb, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_int_equal(filter_parse("size==5", &fl, NULL), 0);
	n = 0;
	assert_int_equal(content_walk(f->cs, fl, count_cb, &n, NULL), 0);
	assert_int_equal(n, 2);
	fl = filter_free(fl);
	digest_of("one", dg);
	snprintf(expr, sizeof(expr), "digest==%s", dg);
	assert_int_equal(filter_parse(expr, &fl, NULL), 0);
	n = 0;
	assert_int_equal(content_walk(f->cs, fl, count_cb, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(content_walk(f->cs, NULL, stop_cb, NULL, NULL), -ECANCELED);
	{
		/* stray files in blobs/ are not content */
		cleanup_free char *junk = xasprintf("%s/blobs/sha256/.tmp-123", f->dir);
		assert_int_equal(write_file_atomic(junk, "x", 1, 0600), 0);
		n = 0;
		assert_int_equal(content_walk(f->cs, NULL, count_cb, &n, NULL), 0);
		assert_int_equal(n, 3);
	}
	assert_int_equal(content_delete(f->cs, dg, NULL), 0);
	n = 0;
	assert_int_equal(content_walk(f->cs, NULL, count_cb, &n, NULL), 0);
	assert_int_equal(n, 2);
}

static void test_list_statuses(void **state)
{
	struct fixture *f = *state;
	cleanup_filter struct filter *fl = NULL;
	struct content_writer *w = NULL;
	struct content_status *v = NULL;
	size_t n = 0;

	assert_int_equal(content_writer_open(f->cs, "layer-1", 0, NULL, &w, NULL), 0);
	content_writer_free(w);
	assert_int_equal(content_writer_open(f->cs, "layer-2", 0, NULL, &w, NULL), 0);
	content_writer_free(w);
	assert_int_equal(content_writer_open(f->cs, "config", 0, NULL, &w, NULL), 0);
	assert_int_equal(content_list_statuses(f->cs, NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 3);
	content_statuses_free(v, n);
	assert_int_equal(filter_parse("ref~=^layer-", &fl, NULL), 0);
	assert_int_equal(content_list_statuses(f->cs, fl, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_true(str_startswith(v[0].ref, "layer-") && str_startswith(v[1].ref, "layer-"));
	content_statuses_free(v, n);
	content_writer_free(w);
	assert_int_equal(content_abort(f->cs, "layer-1", NULL), 0);
	assert_int_equal(content_list_statuses(f->cs, fl, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].ref, "layer-2");
	content_statuses_free(v, n);
}

static void test_ref_errors(void **state)
{
	struct fixture *f = *state;
	cleanup_err struct wh_err *err = NULL;
	struct content_writer *w = NULL;
	char *huge = xmalloc(5000);

	assert_int_equal(content_writer_open(f->cs, "", 0, NULL, &w, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "invalid ref"));
	assert_int_equal(content_writer_open(f->cs, NULL, 0, NULL, &w, NULL), -EINVAL);
	memset(huge, 'r', 4999);
	huge[4999] = 0;
	assert_int_equal(content_writer_open(f->cs, huge, 0, NULL, &w, NULL), -EINVAL);
	assert_int_equal(content_status(f->cs, "", &(struct content_status){0}, NULL), -EINVAL);
	assert_int_equal(content_abort(f->cs, "", NULL), -EINVAL);
	free(huge);
	/* a ref with slashes and dots is just a name: it never becomes a path */
	assert_int_equal(ingest(f->cs, "../../escape/..", "x", NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test_setup_teardown(test_write_commit_info_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest_mismatch_commits_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_size_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_enforced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_digests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_writer_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_writer_other_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_race_with_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ref_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

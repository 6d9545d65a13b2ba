/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/err.h: set, setx, wrap, move and the set-once rule. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include <sys/wait.h>

#include "common/common.h"

static int open_thing(const char *path, struct wh_err **err)
{
	return wh_err_set(err, ENOENT, "open '%s'", path);
}

static int load(const char *path, struct wh_err **err)
{
	int r = open_thing(path, err);
	if (r < 0)
		return wh_err_wrap(err, r, "load config");
	return 0;
}

static void test_set(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(wh_err_set(&err, EACCES, "open '%s'", "/x"), -EACCES);
	assert_non_null(err);
	assert_int_equal(err->code, EACCES);
	assert_string_equal(err->msg, "open '/x': Permission denied");
	assert_string_equal(wh_err_msg(err), "open '/x': Permission denied");
	err = wh_err_free(err);

	/* A negative code is taken as -errno; 0 becomes EIO. */
	assert_int_equal(wh_err_set(&err, -ENOSPC, "write"), -ENOSPC);
	assert_int_equal(err->code, ENOSPC);
	err = wh_err_free(err);
	assert_int_equal(wh_err_setx(&err, 0, "weird"), -EIO);
	assert_int_equal(err->code, EIO);
	assert_string_equal(err->msg, "weird");
	err = wh_err_free(err);

	/* setx: no strerror suffix. */
	assert_int_equal(wh_err_setx(&err, EINVAL, "bad field '%s' (%d)", "a", 3), -EINVAL);
	assert_string_equal(err->msg, "bad field 'a' (3)");
	err = wh_err_free(err);

	/* NULL err: code only. */
	assert_int_equal(wh_err_set(NULL, EBUSY, "x"), -EBUSY);
	assert_int_equal(wh_err_setx(NULL, -EBUSY, "x"), -EBUSY);
	assert_int_equal(wh_err_wrap(NULL, -EBUSY, "x"), -EBUSY);
}

static void test_wrap(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(load("/etc/wharf/config.toml", &err), -ENOENT);
	assert_string_equal(
		err->msg, "load config: open '/etc/wharf/config.toml': No such file or directory");
	assert_int_equal(wh_err_wrap(&err, -ENOENT, "start '%s'", "wharfd"), -ENOENT);
	assert_string_equal(
		err->msg,
		"start 'wharfd': load config: open '/etc/wharf/config.toml': No such file or directory");
	/* The return value follows the error's code, not the r passed. */
	assert_int_equal(wh_err_wrap(&err, -EPERM, "outer"), -ENOENT);
	err = wh_err_free(err);

	/* A callee that took no err: wrap sets one from r with strerror. */
	assert_int_equal(wh_err_wrap(&err, -EEXIST, "create '%s'", "c1"), -EEXIST);
	assert_int_equal(err->code, EEXIST);
	assert_string_equal(err->msg, "create 'c1': File exists");
	err = wh_err_free(err);
	/* A non-negative r is a caller bug turned into EIO rather than success. */
	assert_int_equal(wh_err_wrap(&err, 0, "oops"), -EIO);
	assert_int_equal(err->code, EIO);
}

static void test_move_and_msg(void **state)
{
	cleanup_err struct wh_err *dst = NULL;
	struct wh_err *src = NULL;
	wh_err_setx(&src, ETIMEDOUT, "first");
	assert_int_equal(wh_err_move(&dst, &src), -ETIMEDOUT);
	assert_null(src);
	assert_string_equal(dst->msg, "first");
	/* dst already set: src is dropped. */
	wh_err_setx(&src, EINVAL, "second");
	assert_int_equal(wh_err_move(&dst, &src), -EINVAL);
	assert_null(src);
	assert_string_equal(dst->msg, "first");
	/* NULL dst: src is freed. */
	wh_err_setx(&src, EINVAL, "third");
	assert_int_equal(wh_err_move(NULL, &src), -EINVAL);
	assert_null(src);
	/* Nothing to move. */
	assert_int_equal(wh_err_move(NULL, &src), -EIO);

	assert_string_equal(wh_err_msg(NULL), "");
	struct wh_err bare = {.code = ENOENT, .msg = NULL};
	assert_string_equal(wh_err_msg(&bare), strerror(ENOENT));
	assert_null(wh_err_free(NULL));
}

/* Setting an error twice is a programmer error: the process aborts. */
static void test_set_twice_aborts(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Keep the abort message out of the test output. */
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		dup2(fd, STDERR_FILENO);
		struct wh_err *err = NULL;
		wh_err_setx(&err, EINVAL, "one");
		wh_err_setx(&err, EINVAL, "two");
		_exit(0);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_move_and_msg),
		cmocka_unit_test(test_set_twice_aborts),
	};
	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/log.h: levels, logfmt and JSON lines, quoting, errno suffixes, log files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"

/* Logs go to a pipe; each test reads back what was written. */
/* A temp dir for the whole group, removed by the group teardown even when a test fails. */
static char tmpdir[] = "/tmp/fixtures-log-XXXXXX";

static int group_setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	return rm_rf(tmpdir);
}

static int pipefd[2] = {-1, -1};

static int setup(void **state)
{
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	log_set_fd(pipefd[1]);
	log_set_level(LOG_INFO);
	log_set_format(LOG_FORMAT_LOGFMT);
	log_set_ident(NULL);
	return 0;
}

static int teardown(void **state)
{
	log_set_fd(-1);
	pipefd[0] = wh_close(pipefd[0]);
	pipefd[1] = wh_close(pipefd[1]);
	return 0;
}

static char *drain(void)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	ssize_t n;
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0)
		strbuf_add(&sb, buf, (size_t)n);
	return strbuf_detach(&sb, NULL);
}

/* Checks the line is `time="<rfc3339>" level=<level> <rest>` and returns a pointer to rest. */
static const char *check_logfmt(const char *line, const char *level)
{
	assert_true(str_startswith(line, "time=\""));
	const char *t = line + 6;
	assert_true(strlen(t) > 31);
	assert_int_equal(t[4], '-');
	assert_int_equal(t[10], 'T');
	assert_int_equal(t[29], 'Z');
	assert_int_equal(t[30], '"');
	cleanup_free char *lv = xasprintf(" level=%s ", level);
	assert_true(str_startswith(t + 31, lv));
	return t + 31 + strlen(lv);
}

static void test_levels(void **state)
{
	log_info("hello %s", "world");
	log_debug("hidden");
	log_warn("careful");
	log_error("bad");
	cleanup_free char *out = drain();
	char *second = strchr(out, '\n') + 1;
	char *third = strchr(second, '\n') + 1;
	assert_string_equal(strchr(third, '\n'), "\n");
	third[-1] = second[-1] = 0;
	assert_string_equal(check_logfmt(out, "info"), "msg=\"hello world\"");
	assert_string_equal(check_logfmt(second, "warning"), "msg=\"careful\"");
	assert_string_equal(check_logfmt(third, "error"), "msg=\"bad\"\n");

	log_set_level(LOG_DEBUG);
	assert_int_equal(log_get_level(), LOG_DEBUG);
	log_debug("shown");
	cleanup_free char *dbg = drain();
	assert_string_equal(check_logfmt(dbg, "debug"), "msg=\"shown\"\n");

	log_set_level(LOG_ERR);
	log_warn("dropped");
	log_info("dropped");
	cleanup_free char *none = drain();
	assert_string_equal(none, "");
}

static void test_errno_and_quoting(void **state)
{
	errno = EAGAIN;
	assert_int_equal(log_error_errno(-ENOENT, "open '%s'", "/x"), -ENOENT);
	assert_int_equal(errno, EAGAIN); /* logging keeps errno */
	assert_int_equal(log_warn_errno(-EPERM, "drop"), -EPERM);
	/* Below the level, the errno variants still return r. */
	assert_int_equal(log_debug_errno(-EBUSY, "quiet"), -EBUSY);
	log_set_ident("wharfd");
	log_info("a \"quoted\" back\\slash\nnew\tline\x01");
	cleanup_free char *out = drain();
	char *l2 = strchr(out, '\n') + 1;
	char *l3 = strchr(l2, '\n') + 1;
	l2[-1] = l3[-1] = 0;
	assert_string_equal(check_logfmt(out, "error"),
			    "msg=\"open '/x': No such file or directory\"");
	assert_string_equal(check_logfmt(l2, "warning"), "msg=\"drop: Operation not permitted\"");
	assert_string_equal(
		check_logfmt(l3, "info"),
		"prog=wharfd msg=\"a \\\"quoted\\\" back\\\\slash\\nnew\\u0009line\\u0001\"\n");
}

static void test_json_format(void **state)
{
	log_set_format(LOG_FORMAT_JSON);
	log_error("container \"%s\" failed\n", "c1");
	cleanup_free char *out = drain();
	assert_true(str_endswith(out, "}\n"));
	assert_ptr_equal(strchr(out, '\n') + 1, out + strlen(out)); /* one line */
	yajl_val v = NULL;
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(json_parse(out, strlen(out), &v, &err), 0);
	const char *s = NULL;
	assert_int_equal(json_get_string(v, "level", "level", &s, NULL), 0);
	assert_string_equal(s, "error");
	assert_int_equal(json_get_string(v, "msg", "msg", &s, NULL), 0);
	assert_string_equal(s, "container \"c1\" failed\n");
	assert_int_equal(json_get_string(v, "time", "time", &s, NULL), 0);
	assert_int_equal(strlen(s), 30);
	yajl_tree_free(v);
}

static void test_parse_level(void **state)
{
	assert_int_equal(log_parse_level("error"), LOG_ERR);
	assert_int_equal(log_parse_level("warn"), LOG_WARNING);
	assert_int_equal(log_parse_level("warning"), LOG_WARNING);
	assert_int_equal(log_parse_level("info"), LOG_INFO);
	assert_int_equal(log_parse_level("debug"), LOG_DEBUG);
	assert_int_equal(log_parse_level("trace"), LOG_DEBUG);
	assert_int_equal(log_parse_level("fatal"), LOG_CRIT);
	assert_int_equal(log_parse_level("panic"), LOG_EMERG);
	assert_int_equal(log_parse_level("0"), 0);
	assert_int_equal(log_parse_level("7"), 7);
	assert_int_equal(log_parse_level("8"), -EINVAL);
	assert_int_equal(log_parse_level("-1"), -EINVAL);
	assert_int_equal(log_parse_level("INFO"), -EINVAL);
	assert_int_equal(log_parse_level(""), -EINVAL);
	assert_int_equal(log_parse_level("verbose"), -EINVAL);
}

static void test_log_file(void **state)
{
	const char *dir = tmpdir;
	cleanup_free char *p = path_join(dir, "wharfd.log");
	assert_int_equal(write_file_atomic(p, "earlier\n", 8, 0600), 0);
	assert_int_equal(log_open_file(p), 0);
	log_info("to the file");
	/* Reopening replaces the owned fd (no leak) and appends. */
	assert_int_equal(log_open_file(p), 0);
	log_warn("second");
	char *buf = NULL;
	assert_int_equal(read_file(p, 1 << 16, &buf, NULL), 0);
	assert_true(str_startswith(buf, "earlier\n"));
	char *l1 = buf + 8;
	char *l2 = strchr(l1, '\n') + 1;
	l2[-1] = 0;
	assert_string_equal(check_logfmt(l1, "info"), "msg=\"to the file\"");
	assert_string_equal(check_logfmt(l2, "warning"), "msg=\"second\"\n");
	free(buf);
	cleanup_free char *drained = drain();
	assert_string_equal(drained, ""); /* nothing went to the old fd */
	cleanup_free char *bad = path_join(dir, "no/such/dir.log");
	assert_int_equal(log_open_file(bad), -ENOENT);
	log_set_fd(pipefd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errno_and_quoting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_format, setup, teardown),
		cmocka_unit_test(test_parse_level),
		cmocka_unit_test_setup_teardown(test_log_file, setup, teardown),
	};
	return cmocka_run_group_tests_name("log", tests, group_setup, group_teardown);
}

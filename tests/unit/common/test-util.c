/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/util.h: allocation helpers, ownership moves, strv, string predicates,
 * the strict number parsers and the clocks. */
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

static void test_alloc(void **state)
{
	cleanup_free char *s = xasprintf("%s-%d", "abc", 42);
	assert_string_equal(s, "abc-42");
	cleanup_free char *d = xstrdup("dup");
	assert_string_equal(d, "dup");
	cleanup_free char *n = xstrndup("abcdef", 3);
	assert_string_equal(n, "abc");
	cleanup_free char *m = xmemdup("a\0b", 3);
	assert_memory_equal(m, "a\0b", 3);
	cleanup_free void *z = xmemdup(NULL, 0); /* zero bytes still gives a pointer to free */
	assert_non_null(z);
	cleanup_free int *arr = xnew0(int, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(arr[i], 0);
	cleanup_free void *zero = xmalloc(0);
	assert_non_null(zero);

	int *g = NULL;
	size_t cap = 0;
	xgrow((void **)&g, &cap, 3, sizeof(*g));
	assert_true(cap >= 3);
	g[2] = 7;
	size_t old = cap;
	xgrow((void **)&g, &cap, 2, sizeof(*g)); /* enough already: no change */
	assert_int_equal(cap, old);
	xgrow((void **)&g, &cap, 1000, sizeof(*g));
	assert_true(cap >= 1000);
	assert_int_equal(g[2], 7);
	g[999] = 1;
	free(g);
}

static void test_take(void **state)
{
	char *p = xstrdup("x");
	cleanup_free char *q = TAKE_PTR(p);
	assert_null(p);
	assert_string_equal(q, "x");
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	cleanup_close int fd2 = TAKE_FD(fd);
	assert_int_equal(fd, -EBADF);
	assert_true(fd2 >= 0);
}

static size_t count_fds(void)
{
	size_t n = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_cleanup_macros(void **state)
{
	size_t before = count_fds();
	{
		cleanup_fclose FILE *f = fopen("/dev/null", "re");
		assert_non_null(f);
		cleanup_closedir DIR *d = opendir("/");
		assert_non_null(d);
		cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		cleanup_fclose FILE *none = NULL;
		cleanup_closedir DIR *nodir = NULL;
		cleanup_close int nofd = -EBADF;
		(void)none;
		(void)nodir;
		(void)nofd;
		assert_int_equal(count_fds(), before + 3);
	}
	/* Leaving the scope closed all three. */
	assert_int_equal(count_fds(), before);
}

static void test_strv(void **state)
{
	cleanup_strv char **v = NULL;
	assert_int_equal(strv_length(v), 0);
	assert_false(strv_contains(v, "a"));
	strv_push(&v, "a");
	strv_push(&v, "b");
	strv_consume(&v, xstrdup("c"));
	assert_int_equal(strv_length(v), 3);
	assert_null(v[3]);
	assert_true(strv_contains(v, "b"));
	assert_false(strv_contains(v, "d"));
	assert_false(strv_contains(v, ""));
	cleanup_strv char **c = strv_copy(v);
	assert_int_equal(strv_length(c), 3);
	assert_ptr_not_equal(c[0], v[0]);
	assert_string_equal(c[2], "c");
	size_t n = 0;
	strv_foreach(s, c)
		n++;
	assert_int_equal(n, 3);
	strv_foreach(s, (char **)NULL)
		fail();
	cleanup_strv char **empty = strv_copy(NULL);
	assert_non_null(empty);
	assert_null(empty[0]);
	assert_null(strv_free(NULL));
}

static void test_str(void **state)
{
	assert_true(str_startswith("sha256:abc", "sha256:"));
	assert_true(str_startswith("abc", ""));
	assert_false(str_startswith("sha", "sha256:"));
	assert_true(str_endswith("layer.tar.gz", ".gz"));
	assert_true(str_endswith("x", ""));
	assert_false(str_endswith("gz", ".gz"));
	assert_true(streq("a", "a"));
	assert_int_equal(MIN(3, 5), 3);
	assert_int_equal(MAX(3, 5), 5);
}

static void test_parse_u64(void **state)
{
	uint64_t u = 99;
	assert_int_equal(parse_u64("0", &u), 0);
	assert_int_equal(u, 0);
	assert_int_equal(parse_u64("18446744073709551615", &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(parse_u64("007", &u), 0);
	assert_int_equal(u, 7);
	assert_int_equal(parse_u64("18446744073709551616", &u), -ERANGE);
	const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1a", "0x10", "1.0", "-", "\t1", "1\n"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		u = 99;
		if (parse_u64(bad[i], &u) != -EINVAL)
			fail_msg("parse_u64 accepted '%s'", bad[i]);
		assert_int_equal(u, 99);
	}
	assert_int_equal(parse_u64(NULL, &u), -EINVAL);
}

static void test_parse_i64(void **state)
{
	int64_t v = 99;
	assert_int_equal(parse_i64("-9223372036854775808", &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(parse_i64("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(parse_i64("-0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_i64("9223372036854775808", &v), -ERANGE);
	assert_int_equal(parse_i64("-9223372036854775809", &v), -ERANGE);
	const char *bad[] = {"", "-", "--1", "+1", " 1", "1 ", "- 1", "-+1", "1e3", "0x1", "1-"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		v = 99;
		if (parse_i64(bad[i], &v) != -EINVAL)
			fail_msg("parse_i64 accepted '%s'", bad[i]);
		assert_int_equal(v, 99);
	}

	int n = 5;
	assert_int_equal(parse_int("-2147483648", &n), 0);
	assert_int_equal(n, INT32_MIN);
	assert_int_equal(parse_int("2147483647", &n), 0);
	assert_int_equal(n, INT32_MAX);
	assert_int_equal(parse_int("2147483648", &n), -ERANGE);
	assert_int_equal(parse_int("-2147483649", &n), -ERANGE);
	assert_int_equal(parse_int("99999999999999999999", &n), -ERANGE);
	assert_int_equal(parse_int("12x", &n), -EINVAL);
	assert_int_equal(n, INT32_MAX);
}

static void test_time(void **state)
{
	uint64_t a = now_mono_ns(), b = now_mono_ns();
	assert_true(b >= a);
	assert_true(now_real_ns() > UINT64_C(1600000000) * 1000000000);
	cleanup_free char *t = time_rfc3339(UINT64_C(1704164645) * 1000000000 + 123456789);
	assert_string_equal(t, "2024-01-02T03:04:05.123456789Z");
	cleanup_free char *z = time_rfc3339(0);
	assert_string_equal(z, "1970-01-01T00:00:00.000000000Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_cleanup_macros),
		cmocka_unit_test(test_strv),
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_i64),
		cmocka_unit_test(test_time),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}

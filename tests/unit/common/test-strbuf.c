/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/strbuf.h and its invariants: buf never NULL, always NUL-terminated,
 * embedded NULs kept, STRBUF_INIT needing no release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"

static void check_invariants(const struct strbuf *sb)
{
	assert_non_null(sb->buf);
	assert_int_equal(sb->buf[sb->len], 0);
	assert_true(sb->alloc == 0 || sb->len < sb->alloc);
}

static void test_empty(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	check_invariants(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb.buf, "");
	strbuf_reset(&sb); /* on the shared empty buffer: no write, no crash */
	strbuf_setlen(&sb, 0);
	strbuf_consume(&sb, 0);
	strbuf_add(&sb, "x", 0);
	strbuf_addf(&sb, "%s", "");
	check_invariants(&sb);
	assert_int_equal(sb.alloc, 0);
	/* detach of an empty buffer gives heap memory the caller frees. */
	size_t len = 99;
	char *s = strbuf_detach(&sb, &len);
	assert_int_equal(len, 0);
	assert_string_equal(s, "");
	free(s);
	strbuf_release(&sb);
	check_invariants(&sb);
}

static void test_add(void **state)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "hello");
	strbuf_addc(&sb, ' ');
	strbuf_addf(&sb, "%s #%d", "world", 7);
	check_invariants(&sb);
	assert_string_equal(sb.buf, "hello world #7");
	assert_int_equal(sb.len, 14);
	strbuf_add(&sb, "\0mid\0", 5);
	check_invariants(&sb);
	assert_int_equal(sb.len, 19);
	assert_memory_equal(sb.buf + 14, "\0mid\0", 5);
	strbuf_setlen(&sb, 5);
	check_invariants(&sb);
	assert_string_equal(sb.buf, "hello");
	strbuf_consume(&sb, 2);
	check_invariants(&sb);
	assert_string_equal(sb.buf, "llo");
	strbuf_consume(&sb, 3);
	assert_string_equal(sb.buf, "");
	strbuf_reset(&sb);
	assert_int_equal(sb.len, 0);
	check_invariants(&sb);
}

static void test_grow(void **state)
{
	struct strbuf sb;
	strbuf_init(&sb, 10);
	assert_true(sb.alloc >= 11);
	check_invariants(&sb);
	/* Many appends across reallocations keep content and invariants. */
	for (int i = 0; i < 10000; i++) {
		strbuf_addf(&sb, "%04d,", i % 10000);
		check_invariants(&sb);
	}
	assert_int_equal(sb.len, 50000);
	assert_memory_equal(sb.buf, "0000,0001,", 10);
	assert_memory_equal(sb.buf + sb.len - 5, "9999,", 5);
	/* A long formatted piece at once. */
	strbuf_reset(&sb);
	char big[5000];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	strbuf_addf(&sb, "[%s]", big);
	assert_int_equal(sb.len, sizeof(big) + 1);
	assert_int_equal(sb.buf[0], '[');
	assert_int_equal(sb.buf[sb.len - 1], ']');
	size_t len = 0;
	char *s = strbuf_detach(&sb, &len);
	assert_int_equal(len, sizeof(big) + 1);
	assert_int_equal(strlen(s), len);
	free(s);
	/* detach re-initialised the buffer. */
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.alloc, 0);
	check_invariants(&sb);
	strbuf_adds(&sb, "again");
	assert_string_equal(sb.buf, "again");
	strbuf_release(&sb);
}

__attribute__((format(printf, 2, 3))) static void vadd(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(sb, fmt, ap);
	va_end(ap);
}

static void test_vaddf(void **state)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	vadd(&sb, "%s=%u", "k", 5u);
	vadd(&sb, "%c", ';');
	assert_string_equal(sb.buf, "k=5;");
	check_invariants(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_vaddf),
	};
	return cmocka_run_group_tests_name("strbuf", tests, NULL, NULL);
}

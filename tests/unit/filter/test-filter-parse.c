/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/filter: containerd's filter syntax, matching and positioned errors. */
#include <errno.h>

#include "common/common.h"
#include "common/filter.h"

/* cmocka.h needs these before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#define S(x) ((char *)(x))

/* The object under test: a name, a few fields and labels. */
struct obj {
	const char *name;
	const char *digest;
	const char *nested; /* target.mediatype */
	char *labels[16];
};

static bool obj_field(void *userdata, const char *const *path, size_t n, const char **ret)
{
	struct obj *o = userdata;

	if (n == 1 && streq(path[0], "name") && o->name) {
		*ret = o->name;
		return true;
	}
	if (n == 1 && streq(path[0], "digest") && o->digest) {
		*ret = o->digest;
		return true;
	}
	if (n == 2 && streq(path[0], "target") && streq(path[1], "mediatype") && o->nested) {
		*ret = o->nested;
		return true;
	}
	return filter_lookup_labels(o->labels, path, n, ret);
}

static struct obj busybox = {
	.name = "docker.io/library/busybox:latest",
	.digest = "sha256:abc",
	.nested = "application/vnd.oci.image.index.v1+json",
	.labels = {S("foo"), S("bar"), S("with space"), S("x y"), S("a.b"), S("dotted"), S("empty"),
		   S(""), S("utf"), S("h\u00e9!"), NULL},
};

static struct obj alpine = {
	.name = "docker.io/library/alpine:3.18",
	.labels = {S("foo"), S("baz"), NULL},
};

static bool matches(const char *expr, struct obj *o)
{
	struct wh_err *err = NULL;
	struct filter *f = NULL;
	bool m;

	if (filter_parse(expr, &f, &err) < 0)
		fail_msg("parse '%s': %s", expr, wh_err_msg(err));
	m = filter_match(f, obj_field, o);
	filter_free(f);
	return m;
}

static void test_empty_matches_all(void **state)
{
	assert_true(matches("", &busybox));
	assert_true(filter_match(NULL, obj_field, &alpine));
}

static void test_equality_and_presence(void **state)
{
	assert_true(matches("name==docker.io/library/busybox:latest", &busybox));
	assert_false(matches("name==docker.io/library/busybox:latest", &alpine));
	assert_true(matches("labels.foo", &busybox));
	assert_false(matches("labels.nope", &busybox));
	assert_true(matches("labels.empty", &busybox));
	assert_true(matches("labels.empty==\"\"", &busybox));
	assert_true(matches("labels.foo==bar", &busybox));
	assert_false(matches("labels.foo==baz", &busybox));
	assert_true(matches("target.mediatype==application/vnd.oci.image.index.v1+json", &busybox));
}

static void test_not_equal_absent(void **state)
{
	/* containerd: != is true for an absent field */
	assert_true(matches("labels.nope!=x", &busybox));
	assert_false(matches("labels.foo!=bar", &busybox));
	assert_true(matches("labels.foo!=bar", &alpine));
}

static void test_quoted(void **state)
{
	assert_true(matches("labels.\"with space\"==\"x y\"", &busybox));
	assert_true(matches("labels.\"a.b\"==dotted", &busybox));
	/* labels.a.b reaches the key "a.b" as well */
	assert_true(matches("labels.a.b==dotted", &busybox));
	assert_true(matches("labels.foo==\"b\\x61r\"", &busybox));
	assert_true(matches("labels.foo==\"\\u0062ar\"", &busybox));
	assert_true(matches("labels.foo==\"\\142ar\"", &busybox));
}

static void test_regex(void **state)
{
	assert_true(matches("name~=busybox", &busybox));
	assert_false(matches("name~=busybox", &alpine));
	assert_true(matches("name~=^docker\\.io/library/(alpine|busybox)", &alpine));
	assert_true(matches("name~=/alpine|busybox/", &alpine));
	/* inside quotes Go's escapes apply, so a regex backslash is doubled */
	assert_true(matches("name~=|:3\\\\.[0-9]+$|", &alpine));
	assert_true(matches("name~=\"^docker\\\\.io\"", &alpine));
	assert_false(matches("labels.nope~=.*", &alpine));
	/* ordinary repetitions and counts stay accepted */
	assert_true(matches("name~=^(docker)+\\.io/[a-z]+/b(u|x)*sybox", &busybox));
	assert_true(matches("name~=\"/[a-z]{2,10}/busy\"", &busybox));
}

/* Patterns that cost glibc's regcomp seconds and gigabytes (found by fuzz-filter) compile and
 * match; ones RE2 refuses as too large or malformed are refused with the reason. */
static void test_regex_hostile(void **state)
{
	static const char *const bad[] = {
		"name~=a++++++++++++++++++++++++",
		"name~=((a{100}){100}){100}",
		"name~=a{1000000000}",
		"name~=\"(\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wh_err *err = NULL;
		struct filter *f = NULL;
		assert_int_equal(filter_parse(bad[i], &f, &err), -EINVAL);
		assert_non_null(strstr(wh_err_msg(err), "invalid regular expression"));
		wh_err_free(err);
	}
	struct strbuf s = STRBUF_INIT;
	strbuf_adds(&s, "name~=\"");
	for (int i = 0; i < 330; i++)
		strbuf_adds(&s, "()*");
	strbuf_adds(&s, "busybox\"");
	assert_true(matches(s.buf, &busybox));
	assert_false(matches(s.buf, &alpine));
	strbuf_release(&s);
	assert_true(
		matches("name~=((((((((((((((((((((b+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+usy",
			&busybox));
	assert_false(matches("name~=^(a*)*$", &busybox));
	/* UTF-8 as Go: one code point is one character */
	assert_true(matches("labels.utf~=^h.!$", &busybox));
}

static void test_and_or(void **state)
{
	assert_true(matches("labels.foo==bar,name~=busybox", &busybox));
	assert_false(matches("labels.foo==bar,name~=alpine", &busybox));
	assert_true(matches("labels.foo==bar | labels.foo==baz", &alpine));
	assert_true(matches("labels.foo==\"bar\"|labels.foo==baz", &busybox));
	assert_true(matches("labels.foo|name~=alpine", &alpine));
	/* an unquoted value runs to a space or ',' (containerd): this is one value */
	assert_false(matches("labels.foo==baz|labels.foo==bar", &alpine));
	assert_true(matches("name~=alpine|busybox", &busybox));
	assert_false(matches("labels.foo==x|labels.foo==y", &busybox));
	assert_true(matches("  labels.foo == bar ,  name ~= busy  ", &busybox));
}

static void test_parse_all_is_or(void **state)
{
	const char *ss[] = {"labels.foo==bar", "name~=alpine"};
	struct filter *f = NULL;

	assert_int_equal(filter_parse_all(ss, 2, &f, NULL), 0);
	assert_true(filter_match(f, obj_field, &busybox));
	assert_true(filter_match(f, obj_field, &alpine));
	filter_free(f);
	assert_int_equal(filter_parse_all(NULL, 0, &f, NULL), 0);
	assert_true(filter_match(f, obj_field, &alpine));
	filter_free(f);
}

/* Parses a bad expression and checks the message names the position and the cause. */
static void expect_error(const char *expr, size_t pos, const char *cause)
{
	cleanup_err struct wh_err *err = NULL;
	struct filter *f = NULL;
	char at[64];

	assert_int_equal(filter_parse(expr, &f, &err), -EINVAL);
	assert_null(f);
	assert_non_null(err);
	assert_int_equal(err->code, EINVAL);
	snprintf(at, sizeof(at), "(at offset %zu)", pos);
	if (!strstr(err->msg, at) || !strstr(err->msg, cause))
		fail_msg("'%s': got '%s', want offset %zu and '%s'", expr, err->msg, pos, cause);
	assert_non_null(strstr(err->msg, "filters: parse error: ["));
}

static void test_errors_with_position(void **state)
{
	expect_error("labels.foo==", 12, "expected value or quoted");
	expect_error("labels.foo=bar", 10, "unsupported operator \"=\"");
	expect_error("labels.foo===bar", 10, "unsupported operator");
	expect_error(",name", 0, "expected field or quoted");
	expect_error("name==a,", 8, "expected field or quoted");
	expect_error("labels.", 7, "expected field or quoted");
	expect_error("labels.\"unterminated", 7, "quoted literal not terminated");
	expect_error("name==\"bad\\q\"", 10, "illegal escape sequence");
	expect_error("name==\"\\xZZ\"", 7, "illegal numeric escape sequence");
	expect_error("name~=\"(\"", 6, "invalid regular expression");
	expect_error("name==/x/", 6, "invalid quote encountered");
	expect_error("name foo", 5, "expected an operator");
	expect_error("name==a b", 8, "unexpected input");
}

static void test_error_marks_character(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct filter *f = NULL;

	assert_int_equal(filter_parse("labels.foo=bar", &f, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "[labels.foo >|=|< bar]"));
}

static void test_lookup_labels_shape(void **state)
{
	char *kv[] = {S("k"), S("v"), NULL};
	const char *p1[] = {"labels"}, *p2[] = {"labels", "k"}, *p3[] = {"other", "k"};
	const char *v = NULL;

	assert_false(filter_lookup_labels(kv, p1, 1, &v));
	assert_true(filter_lookup_labels(kv, p2, 2, &v));
	assert_string_equal(v, "v");
	assert_false(filter_lookup_labels(kv, p3, 2, &v));
	assert_false(filter_lookup_labels(NULL, p2, 2, &v));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_matches_all),
		cmocka_unit_test(test_equality_and_presence),
		cmocka_unit_test(test_not_equal_absent),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_regex),
		cmocka_unit_test(test_regex_hostile),
		cmocka_unit_test(test_and_or),
		cmocka_unit_test(test_parse_all_is_or),
		cmocka_unit_test(test_errors_with_position),
		cmocka_unit_test(test_error_marks_character),
		cmocka_unit_test(test_lookup_labels_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

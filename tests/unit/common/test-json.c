/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/json.h: malformed input, the depth bound, field-naming errors of the typed
 * accessors, and the writer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"

/* A temp dir for the whole group, removed by the group teardown even when a test fails. */
static char tmpdir[] = "/tmp/fixtures-json-XXXXXX";

static int group_setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	return rm_rf(tmpdir);
}

static yajl_val parse_ok(const char *text)
{
	yajl_val v = NULL;
	cleanup_err struct wh_err *err = NULL;
	if (json_parse(text, strlen(text), &v, &err) < 0)
		fail_msg("parse '%s': %s", text, wh_err_msg(err));
	assert_non_null(v);
	return v;
}

static void parse_bad(const char *text, size_t len, const char *want_prefix)
{
	yajl_val v = NULL;
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(json_parse(text, len, &v, &err), -EBADMSG);
	assert_null(v);
	assert_int_equal(err->code, EBADMSG);
	if (!str_startswith(err->msg, want_prefix))
		fail_msg("message '%s' does not start with '%s'", err->msg, want_prefix);
	assert_null(strchr(err->msg, '\n'));
}

static void test_malformed(void **state)
{
	const char *bad[] = {"",	  "{",	   "[1,]",	 "{\"a\":}",
			     "{\"a\" 1}", "[1 2]", "nul",	 "\"unterminated",
			     "{'a':1}",	  "[1]]",  "{\"a\":1,}", "\"\\x\"",
			     "01",	  "[.5]",  "tru"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		parse_bad(bad[i], strlen(bad[i]), "invalid JSON: ");
	/* A NUL inside the given length is refused, not silently truncated. */
	parse_bad("{\"a\":1}\0garbage", 15, "invalid JSON: NUL byte in input");
	/* Only len bytes are read: no NUL terminator needed. */
	char exact[] = {'[', '1', ']', 'x'};
	yajl_val v = NULL;
	assert_int_equal(json_parse(exact, 3, &v, NULL), 0);
	assert_true(YAJL_IS_ARRAY(v));
	yajl_tree_free(v);
	/* Without err: the code alone. */
	assert_int_equal(json_parse("{", 1, &v, NULL), -EBADMSG);
}

static void test_depth(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		strbuf_addc(&sb, i % 2 ? '[' : '[');
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		strbuf_addc(&sb, ']');
	yajl_val v = parse_ok(sb.buf);
	yajl_tree_free(v);

	/* A depth bomb: refused up front, however deep. */
	strbuf_reset(&sb);
	for (int i = 0; i < 1000000; i++)
		strbuf_adds(&sb, "{\"a\":[");
	parse_bad(sb.buf, sb.len, "invalid JSON: nesting deeper than 64");
	strbuf_reset(&sb);
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		strbuf_addc(&sb, '[');
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		strbuf_addc(&sb, ']');
	parse_bad(sb.buf, sb.len, "invalid JSON: nesting deeper than 64");

	/* Brackets inside strings, escaped quotes included, do not count. */
	strbuf_reset(&sb);
	strbuf_adds(&sb, "{\"k\\\"[[\":\"");
	for (int i = 0; i < 1000; i++)
		strbuf_adds(&sb, "[{\\\"");
	strbuf_adds(&sb, "\"}");
	v = parse_ok(sb.buf);
	assert_int_equal(strlen(json_get(v, "k\"[[")->u.string), 3000); /* [{" each */
	yajl_tree_free(v);
	strbuf_release(&sb);
}

/* The plain and absent paths of the optional accessors: absent leaves *ret alone. */
static void v2_checks(yajl_val p)
{
	uint64_t u = 5;
	int64_t i = 6;
	bool b = true;
	assert_int_equal(json_get_uint64_opt(p, "absent", "x", &u, NULL), 0);
	assert_int_equal(u, 5);
	assert_int_equal(json_get_int64_opt(p, "absent", "x", &i, NULL), 0);
	assert_int_equal(i, 6);
	assert_int_equal(json_get_bool_opt(p, "absent", "x", &b, NULL), 0);
	assert_true(b);
	yajl_val v = parse_ok("{\"n\":42,\"z\":0}");
	assert_int_equal(json_get_uint64_opt(v, "n", "n", &u, NULL), 0);
	assert_int_equal(u, 42);
	assert_int_equal(json_uint64(json_get(v, "z"), "z", &u, NULL), 0);
	assert_int_equal(u, 0);
	yajl_tree_free(v);
}

static void test_accessors(void **state)
{
	yajl_val v = parse_ok("{\"process\":{\"args\":[\"sh\",3],\"cwd\":\"/\",\"uid\":-1,"
			      "\"big\":18446744073709551615,\"terminal\":true,\"env\":[\"A=1\"],"
			      "\"gone\":null,\"n\":1.5,\"t\":\"x\"}}");
	cleanup_err struct wh_err *err = NULL;
	yajl_val p = json_get(v, "process");
	assert_non_null(p);
	assert_null(json_get(v, "nope"));
	assert_null(json_get(p, "gone")); /* null counts as absent */
	assert_null(json_get(json_get(p, "cwd"), "x"));
	assert_null(json_get(NULL, "x"));

	const char *s = NULL;
	assert_int_equal(json_get_string(p, "cwd", "process.cwd", &s, &err), 0);
	assert_string_equal(s, "/");
	assert_int_equal(json_get_string(p, "missing", "process.missing", &s, &err), -EINVAL);
	assert_string_equal(err->msg, "process.missing: missing");
	err = wh_err_free(err);
	assert_int_equal(json_get_string(p, "gone", "process.gone", &s, &err), -EINVAL);
	assert_string_equal(err->msg, "process.gone: missing");
	err = wh_err_free(err);
	s = "untouched";
	assert_int_equal(json_get_string_opt(p, "gone", "process.gone", &s, &err), 0);
	assert_string_equal(s, "untouched");
	assert_int_equal(json_get_string_opt(p, "uid", "process.uid", &s, &err), -EINVAL);
	assert_string_equal(err->msg, "process.uid: expected a string");
	err = wh_err_free(err);

	yajl_val args = json_get(p, "args");
	assert_int_equal(json_string(args->u.array.values[1], "process.args[1]", &s, &err),
			 -EINVAL);
	assert_string_equal(err->msg, "process.args[1]: expected a string");
	err = wh_err_free(err);
	cleanup_strv char **l = NULL;
	assert_int_equal(json_get_strv_opt(p, "args", "process.args", &l, &err), -EINVAL);
	assert_string_equal(err->msg, "process.args[1]: expected a string");
	assert_null(l);
	err = wh_err_free(err);
	assert_int_equal(json_get_strv_opt(p, "cwd", "process.cwd", &l, &err), -EINVAL);
	assert_string_equal(err->msg, "process.cwd: expected an array of strings");
	err = wh_err_free(err);
	assert_int_equal(json_get_strv_opt(p, "env", "process.env", &l, &err), 0);
	assert_int_equal(strv_length(l), 1);
	assert_string_equal(l[0], "A=1");
	assert_int_equal(json_get_strv_opt(p, "absent", "process.absent", &l, &err), 0);
	assert_int_equal(strv_length(l), 1); /* untouched */

	int64_t i = 0;
	assert_int_equal(json_get_int64_opt(p, "uid", "process.uid", &i, &err), 0);
	assert_int_equal(i, -1);
	assert_int_equal(json_get_int64_opt(p, "n", "process.n", &i, &err), -EINVAL);
	assert_string_equal(err->msg, "process.n: expected an integer");
	err = wh_err_free(err);
	assert_int_equal(json_int64(NULL, "process.x", &i, &err), -EINVAL);
	assert_string_equal(err->msg, "process.x: missing");
	err = wh_err_free(err);

	uint64_t u = 0;
	v2_checks(p);
	assert_int_equal(json_get_uint64_opt(p, "big", "process.big", &u, &err), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(json_get_uint64_opt(p, "uid", "process.uid", &u, &err), -EINVAL);
	assert_string_equal(err->msg, "process.uid: must not be negative");
	err = wh_err_free(err);
	assert_int_equal(json_get_uint64_opt(p, "n", "process.n", &u, &err), -EINVAL);
	assert_string_equal(err->msg, "process.n: expected an unsigned integer");
	err = wh_err_free(err);
	assert_int_equal(json_uint64(NULL, "process.x", &u, &err), -EINVAL);
	err = wh_err_free(err);

	bool b = false;
	assert_int_equal(json_get_bool_opt(p, "terminal", "process.terminal", &b, &err), 0);
	assert_true(b);
	assert_int_equal(json_get_bool_opt(p, "t", "process.t", &b, &err), -EINVAL);
	assert_string_equal(err->msg, "process.t: expected a boolean");
	err = wh_err_free(err);

	assert_int_equal(json_expect_object(p, "process", &err), 0);
	assert_int_equal(json_expect_object(NULL, "process", &err), 0);
	assert_int_equal(json_expect_object(args, "process.args", &err), -EINVAL);
	assert_string_equal(err->msg, "process.args: expected an object");
	err = wh_err_free(err);
	assert_int_equal(json_expect_array(args, "process.args", &err), 0);
	assert_int_equal(json_expect_array(p, "process", &err), -EINVAL);
	assert_string_equal(err->msg, "process: expected an array");
	yajl_tree_free(v);
}

static void test_file(void **state)
{
	const char *dir = tmpdir;
	cleanup_free char *p = path_join(dir, "config.json");
	const char *text = "{\"ociVersion\":\"1.0.2\"}";
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
	yajl_val v = NULL;
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(json_parse_file(p, 1024, &v, &err), 0);
	const char *s = NULL;
	assert_int_equal(json_get_string(v, "ociVersion", "ociVersion", &s, &err), 0);
	assert_string_equal(s, "1.0.2");
	yajl_tree_free(v);
	assert_int_equal(json_parse_file(p, 5, &v, &err), -EFBIG);
	cleanup_free char *want = xasprintf("read '%s': larger than 5 bytes", p);
	assert_string_equal(err->msg, want);
	err = wh_err_free(err);
	assert_int_equal(write_file_atomic(p, "{", 1, 0644), 0);
	assert_int_equal(json_parse_file(p, 1024, &v, &err), -EBADMSG);
	cleanup_free char *prefix = xasprintf("parse '%s': invalid JSON: ", p);
	assert_true(str_startswith(err->msg, prefix));
	err = wh_err_free(err);
	cleanup_free char *missing = path_join(dir, "missing.json");
	assert_int_equal(json_parse_file(missing, 1024, &v, &err), -ENOENT);
	assert_true(str_endswith(err->msg, "No such file or directory"));
}

static void test_writer(void **state)
{
	yajl_gen g = json_gen_new(false);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "msg", "quote \" backslash \\ newline \n tab \t");
	json_gen_kv_int(g, "n", INT64_MIN);
	json_gen_kv_bool(g, "ok", true);
	json_gen_str(g, "list");
	yajl_gen_array_open(g);
	json_gen_str(g, "grüße");
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	size_t len = 0;
	cleanup_free char *out = json_gen_finish(g, &len);
	assert_int_equal(strlen(out), len);
	assert_string_equal(out, "{\"msg\":\"quote \\\" backslash \\\\ newline \\n tab \\t\","
				 "\"n\":-9223372036854775808,\"ok\":true,\"list\":[\"grüße\"]}");

	/* Parse, write back, parse again: the same document. */
	yajl_val v = parse_ok(out);
	const char *s = NULL;
	assert_int_equal(json_get_string(v, "msg", "msg", &s, NULL), 0);
	assert_string_equal(s, "quote \" backslash \\ newline \n tab \t");
	const char *doc = "{\"a\":[1,2.5,-3e2,true,false,null,{\"b\":{}},[]],\"c\":\"d\"}";
	yajl_val d = parse_ok(doc);
	g = json_gen_new(false);
	json_gen_value(g, d);
	cleanup_free char *again = json_gen_finish(g, NULL);
	assert_string_equal(again, doc);
	g = json_gen_new(true);
	json_gen_value(g, d);
	cleanup_free char *pretty = json_gen_finish(g, NULL);
	assert_non_null(strchr(pretty, '\n'));
	yajl_val d2 = parse_ok(pretty);
	g = json_gen_new(false);
	json_gen_value(g, d2);
	cleanup_free char *compact = json_gen_finish(g, NULL);
	assert_string_equal(compact, doc);
	yajl_tree_free(v);
	yajl_tree_free(d);
	yajl_tree_free(d2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed), cmocka_unit_test(test_depth),
		cmocka_unit_test(test_accessors), cmocka_unit_test(test_file),
		cmocka_unit_test(test_writer),
	};
	return cmocka_run_group_tests_name("json", tests, group_setup, group_teardown);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the TOML subset parser (common/toml.h): valid documents, malformed ones with
 * their positions, table rules, typed lookups and containerd's own default config. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"

/* A temp dir for the whole group, removed by the group teardown even when a test fails. */
static char tmpdir[] = "/tmp/fixtures-toml-XXXXXX";

static int group_setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	return rm_rf(tmpdir);
}

static struct toml_doc *parse_ok(const char *text)
{
	struct toml_doc *doc = NULL;
	cleanup_err struct wh_err *err = NULL;
	int r = toml_parse(text, strlen(text), "t.toml", &doc, &err);
	if (r < 0)
		fail_msg("unexpected error: %s\n--- input:\n%s", wh_err_msg(err), text);
	assert_non_null(doc);
	return doc;
}

/* Parses text, expects failure with exactly the message want. */
static void parse_bad(const char *text, const char *want)
{
	struct toml_doc *doc = NULL;
	cleanup_err struct wh_err *err = NULL;
	int r = toml_parse(text, strlen(text), "t.toml", &doc, &err);
	if (r >= 0)
		fail_msg("accepted invalid input:\n%s", text);
	assert_int_equal(r, -EBADMSG);
	assert_non_null(err);
	assert_int_equal(err->code, EBADMSG);
	assert_null(doc);
	if (want && !streq(err->msg, want))
		fail_msg("message\n  got:  %s\n  want: %s\n--- input:\n%s", err->msg, want, text);
}

static const char *str_at(const struct toml_doc *doc, const char *path)
{
	const struct toml_value *v = toml_get(toml_doc_root(doc), path);
	assert_non_null(v);
	assert_int_equal(toml_type(v), TOML_STRING);
	return toml_string(v);
}

static int64_t int_at(const struct toml_doc *doc, const char *path)
{
	const struct toml_value *v = toml_get(toml_doc_root(doc), path);
	if (!v)
		fail_msg("no '%s'", path);
	assert_int_equal(toml_type(v), TOML_INT);
	return toml_int(v);
}

static void test_scalars(void **state)
{
	struct toml_doc *doc = parse_ok("# leading comment\n"
					"a = 1\n"
					"b = -42 # trailing comment\n"
					"c = +7\n"
					"d = 1_000_000\n"
					"e = 0\n"
					"f = -0\n"
					"g = 0xDEAD_beef\n"
					"h = 0o755\n"
					"i = 0b1010\n"
					"j = 9223372036854775807\n"
					"k = -9223372036854775808\n"
					"l = 0x7fffffffffffffff\n"
					"t = true\n"
					"u = false\n"
					"s = \"hello\"\n"
					"x = 0.02\n"
					"y = -1.5e3\n"
					"z = 6.626e-34\n"
					"w = 1E2\n"
					"v = 1_0.0_1\n"
					"pinf = +inf\n"
					"ninf = -inf\n"
					"nn = nan\n");
	assert_int_equal(int_at(doc, "a"), 1);
	assert_int_equal(int_at(doc, "b"), -42);
	assert_int_equal(int_at(doc, "c"), 7);
	assert_int_equal(int_at(doc, "d"), 1000000);
	assert_int_equal(int_at(doc, "e"), 0);
	assert_int_equal(int_at(doc, "f"), 0);
	assert_int_equal(int_at(doc, "g"), 0xdeadbeef);
	assert_int_equal(int_at(doc, "h"), 0755);
	assert_int_equal(int_at(doc, "i"), 10);
	assert_true(int_at(doc, "j") == INT64_MAX);
	assert_true(int_at(doc, "k") == INT64_MIN);
	assert_true(int_at(doc, "l") == INT64_MAX);
	const struct toml_value *root = toml_doc_root(doc);
	assert_true(toml_bool(toml_get(root, "t")));
	assert_false(toml_bool(toml_get(root, "u")));
	assert_string_equal(str_at(doc, "s"), "hello");
	assert_true(toml_float(toml_get(root, "x")) == 0.02);
	assert_true(toml_float(toml_get(root, "y")) == -1500.0);
	assert_true(toml_float(toml_get(root, "z")) == 6.626e-34);
	assert_true(toml_float(toml_get(root, "w")) == 100.0);
	assert_true(toml_float(toml_get(root, "v")) == 10.01);
	assert_true(isinf(toml_float(toml_get(root, "pinf"))) &&
		    toml_float(toml_get(root, "pinf")) > 0);
	assert_true(isinf(toml_float(toml_get(root, "ninf"))) &&
		    toml_float(toml_get(root, "ninf")) < 0);
	assert_true(isnan(toml_float(toml_get(root, "nn"))));
	toml_doc_free(doc);
}

static void test_strings(void **state)
{
	struct toml_doc *doc =
		parse_ok("basic = \"tab\\there \\\"q\\\" back\\\\slash \\u00e9 \\U0001F600\"\n"
			 "esc = \"\\b\\f\\n\\r\"\n"
			 "lit = 'C:\\Users\\x \"as is\"'\n"
			 "empty = \"\"\n"
			 "emptylit = ''\n"
			 "utf8 = \"grüße\"\n"
			 "ml = \"\"\"\nline one\nline two\"\"\"\n"
			 "mlcrlf = \"\"\"\r\na\r\nb\"\"\"\n"
			 "fold = \"\"\"\\\n    The quick \\\n\n    fox.\\\n    \"\"\"\n"
			 "quotes = \"\"\"one \" two \"\" end\"\"\"\"\"\n"
			 "mllit = '''\nraw \\n text\n'''\n"
			 "mllitq = ''''quoted'''''\n"
			 "tab = \"a\tb\"\n");
	assert_string_equal(str_at(doc, "basic"),
			    "tab\there \"q\" back\\slash \xc3\xa9 \xf0\x9f\x98\x80");
	assert_string_equal(str_at(doc, "esc"), "\b\f\n\r");
	assert_string_equal(str_at(doc, "lit"), "C:\\Users\\x \"as is\"");
	assert_string_equal(str_at(doc, "empty"), "");
	assert_string_equal(str_at(doc, "emptylit"), "");
	assert_string_equal(str_at(doc, "utf8"), "grüße");
	assert_string_equal(str_at(doc, "ml"), "line one\nline two");
	assert_string_equal(str_at(doc, "mlcrlf"), "a\nb");
	assert_string_equal(str_at(doc, "fold"), "The quick fox.");
	assert_string_equal(str_at(doc, "quotes"), "one \" two \"\" end\"\"");
	assert_string_equal(str_at(doc, "mllit"), "raw \\n text\n");
	assert_string_equal(str_at(doc, "mllitq"), "'quoted''");
	assert_string_equal(str_at(doc, "tab"), "a\tb");
	toml_doc_free(doc);
}

static void test_keys_and_tables(void **state)
{
	struct toml_doc *doc =
		parse_ok("version = 2\n"
			 "\"quoted key\" = 1\n"
			 "'lit.key' = 2\n"
			 "site.\"google.com\" = true\n"
			 "a . b . c = 3\n"
			 "bare-key_1 = 4\n"
			 "1234 = 5\n"
			 "\n"
			 "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
			 "  snapshotter = \"overlayfs\"\n"
			 "  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
			 "    runtime_type = \"io.containerd.runc.v2\"\n"
			 "[ plugins . 'io.containerd.grpc.v1.cri' ]\n"
			 "  sandbox_image = \"pause\"\n"
			 "[fruit]\n"
			 "apple.color = \"red\"\n"
			 "apple.taste.sweet = true\n"
			 "[fruit.apple.texture]\n"
			 "smooth = true\n");
	const struct toml_value *root = toml_doc_root(doc);
	assert_int_equal(int_at(doc, "version"), 2);
	assert_int_equal(int_at(doc, "\"quoted key\""), 1);
	assert_non_null(toml_table_get(root, "quoted key"));
	assert_int_equal(int_at(doc, "'lit.key'"), 2);
	assert_null(toml_get(root, "lit.key"));
	assert_true(toml_bool(toml_get(root, "site.\"google.com\"")));
	assert_int_equal(int_at(doc, "a.b.c"), 3);
	assert_int_equal(int_at(doc, "bare-key_1"), 4);
	assert_int_equal(int_at(doc, "1234"), 5);
	assert_string_equal(
		str_at(doc, "plugins.\"io.containerd.grpc.v1.cri\".containerd.snapshotter"),
		"overlayfs");
	assert_string_equal(
		str_at(doc,
		       "plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.runc.runtime_type"),
		"io.containerd.runc.v2");
	assert_string_equal(str_at(doc, "plugins.\"io.containerd.grpc.v1.cri\".sandbox_image"),
			    "pause");
	assert_string_equal(str_at(doc, "fruit.apple.color"), "red");
	assert_true(toml_bool(toml_get(root, "fruit.apple.taste.sweet")));
	assert_true(toml_bool(toml_get(root, "fruit.apple.texture.smooth")));

	/* Keys iterate in document order. */
	const char *want[] = {"version",    "quoted key", "lit.key", "site", "a",
			      "bare-key_1", "1234",	  "plugins", "fruit"};
	assert_int_equal(toml_table_len(root), ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_string_equal(toml_table_key(root, i), want[i]);
		assert_ptr_equal(toml_table_value(root, i), toml_table_get(root, want[i]));
	}
	assert_null(toml_table_key(root, ARRAY_SIZE(want)));
	assert_null(toml_table_value(root, ARRAY_SIZE(want)));

	/* Positions: a defined table is where its header is; a value where it starts. */
	const struct toml_value *cri = toml_get(root, "plugins.\"io.containerd.grpc.v1.cri\"");
	assert_int_equal(toml_line(cri), 13);
	assert_int_equal(toml_column(cri), 1);
	const struct toml_value *rt =
		toml_get(root, "plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc."
			       "runtime_type");
	assert_int_equal(toml_line(rt), 12);
	assert_int_equal(toml_column(rt), 20);
	cleanup_free char *path = toml_path(rt);
	assert_string_equal(path, "plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc."
				  "runtime_type");
	toml_doc_free(doc);
}

static void test_arrays_and_inline(void **state)
{
	struct toml_doc *doc = parse_ok("empty = []\n"
					"ints = [1, 2, 3]\n"
					"nested = [[1, 2], ['a', \"b\"], []]\n"
					"multi = [\n"
					"  \"one\", # comment\n"
					"  # another\n"
					"  \"two\",\n"
					"]\n"
					"mixed = [1, 'x', true, {k = 1}]\n"
					"point = { x = 1, y = -2, name.first = \"p\" }\n"
					"emptyinline = {}\n"
					"[[servers]]\n"
					"name = \"alpha\"\n"
					"[servers.tls]\n"
					"on = true\n"
					"[[servers]]\n"
					"name = \"beta\"\n"
					"[[servers.ports]]\n"
					"n = 80\n");
	const struct toml_value *root = toml_doc_root(doc);
	const struct toml_value *v = toml_get(root, "empty");
	assert_int_equal(toml_type(v), TOML_ARRAY);
	assert_int_equal(toml_array_len(v), 0);
	v = toml_get(root, "ints");
	assert_int_equal(toml_array_len(v), 3);
	assert_int_equal(toml_int(toml_array_at(v, 2)), 3);
	assert_null(toml_array_at(v, 3));
	v = toml_get(root, "nested");
	assert_int_equal(toml_array_len(v), 3);
	assert_string_equal(toml_string(toml_array_at(toml_array_at(v, 1), 1)), "b");
	assert_int_equal(toml_array_len(toml_array_at(v, 2)), 0);
	cleanup_strv char **multi = NULL;
	assert_int_equal(toml_get_strv(root, "multi", &multi, NULL), 1);
	assert_int_equal(strv_length(multi), 2);
	assert_string_equal(multi[1], "two");
	v = toml_get(root, "mixed");
	assert_int_equal(toml_type(toml_array_at(v, 3)), TOML_TABLE);
	assert_int_equal(int_at(doc, "point.y"), -2);
	assert_string_equal(str_at(doc, "point.name.first"), "p");
	assert_int_equal(toml_table_len(toml_get(root, "emptyinline")), 0);

	const struct toml_value *servers = toml_get(root, "servers");
	assert_int_equal(toml_type(servers), TOML_ARRAY);
	assert_int_equal(toml_array_len(servers), 2);
	const struct toml_value *s0 = toml_array_at(servers, 0), *s1 = toml_array_at(servers, 1);
	const char *name = NULL;
	assert_int_equal(toml_get_string(s0, "name", &name, NULL), 1);
	assert_string_equal(name, "alpha");
	bool on = false;
	assert_int_equal(toml_get_bool(s0, "tls.on", &on, NULL), 1);
	assert_true(on);
	assert_int_equal(toml_get_string(s1, "name", &name, NULL), 1);
	assert_string_equal(name, "beta");
	int64_t port = 0;
	const struct toml_value *ports = NULL;
	assert_int_equal(toml_get_array(s1, "ports", &ports, NULL), 1);
	assert_int_equal(toml_get_int(toml_array_at(ports, 0), "n", &port, NULL), 1);
	assert_int_equal(port, 80);
	cleanup_free char *path = toml_path(toml_get(toml_array_at(ports, 0), "n"));
	assert_string_equal(path, "servers[1].ports[0].n");
	toml_doc_free(doc);
}

static void test_typed_lookups(void **state)
{
	struct toml_doc *doc = parse_ok("[grpc]\n"
					"address = \"/run/wharf/wharfd.sock\"\n"
					"uid = 0\n"
					"ratio = 3\n"
					"on = true\n"
					"list = [\"a\", 2]\n");
	const struct toml_value *root = toml_doc_root(doc);
	const char *s = "untouched";
	int64_t i = 77;
	bool b = false;
	double d = 0;
	const struct toml_value *t = NULL;

	/* Absent: 0 and *ret untouched; also below a missing or NULL table. */
	assert_int_equal(toml_get_string(root, "grpc.nope", &s, NULL), 0);
	assert_string_equal(s, "untouched");
	assert_int_equal(toml_get_int(root, "nope.deeper", &i, NULL), 0);
	assert_int_equal(i, 77);
	assert_int_equal(toml_get_table(root, "missing", &t, NULL), 0);
	assert_null(t);
	assert_int_equal(toml_get_int(t, "x", &i, NULL), 0);
	/* A path through a non-table is absent; a malformed path is absent. */
	assert_null(toml_get(root, "grpc.address.more"));
	assert_null(toml_get(root, "grpc..address"));
	assert_null(toml_get(root, ""));
	assert_null(toml_get(root, "grpc.\"unterminated"));

	assert_int_equal(toml_get_string(root, "grpc.address", &s, NULL), 1);
	assert_string_equal(s, "/run/wharf/wharfd.sock");
	assert_int_equal(toml_get_int(root, "grpc.uid", &i, NULL), 1);
	assert_int_equal(i, 0);
	assert_int_equal(toml_get_bool(root, "grpc.on", &b, NULL), 1);
	assert_true(b);
	assert_int_equal(toml_get_float(root, "grpc.ratio", &d, NULL), 1);
	assert_true(d == 3.0);
	assert_int_equal(toml_get_table(root, "grpc", &t, NULL), 1);
	assert_int_equal(toml_table_len(t), 5);

	/* Wrong types name the file, the position and the path. */
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(toml_get_int(root, "grpc.address", &i, &err), -EINVAL);
	assert_string_equal(wh_err_msg(err),
			    "t.toml:2:11: 'grpc.address': expected an integer, got string");
	err = wh_err_free(err);
	assert_int_equal(toml_get_string(root, "grpc.uid", &s, &err), -EINVAL);
	assert_string_equal(wh_err_msg(err),
			    "t.toml:3:7: 'grpc.uid': expected a string, got integer");
	err = wh_err_free(err);
	assert_int_equal(toml_get_bool(root, "grpc.ratio", &b, &err), -EINVAL);
	assert_string_equal(wh_err_msg(err),
			    "t.toml:4:9: 'grpc.ratio': expected a boolean, got integer");
	err = wh_err_free(err);
	assert_int_equal(toml_get_array(root, "grpc", &t, &err), -EINVAL);
	assert_string_equal(wh_err_msg(err), "t.toml:1:1: 'grpc': expected an array, got table");
	err = wh_err_free(err);
	assert_int_equal(toml_get_float(root, "grpc.on", &d, &err), -EINVAL);
	err = wh_err_free(err);
	cleanup_strv char **l = NULL;
	assert_int_equal(toml_get_strv(root, "grpc.list", &l, &err), -EINVAL);
	assert_null(l);
	assert_string_equal(wh_err_msg(err),
			    "t.toml:6:14: 'grpc.list[1]': expected a string, got integer");
	err = wh_err_free(err);
	/* Without err, the code alone. */
	assert_int_equal(toml_get_int(root, "grpc.address", &i, NULL), -EINVAL);
	assert_int_equal(i, 0);

	/* toml_value_error for semantic checks by callers. */
	assert_int_equal(toml_value_error(toml_get(root, "grpc.uid"), &err, ERANGE, "must be %s",
					  "positive"),
			 -ERANGE);
	assert_int_equal(err->code, ERANGE);
	assert_string_equal(wh_err_msg(err), "t.toml:3:7: 'grpc.uid': must be positive");
	err = wh_err_free(err);
	assert_int_equal(toml_value_error(root, &err, EINVAL, "empty config"), -EINVAL);
	assert_string_equal(wh_err_msg(err), "t.toml:1:1: empty config");

	assert_string_equal(toml_doc_name(doc), "t.toml");
	toml_doc_free(doc);

	/* Paths quote keys that are not bare, escaping quotes, backslashes and controls. */
	doc = parse_ok("[\"a.b\".'q\"\\'.\"c\\u0001\"]\nx = 1\n");
	root = toml_doc_root(doc);
	const struct toml_value *x = toml_get(root, "\"a.b\".'q\"\\'.\"c\\u0001\".x");
	assert_non_null(x);
	cleanup_free char *path = toml_path(x);
	assert_string_equal(path, "\"a.b\".\"q\\\"\\\\\".\"c\\u0001\".x");
	assert_string_equal(toml_type_name(TOML_FLOAT), "float");
	assert_string_equal(toml_type_name(TOML_BOOL), "boolean");
	toml_doc_free(doc);
}

static void test_table_rules(void **state)
{
	/* Valid: a table implied by a header may be defined later, once. */
	toml_doc_free(parse_ok("[a.b.c]\nx = 1\n[a]\ny = 2\n[a.b]\nz = 3\n"));
	/* Valid: sub-tables below a table made of dotted keys. */
	toml_doc_free(
		parse_ok("[fruit]\napple.color = 'red'\n[fruit.apple.texture]\nsmooth = true\n"));
	/* Valid: empty document, only comments and blank lines, CRLF everywhere. */
	toml_doc_free(parse_ok(""));
	toml_doc_free(parse_ok("# just a comment"));
	toml_doc_free(parse_ok("\xef\xbb\xbf"
			       "a = 1\n"));
	parse_bad("\xef\xbb\xbf"
		  "a = \n",
		  "t.toml:1:5: expected a value, got end of line");
	parse_bad("a = 1\n\xef\xbb\xbf"
		  "b = 2\n",
		  "t.toml:2:1: expected a key, got byte 0xef");
	toml_doc_free(parse_ok("\n\n  \t\n# c\r\n\r\na = 1\r\n[t]\r\nb = 'x' # c\r\n"));

	parse_bad("a = 1\na = 2\n", "t.toml:2:1: duplicate key 'a'");
	parse_bad("[t]\nk = 1\n[x]\n[t]\n", "t.toml:4:1: table 't' defined twice");
	parse_bad("[a.b]\n[a]\nb = 1\n", "t.toml:3:1: duplicate key 'a.b'");
	parse_bad("[a]\nb.c = 1\n[a.b]\n",
		  "t.toml:3:1: table 'a.b' was already defined by dotted keys");
	parse_bad("a = {x = 1}\n[a]\n",
		  "t.toml:2:1: table 'a' was already defined by an inline table");
	parse_bad("a = {x = 1}\n[a.b]\n", "t.toml:2:1: cannot extend 'a': it is an inline table");
	parse_bad("a = {x = 1}\na.y = 2\n",
		  "t.toml:2:1: cannot add dotted keys to table 'a' defined elsewhere");
	parse_bad("a = 1\n[a.b]\n", "t.toml:2:1: cannot extend 'a': it is an integer");
	parse_bad("a = 1\na.b = 2\n", "t.toml:2:1: 'a' is already defined as an integer");
	parse_bad("a = 'x'\n[a]\n", "t.toml:2:1: 'a' is already defined as a string");
	parse_bad("a = []\n[[a]]\n",
		  "t.toml:2:1: 'a' is already defined as a static array, not an array of tables");
	parse_bad("[a]\n[[a]]\n",
		  "t.toml:2:1: 'a' is already defined as a table, not an array of tables");
	parse_bad("[[a]]\n[a]\n", "t.toml:2:1: 'a' is already defined as an array");
	parse_bad("[a.b.c]\nz = 9\n[a]\nb.c.t = 9\n",
		  "t.toml:4:1: cannot add dotted keys to table 'a.b.c' defined elsewhere");
	parse_bad("[a.b]\n[a]\nb.c = 1\n",
		  "t.toml:3:1: cannot add dotted keys to table 'a.b' defined elsewhere");
	/* Dotted keys may extend a table a header only passed through; it is then theirs. */
	struct toml_doc *doc = parse_ok("[a.b.c]\nz = 9\n[a]\nb.d = 1\n[a.b.e]\n");
	assert_int_equal(int_at(doc, "a.b.d"), 1);
	assert_int_equal(toml_table_len(toml_get(toml_doc_root(doc), "a.b")), 3);
	toml_doc_free(doc);
	parse_bad("[a.b.c]\n[a]\nb.d = 1\n[a.b]\n",
		  "t.toml:4:1: table 'a.b' was already defined by dotted keys");
	parse_bad("p = {a.b = 1, a = 2}\n", "t.toml:1:15: duplicate key 'p.a'");
	parse_bad("p = {a = 1, a = 2}\n", "t.toml:1:13: duplicate key 'p.a'");
	parse_bad("[t]\n\"k\" = 1\n'k' = 2\n", "t.toml:3:1: duplicate key 't.k'");
	parse_bad("a = 1\n\"\\u0061\" = 2\n", "t.toml:2:1: duplicate key 'a'");
	parse_bad("[\"\\u0061\"]\n[a]\n", "t.toml:2:1: table 'a' defined twice");
}

static void test_malformed(void **state)
{
	parse_bad("a\n", "t.toml:1:2: expected '=' after a key, got end of line");
	parse_bad("a 1\n", "t.toml:1:3: expected '=' after a key, got '1'");
	parse_bad("[grpc]\n\n    address \"x\"\n",
		  "t.toml:3:13: expected '=' after a key, got '\"'");
	parse_bad("= 1\n", "t.toml:1:1: expected a key, got '='");
	parse_bad("a =\n", "t.toml:1:4: expected a value, got end of line");
	parse_bad("a = ", "t.toml:1:5: expected a value, got end of file");
	parse_bad("a = 1 2\n", "t.toml:1:7: expected a newline after a value, got '2'");
	parse_bad("a = 1 b = 2\n", "t.toml:1:7: expected a newline after a value, got 'b'");
	parse_bad("[t] x = 1\n", "t.toml:1:5: expected a newline after a table header, got 'x'");
	parse_bad("[t\n", "t.toml:1:3: expected ']' to close a table header, got end of line");
	parse_bad("[[t]\n", "t.toml:1:5: expected ']]' to close a table header, got end of line");
	parse_bad("[]\n", "t.toml:1:2: expected a key, got ']'");
	parse_bad("[a.]\n", "t.toml:1:4: expected a key, got ']'");
	parse_bad("a.= 1\n", "t.toml:1:3: expected a key, got '='");
	parse_bad("k = \"abc\n",
		  "t.toml:1:5: unterminated string (newline before the closing quote)");
	parse_bad("k = \"abc", "t.toml:1:5: unterminated string");
	parse_bad("k = 'abc\n",
		  "t.toml:1:5: unterminated string (newline before the closing quote)");
	parse_bad("k = \"\"\"abc\n\n", "t.toml:1:5: unterminated string");
	parse_bad("k = '''abc''''''\n", "t.toml:1:11: too many quotes at the end of a string");
	parse_bad("k = \"\\q\"\n", "t.toml:1:6: invalid escape sequence '\\' followed by 'q'");
	parse_bad("k = \"\\ \"\n", "t.toml:1:6: invalid escape sequence '\\' followed by ' '");
	parse_bad("k = \"\\u12\"\n", "t.toml:1:6: '\\u' needs 4 hex digits");
	parse_bad("k = \"\\UFFFFFFFF\"\n",
		  "t.toml:1:6: '\\U' escape is not a Unicode scalar value");
	parse_bad("k = \"\\uD800\"\n", "t.toml:1:6: '\\u' escape is not a Unicode scalar value");
	parse_bad("k = \"a\\u0000b\"\n", "t.toml:1:7: NUL characters in strings are not supported");
	parse_bad("k = \"a\x01\"\n", "t.toml:1:7: control character U+0001 in a string");
	parse_bad("k = \"a\x7f\"\n", "t.toml:1:7: control character U+007F in a string");
	parse_bad("k = 1 # bell\x07\n", "t.toml:1:13: control character U+0007 in a comment");
	parse_bad("k = 1\rj = 2\n", "t.toml:1:6: carriage return not followed by a newline");
	parse_bad("k = 1\r", "t.toml:1:6: carriage return not followed by a newline");
	parse_bad("\"\"\"k\"\"\" = 1\n", "t.toml:1:1: multi-line strings cannot be keys");
	parse_bad("k = \"caf\xc3\"\n", "t.toml:1:9: invalid UTF-8");
	parse_bad("# x\nk = '\xed\xa0\x80'\n", "t.toml:2:6: invalid UTF-8"); /* surrogate */
	parse_bad("k = '\xc0\xaf'\n", "t.toml:1:6: invalid UTF-8");	     /* overlong */
	parse_bad("k = '\xf4\x90\x80\x80'\n", "t.toml:1:6: invalid UTF-8");  /* > U+10FFFF */
	parse_bad("k\0 = 1\n", NULL);
	/* Numbers. */
	parse_bad("n = 012\n", "t.toml:1:5: leading zeros are not allowed in '012'");
	parse_bad("n = -01\n", "t.toml:1:5: leading zeros are not allowed in '-01'");
	parse_bad("n = 1__0\n", "t.toml:1:5: invalid number '1__0'");
	parse_bad("n = _1\n", "t.toml:1:5: expected a value, got '_'");
	parse_bad("n = 1_\n", "t.toml:1:5: invalid number '1_'");
	parse_bad("n = 1.\n", "t.toml:1:5: invalid number '1.'");
	parse_bad("n = 1.e5\n", "t.toml:1:5: invalid number '1.e5'");
	parse_bad("n = .5\n", "t.toml:1:5: expected a value, got '.'");
	parse_bad("n = 1e\n", "t.toml:1:5: invalid number '1e'");
	parse_bad("n = 1x\n", "t.toml:1:5: invalid number '1x'");
	parse_bad("n = 0x\n", "t.toml:1:5: invalid number '0x'");
	parse_bad("n = 0xG1\n", "t.toml:1:5: invalid integer '0xG1'");
	parse_bad("n = 0o8\n", "t.toml:1:5: invalid integer '0o8'");
	parse_bad("n = 0b102\n", "t.toml:1:5: invalid integer '0b102'");
	parse_bad("n = -0x1\n", "t.toml:1:5: invalid number '-0x1'");
	parse_bad("n = 0X1\n", "t.toml:1:5: invalid number '0X1'");
	parse_bad("n = 9223372036854775808\n",
		  "t.toml:1:5: integer '9223372036854775808' out of range");
	parse_bad("n = -9223372036854775809\n",
		  "t.toml:1:5: integer '-9223372036854775809' out of range");
	parse_bad("n = 0x8000000000000000\n",
		  "t.toml:1:5: integer '0x8000000000000000' out of range");
	parse_bad("n = 1e999\n", "t.toml:1:5: float '1e999' out of range");
	parse_bad("n = infinity\n", "t.toml:1:5: invalid value 'infinity'");
	parse_bad("n = 1979-05-27\n", "t.toml:1:5: dates and times are not supported");
	parse_bad("n = 07:32:00\n", "t.toml:1:5: dates and times are not supported");
	parse_bad("b = True\n", "t.toml:1:5: expected a value, got 'T'");
	parse_bad("b = truex\n", "t.toml:1:5: invalid value (expected true or false)");
	parse_bad("b = fals\n", "t.toml:1:5: invalid value (expected true or false)");
	/* Arrays and inline tables. */
	parse_bad("a = [1 2]\n", "t.toml:1:8: expected ',' or ']' in an array, got '2'");
	parse_bad("a = [1,,2]\n", "t.toml:1:8: expected a value, got ','");
	parse_bad("a = [,]\n", "t.toml:1:6: expected a value, got ','");
	parse_bad("a = [1,\n2\n", "t.toml:3:1: expected ',' or ']' in an array, got end of file");
	parse_bad("t = {a = 1,}\n", "t.toml:1:12: trailing comma in an inline table");
	parse_bad("t = {a = 1\n}\n",
		  "t.toml:1:11: inline tables must be on one line (missing '}')");
	parse_bad("t = {a = 1 b = 2}\n",
		  "t.toml:1:12: expected ',' or '}' in an inline table, got 'b'");
	parse_bad("t = {a}\n", "t.toml:1:7: expected '=' after a key, got '}'");
}

static void test_depth_bomb(void **state)
{
	/* Nesting up to the limit is fine; one more level is refused, not a stack overflow. */
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "a = ");
	for (int i = 0; i < TOML_MAX_DEPTH; i++)
		strbuf_addc(&sb, '[');
	for (int i = 0; i < TOML_MAX_DEPTH; i++)
		strbuf_addc(&sb, ']');
	strbuf_addc(&sb, '\n');
	toml_doc_free(parse_ok(sb.buf));
	strbuf_reset(&sb);
	strbuf_adds(&sb, "a = ");
	for (int i = 0; i < 100000; i++)
		strbuf_adds(&sb, "{b=");
	cleanup_free char *want =
		xasprintf("t.toml:1:%d: arrays and inline tables nested deeper than %d",
			  5 + 3 * TOML_MAX_DEPTH, TOML_MAX_DEPTH);
	parse_bad(sb.buf, want);

	/* Dotted keys and headers of many parts: up to the limit, then refused. */
	for (int header = 0; header < 2; header++) {
		for (int parts = TOML_MAX_DEPTH; parts <= TOML_MAX_DEPTH + 1; parts++) {
			strbuf_reset(&sb);
			strbuf_adds(&sb, header ? "[k" : "k");
			for (int i = 1; i < parts; i++)
				strbuf_adds(&sb, ".k");
			strbuf_adds(&sb, header ? "]\n" : " = 1\n");
			if (parts <= TOML_MAX_DEPTH) {
				toml_doc_free(parse_ok(sb.buf));
				continue;
			}
			cleanup_free char *w =
				xasprintf("t.toml:1:%d: dotted key of more than %d parts",
					  2 * parts + header, TOML_MAX_DEPTH);
			parse_bad(sb.buf, w);
		}
	}
	strbuf_reset(&sb);
	for (int i = 0; i < 200000; i++)
		strbuf_adds(&sb, i ? ".k" : "[k");
	strbuf_adds(&sb, "]\n");
	parse_bad(sb.buf, NULL);
	strbuf_release(&sb);
}

/* Large tables (hash-indexed past a few members) find every key and still refuse duplicates. */
static void test_large_table(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 5000; i++)
		strbuf_addf(&sb, "key_%d = %d\n", i, i * 3);
	strbuf_adds(&sb, "[sub]\n");
	for (int i = 0; i < 100; i++)
		strbuf_addf(&sb, "\"k.%d\" = 'v%d'\n", i, i);
	struct toml_doc *doc = parse_ok(sb.buf);
	const struct toml_value *root = toml_doc_root(doc);
	assert_int_equal(toml_table_len(root), 5001);
	for (int i = 0; i < 5000; i++) {
		char key[32];
		snprintf(key, sizeof(key), "key_%d", i);
		assert_int_equal(int_at(doc, key), i * 3);
		assert_string_equal(toml_table_key(root, (size_t)i), key);
	}
	assert_null(toml_get(root, "key_5000"));
	assert_string_equal(str_at(doc, "sub.\"k.99\""), "v99");
	assert_null(toml_get(root, "sub.k.99"));
	toml_doc_free(doc);
	strbuf_addf(&sb, "\"k.42\" = 1\n");
	cleanup_free char *want =
		xasprintf("t.toml:%d:1: duplicate key 'sub.\"k.42\"'", 5000 + 1 + 100 + 1);
	parse_bad(sb.buf, want);
	strbuf_release(&sb);
}

static void test_parse_file(void **state)
{
	const char *dir = tmpdir;
	cleanup_free char *path = path_join(dir, "config.toml");
	const char *text = "version = 2\n[grpc]\naddress = 5\n\n[debug]\n    level \"x\"\n";
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);

	struct toml_doc *doc = NULL;
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(toml_parse_file(path, 1 << 20, &doc, &err), -EBADMSG);
	cleanup_free char *want = xasprintf("%s:6:11: expected '=' after a key, got '\"'", path);
	assert_string_equal(wh_err_msg(err), want);
	err = wh_err_free(err);

	assert_int_equal(toml_parse_file(path, 10, &doc, &err), -EFBIG);
	err = wh_err_free(err);
	cleanup_free char *missing = path_join(dir, "missing.toml");
	assert_int_equal(toml_parse_file(missing, 1 << 20, &doc, &err), -ENOENT);
	assert_non_null(strstr(wh_err_msg(err), "No such file"));
	err = wh_err_free(err);

	text = "version = 2\n[grpc]\naddress = 5\n";
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
	assert_int_equal(toml_parse_file(path, 1 << 20, &doc, &err), 0);
	assert_string_equal(toml_doc_name(doc), path);
	const char *s = NULL;
	assert_int_equal(toml_get_string(toml_doc_root(doc), "grpc.address", &s, &err), -EINVAL);
	cleanup_free char *want2 =
		xasprintf("%s:3:11: 'grpc.address': expected a string, got integer", path);
	assert_string_equal(wh_err_msg(err), want2);
	toml_doc_free(doc);
}

/* containerd's own `config default` output must parse, and read back as containerd wrote it. */
static void test_containerd_default(void **state)
{
#ifdef CONTAINERD_BIN
	if (access(CONTAINERD_BIN, X_OK) < 0) {
		skip();
		return;
	}
	FILE *f = popen(CONTAINERD_BIN " config default 2>/dev/null", "r");
	assert_non_null(f);
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(&sb, buf, n);
	assert_int_equal(pclose(f), 0);
	assert_true(sb.len > 1000);
	struct toml_doc *doc = parse_ok(sb.buf);
	const struct toml_value *root = toml_doc_root(doc);
	assert_int_equal(int_at(doc, "version"), 2);
	assert_string_equal(str_at(doc, "root"), "/var/lib/containerd");
	assert_string_equal(str_at(doc, "grpc.address"), "/run/containerd/containerd.sock");
	assert_int_equal(int_at(doc, "grpc.max_recv_message_size"), 16777216);
	double pause = 0;
	assert_int_equal(toml_get_float(root,
					"plugins.\"io.containerd.gc.v1.scheduler\".pause_threshold",
					&pause, NULL),
			 1);
	assert_true(pause == 0.02);
	assert_string_equal(str_at(doc, "plugins.\"io.containerd.grpc.v1.cri\".containerd."
					"runtimes.runc.runtime_type"),
			    "io.containerd.runc.v2");
	const struct toml_value *disabled = NULL;
	assert_int_equal(toml_get_array(root, "disabled_plugins", &disabled, NULL), 1);
	assert_int_equal(toml_array_len(disabled), 0);
	toml_doc_free(doc);
	strbuf_release(&sb);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_keys_and_tables),
		cmocka_unit_test(test_arrays_and_inline),
		cmocka_unit_test(test_typed_lookups),
		cmocka_unit_test(test_table_rules),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_depth_bomb),
		cmocka_unit_test(test_parse_file),
		cmocka_unit_test(test_large_table),
		cmocka_unit_test(test_containerd_default),
	};
	return cmocka_run_group_tests_name("toml", tests, group_setup, group_teardown);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of oci/caps.c without changing the process: process.capabilities parsing (good
 * and malformed input), names, JSON round trips and containerd's default set.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include <linux/capability.h>

#include "common/common.h"
#include "oci/caps.h"

#define BIT(c) (UINT64_C(1) << (c))

static yajl_val parse(const char *text)
{
	yajl_val v = NULL;

	assert_int_equal(json_parse(text, strlen(text), &v, NULL), 0);
	return v;
}

static void expect_error(const char *text, const char *want)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_caps c = {.bounding = 42};
	yajl_val v = parse(text);
	int r = oci_caps_parse(v, "process.capabilities", &c, &err);

	if (r != -EINVAL || !err || !strstr(err->msg, want))
		fail_msg("%s: got %d '%s', want '%s'", text, r, err ? err->msg : "", want);
	assert_int_equal(c.bounding, 42); /* untouched */
	yajl_tree_free(v);
}

static void test_names(void **state)
{
	assert_int_equal(oci_cap_from_name("CAP_CHOWN"), CAP_CHOWN);
	assert_int_equal(oci_cap_from_name("CAP_SYS_ADMIN"), CAP_SYS_ADMIN);
	assert_int_equal(oci_cap_from_name("CAP_CHECKPOINT_RESTORE"), CAP_CHECKPOINT_RESTORE);
	assert_int_equal(oci_cap_from_name("cap_chown"), -EINVAL);
	assert_int_equal(oci_cap_from_name("CHOWN"), -EINVAL);
	assert_int_equal(oci_cap_from_name("CAP_FOO"), -EINVAL);
	assert_int_equal(oci_cap_from_name("0"), -EINVAL);
	for (int i = 0; i <= CAP_LAST_CAP; i++)
		assert_int_equal(oci_cap_from_name(oci_cap_to_name(i)), i);
	assert_null(oci_cap_to_name(-1));
	assert_null(oci_cap_to_name(CAP_LAST_CAP + 1));
	assert_true(oci_cap_last() >= CAP_AUDIT_READ);
	assert_true(oci_cap_last() <= CAP_LAST_CAP);
}

static void test_parse(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_caps c = {0};
	yajl_val v =
		parse("{\"bounding\":[\"CAP_CHOWN\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
		      "\"effective\":[\"CAP_KILL\"],\"permitted\":[\"CAP_KILL\",\"CAP_CHOWN\"],"
		      "\"inheritable\":[\"CAP_KILL\"],\"ambient\":[\"CAP_KILL\"]}");

	assert_int_equal(oci_caps_parse(v, "process.capabilities", &c, &err), 0);
	assert_true(c.present);
	assert_int_equal(c.bounding, BIT(CAP_CHOWN) | BIT(CAP_KILL) | BIT(CAP_NET_BIND_SERVICE));
	assert_int_equal(c.effective, BIT(CAP_KILL));
	assert_int_equal(c.permitted, BIT(CAP_KILL) | BIT(CAP_CHOWN));
	assert_int_equal(c.inheritable, BIT(CAP_KILL));
	assert_int_equal(c.ambient, BIT(CAP_KILL));
	yajl_tree_free(v);

	/* Absent object: nothing to apply. Absent set: empty. */
	c = (struct oci_caps){.present = true, .ambient = 7};
	assert_int_equal(oci_caps_parse(NULL, "process.capabilities", &c, NULL), 0);
	assert_false(c.present);
	v = parse("{\"bounding\":[\"CAP_KILL\"]}");
	assert_int_equal(oci_caps_parse(v, "process.capabilities", &c, NULL), 0);
	assert_true(c.present);
	assert_int_equal(c.bounding, BIT(CAP_KILL));
	assert_int_equal(c.effective | c.permitted | c.inheritable | c.ambient, 0);
	yajl_tree_free(v);
	v = parse("{}");
	assert_int_equal(oci_caps_parse(v, "process.capabilities", &c, NULL), 0);
	assert_true(c.present);
	assert_int_equal(c.bounding, 0);
	yajl_tree_free(v);
}

static void test_parse_malformed(void **state)
{
	expect_error("[]", "process.capabilities: expected an object");
	expect_error("{\"bounding\":\"CAP_KILL\"}",
		     "process.capabilities.bounding: expected an array");
	expect_error("{\"effective\":[\"CAP_KILL\",3]}",
		     "process.capabilities.effective[1]: expected a string");
	expect_error("{\"permitted\":[\"CAP_KILL\",\"CAP_FOO\"]}",
		     "process.capabilities.permitted[1]: unknown capability 'CAP_FOO'");
	expect_error("{\"ambient\":[\"cap_kill\"]}",
		     "process.capabilities.ambient[0]: unknown capability 'cap_kill'");
	expect_error("{\"inheritable\":[\"KILL\"]}",
		     "process.capabilities.inheritable[0]: unknown capability 'KILL'");
	expect_error("{\"bounds\":[]}", "process.capabilities.bounds: unknown capability set");
}

static void test_gen_roundtrip(void **state)
{
	struct oci_caps a = {.present = true,
			     .bounding = BIT(CAP_SYS_ADMIN) | BIT(CAP_CHOWN),
			     .effective = BIT(CAP_CHOWN),
			     .ambient = BIT(CAP_AUDIT_READ)};
	struct oci_caps b = {0};
	yajl_gen g = json_gen_new(false);
	cleanup_free char *out = NULL;
	yajl_val v;

	oci_caps_gen_json(g, &a);
	out = json_gen_finish(g, NULL);
	assert_string_equal(out,
			    "{\"bounding\":[\"CAP_CHOWN\",\"CAP_SYS_ADMIN\"],"
			    "\"effective\":[\"CAP_CHOWN\"],\"inheritable\":[],\"permitted\":[],"
			    "\"ambient\":[\"CAP_AUDIT_READ\"]}");
	v = parse(out);
	assert_int_equal(oci_caps_parse(v, "c", &b, NULL), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	yajl_tree_free(v);
}

static void test_default(void **state)
{
	const char *const *names = oci_caps_default_names();
	struct oci_caps c;
	uint64_t want = 0;
	size_t n = 0;
	char **v;

	for (; names[n]; n++)
		want |= BIT(oci_cap_from_name(names[n]));
	assert_int_equal(n, 14);
	oci_caps_default(&c);
	assert_true(c.present);
	assert_int_equal(c.bounding, want);
	assert_int_equal(c.effective, want);
	assert_int_equal(c.permitted, want);
	assert_int_equal(c.inheritable, 0);
	assert_int_equal(c.ambient, 0);
	assert_true(want & BIT(CAP_NET_RAW));
	assert_true(want & BIT(CAP_AUDIT_WRITE));
	assert_false(want & BIT(CAP_SYS_ADMIN));
	v = oci_caps_to_strv(want);
	assert_int_equal(strv_length(v), 14);
	assert_true(strv_contains(v, "CAP_SETPCAP"));
	strv_free(v);
	v = oci_caps_to_strv(0);
	assert_int_equal(strv_length(v), 0);
	strv_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_malformed), cmocka_unit_test(test_gen_roundtrip),
		cmocka_unit_test(test_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

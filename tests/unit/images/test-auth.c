/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of images/ auth inputs: WWW-Authenticate challenges (several per header, quoting,
 * malformed input) and Docker config.json credential lookup. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "images/images.h"

static void test_bearer(void **state)
{
	struct img_challenge *c = NULL;
	size_t n = 0;
	const char *h =
		"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
		"scope=\"repository:library/busybox:pull\"";
	assert_int_equal(img_challenges_parse(h, &c, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].scheme, "bearer");
	assert_string_equal(c[0].realm, "https://auth.docker.io/token");
	assert_string_equal(c[0].service, "registry.docker.io");
	assert_string_equal(c[0].scope, "repository:library/busybox:pull");
	assert_null(c[0].error);
	img_challenges_free(c, n);
}

static void test_several(void **state)
{
	struct img_challenge *c = NULL;
	size_t n = 0;
	const char *h = "Basic realm=\"Registry \\\"Realm\\\"\", BEARER  realm=\"r\" , "
			"service=svc,error=\"insufficient_scope\", Negotiate";
	assert_int_equal(img_challenges_parse(h, &c, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_string_equal(c[0].scheme, "basic");
	assert_string_equal(c[0].realm, "Registry \"Realm\"");
	assert_string_equal(c[1].scheme, "bearer");
	assert_string_equal(c[1].realm, "r");
	assert_string_equal(c[1].service, "svc");
	assert_string_equal(c[1].error, "insufficient_scope");
	assert_string_equal(c[2].scheme, "negotiate");
	assert_null(c[2].realm);
	img_challenges_free(c, n);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"Bearer realm=\"unterminated",
		"Bearer realm=\"a\" service=\"b\"",
		"Bearer =x",
		"Bearer realm=\"a\",,",
		"\"quoted\" realm=x",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct img_challenge *c = NULL;
		size_t n = 0;
		cleanup_err struct wh_err *err = NULL;
		int rc = img_challenges_parse(bad[i], &c, &n, &err);
		if (rc >= 0)
			fail_msg("'%s' parsed", bad[i]);
		assert_int_equal(rc, -EBADMSG);
		assert_non_null(strstr(wh_err_msg(err), "WWW-Authenticate"));
	}
	/* A flood of challenges is bounded. */
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 40; i++)
		strbuf_addf(&sb, "%sBasic realm=x", i ? ", " : "");
	struct img_challenge *c = NULL;
	size_t n = 0;
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(img_challenges_parse(sb.buf, &c, &n, &err), -E2BIG);
}

static int lookup(const char *json, const char *host, char **u, char **p, struct wh_err **err)
{
	return img_docker_config_lookup(json, strlen(json), host, u, p, err);
}

static void test_docker_config(void **state)
{
	/* "alice:pa:ss" in base64 */
	const char *cfg = "{\"auths\":{\"reg.example:5000\":{\"auth\":\"YWxpY2U6cGE6c3M=\"},"
			  "\"https://index.docker.io/v1/\":{\"auth\":\"Ym9iOnB3\"},"
			  "\"http://other.io/v2/\":{\"username\":\"carol\",\"password\":\"x\"},"
			  "\"empty.io\":{}},\"credsStore\":\"desktop\"}";
	char *u = NULL, *p = NULL;
	assert_int_equal(lookup(cfg, "reg.example:5000", &u, &p, NULL), 1);
	assert_string_equal(u, "alice");
	assert_string_equal(p, "pa:ss");
	free(u);
	free(p);
	assert_int_equal(lookup(cfg, "docker.io", &u, &p, NULL), 1);
	assert_string_equal(u, "bob");
	assert_string_equal(p, "pw");
	free(u);
	free(p);
	assert_int_equal(lookup(cfg, "other.io", &u, &p, NULL), 1);
	assert_string_equal(u, "carol");
	free(u);
	free(p);
	u = p = NULL;
	assert_int_equal(lookup(cfg, "empty.io", &u, &p, NULL), 0);
	assert_int_equal(lookup(cfg, "reg.example", &u, &p, NULL), 0);
	assert_null(u);
	assert_int_equal(lookup("{}", "x", &u, &p, NULL), 0);
}

static void test_docker_config_bad(void **state)
{
	static const struct {
		const char *json, *why;
	} bad[] = {
		{"{\"auths\":{\"h\":{\"auth\":\"!!!!\"}}}", "auths.h.auth: invalid base64"},
		{"{\"auths\":{\"h\":{\"auth\":\"bm9jb2xvbg==\"}}}", "not 'user:password'"},
		{"{\"auths\":{\"h\":{\"auth\":\"abc\"}}}", "invalid base64"},
		{"{\"auths\":{\"h\":{\"auth\":5}}}", "auths.h"},
		{"{\"auths\":{\"h\":\"x\"}}", "auths.h"},
		{"{\"auths\":[]}", "auths"},
		{"[1]", "config"},
		{"{\"auths\":", "invalid JSON"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *u = NULL, *p = NULL;
		cleanup_err struct wh_err *err = NULL;
		int rc = lookup(bad[i].json, "h", &u, &p, &err);
		if (rc >= 0)
			fail_msg("'%s' accepted", bad[i].json);
		if (!strstr(wh_err_msg(err), bad[i].why))
			fail_msg("'%s': '%s' lacks '%s'", bad[i].json, wh_err_msg(err), bad[i].why);
		assert_null(u);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_several),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_docker_config),
		cmocka_unit_test(test_docker_config_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

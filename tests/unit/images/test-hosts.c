/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of images/ hosts.toml parsing (containerd's config_path format): server, mirrors in
 * order with capabilities and TLS settings, and refusal of malformed or unsupported input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "images/images.h"

static int parse(const char *text, struct img_host_config *h, struct wh_err **err)
{
	return img_hosts_parse("docker.io", text, strlen(text), "hosts.toml", h, err);
}

static void test_full(void **state)
{
	const char *text = "server = \"https://registry-1.docker.io\"\n"
			   "ca = \"/etc/ca.pem\"\n"
			   "[host.\"https://mirror-a.local:5000\"]\n"
			   "  capabilities = [\"pull\", \"resolve\"]\n"
			   "  ca = [\"/etc/a.pem\"]\n"
			   "  skip_verify = true\n"
			   "[host.\"http://mirror-b.local/v2/x\"]\n"
			   "  override_path = true\n";
	struct img_host_config h;
	cleanup_err struct wh_err *err = NULL;
	if (parse(text, &h, &err) < 0)
		fail_msg("%s", wh_err_msg(err));
	assert_string_equal(h.name, "docker.io");
	assert_string_equal(h.server, "https://registry-1.docker.io");
	assert_false(h.plain_http);
	assert_string_equal(h.ca_file, "/etc/ca.pem");
	assert_int_equal(h.n_mirrors, 2);
	assert_string_equal(h.mirrors[0].url, "https://mirror-a.local:5000");
	assert_int_equal(h.mirrors[0].caps, IMG_CAP_PULL | IMG_CAP_RESOLVE);
	assert_string_equal(h.mirrors[0].ca_file, "/etc/a.pem");
	assert_true(h.mirrors[0].skip_verify);
	assert_false(h.mirrors[0].override_path);
	assert_string_equal(h.mirrors[1].url, "http://mirror-b.local/v2/x");
	assert_int_equal(h.mirrors[1].caps, IMG_CAP_PULL | IMG_CAP_RESOLVE | IMG_CAP_PUSH);
	assert_true(h.mirrors[1].override_path);
	img_host_config_release(&h);
}

static void test_plain_server(void **state)
{
	struct img_host_config h;
	assert_int_equal(parse("server = \"http://127.0.0.1:5000\"", &h, NULL), 0);
	assert_true(h.plain_http);
	assert_int_equal(h.n_mirrors, 0);
	img_host_config_release(&h);
	assert_int_equal(parse("", &h, NULL), 0);
	assert_null(h.server);
	img_host_config_release(&h);
}

static void test_bad(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"server = 5", "expected a string"},
		{"server = \"ftp://x\"", "not an http(s) URL"},
		{"server = \"x\"\nserver = \"y\"", "hosts.toml:2:"},
		{"[host.\"https://m\"]\ncapabilities = [\"pull\", \"fly\"]",
		 "unknown capability 'fly'"},
		{"[host.\"https://m\"]\ncapabilities = []", "no capabilities"},
		{"[host.\"https://m\"]\nheader = {a = \"b\"}", "unsupported key 'header'"},
		{"[host.\"https://m\"]\nclient = \"/c.pem\"", "unsupported key 'client'"},
		{"[host.\"https://m\"]\nca = [\"a\", \"b\"]", "array of one file name"},
		{"[host.\"https://m\"]\nskip_verify = \"yes\"", "expected a boolean"},
		{"[host.\"mirror\"]\n", "not an http(s) URL"},
		{"host = 1", "expected a table"},
		{"mirrors = []", "unsupported key 'mirrors'"},
		{"[host", "hosts.toml:1:"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct img_host_config h = {0};
		cleanup_err struct wh_err *err = NULL;
		if (parse(bad[i].text, &h, &err) >= 0)
			fail_msg("'%s' parsed", bad[i].text);
		if (!strstr(wh_err_msg(err), bad[i].why))
			fail_msg("'%s': '%s' lacks '%s'", bad[i].text, wh_err_msg(err), bad[i].why);
		assert_null(h.name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_plain_server),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

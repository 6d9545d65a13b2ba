/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of wharfd's config.toml parsing (defaults, every section, errors with file:line). */
#include <stdint.h>
#include <string.h>

#include "common/util.h"
#include "supervisor/supervisor.h"

/* cmocka.h needs these before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

static int parse(struct config *c, const char *text, struct wh_err **err)
{
	config_defaults(c);
	return config_parse(c, text, strlen(text), "config.toml", err);
}

static void test_defaults(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(parse(&c, "", NULL), 0);
	assert_string_equal(c.root, DEFAULT_ROOT);
	assert_string_equal(c.state, DEFAULT_STATE);
	assert_null(c.address);
	assert_string_equal(c.snapshotter, "overlayfs");
	assert_string_equal(c.runtime, DEFAULT_RUNTIME);
	assert_int_equal(strv_length(c.cni_bin_dirs), 2);
	config_release(&c);
}

static void test_packaged(void **state)
{
	cleanup_err struct wh_err *e = NULL;
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_load(&c, WHARF_SOURCE_DIR "/packaging/config.toml", true, &e), 0);
	assert_string_equal(c.address, "/run/wharf/wharfd.sock");
	assert_string_equal(c.registry_config_path, "/etc/wharf/certs.d");
	assert_string_equal(c.log_level, "info");
	config_release(&c);
}

static void test_full(void **state)
{
	static const char text[] =
		"version = 2\nroot = \"/r\"\nstate = \"/s\"\n"
		"[ttrpc]\naddress = \"/s/api.sock\"\n"
		"[debug]\nlevel = \"debug\"\n"
		"[snapshotter]\ndefault = \"native\"\n"
		"[runtime]\ndefault = \"io.containerd.runc.v2\"\nshim_dir = \"/opt/shims\"\n"
		"[runtimes.\"io.containerd.runc.v2\"]\nbinary_name = \"crun\"\nroot = \"/run/crun\"\n"
		"systemd_cgroup = true\n"
		"[runtimes.\"io.containerd.wharf.v2\"]\nshim = \"/usr/bin/wharf-shim\"\n"
		"[registry]\nconfig_path = \"/etc/certs.d\"\nplain_http = [\"127.0.0.1:5000\"]\n"
		"[cni]\nbin_dirs = [\"/cni\"]\nconf_dir = \"/etc/cni\"\n";
	const struct runtime_config *rc;
	struct config c;

	(void)state;
	assert_int_equal(parse(&c, text, NULL), 0);
	assert_string_equal(c.root, "/r");
	assert_string_equal(c.address, "/s/api.sock");
	assert_string_equal(c.snapshotter, "native");
	assert_string_equal(c.shim_dir, "/opt/shims");
	rc = config_runtime(&c, "io.containerd.runc.v2");
	assert_non_null(rc);
	assert_string_equal(rc->binary_name, "crun");
	assert_true(rc->systemd_cgroup);
	rc = config_runtime(&c, "io.containerd.wharf.v2");
	assert_string_equal(rc->shim, "/usr/bin/wharf-shim");
	assert_null(config_runtime(&c, "io.containerd.nope.v1"));
	assert_string_equal(c.plain_http[0], "127.0.0.1:5000");
	assert_string_equal(c.cni_bin_dirs[0], "/cni");
	assert_null(c.cni_bin_dirs[1]);
	config_release(&c);
}

static void expect_error(const char *text, const char *needle)
{
	cleanup_err struct wh_err *e = NULL;
	struct config c;

	assert_true(parse(&c, text, &e) < 0);
	if (!strstr(wh_err_msg(e), needle))
		fail_msg("'%s' lacks '%s'", wh_err_msg(e), needle);
	config_release(&c);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("rooot = \"/x\"\n", "config.toml:1:");
	expect_error("rooot = \"/x\"\n", "unknown key");
	expect_error("\n[ttrpc]\nadress = \"/x\"\n", "config.toml:3:");
	expect_error("root = \"relative\"\n", "absolute path");
	expect_error("root = 5\n", "expected a string");
	expect_error("version = 1\n", "unsupported config version 1");
	expect_error("[debug]\nlevel = \"loud\"\n", "unknown level 'loud'");
	expect_error("[snapshotter]\ndefault = \"zfs\"\n", "unknown snapshotter 'zfs'");
	expect_error("[runtimes]\nx = 1\n", "expected a table");
	expect_error("[runtimes.\"a.b\"]\nbinary = \"x\"\n", "unknown key");
	expect_error("[registry]\nplain_http = \"x\"\n", "config.toml:2:");
	expect_error("root = \"/x\"\nroot = \"/y\"\n", "config.toml:2:");
	expect_error("[ttrpc\n", "config.toml:1:");
}

static void test_missing_file(void **state)
{
	cleanup_err struct wh_err *e = NULL;
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_load(&c, "/nonexistent/wharf.toml", false, NULL), 0);
	assert_true(config_load(&c, "/nonexistent/wharf.toml", true, &e) < 0);
	assert_non_null(strstr(wh_err_msg(e), "/nonexistent/wharf.toml"));
	config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),     cmocka_unit_test(test_packaged),
		cmocka_unit_test(test_full),	     cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

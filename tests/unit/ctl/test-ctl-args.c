/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of wharfctl's argument parsing: global flags and env, durations, --mount, run. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "ctl/ctl.h"

static char *fake_env(const char *name)
{
	if (streq(name, "WHARF_ADDRESS"))
		return (char *)"/tmp/env.sock";
	if (streq(name, "WHARF_NAMESPACE"))
		return (char *)"envns";
	return NULL;
}

#define ARGV(...) ((char **)(const char *[]){__VA_ARGS__, NULL})
#define ARGC(a) ((int)strv_length(a))

static void test_global_defaults(void **state)
{
	char **argv = ARGV("wharfctl", "images", "ls");
	struct ctl_global g;
	int next;

	assert_int_equal(ctl_parse_global(3, argv, NULL, &g, &next, NULL), 0);
	assert_string_equal(g.address, "/run/wharf/wharfd.sock");
	assert_string_equal(g.ns, "default");
	assert_int_equal(g.timeout_ns, 0);
	assert_int_equal(next, 1);
}

static void test_global_env_and_flags(void **state)
{
	char **a1 = ARGV("wharfctl", "version");
	char **a2 = ARGV("wharfctl", "--address", "/x.sock", "-n", "ns2", "--timeout", "3s", "run",
			 "-n", "zzz");
	char **a3 = ARGV("wharfctl", "--namespace=ns3", "--address=/y.sock", "ls");
	struct ctl_global g;
	int next;

	assert_int_equal(ctl_parse_global(2, a1, fake_env, &g, &next, NULL), 0);
	assert_string_equal(g.address, "/tmp/env.sock");
	assert_string_equal(g.ns, "envns");
	/* Flags win over the environment, and parsing stops at the command word. */
	assert_int_equal(ctl_parse_global(10, a2, fake_env, &g, &next, NULL), 0);
	assert_string_equal(g.address, "/x.sock");
	assert_string_equal(g.ns, "ns2");
	assert_int_equal(g.timeout_ns, 3000000000ULL);
	assert_int_equal(next, 7);
	assert_int_equal(ctl_parse_global(4, a3, NULL, &g, &next, NULL), 0);
	assert_string_equal(g.ns, "ns3");
	assert_string_equal(g.address, "/y.sock");
	assert_int_equal(next, 3);
}

static void test_global_errors(void **state)
{
	char **a1 = ARGV("wharfctl", "--timeout", "soon", "ls");
	char **a2 = ARGV("wharfctl", "--bogus", "ls");
	char **a3 = ARGV("wharfctl", "-n", "", "ls");
	char **a4 = ARGV("wharfctl", "--address");
	struct ctl_global g;
	struct wh_err *e = NULL;
	int next;

	assert_int_equal(ctl_parse_global(4, a1, NULL, &g, &next, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "--timeout: invalid duration 'soon'"));
	e = wh_err_free(e);
	assert_int_equal(ctl_parse_global(3, a2, NULL, &g, &next, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "--bogus"));
	e = wh_err_free(e);
	assert_int_equal(ctl_parse_global(4, a3, NULL, &g, &next, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "--namespace: empty"));
	e = wh_err_free(e);
	assert_int_equal(ctl_parse_global(2, a4, NULL, &g, &next, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "--address"));
	e = wh_err_free(e);
}

static void test_duration(void **state)
{
	uint64_t v;

	assert_int_equal(ctl_parse_duration("10", &v), 0);
	assert_int_equal(v, 10000000000ULL);
	assert_int_equal(ctl_parse_duration("500ms", &v), 0);
	assert_int_equal(v, 500000000ULL);
	assert_int_equal(ctl_parse_duration("2m", &v), 0);
	assert_int_equal(v, 120000000000ULL);
	assert_int_equal(ctl_parse_duration("1h", &v), 0);
	assert_int_equal(v, 3600000000000ULL);
	assert_int_equal(ctl_parse_duration("7us", &v), 0);
	assert_int_equal(v, 7000ULL);
	assert_int_equal(ctl_parse_duration("3ns", &v), 0);
	assert_int_equal(v, 3ULL);
	assert_int_equal(ctl_parse_duration("", &v), -EINVAL);
	assert_int_equal(ctl_parse_duration("ms", &v), -EINVAL);
	assert_int_equal(ctl_parse_duration("-1s", &v), -EINVAL);
	assert_int_equal(ctl_parse_duration("5x", &v), -EINVAL);
	assert_int_equal(ctl_parse_duration("1.5s", &v), -EINVAL);
	assert_int_equal(ctl_parse_duration("99999999999999999999", &v), -EINVAL);
	assert_int_equal(ctl_parse_duration("99999999999h", &v), -ERANGE);
}

static void test_mount(void **state)
{
	struct ctl_mount m;
	struct wh_err *e = NULL;

	assert_int_equal(ctl_parse_mount("type=bind,src=/a,dst=/b,options=rbind:ro", &m, NULL), 0);
	assert_string_equal(m.type, "bind");
	assert_string_equal(m.source, "/a");
	assert_string_equal(m.destination, "/b");
	assert_int_equal(strv_length(m.options), 2);
	assert_string_equal(m.options[0], "rbind");
	assert_string_equal(m.options[1], "ro");
	ctl_mount_release(&m);
	/* Bind by default, with rbind,rw; source= and destination= spelled out. */
	assert_int_equal(ctl_parse_mount("source=/x,destination=/y", &m, NULL), 0);
	assert_string_equal(m.type, "bind");
	assert_string_equal(m.options[0], "rbind");
	assert_string_equal(m.options[1], "rw");
	ctl_mount_release(&m);
	/* tmpfs without a source gets the type as its source. */
	assert_int_equal(ctl_parse_mount("type=tmpfs,dst=/t,options=size=1m", &m, NULL), 0);
	assert_string_equal(m.source, "tmpfs");
	assert_string_equal(m.options[0], "size=1m");
	ctl_mount_release(&m);

	assert_int_equal(ctl_parse_mount("type=bind,src=/a", &m, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "dst must be an absolute path"));
	e = wh_err_free(e);
	assert_int_equal(ctl_parse_mount("src=/a,dst=rel", &m, &e), -EINVAL);
	e = wh_err_free(e);
	assert_int_equal(ctl_parse_mount("dst=/a", &m, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "needs src"));
	e = wh_err_free(e);
	assert_int_equal(ctl_parse_mount("src=/a,dst=/b,color=red", &m, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "unknown key 'color'"));
	e = wh_err_free(e);
	assert_int_equal(ctl_parse_mount("src=/a,dst=/b,junk", &m, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "'junk' is not key=value"));
	e = wh_err_free(e);
}

static void test_run_flags(void **state)
{
	char **argv = ARGV("run", "--rm", "-t", "--env", "A=1", "-e", "B=2", "--mount",
			   "src=/h,dst=/c", "--runtime", "io.containerd.runc.v2", "--user", "10:20",
			   "--cwd", "/w", "--label", "k=v", "--snapshotter", "native",
			   "--runc-binary", "crun", "img", "id1", "echo", "-n", "--rm", "hi");
	struct ctl_run_opts o;

	assert_int_equal(ctl_parse_run(ARGC(argv), argv, CTL_RUN_MODE_RUN, &o, NULL), 0);
	assert_true(o.rm);
	assert_true(o.tty);
	assert_false(o.detach);
	assert_int_equal(strv_length(o.env), 2);
	assert_string_equal(o.env[1], "B=2");
	assert_int_equal(o.n_mounts, 1);
	assert_string_equal(o.mounts[0].destination, "/c");
	assert_string_equal(o.runtime, "io.containerd.runc.v2");
	assert_string_equal(o.user, "10:20");
	assert_string_equal(o.cwd, "/w");
	assert_string_equal(o.labels[0], "k=v");
	assert_string_equal(o.snapshotter, "native");
	assert_string_equal(o.runtime_binary, "crun");
	assert_string_equal(o.image, "img");
	assert_string_equal(o.id, "id1");
	/* Flags after ID belong to the command. */
	assert_int_equal(strv_length(o.args), 4);
	assert_string_equal(o.args[1], "-n");
	assert_string_equal(o.args[2], "--rm");
	ctl_run_opts_release(&o);
}

static void test_run_defaults(void **state)
{
	char **argv = ARGV("run", "img", "id");
	struct ctl_run_opts o;

	assert_int_equal(ctl_parse_run(3, argv, CTL_RUN_MODE_RUN, &o, NULL), 0);
	assert_false(o.rm || o.tty || o.detach);
	assert_string_equal(o.runtime, "io.containerd.wharf.v2");
	assert_null(o.user);
	assert_null(o.cwd);
	assert_null(o.args[0]);
	ctl_run_opts_release(&o);
}

static void expect_run_error(char **argv, int argc, enum ctl_run_mode mode, const char *msg)
{
	struct ctl_run_opts o;
	struct wh_err *e = NULL;

	assert_int_equal(ctl_parse_run(argc, argv, mode, &o, &e), -EINVAL);
	assert_non_null(e);
	if (!strstr(e->msg, msg))
		fail_msg("'%s' does not contain '%s'", e->msg, msg);
	wh_err_free(e);
}

static void test_run_errors(void **state)
{
	char **a1 = ARGV("run", "img");
	char **a2 = ARGV("run", "--rm", "-d", "img", "id");
	char **a3 = ARGV("containers create", "--rm", "img", "id");
	char **a4 = ARGV("run", "--env", "NOEQUALS", "img", "id");
	char **a5 = ARGV("run", "--user", "alice", "img", "id");
	char **a6 = ARGV("run", "--cwd", "rel", "img", "id");
	char **a7 = ARGV("run", "--frobnicate", "img", "id");
	char **a8 = ARGV("run", "--mount", "dst=/x", "img", "id");
	char **a9 = ARGV("run", "", "id");
	char **a10 = ARGV("run", "-t", "-d", "img", "id");
	char **a11 = ARGV("run", "--env");

	expect_run_error(a1, 2, CTL_RUN_MODE_RUN, "usage: run [FLAGS] IMAGE ID");
	expect_run_error(a2, 5, CTL_RUN_MODE_RUN, "--rm and --detach exclude each other");
	expect_run_error(a3, 4, CTL_RUN_MODE_CREATE, "--rm is a flag of run");
	expect_run_error(a4, 5, CTL_RUN_MODE_RUN, "--env 'NOEQUALS': expected K=V");
	expect_run_error(a5, 5, CTL_RUN_MODE_RUN, "user 'alice'");
	expect_run_error(a6, 5, CTL_RUN_MODE_RUN, "--cwd 'rel': must be absolute");
	expect_run_error(a7, 4, CTL_RUN_MODE_RUN, "--frobnicate");
	expect_run_error(a8, 5, CTL_RUN_MODE_RUN, "needs src");
	expect_run_error(a9, 3, CTL_RUN_MODE_RUN, "must not be empty");
	expect_run_error(a10, 5, CTL_RUN_MODE_RUN, "--tty with --detach");
	expect_run_error(a11, 2, CTL_RUN_MODE_RUN, "--env");
}

static void test_user(void **state)
{
	uint32_t u, g;
	struct wh_err *e = NULL;

	assert_int_equal(ctl_parse_user("1000", &u, &g, NULL), 0);
	assert_int_equal(u, 1000);
	assert_int_equal(g, 0);
	assert_int_equal(ctl_parse_user("1:2", &u, &g, NULL), 0);
	assert_int_equal(u, 1);
	assert_int_equal(g, 2);
	assert_int_equal(ctl_parse_user("root:root", &u, &g, NULL), 0);
	assert_int_equal(u + g, 0);
	assert_int_equal(ctl_parse_user("1:x", &u, &g, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "invalid group 'x'"));
	e = wh_err_free(e);
	assert_int_equal(ctl_parse_user("-1", &u, &g, &e), -EINVAL);
	e = wh_err_free(e);
	assert_int_equal(ctl_parse_user("4294967295", &u, &g, &e), -EINVAL);
	e = wh_err_free(e);
}

static void test_table_and_size(void **state)
{
	struct ctl_table *t = ctl_table_new(3);
	char *s;

	ctl_table_add(t, (const char *[]){"A", "BB", "C"});
	ctl_table_add(t, (const char *[]){"long", NULL, ""});
	s = ctl_table_render(t);
	assert_string_equal(s, "A     BB  C\nlong  -   -\n");
	free(s);
	ctl_table_free(t);
	s = ctl_fmt_size(512);
	assert_string_equal(s, "512 B");
	free(s);
	s = ctl_fmt_size(1536);
	assert_string_equal(s, "1.5 KiB");
	free(s);
	s = ctl_fmt_size(3 * 1024 * 1024);
	assert_string_equal(s, "3.0 MiB");
	free(s);
	s = ctl_fmt_size(-1);
	assert_string_equal(s, "-");
	free(s);
}

static void test_progress(void **state)
{
	char *s = ctl_fmt_progress("layer-sha256:abc", 512, 2048);

	assert_string_equal(s,
			    "layer-sha256:abc         [==========                              ] "
			    "512 B/2.0 KiB");
	free(s);
	s = ctl_fmt_progress("a-very-long-reference-name-that-is-cut", 4096, 4096);
	assert_string_equal(s,
			    "a-very-long-reference-na [========================================] "
			    "4.0 KiB/4.0 KiB");
	free(s);
	/* Unknown total, and an offset past it, stay in bounds. */
	s = ctl_fmt_progress("r", 100, 0);
	assert_string_equal(s,
			    "r                        [                                        ] "
			    "100 B/?");
	free(s);
	s = ctl_fmt_progress("r", 9000, 10);
	assert_non_null(strstr(s, "[========================================]"));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_global_defaults),
		cmocka_unit_test(test_global_env_and_flags),
		cmocka_unit_test(test_global_errors),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_mount),
		cmocka_unit_test(test_run_flags),
		cmocka_unit_test(test_run_defaults),
		cmocka_unit_test(test_run_errors),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_table_and_size),
		cmocka_unit_test(test_progress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container networking without a daemon: wharfctl's networking flags turned into wharf/ labels
 * (ctl_parse_run), and wharfd reading those labels back into a plan (netsetup_plan), with the
 * errors each side gives for bad input.
 */
#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "ctl/ctl.h"
#include "supervisor/netsetup.h"

/* cmocka.h needs these before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

/* Parses a run command line; returns the label value of key (or NULL), *ret_r the result. */
static char *run_label(const char *const *args, const char *key, int *ret_r, char **ret_msg)
{
	char *argv[32];
	int argc = 0;
	struct ctl_run_opts o;
	struct wh_err *e = NULL;
	char *val = NULL;
	size_t klen = strlen(key);

	argv[argc++] = (char *)"run";
	for (; args[argc - 1]; argc++)
		argv[argc] = (char *)args[argc - 1];
	argv[argc] = NULL;
	*ret_r = ctl_parse_run(argc, argv, CTL_RUN_MODE_RUN, &o, &e);
	if (ret_msg)
		*ret_msg = e ? xstrdup(wh_err_msg(e)) : NULL;
	wh_err_free(e);
	if (*ret_r < 0)
		return NULL;
	strv_foreach(l, o.labels)
		if (strncmp(*l, key, klen) == 0 && (*l)[klen] == '=')
			val = xstrdup(*l + klen + 1);
	ctl_run_opts_release(&o);
	return val;
}

static void test_flags_to_labels(void **state)
{
	int r;
	char *v;

	(void)state;
	v = run_label((const char *[]){"img", "id", NULL}, "wharf/networks", &r, NULL);
	assert_int_equal(r, 0);
	assert_string_equal(v, "[\"wharf0\"]");
	free(v);
	v = run_label((const char *[]){"--net", "a", "--network", "b", "img", "id", NULL},
		      "wharf/networks", &r, NULL);
	assert_string_equal(v, "[\"a\",\"b\"]");
	free(v);
	v = run_label(
		(const char *[]){"-p", "8080:80", "-p", "127.0.0.1:53:53/udp", "img", "id", NULL},
		"wharf/ports", &r, NULL);
	assert_int_equal(r, 0);
	assert_string_equal(v, "[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"},"
			       "{\"hostPort\":53,\"containerPort\":53,\"protocol\":\"udp\","
			       "\"hostIP\":\"127.0.0.1\"}]");
	free(v);
	v = run_label((const char *[]){"-p", "[::1]:1:2", "img", "id", NULL}, "wharf/ports", &r,
		      NULL);
	assert_string_equal(v, "[{\"hostPort\":1,\"containerPort\":2,\"protocol\":\"tcp\","
			       "\"hostIP\":\"::1\"}]");
	free(v);
	v = run_label((const char *[]){"--dns", "1.1.1.1", "--dns", "::1", "img", "id", NULL},
		      "wharf/dns", &r, NULL);
	assert_string_equal(v, "[\"1.1.1.1\",\"::1\"]");
	free(v);
	v = run_label((const char *[]){"--add-host", "db:10.0.0.2", "img", "id", NULL},
		      "wharf/add-hosts", &r, NULL);
	assert_string_equal(v, "[\"db:10.0.0.2\"]");
	free(v);
	v = run_label((const char *[]){"--hostname", "web.example", "img", "id", NULL},
		      "wharf/hostname", &r, NULL);
	assert_string_equal(v, "web.example");
	free(v);
	/* No flag, no label. */
	v = run_label((const char *[]){"img", "id", NULL}, "wharf/ports", &r, NULL);
	assert_null(v);
}

static void expect_flag_error(const char *const *args, const char *want)
{
	char *msg = NULL;
	int r;

	assert_null(run_label(args, "wharf/networks", &r, &msg));
	assert_int_equal(r, -EINVAL);
	assert_non_null(msg);
	if (!strstr(msg, want))
		fail_msg("'%s' not in '%s'", want, msg);
	free(msg);
}

static void test_flag_errors(void **state)
{
	(void)state;
	expect_flag_error((const char *[]){"-p", "80", "img", "id", NULL},
			  "--publish '80': want [IP:]HOSTPORT:CONTAINERPORT[/PROTO]");
	expect_flag_error((const char *[]){"-p", "0:80", "img", "id", NULL},
			  "ports must be 1..65535");
	expect_flag_error((const char *[]){"-p", "1:70000", "img", "id", NULL},
			  "ports must be 1..65535");
	expect_flag_error((const char *[]){"-p", "1:2/icmp", "img", "id", NULL}, "protocol 'icmp'");
	expect_flag_error((const char *[]){"-p", "x.y:1:2", "img", "id", NULL},
			  "'x.y' is not an IP address");
	expect_flag_error((const char *[]){"--dns", "nope", "img", "id", NULL},
			  "--dns 'nope': not an IP address");
	expect_flag_error((const char *[]){"--add-host", "db", "img", "id", NULL},
			  "--add-host 'db': want NAME:IP");
	expect_flag_error((const char *[]){"--add-host", "db:x", "img", "id", NULL},
			  "want NAME:IP");
	expect_flag_error((const char *[]){"--hostname", "-bad", "img", "id", NULL},
			  "not a valid host name");
	expect_flag_error((const char *[]){"--hostname", "a..b", "img", "id", NULL},
			  "not a valid host name");
	expect_flag_error((const char *[]){"--net", "none", "--net", "x", "img", "id", NULL},
			  "excludes other networks");
	expect_flag_error((const char *[]){"--net", "host", "-p", "1:2", "img", "id", NULL},
			  "--publish needs a network, not --net host");
	expect_flag_error((const char *[]){"--net", "a\"b", "img", "id", NULL},
			  "invalid network name");
	expect_flag_error((const char *[]){"--label", "wharf/ports=[]", "img", "id", NULL},
			  "the key is reserved");
}

/* netsetup_plan over labels given as key, value pairs. */
static int plan(const char *const *kv, struct net_plan **ret, char **ret_msg)
{
	struct wh_err *e = NULL;
	int r = netsetup_plan((char *const *)kv, ret, &e);

	*ret_msg = e ? xstrdup(wh_err_msg(e)) : NULL;
	wh_err_free(e);
	return r;
}

static void expect_plan_error(const char *const *kv, const char *want)
{
	struct net_plan *p = NULL;
	char *msg = NULL;

	assert_int_equal(plan(kv, &p, &msg), -EINVAL);
	assert_null(p);
	if (!msg || !strstr(msg, want))
		fail_msg("'%s' not in '%s'", want, msg ? msg : "");
	/* The context is said once. */
	if (strstr(msg, "label '") && strstr(strstr(msg, "label '") + 1, "label '"))
		fail_msg("context repeated in '%s'", msg);
	free(msg);
}

static void test_plan(void **state)
{
	struct net_plan *p = (struct net_plan *)1;
	char *msg = NULL;

	(void)state;
	/* No wharf/networks label: networking is left to the spec. */
	assert_int_equal(plan((const char *[]){"a", "b", NULL}, &p, &msg), 0);
	assert_null(p);
	assert_int_equal(plan((const char *[]){"wharf/networks", "[\"x\",\"y\"]", "wharf/ports",
					       "[{\"hostPort\":1,\"containerPort\":2}]",
					       "wharf/dns", "[\"1.2.3.4\"]", "wharf/add-hosts",
					       "[\"a:1.2.3.4\"]", "wharf/hostname", "h", NULL},
			      &p, &msg),
			 0);
	assert_non_null(p);
	netsetup_plan_free(p);
	/* A bare name is a list of one. */
	assert_int_equal(plan((const char *[]){"wharf/networks", "none", NULL}, &p, &msg), 0);
	assert_non_null(p);
	netsetup_plan_free(p);

	expect_plan_error((const char *[]){"wharf/networks", "[1]", NULL},
			  "item 0 is not a string");
	expect_plan_error((const char *[]){"wharf/networks", "[\"x\"", NULL},
			  "expected a JSON list of strings");
	expect_plan_error((const char *[]){"wharf/networks", "", NULL}, "empty");
	/* found by review: an empty list crashed wharfd at task create; names stay CNI names */
	expect_plan_error((const char *[]){"wharf/networks", "[]", NULL}, "no network named");
	expect_plan_error((const char *[]){"wharf/networks", "[\"../../x\"]", NULL},
			  "'../../x' is not a network name");
	expect_plan_error((const char *[]){"wharf/networks", "[\"none\",\"x\"]", NULL},
			  "'none' and 'host' exclude other networks");
	expect_plan_error(
		(const char *[]){"wharf/networks",
				 "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]", NULL},
		"at most 8 networks");
	expect_plan_error((const char *[]){"wharf/networks", "host", "wharf/ports",
					   "[{\"hostPort\":1,\"containerPort\":2}]", NULL},
			  "published ports need a network, not 'host'");
	expect_plan_error((const char *[]){"wharf/networks", "x", "wharf/ports",
					   "[{\"hostPort\":0,\"containerPort\":2}]", NULL},
			  "label 'wharf/ports': item 0: hostPort must be 1..65535");
	expect_plan_error(
		(const char *[]){"wharf/networks", "x", "wharf/ports", "[{\"hostPort\":1}]", NULL},
		"containerPort must be 1..65535");
	expect_plan_error(
		(const char *[]){"wharf/networks", "x", "wharf/ports",
				 "[{\"hostPort\":1,\"containerPort\":2,\"protocol\":\"x\"}]", NULL},
		"protocol 'x'");
	expect_plan_error((const char *[]){"wharf/networks", "x", "wharf/ports", "{}", NULL},
			  "expected a JSON list");
	expect_plan_error((const char *[]){"wharf/networks", "x", "wharf/dns", "[\"nope\"]", NULL},
			  "'nope' is not an IP address");
	expect_plan_error(
		(const char *[]){"wharf/networks", "x", "wharf/add-hosts", "[\"a\"]", NULL},
		"want name:ip");
	expect_plan_error((const char *[]){"wharf/networks", "x", "wharf/hostname", "-x", NULL},
			  "invalid hostname '-x'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags_to_labels),
		cmocka_unit_test(test_flag_errors),
		cmocka_unit_test(test_plan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of oci/caps.c (as root): forked children apply real capability sets in the
 * documented order, with and without a user switch, then read CapInh/CapPrm/CapEff/CapBnd/
 * CapAmb from /proc/self/status, exercise a privilege that was kept or dropped, and exec a
 * program to show ambient caps survive execve.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>

#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "helpers.h"
#include "oci/caps.h"

#define BIT(c) (UINT64_C(1) << (c))

/* Reads "Cap<name>:\t<hex>" from a /proc/<pid>/status text. */
static uint64_t status_cap(const char *status, const char *name)
{
	cleanup_free char *key = xasprintf("\nCap%s:\t", name);
	const char *p = strstr(status, key);

	if (!p)
		return UINT64_MAX;
	return strtoull(p + strlen(key), NULL, 16);
}

static uint64_t self_cap(const char *name)
{
	cleanup_free char *s = NULL;

	if (read_file("/proc/self/status", 1 << 16, &s, NULL) < 0)
		return UINT64_MAX;
	return status_cap(s, name);
}

static struct oci_caps parse_caps(const char *json)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_caps c = {0};
	yajl_val v = parse_json(json);

	assert_ok(oci_caps_parse(v, "process.capabilities", &c, &err), err);
	yajl_tree_free(v);
	return c;
}

static struct oci_caps g_caps;
static bool g_switch_user;
static char g_file[64];

static uint64_t all_known(void)
{
	int last = oci_cap_last();

	return last >= 63 ? UINT64_MAX : (BIT(last + 1) - 1);
}

/* The init sequence of caps.h, then checks. Exit codes name the failing step. */
static int apply_in_child(void *arg)
{
	if (oci_caps_apply_bounding(&g_caps, NULL) < 0)
		return 10;
	if (g_switch_user) {
		if (oci_caps_keep(true, NULL) < 0)
			return 11;
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			return 12;
		if (oci_caps_keep(false, NULL) < 0)
			return 13;
	}
	if (oci_caps_apply(&g_caps, NULL) < 0)
		return 14;
	if (self_cap("Eff") != g_caps.effective)
		return 20;
	if (self_cap("Prm") != g_caps.permitted)
		return 21;
	if (self_cap("Inh") != g_caps.inheritable)
		return 22;
	if (self_cap("Bnd") != (g_caps.bounding & all_known()))
		return 23;
	if (self_cap("Amb") != g_caps.ambient)
		return 24;
	return ((int (*)(void))arg)();
}

static int run(int (*probe)(void))
{
	struct child c = child_start(apply_in_child, (void *)probe);
	int st;

	child_go(&c);
	st = child_wait(&c);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 200 + WTERMSIG(st);
}

static int probe_root_no_chown(void)
{
	/* Still uid 0, but without CAP_CHOWN in effective chown to another owner fails. */
	if (chown(g_file, 1, 1) == 0 || errno != EPERM)
		return 30;
	/* CAP_KILL is effective: signalling another user's process works (pid 1 with 0). */
	if (kill(1, 0) != 0)
		return 31;
	return 0;
}

static void test_root_sets(void **state)
{
	int fd;

	snprintf(g_file, sizeof(g_file), "/tmp/ocires-caps-XXXXXX");
	fd = mkstemp(g_file);
	assert_true(fd >= 0);
	close(fd);
	g_switch_user = false;
	g_caps = parse_caps("{\"bounding\":[\"CAP_CHOWN\",\"CAP_KILL\",\"CAP_SETPCAP\"],"
			    "\"effective\":[\"CAP_KILL\"],"
			    "\"permitted\":[\"CAP_KILL\",\"CAP_CHOWN\"],"
			    "\"inheritable\":[\"CAP_KILL\"],\"ambient\":[\"CAP_KILL\"]}");
	assert_int_equal(run(probe_root_no_chown), 0);
	/* The parent is untouched. */
	assert_int_equal(chown(g_file, 1, 1), 0);
	assert_int_equal(unlink(g_file), 0);
}

static int probe_bind_low_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cleanup_close int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (getuid() != 65534 || geteuid() != 65534)
		return 40;
	/* Port 0 < ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE: try the low ports
	 * until one is free. */
	for (int port = 1; port < 1024; port++) {
		a.sin_port = htons((uint16_t)port);
		if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0)
			return 0;
		if (errno != EADDRINUSE)
			return 41;
	}
	return 42;
}

static void test_user_switch_keeps_caps(void **state)
{
	g_switch_user = true;
	g_caps = parse_caps("{\"bounding\":[\"CAP_NET_BIND_SERVICE\",\"CAP_KILL\"],"
			    "\"effective\":[\"CAP_NET_BIND_SERVICE\"],"
			    "\"permitted\":[\"CAP_NET_BIND_SERVICE\",\"CAP_KILL\"],"
			    "\"inheritable\":[\"CAP_NET_BIND_SERVICE\"],"
			    "\"ambient\":[\"CAP_NET_BIND_SERVICE\"]}");
	assert_int_equal(run(probe_bind_low_port), 0);
}

static int probe_exec_keeps_ambient(void)
{
	/* After execve as uid 65534 only ambient caps remain effective. */
	int p[2];
	pid_t pid;
	char buf[4096];
	ssize_t n, total = 0;
	int st;

	if (pipe2(p, O_CLOEXEC) < 0)
		return 50;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl("/bin/cat", "cat", "/proc/self/status", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], buf + total, sizeof(buf) - 1 - (size_t)total)) > 0)
		total += n;
	buf[total] = 0;
	close(p[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 51;
	if (status_cap(buf, "Eff") != BIT(CAP_NET_BIND_SERVICE))
		return 52;
	if (status_cap(buf, "Amb") != BIT(CAP_NET_BIND_SERVICE))
		return 53;
	if (status_cap(buf, "Prm") != BIT(CAP_NET_BIND_SERVICE))
		return 54;
	return 0;
}

static void test_exec_keeps_ambient(void **state)
{
	g_switch_user = true;
	g_caps = parse_caps("{\"bounding\":[\"CAP_NET_BIND_SERVICE\",\"CAP_KILL\"],"
			    "\"effective\":[\"CAP_NET_BIND_SERVICE\",\"CAP_KILL\"],"
			    "\"permitted\":[\"CAP_NET_BIND_SERVICE\",\"CAP_KILL\"],"
			    "\"inheritable\":[\"CAP_NET_BIND_SERVICE\"],"
			    "\"ambient\":[\"CAP_NET_BIND_SERVICE\"]}");
	assert_int_equal(run(probe_exec_keeps_ambient), 0);
}

static int probe_none(void)
{
	return 0;
}

static void test_default_set(void **state)
{
	g_switch_user = false;
	oci_caps_default(&g_caps);
	assert_int_equal(run(probe_none), 0);
}

static int wrong_order(void *arg)
{
	struct oci_caps c = parse_caps("{\"effective\":[\"CAP_KILL\"],\"permitted\":[\"CAP_KILL\"],"
				       "\"bounding\":[\"CAP_KILL\"]}");
	cleanup_err struct wh_err *err = NULL;

	/* setuid without PR_SET_KEEPCAPS empties permitted: the caps cannot come back. */
	if (setresuid(65534, 65534, 65534) < 0)
		return 1;
	if (oci_caps_apply(&c, &err) != -EPERM)
		return 2;
	if (!strstr(wh_err_msg(err), "capset"))
		return 3;
	return 0;
}

static int ambient_not_inheritable(void *arg)
{
	struct oci_caps c = parse_caps("{\"effective\":[\"CAP_KILL\"],\"permitted\":[\"CAP_KILL\"],"
				       "\"bounding\":[\"CAP_KILL\"],\"ambient\":[\"CAP_KILL\"]}");
	cleanup_err struct wh_err *err = NULL;

	if (oci_caps_apply(&c, &err) != -EPERM)
		return 1;
	if (!strstr(wh_err_msg(err), "raise ambient capability 'CAP_KILL'"))
		return 2;
	return 0;
}

static void test_errors(void **state)
{
	struct child a = child_start(wrong_order, NULL);
	struct child b = child_start(ambient_not_inheritable, NULL);
	int st;

	child_go(&a);
	child_go(&b);
	st = child_wait(&a);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	st = child_wait(&b);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_sets),
		cmocka_unit_test(test_user_switch_keeps_caps),
		cmocka_unit_test(test_exec_keeps_ambient),
		cmocka_unit_test(test_default_set),
		cmocka_unit_test(test_errors),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

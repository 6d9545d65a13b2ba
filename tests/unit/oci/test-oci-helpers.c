/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of liboci's pure helpers: signal names, ids, mount options, state JSON, features,
 * the fd passing used for console sockets, /proc stat parsing and hooks (real child processes). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "oci/internal.h"

static void test_signals(void **state)
{
	assert_int_equal(oci_parse_signal("KILL"), SIGKILL);
	assert_int_equal(oci_parse_signal("SIGKILL"), SIGKILL);
	assert_int_equal(oci_parse_signal("sigterm"), SIGTERM);
	assert_int_equal(oci_parse_signal("9"), 9);
	assert_int_equal(oci_parse_signal("USR1"), SIGUSR1);
	assert_int_equal(oci_parse_signal("RTMIN+1"), SIGRTMIN + 1);
	assert_int_equal(oci_parse_signal("SIGRTMAX"), SIGRTMAX);
	assert_int_equal(oci_parse_signal("0"), -EINVAL);
	assert_int_equal(oci_parse_signal("999"), -EINVAL);
	assert_int_equal(oci_parse_signal("NOPE"), -EINVAL);
	assert_int_equal(oci_parse_signal(""), -EINVAL);
	assert_int_equal(oci_parse_signal("RTMAX+1"), -EINVAL);
}

static void test_ids(void **state)
{
	assert_true(oci_id_valid("abc"));
	assert_true(oci_id_valid("a.b_c-d+e9"));
	assert_false(oci_id_valid(""));
	assert_false(oci_id_valid(NULL));
	assert_false(oci_id_valid("../x"));
	assert_false(oci_id_valid("a/b"));
	assert_false(oci_id_valid(".hidden"));
	assert_false(oci_id_valid("-x"));
}

static void test_mount_options(void **state)
{
	unsigned long flags = 0, prop = 0;
	bool bind = false;
	struct oci_mount_rec rec = {0};
	struct strbuf data = STRBUF_INIT;
	const char *opts[] = {"ro",	 "nosuid",   "nodev", "noexec",	  "rbind",   "rprivate",
			      "size=1m", "mode=755", "rw",    "rro",	  "rnosuid", "rnoatime",
			      "rsuid",	 "rrw",	     "rro",   "rrelatime"};
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		oci_mount_option(opts[i], &flags, &prop, &bind, &rec, &data);
	assert_int_equal(flags, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REC);
	assert_int_equal(prop, MS_PRIVATE | MS_REC);
	assert_true(bind);
	assert_string_equal(data.buf, "size=1m,mode=755");
	/* the last word about each attribute wins; an atime choice clears the others */
	assert_int_equal(rec.set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_RELATIME);
	assert_int_equal(rec.clr, MOUNT_ATTR_NOSUID | MOUNT_ATTR__ATIME);
	strbuf_release(&data);
}

static void test_names(void **state)
{
	assert_int_equal(oci_ns_flag("network"), CLONE_NEWNET);
	assert_int_equal(oci_ns_flag("cgroup"), CLONE_NEWCGROUP);
	assert_int_equal(oci_ns_flag("net"), 0);
	assert_int_equal(oci_rlimit_resource("RLIMIT_NPROC"), RLIMIT_NPROC);
	assert_int_equal(oci_rlimit_resource("NOFILE"), -1);
	assert_string_equal(oci_status_name(OCI_STATUS_PAUSED), "paused");
}

static void test_state_json(void **state)
{
	struct oci_state s = {
		.oci_version = (char *)"1.0.2",
		.id = (char *)"x",
		.pid = 42,
		.status = OCI_STATUS_RUNNING,
		.bundle = (char *)"/b",
		.rootfs = (char *)"/b/rootfs",
		.created = (char *)"2024-01-01T00:00:00Z",
		.owner = (char *)"root",
		.annotations_json = (char *)"{\"k\":\"v\"}",
	};
	char *js = oci_state_json(&s);
	yajl_val v = NULL;
	assert_int_equal(json_parse(js, strlen(js), &v, NULL), 0);
	const char *str;
	assert_int_equal(json_get_string(v, "status", "status", &str, NULL), 0);
	assert_string_equal(str, "running");
	assert_int_equal(json_get_string(v, "rootfs", "rootfs", &str, NULL), 0);
	assert_string_equal(str, "/b/rootfs");
	int64_t pid;
	assert_int_equal(json_get_int64_opt(v, "pid", "pid", &pid, NULL), 0);
	assert_int_equal(pid, 42);
	assert_int_equal(json_get_string(json_get(v, "annotations"), "k", "k", &str, NULL), 0);
	assert_string_equal(str, "v");
	yajl_tree_free(v);
	free(js);

	s.status = OCI_STATUS_STOPPED;
	s.pid = 0;
	js = oci_state_hook_json(&s);
	assert_int_equal(json_parse(js, strlen(js), &v, NULL), 0);
	assert_null(json_get(v, "pid"));
	assert_int_equal(json_get_string(v, "status", "status", &str, NULL), 0);
	assert_string_equal(str, "stopped");
	yajl_tree_free(v);
	free(js);
}

static void test_features(void **state)
{
	char *js = oci_features_json();
	yajl_val v = NULL;
	assert_int_equal(json_parse(js, strlen(js), &v, NULL), 0);
	yajl_val lx = json_get(v, "linux");
	assert_non_null(lx);
	assert_true(YAJL_IS_TRUE(json_get(json_get(lx, "cgroup"), "v2")));
	assert_true(YAJL_IS_FALSE(json_get(json_get(lx, "apparmor"), "enabled")));
	assert_true(json_get(lx, "capabilities")->u.array.len > 30);
	yajl_tree_free(v);
	free(js);
}

static void test_fd_passing(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(oci_send_fd(sv[0], fd, "/dev/ptmx"), 0);
	int got = oci_recv_fd(sv[1]);
	assert_true(got >= 0);
	struct stat a, b;
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(got, &b), 0);
	assert_int_equal(a.st_rdev, b.st_rdev);
	assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
	close(got);
	close(fd);
	close(sv[0]);
	assert_true(oci_recv_fd(sv[1]) < 0);
	close(sv[1]);
}

static void test_proc_start_time(void **state)
{
	uint64_t t1 = 0, t2 = 0;
	char st = 0;
	assert_int_equal(oci_proc_start_time(getpid(), &t1, &st), 0);
	assert_true(t1 > 0);
	assert_int_equal(st, 'R');
	assert_int_equal(oci_proc_start_time(getpid(), &t2, NULL), 0);
	assert_int_equal(t1, t2);
	assert_int_equal(oci_proc_start_time(0x3fffffff, &t1, NULL), -ENOENT);
}

static void test_hooks(void **state)
{
	char dir[] = "/tmp/oci-unit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *out = path_join(dir, "stdin");
	char *cmd = xasprintf("cat > %s; echo \"$X\" >> %s", out, out);
	char *args_ok[] = {(char *)"sh", (char *)"-c", cmd, NULL};
	char *env[] = {(char *)"X=from-env", NULL};
	char *args_fail[] = {(char *)"sh", (char *)"-c", (char *)"exit 3", NULL};
	char *args_slow[] = {(char *)"sh", (char *)"-c", (char *)"sleep 30", NULL};
	struct oci_hook ok = {.path = (char *)"/bin/sh", .args = args_ok, .env = env};
	struct oci_hook bad = {.path = (char *)"/bin/sh", .args = args_fail};
	struct oci_hook slow = {.path = (char *)"/bin/sh", .args = args_slow, .timeout = 1};
	struct oci_hook missing = {.path = (char *)"/nonexistent/hook"};
	struct oci_hooks h = {0};
	struct wh_err *e = NULL;

	h.v[OCI_HOOK_PRESTART] = &ok;
	h.n[OCI_HOOK_PRESTART] = 1;
	assert_int_equal(oci_hooks_run(&h, OCI_HOOK_PRESTART, "{\"id\":\"x\"}", &e), 0);
	char *text = NULL;
	assert_int_equal(read_file(out, 4096, &text, NULL), 0);
	assert_string_equal(text, "{\"id\":\"x\"}from-env\n");
	free(text);
	assert_int_equal(oci_hooks_run(&h, OCI_HOOK_POSTSTOP, "{}", &e), 0);

	h.v[OCI_HOOK_POSTSTART] = &bad;
	h.n[OCI_HOOK_POSTSTART] = 1;
	assert_int_equal(oci_hooks_run(&h, OCI_HOOK_POSTSTART, "{}", &e), -EIO);
	assert_non_null(strstr(wh_err_msg(e), "poststart"));
	assert_non_null(strstr(wh_err_msg(e), "exit status 3"));
	e = wh_err_free(e);

	h.v[OCI_HOOK_POSTSTOP] = &slow;
	h.n[OCI_HOOK_POSTSTOP] = 1;
	assert_int_equal(oci_hooks_run(&h, OCI_HOOK_POSTSTOP, "{}", &e), -ETIMEDOUT);
	assert_non_null(strstr(wh_err_msg(e), "timed out"));
	e = wh_err_free(e);

	h.v[OCI_HOOK_CREATE_RUNTIME] = &missing;
	h.n[OCI_HOOK_CREATE_RUNTIME] = 1;
	assert_int_equal(oci_hooks_run(&h, OCI_HOOK_CREATE_RUNTIME, "{}", &e), -ENOEXEC);
	e = wh_err_free(e);

	free(cmd);
	free(out);
	assert_int_equal(rm_rf(dir), 0);
}

static void test_find_program(void **state)
{
	char *env[] = {(char *)"A=1", (char *)"PATH=/nonexistent:/bin", NULL};
	char *p = oci_find_program("sh", env);
	assert_string_equal(p, "/bin/sh");
	free(p);
	p = oci_find_program("/abs/path", env);
	assert_string_equal(p, "/abs/path");
	free(p);
	assert_null(oci_find_program("no-such-program-here", env));
	char *noenv[] = {NULL};
	p = oci_find_program("sh", noenv); /* the default PATH */
	assert_non_null(p);
	free(p);
}

static void test_missing_container(void **state)
{
	struct oci_container *c = NULL;
	struct wh_err *e = NULL;
	assert_int_equal(oci_container_open("/tmp/oci-unit-nonexistent-root", "x", &c, &e),
			 -ENOENT);
	assert_non_null(strstr(wh_err_msg(e), "does not exist"));
	e = wh_err_free(e);
	assert_int_equal(oci_container_open("/tmp", "../etc", &c, &e), -EINVAL);
	e = wh_err_free(e);
	char **ids = NULL;
	assert_int_equal(oci_list("/tmp/oci-unit-nonexistent-root", &ids, NULL), 0);
	assert_int_equal(strv_length(ids), 0);
	strv_free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signals),	      cmocka_unit_test(test_ids),
		cmocka_unit_test(test_mount_options), cmocka_unit_test(test_names),
		cmocka_unit_test(test_state_json),    cmocka_unit_test(test_features),
		cmocka_unit_test(test_fd_passing),    cmocka_unit_test(test_proc_start_time),
		cmocka_unit_test(test_hooks),	      cmocka_unit_test(test_missing_container),
		cmocka_unit_test(test_find_program),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * liboci used in-process, the way the shim uses it: containers created with the caller's own
 * stdio fds or a pty master handed back, whose init and exec'd processes are direct children of
 * the caller (waitpid works without being a subreaper), then killed, paused, updated, listed and
 * deleted through the API. Runs as root against a busybox rootfs on a tmpfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "oci/cgroup.h"
#include "oci/oci.h"

static char tmp[] = "/tmp/oci-lib-XXXXXX";
static char *root, *bundle;

static int run_cmd(char *const argv[])
{
	pid_t p = fork();
	if (p == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state)
{
	if (!mkdtemp(tmp) || mount("tmpfs", tmp, "tmpfs", 0, "mode=755") < 0)
		return -1;
	root = path_join(tmp, "state");
	bundle = path_join(tmp, "bundle");
	char *rootfs = path_join(bundle, "rootfs");
	char *bin = path_join(rootfs, "bin");
	if (mkdir_p(bin, 0755) < 0)
		return -1;
	char *cp[] = {(char *)"/bin/cp", (char *)"/bin/busybox", bin, NULL};
	char *inst[] = {(char *)"/usr/sbin/chroot",
			rootfs,
			(char *)"/bin/busybox",
			(char *)"--install",
			(char *)"-s",
			(char *)"/bin",
			NULL};
	int r = run_cmd(cp) == 0 && run_cmd(inst) == 0 ? 0 : -1;
	free(bin);
	free(rootfs);
	return r;
}

static int teardown(void **state)
{
	char **ids = NULL;
	if (oci_list(root, &ids, NULL) == 0)
		strv_foreach(id, ids)
			oci_delete(root, *id, true, NULL);
	strv_free(ids);
	/* the parent cgroup the configs name, in every hierarchy */
	glob_t g;
	char *pat = xasprintf("/sys/fs/cgroup/*/%s", strrchr(tmp, '/') + 1);
	if (glob(pat, GLOB_ONLYDIR, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			rmdir(g.gl_pathv[i]);
		globfree(&g);
	}
	free(pat);
	pat = xasprintf("/sys/fs/cgroup/%s", strrchr(tmp, '/') + 1);
	rmdir(pat);
	free(pat);
	umount2(tmp, MNT_DETACH);
	rmdir(tmp);
	free(root);
	free(bundle);
	return 0;
}

/* A config running `sh -c cmd`, with or without a terminal, in a cgroup of its own. */
static char *config(const char *id, const char *cmd, bool terminal)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb,
		    "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":%s,"
		    "\"args\":[\"sh\",\"-c\",\"%s\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"},"
		    "\"root\":{\"path\":\"rootfs\"},\"hostname\":\"lib\","
		    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
		    "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"},"
		    "{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
		    "\"options\":[\"newinstance\",\"ptmxmode=0666\"]}],"
		    "\"linux\":{\"cgroupsPath\":\"/%s/%s\",\"namespaces\":[{\"type\":\"pid\"},"
		    "{\"type\":\"mount\"},{\"type\":\"uts\"},{\"type\":\"ipc\"}]}}",
		    terminal ? "true" : "false", cmd, strrchr(tmp, '/') + 1, id);
	return strbuf_detach(&sb, NULL);
}

static char *read_all(int fd)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10000) <= 0)
			break;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		strbuf_add(&sb, buf, (size_t)n);
	}
	return strbuf_detach(&sb, NULL);
}

static void create_ok(const char *id, const char *cfg, struct oci_stdio stdio, pid_t *pid,
		      int *master)
{
	struct oci_create_opts o = {.root = root, .id = id, .bundle = bundle, .stdio = stdio};
	o.config_json = cfg;
	struct wh_err *e = NULL;
	if (oci_create(&o, pid, master, &e) < 0)
		fail_msg("create '%s': %s", id, wh_err_msg(e));
}

static void test_stdio_and_wait(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	char *cfg = config("a", "echo hello $$ $(hostname); exit 3", false);
	struct oci_stdio st = {-1, p[1], p[1], -1};
	pid_t pid;
	create_ok("a", cfg, st, &pid, NULL);
	close(p[1]);
	struct oci_state *s = NULL;
	assert_int_equal(oci_state_get(root, "a", &s, NULL), 0);
	assert_int_equal(s->status, OCI_STATUS_CREATED);
	assert_int_equal(s->pid, pid);
	/* the cgroup the shim reads stats from holds the init */
	struct oci_cgroup *cg = NULL;
	assert_non_null(s->cgroup_path);
	assert_int_equal(oci_cgroup_open(s->cgroup_path, NULL, &cg, NULL), 0);
	pid_t *pids = NULL;
	size_t n = 0;
	assert_int_equal(oci_cgroup_pids(cg, true, &pids, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], pid);
	free(pids);
	oci_cgroup_free(cg);
	oci_state_free(s);
	assert_int_equal(oci_start(root, "a", NULL), 0);
	char *out = read_all(p[0]);
	assert_string_equal(out, "hello 1 lib\n");
	int status;
	/* the init is our own child: no subreaper needed */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	assert_int_equal(oci_state_get(root, "a", &s, NULL), 0);
	assert_int_equal(s->status, OCI_STATUS_STOPPED);
	oci_state_free(s);
	assert_int_equal(oci_delete(root, "a", false, NULL), 0);
	assert_int_equal(oci_state_get(root, "a", &s, NULL), -ENOENT);
	free(out);
	free(cfg);
	close(p[0]);
}

static void test_pty_master(void **state)
{
	char *cfg = config("b", "tty; echo tty-ok", true);
	pid_t pid;
	int master = -1;
	create_ok("b", cfg, (struct oci_stdio)OCI_STDIO_INHERIT, &pid, &master);
	assert_true(master >= 0);
	assert_int_equal(oci_start(root, "b", NULL), 0);
	char *out = read_all(master);
	assert_non_null(strstr(out, "/dev/pts/0"));
	assert_non_null(strstr(out, "tty-ok"));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(oci_delete(root, "b", false, NULL), 0);
	close(master);
	free(out);
	free(cfg);
}

static void test_exec_kill_pause(void **state)
{
	char *cfg = config("c", "sleep 100", false);
	pid_t pid;
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	struct oci_stdio st = {devnull, devnull, devnull, -1};
	create_ok("c", cfg, st, &pid, NULL);
	assert_int_equal(oci_start(root, "c", NULL), 0);

	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	char *args[] = {(char *)"sh", (char *)"-c", (char *)"echo exec $FOO; exit 4", NULL};
	char *env[] = {(char *)"FOO=bar", NULL};
	struct oci_exec_opts eo = {.root = root, .id = "c", .stdio = {-1, p[1], p[1], -1}};
	eo.args = args;
	eo.env = env;
	eo.tty = -1;
	pid_t epid;
	struct wh_err *e = NULL;
	if (oci_exec(&eo, &epid, NULL, &e) < 0)
		fail_msg("exec: %s", wh_err_msg(e));
	close(p[1]);
	char *out = read_all(p[0]);
	assert_string_equal(out, "exec bar\n");
	int status;
	assert_int_equal(waitpid(epid, &status, 0), epid);
	assert_int_equal(WEXITSTATUS(status), 4);

	pid_t *pids = NULL;
	size_t n = 0;
	assert_int_equal(oci_pids(root, "c", &pids, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], pid);
	free(pids);

	char **ids = NULL;
	assert_int_equal(oci_list(root, &ids, NULL), 0);
	assert_true(strv_contains(ids, "c"));
	strv_free(ids);

	struct oci_state *s = NULL;
	assert_int_equal(oci_pause(root, "c", NULL), 0);
	assert_int_equal(oci_state_get(root, "c", &s, NULL), 0);
	assert_int_equal(s->status, OCI_STATUS_PAUSED);
	s = oci_state_free(s);
	assert_true(oci_pause(root, "c", NULL) < 0);
	assert_int_equal(oci_resume(root, "c", NULL), 0);
	assert_int_equal(oci_state_get(root, "c", &s, NULL), 0);
	assert_int_equal(s->status, OCI_STATUS_RUNNING);
	s = oci_state_free(s);

	assert_true(oci_update(root, "c", "{\"memory\":{\"limit\":\"x\"}}", NULL) < 0);
	assert_true(oci_delete(root, "c", false, NULL) < 0);
	assert_int_equal(oci_kill(root, "c", SIGKILL, false, NULL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_true(oci_kill(root, "c", SIGKILL, false, NULL) < 0);
	assert_int_equal(oci_delete(root, "c", false, NULL), 0);
	close(devnull);
	close(p[0]);
	free(out);
	free(cfg);
}

static void test_force_delete_and_errors(void **state)
{
	char *cfg = config("d", "sleep 100", false);
	pid_t pid;
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	struct oci_stdio st = {devnull, devnull, devnull, -1};
	create_ok("d", cfg, st, &pid, NULL);
	struct wh_err *e = NULL;
	struct oci_create_opts o = {.root = root, .id = "d", .bundle = bundle, .stdio = st};
	o.config_json = cfg;
	pid_t p2;
	assert_int_equal(oci_create(&o, &p2, NULL, &e), -EEXIST);
	assert_non_null(strstr(wh_err_msg(e), "already exists"));
	e = wh_err_free(e);
	assert_int_equal(oci_start(root, "d", NULL), 0);
	assert_int_equal(oci_delete(root, "d", true, NULL), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	o.id = "bad/id";
	assert_int_equal(oci_create(&o, &p2, NULL, &e), -EINVAL);
	e = wh_err_free(e);
	close(devnull);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stdio_and_wait),
		cmocka_unit_test(test_pty_master),
		cmocka_unit_test(test_exec_kill_pause),
		cmocka_unit_test(test_force_delete_and_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

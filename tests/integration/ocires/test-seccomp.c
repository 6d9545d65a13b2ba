/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of oci/seccomp.c: real filters are loaded into forked children, which then
 * make the filtered syscalls and report what the kernel answered (errno values, argument
 * conditions, SIGSYS kills, containerd's default profile).
 */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>

#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "helpers.h"
#include "oci/seccomp.h"

static struct oci_seccomp *parse_profile(const char *json)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_seccomp *s = NULL;
	yajl_val v = parse_json(json);

	assert_ok(oci_seccomp_parse(v, "linux.seccomp", &s, &err), err);
	yajl_tree_free(v);
	return s;
}

struct job {
	const struct oci_seccomp *profile;
	const struct oci_seccomp_bpf *bpf; /* compiled in the parent: load only */
	bool nnp;
	int (*after)(void);
};

/* In the child: optionally no_new_privs, load the filter, then run the probe. */
static int load_and_probe(void *arg)
{
	struct job *j = arg;
	size_t skipped = 0;

	if (j->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return 100;
	if (j->bpf ? oci_seccomp_load_bpf(j->bpf, NULL) < 0
		   : oci_seccomp_load(j->profile, &skipped, NULL) < 0)
		return 101;
	return j->after();
}

static int run(const struct oci_seccomp *s, bool nnp, int (*after)(void))
{
	struct job j = {s, NULL, nnp, after};
	struct child c = child_start(load_and_probe, &j);

	child_go(&c);
	return child_wait(&c);
}

/* The same, with the filter compiled here before the fork. */
static int run_precompiled(const struct oci_seccomp *s, bool nnp, int (*after)(void))
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_seccomp_bpf *bpf = NULL;
	struct child c;
	struct job j = {s, NULL, nnp, after};
	int st;

	assert_ok(oci_seccomp_compile(s, &bpf, NULL, &err), err);
	assert_true(oci_seccomp_bpf_len(bpf) > 1);
	j.bpf = bpf;
	c = child_start(load_and_probe, &j);
	child_go(&c);
	st = child_wait(&c);
	oci_seccomp_bpf_free(bpf);
	return st;
}

static void expect_exit0(int st)
{
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child: %s %d", WIFEXITED(st) ? "exit" : "signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static char tmpdir[64];

static int probe_errno(void)
{
	cleanup_free char *p = xasprintf("%s/d", tmpdir);

	/* mkdir gets the rule's errnoRet, rmdir the default EPERM, getpid still works. */
	if (mkdir(p, 0700) == 0 || errno != 42)
		return 1;
	if (rmdir(tmpdir) == 0 || errno != EPERM)
		return 2;
	if (getpid() <= 0)
		return 3;
	return 0;
}

static void test_errno_actions(void **state)
{
	struct oci_seccomp *s;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ocires-sc-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	s = parse_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
			  "{\"names\":[\"mkdir\",\"mkdirat\"],\"action\":\"SCMP_ACT_ERRNO\","
			  "\"errnoRet\":42},"
			  "{\"names\":[\"rmdir\",\"unlinkat\"],\"action\":\"SCMP_ACT_ERRNO\"},"
			  "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
	expect_exit0(run(s, false, probe_errno));
	expect_exit0(run(s, true, probe_errno));
	expect_exit0(run_precompiled(s, true, probe_errno));
	/* Nothing leaked out of the child: the parent is unfiltered. */
	assert_int_equal(rmdir(tmpdir), 0);
	oci_seccomp_free(s);
}

static int probe_args(void)
{
	cleanup_close int fd = memfd_create("x", MFD_CLOEXEC);

	if (fd < 0)
		return 1;
	/* kill(pid, 0) and kill(pid, SIGWINCH) are refused (two conditions on one argument are
	 * ORed), kill(pid, SIGCONT) is allowed. */
	if (kill(getpid(), 0) == 0 || errno != EACCES)
		return 2;
	if (kill(getpid(), SIGWINCH) == 0 || errno != EACCES)
		return 3;
	if (kill(getpid(), SIGCONT) != 0)
		return 4;
	/* fchmod with the setuid bit is refused (masked), a plain mode is not. */
	if (fchmod(fd, 04755) == 0 || errno != EPERM)
		return 5;
	if (fchmod(fd, 0755) != 0)
		return 6;
	/* Conditions on distinct arguments are ANDed: fcntl(fd, F_SETFD, 0) only. */
	if (fcntl(fd, F_SETFD, 0) == 0 || errno != EBADE)
		return 7;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		return 8;
	if (fcntl(fd, F_GETFD) < 0)
		return 9;
	return 0;
}

static void test_arg_conditions(void **state)
{
	struct oci_seccomp *s = parse_profile(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		"{\"names\":[\"kill\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13,\"args\":["
		"{\"index\":1,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},"
		"{\"index\":1,\"value\":28,\"op\":\"SCMP_CMP_EQ\"}]},"
		"{\"names\":[\"fchmod\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":["
		"{\"index\":1,\"value\":2048,\"valueTwo\":2048,\"op\":\"SCMP_CMP_MASKED_EQ\"}]},"
		"{\"names\":[\"fcntl\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":52,\"args\":["
		"{\"index\":1,\"value\":2,\"op\":\"SCMP_CMP_EQ\"},"
		"{\"index\":2,\"value\":0,\"op\":\"SCMP_CMP_EQ\"}]}]}");

	expect_exit0(run(s, true, probe_args));
	expect_exit0(run_precompiled(s, false, probe_args));
	oci_seccomp_free(s);
}

static int probe_kill(void)
{
	syscall(SYS_getppid);
	return 0; /* not reached when the filter kills */
}

static void test_kill_process(void **state)
{
	struct oci_seccomp *s = parse_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
					      "{\"names\":[\"getppid\"],\"action\":"
					      "\"SCMP_ACT_KILL_PROCESS\"}]}");
	int st = run(s, true, probe_kill);

	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
	st = run_precompiled(s, true, probe_kill);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
	oci_seccomp_free(s);
}

static int probe_default_profile(void)
{
	/* Namespaces, mounts and clone3 are refused without CAP_SYS_ADMIN in the profile. */
	if (unshare(CLONE_NEWUTS) == 0 || errno != EPERM)
		return 1;
	if (mount("none", "/tmp", "tmpfs", 0, NULL) == 0 || errno != EPERM)
		return 2;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 3;
	if (syscall(SYS_reboot, 0, 0, 0, NULL) != -1 || errno != EPERM)
		return 4;
	/* Ordinary work goes on, fork included (clone without namespace flags). */
	pid_t p = fork();
	if (p < 0)
		return 5;
	if (p == 0)
		_exit(7);
	int st = 0;
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
		return 6;
	return 0;
}

static int probe_default_admin(void)
{
	/* With CAP_SYS_ADMIN in the profile, unshare passes the filter. */
	if (unshare(CLONE_NEWUTS) != 0)
		return 1;
	return 0;
}

static int probe_default_errno(void)
{
	/* Not allowed by the profile: the defaultErrnoRet comes back. */
	if (syscall(SYS_reboot, 0, 0, 0, NULL) != -1 || errno != 38)
		return 1;
	return 0;
}

static void test_default_profile(void **state)
{
	cleanup_strv char **caps = NULL;
	struct oci_seccomp *def = oci_seccomp_default_profile(NULL), *adm;

	expect_exit0(run(def, true, probe_default_profile));
	expect_exit0(run_precompiled(def, true, probe_default_profile));
	def->has_default_errno_ret = true;
	def->default_errno_ret = 38;
	expect_exit0(run(def, true, probe_default_errno));
	strv_push(&caps, "CAP_SYS_ADMIN");
	adm = oci_seccomp_default_profile(caps);
	expect_exit0(run(adm, true, probe_default_admin));
	oci_seccomp_free(def);
	oci_seccomp_free(adm);
}

static int probe_nothing(void)
{
	return 0;
}

static void test_unknown_names_and_flags(void **state)
{
	struct oci_seccomp *s = parse_profile(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\","
		"\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"],\"architectures\":[\"SCMP_ARCH_X86_64\","
		"\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],\"syscalls\":[{\"names\":[\"no_such_call\","
		"\"another_fake\",\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\"}]}");
	cleanup_err struct wh_err *err = NULL;
	cleanup_close int fd = memfd_create("bpf", MFD_CLOEXEC);
	size_t skipped = 0;

	assert_ok(oci_seccomp_export_bpf(s, fd, &skipped, &err), err);
	assert_int_equal(skipped, 2);
	expect_exit0(run(s, true, probe_nothing));
	expect_exit0(run_precompiled(s, true, probe_nothing));
	oci_seccomp_free(s);
}

static void test_load_needs_privilege(void **state)
{
	struct oci_seccomp *s =
		parse_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
			      "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\"}]}");
	pid_t p = fork();
	int st = 0;

	assert_true(p >= 0);
	if (p == 0) {
		/* Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses: the caller
		 * must follow the documented order. */
		cleanup_err struct wh_err *err = NULL;
		int r;

		if (prctl(PR_CAPBSET_DROP, 21 /* CAP_SYS_ADMIN */, 0, 0, 0) < 0)
			_exit(10);
		if (setresuid(65534, 65534, 65534) < 0)
			_exit(11);
		r = oci_seccomp_load(s, NULL, &err);
		_exit(r == -EACCES && strstr(wh_err_msg(err), "seccomp: load the filter") ? 0 : 12);
	}
	assert_int_equal(waitpid(p, &st, 0), p);
	expect_exit0(st);
	oci_seccomp_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errno_actions),
		cmocka_unit_test(test_arg_conditions),
		cmocka_unit_test(test_kill_process),
		cmocka_unit_test(test_default_profile),
		cmocka_unit_test(test_unknown_names_and_flags),
		cmocka_unit_test(test_load_needs_privilege),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

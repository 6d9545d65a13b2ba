/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of oci/seccomp.c without loading a filter: linux.seccomp parsing (good and
 * malformed input), building and exporting the BPF program, JSON round trips and containerd's
 * default profile.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include <linux/filter.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/common.h"
#include "oci/seccomp.h"

static yajl_val parse(const char *text)
{
	yajl_val v = NULL;

	assert_int_equal(json_parse(text, strlen(text), &v, NULL), 0);
	return v;
}

static void expect_error(const char *text, int code, const char *want)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_seccomp *s = (struct oci_seccomp *)0x1;
	yajl_val v = parse(text);
	int r = oci_seccomp_parse(v, "linux.seccomp", &s, &err);

	if (r != -code || !err || !strstr(err->msg, want))
		fail_msg("%s: got %d '%s', want -%d '%s'", text, r, err ? err->msg : "", code,
			 want);
	assert_ptr_equal(s, (struct oci_seccomp *)0x1); /* untouched on failure */
	yajl_tree_free(v);
}

static const char *full =
	"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,"
	"\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
	"\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"],"
	"\"syscalls\":[{\"names\":[\"read\",\"write\",\"no_such_syscall_xyz\"],"
	"\"action\":\"SCMP_ACT_ALLOW\"},"
	"{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
	"{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"},"
	"{\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"}]},"
	"{\"names\":[\"clone\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
	"{\"index\":0,\"value\":2114060288,\"valueTwo\":0,\"op\":\"SCMP_CMP_MASKED_EQ\"}]},"
	"{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1},"
	"{\"name\":\"kill\",\"action\":\"SCMP_ACT_KILL_PROCESS\"},"
	"{\"names\":[\"ptrace\"],\"action\":\"SCMP_ACT_ERRNO\"}]}";

static void test_parse_full(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_seccomp *s = NULL;
	yajl_val v = parse(full);

	assert_int_equal(oci_seccomp_parse(v, "linux.seccomp", &s, &err), 0);
	assert_int_equal(s->default_action, OCI_SECCOMP_ACT_ERRNO);
	assert_true(s->has_default_errno_ret);
	assert_int_equal(s->default_errno_ret, 38);
	assert_string_equal(s->architectures[0], "SCMP_ARCH_X86_64");
	assert_string_equal(s->flags[0], "SECCOMP_FILTER_FLAG_LOG");
	assert_int_equal(s->n_rules, 6);
	assert_int_equal(strv_length(s->rules[0].names), 3);
	assert_int_equal(s->rules[1].n_args, 2);
	assert_int_equal(s->rules[1].args[0].value, 8);
	assert_int_equal(s->rules[2].args[0].op, OCI_SECCOMP_OP_MASKED_EQ);
	assert_int_equal(s->rules[2].args[0].value, 2114060288);
	assert_true(s->rules[3].has_errno_ret);
	assert_int_equal(s->rules[3].errno_ret, 1);
	assert_string_equal(s->rules[4].names[0], "kill"); /* the old single "name" */
	assert_int_equal(s->rules[4].action, OCI_SECCOMP_ACT_KILL_PROCESS);
	assert_false(s->rules[5].has_errno_ret);
	oci_seccomp_free(s);
	yajl_tree_free(v);

	assert_int_equal(oci_seccomp_parse(NULL, "linux.seccomp", &s, NULL), 0);
	assert_null(s);
}

static void test_parse_malformed(void **state)
{
	expect_error("[]", EINVAL, "linux.seccomp: expected an object");
	expect_error("{}", EINVAL, "linux.seccomp.defaultAction: missing");
	expect_error("{\"defaultAction\":\"SCMP_ACT_NOPE\"}", EINVAL,
		     "linux.seccomp.defaultAction: unknown action 'SCMP_ACT_NOPE'");
	expect_error("{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}", EOPNOTSUPP,
		     "linux.seccomp.defaultAction: action 'SCMP_ACT_NOTIFY' is not supported");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/x\"}", EOPNOTSUPP,
		     "linux.seccomp.listenerPath");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":-1}", EINVAL,
		     "linux.seccomp.defaultErrnoRet: must not be negative");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":5000}", ERANGE,
		     "linux.seccomp.defaultErrnoRet: 5000 is not an errno");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_Z80\"]}",
		     EINVAL,
		     "linux.seccomp.architectures[0]: unknown architecture 'SCMP_ARCH_Z80'");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"x86_64\"]}",
		     EINVAL, "linux.seccomp.architectures[0]: unknown architecture 'x86_64'");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":\"SCMP_ARCH_X86\"}",
		     EINVAL, "linux.seccomp.architectures: expected an array of strings");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_X\"]}",
		     EINVAL, "linux.seccomp.flags[0]: unknown flag 'SECCOMP_FILTER_FLAG_X'");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":{}}", EINVAL,
		     "linux.seccomp.syscalls: expected an array");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[7]}", EINVAL,
		     "linux.seccomp.syscalls[0]: expected an object");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[],"
		     "\"action\":\"SCMP_ACT_ERRNO\"}]}",
		     EINVAL, "linux.seccomp.syscalls[0].names: missing or empty");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[1],"
		     "\"action\":\"SCMP_ACT_ERRNO\"}]}",
		     EINVAL, "linux.seccomp.syscalls[0].names[0]: expected a string");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"]}]}",
		     EINVAL, "linux.seccomp.syscalls[0].action: missing");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
		     "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":\"EPERM\"}]}",
		     EINVAL, "linux.seccomp.syscalls[0].errnoRet: expected an unsigned integer");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
		     "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":6,\"value\":1,"
		     "\"op\":\"SCMP_CMP_EQ\"}]}]}",
		     EINVAL, "linux.seccomp.syscalls[0].args[0].index: 6 is out of range");
	expect_error(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
		"\"action\":\"SCMP_ACT_ERRNO\"},{\"names\":[\"read\"],\"action\":"
		"\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_XX\"}]}]}",
		EINVAL, "linux.seccomp.syscalls[1].args[0].op: unknown operator 'SCMP_CMP_XX'");
	expect_error(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
		"\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_EQ\"}]}]}",
		EINVAL, "linux.seccomp.syscalls[0].args[0].value: missing");
	expect_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
		     "\"action\":\"SCMP_ACT_ERRNO\",\"args\":{}}]}",
		     EINVAL, "linux.seccomp.syscalls[0].args: expected an array");
}

static void test_action_op_names(void **state)
{
	for (int i = 0; i < _OCI_SECCOMP_ACT_MAX; i++)
		assert_int_equal(oci_seccomp_action_from_string(oci_seccomp_action_to_string(i)),
				 i);
	for (int i = 0; i < _OCI_SECCOMP_OP_MAX; i++)
		assert_int_equal(oci_seccomp_op_from_string(oci_seccomp_op_to_string(i)), i);
	assert_int_equal(oci_seccomp_action_from_string("scmp_act_allow"), -EINVAL);
	assert_null(oci_seccomp_action_to_string(_OCI_SECCOMP_ACT_MAX));
	assert_null(oci_seccomp_op_to_string(-1));
}

/* Exports the BPF program into a memfd and returns its size in instructions. */
static size_t export_len(const struct oci_seccomp *s, size_t *skipped)
{
	cleanup_close int fd = memfd_create("bpf", MFD_CLOEXEC);
	cleanup_err struct wh_err *err = NULL;
	struct stat st;

	assert_true(fd >= 0);
	if (oci_seccomp_export_bpf(s, fd, skipped, &err) < 0)
		fail_msg("export: %s", wh_err_msg(err));
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size % sizeof(struct sock_filter), 0);
	return (size_t)st.st_size / sizeof(struct sock_filter);
}

static void test_export(void **state)
{
	struct oci_seccomp *s = NULL, *small = NULL;
	yajl_val v = parse(full);
	yajl_val vs = parse("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}");
	size_t skipped = 99, n_full, n_small;

	assert_int_equal(oci_seccomp_parse(v, "linux.seccomp", &s, NULL), 0);
	assert_int_equal(oci_seccomp_parse(vs, "linux.seccomp", &small, NULL), 0);
	n_full = export_len(s, &skipped);
	assert_int_equal(skipped, 1); /* no_such_syscall_xyz */
	{
		struct oci_seccomp_bpf *bpf = NULL;

		skipped = 0;
		assert_int_equal(oci_seccomp_compile(s, &bpf, &skipped, NULL), 0);
		assert_int_equal(oci_seccomp_bpf_len(bpf), n_full);
		assert_int_equal(skipped, 1);
		oci_seccomp_bpf_free(bpf);
	}
	n_small = export_len(small, &skipped);
	assert_int_equal(skipped, 0);
	/* The rules make it into the program. */
	assert_true(n_full > n_small + 10);
	oci_seccomp_free(s);
	oci_seccomp_free(small);
	yajl_tree_free(v);
	yajl_tree_free(vs);
}

static char *gen(const struct oci_seccomp *s)
{
	yajl_gen g = json_gen_new(false);

	oci_seccomp_gen_json(g, s);
	return json_gen_finish(g, NULL);
}

static void test_gen_roundtrip(void **state)
{
	struct oci_seccomp *a = NULL, *b = NULL;
	yajl_val v = parse(full), v2;
	cleanup_free char *o1 = NULL, *o2 = NULL;

	assert_int_equal(oci_seccomp_parse(v, "linux.seccomp", &a, NULL), 0);
	o1 = gen(a);
	v2 = parse(o1);
	assert_int_equal(oci_seccomp_parse(v2, "linux.seccomp", &b, NULL), 0);
	o2 = gen(b);
	assert_string_equal(o1, o2);
	assert_non_null(strstr(o1, "\"op\":\"SCMP_CMP_MASKED_EQ\""));
	assert_non_null(strstr(o1, "\"defaultErrnoRet\":38"));
	oci_seccomp_free(a);
	oci_seccomp_free(b);
	yajl_tree_free(v);
	yajl_tree_free(v2);
}

static bool allows(const struct oci_seccomp *s, const char *name)
{
	for (size_t i = 0; i < s->n_rules; i++)
		if (s->rules[i].action == OCI_SECCOMP_ACT_ALLOW && s->rules[i].n_args == 0 &&
		    strv_contains(s->rules[i].names, name))
			return true;
	return false;
}

static void test_default_profile(void **state)
{
	cleanup_strv char **admin = NULL;
	struct oci_seccomp *def = oci_seccomp_default_profile(NULL);
	struct oci_seccomp *adm;
	bool clone3_enosys = false;
	size_t skipped = 0;

	strv_push(&admin, "CAP_SYS_ADMIN");
	strv_push(&admin, "CAP_SYS_PTRACE");
	adm = oci_seccomp_default_profile(admin);
	assert_int_equal(def->default_action, OCI_SECCOMP_ACT_ERRNO);
	assert_true(allows(def, "read"));
	assert_true(allows(def, "execve"));
	assert_true(allows(def, "exit_group"));
	assert_true(allows(def, "ptrace"));
	assert_false(allows(def, "mount"));
	assert_false(allows(def, "unshare"));
	assert_false(allows(def, "reboot"));
	for (size_t i = 0; i < def->n_rules; i++)
		if (strv_contains(def->rules[i].names, "clone3") &&
		    def->rules[i].action == OCI_SECCOMP_ACT_ERRNO)
			clone3_enosys = def->rules[i].errno_ret == ENOSYS;
	assert_true(clone3_enosys);
	assert_true(allows(adm, "mount"));
	assert_true(allows(adm, "unshare"));
	assert_true(allows(adm, "clone3"));
	assert_true(allows(adm, "process_vm_readv"));
	assert_false(allows(adm, "reboot"));
#if defined(__x86_64__)
	assert_string_equal(def->architectures[0], "SCMP_ARCH_X86_64");
	assert_true(allows(def, "arch_prctl"));
#endif
	/* It builds, and its JSON (for a default config.json) parses back to the same. */
	assert_true(export_len(def, &skipped) > 100);
	{
		yajl_gen g = json_gen_new(false);
		cleanup_free char *o1 = NULL, *o2 = NULL;
		struct oci_seccomp *back = NULL;
		yajl_val v;

		oci_seccomp_gen_json(g, def);
		o1 = json_gen_finish(g, NULL);
		v = parse(o1);
		assert_int_equal(oci_seccomp_parse(v, "linux.seccomp", &back, NULL), 0);
		g = json_gen_new(false);
		oci_seccomp_gen_json(g, back);
		o2 = json_gen_finish(g, NULL);
		assert_string_equal(o1, o2);
		assert_non_null(strstr(o1, "\"defaultAction\":\"SCMP_ACT_ERRNO\""));
		oci_seccomp_free(back);
		yajl_tree_free(v);
	}
	oci_seccomp_free(def);
	oci_seccomp_free(adm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full),	cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_action_op_names), cmocka_unit_test(test_export),
		cmocka_unit_test(test_gen_roundtrip),	cmocka_unit_test(test_default_profile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * liboci's seccomp: `linux.seccomp` parsing into struct oci_seccomp, loading it into the calling
 * process through libseccomp, JSON output, and containerd's default profile.
 *
 * Where the runtime calls oci_seccomp_load() (runc's order, see also caps.h):
 *   - noNewPrivileges true: set PR_SET_NO_NEW_PRIVS, apply capabilities, then load seccomp as the
 *     very last step before execve (fewest syscalls need to pass the filter).
 *   - noNewPrivileges false: loading needs CAP_SYS_ADMIN, so load before the capabilities are
 *     dropped (before oci_caps_apply_bounding()).
 * The filter must allow execve itself (the default profile does).
 *
 * Unknown syscall names (not known to libseccomp for any of the filter's architectures) are
 * skipped, as runc does; oci_seccomp_load() reports how many were skipped. SCMP_ACT_NOTIFY
 * (needs a listener fd and a seccomp agent) is refused at parse time with -EOPNOTSUPP.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

struct wh_err;

enum oci_seccomp_action {
	OCI_SECCOMP_ACT_KILL,	      /* SCMP_ACT_KILL (= kill thread) */
	OCI_SECCOMP_ACT_KILL_PROCESS, /* SCMP_ACT_KILL_PROCESS */
	OCI_SECCOMP_ACT_KILL_THREAD,  /* SCMP_ACT_KILL_THREAD */
	OCI_SECCOMP_ACT_TRAP,	      /* SCMP_ACT_TRAP */
	OCI_SECCOMP_ACT_ERRNO,	      /* SCMP_ACT_ERRNO (errnoRet, default EPERM) */
	OCI_SECCOMP_ACT_TRACE,	      /* SCMP_ACT_TRACE (errnoRet is the msg, default EPERM) */
	OCI_SECCOMP_ACT_ALLOW,	      /* SCMP_ACT_ALLOW */
	OCI_SECCOMP_ACT_LOG,	      /* SCMP_ACT_LOG */
	_OCI_SECCOMP_ACT_MAX,
	_OCI_SECCOMP_ACT_INVALID = -22,
};

enum oci_seccomp_op {
	OCI_SECCOMP_OP_NE,	  /* SCMP_CMP_NE */
	OCI_SECCOMP_OP_LT,	  /* SCMP_CMP_LT */
	OCI_SECCOMP_OP_LE,	  /* SCMP_CMP_LE */
	OCI_SECCOMP_OP_EQ,	  /* SCMP_CMP_EQ */
	OCI_SECCOMP_OP_GE,	  /* SCMP_CMP_GE */
	OCI_SECCOMP_OP_GT,	  /* SCMP_CMP_GT */
	OCI_SECCOMP_OP_MASKED_EQ, /* SCMP_CMP_MASKED_EQ: (arg & value) == valueTwo */
	_OCI_SECCOMP_OP_MAX,
	_OCI_SECCOMP_OP_INVALID = -22,
};

struct oci_seccomp_arg {
	unsigned index; /* 0-5 */
	uint64_t value, value_two;
	enum oci_seccomp_op op;
};

/* One linux.seccomp.syscalls[] entry. */
struct oci_seccomp_rule {
	char **names; /* NULL-terminated, at least one */
	enum oci_seccomp_action action;
	bool has_errno_ret;
	uint32_t errno_ret;
	struct oci_seccomp_arg *args;
	size_t n_args;
};

struct oci_seccomp {
	enum oci_seccomp_action default_action;
	bool has_default_errno_ret;
	uint32_t default_errno_ret;
	char **architectures; /* "SCMP_ARCH_X86_64" ...; NULL-terminated, may be NULL */
	char **flags;	      /* "SECCOMP_FILTER_FLAG_TSYNC" | _LOG | _SPEC_ALLOW; may be NULL */
	struct oci_seccomp_rule *rules;
	size_t n_rules;
};

/* "SCMP_ACT_ERRNO" ↔ enum. -EINVAL for unknown names (-EOPNOTSUPP for SCMP_ACT_NOTIFY). */
int oci_seccomp_action_from_string(const char *s);
const char *oci_seccomp_action_to_string(enum oci_seccomp_action a);
/* "SCMP_CMP_EQ" ↔ enum. */
int oci_seccomp_op_from_string(const char *s);
const char *oci_seccomp_op_to_string(enum oci_seccomp_op op);

/*
 * Parses linux.seccomp (v: the object; NULL or JSON null gives *ret = NULL and 0: no seccomp).
 * field is the path used in errors ("linux.seccomp"), e.g.
 * "linux.seccomp.syscalls[3].args[0].op: unknown operator 'SCMP_CMP_XX'". Checks action names,
 * operators, arg index 0-5, architecture names (known to libseccomp), flag names, that names
 * is a non-empty array of strings. Unknown syscall names are accepted here (see top).
 * Free with oci_seccomp_free().
 */
int oci_seccomp_parse(yajl_val v, const char *field, struct oci_seccomp **ret, struct wh_err **err);
struct oci_seccomp *oci_seccomp_free(struct oci_seccomp *s);

/*
 * Builds the libseccomp filter and either loads it into the calling process (load) or writes
 * its BPF program to fd (export, for tests and `features`; loads nothing). The filter is made
 * with libseccomp's own no_new_privs setting off: the caller sets PR_SET_NO_NEW_PRIVS when the
 * spec asks (see top). *ret_skipped (may be NULL) gets the number of unknown syscall names that
 * were skipped. Errors name the rule ("linux.seccomp.syscalls[2] 'open': ...").
 * Loading is irreversible; call it in the container's init only.
 */
int oci_seccomp_load(const struct oci_seccomp *s, size_t *ret_skipped, struct wh_err **err);
int oci_seccomp_export_bpf(const struct oci_seccomp *s, int fd, size_t *ret_skipped,
			   struct wh_err **err);

/*
 * Building a filter with libseccomp costs milliseconds (containerd's default profile, three
 * architectures: 6 to 30 ms on this host). To keep that off the container's start path,
 * compile in the runtime before forking (or once per profile, and cache), and only load the
 * ready BPF program in the container's init with oci_seccomp_load_bpf(): one seccomp(2) call,
 * with the same flags and the same ordering rules as oci_seccomp_load() (see top).
 */
struct oci_seccomp_bpf; /* opaque: the BPF program and the seccomp(2) flags */

int oci_seccomp_compile(const struct oci_seccomp *s, struct oci_seccomp_bpf **ret,
			size_t *ret_skipped, struct wh_err **err);
/* Loads the compiled filter into the calling process. Allocates nothing: safe after fork. */
int oci_seccomp_load_bpf(const struct oci_seccomp_bpf *b, struct wh_err **err);
/* The number of BPF instructions (for tests and `features`). */
size_t oci_seccomp_bpf_len(const struct oci_seccomp_bpf *b);
struct oci_seccomp_bpf *oci_seccomp_bpf_free(struct oci_seccomp_bpf *b);

/* Writes s as a linux.seccomp JSON object to g. */
void oci_seccomp_gen_json(yajl_gen g, const struct oci_seccomp *s);

/*
 * containerd's default seccomp profile (contrib/seccomp DefaultProfile) for x86-64/x86/x32 (or
 * the build's native arch family): default SCMP_ACT_ERRNO, the allow list, the extra syscalls
 * allowed per capability found in caps (names like "CAP_SYS_ADMIN"; caps may be NULL meaning
 * none), and the personality/clone argument rules. Free with oci_seccomp_free().
 */
struct oci_seccomp *oci_seccomp_default_profile(char *const *caps);

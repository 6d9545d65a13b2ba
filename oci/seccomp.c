/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Seccomp: linux.seccomp parsing, building the filter with libseccomp and loading it into the
 * calling process, JSON output and containerd's default profile (its data only).
 */
#include "oci/seccomp.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "common/common.h"

static const char *const action_names[_OCI_SECCOMP_ACT_MAX] = {
	[OCI_SECCOMP_ACT_KILL] = "SCMP_ACT_KILL",
	[OCI_SECCOMP_ACT_KILL_PROCESS] = "SCMP_ACT_KILL_PROCESS",
	[OCI_SECCOMP_ACT_KILL_THREAD] = "SCMP_ACT_KILL_THREAD",
	[OCI_SECCOMP_ACT_TRAP] = "SCMP_ACT_TRAP",
	[OCI_SECCOMP_ACT_ERRNO] = "SCMP_ACT_ERRNO",
	[OCI_SECCOMP_ACT_TRACE] = "SCMP_ACT_TRACE",
	[OCI_SECCOMP_ACT_ALLOW] = "SCMP_ACT_ALLOW",
	[OCI_SECCOMP_ACT_LOG] = "SCMP_ACT_LOG",
};

static const char *const op_names[_OCI_SECCOMP_OP_MAX] = {
	[OCI_SECCOMP_OP_NE] = "SCMP_CMP_NE",
	[OCI_SECCOMP_OP_LT] = "SCMP_CMP_LT",
	[OCI_SECCOMP_OP_LE] = "SCMP_CMP_LE",
	[OCI_SECCOMP_OP_EQ] = "SCMP_CMP_EQ",
	[OCI_SECCOMP_OP_GE] = "SCMP_CMP_GE",
	[OCI_SECCOMP_OP_GT] = "SCMP_CMP_GT",
	[OCI_SECCOMP_OP_MASKED_EQ] = "SCMP_CMP_MASKED_EQ",
};

static const char *const flag_names[] = {
	"SECCOMP_FILTER_FLAG_TSYNC",
	"SECCOMP_FILTER_FLAG_LOG",
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW",
};

/* containerd's DefaultProfile allow list (contrib/seccomp), any capability. */
/* clang-format off */
static const char *const default_allow[] = {
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
	"chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
	"clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
	"clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
	"dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
	"execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
	"fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
	"fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
	"flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
	"fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_time64", "futex_waitv",
	"futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
	"geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
	"getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
	"getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
	"getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
	"gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
	"inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
	"io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup",
	"io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill",
	"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
	"lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
	"_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
	"membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
	"mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
	"mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
	"mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd",
	"msync", "munlock", "munlockall", "munmap", "nanosleep", "newfstatat", "_newselect",
	"open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
	"pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
	"pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
	"pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
	"readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
	"remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
	"rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
	"rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
	"sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
	"sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
	"select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
	"sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32",
	"setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
	"setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32",
	"setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list",
	"setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32",
	"setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
	"signalfd4", "sigprocmask", "sigreturn", "socket", "socketcall", "socketpair", "splice",
	"stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
	"sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
	"timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
	"timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
	"timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
	"ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
	"utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
	"writev",
};
/* clang-format on */

/* Extra syscalls containerd allows when the bounding set holds a capability. */
struct cap_syscalls {
	const char *cap;
	const char *names[25];
};

static const struct cap_syscalls default_by_cap[] = {
	{"CAP_DAC_READ_SEARCH", {"open_by_handle_at"}},
	{"CAP_SYS_ADMIN",
	 {"bpf",
	  "clone",
	  "clone3",
	  "fanotify_init",
	  "fsconfig",
	  "fsmount",
	  "fsopen",
	  "fspick",
	  "lookup_dcookie",
	  "mount",
	  "mount_setattr",
	  "move_mount",
	  "name_to_handle_at",
	  "open_tree",
	  "perf_event_open",
	  "quotactl",
	  "quotactl_fd",
	  "setdomainname",
	  "sethostname",
	  "setns",
	  "syslog",
	  "umount",
	  "umount2",
	  "unshare"}},
	{"CAP_SYS_BOOT", {"reboot"}},
	{"CAP_SYS_CHROOT", {"chroot"}},
	{"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module"}},
	{"CAP_SYS_PACCT", {"acct"}},
	{"CAP_SYS_PTRACE",
	 {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
	  "ptrace"}},
	{"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
	{"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
	{"CAP_SYS_TTY_CONFIG", {"vhangup"}},
	{"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy"}},
	{"CAP_SYSLOG", {"syslog"}},
	{"CAP_BPF", {"bpf"}},
	{"CAP_PERFMON", {"perf_event_open"}},
};

int oci_seccomp_action_from_string(const char *s)
{
	for (int i = 0; i < _OCI_SECCOMP_ACT_MAX; i++)
		if (streq(action_names[i], s))
			return i;
	if (streq(s, "SCMP_ACT_NOTIFY"))
		return -EOPNOTSUPP;
	return -EINVAL;
}

const char *oci_seccomp_action_to_string(enum oci_seccomp_action a)
{
	if ((int)a < 0 || a >= _OCI_SECCOMP_ACT_MAX)
		return NULL;
	return action_names[a];
}

int oci_seccomp_op_from_string(const char *s)
{
	for (int i = 0; i < _OCI_SECCOMP_OP_MAX; i++)
		if (streq(op_names[i], s))
			return i;
	return -EINVAL;
}

const char *oci_seccomp_op_to_string(enum oci_seccomp_op op)
{
	if ((int)op < 0 || op >= _OCI_SECCOMP_OP_MAX)
		return NULL;
	return op_names[op];
}

/* "SCMP_ARCH_X86_64" → libseccomp's token, 0 when unknown. */
static uint32_t arch_token(const char *name)
{
	char buf[32];
	size_t n;

	if (!str_startswith(name, "SCMP_ARCH_"))
		return 0;
	name += strlen("SCMP_ARCH_");
	n = strlen(name);
	if (n == 0 || n >= sizeof(buf))
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = name[i];

		if (c >= 'a' && c <= 'z')
			return 0; /* the spec's names are upper case */
		buf[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
	}
	return seccomp_arch_resolve_name(buf);
}

struct oci_seccomp *oci_seccomp_free(struct oci_seccomp *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_rules; i++) {
		strv_free(s->rules[i].names);
		free(s->rules[i].args);
	}
	free(s->rules);
	strv_free(s->architectures);
	strv_free(s->flags);
	free(s);
	return NULL;
}

DEFINE_CLEANUP(struct oci_seccomp *, oci_seccomp_free)

static int parse_action(yajl_val obj, const char *key, const char *field, bool required,
			enum oci_seccomp_action *ret, struct wh_err **err)
{
	const char *s = NULL;
	int r;

	r = required ? json_get_string(obj, key, field, &s, err)
		     : json_get_string_opt(obj, key, field, &s, err);
	if (r < 0 || !s)
		return r;
	r = oci_seccomp_action_from_string(s);
	if (r == -EOPNOTSUPP)
		return wh_err_setx(err, EOPNOTSUPP, "%s: action '%s' is not supported", field, s);
	if (r < 0)
		return wh_err_setx(err, EINVAL, "%s: unknown action '%s'", field, s);
	*ret = r;
	return 0;
}

static int parse_errno(yajl_val obj, const char *key, const char *field, bool *has, uint32_t *ret,
		       struct wh_err **err)
{
	uint64_t u;
	yajl_val v = json_get(obj, key);
	int r;

	if (!v)
		return 0;
	r = json_uint64(v, field, &u, err);
	if (r < 0)
		return r;
	if (u > 4095)
		return wh_err_setx(err, ERANGE, "%s: %" PRIu64 " is not an errno (0-4095)", field,
				   u);
	*has = true;
	*ret = (uint32_t)u;
	return 0;
}

static int parse_arg(yajl_val v, const char *field, struct oci_seccomp_arg *ret,
		     struct wh_err **err)
{
	cleanup_free char *f = NULL;
	uint64_t index = 0;
	const char *op = NULL;
	int r;

	if (!v || !YAJL_IS_OBJECT(v))
		return wh_err_setx(err, EINVAL, "%s: expected an object", field);
	f = xasprintf("%s.index", field);
	r = json_uint64(json_get(v, "index"), f, &index, err);
	if (r < 0)
		return r;
	if (index > 5)
		return wh_err_setx(err, EINVAL, "%s: %" PRIu64 " is out of range (0-5)", f, index);
	ret->index = (unsigned)index;
	free(f);
	f = xasprintf("%s.value", field);
	r = json_uint64(json_get(v, "value"), f, &ret->value, err);
	if (r < 0)
		return r;
	free(f);
	f = xasprintf("%s.valueTwo", field);
	ret->value_two = 0;
	r = json_get_uint64_opt(v, "valueTwo", f, &ret->value_two, err);
	if (r < 0)
		return r;
	free(f);
	f = xasprintf("%s.op", field);
	r = json_get_string(v, "op", f, &op, err);
	if (r < 0)
		return r;
	r = oci_seccomp_op_from_string(op);
	if (r < 0)
		return wh_err_setx(err, EINVAL, "%s: unknown operator '%s'", f, op);
	ret->op = r;
	return 0;
}

static int parse_rule(yajl_val v, const char *field, struct oci_seccomp_rule *ret,
		      struct wh_err **err)
{
	cleanup_free char *f = NULL;
	yajl_val args;
	int r;

	if (!v || !YAJL_IS_OBJECT(v))
		return wh_err_setx(err, EINVAL, "%s: expected an object", field);
	f = xasprintf("%s.names", field);
	r = json_get_strv_opt(v, "names", f, &ret->names, err);
	if (r < 0)
		return r;
	/* runtime-spec 1.0.0-rc5 had a single "name"; runc still accepts it. */
	if (!ret->names && json_get(v, "name")) {
		const char *name = NULL;

		free(f);
		f = xasprintf("%s.name", field);
		r = json_get_string(v, "name", f, &name, err);
		if (r < 0)
			return r;
		strv_push(&ret->names, name);
	}
	if (!ret->names || !ret->names[0])
		return wh_err_setx(err, EINVAL, "%s.names: missing or empty", field);
	free(f);
	f = xasprintf("%s.action", field);
	r = parse_action(v, "action", f, true, &ret->action, err);
	if (r < 0)
		return r;
	free(f);
	f = xasprintf("%s.errnoRet", field);
	r = parse_errno(v, "errnoRet", f, &ret->has_errno_ret, &ret->errno_ret, err);
	if (r < 0)
		return r;
	args = json_get(v, "args");
	if (!args)
		return 0;
	free(f);
	f = xasprintf("%s.args", field);
	r = json_expect_array(args, f, err);
	if (r < 0)
		return r;
	ret->args = xnew0(struct oci_seccomp_arg, args->u.array.len);
	for (size_t i = 0; i < args->u.array.len; i++) {
		cleanup_free char *af = xasprintf("%s[%zu]", f, i);

		r = parse_arg(args->u.array.values[i], af, &ret->args[ret->n_args], err);
		if (r < 0)
			return r;
		ret->n_args++;
	}
	return 0;
}

static int parse_names_list(yajl_val v, const char *key, const char *field, char ***ret,
			    struct wh_err **err)
{
	cleanup_free char *f = xasprintf("%s.%s", field, key);

	return json_get_strv_opt(v, key, f, ret, err);
}

static int check_lists(const struct oci_seccomp *s, const char *field, struct wh_err **err)
{
	size_t i = 0;

	strv_foreach(a, s->architectures) {
		if (arch_token(*a) == 0)
			return wh_err_setx(err, EINVAL,
					   "%s.architectures[%zu]: unknown architecture '%s'",
					   field, i, *a);
		i++;
	}
	i = 0;
	strv_foreach(fl, s->flags) {
		bool ok = false;

		for (size_t j = 0; j < ARRAY_SIZE(flag_names); j++)
			ok = ok || streq(flag_names[j], *fl);
		if (!ok)
			return wh_err_setx(err, EINVAL, "%s.flags[%zu]: unknown flag '%s'", field,
					   i, *fl);
		i++;
	}
	return 0;
}

int oci_seccomp_parse(yajl_val v, const char *field, struct oci_seccomp **ret, struct wh_err **err)
{
	cleanup(oci_seccomp_freep) struct oci_seccomp *s = NULL;
	cleanup_free char *f = NULL;
	yajl_val calls;
	int r;

	if (!v || YAJL_IS_NULL(v)) {
		*ret = NULL;
		return 0;
	}
	if (!YAJL_IS_OBJECT(v))
		return wh_err_setx(err, EINVAL, "%s: expected an object", field);
	if (json_get(v, "listenerPath"))
		return wh_err_setx(err, EOPNOTSUPP,
				   "%s.listenerPath: seccomp agents are not supported", field);
	s = xnew0(struct oci_seccomp, 1);
	f = xasprintf("%s.defaultAction", field);
	r = parse_action(v, "defaultAction", f, true, &s->default_action, err);
	if (r < 0)
		return r;
	free(f);
	f = xasprintf("%s.defaultErrnoRet", field);
	r = parse_errno(v, "defaultErrnoRet", f, &s->has_default_errno_ret, &s->default_errno_ret,
			err);
	if (r >= 0)
		r = parse_names_list(v, "architectures", field, &s->architectures, err);
	if (r >= 0)
		r = parse_names_list(v, "flags", field, &s->flags, err);
	if (r >= 0)
		r = check_lists(s, field, err);
	if (r < 0)
		return r;
	calls = json_get(v, "syscalls");
	free(f);
	f = xasprintf("%s.syscalls", field);
	r = json_expect_array(calls, f, err);
	if (r < 0)
		return r;
	if (calls) {
		s->rules = xnew0(struct oci_seccomp_rule, calls->u.array.len);
		for (size_t i = 0; i < calls->u.array.len; i++) {
			cleanup_free char *rf = xasprintf("%s[%zu]", f, i);

			/* Counted first: a half-parsed rule is freed with the rest. */
			s->n_rules++;
			r = parse_rule(calls->u.array.values[i], rf, &s->rules[i], err);
			if (r < 0)
				return r;
		}
	}
	*ret = TAKE_PTR(s);
	return 0;
}

/* ---------------------------------------------------------------- filter building ---- */

static uint32_t scmp_action(enum oci_seccomp_action a, bool has_errno, uint32_t errno_ret)
{
	switch (a) {
	case OCI_SECCOMP_ACT_KILL:
	case OCI_SECCOMP_ACT_KILL_THREAD:
		return SCMP_ACT_KILL_THREAD;
	case OCI_SECCOMP_ACT_KILL_PROCESS:
		return SCMP_ACT_KILL_PROCESS;
	case OCI_SECCOMP_ACT_TRAP:
		return SCMP_ACT_TRAP;
	case OCI_SECCOMP_ACT_ERRNO:
		return SCMP_ACT_ERRNO(has_errno ? errno_ret : EPERM);
	case OCI_SECCOMP_ACT_TRACE:
		return SCMP_ACT_TRACE(has_errno ? errno_ret : EPERM);
	case OCI_SECCOMP_ACT_LOG:
		return SCMP_ACT_LOG;
	case OCI_SECCOMP_ACT_ALLOW:
	default:
		return SCMP_ACT_ALLOW;
	}
}

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static int setup_attrs(scmp_filter_ctx ctx, const struct oci_seccomp *s, struct wh_err **err)
{
	int r;

	/* The runtime sets no_new_privs itself when the spec asks for it (seccomp.h). */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r < 0)
		return wh_err_set(err, r, "seccomp: clear the no_new_privs attribute");
	/* Kernel errors as they are (EACCES ...) rather than libseccomp's ECANCELED. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
	strv_foreach(a, s->architectures) {
		uint32_t tok = arch_token(*a);

		if (tok == seccomp_arch_native())
			continue;
		r = seccomp_arch_add(ctx, tok);
		if (r < 0 && r != -EEXIST)
			return wh_err_set(err, r, "seccomp: add architecture '%s'", *a);
	}
	strv_foreach(fl, s->flags) {
		enum scmp_filter_attr attr = SCMP_FLTATR_CTL_TSYNC;

		if (streq(*fl, "SECCOMP_FILTER_FLAG_LOG"))
			attr = SCMP_FLTATR_CTL_LOG;
		else if (streq(*fl, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))
			attr = SCMP_FLTATR_CTL_SSB;
		r = seccomp_attr_set(ctx, attr, 1);
		if (r < 0)
			return wh_err_set(err, r, "seccomp: set flag '%s'", *fl);
	}
	return 0;
}

static struct scmp_arg_cmp to_cmp(const struct oci_seccomp_arg *a)
{
	static const enum scmp_compare ops[_OCI_SECCOMP_OP_MAX] = {
		[OCI_SECCOMP_OP_NE] = SCMP_CMP_NE,
		[OCI_SECCOMP_OP_LT] = SCMP_CMP_LT,
		[OCI_SECCOMP_OP_LE] = SCMP_CMP_LE,
		[OCI_SECCOMP_OP_EQ] = SCMP_CMP_EQ,
		[OCI_SECCOMP_OP_GE] = SCMP_CMP_GE,
		[OCI_SECCOMP_OP_GT] = SCMP_CMP_GT,
		[OCI_SECCOMP_OP_MASKED_EQ] = SCMP_CMP_MASKED_EQ,
	};

	return (struct scmp_arg_cmp){
		.arg = a->index,
		.op = ops[a->op],
		.datum_a = a->value,
		.datum_b = a->value_two,
	};
}

/*
 * Adds one name of a rule. runc's rule: conditions on distinct arguments are ANDed in one
 * libseccomp rule; when an argument index repeats, each condition becomes its own rule (ORed),
 * since libseccomp cannot AND two conditions on one argument.
 */
static int add_syscall(scmp_filter_ctx ctx, const struct oci_seccomp_rule *rule, int nr,
		       uint32_t action)
{
	struct scmp_arg_cmp cmps[6];
	bool repeated = false;
	unsigned seen = 0;
	int r;

	if (rule->n_args == 0)
		return seccomp_rule_add(ctx, action, nr, 0);
	for (size_t i = 0; i < rule->n_args; i++) {
		if (seen & (1U << rule->args[i].index))
			repeated = true;
		seen |= 1U << rule->args[i].index;
	}
	if (repeated) {
		for (size_t i = 0; i < rule->n_args; i++) {
			struct scmp_arg_cmp c = to_cmp(&rule->args[i]);

			r = seccomp_rule_add_array(ctx, action, nr, 1, &c);
			if (r < 0)
				return r;
		}
		return 0;
	}
	for (size_t i = 0; i < rule->n_args; i++)
		cmps[i] = to_cmp(&rule->args[i]);
	return seccomp_rule_add_array(ctx, action, nr, (unsigned)rule->n_args, cmps);
}

static int build(const struct oci_seccomp *s, scmp_filter_ctx *ret, size_t *ret_skipped,
		 struct wh_err **err)
{
	cleanup(seccomp_releasep) scmp_filter_ctx ctx = NULL;
	uint32_t def =
		scmp_action(s->default_action, s->has_default_errno_ret, s->default_errno_ret);
	size_t skipped = 0;
	int r;

	ctx = seccomp_init(def);
	if (!ctx)
		return wh_err_setx(err, EINVAL, "seccomp: cannot initialize the filter");
	r = setup_attrs(ctx, s, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct oci_seccomp_rule *rule = &s->rules[i];
		uint32_t act = scmp_action(rule->action, rule->has_errno_ret, rule->errno_ret);

		/* A rule doing what the default does is a no-op; libseccomp would refuse it. */
		if (act == def)
			continue;
		strv_foreach(name, rule->names) {
			int nr = seccomp_syscall_resolve_name(*name);

			if (nr == __NR_SCMP_ERROR) {
				skipped++;
				continue;
			}
			r = add_syscall(ctx, rule, nr, act);
			if (r < 0)
				return wh_err_set(err, r, "linux.seccomp.syscalls[%zu] '%s'", i,
						  *name);
		}
	}
	if (ret_skipped)
		*ret_skipped = skipped;
	*ret = TAKE_PTR(ctx);
	return 0;
}

int oci_seccomp_load(const struct oci_seccomp *s, size_t *ret_skipped, struct wh_err **err)
{
	cleanup(seccomp_releasep) scmp_filter_ctx ctx = NULL;
	int r;

	r = build(s, &ctx, ret_skipped, err);
	if (r < 0)
		return r;
	r = seccomp_load(ctx);
	if (r < 0)
		return wh_err_set(err, r, "seccomp: load the filter");
	return 0;
}

int oci_seccomp_export_bpf(const struct oci_seccomp *s, int fd, size_t *ret_skipped,
			   struct wh_err **err)
{
	cleanup(seccomp_releasep) scmp_filter_ctx ctx = NULL;
	int r;

	r = build(s, &ctx, ret_skipped, err);
	if (r < 0)
		return r;
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return wh_err_set(err, r, "seccomp: export the filter");
	return 0;
}

struct oci_seccomp_bpf {
	struct sock_filter *insns;
	size_t n;
	unsigned flags;
};

struct oci_seccomp_bpf *oci_seccomp_bpf_free(struct oci_seccomp_bpf *b)
{
	if (b) {
		free(b->insns);
		free(b);
	}
	return NULL;
}

size_t oci_seccomp_bpf_len(const struct oci_seccomp_bpf *b)
{
	return b->n;
}

static unsigned filter_flags(const struct oci_seccomp *s)
{
	unsigned f = 0;

	strv_foreach(fl, s->flags) {
		if (streq(*fl, "SECCOMP_FILTER_FLAG_TSYNC"))
			f |= SECCOMP_FILTER_FLAG_TSYNC;
		else if (streq(*fl, "SECCOMP_FILTER_FLAG_LOG"))
			f |= SECCOMP_FILTER_FLAG_LOG;
		else if (streq(*fl, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))
			f |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
	}
	return f;
}

int oci_seccomp_compile(const struct oci_seccomp *s, struct oci_seccomp_bpf **ret,
			size_t *ret_skipped, struct wh_err **err)
{
	cleanup_close int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	cleanup_free char *buf = NULL;
	struct oci_seccomp_bpf *b;
	size_t len = 0;
	int r;

	if (fd < 0)
		return wh_err_set(err, errno, "seccomp: memfd_create");
	r = oci_seccomp_export_bpf(s, fd, ret_skipped, err);
	if (r < 0)
		return r;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return wh_err_set(err, errno, "seccomp: rewind the exported filter");
	r = read_fd(fd, 1 << 20, &buf, &len);
	if (r < 0)
		return wh_err_set(err, r, "seccomp: read the exported filter");
	if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
	    len / sizeof(struct sock_filter) > USHRT_MAX)
		return wh_err_setx(err, EBADMSG, "seccomp: exported filter has %zu bytes", len);
	b = xnew0(struct oci_seccomp_bpf, 1);
	b->insns = xmemdup(buf, len);
	b->n = len / sizeof(struct sock_filter);
	b->flags = filter_flags(s);
	*ret = b;
	return 0;
}

int oci_seccomp_load_bpf(const struct oci_seccomp_bpf *b, struct wh_err **err)
{
	struct sock_fprog prog = {.len = (unsigned short)b->n, .filter = b->insns};

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, b->flags, &prog) < 0)
		return wh_err_set(err, errno, "seccomp: load the filter");
	return 0;
}

/* ------------------------------------------------------------------- JSON output ---- */

static void gen_strv(yajl_gen g, const char *key, char **v)
{
	json_gen_str(g, key);
	yajl_gen_array_open(g);
	strv_foreach(s, v)
		json_gen_str(g, *s);
	yajl_gen_array_close(g);
}

/* yajl integers are signed: write the digits so that values above INT64_MAX survive. */
static void gen_u64(yajl_gen g, const char *key, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

	json_gen_str(g, key);
	yajl_gen_number(g, buf, (size_t)n);
}

static void gen_rule(yajl_gen g, const struct oci_seccomp_rule *rule)
{
	yajl_gen_map_open(g);
	gen_strv(g, "names", rule->names);
	json_gen_kv_str(g, "action", oci_seccomp_action_to_string(rule->action));
	if (rule->has_errno_ret)
		json_gen_kv_int(g, "errnoRet", rule->errno_ret);
	if (rule->n_args > 0) {
		json_gen_str(g, "args");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < rule->n_args; i++) {
			const struct oci_seccomp_arg *a = &rule->args[i];

			yajl_gen_map_open(g);
			json_gen_kv_int(g, "index", a->index);
			gen_u64(g, "value", a->value);
			if (a->value_two)
				gen_u64(g, "valueTwo", a->value_two);
			json_gen_kv_str(g, "op", oci_seccomp_op_to_string(a->op));
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
	}
	yajl_gen_map_close(g);
}

void oci_seccomp_gen_json(yajl_gen g, const struct oci_seccomp *s)
{
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "defaultAction", oci_seccomp_action_to_string(s->default_action));
	if (s->has_default_errno_ret)
		json_gen_kv_int(g, "defaultErrnoRet", s->default_errno_ret);
	if (s->architectures)
		gen_strv(g, "architectures", s->architectures);
	if (s->flags)
		gen_strv(g, "flags", s->flags);
	json_gen_str(g, "syscalls");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < s->n_rules; i++)
		gen_rule(g, &s->rules[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

/* ---------------------------------------------------------------- default profile ---- */

static struct oci_seccomp_rule *add_rule(struct oci_seccomp *s, size_t *cap,
					 enum oci_seccomp_action action)
{
	struct oci_seccomp_rule *rule;

	xgrow((void **)&s->rules, cap, s->n_rules + 1, sizeof(*s->rules));
	rule = &s->rules[s->n_rules++];
	*rule = (struct oci_seccomp_rule){.action = action};
	rule->names = xnew0(char *, 1);
	return rule;
}

static void add_arg_rule(struct oci_seccomp *s, size_t *cap, const char *name, unsigned index,
			 uint64_t value, uint64_t value_two, enum oci_seccomp_op op)
{
	struct oci_seccomp_rule *rule = add_rule(s, cap, OCI_SECCOMP_ACT_ALLOW);

	strv_push(&rule->names, name);
	rule->args = xnew0(struct oci_seccomp_arg, 1);
	rule->args[0] = (struct oci_seccomp_arg){index, value, value_two, op};
	rule->n_args = 1;
}

static char **native_arches(void)
{
	char **v = xnew0(char *, 1);

#if defined(__x86_64__)
	strv_push(&v, "SCMP_ARCH_X86_64");
	strv_push(&v, "SCMP_ARCH_X86");
	strv_push(&v, "SCMP_ARCH_X32");
#elif defined(__aarch64__)
	strv_push(&v, "SCMP_ARCH_ARM");
	strv_push(&v, "SCMP_ARCH_AARCH64");
#elif defined(__s390x__)
	strv_push(&v, "SCMP_ARCH_S390");
	strv_push(&v, "SCMP_ARCH_S390X");
#elif defined(__riscv) && __riscv_xlen == 64
	strv_push(&v, "SCMP_ARCH_RISCV64");
#endif
	return v;
}

struct oci_seccomp *oci_seccomp_default_profile(char *const *caps)
{
	struct oci_seccomp *s = xnew0(struct oci_seccomp, 1);
	struct oci_seccomp_rule *rule;
	const uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
				  CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
	size_t cap = 0;

	s->default_action = OCI_SECCOMP_ACT_ERRNO;
	s->architectures = native_arches();
	rule = add_rule(s, &cap, OCI_SECCOMP_ACT_ALLOW);
	for (size_t i = 0; i < ARRAY_SIZE(default_allow); i++)
		strv_push(&rule->names, default_allow[i]);
	add_arg_rule(s, &cap, "personality", 0, 0x0, 0, OCI_SECCOMP_OP_EQ);
	add_arg_rule(s, &cap, "personality", 0, 0x0008, 0, OCI_SECCOMP_OP_EQ);
	add_arg_rule(s, &cap, "personality", 0, 0x20000, 0, OCI_SECCOMP_OP_EQ);
	add_arg_rule(s, &cap, "personality", 0, 0x20008, 0, OCI_SECCOMP_OP_EQ);
	add_arg_rule(s, &cap, "personality", 0, 0xffffffff, 0, OCI_SECCOMP_OP_EQ);
	/* Kernels >= 4.8 (all we support) get ptrace. */
	rule = add_rule(s, &cap, OCI_SECCOMP_ACT_ALLOW);
	strv_push(&rule->names, "ptrace");
#if defined(__x86_64__)
	rule = add_rule(s, &cap, OCI_SECCOMP_ACT_ALLOW);
	strv_push(&rule->names, "arch_prctl");
	strv_push(&rule->names, "modify_ldt");
#endif
	for (size_t i = 0; i < ARRAY_SIZE(default_by_cap); i++) {
		if (!strv_contains(caps, default_by_cap[i].cap))
			continue;
		rule = add_rule(s, &cap, OCI_SECCOMP_ACT_ALLOW);
		for (size_t j = 0; j < ARRAY_SIZE(default_by_cap[i].names); j++)
			if (default_by_cap[i].names[j])
				strv_push(&rule->names, default_by_cap[i].names[j]);
	}
	if (!strv_contains(caps, "CAP_SYS_ADMIN")) {
#if defined(__s390x__)
		add_arg_rule(s, &cap, "clone", 1, ns_flags, 0, OCI_SECCOMP_OP_MASKED_EQ);
#else
		add_arg_rule(s, &cap, "clone", 0, ns_flags, 0, OCI_SECCOMP_OP_MASKED_EQ);
#endif
		/* ENOSYS so that libcs fall back to clone (moby#42681). */
		rule = add_rule(s, &cap, OCI_SECCOMP_ACT_ERRNO);
		strv_push(&rule->names, "clone3");
		rule->has_errno_ret = true;
		rule->errno_ret = ENOSYS;
	}
	return s;
}

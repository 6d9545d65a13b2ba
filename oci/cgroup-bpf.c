/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device rules on cgroup v2: linux.resources.devices compiled into a BPF_PROG_TYPE_CGROUP_DEVICE
 * program and attached to the container's cgroup (the v2 replacement of devices.allow/deny).
 *
 * Semantics follow the v1 list: rules are matched last to first and the first match decides;
 * when nothing matches, access is allowed (a spec starts with a deny-all rule, so in practice
 * everything not allowed later is denied). An allow rule matches when it grants every
 * requested access bit; a deny rule matches when it covers any of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <sys/syscall.h>

#include "common/common.h"
#include "oci/cgroup-internal.h"

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define ALU_K(op, d, i) INSN(BPF_ALU64 | (op) | BPF_K, d, 0, 0, i)
#define MOV_X(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define JMP_K(op, d, i, o) INSN(BPF_JMP | (op) | BPF_K, d, 0, o, i)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Registers after the prologue. */
enum { R_TYPE = 2, R_ACCESS = 3, R_MAJOR = 4, R_MINOR = 5 };

static unsigned access_bits(const char *a)
{
	unsigned b = 0;

	if (strchr(a, 'm'))
		b |= BPF_DEVCG_ACC_MKNOD;
	if (strchr(a, 'r'))
		b |= BPF_DEVCG_ACC_READ;
	if (strchr(a, 'w'))
		b |= BPF_DEVCG_ACC_WRITE;
	return b;
}

static size_t rule_len(const struct oci_device_rule *r)
{
	unsigned acc = access_bits(r->access);
	size_t n = 2; /* r0 = verdict; exit */

	if (r->type != 'a')
		n++;
	if (acc != (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE))
		n += 3;
	if (r->type != 'a' && r->major >= 0)
		n++;
	if (r->type != 'a' && r->minor >= 0)
		n++;
	return n;
}

/* Emits one rule's block; jumps leave to the instruction after it. */
static void emit_rule(struct bpf_insn *p, const struct oci_device_rule *r)
{
	const unsigned all = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;
	unsigned acc = access_bits(r->access);
	size_t len = rule_len(r), i = 0;

#define SKIP ((short)(len - i - 1))
	if (r->type != 'a') {
		p[i] = JMP_K(BPF_JNE, R_TYPE,
			     r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, SKIP);
		i++;
	}
	if (acc != all) {
		p[i++] = MOV_X(1, R_ACCESS);
		if (r->allow) {
			p[i++] = ALU_K(BPF_AND, 1, (int32_t)(~acc & all));
			p[i] = JMP_K(BPF_JNE, 1, 0, SKIP); /* asks for more than granted */
		} else {
			p[i++] = ALU_K(BPF_AND, 1, (int32_t)acc);
			p[i] = JMP_K(BPF_JEQ, 1, 0, SKIP); /* asks for nothing denied */
		}
		i++;
	}
	if (r->type != 'a' && r->major >= 0) {
		p[i] = JMP_K(BPF_JNE, R_MAJOR, (int32_t)r->major, SKIP);
		i++;
	}
	if (r->type != 'a' && r->minor >= 0) {
		p[i] = JMP_K(BPF_JNE, R_MINOR, (int32_t)r->minor, SKIP);
		i++;
	}
#undef SKIP
	p[i++] = ALU_K(BPF_MOV, 0, r->allow ? 1 : 0);
	p[i++] = EXIT();
	wh_assert(i == len);
}

int cg_bpf_device_program(const struct oci_device_rule *rules, size_t n, struct bpf_insn **ret,
			  size_t *ret_n)
{
	size_t len = 6, k = 0, stop = 0;
	bool catch_all = false;
	struct bpf_insn *p;

	/* Matching runs last to first; a rule without conditions ends it (the verifier refuses
	 * unreachable code), else the default verdict follows. */
	for (size_t i = n; i-- > 0;) {
		if (rules[i].major > INT32_MAX || rules[i].minor > INT32_MAX)
			return -ERANGE;
		len += rule_len(&rules[i]);
		if (rule_len(&rules[i]) == 2) {
			catch_all = true;
			stop = i;
			break;
		}
	}
	if (!catch_all)
		len += 2;
	if (len > 4096)
		return -E2BIG;
	p = xnew0(struct bpf_insn, len);
	p[k++] = LDX_W(R_TYPE, 1, offsetof(struct bpf_cgroup_dev_ctx, access_type));
	p[k++] = ALU_K(BPF_AND, R_TYPE, 0xFFFF);
	p[k++] = LDX_W(R_ACCESS, 1, offsetof(struct bpf_cgroup_dev_ctx, access_type));
	p[k++] = ALU_K(BPF_RSH, R_ACCESS, 16);
	p[k++] = LDX_W(R_MAJOR, 1, offsetof(struct bpf_cgroup_dev_ctx, major));
	p[k++] = LDX_W(R_MINOR, 1, offsetof(struct bpf_cgroup_dev_ctx, minor));
	for (size_t i = n; i-- > stop;) {
		emit_rule(p + k, &rules[i]);
		k += rule_len(&rules[i]);
	}
	if (!catch_all) {
		p[k++] = ALU_K(BPF_MOV, 0, 1);
		p[k++] = EXIT();
	}
	wh_assert(k == len);
	*ret = p;
	*ret_n = len;
	return 0;
}

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	long r = syscall(SYS_bpf, cmd, attr, sizeof(*attr));

	return r < 0 ? -errno : (int)r;
}

static int load_program(const struct bpf_insn *insns, size_t n, char *log, size_t log_size)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = (uint32_t)n;
	a.license = (uint64_t)(uintptr_t) "Apache";
	a.log_buf = (uint64_t)(uintptr_t)log;
	a.log_size = (uint32_t)log_size;
	a.log_level = log ? 1 : 0;
	return sys_bpf(BPF_PROG_LOAD, &a);
}

/* Ids of the device programs attached to cgfd. */
static int query(int cgfd, uint32_t *ids, uint32_t *n)
{
	union bpf_attr a;
	int r;

	memset(&a, 0, sizeof(a));
	a.query.target_fd = (uint32_t)cgfd;
	a.query.attach_type = BPF_CGROUP_DEVICE;
	a.query.prog_ids = (uint64_t)(uintptr_t)ids;
	a.query.prog_cnt = *n;
	r = sys_bpf(BPF_PROG_QUERY, &a);
	if (r < 0)
		return r;
	*n = a.query.prog_cnt;
	return 0;
}

static int detach_id(int cgfd, uint32_t id)
{
	cleanup_close int fd = -EBADF;
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_id = id;
	fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	memset(&a, 0, sizeof(a));
	a.target_fd = (uint32_t)cgfd;
	a.attach_bpf_fd = (uint32_t)fd;
	a.attach_type = BPF_CGROUP_DEVICE;
	return sys_bpf(BPF_PROG_DETACH, &a);
}

int cg_bpf_device_count(const char *dir)
{
	cleanup_close int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint32_t ids[64], n = ARRAY_SIZE(ids);
	int r;

	if (cgfd < 0)
		return -errno;
	r = query(cgfd, ids, &n);
	return r < 0 ? r : (int)n;
}

int cg_bpf_devices_apply(const char *dir, const struct oci_device_rule *rules, size_t n,
			 struct wh_err **err)
{
	cleanup_free struct bpf_insn *insns = NULL;
	cleanup_close int cgfd = -EBADF, prog = -EBADF;
	uint32_t old[64], n_old = ARRAY_SIZE(old);
	union bpf_attr a;
	size_t len = 0;
	int r;

	r = cg_bpf_device_program(rules, n, &insns, &len);
	if (r < 0)
		return wh_err_set(err, r, "linux.resources.devices: build the device filter");
	cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return wh_err_set(err, errno, "open cgroup '%s'", dir);
	r = query(cgfd, old, &n_old);
	if (r < 0)
		return wh_err_set(err, r, "query the device filters of '%s'", dir);
	prog = load_program(insns, len, NULL, 0);
	if (prog < 0) {
		char log[4096] = "";

		(void)load_program(insns, len, log, sizeof(log));
		return wh_err_setx(
			err, -prog,
			"linux.resources.devices: the kernel refused the device filter: %s (%s)",
			strerror(-prog), log);
	}
	/* Attach the new filter first (ALLOW_MULTI: both run, both must allow), then drop the
	 * old ones: there is no moment without a filter. */
	memset(&a, 0, sizeof(a));
	a.target_fd = (uint32_t)cgfd;
	a.attach_bpf_fd = (uint32_t)prog;
	a.attach_type = BPF_CGROUP_DEVICE;
	a.attach_flags = BPF_F_ALLOW_MULTI;
	r = sys_bpf(BPF_PROG_ATTACH, &a);
	if (r < 0)
		return wh_err_set(err, r, "attach the device filter to '%s'", dir);
	for (uint32_t i = 0; i < n_old; i++) {
		r = detach_id(cgfd, old[i]);
		if (r < 0)
			return wh_err_set(err, r,
					  "detach the old device filter %" PRIu32 " of '%s'",
					  old[i], dir);
	}
	return 0;
}

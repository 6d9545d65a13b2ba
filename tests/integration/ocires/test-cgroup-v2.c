/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of the cgroup v2 driver on a cgroup2 mount the test makes itself (in a
 * private mount namespace, as root). On this build host the unified hierarchy offers only
 * hugetlb, so hugetlb limits, unified keys, freezing, listing, stats and killing are tested for
 * real, and memory/pids/cpu/devices are tested to be refused clearly without writing anything.
 * Controllers that do show up in cgroup.controllers (on other hosts) are applied and read back.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>

#include <linux/bpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "helpers.h"
#include "oci/cgroup.h"

static char mnt[64];	   /* /tmp/ocires-v2-XXXXXX */
static char base[64];	   /* /ocires-v2-<pid> inside the hierarchy */
static char *root_subtree; /* the root's cgroup.subtree_control before the tests */
static struct oci_cgroup_opts opts;
static char devdir[64]; /* mknod playground of the device test */

static int setup(void **state)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root\n");
		exit(77);
	}
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "skip: no private mount namespace: %m\n");
		exit(77);
	}
	snprintf(mnt, sizeof(mnt), "/tmp/ocires-v2-XXXXXX");
	assert_non_null(mkdtemp(mnt));
	if (mount("none", mnt, "cgroup2", 0, NULL) < 0) {
		fprintf(stderr, "skip: cannot mount cgroup2: %m\n");
		rmdir(mnt);
		exit(77);
	}
	snprintf(base, sizeof(base), "/ocires-v2-%d", (int)getpid());
	root_subtree = read_text(mnt, "cgroup.subtree_control");
	opts = (struct oci_cgroup_opts){.root = mnt};
	return 0;
}

static int teardown(void **state)
{
	struct oci_cgroup *cg = NULL;
	cleanup_free char *dir = path_join(mnt, base);
	cleanup_free char *now = NULL;

	if (oci_cgroup_open(base, &opts, &cg, NULL) == 0) {
		(void)oci_cgroup_destroy(cg, NULL);
		oci_cgroup_free(cg);
	}
	rmdir_r(dir);
	/* Switch off again what create switched on in the root (best effort: others may use
	 * it by now). */
	now = read_text(mnt, "cgroup.subtree_control");
	if (!strstr(root_subtree, "hugetlb") && strstr(now, "hugetlb"))
		(void)write_text(mnt, "cgroup.subtree_control", "-hugetlb");
	free(root_subtree);
	if (devdir[0]) {
		cleanup_free char *node = path_join(devdir, "node");

		unlink(node);
		rmdir(devdir);
	}
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	return 0;
}

static struct oci_cgroup *create(const char *leaf)
{
	cleanup_err struct wh_err *err = NULL;
	cleanup_free char *p = xasprintf("%s/%s", base, leaf);
	struct oci_cgroup *cg = NULL;

	assert_ok(oci_cgroup_create(p, "unused", &opts, &cg, &err), err);
	assert_string_equal(oci_cgroup_path(cg), p);
	assert_int_equal(oci_cgroup_mode(cg), OCI_CGROUP_MODE_V2);
	return cg;
}

static int apply_json(struct oci_cgroup *cg, const char *json, struct wh_err **err)
{
	struct oci_resources res;
	yajl_val v = parse_json(json);
	int r;

	oci_resources_init(&res);
	assert_ok(oci_resources_parse(v, "linux.resources", &res, err), *err);
	r = oci_cgroup_apply(cg, &res, err);
	oci_resources_release(&res);
	yajl_tree_free(v);
	return r;
}

static void assert_file(const struct oci_cgroup *cg, const char *file, const char *want)
{
	cleanup_free char *got = read_text(oci_cgroup_dir(cg, NULL), file);

	if (!streq(got, want))
		fail_msg("%s/%s: got '%s', want '%s'", oci_cgroup_dir(cg, NULL), file, got, want);
}

static void expect_refused(struct oci_cgroup *cg, const char *json, const char *field,
			   const char *why)
{
	cleanup_err struct wh_err *err = NULL;
	int r = apply_json(cg, json, &err);

	if (r != -EOPNOTSUPP && r != -EINVAL)
		fail_msg("%s: got %d, want refusal", json, r);
	if (!strstr(err->msg, field) || !strstr(err->msg, why))
		fail_msg("%s: message '%s' lacks '%s' / '%s'", json, err->msg, field, why);
}

static void destroy(struct oci_cgroup *cg)
{
	cleanup_err struct wh_err *err = NULL;
	cleanup_free char *dir = xstrdup(oci_cgroup_dir(cg, NULL));

	assert_ok(oci_cgroup_destroy(cg, &err), err);
	assert_int_equal(access(dir, F_OK), -1);
	oci_cgroup_free(cg);
}

/* The number of device programs attached (BPF_PROG_QUERY), as bpftool would list them. */
static int cg_count(const struct oci_cgroup *cg)
{
	union bpf_attr a;
	uint32_t ids[16];
	cleanup_close int fd = open(oci_cgroup_dir(cg, NULL), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.query.target_fd = (uint32_t)fd;
	a.query.attach_type = BPF_CGROUP_DEVICE;
	a.query.prog_ids = (uint64_t)(uintptr_t)ids;
	a.query.prog_cnt = ARRAY_SIZE(ids);
	assert_int_equal(syscall(SYS_bpf, BPF_PROG_QUERY, &a, sizeof(a)), 0);
	return (int)a.query.prog_cnt;
}

static void test_mode(void **state)
{
	enum oci_cgroup_mode m;

	assert_int_equal(oci_cgroup_detect_mode(mnt, &m, NULL), 0);
	assert_int_equal(m, OCI_CGROUP_MODE_V2);
}

static void test_apply_readback(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("c");
	struct child c = child_start(NULL, NULL);
	struct oci_cgroup_stats st;
	cleanup_free pid_t *pids = NULL;
	cleanup_free char *procdir = xasprintf("/proc/%d", c.pid), *pc = NULL, *want = NULL;
	size_t n = 0;
	bool saw2mb = false;

	if (!oci_cgroup_has_controller(cg, "hugetlb"))
		skip();
	assert_ok(oci_cgroup_enter(cg, c.pid, &err), err);
	pc = read_text(procdir, "cgroup");
	want = xasprintf("0::%s/c", base);
	assert_non_null(strstr(pc, want));
	assert_ok(oci_cgroup_pids(cg, false, &pids, &n, &err), err);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], c.pid);

	assert_ok(apply_json(cg,
			     "{\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":4194304},"
			     "{\"pageSize\":\"1GB\",\"limit\":0}]}",
			     &err),
		  err);
	assert_file(cg, "hugetlb.2MB.max", "4194304");
	assert_file(cg, "hugetlb.1GB.max", "0");
	assert_ok(apply_json(cg, "{\"unified\":{\"hugetlb.2MB.max\":\"2097152\"}}", &err), err);
	assert_file(cg, "hugetlb.2MB.max", "2097152");

	/* Refusals name the field and the reason, and write nothing (hugetlb stays). */
	if (!oci_cgroup_has_controller(cg, "memory"))
		expect_refused(cg,
			       "{\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":8388608}],"
			       "\"memory\":{\"limit\":1048576}}",
			       "linux.resources.memory.limit",
			       "the 'memory' controller is not available");
	assert_file(cg, "hugetlb.2MB.max", "2097152");
	if (!oci_cgroup_has_controller(cg, "pids"))
		expect_refused(cg, "{\"pids\":{\"limit\":5}}", "linux.resources.pids.limit",
			       "'pids' controller is not available");
	if (!oci_cgroup_has_controller(cg, "cpu"))
		expect_refused(cg, "{\"cpu\":{\"shares\":512}}", "linux.resources.cpu.shares",
			       "'cpu' controller");
	expect_refused(cg, "{\"cpu\":{\"realtimeRuntime\":5}}",
		       "linux.resources.cpu.realtimeRuntime", "no realtime limits");
	expect_refused(cg, "{\"memory\":{\"swappiness\":5}}", "linux.resources.memory.swappiness",
		       "cgroup v2");
	expect_refused(cg, "{\"unified\":{\"memory.max\":\"5\"}}",
		       "linux.resources.unified.memory.max", "'memory'");
	expect_refused(cg, "{\"unified\":{\"cgroup.nope\":\"5\"}}",
		       "linux.resources.unified.cgroup.nope", "no such cgroup file");
	assert_file(cg, "hugetlb.2MB.max", "2097152");

	/* Whatever this host does offer is applied for real. */
	if (oci_cgroup_has_controller(cg, "pids")) {
		assert_ok(apply_json(cg, "{\"pids\":{\"limit\":7}}", &err), err);
		assert_file(cg, "pids.max", "7");
	}
	if (oci_cgroup_has_controller(cg, "memory")) {
		assert_ok(apply_json(cg, "{\"memory\":{\"limit\":67108864,\"swap\":134217728}}",
				     &err),
			  err);
		assert_file(cg, "memory.max", "67108864");
	}
	if (oci_cgroup_has_controller(cg, "cpu")) {
		assert_ok(apply_json(cg, "{\"cpu\":{\"shares\":1024,\"quota\":20000}}", &err), err);
		assert_file(cg, "cpu.weight", "39");
		assert_file(cg, "cpu.max", "20000 100000");
	}

	assert_ok(oci_cgroup_stats(cg, &st, &err), err);
	assert_true(st.has_cpu); /* cpu.stat's usage exists without the cpu controller */
	assert_true(st.n_hugetlb >= 1);
	for (size_t i = 0; i < st.n_hugetlb; i++)
		if (streq(st.hugetlb[i].page_size, "2MB")) {
			saw2mb = true;
			assert_int_equal(st.hugetlb[i].max, 2097152);
			assert_int_equal(st.hugetlb[i].usage, 0);
		}
	assert_true(saw2mb);
	assert_int_equal(st.has_memory, oci_cgroup_has_controller(cg, "memory"));
	oci_cgroup_stats_release(&st);

	destroy(cg);
	assert_true(WIFSIGNALED(child_wait(&c)));
}

static void test_freeze_thaw_kill(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("frz"), *again = NULL;
	volatile uint64_t *counter = shared_counter();
	struct child sleeper = child_start(NULL, NULL);
	struct child busy = child_start(count_forever, (void *)counter);
	cleanup_free char *events = NULL;
	enum oci_freezer_state fs;
	uint64_t frozen_at, usage = 0;
	int st;

	assert_ok(oci_cgroup_enter(cg, sleeper.pid, &err), err);
	assert_ok(oci_cgroup_enter(cg, busy.pid, &err), err);
	child_go(&busy);
	assert_true(counter_moves(counter));
	/* The busy child's CPU time shows in cpu.stat (present without the cpu controller). */
	for (int i = 0; i < 200; i++) {
		struct oci_cgroup_stats cs;

		assert_ok(oci_cgroup_stats(cg, &cs, &err), err);
		usage = cs.cpu.usage_ns;
		oci_cgroup_stats_release(&cs);
		if (usage > 0)
			break;
		sleep_ms(10);
	}
	assert_true(usage > 0);

	assert_ok(oci_cgroup_freeze(cg, &err), err);
	events = read_text(oci_cgroup_dir(cg, NULL), "cgroup.events");
	assert_non_null(strstr(events, "frozen 1"));
	assert_file(cg, "cgroup.freeze", "1");
	assert_ok(oci_cgroup_freezer_state(cg, &fs, &err), err);
	assert_int_equal(fs, OCI_FREEZER_FROZEN);
	/* The busy child no longer runs. */
	assert_true(proc_state(busy.pid) != 'R');
	frozen_at = *counter;
	sleep_ms(50);
	assert_int_equal(*counter, frozen_at);

	/* Re-opened from the saved path, the state is the same. */
	assert_ok(oci_cgroup_open(oci_cgroup_path(cg), &opts, &again, &err), err);
	assert_ok(oci_cgroup_freezer_state(again, &fs, &err), err);
	assert_int_equal(fs, OCI_FREEZER_FROZEN);

	assert_ok(oci_cgroup_thaw(again, &err), err);
	free(events);
	events = read_text(oci_cgroup_dir(cg, NULL), "cgroup.events");
	assert_non_null(strstr(events, "frozen 0"));
	assert_true(counter_moves(counter));

	assert_int_equal(oci_cgroup_kill(again, SIGTERM, &err), 2);
	st = child_wait(&sleeper);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	st = child_wait(&busy);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	oci_cgroup_free(again);
	destroy(cg);
	munmap((void *)counter, 4096);
}

static void test_destroy_kills_nested(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("nest"), *sub = NULL;
	cleanup_free char *subpath = xasprintf("%s/nest/inner", base);
	struct child a = child_start(NULL, NULL), b = child_start(NULL, NULL);
	cleanup_free pid_t *pids = NULL;
	size_t n = 0;

	assert_ok(oci_cgroup_create(subpath, "x", &opts, &sub, &err), err);
	assert_ok(oci_cgroup_enter(sub, a.pid, &err), err);
	assert_ok(oci_cgroup_enter(sub, b.pid, &err), err);
	assert_ok(oci_cgroup_pids(cg, false, &pids, &n, &err), err);
	assert_int_equal(n, 0);
	free(pids);
	pids = NULL;
	assert_ok(oci_cgroup_pids(cg, true, &pids, &n, &err), err);
	assert_int_equal(n, 2);
	/* Frozen children die too (cgroup.kill), and the count is what was there. */
	assert_ok(oci_cgroup_freeze(cg, &err), err);
	assert_int_equal(oci_cgroup_kill(cg, SIGKILL, &err), 2);
	oci_cgroup_free(sub);
	destroy(cg);
	assert_int_equal(WTERMSIG(child_wait(&a)), SIGKILL);
	assert_int_equal(WTERMSIG(child_wait(&b)), SIGKILL);
}

static int open_errno(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno;
}

static int mknod_errno(mode_t type, unsigned maj, unsigned min)
{
	cleanup_free char *p = xasprintf("%s/node", devdir);
	int r = mknod(p, type | 0600, makedev(maj, min));

	if (r == 0) {
		unlink(p);
		return 0;
	}
	return errno;
}

/* Phase 1 rules: deny all; allow c 1:3 rw, c 1:5 r, b *:* m. */
static int probe_devices_1(void *arg)
{
	if (open_errno("/dev/null", O_RDWR) != 0)
		return 1;
	if (open_errno("/dev/zero", O_RDONLY) != 0)
		return 2;
	if (open_errno("/dev/zero", O_WRONLY) != EPERM)
		return 3;
	if (open_errno("/dev/full", O_RDONLY) != EPERM)
		return 4;
	if (mknod_errno(S_IFCHR, 1, 3) != EPERM)
		return 5;
	if (mknod_errno(S_IFBLK, 7, 0) != 0)
		return 6;
	return 0;
}

/* Phase 2 (an update to runc's defaults): /dev/full and mknod of char devices are allowed. */
static int probe_devices_2(void *arg)
{
	if (open_errno("/dev/full", O_RDWR) != 0)
		return 1;
	if (open_errno("/dev/zero", O_WRONLY) != 0)
		return 2;
	if (mknod_errno(S_IFCHR, 1, 3) != 0)
		return 3;
	if (open_errno("/dev/vda", O_RDONLY) != EPERM && open_errno("/dev/vda", O_RDONLY) != ENOENT)
		return 4;
	return 0;
}

/* Phase 3: allow all, then deny writes to /dev/zero. */
static int probe_devices_3(void *arg)
{
	if (open_errno("/dev/zero", O_RDONLY) != 0)
		return 1;
	if (open_errno("/dev/zero", O_RDWR) != EPERM)
		return 2;
	if (open_errno("/dev/full", O_RDWR) != 0)
		return 3;
	return 0;
}

static int run_probe(struct oci_cgroup *cg, child_fn *fn)
{
	cleanup_err struct wh_err *err = NULL;
	struct child c = child_start(fn, NULL);
	int st;

	assert_ok(oci_cgroup_enter(cg, c.pid, &err), err);
	child_go(&c);
	st = child_wait(&c);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static void test_devices_bpf(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("dev");
	const struct oci_device_rule *defs;
	struct oci_resources res;
	size_t n;

	snprintf(devdir, sizeof(devdir), "/tmp/ocires-dev-XXXXXX");
	assert_non_null(mkdtemp(devdir));
	assert_true(oci_cgroup_has_controller(cg, "devices"));
	assert_ok(apply_json(cg,
			     "{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},"
			     "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,"
			     "\"access\":\"rw\"},{\"allow\":true,\"type\":\"c\",\"major\":1,"
			     "\"minor\":5,\"access\":\"r\"},{\"allow\":true,\"type\":\"b\","
			     "\"access\":\"m\"}]}",
			     &err),
		  err);
	assert_int_equal(cg_count(cg), 1);
	assert_int_equal(run_probe(cg, probe_devices_1), 0);

	/* Update: deny all + runc's defaults; the old program is replaced, not stacked. */
	oci_resources_init(&res);
	defs = oci_cgroup_default_device_rules(&n);
	res.devices = xnew0(struct oci_device_rule, n + 1);
	res.devices[0] = (struct oci_device_rule){false, 'a', -1, -1, "rwm"};
	memcpy(res.devices + 1, defs, n * sizeof(*defs));
	res.n_devices = n + 1;
	assert_ok(oci_cgroup_apply(cg, &res, &err), err);
	oci_resources_release(&res);
	assert_int_equal(cg_count(cg), 1);
	assert_int_equal(run_probe(cg, probe_devices_2), 0);

	assert_ok(apply_json(cg,
			     "{\"devices\":[{\"allow\":true,\"access\":\"rwm\"},"
			     "{\"allow\":false,\"type\":\"c\",\"major\":1,\"minor\":5,"
			     "\"access\":\"w\"}]}",
			     &err),
		  err);
	assert_int_equal(cg_count(cg), 1);
	assert_int_equal(run_probe(cg, probe_devices_3), 0);
	destroy(cg);
	assert_int_equal(rmdir(devdir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_apply_readback),
		cmocka_unit_test(test_freeze_thaw_kill),
		cmocka_unit_test(test_destroy_kills_nested),
		cmocka_unit_test(test_devices_bpf),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of the cgroup v1 driver on this host's real hierarchies (as root): real
 * children are put into real cgroups, resources are applied and read back from the cgroup files,
 * limits are shown to bite (pids, devices, memory), freezing stops a real process, and every
 * cgroup and child is removed again. Skips (77) when not root or not on a v1/hybrid host.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "helpers.h"
#include "oci/cgroup.h"

#define ROOT "/sys/fs/cgroup"

static char base[64]; /* "/ocires-it-<pid>" */

/* rmdir of base (and what is left below it) in every v1 hierarchy. */
static void remove_base(void)
{
	cleanup_closedir DIR *d = opendir(ROOT);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		cleanup_free char *p = NULL;

		if (de->d_name[0] == '.')
			continue;
		p = xasprintf(ROOT "/%s%s", de->d_name, base);
		rmdir_r(p);
	}
}

static int setup(void **state)
{
	enum oci_cgroup_mode m;

	if (geteuid() != 0 || oci_cgroup_detect_mode(ROOT, &m, NULL) < 0 ||
	    m == OCI_CGROUP_MODE_V2) {
		fprintf(stderr, "skip: needs root and a cgroup v1 host\n");
		exit(77);
	}
	snprintf(base, sizeof(base), "/ocires-it-%d", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	struct oci_cgroup *cg = NULL;

	/* After a failed test: kill what is left (by cgroup), then remove the cgroups. */
	if (oci_cgroup_open(base, NULL, &cg, NULL) == 0) {
		(void)oci_cgroup_destroy(cg, NULL);
		oci_cgroup_free(cg);
	}
	remove_base();
	return 0;
}

static char *cg_path(const char *leaf)
{
	return xasprintf("%s/%s", base, leaf);
}

static char *ctrl_dir(const char *ctrl, const char *path)
{
	return xasprintf(ROOT "/%s%s", ctrl, path);
}

static void assert_file(const char *ctrl, const char *path, const char *file, const char *want)
{
	cleanup_free char *dir = ctrl_dir(ctrl, path);
	cleanup_free char *got = read_text(dir, file);

	if (!streq(got, want))
		fail_msg("%s/%s: got '%s', want '%s'", dir, file, got, want);
}

static struct oci_cgroup *create(const char *leaf)
{
	cleanup_err struct wh_err *err = NULL;
	cleanup_free char *p = cg_path(leaf);
	struct oci_cgroup *cg = NULL;

	assert_ok(oci_cgroup_create(p, "unused", NULL, &cg, &err), err);
	assert_string_equal(oci_cgroup_path(cg), p);
	return cg;
}

static void apply_json(struct oci_cgroup *cg, const char *json)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_resources res;
	yajl_val v = parse_json(json);

	oci_resources_init(&res);
	assert_ok(oci_resources_parse(v, "linux.resources", &res, &err), err);
	assert_ok(oci_cgroup_apply(cg, &res, &err), err);
	oci_resources_release(&res);
	yajl_tree_free(v);
}

static void destroy(struct oci_cgroup *cg)
{
	cleanup_err struct wh_err *err = NULL;
	const char *ctrls[] = {"memory",  "pids",  "cpu",     "cpuset", "freezer",
			       "devices", "blkio", "unified", "systemd"};

	assert_ok(oci_cgroup_destroy(cg, &err), err);
	for (size_t i = 0; i < ARRAY_SIZE(ctrls); i++) {
		cleanup_free char *d = ctrl_dir(ctrls[i], oci_cgroup_path(cg));

		if (access(d, F_OK) == 0)
			fail_msg("'%s' still exists after destroy", d);
	}
	oci_cgroup_free(cg);
}

static void test_mode(void **state)
{
	enum oci_cgroup_mode m;
	bool has_unified = access(ROOT "/unified/cgroup.controllers", F_OK) == 0;

	assert_int_equal(oci_cgroup_detect_mode(NULL, &m, NULL), 0);
	assert_int_equal(m, has_unified ? OCI_CGROUP_MODE_HYBRID : OCI_CGROUP_MODE_V1);
	assert_int_equal(oci_cgroup_detect_mode(ROOT "/memory", &m, NULL), -EMEDIUMTYPE);
}

static void test_apply_readback_update_reopen(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("c1"), *again = NULL;
	struct child c = child_start(NULL, NULL);
	struct oci_cgroup_stats st;
	cleanup_free pid_t *pids = NULL;
	cleanup_free char *procself = NULL, *want = NULL, *procdir = NULL;
	size_t n = 0;
	int status;

	assert_ok(oci_cgroup_enter(cg, c.pid, &err), err);
	apply_json(cg, "{\"memory\":{\"limit\":67108864,\"reservation\":33554432,"
		       "\"swap\":134217728,\"swappiness\":20},"
		       "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0\","
		       "\"mems\":\"0\"},\"pids\":{\"limit\":20},"
		       "\"devices\":[{\"allow\":false,\"access\":\"rwm\"},"
		       "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rw\"},"
		       "{\"allow\":true,\"type\":\"c\",\"major\":136,\"access\":\"rwm\"}]}");
	assert_file("memory", oci_cgroup_path(cg), "memory.limit_in_bytes", "67108864");
	assert_file("memory", oci_cgroup_path(cg), "memory.soft_limit_in_bytes", "33554432");
	assert_file("memory", oci_cgroup_path(cg), "memory.memsw.limit_in_bytes", "134217728");
	assert_file("memory", oci_cgroup_path(cg), "memory.swappiness", "20");
	assert_file("cpu", oci_cgroup_path(cg), "cpu.shares", "512");
	assert_file("cpu", oci_cgroup_path(cg), "cpu.cfs_quota_us", "50000");
	assert_file("cpu", oci_cgroup_path(cg), "cpu.cfs_period_us", "100000");
	assert_file("cpuset", oci_cgroup_path(cg), "cpuset.cpus", "0");
	assert_file("cpuset", oci_cgroup_path(cg), "cpuset.mems", "0");
	assert_file("pids", oci_cgroup_path(cg), "pids.max", "20");
	assert_file("devices", oci_cgroup_path(cg), "devices.list", "c 1:3 rw\nc 136:* rwm");
	assert_file("pids", oci_cgroup_path(cg), "cgroup.procs", want = xasprintf("%d", c.pid));

	/* The child really is in every hierarchy. */
	procdir = xasprintf("/proc/%d", c.pid);
	procself = read_text(procdir, "cgroup");
	free(want);
	want = xasprintf(":memory:%s\n", oci_cgroup_path(cg));
	assert_non_null(strstr(procself, want));
	free(want);
	want = xasprintf(":pids:%s\n", oci_cgroup_path(cg));
	assert_non_null(strstr(procself, want));
	if (oci_cgroup_mode(cg) == OCI_CGROUP_MODE_HYBRID) {
		/* Joined to the hybrid unified hierarchy too, as runc does. */
		free(want);
		want = xasprintf("0::%s", oci_cgroup_path(cg)); /* the last line */
		assert_non_null(strstr(procself, want));
	}

	assert_ok(oci_cgroup_pids(cg, true, &pids, &n, &err), err);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], c.pid);

	assert_ok(oci_cgroup_stats(cg, &st, &err), err);
	assert_true(st.has_memory && st.has_cpu && st.has_pids && st.has_blkio);
	assert_int_equal(st.memory.limit, 67108864);
	assert_int_equal(st.memory.swap_limit, 134217728);
	assert_true(st.memory.n_stat > 10);
	assert_int_equal(st.pids.current, 1);
	assert_int_equal(st.pids.limit, 20);
	assert_true(st.cpu.n_per_cpu >= 1);
	oci_cgroup_stats_release(&st);

	/* Update: lower (memory first), then raise above memsw (memsw first). */
	apply_json(cg, "{\"memory\":{\"limit\":33554432}}");
	assert_file("memory", oci_cgroup_path(cg), "memory.limit_in_bytes", "33554432");
	apply_json(cg,
		   "{\"memory\":{\"limit\":268435456,\"swap\":536870912},\"pids\":{\"limit\":-1},"
		   "\"cpu\":{\"quota\":-1}}");
	assert_file("memory", oci_cgroup_path(cg), "memory.limit_in_bytes", "268435456");
	assert_file("memory", oci_cgroup_path(cg), "memory.memsw.limit_in_bytes", "536870912");
	assert_file("pids", oci_cgroup_path(cg), "pids.max", "max");
	assert_file("cpu", oci_cgroup_path(cg), "cpu.cfs_quota_us", "-1");
	/* Unlimited memory makes memsw unlimited too. */
	apply_json(cg, "{\"memory\":{\"limit\":-1}}");
	assert_file("memory", oci_cgroup_path(cg), "memory.limit_in_bytes", "9223372036854771712");
	assert_file("memory", oci_cgroup_path(cg), "memory.memsw.limit_in_bytes",
		    "9223372036854771712");

	/* Re-open from the saved path. */
	assert_ok(oci_cgroup_open(oci_cgroup_path(cg), NULL, &again, &err), err);
	assert_string_equal(oci_cgroup_dir(again, "memory"), oci_cgroup_dir(cg, "memory"));
	free(pids);
	pids = NULL;
	assert_ok(oci_cgroup_pids(again, false, &pids, &n, &err), err);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], c.pid);
	assert_int_equal(oci_cgroup_mode(again), oci_cgroup_mode(cg));

	/* Destroy kills the child and removes the cgroup everywhere. */
	destroy(again);
	status = child_wait(&c);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(oci_cgroup_open(oci_cgroup_path(cg), NULL, &again, &err), -ENOENT);
	err = wh_err_free(err);
	/* Entering a pid that does not exist names it. */
	again = create("c1");
	assert_true(oci_cgroup_enter(again, 0x3ffffff0, &err) < 0);
	assert_non_null(strstr(err->msg, "move pid 1073741808 into"));
	destroy(again);
	oci_cgroup_free(cg);
}

static void test_freeze_thaw(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("frz");
	volatile uint64_t *counter = shared_counter();
	struct child sleeper = child_start(NULL, NULL);
	struct child busy = child_start(count_forever, (void *)counter);
	enum oci_freezer_state fs;
	uint64_t frozen_at;

	assert_ok(oci_cgroup_enter(cg, sleeper.pid, &err), err);
	assert_ok(oci_cgroup_enter(cg, busy.pid, &err), err);
	child_go(&busy);
	assert_true(counter_moves(counter));
	assert_int_equal(proc_state(sleeper.pid), 'S');

	assert_ok(oci_cgroup_freeze(cg, &err), err);
	assert_file("freezer", oci_cgroup_path(cg), "freezer.state", "FROZEN");
	assert_ok(oci_cgroup_freezer_state(cg, &fs, &err), err);
	assert_int_equal(fs, OCI_FREEZER_FROZEN);
	/* Frozen tasks sleep uninterruptibly in the freezer. */
	assert_int_equal(proc_state(sleeper.pid), 'D');
	assert_int_equal(proc_state(busy.pid), 'D');
	frozen_at = *counter;
	sleep_ms(50);
	assert_int_equal(*counter, frozen_at);

	assert_ok(oci_cgroup_thaw(cg, &err), err);
	assert_file("freezer", oci_cgroup_path(cg), "freezer.state", "THAWED");
	assert_true(counter_moves(counter));
	assert_int_equal(proc_state(sleeper.pid), 'S');

	/* SIGKILL on a frozen cgroup still kills (kill thaws afterwards). */
	assert_ok(oci_cgroup_freeze(cg, &err), err);
	assert_ok(oci_cgroup_kill(cg, SIGKILL, &err), err);
	assert_true(WIFSIGNALED(child_wait(&sleeper)));
	assert_true(WIFSIGNALED(child_wait(&busy)));
	destroy(cg);
	munmap((void *)counter, 4096);
}

static int try_fork(void *arg)
{
	pid_t p = fork();

	if (p == 0)
		_exit(0);
	if (p > 0) {
		waitpid(p, NULL, 0);
		return 1; /* the limit did not bite */
	}
	return errno == EAGAIN ? 0 : 2;
}

static void test_pids_limit_bites(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("pids");
	struct child c = child_start(try_fork, NULL);
	int st;

	assert_ok(oci_cgroup_enter(cg, c.pid, &err), err);
	apply_json(cg, "{\"pids\":{\"limit\":1}}");
	child_go(&c);
	st = child_wait(&c);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	destroy(cg);
}

static int try_devices(void *arg)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return 1;
	close(fd);
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return 2; /* should have been denied */
	return errno == EPERM ? 0 : 3;
}

static void test_devices_bite(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("dev");
	struct child c = child_start(try_devices, NULL);
	const struct oci_device_rule *defs;
	struct oci_resources res;
	size_t n;
	int st;

	/* Deny all, then runc's default rules (which allow /dev/null and /dev/zero), then deny
	 * /dev/zero again. */
	oci_resources_init(&res);
	defs = oci_cgroup_default_device_rules(&n);
	res.devices = xnew0(struct oci_device_rule, n + 2);
	res.devices[0] = (struct oci_device_rule){false, 'a', -1, -1, "rwm"};
	memcpy(res.devices + 1, defs, n * sizeof(*defs));
	res.devices[n + 1] = (struct oci_device_rule){false, 'c', 1, 5, "rwm"};
	res.n_devices = n + 2;
	assert_ok(oci_cgroup_apply(cg, &res, &err), err);
	oci_resources_release(&res);
	{
		cleanup_free char *d = ctrl_dir("devices", oci_cgroup_path(cg));
		cleanup_free char *list = read_text(d, "devices.list");

		assert_non_null(strstr(list, "c 1:3 rwm"));
		assert_non_null(strstr(list, "c 10:200 rwm"));
		assert_null(strstr(list, "c 1:5 "));
		assert_null(strstr(list, "a *:*"));
	}
	assert_ok(oci_cgroup_enter(cg, c.pid, &err), err);
	child_go(&c);
	st = child_wait(&c);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	destroy(cg);
}

static int hog(void *arg)
{
	size_t size = 256u << 20;
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 2;
	for (size_t i = 0; i < size; i += 4096)
		p[i] = 1;
	return 1; /* survived: the limit did not bite */
}

static void test_memory_limit_bites(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("mem");
	struct child c = child_start(hog, NULL);
	struct oci_cgroup_stats st;
	int status;

	apply_json(cg, "{\"memory\":{\"limit\":33554432,\"swap\":33554432}}");
	assert_ok(oci_cgroup_enter(cg, c.pid, &err), err);
	child_go(&c);
	status = child_wait(&c);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_ok(oci_cgroup_stats(cg, &st, &err), err);
	/* The peak reached the limit and no further; the kernel's OOM killer did the kill. */
	if (st.memory.max_usage < 30u << 20 || st.memory.max_usage > 33554432)
		fail_msg("max_usage %" PRIu64, st.memory.max_usage);
	{
		cleanup_free char *d = ctrl_dir("memory", oci_cgroup_path(cg));
		cleanup_free char *oom = read_text(d, "memory.oom_control");

		assert_non_null(strstr(oom, "oom_kill 1"));
	}
	oci_cgroup_stats_release(&st);
	destroy(cg);
}

static void test_kill_all(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("kill");
	struct child c[3];

	for (int i = 0; i < 3; i++) {
		c[i] = child_start(NULL, NULL);
		assert_ok(oci_cgroup_enter(cg, c[i].pid, &err), err);
	}
	assert_int_equal(oci_cgroup_kill(cg, SIGTERM, &err), 3);
	for (int i = 0; i < 3; i++) {
		int st = child_wait(&c[i]);

		assert_true(WIFSIGNALED(st));
		assert_int_equal(WTERMSIG(st), SIGTERM);
	}
	destroy(cg);
}

static void test_unsupported_writes_nothing(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("unsup");
	struct oci_resources res;
	yajl_val v = parse_json("{\"memory\":{\"limit\":12582912},"
				"\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":0}]}");
	yajl_val u = parse_json("{\"pids\":{\"limit\":9},\"unified\":{\"memory.high\":\"1\"}}");
	cleanup_free char *before = NULL, *mdir = ctrl_dir("memory", oci_cgroup_path(cg));

	before = read_text(mdir, "memory.limit_in_bytes");
	oci_resources_init(&res);
	assert_int_equal(oci_resources_parse(v, "linux.resources", &res, NULL), 0);
	if (oci_cgroup_has_controller(cg, "hugetlb")) {
		skip();
	}
	assert_int_equal(oci_cgroup_apply(cg, &res, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err->msg, "linux.resources.hugepageLimits[0]"));
	assert_non_null(strstr(err->msg, "'hugetlb' controller is not mounted"));
	assert_file("memory", oci_cgroup_path(cg), "memory.limit_in_bytes", before);
	oci_resources_release(&res);
	err = wh_err_free(err);

	assert_int_equal(oci_resources_parse(u, "linux.resources", &res, NULL), 0);
	assert_int_equal(oci_cgroup_apply(cg, &res, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err->msg, "linux.resources.unified"));
	assert_file("pids", oci_cgroup_path(cg), "pids.max", "max");
	oci_resources_release(&res);
	err = wh_err_free(err);

	/* A value the kernel refuses names the file. */
	oci_resources_init(&res);
	res.cpu.cpus = xstrdup("4095");
	assert_true(oci_cgroup_apply(cg, &res, &err) < 0);
	assert_non_null(strstr(err->msg, "cpuset.cpus"));
	oci_resources_release(&res);
	yajl_tree_free(v);
	yajl_tree_free(u);
	destroy(cg);
}

static void test_paths(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	cleanup_free char *id = xasprintf("ocires-it-%d-rel", (int)getpid());
	cleanup_free char *slice = xasprintf("ociresit%d.slice:wharf:x", (int)getpid());
	cleanup_free char *want = NULL, *d = NULL;
	struct oci_cgroup *cg = NULL;

	/* Absent cgroupsPath: the container id below our own (name=systemd) cgroup. */
	assert_ok(oci_cgroup_create(NULL, id, NULL, &cg, &err), err);
	assert_true(str_endswith(oci_cgroup_path(cg), id));
	d = ctrl_dir("pids", oci_cgroup_path(cg));
	assert_int_equal(access(d, F_OK), 0);
	destroy(cg);

	/* systemd style, mapped to the cgroupfs path systemd would use. */
	assert_ok(oci_cgroup_create(slice, "x", NULL, &cg, &err), err);
	want = xasprintf("/ociresit%d.slice/wharf-x.scope", (int)getpid());
	assert_string_equal(oci_cgroup_path(cg), want);
	free(d);
	d = ctrl_dir("memory", want);
	assert_int_equal(access(d, F_OK), 0);
	destroy(cg);
	{
		cleanup_closedir DIR *r = opendir(ROOT);
		struct dirent *de;

		while ((de = readdir(r))) {
			cleanup_free char *p = NULL;

			if (de->d_name[0] == '.')
				continue;
			p = xasprintf(ROOT "/%s/ociresit%d.slice", de->d_name, (int)getpid());
			assert_int_equal(rmdir(p), 0);
		}
	}
}

static void test_create_rolls_back(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	cleanup_free char *p = NULL, *first = NULL;
	struct oci_cgroup *cg = NULL;

	/* "cgroup.procs" is a file: mkdir below it fails after "roll" was made everywhere up
	 * to the first hierarchy. */
	p = xasprintf("%s/roll/cgroup.procs/x", base);
	assert_int_equal(oci_cgroup_create(p, "x", NULL, &cg, &err), -ENOTDIR);
	assert_null(cg);
	assert_non_null(strstr(err->msg, "create cgroup"));
	first = xasprintf(ROOT "/pids%s/roll", base);
	assert_int_equal(access(first, F_OK), -1);
	free(first);
	first = xasprintf(ROOT "/memory%s/roll", base);
	assert_int_equal(access(first, F_OK), -1);
}

/* The major:minor of a real, non-empty whole disk, or false. */
static char disk_name[256]; /* "vda": set by find_disk() */

static bool find_disk(char *buf, size_t size)
{
	cleanup_closedir DIR *d = opendir("/sys/block");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		cleanup_free char *dir = NULL, *dev = NULL, *sz = NULL;

		if (de->d_name[0] == '.' || str_startswith(de->d_name, "loop") ||
		    str_startswith(de->d_name, "ram") || str_startswith(de->d_name, "zram"))
			continue;
		dir = xasprintf("/sys/block/%s", de->d_name);
		dev = read_text(dir, "dev");
		sz = read_text(dir, "size");
		if (!streq(sz, "0")) {
			snprintf(buf, size, "%s", dev);
			snprintf(disk_name, sizeof(disk_name), "%s", de->d_name);
			return true;
		}
	}
	return false;
}

static void test_blkio(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("blk");
	cleanup_free char *json = NULL, *want = NULL, *bdir = NULL;
	struct oci_cgroup_stats st;
	unsigned maj = 0, min = 0;
	char disk[32];

	if (!find_disk(disk, sizeof(disk)) || sscanf(disk, "%u:%u", &maj, &min) != 2) {
		destroy(cg);
		skip();
	}
	json = xasprintf("{\"blockIO\":{\"throttleReadBpsDevice\":[{\"major\":%u,\"minor\":%u,"
			 "\"rate\":1048576}],\"throttleWriteIOPSDevice\":[{\"major\":%u,"
			 "\"minor\":%u,\"rate\":300}]}}",
			 maj, min, maj, min);
	apply_json(cg, json);
	bdir = ctrl_dir("blkio", oci_cgroup_path(cg));
	want = xasprintf("%u:%u 1048576", maj, min);
	assert_file("blkio", oci_cgroup_path(cg), "blkio.throttle.read_bps_device", want);
	free(want);
	want = xasprintf("%u:%u 300", maj, min);
	assert_file("blkio", oci_cgroup_path(cg), "blkio.throttle.write_iops_device", want);

	/* This kernel's blkio may lack weight files (no CFQ/BFQ): then the refusal says so. */
	if (!cg_exists(bdir, "blkio.weight") && !cg_exists(bdir, "blkio.bfq.weight")) {
		struct oci_resources res;

		oci_resources_init(&res);
		res.blkio.has_weight = true;
		res.blkio.weight = 500;
		assert_int_equal(oci_cgroup_apply(cg, &res, &err), -EOPNOTSUPP);
		assert_non_null(
			strstr(err->msg, "linux.resources.blockIO.weight: cannot be honoured"));
		assert_non_null(strstr(err->msg, "'blkio.weight' does not exist"));
		err = wh_err_free(err);
	} else {
		apply_json(cg, "{\"blockIO\":{\"weight\":500}}");
	}
	assert_ok(oci_cgroup_stats(cg, &st, &err), err);
	assert_true(st.has_blkio);
	oci_cgroup_stats_release(&st);
	destroy(cg);
}

struct stats_job {
	volatile uint64_t *done;
	char dev[300];
};

/* In the cgroup: touch 8 MiB, read 1 MiB from the disk bypassing the page cache, burn some
 * CPU, then report done and wait. */
static int stats_work(void *arg)
{
	struct stats_job *j = arg;
	size_t size = 8u << 20;
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *buf = NULL;
	int fd;

	if (p == MAP_FAILED)
		return *j->done = 101, 1;
	for (size_t i = 0; i < size; i += 4096)
		p[i] = 1;
	if (posix_memalign(&buf, 4096, 1 << 20) != 0)
		return *j->done = 102, 2;
	fd = open(j->dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0 || pread(fd, buf, 1 << 20, 0) != 1 << 20)
		return *j->done = 103, 3;
	close(fd);
	for (volatile uint64_t i = 0; i < 50000000; i++)
		;
	*j->done = 1;
	for (;;)
		pause();
}

static void test_stats_real(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = create("stats");
	volatile uint64_t *done = shared_counter();
	struct stats_job job = {.done = done};
	struct oci_cgroup_stats st;
	unsigned maj = 0, min = 0;
	uint64_t read_bytes = 0;
	char dev[32];
	struct child c;

	if (!find_disk(dev, sizeof(dev)) || sscanf(dev, "%u:%u", &maj, &min) != 2) {
		destroy(cg);
		skip();
	}
	/* A file on the root file system, when that is on the disk (its block device node may be
	 * off limits to us); O_DIRECT reads of it are disk reads by the child. */
	{
		struct stat sb;
		cleanup_free char *data = xmalloc(1 << 20);
		int fd;

		if (stat("/var/tmp", &sb) < 0 || major(sb.st_dev) != maj ||
		    minor(sb.st_dev) != min) {
			destroy(cg);
			skip();
		}
		snprintf(job.dev, sizeof(job.dev), "/var/tmp/ocires-blk-XXXXXX");
		fd = mkostemp(job.dev, O_CLOEXEC);
		assert_true(fd >= 0);
		memset(data, 'x', 1 << 20);
		assert_int_equal(write_all(fd, data, 1 << 20), 0);
		assert_int_equal(fsync(fd), 0);
		close(fd);
	}
	c = child_start(stats_work, &job);
	assert_ok(oci_cgroup_enter(cg, c.pid, &err), err);
	child_go(&c);
	for (int i = 0; i < 3000 && !*done; i++)
		sleep_ms(10);
	unlink(job.dev);
	if (*done != 1) {
		child_kill(&c);
		fail_msg("the child did not finish its work (%" PRIu64 ")", *done);
	}
	assert_ok(oci_cgroup_stats(cg, &st, &err), err);
	if (st.memory.usage < (8u << 20))
		fail_msg("memory usage %" PRIu64, st.memory.usage);
	assert_true(st.memory.max_usage >= st.memory.usage);
	assert_true(cg_kv_lookup(st.memory.stat, st.memory.n_stat, "rss") >= (8u << 20) ||
		    cg_kv_lookup(st.memory.stat, st.memory.n_stat, "total_rss") >= (8u << 20));
	/* cpuacct.usage is exact; cpuacct.stat (user/system) counts ticks and may still be 0. */
	assert_true(st.cpu.usage_ns > 0);
	{
		uint64_t sum = 0;

		for (size_t i = 0; i < st.cpu.n_per_cpu; i++)
			sum += st.cpu.per_cpu_ns[i];
		assert_true(sum > 0);
	}
	for (size_t i = 0; i < st.blkio.n_io_service_bytes; i++)
		if (st.blkio.io_service_bytes[i].major == maj &&
		    st.blkio.io_service_bytes[i].minor == min &&
		    streq(st.blkio.io_service_bytes[i].op, "Read"))
			read_bytes = st.blkio.io_service_bytes[i].value;
	if (read_bytes < (1u << 20))
		fail_msg("blkio Read for %u:%u: %" PRIu64, maj, min, read_bytes);
	assert_int_equal(st.pids.current, 1);
	oci_cgroup_stats_release(&st);
	destroy(cg);
	assert_int_equal(WTERMSIG(child_wait(&c)), SIGKILL);
	munmap((void *)done, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_apply_readback_update_reopen),
		cmocka_unit_test(test_freeze_thaw),
		cmocka_unit_test(test_pids_limit_bites),
		cmocka_unit_test(test_devices_bite),
		cmocka_unit_test(test_memory_limit_bites),
		cmocka_unit_test(test_kill_all),
		cmocka_unit_test(test_unsupported_writes_nothing),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_create_rolls_back),
		cmocka_unit_test(test_blkio),
		cmocka_unit_test(test_stats_real),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

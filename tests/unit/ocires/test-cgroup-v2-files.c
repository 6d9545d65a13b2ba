/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the v2 driver's file formats on a plain directory laid out like a cgroup2
 * directory (no kernel involved). This build host's unified hierarchy offers only hugetlb, so
 * the memory, cpu, io and pids writes and the stats parsing are checked here for the exact
 * strings the kernel expects; the integration test drives a real cgroup2 mount for the rest.
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

#include <sys/stat.h>

#include "common/common.h"
#include "oci/cgroup.h"

static char root[64];
static char dir[128];

static void put_file(const char *name, const char *content)
{
	cleanup_free char *p = path_join(dir, name);

	assert_int_equal(write_file_atomic(p, content, strlen(content), 0644), 0);
}

static char *get_file(const char *name)
{
	cleanup_free char *p = path_join(dir, name);
	char *s = NULL;

	assert_int_equal(read_file(p, 1 << 16, &s, NULL), 0);
	return s;
}

static void assert_content(const char *name, const char *want)
{
	cleanup_free char *got = get_file(name);

	if (!streq(got, want))
		fail_msg("%s: got '%s', want '%s'", name, got, want);
}

/* A fresh directory with the files of a cgroup2 cgroup that has every controller. */
static int setup(void **state)
{
	static const char *const empty[] = {
		"memory.max",  "memory.low",	  "memory.swap.max", "cpu.weight",
		"cpuset.cpus", "cpuset.mems",	  "io.weight",	     "io.max",
		"pids.max",    "hugetlb.2MB.max", "memory.high",     "cgroup.freeze",
	};

	snprintf(root, sizeof(root), "/tmp/ocires-v2f-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/fake/c", root);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	put_file("cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
	for (size_t i = 0; i < ARRAY_SIZE(empty); i++)
		put_file(empty[i], "");
	put_file("cpu.max", "max 100000\n");
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(rm_rf(root), 0);
	return 0;
}

static struct oci_cgroup *open_fake(void)
{
	struct oci_cgroup_opts opts = {.root = root, .mode = OCI_CGROUP_MODE_V2};
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = NULL;

	if (oci_cgroup_open("/fake/c", &opts, &cg, &err) < 0)
		fail_msg("open: %s", wh_err_msg(err));
	return cg;
}

static int apply(struct oci_cgroup *cg, const char *json, struct wh_err **err)
{
	struct oci_resources res;
	yajl_val v = NULL;
	int r;

	assert_int_equal(json_parse(json, strlen(json), &v, NULL), 0);
	oci_resources_init(&res);
	assert_int_equal(oci_resources_parse(v, "linux.resources", &res, NULL), 0);
	r = oci_cgroup_apply(cg, &res, err);
	oci_resources_release(&res);
	yajl_tree_free(v);
	return r;
}

static void test_apply_formats(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = open_fake();

	assert_true(oci_cgroup_has_controller(cg, "memory"));
	assert_true(oci_cgroup_has_controller(cg, "blkio"));   /* means io on v2 */
	assert_true(oci_cgroup_has_controller(cg, "devices")); /* a BPF program on v2 */
	assert_false(oci_cgroup_has_controller(cg, "freezer"));
	if (apply(cg,
		  "{\"memory\":{\"limit\":67108864,\"reservation\":33554432,\"swap\":134217728},"
		  "\"cpu\":{\"shares\":1024,\"quota\":20000,\"period\":50000,\"cpus\":\"0-1\","
		  "\"mems\":\"0\"},\"pids\":{\"limit\":7},\"blockIO\":{\"weight\":500,"
		  "\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,\"rate\":1048576}]},"
		  "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":2097152}],"
		  "\"unified\":{\"memory.high\":\"50000000\"}}",
		  &err) < 0)
		fail_msg("apply: %s", wh_err_msg(err));
	assert_content("memory.max", "67108864");
	assert_content("memory.low", "33554432");
	/* spec swap is memory+swap; v2 wants the swap part only. */
	assert_content("memory.swap.max", "67108864");
	assert_content("cpu.weight", "39");
	assert_content("cpu.max", "20000 50000");
	assert_content("cpuset.cpus", "0-1");
	assert_content("cpuset.mems", "0");
	assert_content("pids.max", "7");
	assert_content("io.weight", "default 4950");
	assert_content("io.max", "8:0 rbps=1048576");
	assert_content("hugetlb.2MB.max", "2097152");
	assert_content("memory.high", "50000000");
	oci_cgroup_free(cg);
}

static void test_update_semantics(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = open_fake();

	/* Only the period: the quota half of cpu.max stays. */
	put_file("cpu.max", "30000 100000\n");
	assert_int_equal(apply(cg, "{\"cpu\":{\"period\":200000}}", &err), 0);
	assert_content("cpu.max", "30000 200000");
	put_file("cpu.max", "30000 100000\n");
	assert_int_equal(apply(cg, "{\"cpu\":{\"quota\":-1}}", &err), 0);
	assert_content("cpu.max", "max 100000");

	/* Only swap: computed against the current memory.max. */
	put_file("memory.max", "104857600\n");
	assert_int_equal(apply(cg, "{\"memory\":{\"swap\":209715200}}", &err), 0);
	assert_content("memory.swap.max", "104857600");
	put_file("memory.max", "max\n");
	assert_int_equal(apply(cg, "{\"memory\":{\"swap\":209715200}}", &err), -EINVAL);
	assert_non_null(
		strstr(err->msg, "linux.resources.memory.swap: a swap limit needs a memory limit"));
	err = wh_err_free(err);
	put_file("memory.swap.max", "");
	assert_int_equal(apply(cg, "{\"memory\":{\"limit\":-1}}", &err), 0);
	assert_content("memory.max", "max");
	assert_content("memory.swap.max", "max");
	assert_int_equal(apply(cg, "{\"memory\":{\"limit\":300,\"swap\":200}}", &err), -EINVAL);
	assert_non_null(strstr(err->msg, "memory+swap 200 is below the memory limit 300"));
	err = wh_err_free(err);
	/* Kernel memory limits are ignored, as runc does: nothing is written, no error. */
	put_file("memory.max", "");
	assert_int_equal(apply(cg, "{\"memory\":{\"kernel\":1048576,\"kernelTCP\":4096}}", &err),
			 0);
	assert_content("memory.max", "");
	assert_int_equal(apply(cg, "{\"pids\":{\"limit\":-1}}", &err), 0);
	assert_content("pids.max", "max");
	oci_cgroup_free(cg);
}

static void test_refusals(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = open_fake();

	put_file("cgroup.controllers", "hugetlb\n");
	put_file("pids.max", "");
	assert_int_equal(apply(cg,
			       "{\"pids\":{\"limit\":3},\"hugepageLimits\":[{\"pageSize\":"
			       "\"2MB\",\"limit\":1}]}",
			       &err),
			 -EOPNOTSUPP);
	assert_non_null(strstr(err->msg, "linux.resources.pids.limit: cannot be honoured: the "
					 "'pids' controller is not available"));
	assert_content("pids.max", "");
	assert_content("hugetlb.2MB.max", "");
	err = wh_err_free(err);
	assert_int_equal(
		apply(cg, "{\"hugepageLimits\":[{\"pageSize\":\"1GB\",\"limit\":1}]}", &err),
		-EOPNOTSUPP);
	assert_non_null(strstr(err->msg, "'hugetlb.1GB.max' does not exist"));
	oci_cgroup_free(cg);
}

static void test_stats(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = open_fake();
	struct oci_cgroup_stats st;

	put_file("memory.current", "12345\n");
	put_file("memory.max", "max\n");
	put_file("memory.peak", "23456\n");
	put_file("memory.swap.current", "7\n");
	put_file("memory.swap.max", "1000\n");
	put_file("memory.stat", "anon 100\nfile 200\nkernel_stack 16384\n");
	put_file("memory.events", "low 0\nhigh 1\nmax 3\noom 1\noom_kill 1\n");
	put_file("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\n"
			     "nr_throttled 2\nthrottled_usec 30\n");
	put_file("pids.current", "3\n");
	put_file("pids.max", "max\n");
	put_file("io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
			    "253:1 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n");
	put_file("hugetlb.2MB.current", "0\n");
	put_file("hugetlb.2MB.max", "4194304\n");
	put_file("hugetlb.2MB.events", "max 2\n");
	if (oci_cgroup_stats(cg, &st, &err) < 0)
		fail_msg("stats: %s", wh_err_msg(err));
	assert_true(st.has_memory && st.has_cpu && st.has_pids && st.has_blkio);
	assert_int_equal(st.memory.usage, 12345);
	assert_int_equal(st.memory.limit, UINT64_MAX);
	assert_int_equal(st.memory.max_usage, 23456);
	assert_int_equal(st.memory.swap_usage, 7);
	assert_int_equal(st.memory.swap_limit, 1000);
	assert_int_equal(st.memory.failcnt, 3);
	assert_int_equal(st.memory.n_stat, 3);
	assert_string_equal(st.memory.stat[2].key, "kernel_stack");
	assert_int_equal(st.memory.stat[2].value, 16384);
	assert_int_equal(st.memory.n_events, 5);
	assert_int_equal(st.cpu.usage_ns, 1500000);
	assert_int_equal(st.cpu.user_ns, 1000000);
	assert_int_equal(st.cpu.system_ns, 500000);
	assert_int_equal(st.cpu.nr_periods, 4);
	assert_int_equal(st.cpu.nr_throttled, 2);
	assert_int_equal(st.cpu.throttled_ns, 30000);
	assert_int_equal(st.pids.current, 3);
	assert_int_equal(st.pids.limit, 0);
	assert_int_equal(st.blkio.n_io_service_bytes, 6);
	assert_int_equal(st.blkio.n_io_serviced, 6);
	assert_int_equal(st.blkio.io_service_bytes[1].major, 8);
	assert_string_equal(st.blkio.io_service_bytes[1].op, "wbytes");
	assert_int_equal(st.blkio.io_service_bytes[1].value, 8192);
	assert_int_equal(st.blkio.io_serviced[5].major, 253);
	assert_string_equal(st.blkio.io_serviced[5].op, "dios");
	assert_int_equal(st.blkio.io_serviced[5].value, 6);
	assert_int_equal(st.n_hugetlb, 1);
	assert_int_equal(st.hugetlb[0].max, 4194304);
	assert_int_equal(st.hugetlb[0].failcnt, 2);
	oci_cgroup_stats_release(&st);

	/* A file of a present controller that cannot be read is an error naming it. */
	{
		cleanup_free char *p = path_join(dir, "pids.current");

		assert_int_equal(unlink(p), 0);
	}
	assert_int_equal(oci_cgroup_stats(cg, &st, &err), -ENOENT);
	assert_non_null(strstr(err->msg, "pids.current"));
	oci_cgroup_free(cg);
}

static void test_freezer_files(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = open_fake();
	enum oci_freezer_state fs;
	cleanup_free char *p = path_join(dir, "cgroup.freeze");

	/* cgroup.freeze "1" but cgroup.events not yet "frozen 1": freezing. */
	put_file("cgroup.freeze", "1\n");
	put_file("cgroup.events", "populated 1\nfrozen 0\n");
	assert_int_equal(oci_cgroup_freezer_state(cg, &fs, &err), 0);
	assert_int_equal(fs, OCI_FREEZER_FREEZING);
	put_file("cgroup.events", "populated 1\nfrozen 1\n");
	assert_int_equal(oci_cgroup_freezer_state(cg, &fs, &err), 0);
	assert_int_equal(fs, OCI_FREEZER_FROZEN);
	put_file("cgroup.freeze", "0\n");
	put_file("cgroup.events", "populated 1\nfrozen 0\n");
	assert_int_equal(oci_cgroup_freezer_state(cg, &fs, &err), 0);
	assert_int_equal(fs, OCI_FREEZER_THAWED);
	/* Without cgroup.freeze there is no freezer: a clear error, nothing written. */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(oci_cgroup_freeze(cg, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err->msg, "has no cgroup.freeze"));
	assert_int_equal(access(p, F_OK), -1);
	oci_cgroup_free(cg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply_formats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_semantics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_freezer_files, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

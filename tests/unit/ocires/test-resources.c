/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of oci/cgroup-res.c and the pure parts of oci/cgroup*.c: linux.resources parsing
 * (good and malformed input), runc update flags, memory sizes, merging, JSON round trips,
 * cgroupsPath resolution and the v1→v2 conversions.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include <linux/bpf.h>

#include "common/common.h"
#include "oci/cgroup-internal.h"
#include "oci/cgroup.h"

static yajl_val parse(const char *text)
{
	yajl_val v = NULL;

	assert_int_equal(json_parse(text, strlen(text), &v, NULL), 0);
	return v;
}

/* Parses text as linux.resources and expects failure with code and a message holding want. */
static void expect_error(const char *text, int code, const char *want)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_resources res;
	yajl_val v = parse(text);
	int r;

	oci_resources_init(&res);
	r = oci_resources_parse(v, "linux.resources", &res, &err);
	if (r != -code || !err || !strstr(err->msg, want))
		fail_msg("%s: got %d '%s', want -%d '%s'", text, r, err ? err->msg : "", code,
			 want);
	/* Nothing half-parsed is left behind. */
	assert_null(res.cpu.cpus);
	assert_int_equal(res.n_devices, 0);
	assert_false(res.memory.has_limit);
	yajl_tree_free(v);
}

static void test_parse_full(void **state)
{
	const char *text =
		"{\"memory\":{\"limit\":67108864,\"reservation\":33554432,\"swap\":134217728,"
		"\"swappiness\":10,\"disableOOMKiller\":true},"
		"\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0-1\","
		"\"mems\":\"0\",\"realtimeRuntime\":950,\"realtimePeriod\":1000},"
		"\"pids\":{\"limit\":32},"
		"\"blockIO\":{\"weight\":300,\"weightDevice\":[{\"major\":8,\"minor\":0,"
		"\"weight\":500}],\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,"
		"\"rate\":1048576}]},"
		"\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\","
		"\"major\":1,\"minor\":3,\"access\":\"mwr\"},{\"allow\":true,\"type\":\"b\","
		"\"major\":8,\"access\":\"r\"}],"
		"\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":4194304}],"
		"\"unified\":{\"memory.high\":\"1000000\"}}";
	cleanup_err struct wh_err *err = NULL;
	struct oci_resources res;
	yajl_val v = parse(text);

	oci_resources_init(&res);
	assert_int_equal(oci_resources_parse(v, "linux.resources", &res, &err), 0);
	assert_true(res.memory.has_limit);
	assert_int_equal(res.memory.limit, 67108864);
	assert_int_equal(res.memory.reservation, 33554432);
	assert_int_equal(res.memory.swap, 134217728);
	assert_int_equal(res.memory.swappiness, 10);
	assert_true(res.memory.has_disable_oom_killer && res.memory.disable_oom_killer);
	assert_false(res.memory.has_kernel);
	assert_int_equal(res.cpu.shares, 512);
	assert_int_equal(res.cpu.quota, 50000);
	assert_int_equal(res.cpu.period, 100000);
	assert_string_equal(res.cpu.cpus, "0-1");
	assert_string_equal(res.cpu.mems, "0");
	assert_int_equal(res.cpu.realtime_runtime, 950);
	assert_int_equal(res.pids.limit, 32);
	assert_int_equal(res.blkio.weight, 300);
	assert_int_equal(res.blkio.n_weight_devices, 1);
	assert_int_equal(res.blkio.weight_devices[0].weight, 500);
	assert_int_equal(res.blkio.n_throttle_read_bps, 1);
	assert_int_equal(res.blkio.throttle_read_bps[0].rate, 1048576);
	assert_int_equal(res.n_devices, 3);
	assert_false(res.devices[0].allow);
	assert_int_equal(res.devices[0].type, 'a');
	assert_int_equal(res.devices[0].major, -1);
	assert_string_equal(res.devices[1].access, "rwm"); /* normalized order */
	assert_int_equal(res.devices[1].major, 1);
	assert_int_equal(res.devices[1].minor, 3);
	assert_int_equal(res.devices[2].type, 'b');
	assert_int_equal(res.devices[2].minor, -1);
	assert_int_equal(res.n_hugepages, 1);
	assert_string_equal(res.hugepages[0].page_size, "2MB");
	assert_string_equal(res.unified[0], "memory.high");
	assert_string_equal(res.unified[1], "1000000");
	assert_null(res.unified[2]);
	oci_resources_release(&res);
	yajl_tree_free(v);
}

static void test_parse_absent_and_zero(void **state)
{
	struct oci_resources res;
	yajl_val v = parse("{\"memory\":{\"limit\":0},\"cpu\":{\"shares\":0,\"quota\":0},"
			   "\"pids\":{\"limit\":0},\"blockIO\":{\"weight\":0}}");

	oci_resources_init(&res);
	assert_int_equal(oci_resources_parse(NULL, "linux.resources", &res, NULL), 0);
	assert_int_equal(oci_resources_parse(v, "linux.resources", &res, NULL), 0);
	/* 0 means "not set" for these, as in runc and containerd. */
	assert_false(res.memory.has_limit);
	assert_false(res.cpu.has_shares);
	assert_false(res.cpu.has_quota);
	assert_false(res.pids.has_limit);
	assert_false(res.blkio.has_weight);
	oci_resources_release(&res);
	yajl_tree_free(v);

	v = parse("{\"memory\":{\"limit\":-1},\"pids\":{\"limit\":-1},\"cpu\":{\"quota\":-1}}");
	oci_resources_init(&res);
	assert_int_equal(oci_resources_parse(v, "linux.resources", &res, NULL), 0);
	assert_true(res.memory.has_limit);
	assert_int_equal(res.memory.limit, -1);
	assert_true(res.pids.has_limit);
	assert_int_equal(res.pids.limit, -1);
	assert_int_equal(res.cpu.quota, -1);
	oci_resources_release(&res);
	yajl_tree_free(v);
}

static void test_parse_malformed(void **state)
{
	expect_error("[]", EINVAL, "linux.resources: expected an object");
	expect_error("{\"memory\":{\"limit\":\"1G\"}}", EINVAL,
		     "linux.resources.memory.limit: expected an integer");
	expect_error("{\"memory\":{\"limit\":-5}}", EINVAL, "linux.resources.memory.limit");
	expect_error("{\"memory\":[]}", EINVAL, "linux.resources.memory: expected an object");
	expect_error("{\"memory\":{\"swappiness\":101}}", EINVAL,
		     "linux.resources.memory.swappiness: 101 is out of range");
	expect_error("{\"memory\":{\"swappiness\":-1}}", EINVAL,
		     "linux.resources.memory.swappiness: must not be negative");
	expect_error("{\"memory\":{\"disableOOMKiller\":1}}", EINVAL,
		     "linux.resources.memory.disableOOMKiller: expected a boolean");
	expect_error("{\"cpu\":{\"shares\":1}}", EINVAL, "linux.resources.cpu.shares: 1 is out");
	expect_error("{\"cpu\":{\"quota\":-2}}", EINVAL, "linux.resources.cpu.quota");
	expect_error("{\"cpu\":{\"cpus\":\"0-1;rm\"}}", EINVAL, "linux.resources.cpu.cpus");
	expect_error("{\"cpu\":{\"mems\":5}}", EINVAL,
		     "linux.resources.cpu.mems: expected a string");
	expect_error("{\"cpu\":{\"idle\":1}}", EOPNOTSUPP, "linux.resources.cpu.idle");
	expect_error("{\"pids\":{}}", EINVAL, "linux.resources.pids.limit: missing");
	expect_error("{\"pids\":{\"limit\":true}}", EINVAL,
		     "linux.resources.pids.limit: expected an integer");
	expect_error("{\"blockIO\":{\"weight\":5}}", EINVAL,
		     "linux.resources.blockIO.weight: 5 is out of range");
	expect_error("{\"blockIO\":{\"weightDevice\":[{\"major\":8,\"weight\":100}]}}", EINVAL,
		     "linux.resources.blockIO.weightDevice[0].minor: missing");
	expect_error("{\"blockIO\":{\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0}]}}",
		     EINVAL, "linux.resources.blockIO.throttleReadBpsDevice[0].rate: missing");
	expect_error("{\"blockIO\":{\"throttleWriteIOPSDevice\":{}}}", EINVAL,
		     "linux.resources.blockIO.throttleWriteIOPSDevice");
	expect_error("{\"devices\":[{\"access\":\"rwm\"}]}", EINVAL,
		     "linux.resources.devices[0].allow: missing");
	expect_error("{\"devices\":[{\"allow\":true,\"type\":\"x\"}]}", EINVAL,
		     "linux.resources.devices[0].type: unknown device type 'x'");
	expect_error("{\"devices\":[{\"allow\":true},{\"allow\":true,\"access\":\"rwx\"}]}", EINVAL,
		     "linux.resources.devices[1].access: unknown access 'x'");
	expect_error("{\"devices\":[{\"allow\":true,\"major\":-7}]}", EINVAL,
		     "linux.resources.devices[0].major");
	expect_error("{\"devices\":{}}", EINVAL, "linux.resources.devices");
	expect_error("{\"hugepageLimits\":[{\"pageSize\":\"../x\",\"limit\":1}]}", EINVAL,
		     "linux.resources.hugepageLimits[0].pageSize: '../x' is not a page size");
	expect_error("{\"hugepageLimits\":[{\"pageSize\":\"2MB\"}]}", EINVAL,
		     "linux.resources.hugepageLimits[0].limit: missing");
	expect_error("{\"unified\":{\"../memory.max\":\"1\"}}", EINVAL, "linux.resources.unified");
	expect_error("{\"unified\":{\"memory.max\":1}}", EINVAL,
		     "linux.resources.unified.memory.max: expected a string");
	expect_error("{\"network\":{\"classID\":1}}", EOPNOTSUPP, "linux.resources.network");
	expect_error("{\"rdma\":{}}", EOPNOTSUPP, "linux.resources.rdma");
}

static void test_parse_keeps_old_on_failure(void **state)
{
	struct oci_resources res;
	yajl_val good = parse("{\"pids\":{\"limit\":5}}");
	yajl_val bad = parse("{\"pids\":{\"limit\":\"x\"}}");

	oci_resources_init(&res);
	assert_int_equal(oci_resources_parse(good, "r", &res, NULL), 0);
	assert_int_equal(oci_resources_parse(bad, "r", &res, NULL), -EINVAL);
	assert_int_equal(res.pids.limit, 5);
	oci_resources_release(&res);
	yajl_tree_free(good);
	yajl_tree_free(bad);
}

static void test_mem_size(void **state)
{
	int64_t v = 0;

	assert_int_equal(oci_parse_mem_size("1024", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(oci_parse_mem_size("-1", &v), 0);
	assert_int_equal(v, -1);
	assert_int_equal(oci_parse_mem_size("512m", &v), 0);
	assert_int_equal(v, 512LL << 20);
	assert_int_equal(oci_parse_mem_size("1G", &v), 0);
	assert_int_equal(v, 1LL << 30);
	assert_int_equal(oci_parse_mem_size("4kb", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(oci_parse_mem_size("1.5k", &v), 0);
	assert_int_equal(v, 1536);
	assert_int_equal(oci_parse_mem_size("2MiB", &v), 0);
	assert_int_equal(v, 2LL << 20);
	assert_int_equal(oci_parse_mem_size("", &v), -EINVAL);
	assert_int_equal(oci_parse_mem_size("abc", &v), -EINVAL);
	assert_int_equal(oci_parse_mem_size("12x", &v), -EINVAL);
	assert_int_equal(oci_parse_mem_size("12mbz", &v), -EINVAL);
	assert_int_equal(oci_parse_mem_size("-2", &v), -EINVAL);
	assert_int_equal(oci_parse_mem_size("100000p", &v), -ERANGE);
}

static void test_set_flag(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	struct oci_resources res;

	oci_resources_init(&res);
	assert_int_equal(oci_resources_set_flag(&res, "memory", "64m", NULL), 0);
	assert_int_equal(res.memory.limit, 64LL << 20);
	assert_int_equal(oci_resources_set_flag(&res, "memory-swap", "-1", NULL), 0);
	assert_int_equal(res.memory.swap, -1);
	assert_int_equal(oci_resources_set_flag(&res, "memory-reservation", "1g", NULL), 0);
	assert_int_equal(res.memory.reservation, 1LL << 30);
	assert_int_equal(oci_resources_set_flag(&res, "cpu-share", "300", NULL), 0);
	assert_int_equal(res.cpu.shares, 300);
	assert_int_equal(oci_resources_set_flag(&res, "cpu-shares", "256", NULL), 0);
	assert_int_equal(res.cpu.shares, 256);
	assert_int_equal(oci_resources_set_flag(&res, "cpu-quota", "-1", NULL), 0);
	assert_int_equal(res.cpu.quota, -1);
	assert_int_equal(oci_resources_set_flag(&res, "cpu-period", "20000", NULL), 0);
	assert_int_equal(oci_resources_set_flag(&res, "cpuset-cpus", "0", NULL), 0);
	assert_string_equal(res.cpu.cpus, "0");
	assert_int_equal(oci_resources_set_flag(&res, "pids-limit", "10", NULL), 0);
	assert_int_equal(res.pids.limit, 10);
	assert_int_equal(oci_resources_set_flag(&res, "blkio-weight", "100", NULL), 0);
	assert_int_equal(res.blkio.weight, 100);
	assert_int_equal(oci_resources_set_flag(&res, "blkio-weight", "5", &err), -EINVAL);
	assert_string_equal(err->msg, "--blkio-weight: invalid value '5'");
	err = wh_err_free(err);
	assert_int_equal(oci_resources_set_flag(&res, "cpu-period", "-3", &err), -EINVAL);
	err = wh_err_free(err);
	assert_int_equal(oci_resources_set_flag(&res, "cpuset-mems", "0;1", &err), -EINVAL);
	err = wh_err_free(err);
	assert_int_equal(oci_resources_set_flag(&res, "memory", "lots", &err), -EINVAL);
	assert_string_equal(err->msg, "--memory: invalid value 'lots'");
	err = wh_err_free(err);
	assert_int_equal(oci_resources_set_flag(&res, "cpu-bogus", "1", &err), -ENOENT);
	assert_string_equal(err->msg, "--cpu-bogus: unknown resource flag");
	oci_resources_release(&res);
}

static char *gen(const struct oci_resources *r)
{
	yajl_gen g = json_gen_new(false);

	oci_resources_gen_json(g, r);
	return json_gen_finish(g, NULL);
}

static void test_gen_roundtrip_and_merge(void **state)
{
	const char *text =
		"{\"memory\":{\"limit\":1048576,\"swap\":-1},\"cpu\":{\"shares\":100,"
		"\"cpus\":\"1\"},\"pids\":{\"limit\":7},\"blockIO\":{\"weight\":20,"
		"\"throttleWriteBpsDevice\":[{\"major\":7,\"minor\":1,\"rate\":18446744073709551615}]},"
		"\"devices\":[{\"allow\":false,\"access\":\"rwm\"}],"
		"\"hugepageLimits\":[{\"pageSize\":\"1GB\",\"limit\":0}],\"unified\":{\"a.b\":\"c\"}}";
	struct oci_resources a, b, upd;
	yajl_val v = parse(text), v2, vu;
	cleanup_free char *out1 = NULL, *out2 = NULL, *out3 = NULL;

	oci_resources_init(&a);
	oci_resources_init(&b);
	oci_resources_init(&upd);
	assert_int_equal(oci_resources_parse(v, "r", &a, NULL), 0);
	assert_int_equal(a.blkio.throttle_write_bps[0].rate, UINT64_MAX);
	out1 = gen(&a);
	v2 = parse(out1);
	assert_int_equal(oci_resources_parse(v2, "r", &b, NULL), 0);
	out2 = gen(&b);
	assert_string_equal(out1, out2);

	/* An update overrides what it sets and keeps the rest. */
	vu = parse("{\"memory\":{\"limit\":2097152},\"cpu\":{\"cpus\":\"0\"}}");
	assert_int_equal(oci_resources_parse(vu, "r", &upd, NULL), 0);
	oci_resources_merge(&b, &upd);
	assert_int_equal(b.memory.limit, 2097152);
	assert_int_equal(b.memory.swap, -1);
	assert_string_equal(b.cpu.cpus, "0");
	assert_int_equal(b.cpu.shares, 100);
	assert_int_equal(b.pids.limit, 7);
	assert_int_equal(b.n_devices, 1);
	out3 = gen(&b);
	assert_non_null(strstr(out3, "\"limit\":2097152"));
	oci_resources_release(&a);
	oci_resources_release(&b);
	oci_resources_release(&upd);
	yajl_tree_free(v);
	yajl_tree_free(v2);
	yajl_tree_free(vu);
}

static void test_default_devices(void **state)
{
	size_t n = 0;
	const struct oci_device_rule *d = oci_cgroup_default_device_rules(&n);
	bool null_dev = false, pts = false;

	assert_int_equal(n, 11);
	for (size_t i = 0; i < n; i++) {
		assert_true(d[i].allow);
		if (d[i].type == 'c' && d[i].major == 1 && d[i].minor == 3)
			null_dev = streq(d[i].access, "rwm");
		if (d[i].type == 'c' && d[i].major == 136 && d[i].minor == -1)
			pts = true;
	}
	assert_true(null_dev);
	assert_true(pts);
	assert_string_equal(d[0].access, "m");
}

static void expect_path(const char *in, const char *want)
{
	cleanup_free char *out = NULL;

	assert_int_equal(oci_cgroup_resolve_path(in, "ctr", OCI_CGROUP_MODE_V1, &out, NULL), 0);
	assert_string_equal(out, want);
}

static void expect_path_error(const char *in, const char *want)
{
	cleanup_err struct wh_err *err = NULL;
	char *out = NULL;

	assert_int_equal(oci_cgroup_resolve_path(in, "ctr", OCI_CGROUP_MODE_V1, &out, &err),
			 -EINVAL);
	assert_null(out);
	if (!strstr(err->msg, want))
		fail_msg("'%s': got '%s', want '%s'", in, err->msg, want);
}

static void test_resolve_path(void **state)
{
	cleanup_free char *own = NULL, *rel = NULL, *want = NULL, *v2 = NULL;

	expect_path("/wharf/abc", "/wharf/abc");
	expect_path("//wharf/./abc/", "/wharf/abc");
	expect_path("system.slice:docker:abc", "/system.slice/docker-abc.scope");
	expect_path("machine-foo-bar.slice:crio:x",
		    "/machine.slice/machine-foo.slice/machine-foo-bar.slice/crio-x.scope");
	expect_path(":wharf:abc", "/system.slice/wharf-abc.scope");
	expect_path("user.slice::abc", "/user.slice/abc.scope");
	expect_path_error("/a/../../etc", "must not contain '..'");
	expect_path_error("/", "refusing the root cgroup");
	expect_path_error("bad:slice:x", "is not 'slice:prefix:name'");
	expect_path_error("a.slice:b:c:d", "is not 'slice:prefix:name'");
	expect_path_error("a.slice:b:", "is not 'slice:prefix:name'");
	expect_path_error("a--b.slice:b:c", "is not 'slice:prefix:name'");
	expect_path_error("a.slice:b:c/d", "is not 'slice:prefix:name'");

	/* Relative and absent: below the own cgroup (name=systemd line on v1, 0:: on v2). */
	assert_int_equal(oci_cgroup_resolve_path(NULL, "ctr", OCI_CGROUP_MODE_V1, &own, NULL), 0);
	assert_true(str_endswith(own, "/ctr"));
	assert_int_equal(oci_cgroup_resolve_path("sub/x", "ctr", OCI_CGROUP_MODE_V1, &rel, NULL),
			 0);
	want = xasprintf("%.*ssub/x", (int)(strlen(own) - 3), own);
	assert_string_equal(rel, want);
	assert_int_equal(oci_cgroup_resolve_path("", "ctr", OCI_CGROUP_MODE_V2, &v2, NULL), 0);
	assert_true(str_endswith(v2, "/ctr"));
	expect_path_error("x/../../y", "must not contain '..'");
	{
		char *o = NULL;
		assert_int_equal(oci_cgroup_resolve_path(NULL, "a/b", OCI_CGROUP_MODE_V1, &o, NULL),
				 -EINVAL);
		assert_null(o);
	}
}

static void test_v2_conversions(void **state)
{
	int64_t v = 0;
	bool max = false;

	/* runc's formulas: shares 2..262144 → weight 1..10000; blkio 10..1000 → 1..10000. */
	assert_int_equal(cg2_cpu_weight(2), 1);
	assert_int_equal(cg2_cpu_weight(1024), 39);
	assert_int_equal(cg2_cpu_weight(262144), 10000);
	assert_int_equal(cg2_cpu_weight(0), 0);
	assert_int_equal(cg2_io_weight(10), 1);
	assert_int_equal(cg2_io_weight(500), 4950);
	assert_int_equal(cg2_io_weight(1000), 10000);

	assert_int_equal(cg2_swap_value(100, true, 300, true, &v, &max), 1);
	assert_int_equal(v, 200);
	assert_false(max);
	assert_int_equal(cg2_swap_value(100, true, -1, true, &v, &max), 1);
	assert_true(max);
	assert_int_equal(cg2_swap_value(-1, true, 0, false, &v, &max), 1);
	assert_true(max);
	assert_int_equal(cg2_swap_value(100, true, 0, false, &v, &max), 0);
	assert_int_equal(cg2_swap_value(0, false, 300, true, &v, &max), -EINVAL);
	assert_int_equal(cg2_swap_value(-1, true, 300, true, &v, &max), -EINVAL);
	assert_int_equal(cg2_swap_value(400, true, 300, true, &v, &max), -ERANGE);
}

static void test_mode_strings(void **state)
{
	assert_string_equal(oci_cgroup_mode_to_string(OCI_CGROUP_MODE_V1), "v1");
	assert_string_equal(oci_cgroup_mode_to_string(OCI_CGROUP_MODE_HYBRID), "hybrid");
	assert_string_equal(oci_cgroup_mode_to_string(OCI_CGROUP_MODE_V2), "v2");
	assert_null(oci_cgroup_mode_to_string(_OCI_CGROUP_MODE_MAX));
}

static void test_detect_mode_errors(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	enum oci_cgroup_mode m = OCI_CGROUP_MODE_AUTO;

	assert_int_equal(oci_cgroup_detect_mode("/nonexistent-ocires", &m, &err), -ENOENT);
	assert_non_null(strstr(err->msg, "statfs '/nonexistent-ocires'"));
	err = wh_err_free(err);
	/* /proc is neither cgroup2 nor a tmpfs. */
	assert_int_equal(oci_cgroup_detect_mode("/proc", &m, &err), -EMEDIUMTYPE);
	assert_int_equal(m, OCI_CGROUP_MODE_AUTO);
}

static void test_open_errors(void **state)
{
	struct oci_cgroup_opts opts = {.root = "/tmp", .mode = OCI_CGROUP_MODE_V2};
	const char *bad[] = {"relative/x", "/", "/a/../b", "", NULL};
	cleanup_err struct wh_err *err = NULL;
	struct oci_cgroup *cg = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(oci_cgroup_open(bad[i], &opts, &cg, &err), -EINVAL);
		assert_non_null(strstr(err->msg, "is not a container cgroup"));
		assert_null(cg);
		err = wh_err_free(err);
	}
	assert_int_equal(oci_cgroup_open("/ocires-no-such-cgroup", &opts, &cg, &err), -ENOENT);
	assert_non_null(strstr(err->msg, "/tmp/ocires-no-such-cgroup"));
	assert_null(cg);
	err = wh_err_free(err);
	opts.mode = 17;
	assert_int_equal(oci_cgroup_open("/x", &opts, &cg, &err), -EINVAL);
	assert_null(cg);
}

static void test_bpf_device_program(void **state)
{
	struct oci_device_rule rules[] = {
		{false, 'a', -1, -1, "rwm"},
		{true, 'c', 1, 3, "rw"},
		{true, 'b', -1, -1, "m"},
	};
	struct bpf_insn *p = NULL;
	size_t n = 0;

	/* Nothing: allow everything (2 instructions after the 6 of the prologue). */
	assert_int_equal(cg_bpf_device_program(rules, 0, &p, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(p[6].code, BPF_ALU64 | BPF_MOV | BPF_K);
	assert_int_equal(p[6].imm, 1);
	assert_int_equal(p[7].code, BPF_JMP | BPF_EXIT);
	free(p);

	/* Deny-all alone is a catch-all: no default tail (it would be unreachable). */
	assert_int_equal(cg_bpf_device_program(rules, 1, &p, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(p[6].imm, 0);
	free(p);

	/* Last rule first: "b *:* m" (type, access: 1+3, verdict 2), then "c 1:3 rw" (type,
	 * access, major, minor, verdict: 1+3+1+1+2), then the catch-all deny (2). */
	assert_int_equal(cg_bpf_device_program(rules, 3, &p, &n), 0);
	assert_int_equal(n, 6 + 6 + 8 + 2);
	assert_int_equal(p[6].code, BPF_JMP | BPF_JNE | BPF_K);
	assert_int_equal(p[6].imm, BPF_DEVCG_DEV_BLOCK);
	assert_int_equal(p[6].off, 5);	/* to the next block */
	assert_int_equal(p[10].imm, 1); /* allow */
	assert_int_equal(p[12].imm, BPF_DEVCG_DEV_CHAR);
	assert_int_equal(p[12].off, 7);
	assert_int_equal(p[14].imm, (int32_t)BPF_DEVCG_ACC_MKNOD); /* asks for more than rw */
	assert_int_equal(p[16].imm, 1);				   /* major */
	assert_int_equal(p[17].imm, 3);				   /* minor */
	assert_int_equal(p[20].imm, 0);				   /* deny all */
	assert_int_equal(p[21].code, BPF_JMP | BPF_EXIT);
	free(p);

	rules[1].major = (int64_t)INT32_MAX + 1;
	assert_int_equal(cg_bpf_device_program(rules, 3, &p, &n), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_parse_absent_and_zero),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_keeps_old_on_failure),
		cmocka_unit_test(test_mem_size),
		cmocka_unit_test(test_set_flag),
		cmocka_unit_test(test_gen_roundtrip_and_merge),
		cmocka_unit_test(test_default_devices),
		cmocka_unit_test(test_resolve_path),
		cmocka_unit_test(test_v2_conversions),
		cmocka_unit_test(test_mode_strings),
		cmocka_unit_test(test_detect_mode_errors),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_bpf_device_program),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

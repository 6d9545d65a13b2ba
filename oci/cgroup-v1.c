/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup v1 driver: checking and applying struct oci_resources to one hierarchy per
 * controller (memory, cpu, cpuset, pids, blkio, devices, hugetlb) and reading v1 stats.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "common/common.h"
#include "oci/cgroup-internal.h"

#define F "linux.resources"

/* Checks that ctrl is mounted for this cgroup and, when file is given, that it exists. */
static int need(const struct oci_cgroup *cg, const char *ctrl, const char *file, const char *field,
		struct wh_err **err)
{
	const char *dir = oci_cgroup_dir(cg, ctrl);
	cleanup_free char *why = NULL;

	if (!dir) {
		why = xasprintf("the cgroup v1 '%s' controller is not mounted", ctrl);
		return cg_unsupported(err, field, why);
	}
	if (file && !cg_file_exists(dir, file)) {
		why = xasprintf("'%s' does not exist in this kernel's %s controller", file, ctrl);
		return cg_unsupported(err, field, why);
	}
	return 0;
}

static const char *blkio_weight_file(const struct oci_cgroup *cg, bool per_device)
{
	const char *dir = oci_cgroup_dir(cg, "blkio");

	if (!dir)
		return per_device ? "blkio.weight_device" : "blkio.weight";
	if (cg_file_exists(dir, per_device ? "blkio.weight_device" : "blkio.weight"))
		return per_device ? "blkio.weight_device" : "blkio.weight";
	if (cg_file_exists(dir, per_device ? "blkio.bfq.weight_device" : "blkio.bfq.weight"))
		return per_device ? "blkio.bfq.weight_device" : "blkio.bfq.weight";
	return per_device ? "blkio.weight_device" : "blkio.weight";
}

static int check_memory(const struct oci_cgroup *cg, const struct oci_resources *res,
			struct wh_err **err)
{
	int r = 0;

	if (res->memory.has_limit)
		r = need(cg, "memory", "memory.limit_in_bytes", F ".memory.limit", err);
	if (r >= 0 && res->memory.has_reservation)
		r = need(cg, "memory", "memory.soft_limit_in_bytes", F ".memory.reservation", err);
	if (r >= 0 &&
	    (res->memory.has_swap ||
	     (res->memory.has_limit && res->memory.limit == -1 && oci_cgroup_dir(cg, "memory") &&
	      cg_file_exists(oci_cgroup_dir(cg, "memory"), "memory.memsw.limit_in_bytes"))))
		r = need(cg, "memory", "memory.memsw.limit_in_bytes", F ".memory.swap", err);
	if (r >= 0 && res->memory.has_swappiness)
		r = need(cg, "memory", "memory.swappiness", F ".memory.swappiness", err);
	if (r >= 0 && res->memory.has_disable_oom_killer)
		r = need(cg, "memory", "memory.oom_control", F ".memory.disableOOMKiller", err);
	return r;
}

static int check_cpu_blkio(const struct oci_cgroup *cg, const struct oci_resources *res,
			   struct wh_err **err)
{
	int r = 0;

	if (res->cpu.has_shares)
		r = need(cg, "cpu", "cpu.shares", F ".cpu.shares", err);
	if (r >= 0 && res->cpu.has_quota)
		r = need(cg, "cpu", "cpu.cfs_quota_us", F ".cpu.quota", err);
	if (r >= 0 && res->cpu.has_period)
		r = need(cg, "cpu", "cpu.cfs_period_us", F ".cpu.period", err);
	if (r >= 0 && res->cpu.has_realtime_runtime)
		r = need(cg, "cpu", "cpu.rt_runtime_us", F ".cpu.realtimeRuntime", err);
	if (r >= 0 && res->cpu.has_realtime_period)
		r = need(cg, "cpu", "cpu.rt_period_us", F ".cpu.realtimePeriod", err);
	if (r >= 0 && res->cpu.cpus)
		r = need(cg, "cpuset", "cpuset.cpus", F ".cpu.cpus", err);
	if (r >= 0 && res->cpu.mems)
		r = need(cg, "cpuset", "cpuset.mems", F ".cpu.mems", err);
	if (r >= 0 && res->blkio.has_weight)
		r = need(cg, "blkio", blkio_weight_file(cg, false), F ".blockIO.weight", err);
	if (r >= 0 && res->blkio.has_leaf_weight)
		r = need(cg, "blkio", "blkio.leaf_weight", F ".blockIO.leafWeight", err);
	if (r >= 0 && res->blkio.n_weight_devices)
		r = need(cg, "blkio", blkio_weight_file(cg, true), F ".blockIO.weightDevice", err);
	if (r >= 0 && res->blkio.n_throttle_read_bps)
		r = need(cg, "blkio", "blkio.throttle.read_bps_device",
			 F ".blockIO.throttleReadBpsDevice", err);
	if (r >= 0 && res->blkio.n_throttle_write_bps)
		r = need(cg, "blkio", "blkio.throttle.write_bps_device",
			 F ".blockIO.throttleWriteBpsDevice", err);
	if (r >= 0 && res->blkio.n_throttle_read_iops)
		r = need(cg, "blkio", "blkio.throttle.read_iops_device",
			 F ".blockIO.throttleReadIOPSDevice", err);
	if (r >= 0 && res->blkio.n_throttle_write_iops)
		r = need(cg, "blkio", "blkio.throttle.write_iops_device",
			 F ".blockIO.throttleWriteIOPSDevice", err);
	return r;
}

int cg1_check(const struct oci_cgroup *cg, const struct oci_resources *res, struct wh_err **err)
{
	int r = check_memory(cg, res, err);

	if (r >= 0)
		r = check_cpu_blkio(cg, res, err);
	if (r >= 0 && res->pids.has_limit)
		r = need(cg, "pids", "pids.max", F ".pids.limit", err);
	if (r >= 0 && res->n_devices)
		r = need(cg, "devices", "devices.allow", F ".devices", err);
	for (size_t i = 0; r >= 0 && i < res->n_hugepages; i++) {
		cleanup_free char *file =
			xasprintf("hugetlb.%s.limit_in_bytes", res->hugepages[i].page_size);
		cleanup_free char *field = xasprintf(F ".hugepageLimits[%zu]", i);

		r = need(cg, "hugetlb", file, field, err);
	}
	if (r >= 0 && res->unified)
		r = cg_unsupported(err, F ".unified", "unified resources need cgroup v2");
	return r;
}

/* ------------------------------------------------------------------- apply ---- */

static int put(const struct oci_cgroup *cg, const char *ctrl, const char *file, const char *v,
	       struct wh_err **err)
{
	const char *dir = oci_cgroup_dir(cg, ctrl);
	int r = cg_write(dir, file, v);

	if (r < 0)
		return wh_err_set(err, r, "write '%s' to '%s/%s'", v, dir, file);
	return 0;
}

static int put_i64(const struct oci_cgroup *cg, const char *ctrl, const char *file, int64_t v,
		   struct wh_err **err)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return put(cg, ctrl, file, buf, err);
}

static int apply_memory(const struct oci_cgroup *cg, const struct oci_resources *res,
			struct wh_err **err)
{
	const char *dir = oci_cgroup_dir(cg, "memory");
	bool has_limit = res->memory.has_limit, has_swap = res->memory.has_swap;
	int64_t limit = res->memory.limit, swap = res->memory.swap;
	int r = 0;

	/* runc: an unlimited memory limit without a swap value makes swap unlimited too. */
	if (has_limit && limit == -1 && !has_swap && dir &&
	    cg_file_exists(dir, "memory.memsw.limit_in_bytes")) {
		has_swap = true;
		swap = -1;
	}
	if (has_limit && has_swap) {
		uint64_t cur = 0;

		/* memsw must stay >= memory: raise memsw first when the limit grows. */
		r = cg_read_u64(dir, "memory.limit_in_bytes", &cur);
		if (r < 0)
			return wh_err_set(err, r, "read '%s/memory.limit_in_bytes'", dir);
		if (swap == -1 || cur < (uint64_t)swap) {
			r = put_i64(cg, "memory", "memory.memsw.limit_in_bytes", swap, err);
			if (r >= 0)
				r = put_i64(cg, "memory", "memory.limit_in_bytes", limit, err);
		} else {
			r = put_i64(cg, "memory", "memory.limit_in_bytes", limit, err);
			if (r >= 0)
				r = put_i64(cg, "memory", "memory.memsw.limit_in_bytes", swap, err);
		}
	} else if (has_limit) {
		r = put_i64(cg, "memory", "memory.limit_in_bytes", limit, err);
	} else if (has_swap) {
		r = put_i64(cg, "memory", "memory.memsw.limit_in_bytes", swap, err);
	}
	if (r >= 0 && res->memory.has_reservation)
		r = put_i64(cg, "memory", "memory.soft_limit_in_bytes", res->memory.reservation,
			    err);
	/* kernel and kernelTCP are ignored, as runc 1.1 does: the kernel ignores kmem limits. */
	if (r >= 0 && res->memory.has_swappiness)
		r = put_i64(cg, "memory", "memory.swappiness", (int64_t)res->memory.swappiness,
			    err);
	if (r >= 0 && res->memory.has_disable_oom_killer)
		r = put(cg, "memory", "memory.oom_control",
			res->memory.disable_oom_killer ? "1" : "0", err);
	return r;
}

static int apply_cpu(const struct oci_cgroup *cg, const struct oci_resources *res,
		     struct wh_err **err)
{
	int r = 0;

	if (res->cpu.has_shares)
		r = put_i64(cg, "cpu", "cpu.shares", (int64_t)res->cpu.shares, err);
	/* The period first: a quota is checked against the current period. */
	if (r >= 0 && res->cpu.has_period)
		r = put_i64(cg, "cpu", "cpu.cfs_period_us", (int64_t)res->cpu.period, err);
	if (r >= 0 && res->cpu.has_quota)
		r = put_i64(cg, "cpu", "cpu.cfs_quota_us", res->cpu.quota, err);
	if (r >= 0 && res->cpu.has_realtime_period)
		r = put_i64(cg, "cpu", "cpu.rt_period_us", (int64_t)res->cpu.realtime_period, err);
	if (r >= 0 && res->cpu.has_realtime_runtime)
		r = put_i64(cg, "cpu", "cpu.rt_runtime_us", res->cpu.realtime_runtime, err);
	if (r >= 0 && res->cpu.cpus)
		r = put(cg, "cpuset", "cpuset.cpus", res->cpu.cpus, err);
	if (r >= 0 && res->cpu.mems)
		r = put(cg, "cpuset", "cpuset.mems", res->cpu.mems, err);
	return r;
}

static int put_devlist(const struct oci_cgroup *cg, const char *file,
		       const struct oci_blkio_device *d, size_t n, bool weight, struct wh_err **err)
{
	for (size_t i = 0; i < n; i++) {
		char buf[64];
		int r;

		if (weight && !d[i].has_weight)
			continue;
		snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %" PRIu64, d[i].major,
			 d[i].minor, weight ? (uint64_t)d[i].weight : d[i].rate);
		r = put(cg, "blkio", file, buf, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_blkio(const struct oci_cgroup *cg, const struct oci_resources *res,
		       struct wh_err **err)
{
	int r = 0;

	if (res->blkio.has_weight)
		r = put_i64(cg, "blkio", blkio_weight_file(cg, false), res->blkio.weight, err);
	if (r >= 0 && res->blkio.has_leaf_weight)
		r = put_i64(cg, "blkio", "blkio.leaf_weight", res->blkio.leaf_weight, err);
	if (r >= 0)
		r = put_devlist(cg, blkio_weight_file(cg, true), res->blkio.weight_devices,
				res->blkio.n_weight_devices, true, err);
	if (r >= 0)
		r = put_devlist(cg, "blkio.throttle.read_bps_device", res->blkio.throttle_read_bps,
				res->blkio.n_throttle_read_bps, false, err);
	if (r >= 0)
		r = put_devlist(cg, "blkio.throttle.write_bps_device",
				res->blkio.throttle_write_bps, res->blkio.n_throttle_write_bps,
				false, err);
	if (r >= 0)
		r = put_devlist(cg, "blkio.throttle.read_iops_device",
				res->blkio.throttle_read_iops, res->blkio.n_throttle_read_iops,
				false, err);
	if (r >= 0)
		r = put_devlist(cg, "blkio.throttle.write_iops_device",
				res->blkio.throttle_write_iops, res->blkio.n_throttle_write_iops,
				false, err);
	return r;
}

static void devnum(char *buf, size_t size, int64_t v)
{
	if (v < 0)
		snprintf(buf, size, "*");
	else
		snprintf(buf, size, "%" PRId64, v);
}

static int apply_devices(const struct oci_cgroup *cg, const struct oci_resources *res,
			 struct wh_err **err)
{
	for (size_t i = 0; i < res->n_devices; i++) {
		const struct oci_device_rule *d = &res->devices[i];
		char maj[24], min[24], line[80];
		int r;

		devnum(maj, sizeof(maj), d->major);
		devnum(min, sizeof(min), d->minor);
		if (d->type == 'a')
			snprintf(line, sizeof(line), "a *:* %s", d->access);
		else
			snprintf(line, sizeof(line), "%c %s:%s %s", d->type, maj, min, d->access);
		r = put(cg, "devices", d->allow ? "devices.allow" : "devices.deny", line, err);
		if (r < 0)
			return wh_err_wrap(err, r, F ".devices[%zu]", i);
	}
	return 0;
}

int cg1_apply(const struct oci_cgroup *cg, const struct oci_resources *res, struct wh_err **err)
{
	int r = apply_memory(cg, res, err);

	if (r >= 0)
		r = apply_cpu(cg, res, err);
	if (r >= 0)
		r = apply_blkio(cg, res, err);
	if (r >= 0 && res->pids.has_limit) {
		if (res->pids.limit < 0)
			r = put(cg, "pids", "pids.max", "max", err);
		else
			r = put_i64(cg, "pids", "pids.max", res->pids.limit, err);
	}
	if (r >= 0)
		r = apply_devices(cg, res, err);
	for (size_t i = 0; r >= 0 && i < res->n_hugepages; i++) {
		cleanup_free char *file =
			xasprintf("hugetlb.%s.limit_in_bytes", res->hugepages[i].page_size);

		r = put_i64(cg, "hugetlb", file, (int64_t)res->hugepages[i].limit, err);
	}
	return r;
}

/* ------------------------------------------------------------------- stats ---- */

static int stats_memory(const char *dir, struct oci_cgroup_stats *s, struct wh_err **err)
{
	int r;

	s->has_memory = true;
	r = cg_stat(dir, "memory.usage_in_bytes", &s->memory.usage, err);
	if (r >= 0)
		r = cg_stat(dir, "memory.limit_in_bytes", &s->memory.limit, err);
	if (r >= 0)
		r = cg_stat(dir, "memory.max_usage_in_bytes", &s->memory.max_usage, err);
	if (r >= 0)
		r = cg_stat(dir, "memory.failcnt", &s->memory.failcnt, err);
	if (r >= 0)
		r = cg_stat_opt(dir, "memory.memsw.usage_in_bytes", &s->memory.swap_usage, err);
	if (r >= 0)
		r = cg_stat_opt(dir, "memory.memsw.limit_in_bytes", &s->memory.swap_limit, err);
	if (r >= 0)
		r = cg_stat_opt(dir, "memory.memsw.max_usage_in_bytes", &s->memory.swap_max_usage,
				err);
	if (r >= 0)
		r = cg_stat_opt(dir, "memory.memsw.failcnt", &s->memory.swap_failcnt, err);
	if (r >= 0)
		r = cg_stat_opt(dir, "memory.kmem.usage_in_bytes", &s->memory.kernel_usage, err);
	if (r >= 0)
		r = cg_stat_opt(dir, "memory.kmem.limit_in_bytes", &s->memory.kernel_limit, err);
	if (r >= 0)
		r = cg_stat_opt(dir, "memory.kmem.max_usage_in_bytes", &s->memory.kernel_max_usage,
				err);
	if (r >= 0)
		r = cg_stat_opt(dir, "memory.kmem.failcnt", &s->memory.kernel_failcnt, err);
	if (r < 0)
		return r;
	r = cg_read_kv(dir, "memory.stat", &s->memory.stat, &s->memory.n_stat);
	if (r < 0)
		return wh_err_set(err, r, "read '%s/memory.stat'", dir);
	return 0;
}

static int stats_cpuacct(const char *dir, struct oci_cgroup_stats *s, struct wh_err **err)
{
	cleanup_free char *percpu = NULL;
	struct oci_stat_kv *kv = NULL;
	size_t n = 0, cap = 0;
	long hz = sysconf(_SC_CLK_TCK);
	char *save = NULL;
	int r;

	r = cg_stat(dir, "cpuacct.usage", &s->cpu.usage_ns, err);
	if (r < 0)
		return r;
	r = cg_read(dir, "cpuacct.usage_percpu", &percpu);
	if (r < 0)
		return wh_err_set(err, r, "read '%s/cpuacct.usage_percpu'", dir);
	for (char *t = strtok_r(percpu, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		uint64_t v;

		if (parse_u64(t, &v) < 0)
			continue;
		xgrow((void **)&s->cpu.per_cpu_ns, &cap, s->cpu.n_per_cpu + 1, sizeof(uint64_t));
		s->cpu.per_cpu_ns[s->cpu.n_per_cpu++] = v;
	}
	r = cg_read_kv(dir, "cpuacct.stat", &kv, &n);
	if (r < 0)
		return wh_err_set(err, r, "read '%s/cpuacct.stat'", dir);
	if (hz <= 0)
		hz = 100;
	/* cpuacct.stat counts USER_HZ ticks. */
	s->cpu.user_ns = cg_kv_get(kv, n, "user") * (1000000000ULL / (uint64_t)hz);
	s->cpu.system_ns = cg_kv_get(kv, n, "system") * (1000000000ULL / (uint64_t)hz);
	cg_kv_free(kv, n);
	return 0;
}

static int read_blkio(const char *dir, const char *base, struct oci_blkio_entry **ret,
		      size_t *ret_n, struct wh_err **err)
{
	cleanup_free char *rec = xasprintf("%s_recursive", base), *s = NULL;
	const char *file = cg_file_exists(dir, rec) ? rec : base;
	size_t cap = 0;
	char *save = NULL;
	int r = cg_read(dir, file, &s);

	if (r < 0)
		return wh_err_set(err, r, "read '%s/%s'", dir, file);
	for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		unsigned long long maj, min, v;
		char op[16];

		/* "8:0 Read 4096"; the closing "Total N" line has no device. */
		if (sscanf(l, "%llu:%llu %15s %llu", &maj, &min, op, &v) != 4)
			continue;
		xgrow((void **)ret, &cap, *ret_n + 1, sizeof(**ret));
		(*ret)[(*ret_n)++] = (struct oci_blkio_entry){maj, min, xstrdup(op), v};
	}
	return 0;
}

static int stats_hugetlb(const char *dir, struct oci_cgroup_stats *s, struct wh_err **err)
{
	cleanup_closedir DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	if (!d)
		return wh_err_set(err, errno, "open '%s'", dir);
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		cleanup_free char *size = NULL, *max = NULL, *fc = NULL;
		struct oci_hugetlb_stat *h;
		size_t n;
		int r;

		if (!str_startswith(name, "hugetlb.") || !str_endswith(name, ".usage_in_bytes") ||
		    strstr(name, ".rsvd."))
			continue;
		n = strlen(name) - strlen("hugetlb.") - strlen(".usage_in_bytes");
		size = xstrndup(name + strlen("hugetlb."), n);
		xgrow((void **)&s->hugetlb, &cap, s->n_hugetlb + 1, sizeof(*s->hugetlb));
		h = &s->hugetlb[s->n_hugetlb++];
		*h = (struct oci_hugetlb_stat){.page_size = xstrdup(size)};
		max = xasprintf("hugetlb.%s.max_usage_in_bytes", size);
		fc = xasprintf("hugetlb.%s.failcnt", size);
		r = cg_stat(dir, name, &h->usage, err);
		if (r >= 0)
			r = cg_stat_opt(dir, max, &h->max, err);
		if (r >= 0)
			r = cg_stat_opt(dir, fc, &h->failcnt, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int cg1_stats(const struct oci_cgroup *cg, struct oci_cgroup_stats *s, struct wh_err **err)
{
	const char *dir;
	int r;

	if ((dir = oci_cgroup_dir(cg, "memory"))) {
		r = stats_memory(dir, s, err);
		if (r < 0)
			return r;
	}
	if ((dir = oci_cgroup_dir(cg, "cpuacct"))) {
		s->has_cpu = true;
		r = stats_cpuacct(dir, s, err);
		if (r < 0)
			return r;
	}
	if ((dir = oci_cgroup_dir(cg, "cpu")) && cg_file_exists(dir, "cpu.stat")) {
		struct oci_stat_kv *kv = NULL;
		size_t n = 0;

		s->has_cpu = true;
		r = cg_read_kv(dir, "cpu.stat", &kv, &n);
		if (r < 0)
			return wh_err_set(err, r, "read '%s/cpu.stat'", dir);
		s->cpu.nr_periods = cg_kv_get(kv, n, "nr_periods");
		s->cpu.nr_throttled = cg_kv_get(kv, n, "nr_throttled");
		s->cpu.throttled_ns = cg_kv_get(kv, n, "throttled_time");
		cg_kv_free(kv, n);
	}
	if ((dir = oci_cgroup_dir(cg, "pids"))) {
		s->has_pids = true;
		r = cg_stat(dir, "pids.current", &s->pids.current, err);
		if (r >= 0)
			r = cg_stat(dir, "pids.max", &s->pids.limit, err);
		if (r < 0)
			return r;
		if (s->pids.limit == UINT64_MAX)
			s->pids.limit = 0;
	}
	if ((dir = oci_cgroup_dir(cg, "blkio"))) {
		s->has_blkio = true;
		r = read_blkio(dir, "blkio.throttle.io_service_bytes", &s->blkio.io_service_bytes,
			       &s->blkio.n_io_service_bytes, err);
		if (r >= 0)
			r = read_blkio(dir, "blkio.throttle.io_serviced", &s->blkio.io_serviced,
				       &s->blkio.n_io_serviced, err);
		if (r < 0)
			return r;
	}
	if ((dir = oci_cgroup_dir(cg, "hugetlb")))
		return stats_hugetlb(dir, s, err);
	return 0;
}

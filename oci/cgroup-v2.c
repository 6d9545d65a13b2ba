/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup v2 driver: checking and applying struct oci_resources to a unified hierarchy
 * (controllers from cgroup.controllers; runc's v1→v2 value conversions) and reading v2 stats.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>

#include "common/common.h"
#include "oci/cgroup-internal.h"

#define F "linux.resources"

uint64_t cg2_cpu_weight(uint64_t shares)
{
	if (shares == 0)
		return 0;
	return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t cg2_io_weight(uint16_t w)
{
	if (w == 0)
		return 0;
	return 1 + ((uint64_t)(w - 10) * 9999) / 990;
}

int cg2_swap_value(int64_t limit, bool has_limit, int64_t swap, bool has_swap, int64_t *ret,
		   bool *ret_max)
{
	if (!has_limit)
		limit = 0;
	*ret_max = false;
	if (!has_swap) {
		/* An unlimited memory limit makes swap unlimited too, as on v1. */
		if (limit == -1) {
			*ret_max = true;
			return 1;
		}
		return 0;
	}
	if (swap == -1) {
		*ret_max = true;
		return 1;
	}
	if (limit == 0 || limit == -1)
		return -EINVAL;
	if (swap < limit)
		return -ERANGE;
	*ret = swap - limit;
	return 1;
}

static int need(const struct oci_cgroup *cg, const char *ctrl, const char *file, const char *field,
		struct wh_err **err)
{
	const char *dir = cg->h[0].dir;
	cleanup_free char *why = NULL;

	if (!oci_cgroup_has_controller(cg, ctrl)) {
		why = xasprintf("the '%s' controller is not available in '%s/cgroup.controllers'",
				ctrl, dir);
		return cg_unsupported(err, field, why);
	}
	if (file && !cg_file_exists(dir, file)) {
		why = xasprintf("'%s' does not exist in this kernel", file);
		return cg_unsupported(err, field, why);
	}
	return 0;
}

static const char *io_weight_file(const struct oci_cgroup *cg)
{
	if (cg_file_exists(cg->h[0].dir, "io.weight"))
		return "io.weight";
	if (cg_file_exists(cg->h[0].dir, "io.bfq.weight"))
		return "io.bfq.weight";
	return "io.weight";
}

/*
 * The memory limit memory.swap.max is computed against: the one being set, or for an update
 * that sets only swap the current memory.max (runc passes the merged config instead).
 */
static void swap_base(const struct oci_cgroup *cg, const struct oci_resources *res, int64_t *limit,
		      bool *has)
{
	uint64_t cur;

	*limit = res->memory.limit;
	*has = res->memory.has_limit;
	if (*has || !res->memory.has_swap)
		return;
	if (cg_read_u64(cg->h[0].dir, "memory.max", &cur) < 0)
		return;
	*limit = cur == UINT64_MAX || cur > INT64_MAX ? -1 : (int64_t)cur;
	*has = true;
}

static int check_memory(const struct oci_cgroup *cg, const struct oci_resources *res,
			struct wh_err **err)
{
	const struct oci_resources *m = res;
	int64_t v, base;
	bool max, has_base;
	int r = 0;

	if (m->memory.has_limit)
		r = need(cg, "memory", "memory.max", F ".memory.limit", err);
	if (r >= 0 && m->memory.has_reservation)
		r = need(cg, "memory", "memory.low", F ".memory.reservation", err);
	if (r >= 0 && m->memory.has_swap)
		r = need(cg, "memory", "memory.swap.max", F ".memory.swap", err);
	/* kernel and kernelTCP are ignored, as runc does. */
	if (r >= 0 && m->memory.has_swappiness)
		r = cg_unsupported(err, F ".memory.swappiness", "no swappiness on cgroup v2");
	if (r >= 0 && m->memory.has_disable_oom_killer && m->memory.disable_oom_killer)
		r = cg_unsupported(err, F ".memory.disableOOMKiller",
				   "the OOM killer cannot be disabled on cgroup v2");
	if (r < 0)
		return r;
	swap_base(cg, m, &base, &has_base);
	r = cg2_swap_value(base, has_base, m->memory.swap, m->memory.has_swap, &v, &max);
	if (r == -EINVAL)
		return wh_err_setx(err, EINVAL,
				   F ".memory.swap: a swap limit needs a memory limit");
	if (r == -ERANGE)
		return wh_err_setx(err, EINVAL,
				   F ".memory.swap: memory+swap %" PRId64
				     " is below the memory limit %" PRId64,
				   m->memory.swap, base);
	return 0;
}

static int check_cpu_io(const struct oci_cgroup *cg, const struct oci_resources *res,
			struct wh_err **err)
{
	int r = 0;

	if (res->cpu.has_shares)
		r = need(cg, "cpu", "cpu.weight", F ".cpu.shares", err);
	if (r >= 0 && res->cpu.has_quota)
		r = need(cg, "cpu", "cpu.max", F ".cpu.quota", err);
	if (r >= 0 && res->cpu.has_period)
		r = need(cg, "cpu", "cpu.max", F ".cpu.period", err);
	if (r >= 0 && res->cpu.has_realtime_runtime)
		r = cg_unsupported(err, F ".cpu.realtimeRuntime",
				   "no realtime limits on cgroup v2");
	if (r >= 0 && res->cpu.has_realtime_period)
		r = cg_unsupported(err, F ".cpu.realtimePeriod", "no realtime limits on cgroup v2");
	if (r >= 0 && res->cpu.cpus)
		r = need(cg, "cpuset", "cpuset.cpus", F ".cpu.cpus", err);
	if (r >= 0 && res->cpu.mems)
		r = need(cg, "cpuset", "cpuset.mems", F ".cpu.mems", err);
	if (r >= 0 && res->blkio.has_weight)
		r = need(cg, "io", io_weight_file(cg), F ".blockIO.weight", err);
	if (r >= 0 && res->blkio.has_leaf_weight)
		r = cg_unsupported(err, F ".blockIO.leafWeight", "no leaf weight on cgroup v2");
	if (r >= 0 && res->blkio.n_weight_devices)
		r = need(cg, "io", io_weight_file(cg), F ".blockIO.weightDevice", err);
	if (r >= 0 && (res->blkio.n_throttle_read_bps || res->blkio.n_throttle_write_bps ||
		       res->blkio.n_throttle_read_iops || res->blkio.n_throttle_write_iops))
		r = need(cg, "io", "io.max", F ".blockIO.throttle*Device", err);
	return r;
}

static int check_unified(const struct oci_cgroup *cg, const struct oci_resources *res,
			 struct wh_err **err)
{
	for (char **p = res->unified; p && p[0] && p[1]; p += 2) {
		cleanup_free char *field = xasprintf(F ".unified.%s", p[0]);
		cleanup_free char *ctrl = xstrndup(p[0], strcspn(p[0], "."));
		int r;

		if (!strchr(p[0], '.'))
			return wh_err_setx(err, EINVAL, "%s: not a cgroup file name", field);
		if (streq(ctrl, "cgroup")) {
			if (!cg_file_exists(cg->h[0].dir, p[0]))
				return cg_unsupported(err, field, "no such cgroup file");
			continue;
		}
		r = need(cg, ctrl, p[0], field, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int cg2_check(const struct oci_cgroup *cg, const struct oci_resources *res, struct wh_err **err)
{
	int r = check_memory(cg, res, err);

	if (r >= 0)
		r = check_cpu_io(cg, res, err);
	if (r >= 0 && res->pids.has_limit)
		r = need(cg, "pids", "pids.max", F ".pids.limit", err);
	for (size_t i = 0; r >= 0 && i < res->n_hugepages; i++) {
		cleanup_free char *file = xasprintf("hugetlb.%s.max", res->hugepages[i].page_size);
		cleanup_free char *field = xasprintf(F ".hugepageLimits[%zu]", i);

		r = need(cg, "hugetlb", file, field, err);
	}
	if (r >= 0)
		r = check_unified(cg, res, err);
	return r;
}

/* ------------------------------------------------------------------- apply ---- */

static int put(const struct oci_cgroup *cg, const char *file, const char *v, struct wh_err **err)
{
	int r = cg_write(cg->h[0].dir, file, v);

	if (r < 0)
		return wh_err_set(err, r, "write '%s' to '%s/%s'", v, cg->h[0].dir, file);
	return 0;
}

/* -1 → "max". */
static int put_limit(const struct oci_cgroup *cg, const char *file, int64_t v, struct wh_err **err)
{
	char buf[24];

	if (v < 0)
		return put(cg, file, "max", err);
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return put(cg, file, buf, err);
}

static int apply_memory(const struct oci_cgroup *cg, const struct oci_resources *res,
			struct wh_err **err)
{
	int64_t swap = 0, base;
	bool max = false, has_base;
	int r = 0, w;

	swap_base(cg, res, &base, &has_base);
	w = cg2_swap_value(base, has_base, res->memory.swap, res->memory.has_swap, &swap, &max);
	if (w == 1 && cg_file_exists(cg->h[0].dir, "memory.swap.max"))
		r = put_limit(cg, "memory.swap.max", max ? -1 : swap, err);
	if (r >= 0 && res->memory.has_limit)
		r = put_limit(cg, "memory.max", res->memory.limit, err);
	if (r >= 0 && res->memory.has_reservation)
		r = put_limit(cg, "memory.low", res->memory.reservation, err);
	return r;
}

static int apply_cpu_max(const struct oci_cgroup *cg, const struct oci_resources *res,
			 struct wh_err **err)
{
	cleanup_free char *cur = NULL;
	char quota[24] = "max", buf[64];
	unsigned long long period = 100000;
	int r;

	/* Keep the half of cpu.max that is not being set. */
	r = cg_read(cg->h[0].dir, "cpu.max", &cur);
	if (r < 0)
		return wh_err_set(err, r, "read '%s/cpu.max'", cg->h[0].dir);
	if (sscanf(cur, "%23s %llu", quota, &period) != 2)
		return wh_err_setx(err, EBADMSG, "'%s/cpu.max': unexpected '%s'", cg->h[0].dir,
				   cur);
	if (res->cpu.has_quota) {
		if (res->cpu.quota < 0)
			snprintf(quota, sizeof(quota), "max");
		else
			snprintf(quota, sizeof(quota), "%" PRId64, res->cpu.quota);
	}
	if (res->cpu.has_period)
		period = res->cpu.period;
	snprintf(buf, sizeof(buf), "%s %llu", quota, period);
	return put(cg, "cpu.max", buf, err);
}

static int put_io_list(const struct oci_cgroup *cg, const char *key,
		       const struct oci_blkio_device *d, size_t n, struct wh_err **err)
{
	for (size_t i = 0; i < n; i++) {
		char buf[96];
		int r;

		snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %s=%" PRIu64, d[i].major,
			 d[i].minor, key, d[i].rate);
		r = put(cg, "io.max", buf, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_io(const struct oci_cgroup *cg, const struct oci_resources *res,
		    struct wh_err **err)
{
	const char *wf = io_weight_file(cg);
	bool bfq = streq(wf, "io.bfq.weight");
	char buf[96];
	int r = 0;

	if (res->blkio.has_weight) {
		/* BFQ takes the v1 range (1-1000); io.weight the v2 one (1-10000). */
		snprintf(buf, sizeof(buf), "default %" PRIu64,
			 bfq ? (uint64_t)res->blkio.weight : cg2_io_weight(res->blkio.weight));
		r = put(cg, wf, buf, err);
	}
	for (size_t i = 0; r >= 0 && i < res->blkio.n_weight_devices; i++) {
		const struct oci_blkio_device *d = &res->blkio.weight_devices[i];

		if (!d->has_weight)
			continue;
		snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %" PRIu64, d->major, d->minor,
			 bfq ? (uint64_t)d->weight : cg2_io_weight(d->weight));
		r = put(cg, wf, buf, err);
	}
	if (r >= 0)
		r = put_io_list(cg, "rbps", res->blkio.throttle_read_bps,
				res->blkio.n_throttle_read_bps, err);
	if (r >= 0)
		r = put_io_list(cg, "wbps", res->blkio.throttle_write_bps,
				res->blkio.n_throttle_write_bps, err);
	if (r >= 0)
		r = put_io_list(cg, "riops", res->blkio.throttle_read_iops,
				res->blkio.n_throttle_read_iops, err);
	if (r >= 0)
		r = put_io_list(cg, "wiops", res->blkio.throttle_write_iops,
				res->blkio.n_throttle_write_iops, err);
	return r;
}

int cg2_apply(const struct oci_cgroup *cg, const struct oci_resources *res, struct wh_err **err)
{
	int r = 0;

	/* First: the one step the kernel may refuse as a whole (no BPF), before any write. */
	if (res->n_devices)
		r = cg_bpf_devices_apply(cg->h[0].dir, res->devices, res->n_devices, err);
	if (r >= 0)
		r = apply_memory(cg, res, err);

	if (r >= 0 && res->cpu.has_shares)
		r = put_limit(cg, "cpu.weight", (int64_t)cg2_cpu_weight(res->cpu.shares), err);
	if (r >= 0 && (res->cpu.has_quota || res->cpu.has_period))
		r = apply_cpu_max(cg, res, err);
	if (r >= 0 && res->cpu.cpus)
		r = put(cg, "cpuset.cpus", res->cpu.cpus, err);
	if (r >= 0 && res->cpu.mems)
		r = put(cg, "cpuset.mems", res->cpu.mems, err);
	if (r >= 0)
		r = apply_io(cg, res, err);
	if (r >= 0 && res->pids.has_limit)
		r = put_limit(cg, "pids.max", res->pids.limit, err);
	for (size_t i = 0; r >= 0 && i < res->n_hugepages; i++) {
		cleanup_free char *file = xasprintf("hugetlb.%s.max", res->hugepages[i].page_size);

		r = put_limit(cg, file, (int64_t)res->hugepages[i].limit, err);
	}
	for (char **p = res->unified; r >= 0 && p && p[0] && p[1]; p += 2)
		r = put(cg, p[0], p[1], err);
	return r;
}

/* ------------------------------------------------------------------- stats ---- */

static int stats_memory(const char *dir, struct oci_cgroup_stats *s, struct wh_err **err)
{
	int r;

	s->has_memory = true;
	r = cg_stat(dir, "memory.current", &s->memory.usage, err);
	if (r >= 0)
		r = cg_stat(dir, "memory.max", &s->memory.limit, err);
	if (r >= 0)
		r = cg_stat_opt(dir, "memory.peak", &s->memory.max_usage, err);
	if (r >= 0)
		r = cg_stat_opt(dir, "memory.swap.current", &s->memory.swap_usage, err);
	if (r >= 0)
		r = cg_stat_opt(dir, "memory.swap.max", &s->memory.swap_limit, err);
	if (r < 0)
		return r;
	r = cg_read_kv(dir, "memory.stat", &s->memory.stat, &s->memory.n_stat);
	if (r >= 0)
		r = cg_read_kv(dir, "memory.events", &s->memory.events, &s->memory.n_events);
	if (r < 0)
		return wh_err_set(err, r, "read '%s/memory.stat|events'", dir);
	s->memory.failcnt = cg_kv_get(s->memory.events, s->memory.n_events, "max");
	return 0;
}

static int stats_cpu(const char *dir, struct oci_cgroup_stats *s, struct wh_err **err)
{
	struct oci_stat_kv *kv = NULL;
	size_t n = 0;
	int r = cg_read_kv(dir, "cpu.stat", &kv, &n);

	if (r < 0)
		return wh_err_set(err, r, "read '%s/cpu.stat'", dir);
	s->has_cpu = true;
	s->cpu.usage_ns = cg_kv_get(kv, n, "usage_usec") * 1000;
	s->cpu.user_ns = cg_kv_get(kv, n, "user_usec") * 1000;
	s->cpu.system_ns = cg_kv_get(kv, n, "system_usec") * 1000;
	s->cpu.nr_periods = cg_kv_get(kv, n, "nr_periods");
	s->cpu.nr_throttled = cg_kv_get(kv, n, "nr_throttled");
	s->cpu.throttled_ns = cg_kv_get(kv, n, "throttled_usec") * 1000;
	cg_kv_free(kv, n);
	return 0;
}

static void push_entry(struct oci_blkio_entry **v, size_t *n, size_t *cap, uint64_t maj,
		       uint64_t min, const char *op, uint64_t value)
{
	xgrow((void **)v, cap, *n + 1, sizeof(**v));
	(*v)[(*n)++] = (struct oci_blkio_entry){maj, min, xstrdup(op), value};
}

static int stats_io(const char *dir, struct oci_cgroup_stats *s, struct wh_err **err)
{
	cleanup_free char *text = NULL;
	size_t cap_b = 0, cap_s = 0;
	char *save = NULL;
	int r = cg_read(dir, "io.stat", &text);

	if (r < 0)
		return wh_err_set(err, r, "read '%s/io.stat'", dir);
	s->has_blkio = true;
	/* "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" */
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		unsigned long long maj, min;
		char *save2 = NULL, *t;
		int off = 0;

		if (sscanf(l, "%llu:%llu %n", &maj, &min, &off) < 2)
			continue;
		for (t = strtok_r(l + off, " ", &save2); t; t = strtok_r(NULL, " ", &save2)) {
			char *eq = strchr(t, '=');
			uint64_t v;

			if (!eq)
				continue;
			*eq = 0;
			if (parse_u64(eq + 1, &v) < 0)
				continue;
			if (str_endswith(t, "bytes"))
				push_entry(&s->blkio.io_service_bytes, &s->blkio.n_io_service_bytes,
					   &cap_b, maj, min, t, v);
			else if (str_endswith(t, "ios"))
				push_entry(&s->blkio.io_serviced, &s->blkio.n_io_serviced, &cap_s,
					   maj, min, t, v);
		}
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
		cleanup_free char *size = NULL, *max = NULL, *events = NULL;
		struct oci_hugetlb_stat *h;
		struct oci_stat_kv *kv = NULL;
		size_t n, nkv = 0;
		int r;

		if (!str_startswith(name, "hugetlb.") || !str_endswith(name, ".current") ||
		    strstr(name, ".rsvd."))
			continue;
		n = strlen(name) - strlen("hugetlb.") - strlen(".current");
		size = xstrndup(name + strlen("hugetlb."), n);
		xgrow((void **)&s->hugetlb, &cap, s->n_hugetlb + 1, sizeof(*s->hugetlb));
		h = &s->hugetlb[s->n_hugetlb++];
		*h = (struct oci_hugetlb_stat){.page_size = xstrdup(size)};
		max = xasprintf("hugetlb.%s.max", size);
		events = xasprintf("hugetlb.%s.events", size);
		r = cg_stat(dir, name, &h->usage, err);
		if (r >= 0)
			r = cg_stat_opt(dir, max, &h->max, err);
		if (r < 0)
			return r;
		if (cg_read_kv(dir, events, &kv, &nkv) >= 0) {
			h->failcnt = cg_kv_get(kv, nkv, "max");
			cg_kv_free(kv, nkv);
		}
	}
	return 0;
}

int cg2_stats(const struct oci_cgroup *cg, struct oci_cgroup_stats *s, struct wh_err **err)
{
	const char *dir = cg->h[0].dir;
	int r = 0;

	if (oci_cgroup_has_controller(cg, "memory"))
		r = stats_memory(dir, s, err);
	/* cpu.stat's usage lines exist without the cpu controller too. */
	if (r >= 0 && cg_file_exists(dir, "cpu.stat"))
		r = stats_cpu(dir, s, err);
	if (r >= 0 && oci_cgroup_has_controller(cg, "pids")) {
		s->has_pids = true;
		r = cg_stat(dir, "pids.current", &s->pids.current, err);
		if (r >= 0)
			r = cg_stat(dir, "pids.max", &s->pids.limit, err);
		if (r >= 0 && s->pids.limit == UINT64_MAX)
			s->pids.limit = 0;
	}
	if (r >= 0 && oci_cgroup_has_controller(cg, "io"))
		r = stats_io(dir, s, err);
	if (r >= 0 && oci_cgroup_has_controller(cg, "hugetlb"))
		r = stats_hugetlb(dir, s, err);
	return r;
}

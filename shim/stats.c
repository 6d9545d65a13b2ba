/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stats: the container's cgroup read through liboci's cgroup half and encoded as containerd's
 * io.containerd.cgroups.v1.Metrics or io.containerd.cgroups.v2.Metrics (PROTOCOLS.md 3.2). The
 * memory.stat keys are matched to the message fields by name, as containerd's cgroups library
 * does (pgpgin is pg_pg_in on v1 and so on).
 */
#include <errno.h>

#include "oci/cgroup.h"
#include "proto/cgroups/v1/metrics.pb-c.h"
#include "proto/cgroups/v2/metrics.pb-c.h"
#include "shim/service.h"

#define V1(x) Io__Containerd__Cgroups__V1__##x
#define V2(x) Io__Containerd__Cgroups__V2__##x

static const char *const v1_renames[][2] = {
	{"pgpgin", "pg_pg_in"},
	{"pgpgout", "pg_pg_out"},
	{"pgfault", "pg_fault"},
	{"pgmajfault", "pg_maj_fault"},
	{"hierarchical_memsw_limit", "hierarchical_swap_limit"},
};

/* Sets the uint64 field named key (after the v1 renames) of msg, if there is one. */
static void set_by_name(ProtobufCMessage *msg, const char *key, uint64_t value, bool v1)
{
	char name[128];
	const char *k = key;
	const char *prefix = "";
	if (v1 && str_startswith(k, "total_")) {
		prefix = "total_";
		k += 6;
	}
	for (size_t i = 0; v1 && i < ARRAY_SIZE(v1_renames); i++)
		if (streq(k, v1_renames[i][0]))
			k = v1_renames[i][1];
	snprintf(name, sizeof(name), "%s%s", prefix, k);
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
	if (f && f->type == PROTOBUF_C_TYPE_UINT64 && f->label != PROTOBUF_C_LABEL_REPEATED)
		*(uint64_t *)((char *)msg + f->offset) = value;
}

static void pack_any(const ProtobufCMessage *m, Google__Protobuf__Any *ret)
{
	ret->type_url = (char *)m->descriptor->name;
	ret->value.len = protobuf_c_message_get_packed_size(m);
	ret->value.data = xmalloc(ret->value.len + 1);
	protobuf_c_message_pack(m, ret->value.data);
}

static void encode_v1(const struct oci_cgroup_stats *st, Google__Protobuf__Any *ret)
{
	V1(Metrics) m = IO__CONTAINERD__CGROUPS__V1__METRICS__INIT;
	V1(PidsStat) pids = IO__CONTAINERD__CGROUPS__V1__PIDS_STAT__INIT;
	V1(CPUStat) cpu = IO__CONTAINERD__CGROUPS__V1__CPUSTAT__INIT;
	V1(CPUUsage) usage = IO__CONTAINERD__CGROUPS__V1__CPUUSAGE__INIT;
	V1(Throttle) thr = IO__CONTAINERD__CGROUPS__V1__THROTTLE__INIT;
	V1(MemoryStat) mem = IO__CONTAINERD__CGROUPS__V1__MEMORY_STAT__INIT;
	V1(MemoryEntry) mu = IO__CONTAINERD__CGROUPS__V1__MEMORY_ENTRY__INIT, ms = mu, mk = mu;
	if (st->has_pids) {
		pids.current = st->pids.current;
		pids.limit = st->pids.limit;
		m.pids = &pids;
	}
	if (st->has_cpu) {
		usage.total = st->cpu.usage_ns;
		usage.kernel = st->cpu.system_ns;
		usage.user = st->cpu.user_ns;
		usage.n_per_cpu = st->cpu.n_per_cpu;
		usage.per_cpu = st->cpu.per_cpu_ns;
		thr.periods = st->cpu.nr_periods;
		thr.throttled_periods = st->cpu.nr_throttled;
		thr.throttled_time = st->cpu.throttled_ns;
		cpu.usage = &usage;
		cpu.throttling = &thr;
		m.cpu = &cpu;
	}
	if (st->has_memory) {
		for (size_t i = 0; i < st->memory.n_stat; i++)
			set_by_name(&mem.base, st->memory.stat[i].key, st->memory.stat[i].value,
				    true);
		mu = (V1(MemoryEntry)){mu.base, st->memory.limit, st->memory.usage,
				       st->memory.max_usage, st->memory.failcnt};
		ms = (V1(MemoryEntry)){ms.base, st->memory.swap_limit, st->memory.swap_usage,
				       st->memory.swap_max_usage, st->memory.swap_failcnt};
		mk = (V1(MemoryEntry)){mk.base, st->memory.kernel_limit, st->memory.kernel_usage,
				       st->memory.kernel_max_usage, st->memory.kernel_failcnt};
		mem.usage = &mu;
		mem.swap = &ms;
		mem.kernel = &mk;
		m.memory = &mem;
	}
	V1(HugetlbStat) *h = xnew0(V1(HugetlbStat), st->n_hugetlb + 1);
	V1(HugetlbStat) **hp = xnew0(V1(HugetlbStat) *, st->n_hugetlb + 1);
	for (size_t i = 0; i < st->n_hugetlb; i++) {
		h[i] = (V1(HugetlbStat))IO__CONTAINERD__CGROUPS__V1__HUGETLB_STAT__INIT;
		h[i].usage = st->hugetlb[i].usage;
		h[i].max = st->hugetlb[i].max;
		h[i].failcnt = st->hugetlb[i].failcnt;
		h[i].pagesize = st->hugetlb[i].page_size;
		hp[i] = &h[i];
	}
	m.n_hugetlb = st->n_hugetlb;
	m.hugetlb = hp;
	pack_any(&m.base, ret);
	free(hp);
	free(h);
}

static void encode_v2(const struct oci_cgroup_stats *st, Google__Protobuf__Any *ret)
{
	V2(Metrics) m = IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
	V2(PidsStat) pids = IO__CONTAINERD__CGROUPS__V2__PIDS_STAT__INIT;
	V2(CPUStat) cpu = IO__CONTAINERD__CGROUPS__V2__CPUSTAT__INIT;
	V2(MemoryStat) mem = IO__CONTAINERD__CGROUPS__V2__MEMORY_STAT__INIT;
	V2(MemoryEvents) mev = IO__CONTAINERD__CGROUPS__V2__MEMORY_EVENTS__INIT;
	if (st->has_pids) {
		pids.current = st->pids.current;
		pids.limit = st->pids.limit;
		m.pids = &pids;
	}
	if (st->has_cpu) {
		cpu.usage_usec = st->cpu.usage_ns / 1000;
		cpu.user_usec = st->cpu.user_ns / 1000;
		cpu.system_usec = st->cpu.system_ns / 1000;
		cpu.nr_periods = st->cpu.nr_periods;
		cpu.nr_throttled = st->cpu.nr_throttled;
		cpu.throttled_usec = st->cpu.throttled_ns / 1000;
		m.cpu = &cpu;
	}
	if (st->has_memory) {
		for (size_t i = 0; i < st->memory.n_stat; i++)
			set_by_name(&mem.base, st->memory.stat[i].key, st->memory.stat[i].value,
				    false);
		mem.usage = st->memory.usage;
		mem.usage_limit = st->memory.limit;
		mem.swap_usage = st->memory.swap_usage;
		mem.swap_limit = st->memory.swap_limit;
		m.memory = &mem;
		for (size_t i = 0; i < st->memory.n_events; i++)
			set_by_name(&mev.base, st->memory.events[i].key, st->memory.events[i].value,
				    false);
		m.memory_events = &mev;
	}
	pack_any(&m.base, ret);
}

int shim_stats(struct container *c, Google__Protobuf__Any *ret, struct wh_err **err)
{
	if (!c->cgroup_path)
		return wh_err_setx(err, ENOENT,
				   "stats '%s': the container has no cgroup (not started)", c->id);
	struct oci_cgroup *cg = NULL;
	int r = oci_cgroup_open(c->cgroup_path, NULL, &cg, err);
	if (r < 0)
		return wh_err_wrap(err, r, "stats '%s'", c->id);
	struct oci_cgroup_stats st = {0};
	r = oci_cgroup_stats(cg, &st, err);
	if (r >= 0) {
		if (oci_cgroup_mode(cg) == OCI_CGROUP_MODE_V2)
			encode_v2(&st, ret);
		else
			encode_v1(&st, ret);
	}
	oci_cgroup_stats_release(&st);
	oci_cgroup_free(cg);
	return r < 0 ? wh_err_wrap(err, r, "stats '%s'", c->id) : 0;
}

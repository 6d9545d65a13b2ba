/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared between oci/cgroup*.c only: the handle's layout, the per-version drivers and small
 * file helpers. No other file includes this.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci/cgroup.h"

/* One v1 hierarchy (or the single v2 one). */
struct cg_hier {
	char *ctrls; /* directory name under root: "memory", "cpu,cpuacct", "systemd"; v2: NULL */
	char *dir;   /* the container's cgroup directory in it */
};

struct oci_cgroup {
	enum oci_cgroup_mode mode; /* V1 (also for hybrid hosts) or V2 */
	bool hybrid;
	char *root;
	char *path;
	struct cg_hier *h;
	size_t n_h;
};

/* ---- cgroup.c: file helpers (leaf: -errno, no err object) ---- */
/* Writes s to dir/file (O_WRONLY|O_TRUNC|O_CLOEXEC, no O_CREAT, one write). */
int cg_write(const char *dir, const char *file, const char *s);
/* Reads dir/file (at most 1 MiB) with the trailing newline stripped. Caller frees. */
int cg_read(const char *dir, const char *file, char **ret);
/* Reads a single number; "max" gives UINT64_MAX. */
int cg_read_u64(const char *dir, const char *file, uint64_t *ret);
/* Parses "key value" lines into a kv array (appending). */
int cg_read_kv(const char *dir, const char *file, struct oci_stat_kv **ret, size_t *ret_n);
/* Looks key up in a kv array; 0 when absent. */
uint64_t cg_kv_get(const struct oci_stat_kv *kv, size_t n, const char *key);
void cg_kv_free(struct oci_stat_kv *kv, size_t n);
bool cg_file_exists(const char *dir, const char *file);
/* Stats: cg_read_u64 with an error naming dir/file; _opt leaves *ret alone when file is absent. */
int cg_stat(const char *dir, const char *file, uint64_t *ret, struct wh_err **err);
int cg_stat_opt(const char *dir, const char *file, uint64_t *ret, struct wh_err **err);
/* The hierarchy whose comma-separated name list holds ctrl, or NULL. */
const struct cg_hier *cg_find(const struct oci_cgroup *cg, const char *ctrl);

/* Sets an error for a resource field that cannot be honoured. Returns -EOPNOTSUPP. */
int cg_unsupported(struct wh_err **err, const char *field, const char *why);

/* ---- drivers ---- */
/* Checks every set field can be honoured, writing nothing. */
int cg1_check(const struct oci_cgroup *cg, const struct oci_resources *res, struct wh_err **err);
int cg1_apply(const struct oci_cgroup *cg, const struct oci_resources *res, struct wh_err **err);
int cg1_stats(const struct oci_cgroup *cg, struct oci_cgroup_stats *ret, struct wh_err **err);
int cg2_check(const struct oci_cgroup *cg, const struct oci_resources *res, struct wh_err **err);
int cg2_apply(const struct oci_cgroup *cg, const struct oci_resources *res, struct wh_err **err);
int cg2_stats(const struct oci_cgroup *cg, struct oci_cgroup_stats *ret, struct wh_err **err);

/* ---- cgroup-bpf.c: v2 device rules as a BPF_PROG_TYPE_CGROUP_DEVICE program ---- */
struct bpf_insn;
/* Compiles rules (v1 list semantics) into a program; caller frees *ret. -ERANGE/-E2BIG. */
int cg_bpf_device_program(const struct oci_device_rule *rules, size_t n, struct bpf_insn **ret,
			  size_t *ret_n);
/* Loads the program and attaches it to the cgroup directory dir, replacing earlier ones. */
int cg_bpf_devices_apply(const char *dir, const struct oci_device_rule *rules, size_t n,
			 struct wh_err **err);
/* The number of device programs attached to dir (for tests), or -errno. */
int cg_bpf_device_count(const char *dir);

/* The v2 conversions runc uses (runtime-spec values are v1-shaped). */
uint64_t cg2_cpu_weight(uint64_t shares);
uint64_t cg2_io_weight(uint16_t blkio_weight);
/* memory.swap.max from spec limit and swap (memory+swap); -EINVAL when inconsistent; 1 when
 * *ret is to be written ("max" when *ret_max), 0 when nothing is to be written. */
int cg2_swap_value(int64_t limit, bool has_limit, int64_t swap, bool has_swap, int64_t *ret,
		   bool *ret_max);

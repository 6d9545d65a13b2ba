/* SPDX-License-Identifier: Apache-2.0 */
/*
 * liboci's cgroup half: `linux.resources` parsing into struct oci_resources and the cgroup of a
 * container, with a v1 driver (one hierarchy per controller under <root>/<controller>) and a v2
 * driver (one unified hierarchy), picked at run time.
 *
 * Lifecycle as used by the runtime:
 *
 *   oci_resources_parse(spec.linux.resources)          before anything is created
 *   oci_cgroup_create(spec.linux.cgroupsPath, id, ...)  mkdir in every hierarchy
 *   oci_cgroup_apply(cg, &res)                          checks everything first, then writes
 *   oci_cgroup_enter(cg, init_pid)                      before the init runs user code
 *   save oci_cgroup_path(cg) in the container state;    later: oci_cgroup_open(path, ...)
 *   oci_cgroup_freeze / _thaw / _pids / _stats / _kill / _apply (update)
 *   oci_cgroup_destroy(cg)                              kills what is left, rmdirs everywhere
 *
 * Paths. A cgroup is named by one path inside the hierarchy ("/wharf/abc"), the same under every
 * v1 controller. cgroupsPath absolute: used as is. Relative or absent (absent means the
 * container id): joined to the calling process's own cgroup (runc's rule). runc resolves this
 * per controller; one path is used here for all, taken on v1 from the "name=systemd" line of
 * /proc/self/cgroup (else "memory", else the first line), on v2 from the "0::" line.
 * systemd style "slice:prefix:name" (detected by two ':' and no leading '/') is mapped to the
 * cgroupfs path systemd would use: slice "a-b.slice" expands to "/a.slice/a-b.slice" (empty
 * slice: "system.slice"), unit "<prefix>-<name>.scope"; no systemd unit is created.
 *
 * Modes. oci_cgroup_detect_mode() tells v1, hybrid (v1 controllers plus a cgroup2 at
 * <root>/unified, as on this build host) or v2 (cgroup2 mounted at <root>). Hybrid hosts use the
 * v1 driver, as runc does, and the cgroup is also made (and the pid joined) in the unified
 * hierarchy, without controllers, as runc does.
 *
 * Errors follow common/err.h. A resource that cannot be honoured (the controller is not mounted
 * on v1, not in cgroup.controllers on v2, or the field does not exist in that version) fails
 * with -EOPNOTSUPP naming the spec field and the controller, before any file is written.
 * None of these functions log, fork or keep fds open between calls.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include <sys/types.h>

struct wh_err;

/* ---------------------------------------------------------------- resources (pure) ---- */

/* One device cgroup rule (linux.resources.devices[]): devices.allow/deny lines on v1, a
 * BPF_PROG_TYPE_CGROUP_DEVICE program on v2. */
struct oci_device_rule {
	bool allow;
	char type;	/* 'a', 'c' or 'b' */
	int64_t major;	/* -1 for '*' */
	int64_t minor;	/* -1 for '*' */
	char access[4]; /* subset of "rwm", in that order, NUL-terminated */
};

/* One linux.resources.blockIO.weightDevice[] / throttle*Device[] entry. */
struct oci_blkio_device {
	int64_t major, minor;
	bool has_weight, has_leaf_weight;
	uint16_t weight, leaf_weight;
	uint64_t rate; /* throttle entries only */
};

/* One linux.resources.hugepageLimits[] entry. */
struct oci_hugepage_limit {
	char *page_size; /* "2MB", "1GB" ... as in the hugetlb.<size>.* file names */
	uint64_t limit;
};

/*
 * The parsed `linux.resources` (also the body of `runc update -r file`). Every value has a
 * has_* flag: unset fields are never written, so the same struct serves create and update.
 * memory.kernel and memory.kernelTCP are parsed but never applied, as runc 1.1 does (the kernel
 * ignores kmem limits).
 * Memory values are bytes; -1 means unlimited ("max"). cpu.quota -1 also means unlimited.
 */
struct oci_resources {
	struct {
		bool has_limit, has_reservation, has_swap, has_kernel, has_kernel_tcp,
			has_swappiness, has_disable_oom_killer;
		int64_t limit, reservation, swap, kernel, kernel_tcp;
		uint64_t swappiness;
		bool disable_oom_killer;
	} memory;
	struct {
		bool has_shares, has_quota, has_period, has_realtime_runtime, has_realtime_period;
		uint64_t shares;
		int64_t quota;
		uint64_t period;
		int64_t realtime_runtime;
		uint64_t realtime_period;
		char *cpus; /* cpuset list "0-1,3", NULL when unset */
		char *mems; /* NULL when unset */
	} cpu;
	struct {
		bool has_limit;
		int64_t limit; /* < 0 means unlimited ("max"); 0 is "not set", as in runc */
	} pids;
	struct {
		bool has_weight, has_leaf_weight;
		uint16_t weight, leaf_weight;
		struct oci_blkio_device *weight_devices;
		size_t n_weight_devices;
		struct oci_blkio_device *throttle_read_bps, *throttle_write_bps,
			*throttle_read_iops, *throttle_write_iops;
		size_t n_throttle_read_bps, n_throttle_write_bps, n_throttle_read_iops,
			n_throttle_write_iops;
	} blkio;
	struct oci_device_rule *devices;
	size_t n_devices;
	struct oci_hugepage_limit *hugepages;
	size_t n_hugepages;
	/* linux.resources.unified (v2 only): NULL-terminated key, value, key, value ... strv */
	char **unified;
};

/* Zeroes r (nothing set). */
void oci_resources_init(struct oci_resources *r);
/* Frees what r owns and re-initializes it. NULL-safe. */
void oci_resources_release(struct oci_resources *r);

/*
 * Parses a linux.resources object v into *ret, which must be initialized. On success the old
 * content of *ret is released and replaced; on failure, and for v NULL or JSON null, *ret is
 * untouched. field is the path used in errors ("linux.resources"):
 * "linux.resources.memory.limit: expected an integer". -EINVAL on wrong types, unknown device
 * types or access letters, out-of-range values (blkio weight 10-1000, cpu shares 2-262144,
 * swappiness <= 100, memory values < -1); -EOPNOTSUPP for network, rdma and a non-zero
 * cpu.idle. As in runc, 0 means "not set" for memory values, shares, quota, period, pids limit
 * and blkio weights.
 */
int oci_resources_parse(yajl_val v, const char *field, struct oci_resources *ret,
			struct wh_err **err);

/*
 * Sets one field from a `runc update` flag: name is the flag without dashes ("memory",
 * "memory-reservation", "memory-swap", "kernel-memory", "kernel-memory-tcp", "cpu-share" (runc's
 * spelling; "cpu-shares" is accepted too), "cpu-quota", "cpu-period", "cpu-rt-runtime",
 * "cpu-rt-period", "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight"). Memory values take
 * runc's forms: bytes, "-1", or a number with a k/m/g/t/p suffix (binary units, 'b' optional,
 * case-insensitive). -EINVAL naming the flag on a bad value, -ENOENT on an unknown flag name.
 */
int oci_resources_set_flag(struct oci_resources *r, const char *name, const char *value,
			   struct wh_err **err);

/* Copies every set field of src over dst (an update applied to the saved resources). */
void oci_resources_merge(struct oci_resources *dst, const struct oci_resources *src);

/* Writes r as a linux.resources JSON object (only the set fields) to g. */
void oci_resources_gen_json(yajl_gen g, const struct oci_resources *r);

/*
 * The default device rules runc installs on v1 after the spec's own rules: mknod of any char
 * and block device, and rwm on /dev/null, zero, full, random, urandom, tty, ptmx,
 * pts/<any> and net/tun. *ret_n gets the count; the array is static.
 */
const struct oci_device_rule *oci_cgroup_default_device_rules(size_t *ret_n);

/* Parses a runc memory size ("512m", "1G", "1024", "-1"). -EINVAL/-ERANGE. Leaf helper. */
int oci_parse_mem_size(const char *s, int64_t *ret);

/* ------------------------------------------------------------------ the cgroup ---- */

enum oci_cgroup_mode {
	OCI_CGROUP_MODE_AUTO = 0, /* in opts: detect */
	OCI_CGROUP_MODE_V1,	  /* legacy: one hierarchy per controller */
	OCI_CGROUP_MODE_HYBRID,	  /* v1 controllers + cgroup2 at <root>/unified; v1 driver */
	OCI_CGROUP_MODE_V2,	  /* unified: cgroup2 at <root> */
	_OCI_CGROUP_MODE_MAX,
	_OCI_CGROUP_MODE_INVALID = -22,
};

/* "v1", "hybrid", "v2" ("auto" for AUTO). */
const char *oci_cgroup_mode_to_string(enum oci_cgroup_mode m);

/* Where the hierarchies are. Pass NULL for the defaults (root /sys/fs/cgroup, detect mode). */
struct oci_cgroup_opts {
	const char *root;	   /* NULL: "/sys/fs/cgroup"; tests pass their own cgroup2 mount */
	enum oci_cgroup_mode mode; /* AUTO: oci_cgroup_detect_mode(root) */
};

/* Looks at root (NULL: /sys/fs/cgroup) with statfs: cgroup2 → V2; a tmpfs of v1 controllers
 * with a cgroup2 at root/unified → HYBRID; without → V1. -ENOENT/-EMEDIUMTYPE otherwise. */
int oci_cgroup_detect_mode(const char *root, enum oci_cgroup_mode *ret, struct wh_err **err);

/*
 * Resolves a spec cgroupsPath (NULL or "" for absent) for container id to the path inside the
 * hierarchy (always absolute, normalized, no "..": -EINVAL for a path that tries to climb out),
 * following the rules at the top of this file. mode picks which /proc/self/cgroup line counts
 * for relative paths (V2: the "0::" line). Caller frees *ret.
 */
int oci_cgroup_resolve_path(const char *cgroups_path, const char *id, enum oci_cgroup_mode mode,
			    char **ret, struct wh_err **err);

struct oci_cgroup; /* opaque handle; holds paths only, no fds */

/*
 * Resolves cgroupsPath (see oci_cgroup_resolve_path) and creates the cgroup: v1 mkdir -p in
 * every mounted controller hierarchy (cpuset parents get cpus/mems copied down so that a pid can
 * enter); v2 mkdir -p, enabling in each ancestor's cgroup.subtree_control every controller it
 * offers. An existing cgroup is reused (runc shares cgroups the same way). On failure every
 * directory this call made is removed again. *ret is freed with oci_cgroup_free().
 */
int oci_cgroup_create(const char *cgroups_path, const char *id, const struct oci_cgroup_opts *opts,
		      struct oci_cgroup **ret, struct wh_err **err);

/* Re-opens an existing container cgroup from the saved oci_cgroup_path(). -ENOENT when it is
 * gone (v1: when it is missing from every hierarchy). Creates nothing. */
int oci_cgroup_open(const char *path, const struct oci_cgroup_opts *opts, struct oci_cgroup **ret,
		    struct wh_err **err);

/* Frees the handle; the cgroup itself stays. NULL-safe, returns NULL. */
struct oci_cgroup *oci_cgroup_free(struct oci_cgroup *cg);

/* The resolved path inside the hierarchy ("/wharf/abc"): save it to re-open later. Borrowed. */
const char *oci_cgroup_path(const struct oci_cgroup *cg);
enum oci_cgroup_mode oci_cgroup_mode(const struct oci_cgroup *cg);
/* The directory of controller ctrl (v1: <root>/<ctrl><path>; v2: ctrl is ignored and may be
 * NULL, <root><path>), or NULL on v1 when ctrl is not mounted. Borrowed. */
const char *oci_cgroup_dir(const struct oci_cgroup *cg, const char *ctrl);
/* True when ctrl ("memory", "cpu", "cpuset", "pids", "io"/"blkio", "hugetlb", "devices",
 * "freezer") can be used for this cgroup. On v2 "devices" is always true (rules become an eBPF
 * program), "freezer" false (freezing uses cgroup.freeze) and "blkio" means "io". */
bool oci_cgroup_has_controller(const struct oci_cgroup *cg, const char *ctrl);

/* Moves pid (all its threads) into the cgroup, in every v1 hierarchy. */
int oci_cgroup_enter(const struct oci_cgroup *cg, pid_t pid, struct wh_err **err);

/*
 * Applies every set field of res (create and update alike; unset fields are not touched).
 * For `update`, runc applies the saved resources merged with the new ones
 * (oci_resources_merge()); applying only the new fields also works, except that a v1 memory
 * limit above the current memory+swap limit needs the swap value in the same call (on v2 a
 * swap-only update is computed against the current memory.max).
 * First checks that each set field can be honoured (-EOPNOTSUPP naming the field otherwise,
 * nothing written), then writes in an order the kernel accepts (v1: memory+swap limits ordered
 * against the current values). Device rules on v1 are written in order, followed by nothing
 * else: callers that want runc's defaults put oci_cgroup_default_device_rules() after the spec's
 * rules (deny-all first). On v2 the rules become a BPF_PROG_TYPE_CGROUP_DEVICE program attached
 * to the cgroup (replacing the previous one on update; v1 list semantics, last match wins),
 * applied before anything else. A kernel refusal of a value is -errno naming the file and value.
 */
int oci_cgroup_apply(const struct oci_cgroup *cg, const struct oci_resources *res,
		     struct wh_err **err);

enum oci_freezer_state {
	OCI_FREEZER_THAWED,
	OCI_FREEZER_FREEZING,
	OCI_FREEZER_FROZEN,
	_OCI_FREEZER_STATE_MAX,
	_OCI_FREEZER_STATE_INVALID = -22,
};

/* Freezes the cgroup and waits (up to about 5 s, polling) until the kernel reports it frozen
 * (v1 freezer.state FROZEN, v2 "frozen 1" in cgroup.events). -ETIMEDOUT: thawed back, not left
 * half frozen. -EOPNOTSUPP without a freezer. */
int oci_cgroup_freeze(const struct oci_cgroup *cg, struct wh_err **err);
int oci_cgroup_thaw(const struct oci_cgroup *cg, struct wh_err **err);
int oci_cgroup_freezer_state(const struct oci_cgroup *cg, enum oci_freezer_state *ret,
			     struct wh_err **err);

/* The pids in cgroup.procs (recursive: also of sub-cgroups, as runc ps). On v1 the pids
 * controller is read, else the first mounted one. Caller frees *ret. */
int oci_cgroup_pids(const struct oci_cgroup *cg, bool recursive, pid_t **ret, size_t *ret_n,
		    struct wh_err **err);

/*
 * Sends sig to every process of the cgroup (recursive). For SIGKILL it writes cgroup.kill on
 * v2 (when the kernel has it), else it freezes first when a freezer exists, so that nothing
 * forks in between, and thaws after. Processes that vanish
 * meanwhile are not errors. Returns the number signalled.
 */
int oci_cgroup_kill(const struct oci_cgroup *cg, int sig, struct wh_err **err);

/*
 * Kills what is left (SIGKILL), waits (about 5 s at most) until cgroup.procs is empty, then
 * rmdirs the cgroup (and its sub-cgroups, deepest first) in every hierarchy, retrying on EBUSY
 * for a short while. Missing directories are fine. Ancestors are not removed. -EBUSY naming the
 * directory if it will not go.
 */
int oci_cgroup_destroy(const struct oci_cgroup *cg, struct wh_err **err);

/* ------------------------------------------------------------------------ stats ---- */

struct oci_stat_kv {
	char *key;
	uint64_t value;
};

/* A blkio/io counter for one device: v1 op is "Read", "Write", "Sync", "Async", "Discard",
 * "Total"; v2 op is "rbytes", "wbytes", "rios", "wios", "dbytes", "dios". */
struct oci_blkio_entry {
	uint64_t major, minor;
	char *op;
	uint64_t value;
};

struct oci_hugetlb_stat {
	char *page_size;
	uint64_t usage, max, failcnt;
};

/*
 * What containerd's cgroups v1 and v2 Metrics messages need. A group is valid when its has_
 * flag is set (its controller exists). Limits of "max" read as UINT64_MAX.
 * v1: memory.{usage,limit,max_usage,failcnt}_in_bytes, memory.memsw.* (swap_*), memory.kmem.*
 *     (kernel_*), memory.stat as kv; cpuacct.usage{,_percpu}, cpuacct.stat (user/system, ns),
 *     cpu.stat throttling; pids.current/max; blkio.throttle.io_service_bytes/io_serviced
 *     (recursive files when present); hugetlb.*.usage_in_bytes/max_usage_in_bytes/failcnt.
 * v2: memory.current/max/peak (max_usage), memory.swap.current/max, memory.stat and
 *     memory.events as kv; cpu.stat (usage/user/system usec converted to ns, nr_periods,
 *     nr_throttled, throttled); pids; io.stat; hugetlb.<size>.current/max/events.
 */
struct oci_cgroup_stats {
	bool has_memory, has_cpu, has_pids, has_blkio;
	struct {
		uint64_t usage, limit, max_usage, failcnt;
		uint64_t swap_usage, swap_limit, swap_max_usage, swap_failcnt;
		uint64_t kernel_usage, kernel_limit, kernel_max_usage, kernel_failcnt;
		struct oci_stat_kv *stat; /* memory.stat lines */
		size_t n_stat;
		struct oci_stat_kv *events; /* v2 memory.events */
		size_t n_events;
	} memory;
	struct {
		uint64_t usage_ns, user_ns, system_ns;
		uint64_t *per_cpu_ns; /* v1 only */
		size_t n_per_cpu;
		uint64_t nr_periods, nr_throttled, throttled_ns;
	} cpu;
	struct {
		uint64_t current, limit; /* limit 0 when unlimited ("max"), as containerd reports */
	} pids;
	struct {
		struct oci_blkio_entry *io_service_bytes; /* v1; v2 io.stat *bytes */
		size_t n_io_service_bytes;
		struct oci_blkio_entry *io_serviced; /* v1; v2 io.stat *ios */
		size_t n_io_serviced;
	} blkio;
	struct oci_hugetlb_stat *hugetlb;
	size_t n_hugetlb;
};

/* Reads the stats. Controllers that are absent leave their has_ flag false; a file of a present
 * controller that cannot be read is an error naming it. Release with oci_cgroup_stats_release. */
int oci_cgroup_stats(const struct oci_cgroup *cg, struct oci_cgroup_stats *ret,
		     struct wh_err **err);
void oci_cgroup_stats_release(struct oci_cgroup_stats *s);

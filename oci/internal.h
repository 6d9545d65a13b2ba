/* SPDX-License-Identifier: Apache-2.0 */
/*
 * liboci's private declarations: the parsed runtime spec, the container state directory, the
 * init/exec child protocol and the rootfs/process/hook helpers shared by the files of oci/.
 * No other folder includes this header.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

#include <sys/types.h>

#include "oci/caps.h"
#include "oci/cgroup.h"
#include "oci/oci.h"
#include "oci/seccomp.h"

struct strbuf;
struct wh_err;

/* ------------------------------------------------------------------ the spec ---- */

/* The recursive mount options (runc's rro, rnosuid ...): MOUNT_ATTR_* for mount_setattr. */
struct oci_mount_rec {
	uint64_t set, clr;
};

struct oci_mount {
	char *destination;
	char *type;
	char *source;
	char *data;		   /* options that are not flags, comma-joined, or NULL */
	unsigned long flags;	   /* MS_* set by options */
	unsigned long propagation; /* MS_SHARED|MS_SLAVE|MS_PRIVATE|MS_UNBINDABLE (+MS_REC) or 0 */
	bool bind;		   /* bind or rbind (MS_REC in flags for rbind) */
	struct oci_mount_rec rec;  /* recursive options (rro, rnosuid ...) */
};

struct oci_idmap {
	uint32_t container_id, host_id, size;
};

struct oci_ns {
	int type;   /* CLONE_NEW* */
	char *path; /* join this one, or NULL for a new one */
};

struct oci_device {
	char *path;
	char type; /* 'c', 'b', 'u', 'p' */
	int64_t major, minor;
	mode_t mode; /* permission bits, 0666 unless given */
	uid_t uid;
	gid_t gid;
};

struct oci_rlimit {
	int resource;
	uint64_t soft, hard;
};

struct oci_hook {
	char *path;
	char **args;
	char **env;
	int64_t timeout; /* seconds, 0 = none */
};

enum oci_hook_kind {
	OCI_HOOK_PRESTART,
	OCI_HOOK_CREATE_RUNTIME,
	OCI_HOOK_CREATE_CONTAINER,
	OCI_HOOK_START_CONTAINER,
	OCI_HOOK_POSTSTART,
	OCI_HOOK_POSTSTOP,
	_OCI_HOOK_MAX,
};

struct oci_hooks {
	struct oci_hook *v[_OCI_HOOK_MAX];
	size_t n[_OCI_HOOK_MAX];
};

struct oci_process {
	bool terminal;
	char **args;
	char **env;
	char *cwd;
	uid_t uid;
	gid_t gid;
	gid_t *additional_gids;
	size_t n_additional_gids;
	bool has_umask;
	mode_t umask;
	struct oci_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privileges;
	bool has_oom_score_adj;
	int oom_score_adj;
	struct oci_caps caps; /* caps.present false: keep what the runtime has */
};

struct oci_spec {
	yajl_val tree;
	char *oci_version;
	char *bundle;
	char *root_path; /* absolute */
	bool root_readonly;
	bool has_process;
	struct oci_process process;
	char *hostname;
	char *domainname;
	struct oci_mount *mounts;
	size_t n_mounts;
	struct oci_hooks hooks;
	yajl_val annotations; /* borrowed from tree */
	struct oci_ns *namespaces;
	size_t n_namespaces;
	struct oci_idmap *uid_mappings, *gid_mappings;
	size_t n_uid_mappings, n_gid_mappings;
	struct oci_device *devices;
	size_t n_devices;
	char **sysctl; /* key, value, key, value ... */
	char **masked_paths;
	char **readonly_paths;
	unsigned long rootfs_propagation; /* 0: runc's default (rslave) */
	char *cgroups_path;
	struct oci_resources resources;
	struct oci_seccomp *seccomp;
};

/* Parses config text; bundle resolves a relative root.path. Errors name the field. */
int oci_spec_parse(const char *text, size_t len, const char *bundle, struct oci_spec **ret,
		   struct wh_err **err);
struct oci_spec *oci_spec_free(struct oci_spec *s);
/* Parses a `process` object (spec or `exec --process`). field prefixes errors. */
int oci_process_parse(yajl_val v, const char *field, struct oci_process *ret, struct wh_err **err);
void oci_process_release(struct oci_process *p);
/* The CLONE_NEW* flag of a namespace type name, or 0. */
int oci_ns_flag(const char *name);
/* Mount options: sets flags, propagation, bind or a recursive attribute (rro ...) from one option
 * word; anything else (size=, mode=) goes to data. */
void oci_mount_option(const char *opt, unsigned long *flags, unsigned long *propagation, bool *bind,
		      struct oci_mount_rec *rec, struct strbuf *data);
/* RLIMIT_* from "RLIMIT_NOFILE" etc., or -1. */
int oci_rlimit_resource(const char *name);
/* A signal number from "KILL", "SIGKILL" or "9". -EINVAL when unknown. */
int oci_parse_signal(const char *s);
/* True when id is a valid container id. */
bool oci_id_valid(const char *id);
const struct oci_ns *oci_spec_ns(const struct oci_spec *s, int type);

/* ------------------------------------------------------------------ state dir ---- */

struct oci_container {
	char *root;
	char *id;
	char *dir;	    /* root/id */
	int dir_fd;	    /* O_DIRECTORY, flock'ed */
	pid_t pid;	    /* init */
	uint64_t pid_start; /* starttime of the init, field 22 of its proc stat */
	char *bundle;
	char *rootfs;
	char *created;
	char *owner;
	char *cgroup_path; /* inside the hierarchy, or NULL */
	bool created_done; /* "creating" until the init waits for start */
	struct oci_spec *spec;
};

/* Opens and locks root/id. -ENOENT: "container 'id' does not exist". */
int oci_container_open(const char *root, const char *id, struct oci_container **ret,
		       struct wh_err **err);
struct oci_container *oci_container_free(struct oci_container *c);
/* Replaces dirfd/name by rename (no fsync: runtime state). -errno. */
int oci_write_state_file(int dirfd, const char *name, const char *data, size_t len);
/* Writes state.json atomically. */
int oci_container_save(struct oci_container *c, struct wh_err **err);
/* The live status from the process and the freezer. */
enum oci_status oci_container_status(struct oci_container *c);
/* Fills an oci_state. */
struct oci_state *oci_container_state(struct oci_container *c);
/* The cgroup handle, or -ENOENT. */
int oci_container_cgroup(struct oci_container *c, struct oci_cgroup **ret, struct wh_err **err);

/* starttime (field 22) of /proc/<pid>/stat, and whether it is a zombie/dead. -ENOENT if gone. */
int oci_proc_start_time(pid_t pid, uint64_t *ret, char *ret_state);

/* ------------------------------------------------------------------ hooks ---- */

/* Runs the hooks of kind in order with state_json on stdin; the first failure stops. */
int oci_hooks_run(const struct oci_hooks *h, enum oci_hook_kind kind, const char *state_json,
		  struct wh_err **err);

/* ------------------------------------------------------------------ the child side ---- */

/* Sets up the rootfs of the init (in its new mount namespace); before hooks when !after. */
int oci_rootfs_prepare(const struct oci_spec *s, bool userns, const char *cgroup_path,
		       struct wh_err **err);
/* pivot_root (or MS_MOVE + chroot) and everything after: masked, readonly paths, sysctl. */
int oci_rootfs_finish(const struct oci_spec *s, bool no_pivot, struct wh_err **err);

/* Prepares user, rlimits, umask, cwd and env, then loads caps/seccomp and execs. Returns only
 * on failure. */
int oci_process_exec(const struct oci_process *p, const struct oci_seccomp *seccomp,
		     struct wh_err **err);
int oci_process_rlimits(const struct oci_process *p, struct wh_err **err);
/* The path of program name (PATH of env, or the default PATH, when it has no '/'), or NULL. */
char *oci_find_program(const char *name, char *const *env);

/* SCM_RIGHTS helpers. */
int oci_send_fd(int sock, int fd, const char *name);
int oci_recv_fd(int sock);

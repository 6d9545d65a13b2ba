/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The public header of liboci: an OCI runtime (runtime-spec 1.0.2) as a library. It loads and
 * validates a bundle's config.json, creates a container (namespaces, rootfs, mounts, devices,
 * cgroups, capabilities, seccomp, hooks), starts, signals, pauses, updates, execs into and deletes
 * it, and keeps its state under a root directory in the same layout the wharf-oci CLI uses, so the
 * CLI and an in-process caller (the shim) can manage the same containers.
 *
 * Calling rules. The caller is single-threaded while it calls oci_create and oci_exec (they fork).
 * The container's init and exec'd processes are direct children of the caller (the runtime clones
 * them with CLONE_PARENT), so the caller reaps them with waitpid(); nothing else is left running.
 * Every call that touches a container takes the container's lock for its duration.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <sys/types.h>

struct wh_err;

/* The default state root of the CLI (runc uses /run/runc). */
#define OCI_DEFAULT_ROOT "/run/wharf-oci"

enum oci_status {
	OCI_STATUS_CREATING,
	OCI_STATUS_CREATED,
	OCI_STATUS_RUNNING,
	OCI_STATUS_PAUSED,
	OCI_STATUS_STOPPED,
};
const char *oci_status_name(enum oci_status s);

/*
 * stdio for a new process. With terminal (process.terminal in the spec, or exec's tty flag) the
 * runtime makes a pty in the container: the master goes to console_socket (a connected
 * AF_UNIX socket, sent with SCM_RIGHTS as runc does) when console_socket >= 0, otherwise it is
 * returned in *ret_pty_master. Without a terminal, stdin/stdout/stderr are dup'ed to 0, 1, 2 of
 * the process (-1 keeps the caller's own fd of that number).
 */
struct oci_stdio {
	int stdin_fd;
	int stdout_fd;
	int stderr_fd;
	int console_socket;
};
#define OCI_STDIO_INHERIT      \
	{                      \
		-1, -1, -1, -1 \
	}

struct oci_create_opts {
	const char *root;   /* state root, e.g. OCI_DEFAULT_ROOT */
	const char *id;	    /* container id: [A-Za-z0-9][A-Za-z0-9_.+-]* */
	const char *bundle; /* bundle directory holding config.json */
	struct oci_stdio stdio;
	bool no_pivot;		 /* MS_MOVE + chroot instead of pivot_root */
	int preserve_fds;	 /* fds 3 .. 3+n-1 of the caller stay open in the container */
	bool no_new_keyring;	 /* keep the caller's session keyring (default: a new one) */
	const char *config_json; /* optional: config text to use instead of bundle/config.json */
};

/*
 * Creates the container: validates the spec (errors name the field, nothing is made before),
 * makes the state directory, the cgroup, the namespaces and the rootfs, runs the prestart,
 * createRuntime and createContainer hooks, and leaves the init process waiting for oci_start.
 * On failure everything made so far is undone. *ret_pid: the init's pid; *ret_pty_master: see
 * struct oci_stdio (-1 when none).
 */
int oci_create(const struct oci_create_opts *opts, pid_t *ret_pid, int *ret_pty_master,
	       struct wh_err **err);

/* Lets a created container run its process; runs the poststart hooks. */
int oci_start(const char *root, const char *id, struct wh_err **err);

/* Sends sig to the init, or with all to every process of the container's cgroup. */
int oci_kill(const char *root, const char *id, int sig, bool all, struct wh_err **err);

/*
 * Deletes a stopped container (its cgroup, state and poststop hooks); with force a running or
 * paused one is killed first. A container that does not exist is -ENOENT.
 */
int oci_delete(const char *root, const char *id, bool force, struct wh_err **err);

int oci_pause(const char *root, const char *id, struct wh_err **err);
int oci_resume(const char *root, const char *id, struct wh_err **err);

/* Applies linux.resources JSON (as `runc update -r` takes it) to the container's cgroup. */
int oci_update(const char *root, const char *id, const char *resources_json, struct wh_err **err);

/* The state of a container, with runc's fields. */
struct oci_state {
	char *oci_version;
	char *id;
	pid_t pid; /* 0 when stopped */
	enum oci_status status;
	char *bundle;
	char *rootfs;
	char *created; /* RFC 3339 */
	char *owner;
	char *annotations_json; /* the annotations object as JSON text, or NULL */
	char *cgroup_path; /* inside the hierarchy, for oci_cgroup_open() (stats, OOM), or NULL */
};
int oci_state_get(const char *root, const char *id, struct oci_state **ret, struct wh_err **err);
struct oci_state *oci_state_free(struct oci_state *s);
/* runc's `state` JSON for s (pretty printed). Caller frees. */
char *oci_state_json(const struct oci_state *s);
/* The OCI state JSON given to hooks on stdin (ociVersion, id, status, pid, bundle, annotations). */
char *oci_state_hook_json(const struct oci_state *s);

/* The ids of the containers under root, sorted. */
int oci_list(const char *root, char ***ret_ids, struct wh_err **err);

/* The pids (in the caller's pid namespace) of the processes in the container's cgroup. */
int oci_pids(const char *root, const char *id, pid_t **ret_pids, size_t *ret_n,
	     struct wh_err **err);

/*
 * Runs an extra process in a running container. process_json is a runtime-spec `process` object
 * (as `runc exec --process` takes it). The new process joins every namespace and the cgroup of
 * the init. *ret_pid: its pid, a child of the caller.
 */
struct oci_exec_opts {
	const char *root;
	const char *id;
	const char *process_json; /* NULL: the container's own process, with the overrides below */
	struct oci_stdio stdio;
	int preserve_fds;
	/* overrides of the container's process when process_json is NULL (runc exec's flags) */
	char *const *args; /* required then */
	char *const *env;  /* appended to the container's env, replacing same names */
	const char *cwd;   /* NULL: keep */
	bool has_user;
	uid_t uid;
	gid_t gid;
	int tty; /* -1 keep, 0 no, 1 yes */
	bool no_new_privileges;
	char *const *add_caps;	      /* "CAP_X" names added to every capability set */
	const gid_t *additional_gids; /* replaces the additional groups when n > 0 */
	size_t n_additional_gids;
};
int oci_exec(const struct oci_exec_opts *opts, pid_t *ret_pid, int *ret_pty_master,
	     struct wh_err **err);

/* runc's default config.json (`runc spec`). Caller frees. */
char *oci_default_spec_json(void);
/* The `features` JSON document of this runtime. Caller frees. */
char *oci_features_json(void);

/*
 * Protection of the runtime binary (CVE-2019-5736): when the running binary is not yet a sealed
 * memfd, copies /proc/self/exe into one, seals it and re-executes it with argv and envp; returns
 * only on failure (negative errno) or when already cloned (0). Callers that enter containers
 * (the CLI, the shim) call this first in main().
 */
int oci_ensure_cloned_binary(char **argv, char **envp);

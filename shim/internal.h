/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private declarations of wharf-shim: the container/process table, stdio copies, the reaper,
 * OOM watches, the runtime drivers (builtin liboci and exec of a runc-compatible binary) and the
 * event publisher. The shim is single-threaded: everything runs on one ev loop.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <sys/types.h>

#include "common/common.h"

/* An errno that the status table maps to Unknown, for the runc shim's plain errors. */
#define SHIM_EUNKNOWN EHWPOISON

struct shim;
struct container;
struct proc;
struct proc_io;

/* Process states; the numbers are containerd.v1.types.Status. */
enum proc_status {
	PROC_UNKNOWN = 0,
	PROC_CREATED = 1,
	PROC_RUNNING = 2,
	PROC_STOPPED = 3,
	PROC_PAUSED = 4,
	PROC_PAUSING = 5,
};
const char *proc_status_name(enum proc_status s);

/* ---- stdio (io.c) ---- */

struct stdio_cfg {
	char *in, *out, *err; /* paths or URIs from the request; NULL or "" = none */
	bool terminal;
	const char *id, *ns; /* borrowed: the environment of a binary:// logger */
};
void stdio_cfg_release(struct stdio_cfg *c);

/* The ends handed to the runtime for the container process; -EBADF = /dev/null. */
struct stdio_child {
	int in, out, err;
	char *console_socket; /* exec driver with a terminal: path of the console socket */
	int console_master;   /* builtin driver may hand the pty master back here */
};

/*
 * Opens the request's stdin/stdout/stderr (fifos opened so that no open blocks and a departed
 * reader never causes EPIPE; regular files and file:// URIs appended to; binary:///path?k=v
 * starts that logger with the container's stdout and stderr pipes as fds 3 and 4 and waits until
 * it closes the ready pipe, fd 5, as containerd does) and, without a terminal,
 * one pipe per stream for the container. With a terminal and want_socket, listens on a console
 * socket for an external runtime. uid/gid own the container's pipe ends (-1: unchanged).
 */
int proc_io_new(struct ev_loop *loop, const struct stdio_cfg *cfg, bool want_socket, uid_t uid,
		gid_t gid, struct proc_io **ret, struct stdio_child *ret_child,
		struct wh_err **err);
/*
 * After the runtime created the process: closes the child ends the shim still holds, receives
 * the pty master (from the console socket, or child->console_master) and starts the copies.
 */
int proc_io_started(struct proc_io *io, struct stdio_child *child, struct wh_err **err);
void stdio_child_release(struct stdio_child *c);
/* CloseIO: drops the shim's own writer on the stdin fifo so the copy sees EOF. */
void proc_io_close_stdin(struct proc_io *io);
int proc_io_resize(struct proc_io *io, unsigned width, unsigned height, struct wh_err **err);
/* True once every output copy reached EOF (and so everything was forwarded). */
bool proc_io_drained(const struct proc_io *io);
/* Called once when proc_io_drained() becomes true. */
void proc_io_on_drained(struct proc_io *io, void (*cb)(void *ud), void *ud);
/* Stops every copy at once (after the drain timeout) and frees. NULL-safe. */
struct proc_io *proc_io_free(struct proc_io *io);

/* ---- reaper (reaper.c) ---- */

typedef void reaper_fn(pid_t pid, int status, void *ud);
/* Subreaper + SIGCHLD source; every reaped child is passed to cb. */
int reaper_init(struct ev_loop *loop, reaper_fn *cb, void *ud, struct wh_err **err);
/* Reaps everything that already exited (also called by the SIGCHLD handler). */
void reaper_reap(void);
/* Runs argv (argv[0] a path or a name on PATH) and waits for it without reaping anyone else.
 * fds[0..2] become its stdio (-1: /dev/null). Returns the wait status (>= 0) or -errno. */
int reaper_run(char *const argv[], const int fds[3], int *ret_status);
/* Exit status as containerd reports it: WEXITSTATUS, or 128+signal. */
int wait_status_to_exit(int status);
/* Remembers an exit of a pid nobody claimed yet; proc registration checks this table. */
void exits_park(pid_t pid, int status);
/* A mark taken before a runtime call that yields a pid. */
uint64_t exits_mark(void);
/* Takes a parked exit of pid parked after mark: true and *status set if there was one. */
bool exits_take(pid_t pid, uint64_t mark, int *status);

/* ---- OOM (oom.c) ---- */
struct oom_watch;
typedef void oom_fn(void *ud);
/* Watches the memory cgroup at cgroup_path (the path inside the hierarchy, from
 * /proc/<pid>/cgroup): v1 eventfd on memory.oom_control, v2 inotify on memory.events. */
int oom_watch_new(struct ev_loop *loop, const char *cgroup_path, oom_fn *cb, void *ud,
		  struct oom_watch **ret, struct wh_err **err);
struct oom_watch *oom_watch_free(struct oom_watch *w);

/* ---- runtime drivers ---- */

struct runtime_opts {
	char *binary_name; /* NULL/"" = builtin */
	char *root;	   /* state root parent; "/<ns>" is appended */
	char *criu_path;
	bool no_pivot_root, no_new_keyring, systemd_cgroup;
	uint32_t io_uid, io_gid;
	char *shim_cgroup;
};
void runtime_opts_release(struct runtime_opts *o);

struct runtime;
struct runtime_ops {
	const char *name;
	/* Creates the container; *ret_pid = init pid. */
	int (*create)(struct runtime *rt, struct container *c, struct stdio_child *io,
		      pid_t *ret_pid, struct wh_err **err);
	int (*start)(struct runtime *rt, struct container *c, struct wh_err **err);
	/* Starts exec process p (spec JSON in p->spec); *ret_pid = its pid. */
	int (*exec)(struct runtime *rt, struct container *c, struct proc *p, struct stdio_child *io,
		    pid_t *ret_pid, struct wh_err **err);
	int (*kill)(struct runtime *rt, struct container *c, int sig, bool all,
		    struct wh_err **err);
	int (*delete)(struct runtime *rt, struct container *c, bool force, struct wh_err **err);
	int (*pause)(struct runtime *rt, struct container *c, struct wh_err **err);
	int (*resume)(struct runtime *rt, struct container *c, struct wh_err **err);
	int (*ps)(struct runtime *rt, struct container *c, pid_t **ret_pids, size_t *ret_n,
		  struct wh_err **err);
	int (*update)(struct runtime *rt, struct container *c, const char *json, size_t len,
		      struct wh_err **err);
};
struct runtime {
	const struct runtime_ops *ops;
	struct runtime_opts opts;
	char *state_root; /* opts.root (or the default) + "/" + namespace */
	char *binary;	  /* exec driver */
};
/* Picks the driver from opts (copied): binary_name empty = builtin. */
int runtime_new(const struct runtime_opts *opts, const char *state_dir, const char *ns,
		struct runtime **ret, struct wh_err **err);
struct runtime *runtime_free(struct runtime *rt);
extern const struct runtime_ops runtime_exec_ops;
/* NULL when the build has no liboci. */
extern const struct runtime_ops *const runtime_builtin_ops;

/* ---- processes and containers (task.c) ---- */

typedef void proc_exit_fn(struct proc *p, void *ud);
struct proc_waiter {
	proc_exit_fn *fn;
	void *ud;
	struct proc_waiter *next;
};

struct proc {
	struct container *c;
	char *exec_id; /* NULL for init */
	pid_t pid;
	enum proc_status status;
	int exit_status;
	uint64_t exited_ns; /* CLOCK_REALTIME */
	bool exited;	    /* reaped (status may still be RUNNING until drained) */
	struct stdio_cfg io_cfg;
	struct proc_io *io;
	char *spec; /* exec: the OCI Process JSON */
	size_t spec_len;
	struct proc_waiter *waiters;
	struct ev_source *drain_timer;
	uint64_t parked_since;
};

struct container {
	struct shim *shim;
	char *id, *bundle;
	struct proc *init;
	struct proc **execs;
	size_t n_execs, cap_execs;
	struct runtime *rt;
	struct oom_watch *oom;
	char *cgroup_path; /* of the init, inside the hierarchy */
	bool rootfs_mounted;
	bool host_pidns; /* no private pid namespace: kill the rest when init exits */
	struct container *next;
};

/* What the task layer tells the outside world (events are published by the service). */
struct shim_hooks {
	void (*proc_exited)(struct proc *p);
	void (*oom)(struct container *c);
};

struct shim {
	struct ev_loop *loop;
	char *ns, *id, *state_dir, *bundle;
	bool debug;
	struct container *containers;
	struct shim_hooks hooks;
	struct events *events;
	bool shutting_down;
};

struct container *shim_find(struct shim *s, const char *id);
struct proc *container_find_proc(struct container *c, const char *exec_id);
/* The process' exit as seen by the reaper; finalizes after the stdio drained (at most 2 s). */
void shim_handle_exit(struct shim *s, pid_t pid, int status);
void proc_add_waiter(struct proc *p, proc_exit_fn *fn, void *ud);
struct container *container_free(struct container *c);
void proc_free(struct proc *p);

/* ---- small helpers (util.c) ---- */

/* Last "error" message of a runc/crun JSON log (--log-format json) written after offset, or
 * NULL. Caller frees. */
char *runtime_log_last_error(const char *path, off_t offset);
/* Mounts containerd.types.Mount entries onto target in order. */
struct shim_mount {
	char *type, *source, *target;
	char **options; /* n_options entries (protobuf-c arrays are not NULL-terminated) */
	size_t n_options;
};
int mount_rootfs(const struct shim_mount *m, size_t n, const char *target, struct wh_err **err);
/* Unmounts everything at and below path (lazy on EBUSY). */
int unmount_all(const char *path, struct wh_err **err);

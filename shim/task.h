/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The task layer's operations (task.c), in plain C types: what service.c calls for each
 * containerd.task.v2.Task method. Errors follow common/err.h; the errno picks the status code
 * (ENOENT NotFound, EEXIST AlreadyExists, EINVAL InvalidArgument, EBUSY FailedPrecondition,
 * SHIM_EUNKNOWN Unknown).
 */
#pragma once

#include "shim/internal.h"

struct task_create_req {
	const char *id, *bundle;
	const struct shim_mount *mounts;
	size_t n_mounts;
	struct stdio_cfg io; /* borrowed strings */
	struct runtime_opts opts;
};

struct task_exec_req {
	const char *id, *exec_id;
	struct stdio_cfg io;
	const char *spec; /* OCI Process JSON */
	size_t spec_len;
};

struct task_exit {
	pid_t pid;
	int exit_status;
	uint64_t exited_ns;
};

int task_lookup(struct shim *s, const char *id, const char *exec_id, struct container **ret_c,
		struct proc **ret_p, struct wh_err **err);
int task_create(struct shim *s, const struct task_create_req *rq, struct container **ret,
		struct wh_err **err);
int task_start(struct shim *s, const char *id, const char *exec_id, struct proc **ret,
	       struct wh_err **err);
/* After the start event of p was published: reports an exit that happened meanwhile. */
void task_started(struct proc *p);
int task_delete(struct shim *s, const char *id, const char *exec_id, struct task_exit *ret,
		struct wh_err **err);
int task_exec(struct shim *s, const struct task_exec_req *rq, struct wh_err **err);
int task_kill(struct shim *s, const char *id, const char *exec_id, int sig, bool all,
	      struct wh_err **err);
/* pause true: Pause; false: Resume. */
int task_pause(struct shim *s, const char *id, bool pause, struct wh_err **err);
int task_pids(struct shim *s, const char *id, pid_t **ret, size_t *ret_n, struct wh_err **err);
int task_update(struct shim *s, const char *id, const char *json, size_t len, struct wh_err **err);
int task_close_io(struct shim *s, const char *id, const char *exec_id, struct wh_err **err);
int task_resize(struct shim *s, const char *id, const char *exec_id, unsigned w, unsigned h,
		struct wh_err **err);
bool shim_has_live_processes(struct shim *s);

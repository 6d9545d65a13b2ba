/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharfctl's command table and what commands share: the context (global flags and the lazily
 * opened client), error printing, list flags (-q, --format json) and protobuf helpers.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "common/common.h"
#include "ctl/ctl.h"

struct cmd_ctx {
	struct ctl_global g;
	struct ctl_client *client;
};

/* Every command: argv[0] is the command word; returns the process exit code. */
typedef int cmd_fn(struct cmd_ctx *x, int argc, char **argv);

cmd_fn cmd_version, cmd_namespaces, cmd_images, cmd_containers, cmd_tasks, cmd_snapshots,
	cmd_content, cmd_events, cmd_run;

/* Opens the client once; on failure prints the error and returns -1. */
struct ctl_client *cmd_client(struct cmd_ctx *x);
/* Prints "wharfctl: <msg>" (and frees e); returns 1. */
int cmd_fail(struct wh_err *e);
__attribute__((format(printf, 1, 2))) int cmd_failf(const char *fmt, ...);

/* Prints the JSON document of g (finished and freed) on stdout; returns 0. */
int cmd_print_json(yajl_gen g);

/* -q/--quiet, --format json|table, and the rest (filters or names) from argv. */
struct cmd_list_opts {
	bool quiet, json;
	char **rest; /* borrowed from argv */
};
int cmd_parse_list(int argc, char **argv, struct cmd_list_opts *ret);

/* A sub-command table: finds argv[1] (with aliases) and calls it with argv+1. */
struct cmd_sub {
	const char *name, *alias;
	cmd_fn *fn;
};
int cmd_dispatch(struct cmd_ctx *x, const char *noun, const struct cmd_sub *subs, int argc,
		 char **argv);

/*
 * The rm verbs: for each of names, sets *field of req to it and calls service/method (an Empty
 * answer); prints each name removed and each failure. Returns 1 when any failed, else 0.
 */
int cmd_each(struct ctl_client *c, char *const *names, int n, const char *service,
	     const char *method, ProtobufCMessage *req, char **field);

/* Requires exactly n positional args after the flags; prints usage otherwise. */
int cmd_need_args(int argc, char **argv, int n, const char *usage);

/* Protobuf label maps from K=V strv: returns an array of n entries (free with cmd_kv_free). */
void **cmd_kv_new(char *const *kv, const ProtobufCMessageDescriptor *desc, size_t *ret_n);
void cmd_kv_free(void **entries, size_t n);
/* RFC 3339 of a google.protobuf.Timestamp (NULL: "-"); caller frees. */
struct Google__Protobuf__Timestamp;
char *cmd_fmt_time(const struct Google__Protobuf__Timestamp *t);
void cmd_free_msg(void *msg);
#define cleanup_msg cleanup(cmd_free_msgp)
void cmd_free_msgp(void *p);

/*
 * Creates container o->id from image o->image as ctr does: resolves the image, prepares the
 * snapshot o->id on the image's chain ID, generates the default spec and records the container.
 * Nothing is left behind on failure. Returns 0 or a negative errno with *err set.
 */
/* run --rm: the anonymous volumes of o's mounts go with the container, as docker's do. */
void cmd_volumes_remove_anonymous(struct ctl_client *c, const struct ctl_run_opts *o);
int cmd_container_create(struct cmd_ctx *x, struct ctl_client *c, const struct ctl_run_opts *o,
			 struct wh_err **err);
/* Deletes container id and its snapshot (if any); errors of the snapshot removal are ignored. */
int cmd_container_delete(struct ctl_client *c, const char *id, struct wh_err **err);

/* ---- cmd-io.c: a process's stdio through fifos (PROTOCOLS.md §4.3), as ctr's cio ---- */
struct cmd_io {
	char *dir; /* the temp dir of the fifos (NULL for attach to existing ones) */
	char *stdin_path, *stdout_path, *stderr_path; /* NULL when absent */
	int in_fd, out_fd, err_fd;		      /* our ends, or -EBADF */
	bool tty;
};
/* Creates the fifos in a fresh temp dir and opens our ends. stderr is absent with tty. */
int cmd_io_create(bool tty, struct cmd_io *io, struct wh_err **err);
/* Opens our ends of existing fifos (attach). Empty or NULL paths are skipped. */
int cmd_io_open(const char *in, const char *out, const char *errp, bool tty, struct cmd_io *io,
		struct wh_err **err);
/* Closes our ends, removes the fifos and dir when we made them. */
void cmd_io_release(struct cmd_io *io);
/* Closes our ends and forgets the fifos, which stay for a later attach (run -d). */
void cmd_io_detach(struct cmd_io *io);
/* Removes the fifos of a finished process if wharfctl made them (a "wharfctl-" dir). */
void cmd_io_remove_paths(const char *in, const char *out, const char *errp);
/*
 * Copies our stdio to and from the process until it exits (Tasks.Wait), with signal proxying
 * (SIGINT, SIGTERM, SIGHUP -> Kill) and, with a tty, raw mode and SIGWINCH -> ResizePty.
 * *ret_status is the exit status. exec_id may be "".
 */
int cmd_io_wait(struct ctl_client *c, struct cmd_io *io, const char *id, const char *exec_id,
		uint32_t *ret_status, struct wh_err **err);

/* ---- cmd-tasks.c helpers run shares ---- */
/* Tasks.Create for container id with io's paths (io may be NULL: no stdio). */
int cmd_task_create(struct ctl_client *c, const char *id, const struct cmd_io *io, bool tty,
		    struct wh_err **err);
int cmd_task_start(struct ctl_client *c, const char *id, const char *exec_id, struct wh_err **err);
/* Tasks.Delete (and the fifos wharfctl made for it); *ret_status (may be NULL) gets the exit
 * status. */
int cmd_task_delete(struct ctl_client *c, const char *id, uint32_t *ret_status,
		    struct wh_err **err);

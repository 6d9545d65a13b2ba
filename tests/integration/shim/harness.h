/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shim test harness: a busybox bundle maker, an events server (Events/Forward on our ttrpc
 * server) that records every envelope, the shim `start` protocol as a supervisor runs it, and
 * synchronous task.v2 calls over our ttrpc client.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/common.h"
#include "proto/events/task.pb-c.h"
#include "proto/runc/options.pb-c.h"
#include "proto/services/events/ttrpc/v1/events.pb-c.h"
#include "proto/task/v2/shim.pb-c.h"
#include "ttrpc/ttrpc.h"

#define T(x) Containerd__Task__V2__##x

extern int h_failures;
#define CHECK(cond, ...)                                                                \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                   \
			fprintf(stderr, "\n");                                          \
			h_failures++;                                                   \
		}                                                                       \
	} while (0)

struct h_event {
	char *topic, *type_url;
	uint8_t *data;
	size_t len;
};

struct h_env {
	char *tmp;     /* /tmp/shim-it-XXXXXX */
	char *rootfs;  /* busybox rootfs */
	char *spec;    /* template config.json (runc spec) */
	char *state;   /* <tmp>/st */
	char *ev_addr; /* events socket */
	const char *shim_bin;
	const char *runtime;	 /* "" builtin, else binary name */
	const char *start_stdin; /* file given to `start` as stdin (the options Any), or NULL */
	struct ev_loop *loop;
	struct ttrpc_server *ev_server;
	struct h_event *events;
	size_t n_events, cap_events;
};

struct h_shim {
	struct h_env *env;
	char *id, *bundle, *address;
	int log_fd;
	pid_t pid;
	pid_t init_pid;
	struct ttrpc_client *client;
};

int h_env_init(struct h_env *e, const char *shim_bin, const char *runtime);
void h_env_release(struct h_env *e);
/* (Re)starts / stops the events server at e->ev_addr. */
int h_events_start(struct h_env *e);
void h_events_stop(struct h_env *e);
/* Runs the loop until n events have arrived or timeout_s passes; returns the count. */
size_t h_events_wait(struct h_env *e, size_t n, int timeout_s);
/* Index of the first event with topic at or after from, or -1. */
int h_events_find(struct h_env *e, size_t from, const char *topic);
void h_events_clear(struct h_env *e);

/* Makes bundle <state>/tasks/testns/<id> with config.json from the template edited by jq. */
int h_bundle(struct h_env *e, const char *id, const char *jq_filter, char **ret_bundle);
/* `start` as a supervisor: log fifo with a reader, cwd bundle, TTRPC_ADDRESS; connects. */
int h_shim_start(struct h_env *e, const char *id, const char *jq_filter, struct h_shim *ret);
void h_shim_release(struct h_shim *s);

/* Synchronous Task call; returns 0 or -errno of the status (then *ret_code is the code). */
int h_call(struct h_shim *s, const char *method, const ProtobufCMessage *req,
	   const ProtobufCMessageDescriptor *rdesc, ProtobufCMessage **ret, int *ret_code);
/* Create with the env's runtime options and the given stdio paths. */
int h_create(struct h_shim *s, const char *in, const char *out, const char *err, bool terminal,
	     uint32_t *ret_pid);
int h_start(struct h_shim *s, const char *exec_id, uint32_t *ret_pid);
/* Wait; meanwhile drains the fifo reader fd (if >= 0) into out. */
int h_wait(struct h_shim *s, const char *exec_id, int out_fd, struct strbuf *out,
	   uint32_t *ret_status);
int h_state(struct h_shim *s, const char *exec_id, T(StateResponse) * *ret);
int h_delete(struct h_shim *s, const char *exec_id, T(DeleteResponse) * *ret);
int h_kill(struct h_shim *s, const char *exec_id, uint32_t sig, bool all);
int h_exec(struct h_shim *s, const char *exec_id, const char *args_json, const char *out,
	   bool terminal);
int h_shutdown(struct h_shim *s);
int h_simple(struct h_shim *s, const char *method, const char *exec_id);

/* A fifo at <tmp>/<name> opened for reading (non-blocking), as ctr does. */
int h_fifo(struct h_env *e, const char *name, char **ret_path);
/* Reads what is available now (non-blocking) into out. */
void h_drain(int fd, struct strbuf *out);
/* True if pid exists and is not a zombie. */
bool h_alive(pid_t pid);

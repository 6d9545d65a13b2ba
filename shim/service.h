/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ttrpc side of the shim: the task service (service.c), the Stats encoder (stats.c) and what
 * main.c offers back to them.
 */
#pragma once

#include "proto/google/protobuf/any.pb-c.h"
#include "shim/internal.h"

struct ttrpc_server;

/* Registers containerd.task.v2.Task on srv and installs the exit/OOM event hooks. */
int service_register(struct shim *s, struct ttrpc_server *srv, struct wh_err **err);
/* Shutdown with nothing left: stop serving, flush the events, exit (main.c). */
void shim_request_exit(struct shim *s);
/* Cgroup metrics of c as containerd encodes them (io.containerd.cgroups.v1/v2.Metrics).
 * ret->type_url and ret->value are set; the caller frees ret->value.data. */
int shim_stats(struct container *c, Google__Protobuf__Any *ret, struct wh_err **err);

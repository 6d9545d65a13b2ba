/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shim's event publisher (events.c): an ordered queue forwarded to the supervisor's
 * Events/Forward ttrpc service with retries, so nothing is lost while the receiver is away.
 */
#pragma once

#include <protobuf-c/protobuf-c.h>

#include "shim/internal.h"

struct events;

/* address: TTRPC_ADDRESS (may be empty: events are then dropped); ns: the namespace. */
int events_new(struct ev_loop *loop, const char *address, const char *ns, struct events **ret);
/* Queues event (packed now; type URL = its full protobuf name) under topic. */
void events_publish(struct events *e, const char *topic, const ProtobufCMessage *event);
size_t events_pending(const struct events *e);
/* Runs cb once the queue is empty and nothing is in flight (now, if it already is). */
void events_on_idle(struct events *e, void (*cb)(void *ud), void *ud);
struct events *events_free(struct events *e);

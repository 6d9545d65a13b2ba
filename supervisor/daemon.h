/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's life cycle, for main() and the tests. */
#pragma once

#include "supervisor/supervisor.h"

/* Creates directories, takes the lock, opens the stores and starts serving (not yet running). */
int daemon_setup(struct daemon *d, struct wh_err **err);
/* Sends READY=1 and runs the loop until SIGTERM/SIGINT. */
int daemon_run(struct daemon *d);
void daemon_release(struct daemon *d);
/* Sends state to $NOTIFY_SOCKET: 1 sent, 0 no socket, -errno. */
int daemon_notify(const char *state);

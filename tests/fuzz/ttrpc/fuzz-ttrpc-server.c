/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the ttrpc server as a peer sees it: arbitrary bytes are written to a
 * real server connection (a socketpair on the event loop), with sync and async handlers
 * registered, and the loop runs until the server has answered and closed the connection.
 * Catches crashes, leaks and hangs in conn.c and server.c on hostile input.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <sys/socket.h>

#include "common/common.h"
#include "proto/task/v2/shim.pb-c.h"
#include "ttrpc/ttrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct ttrpc_server *srv;
static struct ttrpc_call *held[64];
static size_t n_held;

static int h_connect(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;

	resp.version = (char *)ttrpc_call_metadata(call, "containerd-namespace");
	return ttrpc_call_reply(call, &resp.base);
}

static int h_state(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	/* Answered after the connection is gone: the cancelled-call path. */
	if (n_held == ARRAY_SIZE(held))
		return -EBUSY;
	held[n_held++] = call;
	return 0;
}

static int h_kill(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	return -ENOENT;
}

static const struct ttrpc_method methods[] = {
	{"Connect", h_connect}, {"State", h_state}, {"Kill", h_kill}, {NULL, NULL}};

static void init(void)
{
	if (loop)
		return;
	if (ev_loop_new(&loop) < 0 || ttrpc_server_new(loop, &srv, NULL) < 0 ||
	    ttrpc_server_register(srv, &containerd__task__v2__task__descriptor, methods, NULL,
				  NULL) < 0)
		abort();
	ttrpc_server_set_peer_check(srv, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	size_t off = 0;
	bool eof = false;
	char sink[65536];

	init();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	if (ttrpc_server_add_conn_fd_take(srv, sv[0], NULL) < 0)
		abort();
	/* Feed everything, then EOF; read the answers so the server never stalls. */
	while (!eof || ttrpc_server_n_connections(srv) > 0) {
		if (off < size) {
			ssize_t n = write(sv[1], data + off, size - off);

			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				off = size;
		}
		if (off == size && !eof) {
			shutdown(sv[1], SHUT_WR);
			eof = true;
		}
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
		if (ev_loop_run_once(loop, 1000000) < 0)
			abort();
	}
	close(sv[1]);
	while (n_held > 0)
		(void)ttrpc_call_reply_error(held[--n_held], TTRPC_ABORTED, "gone");
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of wharfctl's client against a real ttrpc server in a child process: the namespace
 * travels as containerd-namespace metadata, --timeout ends a call nobody answers, a daemon
 * status comes back as its errno and message, and a missing socket gives the one-line error.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "ctl/ctl.h"
#include "proto/google/protobuf/empty.pb-c.h"
#include "proto/services/images/v1/images.pb-c.h"
#include "proto/services/namespaces/v1/namespace.pb-c.h"
#include "proto/services/version/v1/version.pb-c.h"
#include "ttrpc/ttrpc.h"

static char dir[64], sock[128];
static pid_t server_pid = -1;

/* Version answers "ns=<containerd-namespace>". */
static int h_version(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	Containerd__Services__Version__V1__VersionResponse resp =
		CONTAINERD__SERVICES__VERSION__V1__VERSION_RESPONSE__INIT;
	const char *ns = ttrpc_call_metadata(call, "containerd-namespace");
	cleanup_free char *v = xasprintf("ns=%s", ns ? ns : "(none)");

	resp.version = v;
	return ttrpc_call_reply(call, &resp.base);
}

/* Images.Get: NotFound. */
static int h_get(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	return ttrpc_call_reply_error(
		call, TTRPC_NOT_FOUND, "image %s: not found",
		((const Containerd__Services__Images__V1__GetImageRequest *)req)->name);
}

/* Namespaces.List: never answered (the call is freed when the connection goes). */
static int h_hang(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	return 0;
}

static void run_server(void)
{
	struct ev_loop *l = NULL;
	struct ttrpc_server *s = NULL;
	const struct ttrpc_method version[] = {{"Version", h_version}, {NULL, NULL}};
	const struct ttrpc_method images[] = {{"Get", h_get}, {NULL, NULL}};
	const struct ttrpc_method ns[] = {{"List", h_hang}, {NULL, NULL}};

	if (ev_loop_new(&l) < 0 || ttrpc_server_new(l, &s, NULL) < 0 ||
	    ttrpc_server_register(s, &containerd__services__version__v1__version__descriptor,
				  version, NULL, NULL) < 0 ||
	    ttrpc_server_register(s, &containerd__services__images__v1__images__descriptor, images,
				  NULL, NULL) < 0 ||
	    ttrpc_server_register(s, &containerd__services__namespaces__v1__namespaces__descriptor,
				  ns, NULL, NULL) < 0 ||
	    ttrpc_server_listen(s, sock, 0600, NULL) < 0)
		_exit(2);
	ev_loop_run(l);
	_exit(0);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/ctl-unit-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	server_pid = fork();
	assert_true(server_pid >= 0);
	if (server_pid == 0)
		run_server();
	/* The socket file appears once the child listens (bounded wait, no timing assertion). */
	for (int i = 0; i < 5000 && access(sock, F_OK) != 0; i++)
		usleep(1000);
	assert_int_equal(access(sock, F_OK), 0);
	return 0;
}

static int teardown(void **state)
{
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
	}
	unlink(sock);
	rmdir(dir);
	return 0;
}

static struct ctl_client *open_client(const char *ns, uint64_t timeout)
{
	struct ctl_global g = {.address = sock, .ns = ns, .timeout_ns = timeout};
	struct ctl_client *c = NULL;

	assert_int_equal(ctl_client_open(&g, &c, NULL), 0);
	return c;
}

static void test_namespace_metadata(void **state)
{
	Google__Protobuf__Empty q = GOOGLE__PROTOBUF__EMPTY__INIT;
	Containerd__Services__Version__V1__VersionResponse *resp = NULL;
	struct ctl_client *c = open_client("team-a", 0);

	assert_int_equal(ctl_call(c, "containerd.services.version.v1.Version", "Version", &q.base,
				  &containerd__services__version__v1__version_response__descriptor,
				  (ProtobufCMessage **)&resp, NULL),
			 0);
	assert_string_equal(resp->version, "ns=team-a");
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	ctl_client_free(c);
}

static void test_status_error(void **state)
{
	Containerd__Services__Images__V1__GetImageRequest q =
		CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct ctl_client *c = open_client("default", 0);
	struct wh_err *e = NULL;
	struct ctl_image img;

	q.name = (char *)"x";
	assert_int_equal(ctl_call(c, "containerd.services.images.v1.Images", "Get", &q.base,
				  &containerd__services__images__v1__get_image_response__descriptor,
				  &resp, &e),
			 -ENOENT);
	assert_non_null(strstr(e->msg, "image x: not found"));
	e = wh_err_free(e);
	/* Image resolution turns it into the CLI's message. */
	assert_int_equal(ctl_image_resolve(c, "busybox", &img, &e), -ENOENT);
	assert_string_equal(e->msg, "image \"busybox\" not found");
	e = wh_err_free(e);
	ctl_client_free(c);
}

static void test_timeout(void **state)
{
	Containerd__Services__Namespaces__V1__ListNamespacesRequest q =
		CONTAINERD__SERVICES__NAMESPACES__V1__LIST_NAMESPACES_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct ctl_client *c = open_client("default", 50000000ULL);
	struct wh_err *e = NULL;

	assert_int_equal(
		ctl_call(
			c, "containerd.services.namespaces.v1.Namespaces", "List", &q.base,
			&containerd__services__namespaces__v1__list_namespaces_response__descriptor,
			&resp, &e),
		-ETIMEDOUT);
	assert_non_null(strstr(e->msg, "List: no answer within the timeout"));
	e = wh_err_free(e);
	ctl_client_free(c);
}

static void test_unimplemented(void **state)
{
	Google__Protobuf__Empty q = GOOGLE__PROTOBUF__EMPTY__INIT;
	ProtobufCMessage *resp = NULL;
	struct ctl_client *c = open_client("default", 0);
	struct wh_err *e = NULL;

	assert_true(ctl_call(c, "containerd.services.nothing.v1.Nothing", "Do", &q.base,
			     &google__protobuf__empty__descriptor, &resp, &e) < 0);
	assert_non_null(e);
	e = wh_err_free(e);
	ctl_client_free(c);
}

static void test_no_daemon(void **state)
{
	cleanup_free char *missing = xasprintf("%s/missing.sock", dir);
	struct ctl_global g = {.address = missing, .ns = "default"};
	struct ctl_client *c = NULL;
	struct wh_err *e = NULL;

	assert_true(ctl_client_open(&g, &c, &e) < 0);
	assert_null(c);
	cleanup_free char *want = xasprintf("cannot connect to %s: is wharfd running?", missing);
	assert_string_equal(e->msg, want);
	wh_err_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_namespace_metadata),
		cmocka_unit_test(test_status_error),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_unimplemented),
		cmocka_unit_test(test_no_daemon),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

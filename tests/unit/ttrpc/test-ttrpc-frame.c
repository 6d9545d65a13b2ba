/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the pure ttrpc codec (ttrpc/frame.c) and the status table (ttrpc/status.c):
 * headers, truncated frames, oversize lengths, garbage envelopes and payloads, and frames
 * observed from real containerd (PROTOCOLS.md §1.7).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "proto/google/rpc/status.pb-c.h"
#include "proto/task/v2/shim.pb-c.h"
#include "ttrpc/internal.h"
#include "ttrpc/ttrpc.h"

/* containerd -> shim Connect{id:"test1"} on stream 3, as captured. */
static const uint8_t connect_frame[] = {
	0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x0a, 0x17, 'c', 'o',
	'n',  't',  'a',  'i',	'n',  'e',  'r',  'd',	'.',  't',  'a',  's',	'k', '.',
	'v',  '2',  '.',  'T',	'a',  's',  'k',  0x12, 0x07, 'C',  'o',  'n',	'n', 'e',
	'c',  't',  0x1a, 0x07, 0x0a, 0x05, 't',  'e',	's',  't',  '1',
};
/* shim -> containerd: Response{2: ConnectResponse{shim_pid 32610, task_pid 32675}}. */
static const uint8_t connect_reply[] = {0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x03, 0x02, 0x00,
					0x12, 0x08, 0x08, 0xe2, 0xfe, 0x01, 0x10, 0xa3, 0xff, 0x01};

static void test_header_roundtrip(void **state)
{
	uint8_t h[TTRPC_HEADER_SIZE];
	struct ttrpc_frame f;

	ttrpc_header_put(h, 0x00010203, 0x7fffffff, 2, 5);
	assert_memory_equal(h, "\x00\x01\x02\x03\x7f\xff\xff\xff\x02\x05", 10);
	/* A header announcing more than we have is incomplete, whatever the length. */
	assert_int_equal(ttrpc_frame_parse(h, sizeof(h), &f), 0);
	ttrpc_header_put(h, 0, 9, 2, 0);
	assert_int_equal(ttrpc_frame_parse(h, sizeof(h), &f), 10);
	assert_int_equal(f.length, 0);
	assert_int_equal(f.stream_id, 9);
	assert_int_equal(f.type, TTRPC_TYPE_RESPONSE);
	assert_false(f.oversize);
}

static void test_truncated_frames(void **state)
{
	struct ttrpc_frame f;

	for (size_t i = 0; i < sizeof(connect_frame); i++)
		assert_int_equal(ttrpc_frame_parse(connect_frame, i, &f), 0);
	assert_int_equal(ttrpc_frame_parse(connect_frame, sizeof(connect_frame), &f),
			 sizeof(connect_frame));
	assert_int_equal(f.length, 0x2b);
	assert_int_equal(f.stream_id, 3);
	assert_int_equal(f.type, TTRPC_TYPE_REQUEST);
	assert_ptr_equal(f.data, connect_frame + 10);
}

static void test_oversize_length(void **state)
{
	uint8_t h[TTRPC_HEADER_SIZE];
	struct ttrpc_frame f = {0};
	cleanup_free char *m = NULL;

	ttrpc_header_put(h, TTRPC_MAX_MESSAGE, 1, 1, 0);
	assert_int_equal(ttrpc_frame_parse(h, sizeof(h), &f), 0); /* exactly 4 MiB is allowed */
	assert_false(f.oversize && f.length == TTRPC_MAX_MESSAGE);
	ttrpc_header_put(h, TTRPC_MAX_MESSAGE + 1, 7, 1, 0);
	assert_int_equal(ttrpc_frame_parse(h, sizeof(h), &f), 10);
	assert_true(f.oversize);
	assert_int_equal(f.length, TTRPC_MAX_MESSAGE + 1);
	assert_int_equal(f.stream_id, 7);
	assert_null(f.data);
	ttrpc_header_put(h, UINT32_MAX, 7, 1, 0);
	assert_int_equal(ttrpc_frame_parse(h, sizeof(h), &f), 10);
	assert_true(f.oversize);
	m = ttrpc_oversize_message(5u << 20);
	assert_string_equal(m, "message length 5242880 exceed maximum message size of 4194304");
}

static void test_decode_observed_request(void **state)
{
	cleanup_err struct wh_err *e = NULL;
	Ttrpc__Request *req = NULL;
	ProtobufCMessage *m = NULL;
	Containerd__Task__V2__ConnectRequest *cr;
	struct ttrpc_frame f;

	assert_int_equal(ttrpc_frame_parse(connect_frame, sizeof(connect_frame), &f),
			 sizeof(connect_frame));
	assert_int_equal(ttrpc_request_decode(f.data, f.length, &req, &e), 0);
	assert_string_equal(req->service, "containerd.task.v2.Task");
	assert_string_equal(req->method, "Connect");
	assert_int_equal(req->timeout_nano, 0);
	assert_int_equal(req->n_metadata, 0);
	assert_int_equal(ttrpc_payload_decode(&containerd__task__v2__connect_request__descriptor,
					      req->payload.data, req->payload.len, &m, &e),
			 0);
	cr = (Containerd__Task__V2__ConnectRequest *)m;
	assert_string_equal(cr->id, "test1");
	protobuf_c_message_free_unpacked(m, NULL);
	ttrpc__request__free_unpacked(req, NULL);
}

static void test_encode_matches_observed(void **state)
{
	Containerd__Task__V2__ConnectRequest cr = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	uint8_t payload[16];
	cleanup_free uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	cr.id = (char *)"test1";
	req.service = (char *)"containerd.task.v2.Task";
	req.method = (char *)"Connect";
	req.payload.len = protobuf_c_message_pack(&cr.base, payload);
	req.payload.data = payload;
	assert_int_equal(ttrpc_frame_append(&buf, &len, &cap, 3, TTRPC_TYPE_REQUEST, 0, &req.base),
			 0);
	assert_int_equal(len, sizeof(connect_frame));
	assert_memory_equal(buf, connect_frame, len);

	len = 0;
	resp.shim_pid = 32610;
	resp.task_pid = 32675;
	assert_int_equal(ttrpc_frame_append_response(&buf, &len, &cap, 3, &resp.base), 0);
	assert_int_equal(len, sizeof(connect_reply));
	assert_memory_equal(buf, connect_reply, len);

	/* An Empty answer is a bare 10-byte frame. */
	len = 0;
	assert_int_equal(ttrpc_frame_append_response(&buf, &len, &cap, 0x27, NULL), 0);
	assert_int_equal(len, 10);
	assert_memory_equal(buf, "\x00\x00\x00\x00\x00\x00\x00\x27\x02\x00", 10);
}

static void test_error_response_observed(void **state)
{
	static const uint8_t data[] = "\x0a\x24\x08\x05\x12\x20"
				      "container not created: not found";
	cleanup_err struct wh_err *e = NULL;
	Ttrpc__Response *r = NULL;

	assert_int_equal(ttrpc_response_decode(data, sizeof(data) - 1, &r, &e), 0);
	assert_non_null(r->status);
	assert_int_equal(r->status->code, TTRPC_NOT_FOUND);
	assert_string_equal(r->status->message, "container not created: not found");
	assert_int_equal(r->payload.len, 0);
	ttrpc__response__free_unpacked(r, NULL);
	/* A zero-length Response is a success with no payload. */
	assert_int_equal(ttrpc_response_decode(data, 0, &r, &e), 0);
	assert_null(r->status);
	ttrpc__response__free_unpacked(r, NULL);
}

static void test_garbage(void **state)
{
	/* A length-delimited field running past the end, an invalid wire type, a bad varint. */
	static const uint8_t g1[] = {0x0a, 0x50, 'x'};
	static const uint8_t g2[] = {0x0f, 0x01};
	static const uint8_t g3[] = {0x20, 0xff, 0xff, 0xff, 0xff, 0xff,
				     0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	const uint8_t *all[] = {g1, g2, g3};
	const size_t lens[] = {sizeof(g1), sizeof(g2), sizeof(g3)};

	for (size_t i = 0; i < 3; i++) {
		cleanup_err struct wh_err *e = NULL, *e2 = NULL;
		Ttrpc__Request *req = NULL;
		Ttrpc__Response *resp = NULL;

		assert_int_equal(ttrpc_request_decode(all[i], lens[i], &req, &e), -EBADMSG);
		assert_null(req);
		assert_true(str_startswith(wh_err_msg(e), "unmarshal request error: "));
		assert_int_equal(ttrpc_response_decode(all[i], lens[i], &resp, &e2), -EBADMSG);
	}
}

static void test_invalid_payload(void **state)
{
	/* Field 1 (id, a string) given as a varint: not a ConnectRequest. */
	static const uint8_t bad[] = {0x08, 0x01, 0x0a, 0x09, 'x'};
	cleanup_err struct wh_err *e = NULL;
	ProtobufCMessage *m = NULL;

	assert_int_equal(ttrpc_payload_decode(&containerd__task__v2__connect_request__descriptor,
					      bad, sizeof(bad), &m, &e),
			 -EBADMSG);
	assert_null(m);
	assert_string_equal(
		wh_err_msg(e),
		"error unmarshalling payload: invalid 'containerd.task.v2.ConnectRequest' of 5 bytes");
}

static void test_oversize_encode_refused(void **state)
{
	Containerd__Task__V2__CreateTaskRequest req =
		CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
	cleanup_free char *big = xmalloc(TTRPC_MAX_MESSAGE + 1);
	cleanup_free uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	memset(big, 'a', TTRPC_MAX_MESSAGE);
	big[TTRPC_MAX_MESSAGE] = '\0';
	req.id = big;
	assert_int_equal(ttrpc_frame_append(&buf, &len, &cap, 1, 1, 0, &req.base), -EMSGSIZE);
	assert_int_equal(ttrpc_frame_append_response(&buf, &len, &cap, 1, &req.base), -EMSGSIZE);
	assert_int_equal(len, 0);
}

static void test_socket_path(void **state)
{
	cleanup_err struct wh_err *e1 = NULL, *e2 = NULL, *e3 = NULL;
	cleanup_free char *longp = xmalloc(200);
	const char *p = NULL;

	assert_int_equal(ttrpc_socket_path("unix:///run/x.sock", &p, NULL), 0);
	assert_string_equal(p, "/run/x.sock");
	assert_int_equal(ttrpc_socket_path("/run/y", &p, NULL), 0);
	assert_string_equal(p, "/run/y");
	assert_int_equal(ttrpc_socket_path("unix://", &p, &e1), -EINVAL);
	assert_int_equal(ttrpc_socket_path("@abstract", &p, &e2), -EINVAL);
	assert_non_null(strstr(wh_err_msg(e2), "abstract"));
	memset(longp, 'a', 199);
	longp[0] = '/';
	longp[199] = '\0';
	assert_int_equal(ttrpc_socket_path(longp, &p, &e3), -ENAMETOOLONG);
}

static void test_status_table(void **state)
{
	static const struct {
		int err, code;
	} rows[] = {
		{ENOENT, TTRPC_NOT_FOUND},
		{EEXIST, TTRPC_ALREADY_EXISTS},
		{EINVAL, TTRPC_INVALID_ARGUMENT},
		{EBADMSG, TTRPC_INVALID_ARGUMENT},
		{EPERM, TTRPC_PERMISSION_DENIED},
		{EACCES, TTRPC_PERMISSION_DENIED},
		{ENOSPC, TTRPC_RESOURCE_EXHAUSTED},
		{ENOMEM, TTRPC_RESOURCE_EXHAUSTED},
		{EMSGSIZE, TTRPC_RESOURCE_EXHAUSTED},
		{EBUSY, TTRPC_FAILED_PRECONDITION},
		{ENOTEMPTY, TTRPC_FAILED_PRECONDITION},
		{ESTALE, TTRPC_FAILED_PRECONDITION},
		{EAGAIN, TTRPC_UNAVAILABLE},
		{ECONNREFUSED, TTRPC_UNAVAILABLE},
		{ENOSYS, TTRPC_UNIMPLEMENTED},
		{EOPNOTSUPP, TTRPC_UNIMPLEMENTED},
		{ETIMEDOUT, TTRPC_DEADLINE_EXCEEDED},
		{ECANCELED, TTRPC_CANCELLED},
		{EIO, TTRPC_UNKNOWN},
		{EXDEV, TTRPC_UNKNOWN},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(ttrpc_code_from_errno(rows[i].err), rows[i].code);
		assert_int_equal(ttrpc_code_from_errno(-rows[i].err), rows[i].code);
	}
	assert_int_equal(ttrpc_code_from_errno(0), TTRPC_OK);
	/* The inverse: every code maps to an errno that maps back to it (Unknown-likes to EIO). */
	for (int code = 1; code < _TTRPC_CODE_MAX; code++) {
		int err = ttrpc_errno_from_code(code);
		int back = ttrpc_code_from_errno(err);

		assert_true(err > 0);
		if (code == TTRPC_ABORTED || code == TTRPC_OUT_OF_RANGE || code == TTRPC_INTERNAL ||
		    code == TTRPC_DATA_LOSS)
			assert_int_equal(back, TTRPC_UNKNOWN);
		else if (code == TTRPC_UNAUTHENTICATED)
			assert_int_equal(back, TTRPC_PERMISSION_DENIED);
		else
			assert_int_equal(back, code);
	}
	assert_int_equal(ttrpc_errno_from_code(TTRPC_NOT_FOUND), ENOENT);
	assert_int_equal(ttrpc_errno_from_code(TTRPC_OK), 0);
	assert_int_equal(ttrpc_errno_from_code(99), EIO);
	assert_string_equal(ttrpc_code_name(TTRPC_UNIMPLEMENTED), "Unimplemented");
	assert_string_equal(ttrpc_code_name(-1), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_roundtrip),
		cmocka_unit_test(test_truncated_frames),
		cmocka_unit_test(test_oversize_length),
		cmocka_unit_test(test_decode_observed_request),
		cmocka_unit_test(test_encode_matches_observed),
		cmocka_unit_test(test_error_response_observed),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_invalid_payload),
		cmocka_unit_test(test_oversize_encode_refused),
		cmocka_unit_test(test_socket_path),
		cmocka_unit_test(test_status_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

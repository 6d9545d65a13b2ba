/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the ttrpc decoder: frames cut from arbitrary bytes (truncated and
 * oversize headers included), Request/Response envelopes, and payloads decoded with the
 * task and events descriptors the request names. Decoded messages must re-encode and decode
 * again (a round-trip invariant), and nothing may crash, leak or read out of bounds.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "proto/services/events/ttrpc/v1/events.pb-c.h"
#include "proto/task/v2/shim.pb-c.h"
#include "ttrpc/internal.h"
#include "ttrpc/ttrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCServiceDescriptor *const services[] = {
	&containerd__task__v2__task__descriptor,
	&containerd__services__events__ttrpc__v1__events__descriptor,
};

/* True if m or any message inside it kept unknown fields. */
static bool has_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (m->n_unknown_fields > 0)
		return true;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *v =
				*(ProtobufCMessage *const *const *)(base + f->offset);

			for (size_t j = 0; j < n; j++)
				if (has_unknown(v[j]))
					return true;
		} else {
			const ProtobufCMessage *sub =
				*(ProtobufCMessage *const *)(base + f->offset);

			if (sub && has_unknown(sub))
				return true;
		}
	}
	return false;
}

static void roundtrip(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = xmalloc(n ? n : 1);
	ProtobufCMessage *again;

	if (protobuf_c_message_pack(m, buf) != n)
		abort();
	again = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
	/*
	 * What we decoded must encode to something we decode. protobuf-c keeps unknown fields
	 * verbatim, even malformed ones (field number 0), so only known-field messages qualify.
	 */
	if (!again && !has_unknown(m))
		abort();
	if (again)
		protobuf_c_message_free_unpacked(again, NULL);
	free(buf);
}

static void decode_payload(const Ttrpc__Request *req)
{
	for (size_t i = 0; i < ARRAY_SIZE(services); i++) {
		const ProtobufCMethodDescriptor *m;
		ProtobufCMessage *msg = NULL;

		if (!req->service || !streq(req->service, services[i]->name) || !req->method)
			continue;
		m = protobuf_c_service_descriptor_get_method_by_name(services[i], req->method);
		if (!m)
			return;
		if (ttrpc_payload_decode(m->input, req->payload.data, req->payload.len, &msg,
					 NULL) < 0)
			return;
		roundtrip(msg);
		protobuf_c_message_free_unpacked(msg, NULL);
	}
}

static void decode_frame(const struct ttrpc_frame *f)
{
	Ttrpc__Request *req = NULL;
	Ttrpc__Response *resp = NULL;

	if (f->oversize || f->length > TTRPC_MAX_MESSAGE)
		return;
	if (ttrpc_request_decode(f->data, f->length, &req, NULL) == 0) {
		roundtrip(&req->base);
		decode_payload(req);
		ttrpc__request__free_unpacked(req, NULL);
	}
	if (ttrpc_response_decode(f->data, f->length, &resp, NULL) == 0) {
		roundtrip(&resp->base);
		ttrpc__response__free_unpacked(resp, NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	while (pos < size) {
		struct ttrpc_frame f;
		size_t k = ttrpc_frame_parse(data + pos, size - pos, &f);

		if (k == 0)
			break;
		if (k < TTRPC_HEADER_SIZE || k > size - pos)
			abort();
		pos += k;
		if (f.oversize) {
			/* The connection skips this many bytes; so do we. */
			if (f.length >= size - pos)
				break;
			pos += f.length;
			continue;
		}
		if (f.data != data + pos - f.length)
			abort();
		decode_frame(&f);
	}
	return 0;
}

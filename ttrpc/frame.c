/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure ttrpc codec (PROTOCOLS.md §1.1, §1.3): the 10-byte frame header, frame parsing with
 * the 4 MiB limit, Request/Response envelope and payload decoding, socket address checks.
 * No I/O; the fuzz target drives these functions directly.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <sys/un.h>

#include "common/common.h"
#include "ttrpc/internal.h"

void ttrpc_header_put(uint8_t out[TTRPC_HEADER_SIZE], uint32_t length, uint32_t stream_id,
		      uint8_t type, uint8_t flags)
{
	out[0] = (uint8_t)(length >> 24);
	out[1] = (uint8_t)(length >> 16);
	out[2] = (uint8_t)(length >> 8);
	out[3] = (uint8_t)length;
	out[4] = (uint8_t)(stream_id >> 24);
	out[5] = (uint8_t)(stream_id >> 16);
	out[6] = (uint8_t)(stream_id >> 8);
	out[7] = (uint8_t)stream_id;
	out[8] = type;
	out[9] = flags;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

size_t ttrpc_frame_parse(const uint8_t *buf, size_t len, struct ttrpc_frame *ret)
{
	struct ttrpc_frame f = {0};

	if (len < TTRPC_HEADER_SIZE)
		return 0;
	f.length = get_be32(buf);
	f.stream_id = get_be32(buf + 4);
	f.type = buf[8];
	f.flags = buf[9];
	if (f.length > TTRPC_MAX_MESSAGE) {
		f.oversize = true;
		*ret = f;
		return TTRPC_HEADER_SIZE;
	}
	if (len - TTRPC_HEADER_SIZE < f.length)
		return 0;
	f.data = buf + TTRPC_HEADER_SIZE;
	*ret = f;
	return TTRPC_HEADER_SIZE + f.length;
}

int ttrpc_frame_append(uint8_t **buf, size_t *len, size_t *cap, uint32_t stream_id, uint8_t type,
		       uint8_t flags, const ProtobufCMessage *msg)
{
	size_t n = msg ? protobuf_c_message_get_packed_size(msg) : 0;

	if (n > TTRPC_MAX_MESSAGE)
		return -EMSGSIZE;
	xgrow((void **)buf, cap, *len + TTRPC_HEADER_SIZE + n, 1);
	ttrpc_header_put(*buf + *len, (uint32_t)n, stream_id, type, flags);
	if (n > 0)
		wh_assert(protobuf_c_message_pack(msg, *buf + *len + TTRPC_HEADER_SIZE) == n);
	*len += TTRPC_HEADER_SIZE + n;
	return 0;
}

int ttrpc_request_decode(const uint8_t *data, size_t len, Ttrpc__Request **ret, struct wh_err **err)
{
	Ttrpc__Request *r = ttrpc__request__unpack(NULL, len, data);

	if (!r)
		return wh_err_setx(err, EBADMSG,
				   "unmarshal request error: invalid 'ttrpc.Request' of %zu bytes",
				   len);
	*ret = r;
	return 0;
}

int ttrpc_response_decode(const uint8_t *data, size_t len, Ttrpc__Response **ret,
			  struct wh_err **err)
{
	Ttrpc__Response *r = ttrpc__response__unpack(NULL, len, data);

	if (!r)
		return wh_err_setx(
			err, EBADMSG,
			"unmarshal response error: invalid 'ttrpc.Response' of %zu bytes", len);
	*ret = r;
	return 0;
}

int ttrpc_payload_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
			 ProtobufCMessage **ret, struct wh_err **err)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);

	if (!m)
		return wh_err_setx(err, EBADMSG,
				   "error unmarshalling payload: invalid '%s' of %zu bytes",
				   desc->name, len);
	*ret = m;
	return 0;
}

int ttrpc_socket_path(const char *address, const char **ret_path, struct wh_err **err)
{
	const char *p = address;

	if (!p)
		return wh_err_setx(err, EINVAL, "no socket address");
	if (str_startswith(p, "unix://"))
		p += strlen("unix://");
	if (*p == '\0')
		return wh_err_setx(err, EINVAL, "empty socket address '%s'", address);
	if (*p == '@')
		return wh_err_setx(err, EINVAL,
				   "abstract socket address '%s' refused: use a file path",
				   address);
	if (strlen(p) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
		return wh_err_setx(err, ENAMETOOLONG, "socket path '%s' longer than %zu bytes", p,
				   sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
	*ret_path = p;
	return 0;
}

static size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return n;
}

int ttrpc_frame_append_response(uint8_t **buf, size_t *len, size_t *cap, uint32_t stream_id,
				const ProtobufCMessage *msg)
{
	size_t n = msg ? protobuf_c_message_get_packed_size(msg) : 0, hdr, total;
	uint8_t field[11];

	if (n == 0)
		return ttrpc_frame_append(buf, len, cap, stream_id, TTRPC_TYPE_RESPONSE, 0, NULL);
	/* Response{2: payload}: tag 0x12, varint length, bytes. Status is absent on success. */
	field[0] = 0x12;
	hdr = 1 + varint_put(field + 1, n);
	total = hdr + n;
	if (total > TTRPC_MAX_MESSAGE)
		return -EMSGSIZE;
	xgrow((void **)buf, cap, *len + TTRPC_HEADER_SIZE + total, 1);
	ttrpc_header_put(*buf + *len, (uint32_t)total, stream_id, TTRPC_TYPE_RESPONSE, 0);
	memcpy(*buf + *len + TTRPC_HEADER_SIZE, field, hdr);
	wh_assert(protobuf_c_message_pack(msg, *buf + *len + TTRPC_HEADER_SIZE + hdr) == n);
	*len += TTRPC_HEADER_SIZE + total;
	return 0;
}

char *ttrpc_oversize_message(uint32_t length)
{
	return xasprintf("message length %" PRIu32 " exceed maximum message size of %u", length,
			 TTRPC_MAX_MESSAGE);
}

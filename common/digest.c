/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 digests over our own SHA-256 (sha256.c); OCI digest string validation. */
#include "common/digest.h"

#include <errno.h>
#include <unistd.h>

#include "common/sha256-impl.h"
#include "common/util.h"

struct digester {
	struct sha256 sha;
};

struct digester *digester_new(void)
{
	struct digester *d = xnew0(struct digester, 1);
	digester_reset(d);
	return d;
}

struct digester *digester_free(struct digester *d)
{
	free(d);
	return NULL;
}

void digester_reset(struct digester *d)
{
	sha256_init(&d->sha, sha256_blocks_best());
}

void digester_update(struct digester *d, const void *data, size_t len)
{
	sha256_update(&d->sha, data, len);
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = 0;
}

void digester_final(struct digester *d, char out[DIGEST_STR_LEN])
{
	uint8_t md[SHA256_LEN];
	sha256_final(&d->sha, md);
	memcpy(out, "sha256:", 7);
	hex_encode(md, sizeof(md), out + 7);
	digester_reset(d);
}

void digester_peek(const struct digester *d, char out[DIGEST_STR_LEN])
{
	struct digester copy = *d;
	digester_final(&copy, out);
}

void digest_buf(const void *data, size_t len, char out[DIGEST_STR_LEN])
{
	struct digester d;
	digester_reset(&d);
	digester_update(&d, data, len);
	digester_final(&d, out);
}

int digest_fd(int fd, char out[DIGEST_STR_LEN], uint64_t *ret_size)
{
	char buf[1 << 16];
	uint64_t total = 0;
	struct digester d;
	digester_reset(&d);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		digester_update(&d, buf, (size_t)n);
		total += (uint64_t)n;
	}
	digester_final(&d, out);
	if (ret_size)
		*ret_size = total;
	return 0;
}

bool digest_is_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0)
		return false;
	s += 7;
	for (int i = 0; i < DIGEST_HEX_LEN; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[DIGEST_HEX_LEN] == 0;
}

int digest_parse(const char *s, const char **ret_hex)
{
	if (!digest_is_valid(s))
		return -EINVAL;
	if (ret_hex)
		*ret_hex = s + 7;
	return 0;
}

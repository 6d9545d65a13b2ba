/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 (our own, common/sha256.c) with streaming update, and OCI digest strings. Only "sha256:"
 * + 64 lowercase hex is accepted (OCI image-spec descriptor digests as used by containerd).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_SHA256_LEN 32
#define DIGEST_HEX_LEN 64
/* "sha256:" + 64 hex + NUL */
#define DIGEST_STR_LEN (7 + DIGEST_HEX_LEN + 1)

struct digester; /* opaque */

struct digester *digester_new(void);
struct digester *digester_free(struct digester *d);
void digester_reset(struct digester *d);
void digester_update(struct digester *d, const void *data, size_t len);
/* Writes "sha256:<hex>" into out (DIGEST_STR_LEN bytes) and resets the digester for reuse. */
void digester_final(struct digester *d, char out[DIGEST_STR_LEN]);
/* Writes the digest of what was fed so far into out; d goes on as if not asked. */
void digester_peek(const struct digester *d, char out[DIGEST_STR_LEN]);

/* One-shot helpers. */
void digest_buf(const void *data, size_t len, char out[DIGEST_STR_LEN]);
/* Hashes a whole fd from its current offset. Returns -errno; *ret_size gets the byte count. */
int digest_fd(int fd, char out[DIGEST_STR_LEN], uint64_t *ret_size);

/* True for "sha256:" + exactly 64 lowercase hex characters. */
bool digest_is_valid(const char *s);
/* -EINVAL unless valid; on success *ret_hex points into s at the 64 hex characters. */
int digest_parse(const char *s, const char **ret_hex);

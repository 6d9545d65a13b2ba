/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 (FIPS 180-4) behind common/digest.h: a streaming context over a block function, the
 * portable block function and, on x86-64, the one on the SHA extensions (SHA-NI), picked at run
 * time. Internal to common/ and its tests and benchmark; other folders use common/digest.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_BLOCK_LEN 64
#define SHA256_LEN 32

/* Runs the compression function over nblocks 64-byte blocks of data (no alignment needed),
 * updating the eight working words h[0..7] (H0..H7 of FIPS 180-4). */
typedef void sha256_blocks_fn(uint32_t h[8], const uint8_t *data, size_t nblocks);

/* The 64 round constants K0..K63 (FIPS 180-4 4.2.2). */
extern const uint32_t sha256_k[64];

void sha256_blocks_portable(uint32_t h[8], const uint8_t *data, size_t nblocks);
#if defined(__x86_64__)
#	define SHA256_HAVE_SHANI 1
/* Only on a CPU for which sha256_cpu_has_shani() is true. */
void sha256_blocks_shani(uint32_t h[8], const uint8_t *data, size_t nblocks);
#endif

/* True when the CPU has the SHA extensions (and the SSSE3/SSE4.1 the SHA-NI code uses). */
bool sha256_cpu_has_shani(void);
/* The fastest block function for this CPU (asks cpuid once). */
sha256_blocks_fn *sha256_blocks_best(void);

/* A streaming hash: init, update any number of times, final. */
struct sha256 {
	uint32_t h[8];
	uint64_t len;		       /* bytes fed so far */
	uint8_t buf[SHA256_BLOCK_LEN]; /* the partial block: len % 64 bytes */
	sha256_blocks_fn *blocks;
};

void sha256_init(struct sha256 *s, sha256_blocks_fn *blocks);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Pads, writes the 32-byte digest and leaves s spent: sha256_init() it before reuse. */
void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);

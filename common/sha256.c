/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 (FIPS 180-4): the streaming context (buffering of partial blocks, padding), the
 * portable compression function, and the run-time choice of the SHA-NI one (sha256-x86.c).
 */
#include <string.h>

#include "common/sha256-impl.h"

#if defined(__x86_64__)
#	include <cpuid.h>
#endif

/* The first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

/* H(0): the first 32 bits of the fractional parts of the square roots of the first 8 primes. */
static const uint32_t sha256_h0[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* ---- the portable compression function (FIPS 180-4 6.2.2) ---- */

static inline uint32_t ror32(uint32_t x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t x)
{
	p[0] = (uint8_t)(x >> 24);
	p[1] = (uint8_t)(x >> 16);
	p[2] = (uint8_t)(x >> 8);
	p[3] = (uint8_t)x;
}

/* The six logical functions of FIPS 180-4 4.1.2. */
static inline uint32_t ch(uint32_t x, uint32_t y, uint32_t z)
{
	return (x & y) ^ (~x & z);
}

static inline uint32_t maj(uint32_t x, uint32_t y, uint32_t z)
{
	return (x & y) ^ (x & z) ^ (y & z);
}

static inline uint32_t big_sigma0(uint32_t x)
{
	return ror32(x, 2) ^ ror32(x, 13) ^ ror32(x, 22);
}

static inline uint32_t big_sigma1(uint32_t x)
{
	return ror32(x, 6) ^ ror32(x, 11) ^ ror32(x, 25);
}

static inline uint32_t small_sigma0(uint32_t x)
{
	return ror32(x, 7) ^ ror32(x, 18) ^ (x >> 3);
}

static inline uint32_t small_sigma1(uint32_t x)
{
	return ror32(x, 17) ^ ror32(x, 19) ^ (x >> 10);
}

void sha256_blocks_portable(uint32_t h[8], const uint8_t *data, size_t nblocks)
{
	for (; nblocks; nblocks--, data += SHA256_BLOCK_LEN) {
		/* The message schedule W0..W63. */
		uint32_t w[64];
		for (int t = 0; t < 16; t++)
			w[t] = load_be32(data + 4 * t);
		for (int t = 16; t < 64; t++)
			w[t] = small_sigma1(w[t - 2]) + w[t - 7] + small_sigma0(w[t - 15]) +
			       w[t - 16];

		uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
		uint32_t e = h[4], f = h[5], g = h[6], hh = h[7];
		for (int t = 0; t < 64; t++) {
			uint32_t t1 = hh + big_sigma1(e) + ch(e, f, g) + sha256_k[t] + w[t];
			uint32_t t2 = big_sigma0(a) + maj(a, b, c);
			hh = g;
			g = f;
			f = e;
			e = d + t1;
			d = c;
			c = b;
			b = a;
			a = t1 + t2;
		}
		h[0] += a;
		h[1] += b;
		h[2] += c;
		h[3] += d;
		h[4] += e;
		h[5] += f;
		h[6] += g;
		h[7] += hh;
	}
}

/* ---- run-time choice ---- */

bool sha256_cpu_has_shani(void)
{
#if defined(SHA256_HAVE_SHANI)
	unsigned int eax, ebx, ecx, edx;
	/* Leaf 1: ECX bit 9 is SSSE3, bit 19 SSE4.1. */
	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		return false;
	if (!(ecx & (1u << 9)) || !(ecx & (1u << 19)))
		return false;
	/* Leaf 7 subleaf 0: EBX bit 29 is SHA. */
	if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
		return false;
	return ebx & (1u << 29);
#else
	return false;
#endif
}

sha256_blocks_fn *sha256_blocks_best(void)
{
	/* Asked once per process; threads racing here store the same value. */
	static sha256_blocks_fn *best;
	sha256_blocks_fn *fn = __atomic_load_n(&best, __ATOMIC_RELAXED);
	if (fn)
		return fn;
	fn = sha256_blocks_portable;
#if defined(SHA256_HAVE_SHANI)
	if (sha256_cpu_has_shani())
		fn = sha256_blocks_shani;
#endif
	__atomic_store_n(&best, fn, __ATOMIC_RELAXED);
	return fn;
}

/* ---- the streaming context ---- */

void sha256_init(struct sha256 *s, sha256_blocks_fn *blocks)
{
	memcpy(s->h, sha256_h0, sizeof(s->h));
	s->len = 0;
	s->blocks = blocks;
}

void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t used = s->len % SHA256_BLOCK_LEN;
	if (!len)
		return; /* data may be NULL */
	s->len += len;

	/* Fill the partial block first; hash it once full. */
	if (used) {
		size_t n = SHA256_BLOCK_LEN - used;
		if (len < n) {
			memcpy(s->buf + used, p, len);
			return;
		}
		memcpy(s->buf + used, p, n);
		s->blocks(s->h, s->buf, 1);
		p += n;
		len -= n;
	}
	/* Whole blocks straight from the caller's memory. */
	if (len >= SHA256_BLOCK_LEN) {
		size_t nblocks = len / SHA256_BLOCK_LEN;
		s->blocks(s->h, p, nblocks);
		p += nblocks * SHA256_BLOCK_LEN;
		len -= nblocks * SHA256_BLOCK_LEN;
	}
	if (len)
		memcpy(s->buf, p, len);
}

void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN])
{
	/* FIPS 180-4 5.1.1: a 1 bit, zeros up to 56 bytes mod 64, the length in bits, big-endian.
	 */
	static const uint8_t pad[SHA256_BLOCK_LEN] = {0x80};
	uint64_t bits = s->len * 8;
	size_t used = s->len % SHA256_BLOCK_LEN;
	sha256_update(s, pad, used < 56 ? 56 - used : 120 - used);
	uint8_t len_be[8];
	store_be32(len_be, (uint32_t)(bits >> 32));
	store_be32(len_be + 4, (uint32_t)bits);
	sha256_update(s, len_be, sizeof(len_be));

	for (int i = 0; i < 8; i++)
		store_be32(out + 4 * i, s->h[i]);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SHA-256 compression function on the x86 SHA extensions (SHA-NI). Compiled for the SHA,
 * SSSE3 and SSE4.1 instructions per function, so the rest of the build needs no -msha; called
 * only when sha256_cpu_has_shani() says the CPU has them.
 *
 * The instructions keep the eight working variables in two registers: "abef" holds A, B, E, F in
 * lanes 3, 2, 1, 0 and "cdgh" holds C, D, G, H likewise. sha256rnds2 runs two rounds on them with
 * W[t] + K[t] of those rounds in the low two lanes of its third operand, and returns the new
 * abef; the new cdgh is the old abef. sha256msg1 and sha256msg2 compute four words of the
 * message schedule W16..W63 between them.
 */
#include "common/sha256-impl.h"

#if defined(SHA256_HAVE_SHANI)

#	include <immintrin.h>

#	define SHANI __attribute__((target("sha,sse4.1")))

/* Four rounds t..t+3 with wk = W[t..t+3] + K[t..t+3]. */
SHANI static inline void rounds4(__m128i *abef, __m128i *cdgh, __m128i wk)
{
	__m128i next = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);
	*cdgh = *abef;
	*abef = next;
	/* Lanes 2 and 3 (rounds t+2, t+3) down to 0 and 1. */
	wk = _mm_shuffle_epi32(wk, 0x0e);
	next = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);
	*cdgh = *abef;
	*abef = next;
}

/*
 * W[t..t+3] from the previous sixteen words, given as w0 = W[t-16..t-13], w1 = W[t-12..t-9],
 * w2 = W[t-8..t-5], w3 = W[t-4..t-1]: W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16].
 */
SHANI static inline __m128i schedule4(__m128i w0, __m128i w1, __m128i w2, __m128i w3)
{
	/* W[t-16+i] + s0(W[t-15+i]) */
	__m128i x = _mm_sha256msg1_epu32(w0, w1);
	/* + W[t-7..t-4]: the last word of w2 and the first three of w3 */
	x = _mm_add_epi32(x, _mm_alignr_epi8(w3, w2, 4));
	/* + s1(W[t-2+i]), where W[t] and W[t+1] feed W[t+2] and W[t+3] */
	return _mm_sha256msg2_epu32(x, w3);
}

SHANI void sha256_blocks_shani(uint32_t h[8], const uint8_t *data, size_t nblocks)
{
	/* Big-endian words: reverse the bytes within each 32-bit lane. */
	const __m128i bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
	__m128i abef = _mm_set_epi32((int)h[0], (int)h[1], (int)h[4], (int)h[5]);
	__m128i cdgh = _mm_set_epi32((int)h[2], (int)h[3], (int)h[6], (int)h[7]);

	for (; nblocks; nblocks--, data += SHA256_BLOCK_LEN) {
		__m128i abef_in = abef, cdgh_in = cdgh;
		/* The last sixteen words of the schedule, four per register: w[i % 4] =
		 * W[4i..4i+3]. */
		__m128i w[4];
#	pragma GCC unroll 16
		for (int i = 0; i < 16; i++) {
			__m128i m;
			if (i < 4)
				m = _mm_shuffle_epi8(
					_mm_loadu_si128((const __m128i *)(data + 16 * i)), bswap);
			else
				m = schedule4(w[i % 4], w[(i + 1) % 4], w[(i + 2) % 4],
					      w[(i + 3) % 4]);
			w[i % 4] = m;
			__m128i k = _mm_loadu_si128((const __m128i *)(sha256_k + 4 * i));
			rounds4(&abef, &cdgh, _mm_add_epi32(m, k));
		}
		abef = _mm_add_epi32(abef, abef_in);
		cdgh = _mm_add_epi32(cdgh, cdgh_in);
	}

	uint32_t out[4];
	_mm_storeu_si128((__m128i *)out, abef);
	h[0] = out[3];
	h[1] = out[2];
	h[4] = out[1];
	h[5] = out[0];
	_mm_storeu_si128((__m128i *)out, cdgh);
	h[2] = out[3];
	h[3] = out[2];
	h[6] = out[1];
	h[7] = out[0];
}

#endif

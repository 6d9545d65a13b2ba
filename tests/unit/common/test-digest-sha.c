/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of our SHA-256 (common/sha256-impl.h): the FIPS 180 known answers, updates split at
 * every offset, every short length and random buffers against OpenSSL, for the portable and the
 * SHA-NI compression functions both, and the run-time choice between them against the kernel's
 * view of the CPU; digest_fd over a pipe. Set WHARF_TEST_SEED to replay a random run.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sys/random.h>
#include <sys/wait.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>
#include <openssl/sha.h>

#include "common/common.h"
#include "common/sha256-impl.h"

struct impl {
	const char *name;
	sha256_blocks_fn *blocks;
};

/* The implementations this CPU can run; the SHA-NI one only where cpuid has it. */
static struct impl impls[2];
static size_t n_impls;

static void find_impls(void)
{
	n_impls = 0;
	impls[n_impls++] = (struct impl){"portable", sha256_blocks_portable};
#if defined(SHA256_HAVE_SHANI)
	if (sha256_cpu_has_shani())
		impls[n_impls++] = (struct impl){"sha-ni", sha256_blocks_shani};
#endif
}

static void hex(const uint8_t md[SHA256_LEN], char out[2 * SHA256_LEN + 1])
{
	for (int i = 0; i < SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void hash_hex(sha256_blocks_fn *blocks, const void *data, size_t len,
		     char out[2 * SHA256_LEN + 1])
{
	struct sha256 s;
	uint8_t md[SHA256_LEN];
	sha256_init(&s, blocks);
	sha256_update(&s, data, len);
	sha256_final(&s, md);
	hex(md, out);
}

static void openssl_hex(const void *data, size_t len, char out[2 * SHA256_LEN + 1])
{
	uint8_t md[SHA256_LEN];
	SHA256(data, len, md);
	hex(md, out);
}

/* xorshift64*: a reproducible stream from one seed. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng() >> 56);
}

static void seed_rng(void)
{
	const char *env = getenv("WHARF_TEST_SEED");
	uint64_t seed = 0;
	if (env && *env)
		seed = strtoull(env, NULL, 0);
	else
		assert_int_equal(getrandom(&seed, sizeof(seed), 0), sizeof(seed));
	if (!seed)
		seed = 1;
	print_message("seed: WHARF_TEST_SEED=%" PRIu64 "\n", seed);
	rng_state = seed;
}

/* ---- known answers (FIPS 180-2 appendix B, NIST example values) ---- */

#define V_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define V_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define M_448 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define V_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define M_896                                                                                       \
	"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrl" \
	"mnopqrsmnopqrstnopqrstu"
#define V_896 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
#define V_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static void check_vectors(sha256_blocks_fn *blocks)
{
	char out[2 * SHA256_LEN + 1];
	hash_hex(blocks, "", 0, out);
	assert_string_equal(out, V_EMPTY);
	hash_hex(blocks, "abc", 3, out);
	assert_string_equal(out, V_ABC);
	assert_int_equal(strlen(M_448), 56);
	hash_hex(blocks, M_448, strlen(M_448), out);
	assert_string_equal(out, V_448);
	assert_int_equal(strlen(M_896), 112);
	hash_hex(blocks, M_896, strlen(M_896), out);
	assert_string_equal(out, V_896);

	/* One million 'a': once in one piece, once in 1000-byte updates. */
	uint8_t *a = xmalloc(1000000);
	memset(a, 'a', 1000000);
	hash_hex(blocks, a, 1000000, out);
	assert_string_equal(out, V_MILLION_A);
	struct sha256 s;
	uint8_t md[SHA256_LEN];
	sha256_init(&s, blocks);
	for (int i = 0; i < 1000; i++)
		sha256_update(&s, a, 1000);
	sha256_final(&s, md);
	hex(md, out);
	assert_string_equal(out, V_MILLION_A);
	free(a);
}

static void test_vectors_portable(void **state)
{
	check_vectors(sha256_blocks_portable);
}

static void test_vectors_shani(void **state)
{
#if defined(SHA256_HAVE_SHANI)
	if (!sha256_cpu_has_shani()) {
		print_message("this CPU has no SHA extensions: SHA-NI not tested\n");
		skip();
	}
	check_vectors(sha256_blocks_shani);
#else
	print_message("not x86-64: no SHA-NI code to test\n");
	skip();
#endif
}

/* The public API on the same answers, with the implementation it picked. */
static void test_vectors_digester(void **state)
{
	char out[DIGEST_STR_LEN];
	/* Nothing at all may come as NULL. */
	digest_buf(NULL, 0, out);
	assert_string_equal(out, "sha256:" V_EMPTY);
	digest_buf(M_896, strlen(M_896), out);
	assert_string_equal(out, "sha256:" V_896);
	struct digester *d = digester_new();
	digester_update(d, M_448, 20);
	digester_update(d, NULL, 0);
	digester_update(d, &M_448[20], strlen(M_448) - 20);
	digester_final(d, out);
	assert_string_equal(out, "sha256:" V_448);
	digester_free(d);
}

/* ---- streaming ---- */

/* A 300-byte message fed in two updates split at 0..130, and byte by byte, equals one-shot. */
static void test_split_updates(void **state)
{
	uint8_t msg[300];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	char want[2 * SHA256_LEN + 1], got[2 * SHA256_LEN + 1];
	openssl_hex(msg, sizeof(msg), want);

	for (size_t k = 0; k < n_impls; k++) {
		sha256_blocks_fn *blocks = impls[k].blocks;
		hash_hex(blocks, msg, sizeof(msg), got);
		assert_string_equal(got, want);

		for (size_t split = 0; split <= 130; split++) {
			struct sha256 s;
			uint8_t md[SHA256_LEN];
			sha256_init(&s, blocks);
			sha256_update(&s, msg, split);
			sha256_update(&s, msg + split, sizeof(msg) - split);
			sha256_final(&s, md);
			hex(md, got);
			if (strcmp(got, want) != 0)
				fail_msg("%s: split at %zu: %s != %s", impls[k].name, split, got,
					 want);
		}

		struct sha256 s;
		uint8_t md[SHA256_LEN];
		sha256_init(&s, blocks);
		for (size_t i = 0; i < sizeof(msg); i++) {
			sha256_update(&s, msg + i, 1);
			sha256_update(&s, msg, 0);
		}
		sha256_final(&s, md);
		hex(md, got);
		assert_string_equal(got, want);
	}

	/* And through digester_update, with the implementation digest.c picked. */
	for (size_t split = 0; split <= 130; split++) {
		char out[DIGEST_STR_LEN];
		struct digester *d = digester_new();
		digester_update(d, msg, split);
		digester_update(d, msg + split, sizeof(msg) - split);
		digester_final(d, out);
		assert_string_equal(out + 7, want);
		digester_free(d);
	}
}

/* digester_peek tells the digest so far at every length and the digester goes on unchanged. */
static void test_peek(void **state)
{
	uint8_t msg[300];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 11 + 5);
	struct digester *d = digester_new();
	for (size_t len = 0; len <= sizeof(msg); len++) {
		char want[2 * SHA256_LEN + 1], got[DIGEST_STR_LEN];
		openssl_hex(msg, len, want);
		digester_peek(d, got);
		assert_string_equal(got + 7, want);
		digester_peek(d, got);
		assert_string_equal(got + 7, want);
		if (len < sizeof(msg))
			digester_update(d, msg + len, 1);
	}
	char out[DIGEST_STR_LEN], want[2 * SHA256_LEN + 1];
	digester_final(d, out);
	openssl_hex(msg, sizeof(msg), want);
	assert_string_equal(out + 7, want);
	digester_free(d);
}

/* ---- against OpenSSL ---- */

/* Every length 0..600 (each padding case, one to ten blocks), at every alignment mod 16. */
static void test_lengths_vs_openssl(void **state)
{
	uint8_t buf[600 + 16];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(255 - i * 13);
	for (size_t k = 0; k < n_impls; k++) {
		for (size_t len = 0; len <= 600; len++) {
			const uint8_t *p = buf + len % 16;
			char want[2 * SHA256_LEN + 1], got[2 * SHA256_LEN + 1];
			openssl_hex(p, len, want);
			hash_hex(impls[k].blocks, p, len, got);
			if (strcmp(got, want) != 0)
				fail_msg("%s: length %zu: %s != %s", impls[k].name, len, got, want);
		}
	}
}

/* Random buffers of random lengths up to 4 MiB at random alignments, hashed in one piece and
 * in updates of random sizes, against OpenSSL's SHA256(). */
static void test_random_vs_openssl(void **state)
{
	enum { ROUNDS = 10, MAX_LEN = 4 << 20 };
	seed_rng();
	uint8_t *buf = xmalloc(MAX_LEN + 64);
	for (int round = 0; round < ROUNDS; round++) {
		/* Half short (under 8 KiB), half up to 4 MiB. */
		size_t len = (size_t)(rng() % (round % 2 ? MAX_LEN : 8192) + 1);
		size_t off = (size_t)(rng() % 64);
		uint8_t *p = buf + off;
		fill_random(p, len);
		char want[2 * SHA256_LEN + 1], got[2 * SHA256_LEN + 1];
		openssl_hex(p, len, want);

		for (size_t k = 0; k < n_impls; k++) {
			hash_hex(impls[k].blocks, p, len, got);
			if (strcmp(got, want) != 0)
				fail_msg("%s: %zu bytes at offset %zu: %s != %s", impls[k].name,
					 len, off, got, want);

			struct sha256 s;
			uint8_t md[SHA256_LEN];
			sha256_init(&s, impls[k].blocks);
			for (size_t done = 0; done < len;) {
				/* Mostly under a block, sometimes many blocks. */
				size_t n = (size_t)(rng() % 4 ? rng() % 100 : rng() % 200000);
				n = MIN(n, len - done);
				sha256_update(&s, p + done, n);
				done += n;
			}
			sha256_final(&s, md);
			hex(md, got);
			if (strcmp(got, want) != 0)
				fail_msg("%s: %zu bytes in random updates: %s != %s", impls[k].name,
					 len, got, want);
		}
	}
	free(buf);
}

/* digest_fd over a pipe that a child fills in writes of odd sizes: reads come short and
 * uneven, and the digest and the count still match OpenSSL's over the same bytes. */
static void test_fd_pipe_vs_openssl(void **state)
{
	enum { LEN = 3 << 20 };
	seed_rng();
	uint8_t *buf = xmalloc(LEN);
	fill_random(buf, LEN);
	size_t sizes[64];
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		sizes[i] = (size_t)(rng() % 70000 + 1);

	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		for (size_t done = 0, i = 0; done < LEN; i++) {
			size_t n = MIN(sizes[i % ARRAY_SIZE(sizes)], (size_t)LEN - done);
			if (write_all(p[1], buf + done, n) < 0)
				_exit(1);
			done += n;
		}
		_exit(0);
	}
	close(p[1]);
	char out[DIGEST_STR_LEN], want[2 * SHA256_LEN + 1];
	uint64_t size = 0;
	int r = digest_fd(p[0], out, &size);
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(r, 0);
	assert_int_equal(size, LEN);
	openssl_hex(buf, LEN, want);
	assert_string_equal(out + 7, want);
	free(buf);
}

/* ---- the run-time choice ---- */

/* The kernel's "sha_ni" flag in /proc/cpuinfo: a second opinion beside our cpuid code. */
static bool kernel_says_sha_ni(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	assert_non_null(f);
	char *line = NULL;
	size_t cap = 0;
	bool found = false, seen_flags = false;
	while (!seen_flags && getline(&line, &cap, f) > 0) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		seen_flags = true;
		for (char *tok = strtok(line, " \t\n"); tok; tok = strtok(NULL, " \t\n"))
			found |= strcmp(tok, "sha_ni") == 0;
	}
	free(line);
	fclose(f);
	assert_true(seen_flags);
	return found;
}

static void test_choice(void **state)
{
	bool has = kernel_says_sha_ni();
	print_message("cpu: %s\n", has ? "sha_ni" : "no sha_ni");
	assert_int_equal(sha256_cpu_has_shani(), has);
#if defined(SHA256_HAVE_SHANI)
	assert_ptr_equal(sha256_blocks_best(), has ? sha256_blocks_shani : sha256_blocks_portable);
#else
	assert_ptr_equal(sha256_blocks_best(), sha256_blocks_portable);
#endif
	/* Asked again, the same. */
	assert_ptr_equal(sha256_blocks_best(), sha256_blocks_best());
}

int main(void)
{
	find_impls();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_portable),
		cmocka_unit_test(test_vectors_shani),
		cmocka_unit_test(test_vectors_digester),
		cmocka_unit_test(test_split_updates),
		cmocka_unit_test(test_lengths_vs_openssl),
		cmocka_unit_test(test_random_vs_openssl),
		cmocka_unit_test(test_fd_pipe_vs_openssl),
		cmocka_unit_test(test_choice),
		cmocka_unit_test(test_peek),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

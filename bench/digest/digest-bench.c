/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 throughput of common's digests beside OpenSSL's EVP and coreutils' sha256sum, in one
 * run: over a buffer in memory, and over a file (on tmpfs, given by run.sh) read in 64 KiB
 * chunks as digest_fd() does. Every digest is checked against OpenSSL's; the best of REPEAT runs
 * is reported, as MB/s (10^6 bytes) and as a ratio to OpenSSL EVP on the same input.
 *
 * usage: digest-bench FILE SIZE_MIB REPEAT
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/wait.h>

#include "common/common.h"
#include "common/sha256-impl.h"

#define CHUNK (1 << 16)

extern char **environ;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void to_str(const uint8_t md[SHA256_LEN], char out[DIGEST_STR_LEN])
{
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < SHA256_LEN; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* ---- the contenders: each hashes the buffer or the file into out ---- */

struct input {
	const uint8_t *buf;
	size_t len;
	const char *path;
};

static void ours_mem(sha256_blocks_fn *blocks, const struct input *in, char out[DIGEST_STR_LEN])
{
	struct sha256 s;
	uint8_t md[SHA256_LEN];
	sha256_init(&s, blocks);
	sha256_update(&s, in->buf, in->len);
	sha256_final(&s, md);
	to_str(md, out);
}

static void shani_mem(const struct input *in, char out[DIGEST_STR_LEN])
{
#if defined(SHA256_HAVE_SHANI)
	ours_mem(sha256_blocks_shani, in, out);
#endif
}

static void portable_mem(const struct input *in, char out[DIGEST_STR_LEN])
{
	ours_mem(sha256_blocks_portable, in, out);
}

static void openssl_mem(const struct input *in, char out[DIGEST_STR_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t md[SHA256_LEN];
	unsigned int n = 0;
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, in->buf, in->len) != 1 || EVP_DigestFinal_ex(ctx, md, &n) != 1 ||
	    n != SHA256_LEN)
		BUG("openssl sha256 failed");
	EVP_MD_CTX_free(ctx);
	to_str(md, out);
}

static int open_input(const struct input *in)
{
	int fd = open(in->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "digest-bench: open '%s': %m\n", in->path);
		exit(EXIT_FAILURE);
	}
	return fd;
}

/* Reads the file in CHUNK reads and feeds each to update(ctx, ...), as digest_fd() does. */
static void read_loop(const struct input *in, void (*update)(void *, const void *, size_t),
		      void *ctx)
{
	static uint8_t buf[CHUNK];
	int fd = open_input(in);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "digest-bench: read '%s': %m\n", in->path);
			exit(EXIT_FAILURE);
		}
		if (n == 0)
			break;
		update(ctx, buf, (size_t)n);
	}
	close(fd);
}

static void digest_fd_file(const struct input *in, char out[DIGEST_STR_LEN])
{
	uint64_t size = 0;
	int fd = open_input(in);
	int r = digest_fd(fd, out, &size);
	close(fd);
	if (r < 0 || size != in->len)
		BUG("digest_fd failed");
}

static void sha256_update_cb(void *ctx, const void *p, size_t n)
{
	sha256_update(ctx, p, n);
}

static void portable_file(const struct input *in, char out[DIGEST_STR_LEN])
{
	struct sha256 s;
	uint8_t md[SHA256_LEN];
	sha256_init(&s, sha256_blocks_portable);
	read_loop(in, sha256_update_cb, &s);
	sha256_final(&s, md);
	to_str(md, out);
}

static void evp_update_cb(void *ctx, const void *p, size_t n)
{
	if (EVP_DigestUpdate(ctx, p, n) != 1)
		BUG("openssl sha256 update failed");
}

static void openssl_file(const struct input *in, char out[DIGEST_STR_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t md[SHA256_LEN];
	unsigned int n = 0;
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		BUG("openssl sha256 init failed");
	read_loop(in, evp_update_cb, ctx);
	if (EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != SHA256_LEN)
		BUG("openssl sha256 final failed");
	EVP_MD_CTX_free(ctx);
	to_str(md, out);
}

/* `sha256sum FILE`, its output read back through a pipe. */
static void sha256sum_file(const struct input *in, char out[DIGEST_STR_LEN])
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		BUG("pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	char prog[] = "sha256sum";
	char *argv[] = {prog, (char *)in->path, NULL};
	pid_t pid;
	int r = posix_spawnp(&pid, "sha256sum", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (r != 0) {
		fprintf(stderr, "digest-bench: spawn sha256sum: %s\n", strerror(r));
		exit(EXIT_FAILURE);
	}
	char line[256] = "";
	ssize_t n = read_full(p[0], line, sizeof(line) - 1);
	close(p[0]);
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    n < DIGEST_HEX_LEN) {
		fprintf(stderr, "digest-bench: sha256sum failed\n");
		exit(EXIT_FAILURE);
	}
	memcpy(out, "sha256:", 7);
	memcpy(out + 7, line, DIGEST_HEX_LEN);
	out[7 + DIGEST_HEX_LEN] = 0;
}

/* ---- the table ---- */

struct contender {
	const char *name;
	const char *where; /* "memory" or "file" */
	void (*run)(const struct input *in, char out[DIGEST_STR_LEN]);
	bool baseline; /* OpenSSL EVP: the ratios' denominator for its rows */
	double best;
};

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: digest-bench FILE SIZE_MIB REPEAT\n");
		return EXIT_FAILURE;
	}
	struct input in = {.path = argv[1], .len = (size_t)strtoull(argv[2], NULL, 10) << 20};
	int repeat = atoi(argv[3]);
	if (in.len == 0 || repeat < 1) {
		fprintf(stderr, "digest-bench: bad SIZE_MIB or REPEAT\n");
		return EXIT_FAILURE;
	}

	/* Random bytes (xorshift64), in memory and in the file. */
	uint8_t *buf = xmalloc(in.len);
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < in.len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, MIN((size_t)8, in.len - i));
	}
	in.buf = buf;
	int fd = open(in.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, buf, in.len) < 0 || close(fd) < 0) {
		fprintf(stderr, "digest-bench: write '%s': %m\n", in.path);
		return EXIT_FAILURE;
	}

	bool shani = sha256_cpu_has_shani();
	struct contender c[] = {
		{"ours, SHA-NI", "memory", shani ? shani_mem : NULL, false, 0},
		{"ours, portable", "memory", portable_mem, false, 0},
		{"OpenSSL EVP", "memory", openssl_mem, true, 0},
		{shani ? "ours, digest_fd (SHA-NI)" : "ours, digest_fd (portable)", "file",
		 digest_fd_file, false, 0},
		{"ours, portable", "file", portable_file, false, 0},
		{"OpenSSL EVP", "file", openssl_file, true, 0},
		{"sha256sum", "file", sha256sum_file, false, 0},
	};
	char want[DIGEST_STR_LEN];
	openssl_mem(&in, want);

	/* Rounds run every contender once, so that noise from the machine spreads over all. */
	for (int round = 0; round < repeat; round++) {
		for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
			if (!c[i].run)
				continue;
			char got[DIGEST_STR_LEN] = "";
			double t0 = now();
			c[i].run(&in, got);
			double t = now() - t0;
			if (strcmp(got, want) != 0) {
				fprintf(stderr, "digest-bench: %s (%s): %s, want %s\n", c[i].name,
					c[i].where, got, want);
				return EXIT_FAILURE;
			}
			if (round == 0 || t < c[i].best)
				c[i].best = t;
		}
	}

	printf("SHA-256 of %zu MiB, best of %d, %s\n", in.len >> 20, repeat, want);
	printf("%-28s %-7s %10s %12s\n", "implementation", "input", "MB/s", "vs OpenSSL");
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		if (!c[i].run) {
			printf("%-28s %-7s %10s %12s\n", c[i].name, c[i].where, "-", "(no sha_ni)");
			continue;
		}
		double base = 0;
		for (size_t j = 0; j < ARRAY_SIZE(c); j++)
			if (c[j].baseline && strcmp(c[j].where, c[i].where) == 0)
				base = c[j].best;
		printf("%-28s %-7s %10.0f %11.2fx\n", c[i].name, c[i].where,
		       (double)in.len / c[i].best / 1e6, base / c[i].best);
	}
	free(buf);
	return EXIT_SUCCESS;
}

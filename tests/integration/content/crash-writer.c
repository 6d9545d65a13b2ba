/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The writer side of the content crash test: ingests a deterministic stream through metadata/
 * (resuming whatever a killed predecessor left) and commits it.
 *
 * usage: content-crash-writer ROOT NS REF SEED SIZE CHUNK PACE_US
 * (PACE_US: a pause after each chunk, as data that arrives from a network)
 * stdout: "R <offset>" once the writer is open (the offset it resumes at), "C" just before the
 * commit, "D <digest>" after it. Exit 0 on success (an already committed blob counts).
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "common/common.h"
#include "content/content.h"
#include "metadata/metadata.h"

/* xorshift64: the same stream for the same seed */
static void fill(uint64_t seed, unsigned char *buf, size_t len)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)(x >> 24);
	}
}

static void say(const char *line)
{
	/* one write per line: the parent reads them from a pipe */
	if (write_all(STDOUT_FILENO, line, strlen(line)) < 0)
		_exit(9);
}

static int run(const char *root, const char *ns, const char *ref, uint64_t seed, size_t size,
	       size_t chunk, useconds_t pace, struct wh_err **err)
{
	cleanup_free char *content = path_join(root, "content");
	cleanup_free char *dbpath = path_join(root, "metadata.db");
	cleanup_free unsigned char *data = xmalloc(size);
	struct content_store *cs = NULL;
	struct meta_db *db = NULL;
	struct meta_writer *w = NULL;
	struct content_status st = {0};
	char expected[DIGEST_STR_LEN], got[DIGEST_STR_LEN], line[128];
	int r;

	fill(seed, data, size);
	digest_buf(data, size, expected);
	r = content_store_open(content, &cs, err);
	if (r >= 0)
		r = meta_db_open(dbpath, cs, &db, err);
	if (r >= 0) {
		r = meta_lease_create(db, ns, "crash", NULL, err);
		if (r == -EEXIST) {
			*err = wh_err_free(*err);
			r = 0;
		}
	}
	if (r >= 0)
		r = meta_writer_open(db, ns, ref, size, expected, "crash", &w, err);
	if (r >= 0)
		r = meta_writer_status(w, &st, err);
	if (r < 0)
		goto out;
	snprintf(line, sizeof(line), "R %llu\n", (unsigned long long)st.offset);
	say(line);
	for (uint64_t off = st.offset; off < size && r >= 0; off += chunk) {
		r = meta_writer_write(w, data + off, (size_t)MIN((uint64_t)chunk, size - off), err);
		if (pace)
			usleep(pace);
	}
	if (r < 0)
		goto out;
	say("C\n");
	r = meta_writer_commit(w, size, expected, NULL, got, err);
	if (r == -EEXIST) {
		/* a predecessor committed it before it died */
		*err = wh_err_free(*err);
		memcpy(got, expected, sizeof(got));
		r = 0;
	}
	if (r >= 0) {
		snprintf(line, sizeof(line), "D %s\n", got);
		say(line);
	}
out:
	content_status_release(&st);
	meta_writer_free(w);
	meta_db_close(db);
	content_store_free(cs);
	return r;
}

int main(int argc, char **argv)
{
	cleanup_err struct wh_err *err = NULL;
	uint64_t seed, size, chunk, pace;

	if (argc != 8 || parse_u64(argv[4], &seed) < 0 || parse_u64(argv[5], &size) < 0 ||
	    parse_u64(argv[6], &chunk) < 0 || parse_u64(argv[7], &pace) < 0 || !size || !chunk ||
	    pace > 1000000) {
		fprintf(stderr, "usage: %s ROOT NS REF SEED SIZE CHUNK PACE_US\n", argv[0]);
		return 2;
	}
	if (run(argv[1], argv[2], argv[3], seed, size, chunk, (useconds_t)pace, &err) < 0) {
		fprintf(stderr, "content-crash-writer: %s\n", wh_err_msg(err));
		return 1;
	}
	return 0;
}

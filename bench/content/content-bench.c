/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest throughput of the content store: reads SRC once in CHUNK-sized pieces and streams it
 * through a writer (hash + write), then commits (verify, fsync, rename). Mode "store" uses
 * content/ directly, mode "meta" goes through metadata/ (namespaced ingest, lease, SQLite row).
 * Prints the seconds taken on stdout.
 *
 * usage: content-bench store|meta ROOT SRC [CHUNK]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "common/common.h"
#include "content/content.h"
#include "metadata/metadata.h"

static int run(const char *mode, const char *root, const char *src, size_t chunk,
	       struct wh_err **err)
{
	cleanup_free char *content = path_join(root, "content");
	cleanup_free char *dbpath = path_join(root, "metadata.db");
	cleanup_free char *buf = xmalloc(chunk);
	cleanup_close int fd = -EBADF;
	struct content_store *cs = NULL;
	struct content_writer *w = NULL;
	struct meta_db *db = NULL;
	struct meta_writer *mw = NULL;
	bool meta = streq(mode, "meta");
	char dg[DIGEST_STR_LEN];
	uint64_t t0, total = 0;
	int r;

	r = content_store_open(content, &cs, err);
	if (r >= 0 && meta)
		r = meta_db_open(dbpath, cs, &db, err);
	if (r >= 0 && meta)
		r = meta_lease_create(db, "bench", "bench", NULL, err);
	if (r < 0)
		goto out;
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = wh_err_set(err, errno, "open '%s'", src);
		goto out;
	}
	t0 = now_mono_ns();
	if (meta)
		r = meta_writer_open(db, "bench", "stream", 0, NULL, "bench", &mw, err);
	else
		r = content_writer_open(cs, "stream", 0, NULL, &w, err);
	while (r >= 0) {
		ssize_t n = read(fd, buf, chunk);
		if (n < 0) {
			r = wh_err_set(err, errno, "read '%s'", src);
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		r = meta ? meta_writer_write(mw, buf, (size_t)n, err)
			 : content_writer_write(w, buf, (size_t)n, err);
	}
	if (r >= 0)
		r = meta ? meta_writer_commit(mw, total, NULL, NULL, dg, err)
			 : content_writer_commit(w, total, NULL, dg, err);
	if (r >= 0)
		printf("%.3f %s\n", (double)(now_mono_ns() - t0) / 1e9, dg);
out:
	meta_writer_free(mw);
	content_writer_free(w);
	meta_db_close(db);
	content_store_free(cs);
	return r;
}

int main(int argc, char **argv)
{
	cleanup_err struct wh_err *err = NULL;
	uint64_t chunk = 1 << 20;

	if (argc < 4 || (!streq(argv[1], "store") && !streq(argv[1], "meta")) ||
	    (argc > 4 && (parse_u64(argv[4], &chunk) < 0 || !chunk || chunk > (1u << 30)))) {
		fprintf(stderr, "usage: %s store|meta ROOT SRC [CHUNK]\n", argv[0]);
		return 2;
	}
	if (run(argv[1], argv[2], argv[3], (size_t)chunk, &err) < 0) {
		fprintf(stderr, "content-bench: %s\n", wh_err_msg(err));
		return 1;
	}
	return 0;
}

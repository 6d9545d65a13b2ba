/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Crash test of the garbage collector: kill -9 a collecting process at random points, then check
 * that nothing live was lost (content rows, blobs and snapshot records reachable from images,
 * containers and leases), that SQLite's integrity_check is ok, and that the next collection
 * removes everything that is garbage.
 *
 * usage: content-gc-crash-test [ROUNDS] [SEED]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <sys/wait.h>

#include "common/common.h"
#include "content/content.h"
#include "metadata/metadata.h"

#define LIVE 60	 /* per round: blobs behind an image chain */
#define DEAD 60	 /* per round: unreferenced blobs */
#define SNAPS 20 /* per round: snapshots, half behind a container */

static char root[64];

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fprintf(stderr, "content-gc-crash-test: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (root %s kept for inspection)\n", root);
	va_end(ap);
	exit(1);
}

struct env {
	struct content_store *cs;
	struct meta_db *db;
	char *content, *dbpath;
};

static void env_open(struct env *e)
{
	cleanup_err struct wh_err *err = NULL;

	e->content = xasprintf("%s/content", root);
	e->dbpath = xasprintf("%s/metadata.db", root);
	if (content_store_open(e->content, &e->cs, &err) < 0 ||
	    meta_db_open(e->dbpath, e->cs, &e->db, &err) < 0)
		die("open: %s", wh_err_msg(err));
}

static void env_close(struct env *e)
{
	meta_db_close(e->db);
	content_store_free(e->cs);
	free(e->content);
	free(e->dbpath);
}

static void put(struct env *e, const char *data, char *const *labels, char out[DIGEST_STR_LEN])
{
	cleanup_err struct wh_err *err = NULL;
	struct meta_writer *w = NULL;
	int r = meta_writer_open(e->db, "default", data, 0, NULL, NULL, &w, &err);

	if (r >= 0)
		r = meta_writer_write(w, data, strlen(data), &err);
	if (r >= 0)
		r = meta_writer_commit(w, 0, NULL, labels, out, &err);
	meta_writer_free(w);
	if (r < 0)
		die("put %s: %s", data, wh_err_msg(err));
}

static void snap(struct env *e, const char *key, const char *parent)
{
	cleanup_err struct wh_err *err = NULL;
	struct meta_snapshot s = {.snapshotter = (char *)"native",
				  .key = (char *)key,
				  .backend_key = (char *)key,
				  .parent = (char *)parent,
				  .kind = META_SNAPSHOT_COMMITTED};

	if (meta_snapshot_create(e->db, "default", &s, NULL, &err) < 0)
		die("snapshot %s: %s", key, wh_err_msg(err));
}

/*
 * Round r: a chain of LIVE blobs (each labels the next) under image img-r, DEAD loose blobs, and
 * two snapshot chains of SNAPS / 2, one under container ctr-r. Live digests go to live[].
 */
static void populate(struct env *e, unsigned r, char (*live)[DIGEST_STR_LEN])
{
	char prev[DIGEST_STR_LEN] = "", data[64], key[64], parent[64];

	for (int i = 0; i < LIVE; i++) {
		char *l[] = {(char *)"containerd.io/gc.ref.content.next", prev, NULL};
		snprintf(data, sizeof(data), "live-%u-%d", r, i);
		put(e, data, i ? l : NULL, live[i]);
		memcpy(prev, live[i], sizeof(prev));
	}
	for (int i = 0; i < DEAD; i++) {
		char dg[DIGEST_STR_LEN];
		snprintf(data, sizeof(data), "dead-%u-%d", r, i);
		put(e, data, NULL, dg);
	}
	for (int c = 0; c < 2; c++) {
		for (int i = 0; i < SNAPS / 2; i++) {
			snprintf(key, sizeof(key), "s-%u-%d-%d", r, c, i);
			snprintf(parent, sizeof(parent), "s-%u-%d-%d", r, c, i - 1);
			snap(e, key, i ? parent : NULL);
		}
	}
	struct meta_image img = {.name = xasprintf("img-%u", r),
				 .target = {.media_type = (char *)"application/octet-stream"}};
	memcpy(img.target.digest, prev, sizeof(prev));
	struct meta_container ctr = {.id = xasprintf("ctr-%u", r),
				     .runtime_name = (char *)"io.containerd.runc.v2",
				     .snapshotter = (char *)"native",
				     .snapshot_key = xasprintf("s-%u-0-%d", r, SNAPS / 2 - 1)};
	if (meta_image_create(e->db, "default", &img, NULL) < 0 ||
	    meta_container_create(e->db, "default", &ctr, NULL) < 0)
		die("image or container of round %u", r);
	free(img.name);
	free(ctr.id);
	free(ctr.snapshot_key);
}

/* A collector in a child process, killed at a random point. Returns true if the kill landed. */
static bool gc_and_kill(struct env *e)
{
	int p[2], status = 0;
	char c;
	pid_t pid;

	if (pipe(p) < 0)
		die("pipe: %m");
	pid = fork();
	if (pid < 0)
		die("fork: %m");
	if (pid == 0) {
		struct content_store *cs = NULL;
		struct meta_db *db = NULL;
		close(p[0]);
		if (content_store_open(e->content, &cs, NULL) < 0 ||
		    meta_db_open(e->dbpath, cs, &db, NULL) < 0)
			_exit(2);
		if (write(p[1], "g", 1) != 1)
			_exit(3);
		_exit(meta_gc(db, NULL, NULL, NULL, NULL) < 0 ? 4 : 0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		die("collector did not start");
	close(p[0]);
	usleep((useconds_t)(rand() % 40000));
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %m");
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		die("collector failed on its own: %d", WEXITSTATUS(status));
	return WIFSIGNALED(status);
}

static bool has_content(struct env *e, const char *dg)
{
	struct meta_content_info info;

	if (meta_content_info(e->db, "default", dg, &info, NULL) < 0)
		return false;
	meta_content_info_release(&info);
	return content_exists(e->cs, dg);
}

static size_t count_snaps(struct env *e)
{
	struct meta_snapshot *v = NULL;
	size_t n = 0;

	if (meta_snapshot_list(e->db, "default", NULL, NULL, &v, &n, NULL) < 0)
		die("list snapshots");
	meta_snapshots_free(v, n);
	return n;
}

static int count_cb(const struct meta_content_info *info, void *userdata)
{
	(*(size_t *)userdata)++;
	return 0;
}

static int count_blob(const struct content_info *info, void *userdata)
{
	(*(size_t *)userdata)++;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 20;
	unsigned seed = argc > 2 ? (unsigned)atoi(argv[2]) : (unsigned)(now_real_ns() % 100000);
	char(*live)[DIGEST_STR_LEN] = xcalloc((size_t)rounds * LIVE, DIGEST_STR_LEN);
	cleanup_err struct wh_err *err = NULL;
	unsigned landed = 0;
	struct env e = {0};
	size_t rows = 0, blobs = 0;

	srand(seed);
	snprintf(root, sizeof(root), "/tmp/content-gccrash-XXXXXX");
	if (!mkdtemp(root))
		die("mkdtemp: %m");
	printf("content-gc-crash-test: seed %u, %u rounds, root %s\n", seed, rounds, root);
	env_open(&e);
	for (unsigned r = 0; r < rounds; r++) {
		populate(&e, r, live + (size_t)r * LIVE);
		landed += gc_and_kill(&e);
		if (meta_db_integrity_check(e.db, &err) < 0)
			die("round %u: %s", r, wh_err_msg(err));
		/* nothing live may be lost, whatever the point of the kill */
		for (size_t i = 0; i < (size_t)(r + 1) * LIVE; i++)
			if (!has_content(&e, live[i]))
				die("round %u: live content %s lost", r, live[i]);
		if (count_snaps(&e) < (size_t)(r + 1) * SNAPS / 2)
			die("round %u: live snapshots lost", r);
	}
	/* a full collection converges: exactly the live set remains */
	if (meta_gc(e.db, NULL, NULL, NULL, &err) < 0)
		die("final gc: %s", wh_err_msg(err));
	if (meta_content_walk(e.db, "default", NULL, count_cb, &rows, &err) < 0 ||
	    content_walk(e.cs, NULL, count_blob, &blobs, &err) < 0)
		die("walk: %s", wh_err_msg(err));
	if (rows != (size_t)rounds * LIVE || blobs != rows)
		die("after the final gc: %zu rows, %zu blobs, want %u", rows, blobs, rounds * LIVE);
	if (count_snaps(&e) != (size_t)rounds * SNAPS / 2)
		die("after the final gc: %zu snapshots, want %u", count_snaps(&e),
		    rounds * SNAPS / 2);
	if (meta_db_integrity_check(e.db, &err) < 0)
		die("%s", wh_err_msg(err));
	env_close(&e);
	free(live);
	printf("content-gc-crash-test: %u of %u kills landed mid-collection\n", landed, rounds);
	/* The test must have killed real collections, not only idle processes; a quarter is
	 * enough to mean it and leaves room for a loaded machine's timing (13 of 20 is usual). */
	if (landed < rounds / 4)
		die("too few kills landed: raise the delay range");
	rm_rf(root);
	printf("content-gc-crash-test: ok\n");
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Crash test of the content store and metadata: kill -9 a real writer process (crash-writer.c)
 * at random points of its ingest and of its commit, then check that no partial or wrong blob is
 * visible, that SQLite's integrity_check is ok, that a new writer resumes at the offset the
 * ingest reported and commits the right digest.
 *
 * usage: content-crash-test WRITER [ROUNDS] [SEED]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include "common/common.h"
#include "content/content.h"
#include "metadata/metadata.h"

#define NS "crash"
#define SIZE (1u << 20)
#define CHUNK 4096
#define PACE_US "150" /* about 40 ms per ingest: room for random kills */

enum phase { PHASE_START, PHASE_INGEST, PHASE_COMMIT, PHASE_DONE, _PHASE_MAX };
static const char *const phase_names[] = {"startup", "ingest", "commit", "after commit"};

struct child {
	pid_t pid;
	int out;
	struct strbuf lines;
};

static const char *arg_writer;
static char root[64];

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

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fprintf(stderr, "content-crash-test: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (root %s kept for inspection)\n", root);
	va_end(ap);
	exit(1);
}

static void spawn(struct child *c, const char *ref, uint64_t seed)
{
	char seed_s[32], size_s[32], chunk_s[32];
	int p[2];

	snprintf(seed_s, sizeof(seed_s), "%llu", (unsigned long long)seed);
	snprintf(size_s, sizeof(size_s), "%u", SIZE);
	snprintf(chunk_s, sizeof(chunk_s), "%u", CHUNK);
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %m");
	c->pid = fork();
	if (c->pid < 0)
		die("fork: %m");
	if (c->pid == 0) {
		if (dup2(p[1], STDOUT_FILENO) < 0)
			_exit(127);
		execl(arg_writer, arg_writer, root, NS, ref, seed_s, size_s, chunk_s, PACE_US,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	c->out = p[0];
	strbuf_init(&c->lines, 0);
}

/* Reads what the child printed so far (block == wait for at least one more byte or EOF). */
static bool pump(struct child *c, int timeout_ms)
{
	struct pollfd pfd = {.fd = c->out, .events = POLLIN};
	char buf[256];
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return false;
	n = read(c->out, buf, sizeof(buf));
	if (n <= 0)
		return false;
	strbuf_add(&c->lines, buf, (size_t)n);
	return true;
}

static int reap(struct child *c)
{
	int status = 0;

	while (waitpid(c->pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %m");
	while (pump(c, 0))
		;
	close(c->out);
	return status;
}

static enum phase phase_of(const struct child *c)
{
	if (strstr(c->lines.buf, "D "))
		return PHASE_DONE;
	if (strstr(c->lines.buf, "C\n"))
		return PHASE_COMMIT;
	if (strstr(c->lines.buf, "R "))
		return PHASE_INGEST;
	return PHASE_START;
}

/* Every visible blob must be complete and correct: its name is the digest of its bytes. */
static size_t check_blobs(void)
{
	cleanup_free char *dir = xasprintf("%s/content/blobs/sha256", root);
	cleanup_closedir DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		die("open %s: %m", dir);
	while ((de = readdir(d))) {
		cleanup_close int fd = -EBADF;
		char dg[DIGEST_STR_LEN];
		uint64_t size;

		if (de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || digest_fd(fd, dg, &size) < 0)
			die("read blob %s: %m", de->d_name);
		if (!streq(dg + 7, de->d_name))
			die("blob %s holds %s (%llu bytes): a partial or wrong blob is visible",
			    de->d_name, dg, (unsigned long long)size);
		if (size != SIZE)
			die("blob %s has %llu bytes", de->d_name, (unsigned long long)size);
		n++;
	}
	return n;
}

struct env {
	struct content_store *cs;
	struct meta_db *db;
};

static void env_open(struct env *e)
{
	cleanup_free char *content = xasprintf("%s/content", root);
	cleanup_free char *dbpath = xasprintf("%s/metadata.db", root);
	cleanup_err struct wh_err *err = NULL;

	if (content_store_open(content, &e->cs, &err) < 0 ||
	    meta_db_open(dbpath, e->cs, &e->db, &err) < 0)
		die("open: %s", wh_err_msg(err));
}

static void env_close(struct env *e)
{
	meta_db_close(e->db);
	content_store_free(e->cs);
}

/* Kills the writer at a random point; returns the phase it died in (or _PHASE_MAX if it exited). */
static enum phase kill_randomly(struct env *e, struct child *c, const char *ref, int mode)
{
	int status;

	if (mode == 0) {
		/* ingest: once the ingest reaches a random offset */
		uint64_t target = (uint64_t)rand() % (SIZE - SIZE / 16);
		for (;;) {
			struct content_status st;
			if (meta_content_status(e->db, NS, ref, &st, NULL) >= 0) {
				bool reached = st.offset >= target;
				content_status_release(&st);
				if (reached)
					break;
			}
			if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
				/* it finished between two polls: no kill this round */
				while (pump(c, 0))
					;
				close(c->out);
				if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
					return _PHASE_MAX;
				die("writer of %s failed (status %#x): %s", ref, status,
				    c->lines.buf);
			}
			pump(c, 0);
		}
	} else if (mode == 1) {
		/* commit: a random delay after the writer announced it */
		while (phase_of(c) < PHASE_COMMIT)
			if (!pump(c, 10000))
				die("writer never reached its commit");
		usleep((useconds_t)(rand() % 4000));
	} else {
		/* any time since start */
		usleep((useconds_t)(rand() % 60000));
	}
	kill(c->pid, SIGKILL);
	status = reap(c);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return phase_of(c);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return _PHASE_MAX;
	die("writer failed on its own (status %#x): %s", status, c->lines.buf);
}

static void check_after_kill(struct env *e, const char *ref, uint64_t *ret_offset, bool *ret_has)
{
	cleanup_err struct wh_err *err = NULL;
	struct content_status st;
	int r;

	check_blobs();
	if (meta_db_integrity_check(e->db, &err) < 0)
		die("%s", wh_err_msg(err));
	r = meta_content_status(e->db, NS, ref, &st, &err);
	*ret_has = r >= 0;
	*ret_offset = r >= 0 ? st.offset : 0;
	if (r >= 0)
		content_status_release(&st);
	else if (r != -ENOENT)
		die("status of %s: %s", ref, wh_err_msg(err));
}

static void resume_and_verify(struct env *e, const char *ref, uint64_t seed, bool had_ingest,
			      uint64_t offset)
{
	cleanup_free unsigned char *data = xmalloc(SIZE);
	char expected[DIGEST_STR_LEN], *p;
	struct meta_content_info info;
	struct content_status st;
	struct child c;
	int status;

	fill(seed, data, SIZE);
	digest_buf(data, SIZE, expected);
	spawn(&c, ref, seed);
	status = reap(&c);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("resumed writer of %s failed (status %#x)", ref, status);
	p = strstr(c.lines.buf, "R ");
	if (!p)
		die("resumed writer printed no offset");
	if (had_ingest && strtoull(p + 2, NULL, 10) != offset)
		die("%s resumed at %s, the ingest said %llu", ref, p + 2,
		    (unsigned long long)offset);
	p = strstr(c.lines.buf, "D ");
	if (!p || strncmp(p + 2, expected, DIGEST_STR_LEN - 1))
		die("%s committed %s, want %s", ref, p ? p + 2 : "nothing", expected);
	strbuf_release(&c.lines);
	if (meta_content_info(e->db, NS, expected, &info, NULL) < 0)
		die("%s: content %s not visible after resume", ref, expected);
	if (info.size != SIZE)
		die("%s: size %llu", ref, (unsigned long long)info.size);
	meta_content_info_release(&info);
	if (meta_content_status(e->db, NS, ref, &st, NULL) != -ENOENT)
		die("%s: ingest left behind after commit", ref);
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 60;
	unsigned seed = argc > 3 ? (unsigned)atoi(argv[3]) : (unsigned)(now_real_ns() % 100000);
	unsigned killed[_PHASE_MAX + 1] = {0}, landed = 0, resumed_mid = 0;
	struct env e = {0};

	if (argc < 2) {
		fprintf(stderr, "usage: %s WRITER [ROUNDS] [SEED]\n", argv[0]);
		return 2;
	}
	arg_writer = argv[1];
	srand(seed);
	snprintf(root, sizeof(root), "/tmp/content-crash-XXXXXX");
	if (!mkdtemp(root))
		die("mkdtemp: %m");
	printf("content-crash-test: seed %u, %u rounds, root %s\n", seed, rounds, root);
	env_open(&e);
	for (unsigned i = 0; i < rounds; i++) {
		char ref[32];
		struct child c;
		enum phase ph;
		uint64_t offset = 0;
		bool had = false;

		snprintf(ref, sizeof(ref), "layer-%u", i);
		spawn(&c, ref, i + 1);
		ph = kill_randomly(&e, &c, ref, (int)(i % 3));
		strbuf_release(&c.lines);
		killed[ph]++;
		if (ph != _PHASE_MAX)
			landed++;
		check_after_kill(&e, ref, &offset, &had);
		if (had && offset > 0 && offset < SIZE)
			resumed_mid++;
		resume_and_verify(&e, ref, i + 1, had, offset);
	}
	if (check_blobs() != rounds)
		die("want %u blobs", rounds);
	env_close(&e);
	for (int p = 0; p < _PHASE_MAX; p++)
		printf("content-crash-test: killed in %s: %u\n", phase_names[p], killed[p]);
	printf("content-crash-test: exited before the kill: %u; resumed mid-stream: %u\n",
	       killed[_PHASE_MAX], resumed_mid);
	if (landed < 50 || killed[PHASE_INGEST] < 10 || killed[PHASE_COMMIT] < 5)
		die("too few kills landed (%u; ingest %u, commit %u): raise ROUNDS", landed,
		    killed[PHASE_INGEST], killed[PHASE_COMMIT]);
	rm_rf(root);
	printf("content-crash-test: ok\n");
	return 0;
}

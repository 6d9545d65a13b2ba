/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of the ocires integration tests: forked children that wait for a go signal and then
 * run an action, reading /proc and cgroup files, and reaping by pid.
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include <sys/mman.h>
#include <sys/wait.h>

#include "common/common.h"
#include "oci/cgroup.h"

typedef int child_fn(void *arg);

struct child {
	pid_t pid;
	int go;	   /* write end: one byte starts the action */
	int ready; /* read end: the child writes one byte once it waits */
};

/* Forks a child that signals ready, waits for go, runs fn (or pauses forever when NULL) and
 * _exits with its result. */
static inline struct child child_start(child_fn *fn, void *arg)
{
	int go[2], ready[2];
	struct child c;
	char b = 0;

	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	c.pid = fork();
	assert_true(c.pid >= 0);
	if (c.pid == 0) {
		close(go[1]);
		close(ready[0]);
		if (write(ready[1], "r", 1) != 1)
			_exit(120);
		if (read(go[0], &b, 1) != 1)
			_exit(121);
		if (!fn)
			for (;;)
				pause();
		_exit(fn(arg));
	}
	close(go[0]);
	close(ready[1]);
	assert_int_equal(read(ready[0], &b, 1), 1);
	close(ready[0]);
	c.go = go[1];
	c.ready = -1;
	return c;
}

static inline void child_go(struct child *c)
{
	assert_int_equal(write(c->go, "g", 1), 1);
	c->go = wh_close(c->go);
}

/* Waits for the child and returns its wait status. */
static inline int child_wait(struct child *c)
{
	int st = 0;

	c->go = wh_close(c->go);
	assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
	c->pid = 0;
	return st;
}

/* Kills (by pid) and reaps a child that may still run; for cleanup paths. */
static inline void child_kill(struct child *c)
{
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
		c->pid = 0;
	}
	c->go = wh_close(c->go);
}

/* The state letter of /proc/<pid>/stat ('R', 'S', 'D', 'T', 'Z' ...). */
static inline char proc_state(pid_t pid)
{
	cleanup_free char *p = xasprintf("/proc/%d/stat", (int)pid), *s = NULL;
	char *rp;

	if (read_file(p, 4096, &s, NULL) < 0)
		return '?';
	rp = strrchr(s, ')');
	return rp && rp[1] == ' ' ? rp[2] : '?';
}

static inline char *read_text(const char *dir, const char *file)
{
	cleanup_free char *p = path_join(dir, file);
	char *s = NULL;
	size_t n = 0;

	if (read_file(p, 1 << 20, &s, &n) < 0)
		fail_msg("read '%s' failed", p);
	while (n > 0 && s[n - 1] == '\n')
		s[--n] = 0;
	return s;
}

static inline void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* A counter in shared memory that a busy child increments: frozen children stop counting. */
static inline volatile uint64_t *shared_counter(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static inline int count_forever(void *arg)
{
	volatile uint64_t *c = arg;

	for (;;)
		(*c)++;
	return 0;
}

/* Waits (bounded) until the counter moves; true if it did. */
static inline bool counter_moves(volatile uint64_t *c)
{
	uint64_t start = *c;

	for (int i = 0; i < 2000; i++) {
		if (*c != start)
			return true;
		sleep_ms(5);
	}
	return false;
}

static inline yajl_val parse_json(const char *text)
{
	yajl_val v = NULL;

	assert_int_equal(json_parse(text, strlen(text), &v, NULL), 0);
	return v;
}

#define assert_ok(expr, err)                                               \
	do {                                                               \
		int _r = (expr);                                           \
		if (_r < 0)                                                \
			fail_msg("%s: %d %s", #expr, _r, wh_err_msg(err)); \
	} while (0)

/* rmdir of a directory tree of empty directories (cgroups), deepest first. */
static inline void rmdir_r(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		cleanup_free char *sub = NULL;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = path_join(path, de->d_name);
		rmdir_r(sub);
	}
	closedir(d);
	rmdir(path);
}

/* One write(2) of s to dir/file. Returns -errno. */
static inline int write_text(const char *dir, const char *file, const char *s)
{
	cleanup_free char *p = path_join(dir, file);
	cleanup_close int fd = open(p, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		return -errno;
	return 0;
}

static inline bool cg_exists(const char *dir, const char *file)
{
	cleanup_free char *p = path_join(dir, file);

	return access(p, F_OK) == 0;
}

/* A memory.stat style value by key, 0 when absent. */
static inline uint64_t cg_kv_lookup(const struct oci_stat_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (streq(kv[i].key, key))
			return kv[i].value;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the event loop (common/ev.c) over socketpairs, timers, signals, children,
 * defer and exit sources, and the removal of sources from inside callbacks.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/wait.h>

/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "common/ev.h"

struct counter {
	int n;
	int order[16];
	int n_order;
	struct ev_source *victim;
	int tag;
};

static void socketpair_or_die(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
}

static int on_read_exit(struct ev_source *s, int fd, uint32_t revents, void *userdata)
{
	struct counter *c = userdata;
	char buf[16];
	ssize_t n = read(fd, buf, sizeof(buf));

	assert_true(revents & EPOLLIN);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "abc", 3);
	c->n++;
	ev_loop_exit(ev_source_get_loop(s), 42);
	return 0;
}

static void test_io_socketpair(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ev_source struct ev_source *s = NULL;
	struct counter c = {0};
	int sv[2];

	socketpair_or_die(sv);
	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_add_io(l, &s, sv[0], EPOLLIN, on_read_exit, &c), 0);
	assert_int_equal(write(sv[1], "abc", 3), 3);
	assert_int_equal(ev_loop_run(l), 42);
	assert_int_equal(c.n, 1);
	close(sv[0]);
	close(sv[1]);
}

static int on_count(struct ev_source *s, int fd, uint32_t revents, void *userdata)
{
	struct counter *c = userdata;

	c->n++;
	return 0;
}

static void test_io_oneshot_and_off(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ev_source struct ev_source *s = NULL;
	struct counter c = {0};
	int sv[2];

	socketpair_or_die(sv);
	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_add_io(l, &s, sv[0], EPOLLIN, on_count, &c), 0);
	assert_int_equal(ev_source_set_enabled(s, EV_ONESHOT), 0);
	assert_int_equal(write(sv[1], "x", 1), 1);
	/* Level-triggered data stays unread: ONESHOT fires once only. */
	assert_int_equal(ev_loop_run_once(l, 0), 1);
	assert_int_equal(ev_loop_run_once(l, 0), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(ev_source_get_enabled(s), EV_OFF);
	assert_int_equal(ev_source_set_enabled(s, EV_ON), 0);
	assert_int_equal(ev_loop_run_once(l, 0), 1);
	assert_int_equal(ev_loop_run_once(l, 0), 1);
	assert_int_equal(c.n, 3);
	/* Write interest on a socket with room fires too. */
	assert_int_equal(ev_source_set_io_events(s, EPOLLOUT), 0);
	assert_int_equal(ev_source_get_io_events(s), EPOLLOUT);
	assert_int_equal(ev_loop_run_once(l, 0), 1);
	assert_int_equal(c.n, 4);
	assert_int_equal(ev_source_set_enabled(s, EV_OFF), 0);
	assert_int_equal(ev_loop_run_once(l, 0), 0);
	assert_int_equal(c.n, 4);
	close(sv[0]);
	close(sv[1]);
}

static int on_remove_other(struct ev_source *s, int fd, uint32_t revents, void *userdata)
{
	struct counter *c = userdata;

	c->n++;
	/* Both sources are ready in the same pass: whichever runs first drops the other. */
	if (c->victim) {
		struct ev_source *v = c->victim;

		c->victim = NULL;
		ev_source_unref(v);
		ev_source_unref(s);
	}
	return 0;
}

static void test_remove_inside_callback(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	struct ev_source *a = NULL, *b = NULL;
	struct counter ca = {0}, cb = {0};
	int s1[2], s2[2];

	socketpair_or_die(s1);
	socketpair_or_die(s2);
	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_add_io(l, &a, s1[0], EPOLLIN, on_remove_other, &ca), 0);
	assert_int_equal(ev_add_io(l, &b, s2[0], EPOLLIN, on_remove_other, &cb), 0);
	ca.victim = b;
	cb.victim = a;
	assert_int_equal(write(s1[1], "x", 1), 1);
	assert_int_equal(write(s2[1], "x", 1), 1);
	assert_int_equal(ev_loop_run_once(l, 1000000000ULL), 1);
	/* Exactly one ran; the other was freed (after the pass) without firing. */
	assert_int_equal(ca.n + cb.n, 1);
	assert_int_equal(ev_loop_run_once(l, 0), 0);
	assert_int_equal(ca.n + cb.n, 1);
	close(s1[0]);
	close(s1[1]);
	close(s2[0]);
	close(s2[1]);
}

struct tagged {
	struct counter *c;
	int tag;
};

static int on_timer_tag(struct ev_source *s, uint64_t now, void *userdata)
{
	struct tagged *t = userdata;

	assert_true(now >= ev_source_get_time(s));
	t->c->order[t->c->n_order++] = t->tag;
	if (t->c->n_order == 3)
		ev_loop_exit(ev_source_get_loop(s), 0);
	return 0;
}

static void test_timers_order(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	struct counter c = {0};
	struct tagged t[3] = {{&c, 1}, {&c, 2}, {&c, 3}};
	uint64_t now = now_mono_ns();

	assert_int_equal(ev_loop_new(&l), 0);
	/* Added out of order; floating sources owned by the loop. */
	assert_int_equal(ev_add_timer(l, NULL, now + 30000000, on_timer_tag, &t[2]), 0);
	assert_int_equal(ev_add_timer(l, NULL, now + 1000000, on_timer_tag, &t[0]), 0);
	assert_int_equal(ev_add_timer(l, NULL, now + 15000000, on_timer_tag, &t[1]), 0);
	assert_int_equal(ev_loop_run(l), 0);
	assert_int_equal(c.n_order, 3);
	assert_int_equal(c.order[0], 1);
	assert_int_equal(c.order[1], 2);
	assert_int_equal(c.order[2], 3);
}

static int on_rearm(struct ev_source *s, uint64_t now, void *userdata)
{
	struct counter *c = userdata;

	if (++c->n == 5) {
		ev_loop_exit(ev_source_get_loop(s), 5);
		return 0;
	}
	assert_int_equal(ev_source_set_time(s, now + 1000000), 0);
	return ev_source_set_enabled(s, EV_ONESHOT);
}

static int on_never(struct ev_source *s, uint64_t now, void *userdata)
{
	fail_msg("a disabled timer fired");
	return 0;
}

static void test_timer_rearm_and_disable(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ev_source struct ev_source *t = NULL, *never = NULL;
	struct counter c = {0};

	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_add_timer(l, &t, now_mono_ns(), on_rearm, &c), 0);
	assert_int_equal(ev_add_timer(l, &never, now_mono_ns() + 2000000, on_never, NULL), 0);
	assert_int_equal(ev_source_set_enabled(never, EV_OFF), 0);
	assert_int_equal(ev_loop_run(l), 5);
	assert_int_equal(c.n, 5);
	assert_int_equal(ev_source_get_enabled(t), EV_OFF);
}

static int on_signal(struct ev_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct counter *c = userdata;

	assert_int_equal(si->ssi_signo, SIGUSR1);
	assert_int_equal(si->ssi_pid, getpid());
	c->n++;
	ev_loop_exit(ev_source_get_loop(s), 0);
	return 0;
}

static int on_signal_dummy(struct ev_source *s, const struct signalfd_siginfo *si, void *ud)
{
	return 0;
}

static void test_signal(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ev_source struct ev_source *s = NULL;
	struct counter c = {0};
	sigset_t cur;

	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_add_signal(l, &s, SIGUSR1, on_signal, &c), 0);
	assert_int_equal(ev_add_signal(l, NULL, SIGUSR1, on_signal_dummy, NULL), -EBUSY);
	assert_int_equal(ev_add_signal(l, NULL, 0, on_signal_dummy, NULL), -EINVAL);
	/* Adding the source blocked the signal, so raising it cannot kill us. */
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &cur), 0);
	assert_int_equal(sigismember(&cur, SIGUSR1), 1);
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(ev_loop_run(l), 0);
	assert_int_equal(c.n, 1);
}

static int on_child(struct ev_source *s, const siginfo_t *si, void *userdata)
{
	struct counter *c = userdata;

	assert_int_equal(si->si_pid, ev_source_get_child_pid(s));
	c->order[c->n_order++] = si->si_code == CLD_EXITED ? si->si_status : 1000 + si->si_status;
	if (c->n_order == 2)
		ev_loop_exit(ev_source_get_loop(s), 0);
	return 0;
}

static void run_children(bool fallback)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ev_source struct ev_source *a = NULL, *b = NULL;
	struct counter c = {0};
	pid_t p1, p2;

	assert_int_equal(ev_loop_new(&l), 0);
	ev_loop_set_child_fallback(l, fallback);
	p1 = fork();
	assert_true(p1 >= 0);
	if (p1 == 0)
		_exit(7);
	p2 = fork();
	assert_true(p2 >= 0);
	if (p2 == 0) {
		pause();
		_exit(0);
	}
	assert_int_equal(ev_add_child(l, &a, p1, on_child, &c), 0);
	assert_int_equal(ev_add_child(l, &b, p2, on_child, &c), 0);
	if (fallback)
		assert_int_equal(ev_add_signal(l, NULL, SIGCHLD, on_signal_dummy, NULL), -EBUSY);
	assert_int_equal(kill(p2, SIGKILL), 0);
	assert_int_equal(ev_loop_run(l), 0);
	assert_int_equal(c.n_order, 2);
	/* Both orders are possible; each was reaped with its own status. */
	assert_true((c.order[0] == 7 && c.order[1] == 1000 + SIGKILL) ||
		    (c.order[1] == 7 && c.order[0] == 1000 + SIGKILL));
	assert_int_equal(waitpid(p1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(ev_source_get_enabled(a), EV_OFF);
	assert_int_equal(ev_source_set_enabled(a, EV_ON), -ESRCH);
}

static void test_child_pidfd(void **state)
{
	run_children(false);
}

static void test_child_sigchld_fallback(void **state)
{
	run_children(true);
}

static int on_defer(struct ev_source *s, void *userdata)
{
	struct counter *c = userdata;

	c->n++;
	return 0;
}

static int on_exit_src(struct ev_source *s, void *userdata)
{
	struct counter *c = userdata;

	c->order[c->n_order++] = c->tag;
	return 0;
}

static void test_defer_and_exit(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ev_source struct ev_source *once = NULL, *every = NULL, *ex = NULL;
	struct counter c1 = {0}, c2 = {0}, ce = {.tag = 9};

	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_add_defer(l, &once, on_defer, &c1), 0);
	assert_int_equal(ev_add_defer(l, &every, on_defer, &c2), 0);
	assert_int_equal(ev_source_set_enabled(every, EV_ON), 0);
	assert_int_equal(ev_add_exit(l, &ex, on_exit_src, &ce), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ev_loop_run_once(l, UINT64_MAX), 1);
	assert_int_equal(c1.n, 1);
	assert_int_equal(c2.n, 3);
	assert_int_equal(ce.n_order, 0);
	ev_loop_exit(l, 3);
	assert_true(ev_loop_is_exiting(l));
	assert_int_equal(ev_loop_run(l), 3);
	assert_int_equal(ce.n_order, 1);
	assert_int_equal(ce.order[0], 9);
}

static int on_fail(struct ev_source *s, void *userdata)
{
	struct counter *c = userdata;

	c->n++;
	return -EIO;
}

static void test_failing_handler_disables(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ev_source struct ev_source *d = NULL;
	struct counter c = {0};

	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_add_defer(l, &d, on_fail, &c), 0);
	ev_source_set_description(d, "failing defer");
	assert_int_equal(ev_source_set_enabled(d, EV_ON), 0);
	assert_int_equal(ev_loop_run_once(l, 0), 1);
	assert_int_equal(ev_loop_run_once(l, 0), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(ev_source_get_enabled(d), EV_OFF);
}

static int on_self_unref(struct ev_source *s, int fd, uint32_t revents, void *userdata)
{
	struct counter *c = userdata;
	char b;

	c->n++;
	assert_int_equal(read(fd, &b, 1), 1);
	ev_source_unref(s);
	return 0;
}

static void test_self_unref_and_loop_free_order(void **state)
{
	struct ev_loop *l = NULL;
	struct ev_source *s = NULL, *kept = NULL;
	struct counter c = {0};
	int sv[2];

	socketpair_or_die(sv);
	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_add_io(l, &s, sv[0], EPOLLIN, on_self_unref, &c), 0);
	assert_int_equal(ev_add_io(l, NULL, sv[0], EPOLLIN, on_count, &c), -EEXIST);
	assert_int_equal(write(sv[1], "xx", 2), 2);
	assert_int_equal(ev_loop_run_once(l, 0), 1);
	assert_int_equal(ev_loop_run_once(l, 0), 0);
	assert_int_equal(c.n, 1);
	/* A source the caller still holds outlives its loop, inert. */
	assert_int_equal(ev_add_timer(l, &kept, 0, on_never, NULL), 0);
	assert_int_equal(ev_add_defer(l, NULL, on_defer, &c), 0);
	ev_loop_free(l);
	assert_null(ev_source_get_loop(kept));
	assert_int_equal(ev_source_set_enabled(kept, EV_ON), -ESTALE);
	ev_source_unref(kept);
	close(sv[0]);
	close(sv[1]);
}

static void test_bad_arguments(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;

	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_add_io(l, NULL, -1, EPOLLIN, on_count, NULL), -EINVAL);
	assert_int_equal(ev_add_io(l, NULL, 0, EPOLLIN, NULL, NULL), -EINVAL);
	assert_int_equal(ev_add_child(l, NULL, 0, on_child, NULL), -EINVAL);
	/* Not our child (and, on a pidfd kernel, no such process at all). */
	assert_true(ev_add_child(l, NULL, 0x3fffffff, on_child, NULL) < 0);
	assert_int_equal(ev_loop_run_once(l, 1000000), 0);
}

struct heap_rec {
	uint64_t at[600];
	int n;
	bool fired[600];
};

struct heap_timer {
	struct heap_rec *rec;
	int idx;
};

static int on_heap_timer(struct ev_source *s, uint64_t now, void *userdata)
{
	struct heap_timer *t = userdata;

	t->rec->at[t->rec->n++] = ev_source_get_time(s);
	t->rec->fired[t->idx] = true;
	return 0;
}

static void test_timer_heap_stress(void **state)
{
	enum { N = 500 };
	cleanup_ev_loop struct ev_loop *l = NULL;
	struct ev_source *src[N];
	struct heap_timer ht[N];
	struct heap_rec rec = {0};
	uint64_t base = now_mono_ns(), seed = 12345;
	int expected = 0;

	assert_int_equal(ev_loop_new(&l), 0);
	for (int i = 0; i < N; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		ht[i] = (struct heap_timer){&rec, i};
		assert_int_equal(ev_add_timer(l, &src[i], base + (seed >> 33) % 4000000,
					      on_heap_timer, &ht[i]),
				 0);
	}
	/* Disable every 7th, move every 5th (re-sorting inside the heap). */
	for (int i = 0; i < N; i++) {
		if (i % 7 == 0)
			assert_int_equal(ev_source_set_enabled(src[i], EV_OFF), 0);
		else if (i % 5 == 0)
			assert_int_equal(
				ev_source_set_time(src[i], base + (uint64_t)(N - i) * 7000), 0);
		if (i % 7 != 0)
			expected++;
	}
	while (rec.n < expected)
		assert_true(ev_loop_run_once(l, 1000000000ULL) >= 0);
	assert_int_equal(ev_loop_run_once(l, 5000000), 0);
	assert_int_equal(rec.n, expected);
	for (int i = 1; i < rec.n; i++)
		assert_true(rec.at[i - 1] <= rec.at[i]);
	for (int i = 0; i < N; i++) {
		assert_int_equal(rec.fired[i], i % 7 != 0);
		ev_source_unref(src[i]);
	}
}

struct pair {
	struct ev_source *other;
	int fired;
};

static int on_drop_other(struct ev_source *s, uint64_t now, void *userdata)
{
	struct pair *p = userdata;

	p->fired++;
	if (p->other) {
		/* The other timer is due in this same pass: it must not fire, nor be touched. */
		ev_source_unref(p->other);
		p->other = NULL;
	}
	return 0;
}

static void test_timer_removes_other_due_timer(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	struct ev_source *a = NULL, *b = NULL;
	struct pair pa = {0}, pb = {0};
	uint64_t now = now_mono_ns();

	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_add_timer(l, &a, now, on_drop_other, &pa), 0);
	assert_int_equal(ev_add_timer(l, &b, now, on_drop_other, &pb), 0);
	pa.other = b;
	pb.other = a;
	assert_int_equal(ev_loop_run_once(l, 0), 1);
	assert_int_equal(pa.fired + pb.fired, 1);
	/* The survivor is the one that fired; drop it. */
	ev_source_unref(pa.fired ? a : b);
}

static void test_child_exited_before_add(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ev_source struct ev_source *s = NULL;
	struct counter c = {0};
	siginfo_t si;
	pid_t pid;

	assert_int_equal(ev_loop_new(&l), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(3);
	/* Wait for the zombie without reaping it. */
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(ev_add_child(l, &s, pid, on_child, &c), 0);
	while (c.n_order < 1)
		assert_true(ev_loop_run_once(l, 5000000000ULL) >= 0);
	assert_int_equal(c.order[0], 3);
}

static int on_periodic(struct ev_source *s, uint64_t now, void *userdata)
{
	struct counter *c = userdata;

	/* An ON timer stays armed: moving its time forward makes it periodic. */
	if (++c->n == 3) {
		ev_loop_exit(ev_source_get_loop(s), 0);
		return ev_source_set_enabled(s, EV_OFF);
	}
	return ev_source_set_time(s, now + 1000000);
}

static void test_periodic_timer_and_refs(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	struct ev_source *t = NULL;
	struct counter c = {0}, other = {0};

	assert_int_equal(ev_loop_new(&l), 0);
	assert_int_equal(ev_add_timer(l, &t, now_mono_ns(), on_periodic, &c), 0);
	assert_int_equal(ev_source_set_enabled(t, EV_ON), 0);
	assert_ptr_equal(ev_source_get_userdata(t), &c);
	/* A second reference keeps it alive past the first unref. */
	assert_ptr_equal(ev_source_ref(t), t);
	ev_source_unref(t);
	assert_ptr_equal(ev_source_get_loop(t), l);
	assert_int_equal(ev_loop_run(l), 0);
	assert_int_equal(c.n, 3);
	ev_source_set_userdata(t, &other);
	assert_ptr_equal(ev_source_get_userdata(t), &other);
	assert_true(ev_loop_now(l) > 0);
	ev_source_unref(t);
}

static void test_child_reaped_elsewhere(void **state)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ev_source struct ev_source *s = NULL;
	struct counter c = {0};
	pid_t pid;

	assert_int_equal(ev_loop_new(&l), 0);
	ev_loop_set_child_fallback(l, true);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(5);
	assert_int_equal(ev_add_child(l, &s, pid, on_child, &c), 0);
	/* A waitpid(-1) reaper takes it first: the source reports it rather than hang. */
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(kill(getpid(), SIGCHLD), 0);
	while (c.n_order < 1)
		assert_true(ev_loop_run_once(l, 5000000000ULL) >= 0);
	assert_int_equal(c.order[0], 1000); /* si_code 0, status 0: unknown */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_socketpair),
		cmocka_unit_test(test_io_oneshot_and_off),
		cmocka_unit_test(test_remove_inside_callback),
		cmocka_unit_test(test_timers_order),
		cmocka_unit_test(test_timer_rearm_and_disable),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_child_pidfd),
		cmocka_unit_test(test_child_sigchld_fallback),
		cmocka_unit_test(test_defer_and_exit),
		cmocka_unit_test(test_failing_handler_disables),
		cmocka_unit_test(test_self_unref_and_loop_free_order),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_timer_heap_stress),
		cmocka_unit_test(test_timer_removes_other_due_timer),
		cmocka_unit_test(test_child_exited_before_add),
		cmocka_unit_test(test_periodic_timer_and_refs),
		cmocka_unit_test(test_child_reaped_elsewhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The epoll event loop: io, signal (signalfd), child (pidfd or SIGCHLD fallback), timer
 * (min-heap), defer and exit sources, with sources held across a dispatch pass so callbacks may
 * drop any source safely. See ev.h for the contract.
 */
#include "common/ev.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/util.h"

#define EV_MAX_EVENTS 64
#define EV_P_PIDFD 3 /* idtype_t P_PIDFD, linux/wait.h */

enum ev_type {
	EV_IO,
	EV_SIGNAL,
	EV_CHILD,
	EV_TIMER,
	EV_DEFER,
	EV_EXIT,
	EV_SIGNALFD, /* the loop's own signalfd, never handed out */
};

struct ev_source {
	struct ev_loop *loop;
	enum ev_type type;
	enum ev_enabled enabled;
	unsigned n_ref;
	unsigned n_hold;
	bool dead;
	bool floating;
	bool in_epoll;
	char *desc;
	void *userdata;
	struct ev_source *next, *prev; /* loop->sources */
	union {
		struct {
			int fd;
			uint32_t events;
			ev_io_fn *cb;
		} io;
		struct {
			int sig;
			ev_signal_fn *cb;
		} sig;
		struct {
			pid_t pid;
			int pidfd; /* -EBADF in fallback mode */
			bool exited;
			ev_child_fn *cb;
		} child;
		struct {
			uint64_t at;
			size_t heap_idx; /* SIZE_MAX when not in the heap */
			ev_timer_fn *cb;
		} timer;
		struct {
			ev_handler_fn *cb;
		} handler;
	};
};

struct ev_loop {
	int epfd;
	int sigfd;
	sigset_t sigmask;
	struct ev_source *sigfd_source;
	struct ev_source *signals[_NSIG];
	struct ev_source *sources; /* every live source */
	struct ev_source **heap;   /* timers, earliest first */
	size_t heap_len, heap_cap;
	unsigned n_fallback_children;
	unsigned n_live_defers; /* enabled defer sources: none means no scan per iteration */
	bool child_fallback;
	bool exiting;
	int exit_code;
	uint64_t now;
};

/* ---- the timer heap ---- */

static void heap_swap(struct ev_loop *l, size_t a, size_t b)
{
	struct ev_source *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->timer.heap_idx = a;
	l->heap[b]->timer.heap_idx = b;
}

static void heap_up(struct ev_loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (l->heap[p]->timer.at <= l->heap[i]->timer.at)
			break;
		heap_swap(l, p, i);
		i = p;
	}
}

static void heap_down(struct ev_loop *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;

		if (c < l->heap_len && l->heap[c]->timer.at < l->heap[m]->timer.at)
			m = c;
		if (c + 1 < l->heap_len && l->heap[c + 1]->timer.at < l->heap[m]->timer.at)
			m = c + 1;
		if (m == i)
			break;
		heap_swap(l, i, m);
		i = m;
	}
}

static void heap_insert(struct ev_loop *l, struct ev_source *s)
{
	xgrow((void **)&l->heap, &l->heap_cap, l->heap_len + 1, sizeof(struct ev_source *));
	s->timer.heap_idx = l->heap_len;
	l->heap[l->heap_len++] = s;
	heap_up(l, s->timer.heap_idx);
}

static void heap_remove(struct ev_loop *l, struct ev_source *s)
{
	size_t i = s->timer.heap_idx;

	if (i == SIZE_MAX)
		return;
	heap_swap(l, i, l->heap_len - 1);
	l->heap_len--;
	s->timer.heap_idx = SIZE_MAX;
	if (i < l->heap_len) {
		heap_down(l, i);
		heap_up(l, i);
	}
}

/* ---- registration ---- */

static int source_fd(const struct ev_source *s)
{
	switch (s->type) {
	case EV_IO:
		return s->io.fd;
	case EV_CHILD:
		return s->child.pidfd;
	case EV_SIGNALFD:
		return s->loop->sigfd;
	default:
		return -EBADF;
	}
}

static int epoll_update(struct ev_source *s, bool want)
{
	struct epoll_event ev = {.data.ptr = s};
	int fd = source_fd(s);

	if (fd < 0)
		return 0;
	if (!want) {
		if (s->in_epoll)
			(void)epoll_ctl(s->loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		s->in_epoll = false;
		return 0;
	}
	ev.events = s->type == EV_IO ? s->io.events : EPOLLIN;
	if (epoll_ctl(s->loop->epfd, s->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	s->in_epoll = true;
	return 0;
}

static int signalfd_update(struct ev_loop *l)
{
	int fd = signalfd(l->sigfd < 0 ? -1 : l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	l->sigfd = fd;
	return 0;
}

/* Starts or stops the kernel side of a source according to its enabled state. */
static int source_arm(struct ev_source *s)
{
	bool on = s->enabled != EV_OFF && !s->dead;

	switch (s->type) {
	case EV_IO:
	case EV_SIGNALFD:
		return epoll_update(s, on);
	case EV_CHILD:
		return epoll_update(s, on && !s->child.exited);
	case EV_TIMER:
		if (on && s->timer.heap_idx == SIZE_MAX)
			heap_insert(s->loop, s);
		else if (!on)
			heap_remove(s->loop, s);
		return 0;
	default:
		return 0;
	}
}

static struct ev_source *source_new(struct ev_loop *l, enum ev_type type, enum ev_enabled e,
				    void *userdata)
{
	struct ev_source *s = xnew0(struct ev_source, 1);

	s->loop = l;
	s->type = type;
	s->enabled = e;
	s->n_ref = 1;
	s->userdata = userdata;
	s->next = l->sources;
	if (l->sources)
		l->sources->prev = s;
	l->sources = s;
	return s;
}

/* Detaches s from its loop for good: it never fires again. Idempotent. */
static void source_disconnect(struct ev_source *s)
{
	struct ev_loop *l = s->loop;

	if (s->dead)
		return;
	if (l && s->type == EV_DEFER && s->enabled != EV_OFF)
		l->n_live_defers--;
	s->enabled = EV_OFF;
	if (l) {
		(void)source_arm(s);
		s->dead = true;
		if (s->type == EV_SIGNAL && l->signals[s->sig.sig] == s)
			l->signals[s->sig.sig] = NULL;
		if (s->type == EV_CHILD && s->child.pidfd < 0 && !s->child.exited)
			l->n_fallback_children--;
		if (s->prev)
			s->prev->next = s->next;
		else
			l->sources = s->next;
		if (s->next)
			s->next->prev = s->prev;
		s->next = s->prev = NULL;
	}
	s->dead = true;
	s->loop = NULL;
	if (s->type == EV_CHILD)
		s->child.pidfd = wh_close(s->child.pidfd);
}

static void source_free(struct ev_source *s)
{
	free(s->desc);
	free(s);
}

static void source_hold(struct ev_source *s)
{
	s->n_hold++;
}

static void source_release(struct ev_source *s)
{
	wh_assert(s->n_hold > 0);
	if (--s->n_hold == 0 && s->n_ref == 0)
		source_free(s);
}

struct ev_source *ev_source_ref(struct ev_source *s)
{
	if (s) {
		wh_assert(s->n_ref > 0);
		s->n_ref++;
	}
	return s;
}

struct ev_source *ev_source_unref(struct ev_source *s)
{
	if (!s)
		return NULL;
	wh_assert(s->n_ref > 0);
	if (--s->n_ref > 0)
		return NULL;
	source_disconnect(s);
	if (s->n_hold == 0)
		source_free(s);
	return NULL;
}

struct ev_source *ev_source_disable_unref(struct ev_source *s)
{
	if (s)
		(void)ev_source_set_enabled(s, EV_OFF);
	return ev_source_unref(s);
}

/* Hands the first reference to the caller, or to the loop when ret is NULL. */
static int source_publish(struct ev_source *s, struct ev_source **ret)
{
	int r = source_arm(s);

	if (r < 0) {
		s->n_ref = 0;
		s->enabled = EV_OFF; /* never counted as live */
		source_disconnect(s);
		source_free(s);
		return r;
	}
	if (s->type == EV_DEFER && s->enabled != EV_OFF)
		s->loop->n_live_defers++;
	if (ret)
		*ret = s;
	else
		s->floating = true;
	return 0;
}

/* ---- the loop ---- */

int ev_loop_new(struct ev_loop **ret_loop)
{
	struct ev_loop *l = xnew0(struct ev_loop, 1);

	l->sigfd = -EBADF;
	sigemptyset(&l->sigmask);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int r = -errno;

		free(l);
		return r;
	}
	l->now = now_mono_ns();
	*ret_loop = l;
	return 0;
}

struct ev_loop *ev_loop_free(struct ev_loop *l)
{
	if (!l)
		return NULL;
	while (l->sources) {
		struct ev_source *s = l->sources;

		source_disconnect(s);
		wh_assert(l->sources != s);
		if (s->floating && --s->n_ref == 0 && s->n_hold == 0)
			source_free(s);
	}
	wh_assert(l->n_live_defers == 0);
	wh_close(l->sigfd);
	wh_close(l->epfd);
	free(l->heap);
	free(l);
	return NULL;
}

void ev_loop_exit(struct ev_loop *l, int code)
{
	l->exiting = true;
	l->exit_code = code;
}

bool ev_loop_is_exiting(const struct ev_loop *l)
{
	return l->exiting;
}

uint64_t ev_loop_now(struct ev_loop *l)
{
	return l->now;
}

void ev_loop_set_child_fallback(struct ev_loop *l, bool on)
{
	l->child_fallback = on;
}

/* ---- adding sources ---- */

int ev_add_io(struct ev_loop *l, struct ev_source **ret_source, int fd, uint32_t events,
	      ev_io_fn *cb, void *userdata)
{
	struct ev_source *s;

	if (fd < 0 || !cb)
		return -EINVAL;
	s = source_new(l, EV_IO, EV_ON, userdata);
	s->io.fd = fd;
	s->io.events = events;
	s->io.cb = cb;
	return source_publish(s, ret_source);
}

int ev_source_set_io_events(struct ev_source *s, uint32_t events)
{
	wh_assert(s->type == EV_IO);
	if (s->io.events == events)
		return 0;
	s->io.events = events;
	if (!s->in_epoll)
		return 0;
	return epoll_update(s, true);
}

uint32_t ev_source_get_io_events(const struct ev_source *s)
{
	return s->io.events;
}

int ev_source_get_io_fd(const struct ev_source *s)
{
	return s->io.fd;
}

/* Makes sure the loop's signalfd watches sig (and blocks it in this thread). */
static int loop_watch_signal(struct ev_loop *l, int sig)
{
	sigset_t one;
	int r;

	if (sigismember(&l->sigmask, sig) == 1)
		return 0;
	sigemptyset(&one);
	sigaddset(&one, sig);
	r = pthread_sigmask(SIG_BLOCK, &one, NULL);
	if (r != 0)
		return -r;
	sigaddset(&l->sigmask, sig);
	r = signalfd_update(l);
	if (r < 0) {
		sigdelset(&l->sigmask, sig);
		return r;
	}
	if (!l->sigfd_source) {
		l->sigfd_source = source_new(l, EV_SIGNALFD, EV_ON, NULL);
		r = source_publish(l->sigfd_source, NULL);
		if (r < 0)
			l->sigfd_source = NULL;
	}
	return r;
}

int ev_add_signal(struct ev_loop *l, struct ev_source **ret_source, int sig, ev_signal_fn *cb,
		  void *userdata)
{
	struct ev_source *s;
	int r;

	if (sig <= 0 || sig >= _NSIG || !cb)
		return -EINVAL;
	if (l->signals[sig] || (sig == SIGCHLD && l->n_fallback_children > 0))
		return -EBUSY;
	r = loop_watch_signal(l, sig);
	if (r < 0)
		return r;
	s = source_new(l, EV_SIGNAL, EV_ON, userdata);
	s->sig.sig = sig;
	s->sig.cb = cb;
	l->signals[sig] = s;
	return source_publish(s, ret_source);
}

int ev_add_child(struct ev_loop *l, struct ev_source **ret_source, pid_t pid, ev_child_fn *cb,
		 void *userdata)
{
	struct ev_source *s;
	int fd = -EBADF, r;

	if (pid <= 0 || !cb)
		return -EINVAL;
	if (!l->child_fallback) {
		fd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (fd < 0 && errno != ENOSYS)
			return -errno;
		/* pidfds are born close-on-exec (pidfd_open(2)). */
	}
	if (fd < 0) {
		if (l->signals[SIGCHLD])
			return -EBUSY;
		r = loop_watch_signal(l, SIGCHLD);
		if (r < 0)
			return r;
	}
	s = source_new(l, EV_CHILD, EV_ONESHOT, userdata);
	s->child.pid = pid;
	s->child.pidfd = fd;
	s->child.cb = cb;
	if (fd < 0)
		l->n_fallback_children++;
	return source_publish(s, ret_source);
}

pid_t ev_source_get_child_pid(const struct ev_source *s)
{
	return s->child.pid;
}

int ev_add_timer(struct ev_loop *l, struct ev_source **ret_source, uint64_t at_ns, ev_timer_fn *cb,
		 void *userdata)
{
	struct ev_source *s;

	if (!cb)
		return -EINVAL;
	s = source_new(l, EV_TIMER, EV_ONESHOT, userdata);
	s->timer.at = at_ns;
	s->timer.heap_idx = SIZE_MAX;
	s->timer.cb = cb;
	return source_publish(s, ret_source);
}

int ev_source_set_time(struct ev_source *s, uint64_t at_ns)
{
	wh_assert(s->type == EV_TIMER);
	s->timer.at = at_ns;
	if (s->timer.heap_idx != SIZE_MAX) {
		heap_down(s->loop, s->timer.heap_idx);
		heap_up(s->loop, s->timer.heap_idx);
	}
	return 0;
}

uint64_t ev_source_get_time(const struct ev_source *s)
{
	return s->timer.at;
}

static int add_handler(struct ev_loop *l, struct ev_source **ret_source, enum ev_type type,
		       ev_handler_fn *cb, void *userdata)
{
	struct ev_source *s;

	if (!cb)
		return -EINVAL;
	s = source_new(l, type, EV_ONESHOT, userdata);
	s->handler.cb = cb;
	return source_publish(s, ret_source);
}

int ev_add_defer(struct ev_loop *l, struct ev_source **ret_source, ev_handler_fn *cb,
		 void *userdata)
{
	return add_handler(l, ret_source, EV_DEFER, cb, userdata);
}

int ev_add_exit(struct ev_loop *l, struct ev_source **ret_source, ev_handler_fn *cb, void *userdata)
{
	return add_handler(l, ret_source, EV_EXIT, cb, userdata);
}

/* ---- source attributes ---- */

int ev_source_set_enabled(struct ev_source *s, enum ev_enabled e)
{
	enum ev_enabled old = s->enabled;
	int r;

	if (s->dead)
		return e == EV_OFF ? 0 : -ESTALE;
	if (s->type == EV_CHILD && s->child.exited && e != EV_OFF)
		return -ESRCH;
	s->enabled = e;
	r = source_arm(s);
	if (r < 0)
		s->enabled = old;
	else if (s->type == EV_DEFER && (old == EV_OFF) != (e == EV_OFF))
		s->loop->n_live_defers += e == EV_OFF ? -1u : 1u;
	return r;
}

enum ev_enabled ev_source_get_enabled(const struct ev_source *s)
{
	return s->enabled;
}

void ev_source_set_userdata(struct ev_source *s, void *userdata)
{
	s->userdata = userdata;
}

void *ev_source_get_userdata(const struct ev_source *s)
{
	return s->userdata;
}

void ev_source_set_description(struct ev_source *s, const char *desc)
{
	free(s->desc);
	s->desc = desc ? xstrdup(desc) : NULL;
}

struct ev_loop *ev_source_get_loop(const struct ev_source *s)
{
	return s->loop;
}

/* ---- dispatch ---- */

static bool source_live(const struct ev_source *s)
{
	return !s->dead && s->enabled != EV_OFF;
}

/* ONESHOT sources turn OFF before their callback runs, so the callback may re-enable them. */
static void source_before(struct ev_source *s)
{
	if (s->enabled == EV_ONESHOT)
		(void)ev_source_set_enabled(s, EV_OFF);
}

/* A failing callback disables its source. */
static void source_after(struct ev_source *s, int r)
{
	if (s->dead || r >= 0)
		return;
	log_debug_errno(r, "event source '%s' failed, disabling: %s",
			s->desc ? s->desc : "(unnamed)", strerror(-r));
	(void)ev_source_set_enabled(s, EV_OFF);
}

static void child_reaped(struct ev_source *s, const siginfo_t *si)
{
	int r;

	s->child.exited = true;
	if (s->child.pidfd < 0)
		s->loop->n_fallback_children--;
	(void)ev_source_set_enabled(s, EV_OFF);
	r = s->child.cb(s, si, s->userdata);
	source_after(s, r);
}

/* Reaps the child if it exited and runs the callback; otherwise does nothing. */
static void child_poll(struct ev_source *s)
{
	siginfo_t si = {0};
	int r;

	if (s->child.pidfd >= 0)
		r = waitid((idtype_t)EV_P_PIDFD, (id_t)s->child.pidfd, &si, WEXITED | WNOHANG);
	else
		r = waitid(P_PID, (id_t)s->child.pid, &si, WEXITED | WNOHANG);
	if (r < 0) {
		if (errno == EINTR)
			return;
		/* ECHILD: someone else reaped it; report an unknown status rather than hang. */
		si.si_pid = s->child.pid;
		si.si_code = 0;
		si.si_status = 0;
	} else if (si.si_pid == 0) {
		return;
	}
	child_reaped(s, &si);
}

static void dispatch_fallback_children(struct ev_loop *l)
{
	size_t n = 0, i;
	struct ev_source **v;

	for (struct ev_source *s = l->sources; s; s = s->next)
		if (s->type == EV_CHILD && s->child.pidfd < 0 && !s->child.exited)
			n++;
	if (n == 0)
		return;
	v = xnew0(struct ev_source *, n);
	n = 0;
	for (struct ev_source *s = l->sources; s; s = s->next)
		if (s->type == EV_CHILD && s->child.pidfd < 0 && !s->child.exited) {
			source_hold(s);
			v[n++] = s;
		}
	for (i = 0; i < n; i++) {
		if (source_live(v[i]))
			child_poll(v[i]);
		source_release(v[i]);
	}
	free(v);
}

static void dispatch_signalfd(struct ev_loop *l)
{
	struct signalfd_siginfo si;

	for (int i = 0; i < 64; i++) {
		ssize_t n = read(l->sigfd, &si, sizeof(si));
		struct ev_source *s;
		int r;

		if (n != (ssize_t)sizeof(si))
			return;
		if (si.ssi_signo == SIGCHLD && l->n_fallback_children > 0)
			dispatch_fallback_children(l);
		if (si.ssi_signo >= _NSIG)
			continue;
		s = l->signals[si.ssi_signo];
		if (!s || !source_live(s))
			continue;
		source_hold(s);
		source_before(s);
		r = s->sig.cb(s, &si, s->userdata);
		source_after(s, r);
		source_release(s);
	}
}

static void dispatch_one(struct ev_source *s, uint32_t revents)
{
	int r;

	if (!source_live(s))
		return;
	switch (s->type) {
	case EV_IO:
		source_before(s);
		r = s->io.cb(s, s->io.fd, revents, s->userdata);
		source_after(s, r);
		break;
	case EV_CHILD:
		child_poll(s);
		break;
	case EV_SIGNALFD:
		dispatch_signalfd(s->loop);
		break;
	default:
		BUG("unexpected source type in epoll");
	}
}

static int dispatch_timers(struct ev_loop *l)
{
	struct ev_source **v = NULL;
	size_t n = 0, cap = 0, i;

	/* Take every due timer first: one re-armed for "now" waits for the next pass. */
	while (l->heap_len > 0 && l->heap[0]->timer.at <= l->now) {
		struct ev_source *s = l->heap[0];

		heap_remove(l, s);
		xgrow((void **)&v, &cap, n + 1, sizeof(struct ev_source *));
		source_hold(s);
		v[n++] = s;
	}
	for (i = 0; i < n; i++) {
		struct ev_source *s = v[i];

		if (source_live(s)) {
			if (s->enabled == EV_ONESHOT)
				s->enabled = EV_OFF; /* already out of the heap */
			source_after(s, s->timer.cb(s, l->now, s->userdata));
			if (source_live(s) && s->timer.heap_idx == SIZE_MAX)
				heap_insert(l, s);
		}
		source_release(s);
	}
	free(v);
	return (int)n;
}

/* Runs every enabled defer (or exit) source present at the start of the pass. */
static int dispatch_handlers(struct ev_loop *l, enum ev_type type)
{
	struct ev_source **v = NULL;
	size_t n = 0, cap = 0, i;

	for (struct ev_source *s = l->sources; s; s = s->next) {
		if (s->type != type || !source_live(s))
			continue;
		xgrow((void **)&v, &cap, n + 1, sizeof(struct ev_source *));
		source_hold(s);
		v[n++] = s;
	}
	for (i = 0; i < n; i++) {
		struct ev_source *s = v[i];

		if (source_live(s)) {
			source_before(s);
			source_after(s, s->handler.cb(s, s->userdata));
		}
		source_release(s);
	}
	free(v);
	return (int)n;
}

static bool has_enabled_defer(struct ev_loop *l)
{
	return l->n_live_defers > 0;
}

static int compute_timeout_ms(struct ev_loop *l, uint64_t timeout_ns)
{
	uint64_t now = now_mono_ns(), until = UINT64_MAX, d;

	if (timeout_ns != UINT64_MAX)
		until = now + timeout_ns;
	if (l->heap_len > 0 && l->heap[0]->timer.at < until)
		until = l->heap[0]->timer.at;
	if (has_enabled_defer(l) || until <= now)
		return 0;
	if (until == UINT64_MAX)
		return -1;
	d = (until - now + 999999) / 1000000; /* round up: never wake before the deadline */
	return d > 3600000 ? 3600000 : (int)d;
}

int ev_loop_run_once(struct ev_loop *l, uint64_t timeout_ns)
{
	struct epoll_event evs[EV_MAX_EVENTS];
	int n, i, dispatched;

	if (l->exiting)
		return 0;
	n = epoll_wait(l->epfd, evs, EV_MAX_EVENTS, compute_timeout_ms(l, timeout_ns));
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -errno;
	}
	l->now = now_mono_ns();
	for (i = 0; i < n; i++)
		source_hold(evs[i].data.ptr);
	for (i = 0; i < n; i++)
		dispatch_one(evs[i].data.ptr, evs[i].events);
	for (i = 0; i < n; i++)
		source_release(evs[i].data.ptr);
	dispatched = n;
	dispatched += dispatch_timers(l);
	if (l->n_live_defers > 0)
		dispatched += dispatch_handlers(l, EV_DEFER);
	return dispatched > 0 ? 1 : 0;
}

int ev_loop_run(struct ev_loop *l)
{
	while (!l->exiting) {
		int r = ev_loop_run_once(l, UINT64_MAX);

		if (r < 0)
			return r;
	}
	dispatch_handlers(l, EV_EXIT);
	return l->exit_code;
}

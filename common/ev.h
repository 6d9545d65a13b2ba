/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event loop (STYLE.md 2.6): epoll, level-triggered, single-threaded, in sd-event's shape.
 *
 * Sources: io (an fd), signal (one signalfd per loop; the signal is blocked in the calling
 * thread when its source is added), child (a pidfd; a SIGCHLD fallback when pidfd_open(2) is
 * missing), timer (CLOCK_MONOTONIC nanoseconds, a min-heap behind the epoll_wait timeout),
 * defer (runs on the next iteration) and exit (runs once when the loop is asked to exit).
 *
 * Ownership: ev_add_*() hand the caller one reference in *ret_source. When ret_source is NULL
 * the source is "floating": the loop owns it and frees it in ev_loop_free(). Dropping the last
 * reference disconnects the source at once (it never fires again) and frees it, unless the loop
 * is dispatching it: sources are held during a dispatch pass and freed after it, so a callback
 * may unref its own source or any other one.
 *
 * Handlers return int: a negative value disables the source (it is logged at debug level);
 * the loop keeps running. Handlers run on the loop's thread only; nothing here is thread-safe.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/types.h>

struct ev_loop;
struct ev_source;

enum ev_enabled {
	EV_OFF = 0,
	EV_ON = 1,
	EV_ONESHOT = 2, /* fires once, then turns itself OFF */
};

typedef int ev_io_fn(struct ev_source *s, int fd, uint32_t revents, void *userdata);
typedef int ev_signal_fn(struct ev_source *s, const struct signalfd_siginfo *si, void *userdata);
/* si is what waitid(2) returned: si_pid, si_code (CLD_EXITED, CLD_KILLED...), si_status. */
typedef int ev_child_fn(struct ev_source *s, const siginfo_t *si, void *userdata);
/* now is the loop's monotonic time in nanoseconds. */
typedef int ev_timer_fn(struct ev_source *s, uint64_t now, void *userdata);
/* Used by both defer and exit sources. */
typedef int ev_handler_fn(struct ev_source *s, void *userdata);

/* Creates a loop (an epoll fd, O_CLOEXEC). Returns 0 or -errno. */
int ev_loop_new(struct ev_loop **ret_loop);
/*
 * Disconnects every source and frees the floating ones; sources the caller still references
 * stay valid until their last ev_source_unref() but never fire again. NULL-safe; returns NULL.
 * Must not be called from a callback of the same loop.
 */
struct ev_loop *ev_loop_free(struct ev_loop *l);

/*
 * Runs until ev_loop_exit(): iterations of wait + dispatch, then the enabled exit sources once.
 * Returns the code given to ev_loop_exit(), or a negative errno if epoll_wait failed.
 */
int ev_loop_run(struct ev_loop *l);
/*
 * Runs one iteration, waiting at most timeout_ns (UINT64_MAX: no limit; 0: poll). Returns 1 if
 * something was dispatched, 0 on timeout or when exit was requested, -errno on failure. Exit
 * sources are not run here. Used for synchronous calls on a private loop.
 */
int ev_loop_run_once(struct ev_loop *l, uint64_t timeout_ns);
/* Asks ev_loop_run() to return code after the current iteration. */
void ev_loop_exit(struct ev_loop *l, int code);
bool ev_loop_is_exiting(const struct ev_loop *l);
/* The monotonic time (ns) taken at the start of the current iteration. */
uint64_t ev_loop_now(struct ev_loop *l);

/*
 * Watches fd (borrowed: the caller closes it after dropping the source) for events
 * (EPOLLIN, EPOLLOUT, ...; level-triggered). -EEXIST if fd is already watched by this loop.
 */
int ev_add_io(struct ev_loop *l, struct ev_source **ret_source, int fd, uint32_t events,
	      ev_io_fn *cb, void *userdata);
int ev_source_set_io_events(struct ev_source *s, uint32_t events);
uint32_t ev_source_get_io_events(const struct ev_source *s);
int ev_source_get_io_fd(const struct ev_source *s);

/*
 * Delivers sig through the loop's signalfd. Blocks sig in the calling thread (callers should block
 * it before creating threads or children). One source per signal: -EBUSY for a second one.
 * The mask is inherited across fork() and execve(): a child that runs other programs must
 * unblock (sigprocmask(SIG_SETMASK, empty)) before exec. Several pending instances of a
 * standard signal coalesce into one callback (SIGCHLD: reap with a waitpid(-1, WNOHANG) loop).
 */
int ev_add_signal(struct ev_loop *l, struct ev_source **ret_source, int sig, ev_signal_fn *cb,
		  void *userdata);

/*
 * Fires once when child pid exits; the child is reaped before cb runs (waitid WEXITED), so cb
 * gets the exit status. pid must be a child of the caller. Uses a pidfd; when pidfd_open(2) is
 * missing (ENOSYS) it falls back to SIGCHLD, which then must not have its own signal source.
 * After firing the source is OFF for good. A waitpid(-1) reaper elsewhere in the process races
 * with it (the callback then gets si_code 0): a process uses one reaping scheme or the other.
 */
int ev_add_child(struct ev_loop *l, struct ev_source **ret_source, pid_t pid, ev_child_fn *cb,
		 void *userdata);
pid_t ev_source_get_child_pid(const struct ev_source *s);

/*
 * Fires when CLOCK_MONOTONIC reaches at_ns (absolute; use ev_loop_now() or now_mono_ns() plus a
 * delay). Starts ONESHOT; re-arm with ev_source_set_time() and ev_source_set_enabled().
 */
int ev_add_timer(struct ev_loop *l, struct ev_source **ret_source, uint64_t at_ns, ev_timer_fn *cb,
		 void *userdata);
int ev_source_set_time(struct ev_source *s, uint64_t at_ns);
uint64_t ev_source_get_time(const struct ev_source *s);

/* Runs cb on the next iteration, without waiting. Starts ONESHOT (ON runs it every iteration). */
int ev_add_defer(struct ev_loop *l, struct ev_source **ret_source, ev_handler_fn *cb,
		 void *userdata);
/* Runs cb once when ev_loop_run() is about to return after ev_loop_exit(). Starts ONESHOT. */
int ev_add_exit(struct ev_loop *l, struct ev_source **ret_source, ev_handler_fn *cb,
		void *userdata);

int ev_source_set_enabled(struct ev_source *s, enum ev_enabled e);
enum ev_enabled ev_source_get_enabled(const struct ev_source *s);
struct ev_source *ev_source_ref(struct ev_source *s);
/* NULL-safe; returns NULL. Dropping the last reference disconnects the source for good. */
struct ev_source *ev_source_unref(struct ev_source *s);
/* Disables the source and drops one reference; NULL-safe; returns NULL. */
struct ev_source *ev_source_disable_unref(struct ev_source *s);
void ev_source_set_userdata(struct ev_source *s, void *userdata);
void *ev_source_get_userdata(const struct ev_source *s);
/* A name for debug logs (copied). */
void ev_source_set_description(struct ev_source *s, const char *desc);
/* The loop, or NULL once the loop was freed. */
struct ev_loop *ev_source_get_loop(const struct ev_source *s);

static inline void ev_loop_freep(struct ev_loop **l)
{
	if (*l)
		ev_loop_free(*l);
}
static inline void ev_source_unrefp(struct ev_source **s)
{
	if (*s)
		ev_source_unref(*s);
}
#define cleanup_ev_loop __attribute__((__cleanup__(ev_loop_freep)))
#define cleanup_ev_source __attribute__((__cleanup__(ev_source_unrefp)))

/* Testing only: forces the SIGCHLD fallback for child sources added afterwards. */
void ev_loop_set_child_fallback(struct ev_loop *l, bool on);

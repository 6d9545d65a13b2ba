/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The builtin runtime driver: liboci in the shim's own process. No runtime binary is forked and
 * exec'd; the container's init and exec'd processes are children of the shim (liboci clones
 * them with CLONE_PARENT), so the reaper collects their exits like any other. A terminal's pty
 * master comes straight back from liboci.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include "oci/oci.h"
#include "shim/internal.h"

/*
 * liboci clones the container's processes from the shim itself, and a clone inherits the
 * signal mask (the loop blocks the signals it reads through signalfd) and ignored dispositions
 * (SIGPIPE) across exec. Around oci_create/oci_exec the shim therefore runs with an empty mask
 * and catching handlers instead: a handler is reset to the default at exec, and a signal that
 * arrives meanwhile is raised again once the mask is back, so the loop still reads it.
 */
static volatile sig_atomic_t deferred[_NSIG];

static void defer_signal(int sig)
{
	deferred[sig] = 1;
}

struct sigsave {
	sigset_t mask;
	struct sigaction old[_NSIG];
	bool saved[_NSIG];
};

static void signals_open(struct sigsave *sv)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_BLOCK, &none, &sv->mask);
	struct sigaction sa = {.sa_handler = defer_signal};
	sigfillset(&sa.sa_mask);
	for (int sig = 1; sig < _NSIG; sig++) {
		sv->saved[sig] = false;
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (!sigismember(&sv->mask, sig) && sig != SIGPIPE)
			continue;
		deferred[sig] = 0;
		sv->saved[sig] = sigaction(sig, &sa, &sv->old[sig]) == 0;
	}
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void signals_close(struct sigsave *sv)
{
	sigprocmask(SIG_SETMASK, &sv->mask, NULL);
	for (int sig = 1; sig < _NSIG; sig++) {
		if (!sv->saved[sig])
			continue;
		sigaction(sig, &sv->old[sig], NULL);
		/* Still blocked: pending again, for the loop's signalfd (SIGPIPE stays ignored). */
		if (deferred[sig] && sig != SIGPIPE)
			raise(sig);
	}
}

static int devnull_or(int fd, int *tmp)
{
	if (fd >= 0)
		return fd;
	if (*tmp < 0)
		*tmp = open("/dev/null", O_RDWR | O_CLOEXEC);
	return *tmp;
}

static struct oci_stdio make_stdio(struct stdio_child *io, int *tmp)
{
	/* liboci keeps the caller's own fd for -1: the shim's stderr is its log, never that. */
	return (struct oci_stdio){devnull_or(io->in, tmp), devnull_or(io->out, tmp),
				  devnull_or(io->err, tmp), -1};
}

static void write_pid_file(struct container *c, const char *name, pid_t pid)
{
	cleanup_free char *path = path_join(c->bundle, name);
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
	if (write_file_atomic(path, buf, (size_t)n, 0644) < 0)
		log_debug("%s: write '%s' failed, ignoring", c->id, path);
}

static int bi_create(struct runtime *rt, struct container *c, struct stdio_child *io,
		     pid_t *ret_pid, struct wh_err **err)
{
	cleanup_close int devnull = -EBADF;
	int r = mkdir_p(rt->state_root, 0711);
	if (r < 0)
		return wh_err_set(err, r, "create state root '%s'", rt->state_root);
	struct oci_create_opts o = {
		.root = rt->state_root,
		.id = c->id,
		.bundle = c->bundle,
		.stdio = make_stdio(io, &devnull),
		.no_pivot = rt->opts.no_pivot_root,
	};
	int master = -1;
	struct sigsave sv;
	signals_open(&sv);
	r = oci_create(&o, ret_pid, &master, err);
	signals_close(&sv);
	/* liboci's parse of the spec leaves the heap grown; an idle shim should give it back. */
	malloc_trim(0);
	if (r < 0)
		return r;
	if (master >= 0)
		io->console_master = master;
	write_pid_file(c, "init.pid", *ret_pid);
	return 0;
}

static int bi_start(struct runtime *rt, struct container *c, struct wh_err **err)
{
	return oci_start(rt->state_root, c->id, err);
}

static int bi_exec(struct runtime *rt, struct container *c, struct proc *p, struct stdio_child *io,
		   pid_t *ret_pid, struct wh_err **err)
{
	cleanup_close int devnull = -EBADF;
	struct oci_exec_opts o = {
		.root = rt->state_root,
		.id = c->id,
		.process_json = p->spec,
		.stdio = make_stdio(io, &devnull),
	};
	int master = -1;
	struct sigsave sv;
	signals_open(&sv);
	int r = oci_exec(&o, ret_pid, &master, err);
	signals_close(&sv);
	malloc_trim(0);
	if (r < 0)
		return r;
	if (master >= 0)
		io->console_master = master;
	return 0;
}

static int bi_kill(struct runtime *rt, struct container *c, int sig, bool all, struct wh_err **err)
{
	return oci_kill(rt->state_root, c->id, sig, all, err);
}

static int bi_delete(struct runtime *rt, struct container *c, bool force, struct wh_err **err)
{
	return oci_delete(rt->state_root, c->id, force, err);
}

static int bi_pause(struct runtime *rt, struct container *c, struct wh_err **err)
{
	return oci_pause(rt->state_root, c->id, err);
}

static int bi_resume(struct runtime *rt, struct container *c, struct wh_err **err)
{
	return oci_resume(rt->state_root, c->id, err);
}

static int bi_ps(struct runtime *rt, struct container *c, pid_t **ret, size_t *ret_n,
		 struct wh_err **err)
{
	return oci_pids(rt->state_root, c->id, ret, ret_n, err);
}

static int bi_update(struct runtime *rt, struct container *c, const char *json, size_t len,
		     struct wh_err **err)
{
	cleanup_free char *text = xstrndup(json, len);
	return oci_update(rt->state_root, c->id, text, err);
}

static const struct runtime_ops builtin_ops = {
	.name = "builtin",
	.create = bi_create,
	.start = bi_start,
	.exec = bi_exec,
	.kill = bi_kill,
	.delete = bi_delete,
	.pause = bi_pause,
	.resume = bi_resume,
	.ps = bi_ps,
	.update = bi_update,
};

const struct runtime_ops *const runtime_builtin_ops = &builtin_ops;

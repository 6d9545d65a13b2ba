/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reaper: the shim is the child subreaper of its containers. One SIGCHLD source drains
 * waitpid(-1, WNOHANG) and hands every (pid, status) to the task layer; exits of pids that are
 * not registered yet are parked in a small table. While a synchronous runtime command runs, every
 * child is reaped (a runtime may wait for one of its helpers to vanish: runsc delete waits for its
 * gofer, which stays a zombie until we reap it); exits other than the command's are queued and
 * handed to the task layer from the event loop afterwards, so none is lost (PROTOCOLS.md 4.5).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/wait.h>

#include "shim/internal.h"

#define PARKED_MAX 256

struct parked {
	pid_t pid;
	int status;
	uint64_t seq;
};

static struct {
	reaper_fn *cb;
	void *ud;
	struct parked parked[PARKED_MAX];
	size_t next_slot;
	uint64_t seq;
	struct parked *queued; /* reaped during reaper_run, not yet handed to cb */
	size_t n_queued, cap_queued;
} reaper;

int wait_status_to_exit(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 255;
}

void exits_park(pid_t pid, int status)
{
	/* A ring: when full the oldest (an orphan nobody will ever claim) is dropped. */
	reaper.parked[reaper.next_slot] = (struct parked){pid, status, ++reaper.seq};
	reaper.next_slot = (reaper.next_slot + 1) % PARKED_MAX;
}

uint64_t exits_mark(void)
{
	return reaper.seq;
}

bool exits_take(pid_t pid, uint64_t mark, int *status)
{
	/* An exit parked before the mark belongs to an earlier process that had this pid. */
	for (size_t i = 0; i < PARKED_MAX; i++) {
		if (reaper.parked[i].pid == pid && pid > 0 && reaper.parked[i].seq > mark) {
			*status = reaper.parked[i].status;
			reaper.parked[i].pid = 0;
			return true;
		}
	}
	return false;
}

void reaper_reap(void)
{
	/* First the exits reaper_run reaped, in order; cb may run reaper_run and queue more. */
	for (size_t i = 0; i < reaper.n_queued; i++)
		if (reaper.cb)
			reaper.cb(reaper.queued[i].pid, reaper.queued[i].status, reaper.ud);
	reaper.n_queued = 0;
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		if (reaper.cb)
			reaper.cb(pid, st, reaper.ud);
	}
}

static int on_sigchld(struct ev_source *s, const struct signalfd_siginfo *si, void *ud)
{
	reaper_reap();
	return 0;
}

int reaper_init(struct ev_loop *loop, reaper_fn *cb, void *ud, struct wh_err **err)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return wh_err_set(err, errno, "become child subreaper");
	reaper.cb = cb;
	reaper.ud = ud;
	int r = ev_add_signal(loop, NULL, SIGCHLD, on_sigchld, NULL);
	if (r < 0)
		return wh_err_set(err, r, "watch SIGCHLD");
	return 0;
}

/* In the child: fds[i] -> i, everything else closed on exec, default signals. */
static void child_setup(const int fds[3])
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int moved[3];
	/* Move the sources above 2 first so that dup2 never clobbers a later source. */
	for (int i = 0; i < 3; i++) {
		int f = fds && fds[i] >= 0 ? fds[i] : devnull;
		moved[i] = f >= 0 ? fcntl(f, F_DUPFD_CLOEXEC, 3) : -1;
	}
	for (int i = 0; i < 3; i++) {
		if (moved[i] >= 0 && dup2(moved[i], i) < 0)
			_exit(127);
	}
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < _NSIG; sig++)
		signal(sig, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	unsetenv("NOTIFY_SOCKET");
}

int reaper_run(char *const argv[], const int fds[3], int *ret_status)
{
	int errpipe[2];
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(errpipe[0]);
		close(errpipe[1]);
		return -e;
	}
	if (pid == 0) {
		close(errpipe[0]);
		child_setup(fds);
		execvp(argv[0], argv);
		int e = errno;
		(void)!write(errpipe[1], &e, sizeof(e));
		_exit(127);
	}
	close(errpipe[1]);
	int exec_errno = 0;
	ssize_t n;
	do
		n = read(errpipe[0], &exec_errno, sizeof(exec_errno));
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	int st;
	bool queued = false;
	for (;;) {
		pid_t w = waitpid(-1, &st, 0);
		if (w == pid)
			break;
		if (w > 0) {
			xgrow((void **)&reaper.queued, &reaper.cap_queued, reaper.n_queued + 1,
			      sizeof(*reaper.queued));
			reaper.queued[reaper.n_queued++] = (struct parked){w, st, 0};
			queued = true;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	/* SIGCHLD is read through a signalfd: make it pending so the loop delivers the queue. */
	if (queued)
		kill(getpid(), SIGCHLD);
	if (n == (ssize_t)sizeof(exec_errno) && exec_errno > 0)
		return -exec_errno;
	*ret_status = st;
	return 0;
}

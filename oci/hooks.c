/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI hooks: each runs as a child with the container's state JSON on its stdin, its own args and
 * env, and a timeout after which it is killed. A failing hook fails the step it belongs to.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/common.h"
#include "oci/internal.h"

static const char *const kind_names[_OCI_HOOK_MAX] = {
	"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

static int run_one(const struct oci_hook *h, const char *name, const char *state_json,
		   struct wh_err **err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return wh_err_set(err, errno, "hook %s '%s': pipe", name, h->path);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		wh_close(pipefd[0]);
		wh_close(pipefd[1]);
		return wh_err_set(err, e, "hook %s '%s': fork", name, h->path);
	}
	if (pid == 0) {
		/* its own process group, so that a timeout kills what it started too */
		setpgid(0, 0);
		if (dup2(pipefd[0], 0) < 0)
			_exit(127);
		syscall(SYS_close_range, 3, ~0U, 0);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		char *argv0[] = {h->path, NULL};
		char *envp0[] = {NULL};
		execve(h->path, h->args && h->args[0] ? h->args : argv0, h->env ? h->env : envp0);
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no race with the child's own call */
	wh_close(pipefd[0]);
	/* the hook may not read its stdin: ignore EPIPE */
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	write_all(pipefd[1], state_json, strlen(state_json));
	signal(SIGPIPE, old);
	wh_close(pipefd[1]);

	int status = 0;
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0 && h->timeout > 0) {
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		int n;
		do
			n = poll(&p, 1, (int)MIN(h->timeout, 1000000) * 1000);
		while (n < 0 && errno == EINTR);
		if (n == 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			wh_close(pfd);
			return wh_err_setx(err, ETIMEDOUT, "hook %s '%s': timed out after %llds",
					   name, h->path, (long long)h->timeout);
		}
	}
	wh_close(pfd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return wh_err_set(err, errno, "hook %s '%s': wait", name, h->path);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return wh_err_setx(err, ENOEXEC, "hook %s '%s': could not be executed", name,
				   h->path);
	if (WIFEXITED(status))
		return wh_err_setx(err, EIO, "hook %s '%s': exit status %d", name, h->path,
				   WEXITSTATUS(status));
	return wh_err_setx(err, EIO, "hook %s '%s': killed by signal %d", name, h->path,
			   WTERMSIG(status));
}

int oci_hooks_run(const struct oci_hooks *h, enum oci_hook_kind kind, const char *state_json,
		  struct wh_err **err)
{
	for (size_t i = 0; i < h->n[kind]; i++) {
		int r = run_one(&h->v[kind][i], kind_names[kind], state_json, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running a shim binary to completion (`start` and `delete`, PROTOCOLS.md §2.3 and §2.6): argv,
 * cwd = bundle, the shim environment, stdin bytes, captured output, a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "runtime-v2/internal.h"

#define RT_MAX_OUTPUT (1u << 20)

void rt_run_result_done(struct rt_run_result *r)
{
	free(r->out);
	free(r->errout);
	*r = (struct rt_run_result){0};
}

char *rt_describe_status(int status)
{
	if (WIFEXITED(status))
		return xasprintf("exit status %d", WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return xasprintf("killed by signal %d", WTERMSIG(status));
	return xasprintf("wait status %#x", (unsigned)status);
}

/*
 * Our environment plus the shim's variables, built before fork (setenv in a forked child of a
 * threaded process is not safe). 1.6 sets TTRPC_ADDRESS only; 1.7 adds the rest.
 */
static char **shim_env(const struct rt_config *cfg, const char *ns)
{
	static const char *const ours[] = {"TTRPC_ADDRESS=", "GRPC_ADDRESS=", "NAMESPACE=",
					   "MAX_SHIM_VERSION=", "GOMAXPROCS="};
	char **env = NULL;

	for (char **e = environ; e && *e; e++) {
		bool skip = false;

		for (size_t i = 0; i < ARRAY_SIZE(ours); i++)
			skip |= str_startswith(*e, ours[i]);
		if (!skip)
			strv_push(&env, *e);
	}
	if (cfg->ttrpc_address)
		strv_consume(&env, xasprintf("TTRPC_ADDRESS=%s", cfg->ttrpc_address));
	if (cfg->grpc_address)
		strv_consume(&env, xasprintf("GRPC_ADDRESS=%s", cfg->grpc_address));
	strv_consume(&env, xasprintf("NAMESPACE=%s", ns));
	strv_push(&env, "MAX_SHIM_VERSION=2");
	strv_push(&env, "GOMAXPROCS=2");
	return env;
}

static __attribute__((noreturn)) void child(const char *binary, char *const *argv,
					    char *const *envp, const char *cwd, int in_fd,
					    int out_fd, int err_fd)
{
	sigset_t empty;

	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* Its own process group, as containerd does: a timeout kills the whole group. */
	setpgid(0, 0);
	if (chdir(cwd) < 0)
		_exit(126);
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(126);
	execve(binary, argv, envp);
	_exit(127);
}

struct pipes {
	int in[2], out[2], err[2];
};

static void pipes_close(struct pipes *p)
{
	int *all[] = {&p->in[0], &p->in[1], &p->out[0], &p->out[1], &p->err[0], &p->err[1]};

	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		*all[i] = wh_close(*all[i]);
}

static int drain(int fd, struct strbuf *sb)
{
	char buf[8192];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (sb->len < RT_MAX_OUTPUT)
			strbuf_add(sb, buf, (size_t)n);
	return n == 0 ? 0 : (errno == EAGAIN ? 1 : -errno);
}

/*
 * Reads out and err until the child exits (its pidfd turns readable) or the deadline. The shim
 * daemon that `start` leaves behind must not keep our pipes, but if it does we do not wait for
 * their EOF: what the start process wrote is in the pipe when it exits.
 */
static int collect(pid_t pid, int pidfd, int out, int err, struct strbuf *ob, struct strbuf *eb,
		   uint64_t deadline)
{
	struct pollfd p[3] = {{pidfd, POLLIN, 0}, {out, POLLIN, 0}, {err, POLLIN, 0}};
	bool exited = false;

	fd_set_nonblock(out, true);
	if (err >= 0)
		fd_set_nonblock(err, true);
	while (!exited) {
		uint64_t now = now_mono_ns();
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(p, 3, (int)MIN((deadline - now) / 1000000 + 1, 1000));
		if (r < 0 && errno != EINTR)
			return -errno;
		exited = p[0].revents != 0;
		/* At EOF a pipe stays readable: stop polling it (a negative fd is ignored). */
		if (p[1].revents && drain(out, ob) == 0)
			p[1].fd = -1;
		if (p[2].revents && drain(err, eb) == 0)
			p[2].fd = -1;
	}
	drain(out, ob);
	if (err >= 0)
		drain(err, eb);
	return 0;
}

int rt_run_shim(const struct rt_config *cfg, const char *binary, char *const *argv, const char *cwd,
		const char *ns, const void *in, size_t in_len, bool combined,
		struct rt_run_result *ret, struct wh_err **err)
{
	struct pipes p = {{-EBADF, -EBADF}, {-EBADF, -EBADF}, {-EBADF, -EBADF}};
	cleanup_strbuf struct strbuf ob = STRBUF_INIT, eb = STRBUF_INIT;
	cleanup(strv_freep) char **envp = shim_env(cfg, ns);
	cleanup_close int pidfd = -EBADF;
	int status = 0, r;
	pid_t pid;

	if (pipe2(p.in, O_CLOEXEC) < 0 || pipe2(p.out, O_CLOEXEC) < 0 ||
	    (!combined && pipe2(p.err, O_CLOEXEC) < 0)) {
		r = -errno;
		pipes_close(&p);
		return wh_err_set(err, r, "pipe");
	}
	/* Small stdin (an options Any) fits the pipe buffer: write it before the child runs. */
	if (in_len > 0 && (in_len > 65536 || write_all(p.in[1], in, in_len) < 0)) {
		pipes_close(&p);
		return wh_err_setx(err, EMSGSIZE, "shim options too large (%zu bytes)", in_len);
	}
	p.in[1] = wh_close(p.in[1]);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		pipes_close(&p);
		return wh_err_set(err, r, "fork");
	}
	if (pid == 0)
		child(binary, argv, envp, cwd, p.in[0], p.out[1], combined ? p.out[1] : p.err[1]);
	p.in[0] = wh_close(p.in[0]);
	p.out[1] = wh_close(p.out[1]);
	p.err[1] = wh_close(p.err[1]);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		r = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pipes_close(&p);
		return wh_err_set(err, r, "pidfd_open");
	}
	r = collect(pid, pidfd, p.out[0], p.err[0], &ob, &eb, now_mono_ns() + rt_timeout(cfg));
	if (r < 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pipes_close(&p);
	if (r == -ETIMEDOUT)
		return wh_err_setx(err, ETIMEDOUT, "'%s %s' did not finish in %llu s", binary,
				   argv[strv_length(argv) - 1],
				   (unsigned long long)(rt_timeout(cfg) / 1000000000ull));
	if (r < 0)
		return wh_err_set(err, r, "run '%s'", binary);
	ret->status = status;
	ret->out_len = ob.len;
	ret->out = strbuf_detach(&ob, NULL);
	ret->errout = strbuf_detach(&eb, NULL);
	return 0;
}

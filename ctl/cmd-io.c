/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stdio of `run`, `tasks start|exec|attach`: fifos in a temp dir (ctr's cio, PROTOCOLS.md
 * §4.3) whose paths go to Tasks.Create/Exec, and a loop that copies them to our own stdio while
 * Tasks.Wait is pending; a terminal in raw mode with SIGWINCH -> ResizePty; SIGINT/SIGTERM/SIGHUP
 * forwarded to the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "common/ev.h"
#include "ctl/cmd.h"
#include "proto/google/protobuf/empty.pb-c.h"
#include "proto/services/tasks/v1/tasks.pb-c.h"
#include "ttrpc/ttrpc.h"

#define TASKS_SVC "containerd.services.tasks.v1.Tasks"

static int open_fifo(const char *path, int *ret, struct wh_err **err)
{
	/* O_RDWR: never blocks, and the peer's open never waits for us either. */
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return wh_err_set(err, errno, "open fifo '%s'", path);
	*ret = fd;
	return 0;
}

int cmd_io_create(bool tty, struct cmd_io *io, struct wh_err **err)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	cleanup_free char *tmpl = xasprintf("%s/wharfctl-XXXXXX", base && *base ? base : "/tmp");
	int r;

	*io = (struct cmd_io){.in_fd = -EBADF, .out_fd = -EBADF, .err_fd = -EBADF, .tty = tty};
	if (!mkdtemp(tmpl))
		return wh_err_set(err, errno, "create fifo dir '%s'", tmpl);
	io->dir = TAKE_PTR(tmpl);
	io->stdin_path = path_join(io->dir, "stdin");
	io->stdout_path = path_join(io->dir, "stdout");
	if (!tty)
		io->stderr_path = path_join(io->dir, "stderr");
	const char *paths[] = {io->stdin_path, io->stdout_path, io->stderr_path};
	int *fds[] = {&io->in_fd, &io->out_fd, &io->err_fd};
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		if (!paths[i])
			continue;
		if (mkfifo(paths[i], 0600) < 0) {
			r = wh_err_set(err, errno, "mkfifo '%s'", paths[i]);
			cmd_io_release(io);
			return r;
		}
		if ((r = open_fifo(paths[i], fds[i], err)) < 0) {
			cmd_io_release(io);
			return r;
		}
	}
	return 0;
}

int cmd_io_open(const char *in, const char *out, const char *errp, bool tty, struct cmd_io *io,
		struct wh_err **err)
{
	const char *paths[] = {in, out, errp};
	int r;

	*io = (struct cmd_io){.in_fd = -EBADF, .out_fd = -EBADF, .err_fd = -EBADF, .tty = tty};
	int *fds[] = {&io->in_fd, &io->out_fd, &io->err_fd};
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		if (!paths[i] || !*paths[i])
			continue;
		if ((r = open_fifo(paths[i], fds[i], err)) < 0) {
			cmd_io_release(io);
			return r;
		}
	}
	return 0;
}

void cmd_io_release(struct cmd_io *io)
{
	io->in_fd = wh_close(io->in_fd);
	io->out_fd = wh_close(io->out_fd);
	io->err_fd = wh_close(io->err_fd);
	if (io->dir) {
		if (io->stdin_path)
			unlink(io->stdin_path);
		if (io->stdout_path)
			unlink(io->stdout_path);
		if (io->stderr_path)
			unlink(io->stderr_path);
		rmdir(io->dir);
	}
	free(io->dir);
	free(io->stdin_path);
	free(io->stdout_path);
	free(io->stderr_path);
	io->dir = io->stdin_path = io->stdout_path = io->stderr_path = NULL;
}

void cmd_io_detach(struct cmd_io *io)
{
	free(io->dir);
	io->dir = NULL;
	cmd_io_release(io);
}

void cmd_io_remove_paths(const char *in, const char *out, const char *errp)
{
	const char *paths[] = {in, out, errp};
	cleanup_free char *dir = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		const char *p = paths[i], *slash;

		if (!p || !*p || !(slash = strrchr(p, '/')))
			continue;
		cleanup_free char *d = xstrndup(p, slash - p);
		const char *base = strrchr(d, '/');

		if (!base || !str_startswith(base + 1, "wharfctl-"))
			continue;
		unlink(p);
		if (!dir)
			dir = TAKE_PTR(d);
	}
	if (dir)
		rmdir(dir);
}

struct waiter {
	struct ctl_client *c;
	struct cmd_io *io;
	const char *id, *exec_id;
	bool done;
	int r;
	uint32_t status;
	struct wh_err *e;
	struct ev_source *in_src, *out_src, *err_src, *sig_src[4];
};

/* Fire-and-forget call (Kill, ResizePty, CloseIO): errors are not fatal to the copy. */
static void ignore_reply(struct ttrpc_client *tc, struct ttrpc_reply *reply, void *userdata)
{
}

static void call_async(struct waiter *w, const char *method, const ProtobufCMessage *req)
{
	struct ttrpc_call_opts o = {.metadata = ctl_client_metadata(w->c)};

	ttrpc_client_call_async(w->c->c, TASKS_SVC, method, req,
				&google__protobuf__empty__descriptor, &o, ignore_reply, NULL, NULL);
}

static void close_stdin(struct waiter *w)
{
	Containerd__Services__Tasks__V1__CloseIORequest q =
		CONTAINERD__SERVICES__TASKS__V1__CLOSE_IOREQUEST__INIT;

	w->in_src = ev_source_disable_unref(w->in_src);
	w->io->in_fd = wh_close(w->io->in_fd);
	q.container_id = (char *)w->id;
	q.exec_id = (char *)w->exec_id;
	q.stdin = true;
	call_async(w, "CloseIO", &q.base);
}

/* Copies one read's worth: 1 when bytes moved, 0 when nothing is readable, -1 at EOF/error. */
static int pump(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	/* A closed stdout of ours (EPIPE) must not stop the process: its output is dropped. */
	(void)write_all(to, buf, (size_t)n);
	return 1;
}

static int on_stdin(struct ev_source *s, int fd, uint32_t revents, void *userdata)
{
	struct waiter *w = userdata;
	char buf[32768];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0 || write_all(w->io->in_fd, buf, (size_t)n) < 0)
		close_stdin(w);
	return 0;
}

static int on_out(struct ev_source *s, int fd, uint32_t revents, void *userdata)
{
	struct waiter *w = userdata;

	for (int i = 0; i < 16; i++)
		if (pump(fd, fd == w->io->out_fd ? STDOUT_FILENO : STDERR_FILENO) <= 0)
			break;
	return 0;
}

static void resize(struct waiter *w)
{
	Containerd__Services__Tasks__V1__ResizePtyRequest q =
		CONTAINERD__SERVICES__TASKS__V1__RESIZE_PTY_REQUEST__INIT;
	struct winsize ws;

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
		return;
	q.container_id = (char *)w->id;
	q.exec_id = (char *)w->exec_id;
	q.width = ws.ws_col;
	q.height = ws.ws_row;
	call_async(w, "ResizePty", &q.base);
}

static int on_signal(struct ev_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	Containerd__Services__Tasks__V1__KillRequest q =
		CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
	struct waiter *w = userdata;

	if (si->ssi_signo == SIGWINCH) {
		resize(w);
		return 0;
	}
	q.container_id = (char *)w->id;
	q.exec_id = (char *)w->exec_id;
	q.signal = si->ssi_signo;
	call_async(w, "Kill", &q.base);
	return 0;
}

static void on_wait(struct ttrpc_client *tc, struct ttrpc_reply *reply, void *userdata)
{
	struct waiter *w = userdata;

	w->done = true;
	if (reply->code == TTRPC_OK && reply->msg) {
		w->status =
			((Containerd__Services__Tasks__V1__WaitResponse *)reply->msg)->exit_status;
		return;
	}
	if (!ttrpc_client_is_connected(w->c->c))
		w->r = wh_err_setx(&w->e, ttrpc_errno_from_code(reply->code),
				   "wharfd at %s closed the connection", w->c->address);
	else
		w->r = wh_err_setx(&w->e, ttrpc_errno_from_code(reply->code), "wait for '%s': %s",
				   w->id, reply->message);
}

/* A regular file or /dev/null on stdin cannot be polled: copy it at once, then close. */
static void copy_stdin_now(struct waiter *w)
{
	char buf[32768];
	ssize_t n;

	fd_set_nonblock(w->io->in_fd, false);
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
		if (write_all(w->io->in_fd, buf, (size_t)n) < 0)
			break;
	close_stdin(w);
}

static void add_sources(struct waiter *w)
{
	struct ev_loop *l = w->c->loop;
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};

	if (w->io->out_fd >= 0)
		ev_add_io(l, &w->out_src, w->io->out_fd, EPOLLIN, on_out, w);
	if (w->io->err_fd >= 0)
		ev_add_io(l, &w->err_src, w->io->err_fd, EPOLLIN, on_out, w);
	if (w->io->in_fd >= 0) {
		fd_set_nonblock(w->io->in_fd, false);
		if (ev_add_io(l, &w->in_src, STDIN_FILENO, EPOLLIN, on_stdin, w) < 0)
			copy_stdin_now(w);
	}
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		if (sigs[i] == SIGWINCH && !w->io->tty)
			continue;
		if (sigs[i] != SIGWINCH && w->io->tty)
			continue; /* the terminal delivers ^C itself */
		ev_add_signal(l, &w->sig_src[i], sigs[i], on_signal, w);
	}
}

int cmd_io_wait(struct ctl_client *c, struct cmd_io *io, const char *id, const char *exec_id,
		uint32_t *ret_status, struct wh_err **err)
{
	Containerd__Services__Tasks__V1__WaitRequest q =
		CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
	struct ttrpc_call_opts o = {.metadata = ctl_client_metadata(c)};
	struct waiter w = {.c = c, .io = io, .id = id, .exec_id = exec_id};
	struct termios saved;
	bool raw = false;
	int r;

	q.container_id = (char *)id;
	q.exec_id = (char *)exec_id;
	r = ttrpc_client_call_async(c->c, TASKS_SVC, "Wait", &q.base,
				    &containerd__services__tasks__v1__wait_response__descriptor, &o,
				    on_wait, &w, err);
	if (r < 0)
		return r;
	if (io->tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
		struct termios t = saved;

		cfmakeraw(&t);
		raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
		resize(&w);
	}
	add_sources(&w);
	while (!w.done)
		if (ev_loop_run_once(c->loop, UINT64_MAX) < 0)
			break;
	/* The shim drains the process's output before it reports the exit: take what is left. */
	while (io->out_fd >= 0 && pump(io->out_fd, STDOUT_FILENO) > 0)
		;
	while (io->err_fd >= 0 && pump(io->err_fd, STDERR_FILENO) > 0)
		;
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	ev_source_disable_unref(w.in_src);
	ev_source_disable_unref(w.out_src);
	ev_source_disable_unref(w.err_src);
	for (size_t i = 0; i < ARRAY_SIZE(w.sig_src); i++)
		ev_source_disable_unref(w.sig_src[i]);
	if (!w.done)
		return wh_err_setx(err, EIO, "wait for '%s': event loop failed", id);
	if (w.r < 0)
		return wh_err_move(err, &w.e);
	*ret_status = w.status;
	return 0;
}

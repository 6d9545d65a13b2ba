/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process stdio (PROTOCOLS.md 4.2-4.4): the request's fifos or files, one pipe per stream for the
 * container, or a pty whose master comes back over a console socket (SCM_RIGHTS) or from the
 * builtin runtime. Copies run on the loop with splice(2) and fall back to read/write where the
 * kernel cannot splice (ttys). An output copy ends only at EOF so nothing is lost at exit.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "shim/internal.h"

#define COPY_BUF 65536
#define COPY_ROUNDS 16 /* chunks per wakeup, so one busy stream cannot starve the loop */

struct copier {
	struct proc_io *io;
	int src, dst;
	bool src_pollable, dst_pollable;
	bool close_dst_at_eof; /* stdin: the container sees EOF */
	bool output;	       /* counts for the drain */
	bool buffered;	       /* read/write instead of splice */
	bool discard;	       /* dst failed: keep reading so the writer never blocks */
	bool done;
	char *buf;
	size_t len, off;
	struct ev_source *src_s, *dst_s;
};

struct proc_io {
	struct ev_loop *loop;
	bool terminal;
	int stdin_fifo_w; /* the shim's own writer on the stdin fifo, dropped by CloseIO */
	int fds[8];	  /* every fd the copies use, closed at free */
	size_t n_fds;
	struct copier *copiers[3];
	size_t n_copiers;
	int console_master;
	char *console_dir;
	int console_listen;
	/* the shim's ends before start */
	int in_w, out_r, err_r, in_src, out_dst, err_dst;
	void (*drained_cb)(void *ud);
	void *drained_ud;
};

static void copier_set_wait(struct copier *c, bool wait_dst)
{
	if (c->src_s)
		ev_source_set_enabled(c->src_s, wait_dst ? EV_OFF : EV_ON);
	if (c->dst_s)
		ev_source_set_enabled(c->dst_s, wait_dst ? EV_ON : EV_OFF);
}

static void check_drained(struct proc_io *io)
{
	if (!io->drained_cb || !proc_io_drained(io))
		return;
	void (*cb)(void *) = io->drained_cb;
	io->drained_cb = NULL;
	cb(io->drained_ud);
}

static void copier_finish(struct copier *c)
{
	c->done = true;
	c->src_s = ev_source_disable_unref(c->src_s);
	c->dst_s = ev_source_disable_unref(c->dst_s);
	if (c->close_dst_at_eof)
		c->dst = wh_close(c->dst);
	check_drained(c->io);
}

/* One step of the buffered path: >0 progress, 0 EOF, -EAGAIN wait src, -EWOULDBLOCK... */
enum step { STEP_MORE, STEP_EOF, STEP_WAIT_SRC, STEP_WAIT_DST };

static enum step step_buffered(struct copier *c)
{
	if (c->off < c->len) {
		ssize_t w = c->discard ? (ssize_t)(c->len - c->off)
				       : write(c->dst, c->buf + c->off, c->len - c->off);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return STEP_WAIT_DST;
		if (w < 0) {
			log_warn_errno(-errno,
				       "stdio copy: write failed, discarding further output");
			c->discard = true;
			return STEP_MORE;
		}
		c->off += (size_t)w;
		return STEP_MORE;
	}
	ssize_t n = read(c->src, c->buf, COPY_BUF);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return STEP_WAIT_SRC;
	if (n <= 0) /* EOF, or EIO on a pty master whose slave is closed */
		return STEP_EOF;
	c->len = (size_t)n;
	c->off = 0;
	return STEP_MORE;
}

static enum step step_splice(struct copier *c)
{
	ssize_t n = splice(c->src, NULL, c->dst, NULL, 1 << 20, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
	if (n > 0)
		return STEP_MORE;
	if (n == 0)
		return STEP_EOF;
	if (errno == EINTR)
		return STEP_MORE;
	if (errno == EAGAIN) {
		int avail = 0;
		if (c->src_pollable && ioctl(c->src, FIONREAD, &avail) == 0 && avail == 0)
			return STEP_WAIT_SRC;
		return STEP_WAIT_DST;
	}
	/* EINVAL: one side cannot splice (a tty); anything else is retried the plain way. */
	c->buffered = true;
	if (!c->buf)
		c->buf = xmalloc(COPY_BUF);
	return STEP_MORE;
}

static void copier_run(struct copier *c)
{
	for (int i = 0; i < COPY_ROUNDS && !c->done; i++) {
		enum step st = c->buffered || c->discard ? step_buffered(c) : step_splice(c);
		switch (st) {
		case STEP_MORE:
			continue;
		case STEP_EOF:
			copier_finish(c);
			return;
		case STEP_WAIT_SRC:
			copier_set_wait(c, !c->src_pollable);
			return;
		case STEP_WAIT_DST:
			copier_set_wait(c, c->dst_pollable);
			return;
		}
	}
	/* Out of rounds: come back on the next readiness of whichever side drives us. */
	copier_set_wait(c, !c->src_pollable);
}

static int on_ready(struct ev_source *s, int fd, uint32_t revents, void *ud)
{
	copier_run(ud);
	return 0;
}

static bool fd_is_pollable(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return false;
	return !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

static int copier_start(struct proc_io *io, int src, int dst, bool output, bool close_dst)
{
	struct copier *c = xnew0(struct copier, 1);
	c->io = io;
	c->src = src;
	c->dst = dst;
	c->output = output;
	c->close_dst_at_eof = close_dst;
	c->src_pollable = fd_is_pollable(src);
	c->dst_pollable = fd_is_pollable(dst);
	io->copiers[io->n_copiers++] = c;
	int r = 0;
	if (c->src_pollable)
		r = ev_add_io(io->loop, &c->src_s, src, EPOLLIN, on_ready, c);
	if (r >= 0 && c->dst_pollable)
		r = ev_add_io(io->loop, &c->dst_s, dst, EPOLLOUT, on_ready, c);
	if (r < 0)
		return r;
	copier_set_wait(c, !c->src_pollable);
	return 0;
}

static void io_keep(struct proc_io *io, int fd)
{
	wh_assert(io->n_fds < ARRAY_SIZE(io->fds));
	io->fds[io->n_fds++] = fd;
}

/* file:///p -> p (created, appended); binary:// is not supported; plain paths as they are. */
static int open_output(const char *uri, int *ret, struct wh_err **err)
{
	if (str_startswith(uri, "binary://"))
		return wh_err_setx(err, EOPNOTSUPP,
				   "stdio '%s': binary:// loggers are not supported", uri);
	if (str_startswith(uri, "file://")) {
		const char *path = uri + 7;
		cleanup_free char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = 0;
			mkdir_p(dir, 0755);
		}
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
		if (fd < 0)
			return wh_err_set(err, errno, "open stdio file '%s'", path);
		*ret = fd;
		return 0;
	}
	const char *path = str_startswith(uri, "fifo://") ? uri + 7 : uri;
	struct stat st;
	if (stat(path, &st) < 0)
		return wh_err_set(err, errno, "open stdio '%s'", path);
	/* O_RDWR on a fifo never blocks at open and never sees EPIPE when the reader leaves. */
	int flags = S_ISFIFO(st.st_mode) ? O_RDWR | O_NONBLOCK : O_WRONLY | O_APPEND;
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return wh_err_set(err, errno, "open stdio '%s'", path);
	*ret = fd;
	return 0;
}

static int open_input(struct proc_io *io, const char *uri, int *ret, struct wh_err **err)
{
	const char *path = str_startswith(uri, "fifo://") ? uri + 7 : uri;
	if (str_startswith(path, "file://"))
		path += 7;
	struct stat st;
	if (stat(path, &st) < 0)
		return wh_err_set(err, errno, "open stdin '%s'", path);
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return wh_err_set(err, errno, "open stdin '%s'", path);
	if (S_ISFIFO(st.st_mode)) {
		/* Our own writer keeps the fifo from reading EOF until CloseIO. */
		io->stdin_fifo_w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (io->stdin_fifo_w < 0) {
			int e = errno;
			close(fd);
			return wh_err_set(err, e, "open stdin '%s' for writing", path);
		}
	}
	*ret = fd;
	return 0;
}

static bool set(const char *s)
{
	return s && *s;
}

static int make_pipe(int *ret_shim, int *ret_child, bool child_reads, uid_t uid, gid_t gid)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	*ret_child = child_reads ? p[0] : p[1];
	*ret_shim = child_reads ? p[1] : p[0];
	fd_set_nonblock(*ret_shim, true);
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(*ret_child, uid, gid) < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	return 0;
}

static int console_listen(struct proc_io *io, struct stdio_child *child, struct wh_err **err)
{
	const char *tmp = secure_getenv("XDG_RUNTIME_DIR");
	io->console_dir = xasprintf("%s/wharf-pty-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(io->console_dir)) {
		int e = errno;
		io->console_dir = (free(io->console_dir), NULL);
		return wh_err_set(err, e, "create console socket dir");
	}
	char *path = path_join(io->console_dir, "pty.sock");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		free(path);
		return wh_err_setx(err, ENAMETOOLONG, "console socket path too long");
	}
	strcpy(sa.sun_path, path);
	io->console_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (io->console_listen < 0 || bind(io->console_listen, (void *)&sa, sizeof(sa)) < 0 ||
	    listen(io->console_listen, 1) < 0) {
		int e = errno;
		free(path);
		return wh_err_set(err, e, "listen on console socket");
	}
	child->console_socket = path;
	return 0;
}

/* Receives exactly one fd (the pty master) from the runtime over the console socket. */
static int console_receive(struct proc_io *io, struct wh_err **err)
{
	cleanup_close int conn = accept4(io->console_listen, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return wh_err_set(err, errno, "the runtime sent no console");
	char name[4096];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {name, sizeof(name)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do
		n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return wh_err_set(err, errno, "receive console");
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)) || (mh.msg_flags & MSG_CTRUNC))
		return wh_err_setx(err, EBADMSG, "console socket: expected exactly one fd");
	memcpy(&io->console_master, CMSG_DATA(cm), sizeof(int));
	return 0;
}

static void console_cleanup(struct proc_io *io)
{
	io->console_listen = wh_close(io->console_listen);
	if (io->console_dir) {
		rm_rf(io->console_dir);
		io->console_dir = (free(io->console_dir), NULL);
	}
}

/* ---- binary:// loggers ---- */

#define LOGGER_READY_TIMEOUT_MS 30000
#define LOGGER_MAX_ARGS 64

/* Percent-decodes s in place (URL path and query parts). */
static void url_decode(char *s)
{
	char *d = s;
	for (; *s; s++) {
		if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
			char hex[3] = {s[1], s[2], 0};
			*d++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*d++ = *s == '+' ? ' ' : *s;
		}
	}
	*d = 0;
}

/* binary:///path?k=v&k2 -> argv {path, k, v, k2, NULL}; the strings live in *buf. */
static int logger_argv(const char *uri, char **buf, char **argv, struct wh_err **err)
{
	char *b = *buf = xstrdup(uri + strlen("binary://"));
	char *q = strchr(b, '?');
	if (q)
		*q++ = 0;
	url_decode(b);
	if (b[0] != '/')
		return wh_err_setx(err, EINVAL, "stdio '%s': the logger path must be absolute",
				   uri);
	size_t n = 0;
	argv[n++] = b;
	for (char *save = NULL, *kv = q ? strtok_r(q, "&", &save) : NULL; kv;
	     kv = strtok_r(NULL, "&", &save)) {
		if (n + 3 > LOGGER_MAX_ARGS)
			return wh_err_setx(err, E2BIG, "stdio '%s': too many logger arguments",
					   uri);
		char *v = strchr(kv, '=');
		if (v)
			*v++ = 0;
		url_decode(kv);
		argv[n++] = kv;
		if (v && *v) {
			url_decode(v);
			argv[n++] = v;
		}
	}
	argv[n] = NULL;
	return 0;
}

static void logger_child(char *const argv[], const int fds[3], const struct stdio_cfg *cfg)
{
	int moved[3];
	for (int i = 0; i < 3; i++)
		moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
	int devnull = open("/dev/null", O_RDWR);
	for (int i = 0; i < 3; i++)
		if (devnull < 0 || dup2(devnull, i) < 0 || moved[i] < 0 ||
		    dup2(moved[i], 3 + i) < 0)
			_exit(127);
	close_range(6, ~0U, CLOSE_RANGE_CLOEXEC);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < _NSIG; sig++)
		signal(sig, SIG_DFL);
	setenv("CONTAINER_ID", cfg->id ? cfg->id : "", 1);
	setenv("CONTAINER_NAMESPACE", cfg->ns ? cfg->ns : "", 1);
	execv(argv[0], argv);
	_exit(127);
}

/* Starts the logger on the read ends of the stdout/stderr pipes; waits until it is ready. */
static int start_logger(const struct stdio_cfg *cfg, int out_r, int err_r, struct wh_err **err)
{
	cleanup_free char *buf = NULL;
	char *argv[LOGGER_MAX_ARGS];
	int r = logger_argv(cfg->out, &buf, argv, err);
	if (r < 0)
		return r;
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return wh_err_set(err, errno, "logger ready pipe");
	pid_t pid = fork();
	if (pid < 0) {
		r = wh_err_set(err, errno, "fork logger");
	} else if (pid == 0) {
		int fds[3] = {out_r, err_r, ready[1]};
		logger_child(argv, fds, cfg);
	}
	close(ready[1]);
	/* The logger closes (or writes to) fd 5 once it reads; its exit is reaped by the reaper. */
	struct pollfd pfd = {ready[0], POLLIN, 0};
	int pr = pid > 0 ? poll(&pfd, 1, LOGGER_READY_TIMEOUT_MS) : 1;
	close(ready[0]);
	if (pid > 0 && pr <= 0) {
		kill(pid, SIGKILL);
		r = wh_err_setx(err, ETIMEDOUT, "logger '%s' did not get ready", argv[0]);
	}
	return r;
}

/* binary:// mode: the logger owns the read ends of both output pipes; stdin as usual. */
static int open_logger(struct proc_io *io, const struct stdio_cfg *cfg, uid_t uid, gid_t gid,
		       struct stdio_child *child, struct wh_err **err)
{
	cleanup_close int out_r = -EBADF, err_r = -EBADF;
	int r;
	if (io->in_src >= 0 && (r = make_pipe(&io->in_w, &child->in, true, uid, gid)) < 0)
		return wh_err_set(err, r, "stdin pipe");
	if ((r = make_pipe(&out_r, &child->out, false, uid, gid)) < 0 ||
	    (r = make_pipe(&err_r, &child->err, false, uid, gid)) < 0)
		return wh_err_set(err, r, "output pipes");
	fd_set_nonblock(out_r, false);
	fd_set_nonblock(err_r, false);
	return start_logger(cfg, out_r, err_r, err);
}

static int open_streams(struct proc_io *io, const struct stdio_cfg *cfg, bool want_socket,
			uid_t uid, gid_t gid, struct stdio_child *child, struct wh_err **err)
{
	int r;
	if (set(cfg->in) && (r = open_input(io, cfg->in, &io->in_src, err)) < 0)
		return r;
	if (set(cfg->out) && str_startswith(cfg->out, "binary://")) {
		if (cfg->terminal)
			return wh_err_setx(err, EINVAL, "binary:// logging needs terminal false");
		return open_logger(io, cfg, uid, gid, child, err);
	}
	if (set(cfg->out) && (r = open_output(cfg->out, &io->out_dst, err)) < 0)
		return r;
	if (set(cfg->err) && !cfg->terminal && (r = open_output(cfg->err, &io->err_dst, err)) < 0)
		return r;
	if (cfg->terminal)
		return want_socket ? console_listen(io, child, err) : 0;
	if (io->in_src >= 0 && (r = make_pipe(&io->in_w, &child->in, true, uid, gid)) < 0)
		return wh_err_set(err, r, "stdin pipe");
	if (io->out_dst >= 0 && (r = make_pipe(&io->out_r, &child->out, false, uid, gid)) < 0)
		return wh_err_set(err, r, "stdout pipe");
	if (io->err_dst >= 0 && (r = make_pipe(&io->err_r, &child->err, false, uid, gid)) < 0)
		return wh_err_set(err, r, "stderr pipe");
	return 0;
}

int proc_io_new(struct ev_loop *loop, const struct stdio_cfg *cfg, bool want_socket, uid_t uid,
		gid_t gid, struct proc_io **ret, struct stdio_child *ret_child, struct wh_err **err)
{
	struct proc_io *io = xnew0(struct proc_io, 1);
	io->loop = loop;
	io->terminal = cfg->terminal;
	io->stdin_fifo_w = io->console_master = io->console_listen = -EBADF;
	io->in_w = io->out_r = io->err_r = io->in_src = io->out_dst = io->err_dst = -EBADF;
	*ret_child = (struct stdio_child){-EBADF, -EBADF, -EBADF, NULL, -EBADF};
	int r = open_streams(io, cfg, want_socket, uid, gid, ret_child, err);
	if (r < 0) {
		stdio_child_release(ret_child);
		proc_io_free(io);
		return r;
	}
	*ret = io;
	return 0;
}

void stdio_child_release(struct stdio_child *c)
{
	c->in = wh_close(c->in);
	c->out = wh_close(c->out);
	c->err = wh_close(c->err);
	c->console_master = wh_close(c->console_master);
	c->console_socket = (free(c->console_socket), NULL);
}

static int start_terminal(struct proc_io *io, struct stdio_child *child, struct wh_err **err)
{
	int r;
	if (child->console_master >= 0)
		io->console_master = TAKE_FD(child->console_master);
	else if (io->console_listen >= 0 && (r = console_receive(io, err)) < 0)
		return r;
	console_cleanup(io);
	if (io->console_master < 0)
		return wh_err_setx(err, EIO, "terminal requested but no console was created");
	fd_set_nonblock(io->console_master, true);
	io_keep(io, io->console_master);
	if (io->in_src >= 0) {
		/* epoll keys on (file, fd): a second fd number lets both copies watch the master.
		 */
		int m2 = fcntl(io->console_master, F_DUPFD_CLOEXEC, 3);
		if (m2 < 0)
			return wh_err_set(err, errno, "dup console");
		io_keep(io, m2);
		io_keep(io, TAKE_FD(io->in_src));
		if ((r = copier_start(io, io->fds[io->n_fds - 1], m2, false, false)) < 0)
			return wh_err_set(err, r, "copy stdin");
	}
	if (io->out_dst >= 0) {
		io_keep(io, TAKE_FD(io->out_dst));
		r = copier_start(io, io->console_master, io->fds[io->n_fds - 1], true, false);
		if (r < 0)
			return wh_err_set(err, r, "copy stdout");
	}
	return 0;
}

int proc_io_started(struct proc_io *io, struct stdio_child *child, struct wh_err **err)
{
	int r;
	/* The runtime passed its copies to the container; ours would hide EOF. */
	child->in = wh_close(child->in);
	child->out = wh_close(child->out);
	child->err = wh_close(child->err);
	if (io->terminal)
		return start_terminal(io, child, err);
	if (io->in_src >= 0) {
		io_keep(io, TAKE_FD(io->in_src));
		r = copier_start(io, io->fds[io->n_fds - 1], TAKE_FD(io->in_w), false, true);
		if (r < 0)
			return wh_err_set(err, r, "copy stdin");
	}
	if (io->out_dst >= 0) {
		io_keep(io, TAKE_FD(io->out_r));
		io_keep(io, TAKE_FD(io->out_dst));
		r = copier_start(io, io->fds[io->n_fds - 2], io->fds[io->n_fds - 1], true, false);
		if (r < 0)
			return wh_err_set(err, r, "copy stdout");
	}
	if (io->err_dst >= 0) {
		io_keep(io, TAKE_FD(io->err_r));
		io_keep(io, TAKE_FD(io->err_dst));
		r = copier_start(io, io->fds[io->n_fds - 2], io->fds[io->n_fds - 1], true, false);
		if (r < 0)
			return wh_err_set(err, r, "copy stderr");
	}
	return 0;
}

void proc_io_close_stdin(struct proc_io *io)
{
	if (io)
		io->stdin_fifo_w = wh_close(io->stdin_fifo_w);
}

int proc_io_resize(struct proc_io *io, unsigned width, unsigned height, struct wh_err **err)
{
	if (!io || io->console_master < 0)
		return 0; /* no terminal: a no-op, as the runc shim */
	struct winsize ws = {.ws_row = (unsigned short)height, .ws_col = (unsigned short)width};
	if (ioctl(io->console_master, TIOCSWINSZ, &ws) < 0)
		return wh_err_set(err, errno, "resize console");
	return 0;
}

bool proc_io_drained(const struct proc_io *io)
{
	if (!io)
		return true;
	for (size_t i = 0; i < io->n_copiers; i++)
		if (io->copiers[i]->output && !io->copiers[i]->done)
			return false;
	return true;
}

void proc_io_on_drained(struct proc_io *io, void (*cb)(void *ud), void *ud)
{
	io->drained_cb = cb;
	io->drained_ud = ud;
	check_drained(io);
}

struct proc_io *proc_io_free(struct proc_io *io)
{
	if (!io)
		return NULL;
	for (size_t i = 0; i < io->n_copiers; i++) {
		struct copier *c = io->copiers[i];
		ev_source_disable_unref(c->src_s);
		ev_source_disable_unref(c->dst_s);
		if (c->close_dst_at_eof)
			wh_close(c->dst);
		free(c->buf);
		free(c);
	}
	for (size_t i = 0; i < io->n_fds; i++)
		wh_close(io->fds[i]);
	console_cleanup(io);
	wh_close(io->stdin_fifo_w);
	wh_close(io->in_w);
	wh_close(io->out_r);
	wh_close(io->err_r);
	wh_close(io->in_src);
	wh_close(io->out_dst);
	wh_close(io->err_dst);
	free(io);
	return NULL;
}

void stdio_cfg_release(struct stdio_cfg *c)
{
	c->in = (free(c->in), NULL);
	c->out = (free(c->out), NULL);
	c->err = (free(c->err), NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Making container processes: the create path (stage-1 child that joins and unshares the
 * namespaces, the init it clones as a sibling of itself, so a child of the caller, and the
 * init's rootfs, hooks, pty and start wait) and the exec path (a process that joins a running
 * container). Parent and children talk over a SOCK_SEQPACKET pair; a child reports its failure
 * as a message and the parent undoes everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <linux/keyctl.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/common.h"
#include "oci/internal.h"

enum {
	MSG_GO = 1,	  /* parent -> stage1: cgroup entered, go on */
	MSG_USERMAP,	  /* stage1 -> parent: write my uid/gid maps */
	MSG_USERMAP_DONE, /* parent -> stage1 */
	MSG_PID,	  /* stage1 -> parent: value = pid of the init/process */
	MSG_STATE,	  /* parent -> init: text = state JSON for hooks */
	MSG_HOOKS,	  /* init -> parent: run prestart + createRuntime now */
	MSG_HOOKS_DONE,	  /* parent -> init */
	MSG_PTY,	  /* init -> parent: the pty master, as SCM_RIGHTS */
	MSG_READY,	  /* init -> parent: waiting for start */
	MSG_ERROR,	  /* child -> parent: value = errno, text = message */
};

#define MSG_MAX (256 * 1024)

struct msg {
	int32_t type;
	int32_t value;
	char text[];
};

static int msg_send(int sock, int type, int value, const char *text, int fd)
{
	size_t tl = text ? strlen(text) + 1 : 0;
	if (tl > MSG_MAX - sizeof(struct msg))
		tl = MSG_MAX - sizeof(struct msg);
	size_t len = sizeof(struct msg) + tl;
	cleanup_free struct msg *m = xcalloc(1, len);
	m->type = type;
	m->value = value;
	if (tl) {
		memcpy(m->text, text, tl);
		m->text[tl - 1] = 0;
	}
	struct iovec iov = {.iov_base = m, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

/* Receives one message into *ret (caller frees); *ret_fd gets a passed fd or -1. -EPIPE at EOF.
 */
static int msg_recv(int sock, struct msg **ret, int *ret_fd)
{
	struct msg *m = xcalloc(1, MSG_MAX + 1);
	struct iovec iov = {.iov_base = m, .iov_len = MSG_MAX};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0 || (size_t)n < sizeof(struct msg)) {
		int e = n < 0 ? -errno : -EPIPE;
		free(m);
		return e;
	}
	((char *)m)[n] = 0;
	if (ret_fd) {
		*ret_fd = -1;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
				memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	}
	*ret = m;
	return 0;
}

static int msg_expect(int sock, int type, struct msg **ret)
{
	struct msg *m = NULL;
	int r = msg_recv(sock, &m, NULL);
	if (r < 0)
		return r;
	if (m->type != type) {
		free(m);
		return -EPROTO;
	}
	if (ret)
		*ret = m;
	else
		free(m);
	return 0;
}

int oci_send_fd(int sock, int fd, const char *name)
{
	struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

int oci_recv_fd(int sock)
{
	char name[4096];
	struct iovec iov = {.iov_base = name, .iov_len = sizeof(name)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int fd;
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
			return fd;
		}
	}
	return -EBADMSG;
}

/* A child's failure: report it to the parent and leave. */
__attribute__((noreturn)) static void child_fail(int sock, int r, struct wh_err *e)
{
	msg_send(sock, MSG_ERROR, r < 0 ? -r : EIO, e ? wh_err_msg(e) : strerror(-r), -1);
	wh_err_free(e);
	_exit(1);
}

static pid_t clone_sibling(void)
{
	/* fork-like: no new stack; CLONE_PARENT makes the new process a child of our parent */
	return (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
}

/* The caller (a CLI forwarding signals, a shim reading a signalfd) may block or ignore
 * signals: a container process starts with every signal unblocked and at its default. */
static void reset_signals(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Moves the given stdio fds onto 0, 1, 2 (fds < 0 keep what is there). */
static int setup_stdio(const struct oci_stdio *st)
{
	int src[3] = {st->stdin_fd, st->stdout_fd, st->stderr_fd};
	int tmp[3] = {-1, -1, -1};
	for (int i = 0; i < 3; i++)
		if (src[i] >= 0 && (tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0)
			return -errno;
	for (int i = 0; i < 3; i++) {
		if (tmp[i] < 0)
			continue;
		if (dup2(tmp[i], i) < 0)
			return -errno;
		wh_close(tmp[i]);
	}
	return 0;
}

/* Makes a pty in the container; returns the master, and makes the slave our ctty and stdio. */
static int setup_pty(int *ret_master, struct wh_err **err)
{
	cleanup_close int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return wh_err_set(err, errno, "process.terminal: open /dev/ptmx");
	if (unlockpt(master) < 0)
		return wh_err_set(err, errno, "process.terminal: unlockpt");
	char name[PATH_MAX];
	if (ptsname_r(master, name, sizeof(name)) != 0)
		return wh_err_set(err, errno, "process.terminal: ptsname");
	cleanup_close int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return wh_err_set(err, errno, "process.terminal: open '%s'", name);
	if (setsid() < 0)
		return wh_err_set(err, errno, "process.terminal: setsid");
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return wh_err_set(err, errno, "process.terminal: TIOCSCTTY");
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			return wh_err_set(err, errno, "process.terminal: dup2");
	*ret_master = TAKE_FD(master);
	return 0;
}

/* Leaves only 0, 1, 2 and the preserved fds to the exec: everything else is close-on-exec. */
static int seal_fds(int preserve)
{
	for (int fd = 3; fd < 3 + preserve; fd++)
		fd_set_cloexec(fd, false);
	if (syscall(SYS_close_range, 3 + preserve, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static int write_idmap(pid_t pid, const char *file, const struct oci_idmap *m, size_t n,
		       struct wh_err **err)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&sb, "%u %u %u\n", m[i].container_id, m[i].host_id, m[i].size);
	cleanup_free char *p = xasprintf("/proc/%d/%s", (int)pid, file);
	cleanup_close int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return wh_err_set(err, errno, "open '%s'", p);
	if (write(fd, sb.buf, sb.len) != (ssize_t)sb.len)
		return wh_err_set(err, errno, "linux.%s: write '%s'",
				  streq(file, "uid_map") ? "uidMappings" : "gidMappings", p);
	return 0;
}

static int write_oom_score_adj(pid_t pid, int v, struct wh_err **err)
{
	char p[64], b[16];
	snprintf(p, sizeof(p), "/proc/%d/oom_score_adj", (int)pid);
	int n = snprintf(b, sizeof(b), "%d", v);
	cleanup_close int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, b, (size_t)n) != n)
		return wh_err_set(err, errno, "process.oomScoreAdj: set %d", v);
	return 0;
}

/* ------------------------------------------------------------------ create ---- */

struct create_ctx {
	const struct oci_create_opts *opts;
	const struct oci_spec *spec;
	int sock;     /* child end */
	int fifo_fd;  /* read end of exec.fifo */
	int ns_fd[8]; /* fds of namespaces to join, in spec order, -1 otherwise */
	const char *cgroup_path;
};

__attribute__((noreturn)) static void init_main(struct create_ctx *x)
{
	const struct oci_spec *s = x->spec;
	struct wh_err *e = NULL;
	struct msg *state = NULL;
	int r;
	bool userns = oci_spec_ns(s, CLONE_NEWUSER) != NULL;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(x->sock, -errno, NULL);
	r = msg_expect(x->sock, MSG_STATE, &state);
	if (r < 0)
		_exit(1);
	r = oci_rootfs_prepare(s, userns, x->cgroup_path, &e);
	if (r < 0)
		child_fail(x->sock, r, e);
	if (s->hooks.n[OCI_HOOK_PRESTART] || s->hooks.n[OCI_HOOK_CREATE_RUNTIME]) {
		msg_send(x->sock, MSG_HOOKS, 0, NULL, -1);
		if (msg_expect(x->sock, MSG_HOOKS_DONE, NULL) < 0)
			_exit(1);
	}
	r = oci_hooks_run(&s->hooks, OCI_HOOK_CREATE_CONTAINER, state->text, &e);
	if (r < 0)
		child_fail(x->sock, r, e);
	r = oci_rootfs_finish(s, x->opts->no_pivot, &e);
	if (r < 0)
		child_fail(x->sock, r, e);
	r = oci_process_rlimits(&s->process, &e);
	if (r < 0)
		child_fail(x->sock, r, e);
	if (s->process.terminal) {
		int master = -1;
		r = setup_pty(&master, &e);
		if (r < 0)
			child_fail(x->sock, r, e);
		msg_send(x->sock, MSG_PTY, 0, NULL, master);
		wh_close(master);
	} else if (setup_stdio(&x->opts->stdio) < 0) {
		child_fail(x->sock, -errno, NULL);
	}
	/* the program must exist: report it now rather than after start, as runc does */
	char *prog = oci_find_program(s->process.args[0], s->process.env);
	if (!prog || access(prog, X_OK) < 0) {
		r = wh_err_setx(&e, ENOENT, "process.args[0]: executable file '%s' not found%s",
				s->process.args[0],
				strchr(s->process.args[0], '/') ? "" : " in $PATH");
		child_fail(x->sock, r, e);
	}
	free(prog);
	/* a session keyring of its own, as runc makes (ENOSYS: kernel without keys) */
	if (!x->opts->no_new_keyring &&
	    syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, x->opts->id) < 0 && errno != ENOSYS) {
		r = wh_err_set(&e, errno, "join a new session keyring");
		child_fail(x->sock, r, e);
	}
	if (seal_fds(x->opts->preserve_fds) < 0)
		child_fail(x->sock, -errno, NULL);
	prctl(PR_SET_PDEATHSIG, 0);
	msg_send(x->sock, MSG_READY, 0, NULL, -1);
	wh_close(x->sock);

	/* wait for start: a byte on the exec fifo */
	struct pollfd p = {.fd = x->fifo_fd, .events = POLLIN};
	char c;
	for (;;) {
		int n = poll(&p, 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		ssize_t k = read(x->fifo_fd, &c, 1);
		if (k == 1)
			break;
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		_exit(1); /* writer went away without starting us */
	}
	wh_close(x->fifo_fd);
	r = oci_hooks_run(&s->hooks, OCI_HOOK_START_CONTAINER, state->text, &e);
	if (r == 0)
		r = oci_process_exec(&s->process, s->seccomp, &e);
	fprintf(stderr, "wharf-oci: %s\n", e ? wh_err_msg(e) : strerror(-r));
	_exit(127);
}

__attribute__((noreturn)) static void stage1_main(struct create_ctx *x)
{
	const struct oci_spec *s = x->spec;
	struct wh_err *e = NULL;
	int r;
	reset_signals();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_DUMPABLE, 0);
	if (msg_expect(x->sock, MSG_GO, NULL) < 0)
		_exit(1);

	int unshare_flags = 0;
	/* a user namespace first: the others are then owned by it */
	for (size_t i = 0; i < s->n_namespaces; i++) {
		if (s->namespaces[i].type != CLONE_NEWUSER)
			continue;
		if (s->namespaces[i].path) {
			if (setns(x->ns_fd[i], CLONE_NEWUSER) < 0) {
				r = wh_err_set(&e, errno, "linux.namespaces: join user '%s'",
					       s->namespaces[i].path);
				child_fail(x->sock, r, e);
			}
		} else {
			if (unshare(CLONE_NEWUSER) < 0) {
				r = wh_err_set(&e, errno, "linux.namespaces: new user namespace");
				child_fail(x->sock, r, e);
			}
			msg_send(x->sock, MSG_USERMAP, 0, NULL, -1);
			if (msg_expect(x->sock, MSG_USERMAP_DONE, NULL) < 0)
				_exit(1);
		}
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
			r = wh_err_set(&e, errno,
				       "linux.namespaces: become root in the user "
				       "namespace");
			child_fail(x->sock, r, e);
		}
	}
	for (size_t i = 0; i < s->n_namespaces; i++) {
		const struct oci_ns *ns = &s->namespaces[i];
		if (ns->type == CLONE_NEWUSER)
			continue;
		if (!ns->path) {
			unshare_flags |= ns->type;
			continue;
		}
		if (setns(x->ns_fd[i], ns->type) < 0) {
			r = wh_err_set(&e, errno, "linux.namespaces[%zu]: join '%s'", i, ns->path);
			child_fail(x->sock, r, e);
		}
	}
	if (unshare_flags && unshare(unshare_flags) < 0) {
		r = wh_err_set(&e, errno, "linux.namespaces: unshare");
		child_fail(x->sock, r, e);
	}
	pid_t pid = clone_sibling();
	if (pid < 0) {
		r = wh_err_set(&e, errno, "clone the init");
		child_fail(x->sock, r, e);
	}
	if (pid == 0)
		init_main(x);
	msg_send(x->sock, MSG_PID, pid, NULL, -1);
	_exit(0);
}

static int wait_pid(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return st;
}

static char *now_rfc3339(void)
{
	return time_rfc3339(now_real_ns());
}

static char *owner_name(void)
{
	struct passwd *pw = getpwuid(geteuid());
	return xstrdup(pw ? pw->pw_name : "");
}

/* Device rules (v1 devices.allow/deny, v2 eBPF): the spec's, then runc's defaults, then one allow
 * per spec device. */
static struct oci_device_rule *device_rules(const struct oci_spec *s, size_t *ret_n)
{
	size_t nd;
	const struct oci_device_rule *def = oci_cgroup_default_device_rules(&nd);
	size_t n = s->resources.n_devices + nd + s->n_devices;
	struct oci_device_rule *v = xnew0(struct oci_device_rule, n + 1);
	size_t k = 0;
	for (size_t i = 0; i < s->resources.n_devices; i++)
		v[k++] = s->resources.devices[i];
	for (size_t i = 0; i < nd; i++)
		v[k++] = def[i];
	for (size_t i = 0; i < s->n_devices; i++) {
		if (s->devices[i].type == 'p' || s->devices[i].type == 'u')
			continue;
		v[k].allow = true;
		v[k].type = s->devices[i].type;
		v[k].major = s->devices[i].major;
		v[k].minor = s->devices[i].minor;
		strcpy(v[k].access, "rwm");
		k++;
	}
	*ret_n = k;
	return v;
}

/* True when the cgroup the spec names exists already (shared with another container, as runc
 * allows): a failed create must not destroy it then. */
static bool cgroup_exists(const struct oci_create_opts *o, const struct oci_spec *s)
{
	enum oci_cgroup_mode mode;
	cleanup_free char *path = NULL;
	struct oci_cgroup *cg = NULL;
	if (oci_cgroup_detect_mode(NULL, &mode, NULL) < 0 ||
	    oci_cgroup_resolve_path(s->cgroups_path, o->id, mode, &path, NULL) < 0 ||
	    oci_cgroup_open(path, NULL, &cg, NULL) < 0)
		return false;
	oci_cgroup_free(cg);
	return true;
}

static int setup_cgroup(const struct oci_create_opts *o, const struct oci_spec *s,
			struct oci_cgroup **ret, bool *ret_shared, struct wh_err **err)
{
	struct oci_cgroup *cg = NULL;
	*ret_shared = cgroup_exists(o, s);
	int r = oci_cgroup_create(s->cgroups_path, o->id, NULL, &cg, err);
	if (r < 0)
		return wh_err_wrap(err, r, "linux.cgroupsPath");
	struct oci_resources res = s->resources;
	cleanup_free struct oci_device_rule *rules = NULL;
	if (oci_cgroup_has_controller(cg, "devices")) {
		rules = device_rules(s, &res.n_devices);
		res.devices = rules;
	} else {
		/* no device controller (v1 without the devices hierarchy; on v2 the rules are an
		 * eBPF program and the controller always counts as present) */
		res.devices = NULL;
		res.n_devices = 0;
	}
	r = oci_cgroup_apply(cg, &res, err);
	if (r < 0) {
		if (!*ret_shared)
			oci_cgroup_destroy(cg, NULL);
		oci_cgroup_free(cg);
		return wh_err_wrap(err, r, "linux.resources");
	}
	*ret = cg;
	return 0;
}

int oci_create(const struct oci_create_opts *o, pid_t *ret_pid, int *ret_pty_master,
	       struct wh_err **err)
{
	int r;
	if (!oci_id_valid(o->id))
		return wh_err_setx(err, EINVAL, "invalid container id '%s'", o->id ? o->id : "");
	cleanup_free char *bundle = realpath(o->bundle ? o->bundle : ".", NULL);
	if (!bundle)
		return wh_err_set(err, errno, "bundle '%s'", o->bundle ? o->bundle : ".");
	cleanup_free char *cfg = NULL;
	size_t cfg_len = 0;
	if (o->config_json) {
		cfg = xstrdup(o->config_json);
		cfg_len = strlen(cfg);
	} else {
		cleanup_free char *p = path_join(bundle, "config.json");
		r = read_file(p, 16 << 20, &cfg, &cfg_len);
		if (r < 0)
			return wh_err_set(err, r, "read '%s'", p);
	}
	struct oci_spec *spec = NULL;
	r = oci_spec_parse(cfg, cfg_len, bundle, &spec, err);
	if (r < 0)
		return r;
	struct oci_container *c = xnew0(struct oci_container, 1);
	c->dir_fd = -EBADF;
	c->spec = spec;
	c->root = xstrdup(o->root);
	c->id = xstrdup(o->id);
	c->dir = path_join(o->root, o->id);
	c->bundle = xstrdup(bundle);
	c->owner = owner_name();

	struct oci_cgroup *cg = NULL;
	int sv[2] = {-1, -1};
	int fifo_fd = -1, pty_master = -1;
	pid_t stage1 = 0, init = 0;
	bool made_dir = false, cg_shared = false;
	struct create_ctx x = {.opts = o, .spec = spec};
	for (size_t i = 0; i < ARRAY_SIZE(x.ns_fd); i++)
		x.ns_fd[i] = -1;

	if (!spec->has_process) {
		r = wh_err_setx(err, EINVAL, "process: missing");
		goto fail;
	}
	if (spec->process.terminal && o->stdio.console_socket < 0 && !ret_pty_master) {
		r = wh_err_setx(err, EINVAL, "process.terminal: a terminal needs a console socket");
		goto fail;
	}
	if (spec->n_namespaces > ARRAY_SIZE(x.ns_fd)) {
		r = wh_err_setx(err, EINVAL, "linux.namespaces: too many");
		goto fail;
	}
	struct stat st;
	if (stat(spec->root_path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = wh_err_set(err, errno ? errno : ENOTDIR, "root.path: '%s'", spec->root_path);
		goto fail;
	}
	c->rootfs = xstrdup(spec->root_path);
	for (size_t i = 0; i < spec->n_namespaces; i++) {
		if (!spec->namespaces[i].path)
			continue;
		x.ns_fd[i] = open(spec->namespaces[i].path, O_RDONLY | O_CLOEXEC);
		if (x.ns_fd[i] < 0) {
			r = wh_err_set(err, errno, "linux.namespaces[%zu].path: open '%s'", i,
				       spec->namespaces[i].path);
			goto fail;
		}
	}

	r = mkdir_p(o->root, 0700);
	if (r < 0) {
		r = wh_err_set(err, r, "create state root '%s'", o->root);
		goto fail;
	}
	if (mkdir(c->dir, 0700) < 0) {
		if (errno == EEXIST)
			r = wh_err_setx(err, EEXIST, "container '%s' already exists", o->id);
		else
			r = wh_err_set(err, errno, "create '%s'", c->dir);
		goto fail;
	}
	made_dir = true;
	c->dir_fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dir_fd < 0 || flock(c->dir_fd, LOCK_EX) < 0) {
		r = wh_err_set(err, errno, "lock '%s'", c->dir);
		goto fail;
	}
	r = oci_write_state_file(c->dir_fd, "config.json", cfg, cfg_len);
	if (r < 0) {
		r = wh_err_set(err, r, "save config.json");
		goto fail;
	}
	if (mkfifoat(c->dir_fd, "exec.fifo", 0600) < 0) {
		r = wh_err_set(err, errno, "create exec.fifo");
		goto fail;
	}
	fifo_fd = openat(c->dir_fd, "exec.fifo", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fifo_fd < 0) {
		r = wh_err_set(err, errno, "open exec.fifo");
		goto fail;
	}
	c->created = now_rfc3339();
	r = oci_container_save(c, err);
	if (r < 0)
		goto fail;
	r = setup_cgroup(o, spec, &cg, &cg_shared, err);
	if (r < 0)
		goto fail;
	c->cgroup_path = xstrdup(oci_cgroup_path(cg));
	r = oci_container_save(c, err);
	if (r < 0)
		goto fail;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = wh_err_set(err, errno, "socketpair");
		goto fail;
	}
	x.sock = sv[1];
	x.fifo_fd = fifo_fd;
	x.cgroup_path = c->cgroup_path;
	stage1 = fork();
	if (stage1 < 0) {
		r = wh_err_set(err, errno, "fork");
		goto fail;
	}
	if (stage1 == 0) {
		wh_close(sv[0]);
		wh_close(c->dir_fd);
		stage1_main(&x);
	}
	sv[1] = wh_close(sv[1]);
	r = oci_cgroup_enter(cg, stage1, err);
	if (r < 0)
		goto fail;
	msg_send(sv[0], MSG_GO, 0, NULL, -1);

	for (;;) {
		struct msg *m = NULL;
		int fd = -1;
		r = msg_recv(sv[0], &m, &fd);
		if (r < 0) {
			r = wh_err_setx(err, EIO, "container init exited during setup");
			goto fail;
		}
		int type = m->type, value = m->value;
		if (type == MSG_ERROR) {
			r = wh_err_setx(err, value > 0 ? value : EIO, "%s", m->text);
			free(m);
			goto fail;
		}
		free(m);
		if (type == MSG_USERMAP) {
			r = write_idmap(stage1, "uid_map", spec->uid_mappings, spec->n_uid_mappings,
					err);
			if (r == 0)
				r = write_idmap(stage1, "gid_map", spec->gid_mappings,
						spec->n_gid_mappings, err);
			if (r < 0)
				goto fail;
			msg_send(sv[0], MSG_USERMAP_DONE, 0, NULL, -1);
		} else if (type == MSG_PID) {
			init = value;
			wait_pid(stage1);
			stage1 = 0;
			c->pid = init;
			if (oci_proc_start_time(init, &c->pid_start, NULL) < 0) {
				r = wh_err_setx(err, ESRCH, "container init exited during setup");
				goto fail;
			}
			r = oci_container_save(c, err);
			if (r < 0)
				goto fail;
			if (spec->process.has_oom_score_adj) {
				r = write_oom_score_adj(init, spec->process.oom_score_adj, err);
				if (r < 0)
					goto fail;
			}
			struct oci_state *s = oci_container_state(c);
			s->status = OCI_STATUS_CREATING;
			s->pid = init;
			cleanup_free char *js = oci_state_hook_json(s);
			oci_state_free(s);
			msg_send(sv[0], MSG_STATE, 0, js, -1);
		} else if (type == MSG_HOOKS) {
			struct oci_state *s = oci_container_state(c);
			s->status = OCI_STATUS_CREATING;
			s->pid = init;
			cleanup_free char *js = oci_state_hook_json(s);
			oci_state_free(s);
			r = oci_hooks_run(&spec->hooks, OCI_HOOK_PRESTART, js, err);
			if (r == 0)
				r = oci_hooks_run(&spec->hooks, OCI_HOOK_CREATE_RUNTIME, js, err);
			if (r < 0)
				goto fail;
			msg_send(sv[0], MSG_HOOKS_DONE, 0, NULL, -1);
		} else if (type == MSG_PTY) {
			if (fd < 0) {
				r = wh_err_setx(err, EPROTO, "no pty master from the init");
				goto fail;
			}
			pty_master = fd;
			if (o->stdio.console_socket >= 0) {
				r = oci_send_fd(o->stdio.console_socket, pty_master, "/dev/ptmx");
				pty_master = wh_close(pty_master);
				if (r < 0) {
					r = wh_err_set(err, r,
						       "send the pty to the console socket");
					goto fail;
				}
			}
		} else if (type == MSG_READY) {
			break;
		}
		if (fd >= 0 && fd != pty_master)
			wh_close(fd);
	}
	c->created_done = true;
	r = oci_container_save(c, err);
	if (r < 0)
		goto fail;
	/* the init shares the lock's open file description until it execs: unlock explicitly */
	flock(c->dir_fd, LOCK_UN);
	wh_close(sv[0]);
	wh_close(fifo_fd);
	for (size_t i = 0; i < ARRAY_SIZE(x.ns_fd); i++)
		wh_close(x.ns_fd[i]);
	oci_cgroup_free(cg);
	oci_container_free(c);
	*ret_pid = init;
	if (ret_pty_master)
		*ret_pty_master = pty_master;
	return 0;

fail:
	wh_close(sv[0]);
	wh_close(sv[1]);
	wh_close(fifo_fd);
	wh_close(pty_master);
	for (size_t i = 0; i < ARRAY_SIZE(x.ns_fd); i++)
		wh_close(x.ns_fd[i]);
	if (stage1 > 0) {
		kill(stage1, SIGKILL);
		wait_pid(stage1);
	}
	if (init > 0) {
		kill(init, SIGKILL);
		wait_pid(init);
	}
	if (cg) {
		if (!cg_shared)
			oci_cgroup_destroy(cg, NULL);
		oci_cgroup_free(cg);
	}
	if (made_dir)
		rm_rf(c->dir);
	oci_container_free(c);
	return r;
}

/* ------------------------------------------------------------------ exec ---- */

static const struct {
	const char *name;
	int type;
} ns_files[] = {
	{"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},	      {"uts", CLONE_NEWUTS},
	{"net", CLONE_NEWNET},	 {"cgroup", CLONE_NEWCGROUP}, {"pid", CLONE_NEWPID},
	{"mnt", CLONE_NEWNS},
};

struct exec_ctx {
	const struct oci_exec_opts *opts;
	const struct oci_process *proc;
	const struct oci_seccomp *seccomp;
	int sock;
	int ns_fd[ARRAY_SIZE(ns_files)];
	int root_fd;
};

__attribute__((noreturn)) static void exec_main(struct exec_ctx *x)
{
	struct wh_err *e = NULL;
	int r = oci_process_rlimits(x->proc, &e);
	if (r < 0)
		child_fail(x->sock, r, e);
	if (x->proc->terminal) {
		int master = -1;
		r = setup_pty(&master, &e);
		if (r < 0)
			child_fail(x->sock, r, e);
		msg_send(x->sock, MSG_PTY, 0, NULL, master);
		wh_close(master);
	} else if (setup_stdio(&x->opts->stdio) < 0) {
		child_fail(x->sock, -errno, NULL);
	}
	if (seal_fds(x->opts->preserve_fds) < 0)
		child_fail(x->sock, -errno, NULL);
	r = oci_process_exec(x->proc, x->seccomp, &e);
	child_fail(x->sock, r, e);
}

__attribute__((noreturn)) static void exec_stage1(struct exec_ctx *x)
{
	struct wh_err *e = NULL;
	int r;
	reset_signals();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_DUMPABLE, 0);
	if (msg_expect(x->sock, MSG_GO, NULL) < 0)
		_exit(1);
	for (size_t i = 0; i < ARRAY_SIZE(ns_files); i++) {
		if (x->ns_fd[i] < 0)
			continue;
		if (setns(x->ns_fd[i], ns_files[i].type) < 0) {
			r = wh_err_set(&e, errno, "join %s namespace", ns_files[i].name);
			child_fail(x->sock, r, e);
		}
		if (ns_files[i].type == CLONE_NEWUSER &&
		    (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
			r = wh_err_set(&e, errno, "become root in the user namespace");
			child_fail(x->sock, r, e);
		}
	}
	if (fchdir(x->root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		r = wh_err_set(&e, errno, "enter the container's root");
		child_fail(x->sock, r, e);
	}
	pid_t pid = clone_sibling();
	if (pid < 0) {
		r = wh_err_set(&e, errno, "clone");
		child_fail(x->sock, r, e);
	}
	if (pid == 0)
		exec_main(x);
	msg_send(x->sock, MSG_PID, pid, NULL, -1);
	_exit(0);
}

static bool same_ns(pid_t pid, const char *name)
{
	char a[64], b[64];
	struct stat sa, sb;
	snprintf(a, sizeof(a), "/proc/%d/ns/%s", (int)pid, name);
	snprintf(b, sizeof(b), "/proc/self/ns/%s", name);
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
	       sa.st_dev == sb.st_dev;
}

int oci_exec_in(struct oci_container *c, const struct oci_exec_opts *o,
		const struct oci_process *proc, pid_t *ret_pid, int *ret_pty_master,
		struct wh_err **err);

int oci_exec_in(struct oci_container *c, const struct oci_exec_opts *o,
		const struct oci_process *proc, pid_t *ret_pid, int *ret_pty_master,
		struct wh_err **err)
{
	int r;
	struct exec_ctx x = {.opts = o, .proc = proc, .seccomp = c->spec->seccomp, .root_fd = -1};
	int sv[2] = {-1, -1};
	int pty_master = -1;
	pid_t stage1 = 0, pid = 0;
	struct oci_cgroup *cg = NULL;
	cleanup_free char *rp = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(ns_files); i++)
		x.ns_fd[i] = -1; /* all of them before the first goto: fail closes every one */
	for (size_t i = 0; i < ARRAY_SIZE(ns_files); i++) {
		if (same_ns(c->pid, ns_files[i].name))
			continue;
		cleanup_free char *p = xasprintf("/proc/%d/ns/%s", (int)c->pid, ns_files[i].name);
		x.ns_fd[i] = open(p, O_RDONLY | O_CLOEXEC);
		if (x.ns_fd[i] < 0 && errno != ENOENT) {
			r = wh_err_set(err, errno, "open '%s'", p);
			goto fail;
		}
	}
	rp = xasprintf("/proc/%d/root", (int)c->pid);
	x.root_fd = open(rp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x.root_fd < 0) {
		r = wh_err_set(err, errno, "open '%s'", rp);
		goto fail;
	}
	if (proc->terminal && o->stdio.console_socket < 0 && !ret_pty_master) {
		r = wh_err_setx(err, EINVAL, "process.terminal: a terminal needs a console socket");
		goto fail;
	}
	if (oci_container_cgroup(c, &cg, NULL) < 0)
		cg = NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = wh_err_set(err, errno, "socketpair");
		goto fail;
	}
	x.sock = sv[1];
	stage1 = fork();
	if (stage1 < 0) {
		r = wh_err_set(err, errno, "fork");
		goto fail;
	}
	if (stage1 == 0) {
		wh_close(sv[0]);
		wh_close(c->dir_fd);
		exec_stage1(&x);
	}
	sv[1] = wh_close(sv[1]);
	if (cg) {
		r = oci_cgroup_enter(cg, stage1, err);
		if (r < 0)
			goto fail;
	}
	msg_send(sv[0], MSG_GO, 0, NULL, -1);
	for (;;) {
		struct msg *m = NULL;
		int fd = -1;
		r = msg_recv(sv[0], &m, &fd);
		if (r == -EPIPE && pid > 0)
			break; /* the process exec'd: its end of the socket closed */
		if (r < 0) {
			r = wh_err_setx(err, EIO, "exec process exited during setup");
			goto fail;
		}
		int type = m->type, value = m->value;
		if (type == MSG_ERROR) {
			r = wh_err_setx(err, value > 0 ? value : EIO, "%s", m->text);
			free(m);
			goto fail;
		}
		free(m);
		if (type == MSG_PID) {
			pid = value;
			wait_pid(stage1);
			stage1 = 0;
			if (proc->has_oom_score_adj) {
				r = write_oom_score_adj(pid, proc->oom_score_adj, err);
				if (r < 0)
					goto fail;
			}
		} else if (type == MSG_PTY && fd >= 0) {
			if (o->stdio.console_socket >= 0) {
				r = oci_send_fd(o->stdio.console_socket, fd, "/dev/ptmx");
				wh_close(fd);
				if (r < 0) {
					r = wh_err_set(err, r,
						       "send the pty to the console socket");
					goto fail;
				}
			} else {
				pty_master = fd;
			}
			fd = -1;
		}
		wh_close(fd);
	}
	wh_close(sv[0]);
	wh_close(x.root_fd);
	for (size_t i = 0; i < ARRAY_SIZE(ns_files); i++)
		wh_close(x.ns_fd[i]);
	oci_cgroup_free(cg);
	*ret_pid = pid;
	if (ret_pty_master)
		*ret_pty_master = pty_master;
	return 0;
fail:
	wh_close(sv[0]);
	wh_close(sv[1]);
	wh_close(x.root_fd);
	wh_close(pty_master);
	for (size_t i = 0; i < ARRAY_SIZE(ns_files); i++)
		wh_close(x.ns_fd[i]);
	if (stage1 > 0) {
		kill(stage1, SIGKILL);
		wait_pid(stage1);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		wait_pid(pid);
	}
	oci_cgroup_free(cg);
	return r;
}

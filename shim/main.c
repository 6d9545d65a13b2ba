/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharf-shim (also containerd-shim-wharf-v2): the shim v2 command line (PROTOCOLS.md 2.3, 2.6).
 *   start   listen on <state>/s/<sha256>, write the bundle's address file, spawn the detached
 *           daemon (own session, no inherited fds, stdio to the bundle's log fifo) and print
 *           only the address;
 *   delete  clean up a bundle whose shim is gone and print a DeleteResponse;
 *   (none)  the daemon: serve containerd.task.v2.Task on fd 3 (or -socket) until Shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "proto/runc/options.pb-c.h"
#include "proto/task/v2/shim.pb-c.h"
#include "shim/events.h"
#include "shim/service.h"
#include "ttrpc/ttrpc.h"

#define SHIM_NAME "io.containerd.wharf.v2"
#define SHIM_VERSION "0.1.0"
#define LISTEN_FD 3
#define READY_FD 4
#define START_TIMEOUT_MS 10000
#define EXIT_FLUSH_NS (5ULL * 1000000000ULL)

static struct {
	const char *argv0;
	const char *ns, *id, *address, *publish_binary, *bundle, *socket;
	bool debug, version;
	const char *action;
} arg;

/* Go flag syntax: -name value, -name=value, --name; bool flags take no value (or =true). */
static int parse_args(int argc, char **argv)
{
	static const struct {
		const char *name;
		const char **str;
		bool *flag;
	} flags[] = {
		{"namespace", &arg.ns, NULL},	 {"id", &arg.id, NULL},
		{"address", &arg.address, NULL}, {"publish-binary", &arg.publish_binary, NULL},
		{"bundle", &arg.bundle, NULL},	 {"socket", &arg.socket, NULL},
		{"debug", NULL, &arg.debug},	 {"v", NULL, &arg.version},
		{"version", NULL, &arg.version},
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || !a[1]) {
			if (arg.action)
				return fprintf(stderr, "%s: unexpected argument '%s'\n", SHIM_NAME,
					       a),
				       -EINVAL;
			arg.action = a;
			continue;
		}
		a += a[1] == '-' ? 2 : 1;
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a) : strlen(a);
		size_t k;
		for (k = 0; k < ARRAY_SIZE(flags); k++)
			if (strlen(flags[k].name) == nl && strncmp(flags[k].name, a, nl) == 0)
				break;
		if (k == ARRAY_SIZE(flags))
			return fprintf(stderr, "%s: flag provided but not defined: -%.*s\n",
				       SHIM_NAME, (int)nl, a),
			       -EINVAL;
		if (flags[k].flag) {
			*flags[k].flag = !eq || streq(eq + 1, "true") || streq(eq + 1, "1");
			continue;
		}
		if (eq) {
			*flags[k].str = eq + 1;
		} else if (i + 1 < argc) {
			*flags[k].str = argv[++i];
		} else {
			return fprintf(stderr, "%s: flag needs an argument: -%s\n", SHIM_NAME, a),
			       -EINVAL;
		}
	}
	return 0;
}

/* ---- paths ---- */

static char *bundle_dir(void)
{
	if (arg.bundle && *arg.bundle)
		return xstrdup(arg.bundle);
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		abort();
	return cwd;
}

/* <state>/<runtime dir>/<ns>/<id> -> <state>: containerd's and wharfd's bundle layouts alike. */
static char *state_dir_of(const char *bundle)
{
	char *s = xstrdup(bundle);
	for (int i = 0; i < 3; i++) {
		char *slash = strrchr(s, '/');
		if (!slash || slash == s) {
			free(s);
			return xstrdup("/run/wharf");
		}
		*slash = 0;
	}
	return s;
}

/* The grouping id (runc shim: io.containerd.runc.v2.group, then the CRI sandbox id). */
static char *group_id(const char *bundle, const char *id)
{
	cleanup_free char *cfg = path_join(bundle, "config.json");
	yajl_val v = NULL;
	char *group = NULL;
	if (json_parse_file(cfg, 64 << 20, &v, NULL) >= 0) {
		yajl_val ann = json_get(v, "annotations");
		static const char *const keys[] = {"io.containerd.runc.v2.group",
						   "io.kubernetes.cri.sandbox-id"};
		for (size_t i = 0; i < ARRAY_SIZE(keys) && !group; i++) {
			yajl_val g = json_get(ann, keys[i]);
			if (YAJL_IS_STRING(g) && *g->u.string)
				group = xstrdup(g->u.string);
		}
		yajl_tree_free(v);
	}
	return group ? group : xstrdup(id);
}

static char *socket_path(const char *bundle)
{
	cleanup_free char *group = group_id(bundle, arg.id);
	cleanup_free char *key =
		xasprintf("%s/%s/%s", arg.address ? arg.address : "", arg.ns, group);
	char digest[DIGEST_STR_LEN];
	digest_buf(key, strlen(key), digest);
	const char *hex = digest + strlen("sha256:");
	const char *dir = secure_getenv("WHARF_SHIM_SOCKET_DIR");
	cleanup_free char *state = state_dir_of(bundle);
	if (dir && *dir)
		return xasprintf("%s/%s", dir, hex);
	return xasprintf("%s/s/%s", state, hex);
}

/* ---- start ---- */

/* The pid of the live shim serving path, asked with Connect (the listener's SO_PEERCRED would
 * name the `start` that created the socket). 1 when it cannot be told. */
static pid_t existing_shim_pid(const char *path)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ttrpc_client struct ttrpc_client *c = NULL;
	if (ev_loop_new(&l) < 0 || ttrpc_client_connect(l, path, &c, NULL) < 0)
		return 1;
	Containerd__Task__V2__ConnectRequest rq = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	rq.id = (char *)arg.id;
	struct ttrpc_call_opts o = {.timeout_ns = 5ULL * 1000000000ULL};
	ProtobufCMessage *resp = NULL;
	if (ttrpc_client_call(c, "containerd.task.v2.Task", "Connect", &rq.base,
			      &containerd__task__v2__connect_response__descriptor, &o, &resp,
			      NULL) < 0)
		return 1;
	pid_t pid = (pid_t)((Containerd__Task__V2__ConnectResponse *)resp)->shim_pid;
	protobuf_c_message_free_unpacked(resp, NULL);
	return pid > 0 ? pid : 1;
}

static int listen_socket(const char *path, int *ret_fd, pid_t *ret_existing, struct wh_err **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return wh_err_setx(
			err, ENAMETOOLONG,
			"socket path '%s' is longer than %zu bytes (use a shorter state dir)", path,
			sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	cleanup_free char *dir = xstrdup(path);
	*strrchr(dir, '/') = 0;
	int r = mkdir_p(dir, 0700);
	if (r < 0)
		return wh_err_set(err, r, "create socket dir '%s'", dir);
	for (int attempt = 0; attempt < 2; attempt++) {
		cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return wh_err_set(err, errno, "socket");
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			if (chmod(path, 0600) < 0 || listen(fd, 128) < 0)
				return wh_err_set(err, errno, "listen on '%s'", path);
			*ret_fd = TAKE_FD(fd);
			*ret_existing = 0;
			return 0;
		}
		if (errno != EADDRINUSE)
			return wh_err_set(err, errno, "bind '%s'", path);
		/* A live shim of the same group serves this container too; a dead one is stale. */
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			*ret_existing = existing_shim_pid(path);
			return 0;
		}
		unlink(path);
	}
	return wh_err_setx(err, EADDRINUSE, "socket '%s' is in use", path);
}

static bool write_str(const char *path, const char *s)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	return fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s);
}

/* Options.shim_cgroup: the daemon joins that cgroup (v2, or every v1 hierarchy that has it). */
static void move_to_cgroup(pid_t pid, const char *cg)
{
	char buf[16];
	snprintf(buf, sizeof(buf), "%d", (int)pid);
	cleanup_free char *v2 = xasprintf("/sys/fs/cgroup%s/cgroup.procs", cg);
	if (write_str(v2, buf))
		return;
	cleanup_closedir DIR *d = opendir("/sys/fs/cgroup");
	for (struct dirent *de; d && (de = readdir(d));) {
		if (de->d_name[0] == '.' || streq(de->d_name, "unified"))
			continue;
		cleanup_free char *p =
			xasprintf("/sys/fs/cgroup/%s%s/cgroup.procs", de->d_name, cg);
		if (access(p, F_OK) == 0 && !write_str(p, buf))
			log_debug("move shim to '%s' failed", p);
	}
}

static char *read_stdin_options(void)
{
	/* The runtime options Any; only shim_cgroup matters at start (as for the runc shim). */
	/* containerd writes the options after the process started, then closes stdin. */
	struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
	if (isatty(STDIN_FILENO) || poll(&pfd, 1, 1000) <= 0)
		return NULL;
	cleanup_free char *data = NULL;
	size_t len;
	if (read_fd(STDIN_FILENO, 1 << 20, &data, &len) < 0 || len == 0)
		return NULL;
	Google__Protobuf__Any *any =
		google__protobuf__any__unpack(NULL, len, (const uint8_t *)data);
	if (!any)
		return NULL;
	char *cg = NULL;
	if (any->type_url && str_endswith(any->type_url, "containerd.runc.v1.Options")) {
		Containerd__Runc__V1__Options *o = containerd__runc__v1__options__unpack(
			NULL, any->value.len, any->value.data);
		if (o && *o->shim_cgroup)
			cg = xstrdup(o->shim_cgroup);
		if (o)
			containerd__runc__v1__options__free_unpacked(o, NULL);
	}
	google__protobuf__any__free_unpacked(any, NULL);
	return cg;
}

static void raise_oom_score(void)
{
	cleanup_free char *text = NULL;
	int v;
	if (read_file("/proc/self/oom_score_adj", 32, &text, NULL) < 0)
		return;
	text[strcspn(text, "\n")] = 0;
	if (parse_int(text, &v) < 0 || v >= 1000)
		return;
	cleanup_free char *nv = xasprintf("%d", v + 1);
	cleanup_close int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0 && write(fd, nv, strlen(nv)) < 0)
		return;
}

/* In the forked child: new session, fd 3 = listener, fd 4 = ready pipe, stdio /dev/null. */
static void exec_daemon(int lfd, int ready_w, const char *bundle)
{
	setsid();
	int devnull = open("/dev/null", O_RDWR);
	int l = fcntl(lfd, F_DUPFD, 10), w = fcntl(ready_w, F_DUPFD, 10);
	if (devnull < 0 || l < 0 || w < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
	    dup2(devnull, 2) < 0 || dup2(l, LISTEN_FD) != LISTEN_FD ||
	    dup2(w, READY_FD) != READY_FD)
		_exit(127);
	close_range(READY_FD + 1, ~0U, 0);
	if (chdir(bundle) < 0)
		_exit(127);
	raise_oom_score();
	char *argv[16];
	int n = 0;
	argv[n++] = (char *)arg.argv0; /* as the runc shim: ps shows the name it was started by */
	argv[n++] = (char *)"-namespace";
	argv[n++] = (char *)arg.ns;
	argv[n++] = (char *)"-id";
	argv[n++] = (char *)arg.id;
	argv[n++] = (char *)"-address";
	argv[n++] = (char *)(arg.address ? arg.address : "");
	if (arg.publish_binary) {
		argv[n++] = (char *)"-publish-binary";
		argv[n++] = (char *)arg.publish_binary;
	}
	if (arg.debug)
		argv[n++] = (char *)"-debug";
	argv[n] = NULL;
	execv("/proc/self/exe", argv);
	_exit(127);
}

/* Waits for the daemon's "ok" (or its error text) on the ready pipe. */
static int wait_ready(int fd, pid_t pid, struct wh_err **err)
{
	char buf[1024];
	size_t len = 0;
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int r = poll(&pfd, 1, START_TIMEOUT_MS);
		if (r == 0)
			return wh_err_setx(err, ETIMEDOUT, "shim daemon %d did not get ready",
					   (int)pid);
		if (r < 0 && errno == EINTR)
			continue;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			break;
	}
	buf[len] = 0;
	if (streq(buf, "ok"))
		return 0;
	return wh_err_setx(err, EIO, "shim daemon failed: %s", len ? buf : "exited before serving");
}

static int cmd_start(struct wh_err **err)
{
	cleanup_free char *bundle = bundle_dir();
	cleanup_free char *shim_cgroup = read_stdin_options();
	cleanup_free char *path = socket_path(bundle);
	cleanup_close int lfd = -EBADF;
	pid_t existing = 0;
	int r = listen_socket(path, &lfd, &existing, err);
	if (r < 0)
		return r;
	cleanup_free char *address = xasprintf("unix://%s", path);
	cleanup_free char *afile = path_join(bundle, "address");
	if ((r = write_file_atomic(afile, address, strlen(address), 0644)) < 0)
		return wh_err_set(err, r, "write '%s'", afile);
	if (!existing) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			return wh_err_set(err, errno, "pipe");
		pid_t pid = fork();
		if (pid < 0)
			return wh_err_set(err, errno, "fork");
		if (pid == 0)
			exec_daemon(lfd, p[1], bundle);
		close(p[1]);
		if (shim_cgroup)
			move_to_cgroup(pid, shim_cgroup);
		r = wait_ready(p[0], pid, err);
		close(p[0]);
		if (r < 0) {
			unlink(path);
			unlink(afile);
			return r;
		}
		existing = pid;
	}
	/* DESIGN.md's bundle layout: shim.pid lets a supervisor find (and kill) a stuck shim. */
	char pidbuf[16];
	int pn = snprintf(pidbuf, sizeof(pidbuf), "%d", (int)existing);
	cleanup_free char *pfile = path_join(bundle, "shim.pid");
	if ((r = write_file_atomic(pfile, pidbuf, (size_t)pn, 0644)) < 0)
		return wh_err_set(err, r, "write '%s'", pfile);
	fputs(address, stdout);
	return fflush(stdout) == 0 ? 0 : wh_err_set(err, errno, "write address");
}

/* ---- delete ---- */

static int read_bundle_opts(const char *bundle, struct runtime_opts *o)
{
	cleanup_free char *path = path_join(bundle, "options.json");
	yajl_val v = NULL;
	*o = (struct runtime_opts){0};
	if (json_parse_file(path, 1 << 20, &v, NULL) < 0)
		return -ENOENT;
	const char *s = NULL;
	if (json_get_string_opt(v, "BinaryName", "BinaryName", &s, NULL) >= 0 && s && *s)
		o->binary_name = xstrdup(s);
	s = NULL;
	if (json_get_string_opt(v, "Root", "Root", &s, NULL) >= 0 && s && *s)
		o->root = xstrdup(s);
	json_get_bool_opt(v, "SystemdCgroup", "SystemdCgroup", &o->systemd_cgroup, NULL);
	yajl_tree_free(v);
	return 0;
}

static int cmd_delete(struct wh_err **err)
{
	if (!arg.id || !*arg.id)
		return wh_err_setx(err, EINVAL, "delete: -id is required");
	cleanup_free char *bundle = bundle_dir();
	cleanup_free char *state = state_dir_of(bundle);
	struct runtime_opts opts;
	bool have_opts = read_bundle_opts(bundle, &opts) >= 0;
	struct container c = {.id = (char *)arg.id, .bundle = bundle};
	if (have_opts && runtime_new(&opts, state, arg.ns, &c.rt, NULL) >= 0) {
		cleanup_err struct wh_err *e = NULL;
		int r = c.rt->ops->delete (c.rt, &c, true, &e);
		if (r < 0 && r != -ENOENT)
			fprintf(stderr, "delete '%s': %s\n", arg.id, wh_err_msg(e));
		runtime_free(c.rt);
	}
	runtime_opts_release(&opts);
	cleanup_free char *rootfs = path_join(bundle, "rootfs");
	cleanup_err struct wh_err *e = NULL;
	if (unmount_all(rootfs, &e) < 0)
		fprintf(stderr, "%s\n", wh_err_msg(e));
	cleanup_free char *pidfile = path_join(bundle, "init.pid");
	cleanup_free char *text = NULL;
	int pid = 0;
	if (read_file(pidfile, 64, &text, NULL) >= 0)
		parse_int(text, &pid);
	uint64_t now = now_real_ns();
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = (int64_t)(now / 1000000000ULL);
	ts.nanos = (int32_t)(now % 1000000000ULL);
	Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	resp.pid = pid > 0 ? (uint32_t)pid : 0;
	resp.exit_status = 128 + SIGKILL;
	resp.exited_at = &ts;
	uint8_t buf[64];
	size_t n = protobuf_c_message_pack(&resp.base, buf);
	if (write_all(STDOUT_FILENO, buf, n) < 0)
		return wh_err_set(err, errno, "write delete response");
	return 0;
}

/* ---- the daemon ---- */

static struct shim shim;
static struct ttrpc_server *server;
static char *server_path;
static struct stat server_path_st; /* the socket file this daemon created */

/*
 * Removes our socket file, but only while it is still ours: when a container id is reused
 * quickly, a new shim may already have bound a fresh socket at the same path.
 */
static void unlink_server_path(void)
{
	struct stat st;
	if (!server_path)
		return;
	if (stat(server_path, &st) == 0 && st.st_dev == server_path_st.st_dev &&
	    st.st_ino == server_path_st.st_ino)
		unlink(server_path);
	free(server_path);
	server_path = NULL;
}

static int on_flush_timeout(struct ev_source *s, uint64_t now, void *ud)
{
	log_warn("%zu events could not be delivered before exit", events_pending(shim.events));
	ev_loop_exit(shim.loop, 0);
	return 0;
}

static void on_events_idle(void *ud)
{
	ev_loop_exit(shim.loop, 0);
}

static void on_server_down(struct ttrpc_server *srv, void *ud)
{
	unlink_server_path();
	ev_add_timer(shim.loop, NULL, now_mono_ns() + EXIT_FLUSH_NS, on_flush_timeout, NULL);
	events_on_idle(shim.events, on_events_idle, NULL);
}

void shim_request_exit(struct shim *s)
{
	if (s->shutting_down)
		return;
	s->shutting_down = true;
	log_debug("shutting down");
	/* Free the path first, so that a new shim for the same id binds a fresh socket rather
	 * than connecting to this one while it winds down. */
	unlink_server_path();
	ttrpc_server_shutdown(server, on_server_down, NULL);
}

static int on_term(struct ev_source *src, const struct signalfd_siginfo *si, void *ud)
{
	if (shim.containers) {
		log_warn("signal %u: containers are still tracked, not exiting", si->ssi_signo);
		return 0;
	}
	shim_request_exit(&shim);
	return 0;
}

static void on_reap(pid_t pid, int status, void *ud)
{
	shim_handle_exit(&shim, pid, status);
}

static void open_log(void)
{
	/* O_RDWR: never blocks at open, never EPIPE; lines are dropped while nobody reads. */
	int fd = open("log", O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) == 0 && !S_ISFIFO(st.st_mode)) {
		close(fd);
		fd = open("log", O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	}
	if (fd >= 0)
		log_set_fd(fd);
}

/* Set before anything is opened: fd 4 is start's ready pipe only if it was there at exec. */
static bool have_ready_fd;

static void ready(const char *msg)
{
	if (!have_ready_fd)
		return;
	have_ready_fd = false;
	fd_set_cloexec(READY_FD, true);
	(void)!write(READY_FD, msg, strlen(msg));
	close(READY_FD);
}

static int serve(struct wh_err **err)
{
	if (!arg.id || !*arg.id)
		return wh_err_setx(err, EINVAL, "-id is required");
	open_log();
	log_set_level(arg.debug ? LOG_DEBUG : LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	shim.ns = (char *)arg.ns;
	shim.id = (char *)arg.id;
	shim.bundle = bundle_dir();
	shim.state_dir = state_dir_of(shim.bundle);
	shim.debug = arg.debug;
	int r = ev_loop_new(&shim.loop);
	if (r < 0)
		return wh_err_set(err, r, "create event loop");
	if ((r = reaper_init(shim.loop, on_reap, NULL, err)) < 0)
		return r;
	ev_add_signal(shim.loop, NULL, SIGTERM, on_term, NULL);
	ev_add_signal(shim.loop, NULL, SIGINT, on_term, NULL);
	if ((r = ttrpc_server_new(shim.loop, &server, err)) < 0)
		return r;
	if ((r = service_register(&shim, server, err)) < 0)
		return r;
	if (arg.socket && *arg.socket) {
		r = ttrpc_server_listen(server, arg.socket, 0600, err);
		server_path = xstrdup(str_startswith(arg.socket, "unix://") ? arg.socket + 7
									    : arg.socket);
	} else {
		/* Inherited without FD_CLOEXEC: no runtime or logger child may keep it. */
		fd_set_cloexec(LISTEN_FD, true);
		r = ttrpc_server_listen_fd_take(server, LISTEN_FD, err);
		cleanup_free char *addr = NULL;
		if (read_file("address", 4096, &addr, NULL) >= 0 && str_startswith(addr, "unix://"))
			server_path = xstrdup(addr + 7);
	}
	if (r < 0)
		return r;
	if (server_path && stat(server_path, &server_path_st) < 0) {
		free(server_path);
		server_path = NULL;
	}
	events_new(shim.loop, secure_getenv("TTRPC_ADDRESS"), shim.ns, &shim.events);
	log_debug("serving %s (ns %s, id %s)", SHIM_NAME, shim.ns, shim.id);
	ready("ok");
	r = ev_loop_run(shim.loop);
	while (shim.containers) {
		struct container *c = shim.containers;
		shim.containers = c->next;
		container_free(c);
	}
	ttrpc_server_free(server);
	events_free(shim.events);
	ev_loop_free(shim.loop);
	free(shim.bundle);
	free(shim.state_dir);
	free(server_path);
	return r < 0 ? wh_err_set(err, r, "event loop") : 0;
}

int main(int argc, char **argv)
{
	arg.argv0 = argv[0];
	if (parse_args(argc, argv) < 0)
		return 2;
	if (arg.version) {
		printf("%s:\n  Version:  %s\n  Runtime:  builtin liboci%s\n", "wharf-shim",
		       SHIM_VERSION, runtime_builtin_ops ? "" : " (not built)");
		return 0;
	}
	log_set_ident("wharf-shim");
	if (!arg.ns || !*arg.ns) {
		fprintf(stderr, "%s: shim namespace cannot be empty\n", SHIM_NAME);
		return 1;
	}
	cleanup_err struct wh_err *err = NULL;
	int r;
	if (!arg.action) {
		have_ready_fd = fcntl(READY_FD, F_GETFD) >= 0;
		struct stat st;
		if (!arg.socket && (fstat(LISTEN_FD, &st) < 0 || !S_ISSOCK(st.st_mode))) {
			fprintf(stderr,
				"%s: no listening socket on fd 3 (run by `start`, or pass -socket)\n",
				SHIM_NAME);
			return 1;
		}
		r = serve(&err);
		if (r < 0) {
			log_error("%s", wh_err_msg(err));
			ready(wh_err_msg(err));
		}
		return r < 0 ? 1 : 0;
	}
	if (streq(arg.action, "start"))
		r = cmd_start(&err);
	else if (streq(arg.action, "delete"))
		r = cmd_delete(&err);
	else
		r = wh_err_setx(&err, EINVAL, "unknown action '%s'", arg.action);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", SHIM_NAME, wh_err_msg(err));
		return 1;
	}
	return 0;
}

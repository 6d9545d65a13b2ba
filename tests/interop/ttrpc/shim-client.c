/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Interop (a): our ttrpc client drives a real containerd-shim-runc-v2 (Debian's containerd 1.6)
 * through a whole container life (Connect, State, Create, Start, Wait + Kill in flight together,
 * Delete, Shutdown), and our ttrpc server receives the shim's real Go ttrpc events Forward calls.
 *
 * The shim is launched with the shim v2 `start` protocol (PROTOCOLS.md §2.3). Its socket path is
 * hard-coded under /run/containerd/s, so the test runs in a private mount namespace with a tmpfs
 * on /run: nothing of the host's /run is touched. We are the shim daemon's subreaper, so we reap
 * it by pid. Exit 77 (skip) without root or without the shim and runc.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/common.h"
#include "proto/cgroups/v1/metrics.pb-c.h"
#include "proto/events/task.pb-c.h"
#include "proto/services/events/ttrpc/v1/events.pb-c.h"
#include "proto/task/v2/shim.pb-c.h"
#include "ttrpc/ttrpc.h"

#define SHIM "/usr/bin/containerd-shim-runc-v2"
#define TASK "containerd.task.v2.Task"
#define NS "wharf-interop"
#define ID "ttrpc1"
#define GRPC_ADDR "/run/containerd/containerd.sock"
#define TTRPC_ADDR GRPC_ADDR ".ttrpc"

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			return -1;                                                               \
		}                                                                                \
	} while (0)

struct state {
	struct ev_loop *loop;
	char tmp[64];
	char bundle[128];
	pid_t shim_pid;
	pid_t task_pid;
	int shim_status; /* -1 while running */
	char **topics;
	uint32_t exit_event_status;
	bool bad_event;
};

static struct state S = {.shim_status = -1};

/* ---- the events receiver (containerd's side of Forward) ---- */

/* The topics a runc shim publishes for a task's life, with the event type each carries. */
static const struct {
	const char *topic;
	const ProtobufCMessageDescriptor *desc;
} event_types[] = {
	{"/tasks/create", &containerd__events__task_create__descriptor},
	{"/tasks/start", &containerd__events__task_start__descriptor},
	{"/tasks/exit", &containerd__events__task_exit__descriptor},
	{"/tasks/delete", &containerd__events__task_delete__descriptor},
};

/* Decodes the event with our proto: type URL, no unknown fields, our container. */
static bool event_ok(const Containerd__Services__Events__Ttrpc__V1__Envelope *env)
{
	ProtobufCMessage *m = NULL;
	bool ok = false;

	for (size_t i = 0; i < ARRAY_SIZE(event_types); i++) {
		const ProtobufCMessageDescriptor *d = event_types[i].desc;

		if (!streq(env->topic, event_types[i].topic))
			continue;
		if (!streq(env->event->type_url, d->name))
			return false;
		m = protobuf_c_message_unpack(d, NULL, env->event->value.len,
					      env->event->value.data);
		if (!m)
			return false;
		/* container_id is field 1 of every task event. */
		ok = m->n_unknown_fields == 0 &&
		     streq(*(char *const *)((const char *)m + d->fields[0].offset), ID);
		if (d == &containerd__events__task_exit__descriptor)
			S.exit_event_status = ((Containerd__Events__TaskExit *)m)->exit_status;
		protobuf_c_message_free_unpacked(m, NULL);
		return ok;
	}
	return true; /* a topic we do not check */
}

static int h_forward(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	const Containerd__Services__Events__Ttrpc__V1__ForwardRequest *r = (const void *)req;
	const Containerd__Services__Events__Ttrpc__V1__Envelope *env = r->envelope;
	const char *ns = ttrpc_call_metadata(call, "containerd-namespace-ttrpc");

	if (!env || !env->topic || !env->event || !ns || !streq(ns, NS) ||
	    !streq(env->namespace_, NS) || !env->timestamp || env->timestamp->seconds <= 0 ||
	    r->base.n_unknown_fields || env->base.n_unknown_fields || !event_ok(env)) {
		fprintf(stderr, "bad event envelope\n");
		S.bad_event = true;
	} else {
		strv_push(&S.topics, env->topic);
		fprintf(stderr, "event %s %s\n", env->topic, env->event->type_url);
	}
	return ttrpc_call_reply(call, NULL);
}

static const struct ttrpc_method events_methods[] = {{"Forward", h_forward}, {NULL, NULL}};

/* ---- setup ---- */

static int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		return -errno;
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	cleanup_close int in = open(from, O_RDONLY | O_CLOEXEC);
	cleanup_close int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	char buf[65536];
	ssize_t n;

	if (in < 0 || out < 0)
		return -errno;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return -EIO;
	return n < 0 ? -errno : 0;
}

static const char config_fmt[] =
	"{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
	"\"args\":[\"/bin/busybox\",\"sleep\",\"1000\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"},"
	"\"root\":{\"path\":\"rootfs\"},\"hostname\":\"ttrpc\","
	"\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}],"
	"\"linux\":{\"cgroupsPath\":\"/wharf-ttrpc-interop-%d\",\"namespaces\":[{\"type\":\"pid\"},"
	"{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}]}}";

static int make_bundle(void)
{
	cleanup_free char *rootfs = xasprintf("%s/rootfs/bin", S.bundle);
	cleanup_free char *bb = xasprintf("%s/rootfs/bin/busybox", S.bundle);
	cleanup_free char *cfg = xasprintf("%s/config.json", S.bundle);
	cleanup_free char *json = xasprintf(config_fmt, (int)getpid());

	CHECK(mkdir(S.bundle, 0700) == 0);
	CHECK(mkdir_p(rootfs, 0755) >= 0);
	CHECK(copy_file("/bin/busybox", bb) == 0);
	CHECK(write_file(cfg, json, strlen(json), 0644) == 0);
	return 0;
}

static int drain_log(struct ev_source *s, int fd, uint32_t revents, void *userdata)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0)
		fprintf(stderr, "shim log: %.*s", (int)n, buf);
	return 0;
}

/* Runs `shim ... start` in the bundle and returns what it printed (the address). */
static int shim_start(char **ret_addr)
{
	int pfd[2], status;
	struct strbuf out = STRBUF_INIT;
	char buf[512];
	ssize_t n;
	pid_t pid;

	CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (chdir(S.bundle) < 0 || dup2(devnull, 0) < 0 || dup2(pfd[1], 1) < 0 ||
		    dup2(pfd[1], 2) < 0)
			_exit(127);
		setenv("TTRPC_ADDRESS", TTRPC_ADDR, 1);
		execl(SHIM, SHIM, "-namespace", NS, "-address", GRPC_ADDR, "-publish-binary",
		      "/usr/bin/containerd", "-id", ID, "start", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], buf, sizeof(buf))) > 0)
		strbuf_add(&out, buf, (size_t)n);
	close(pfd[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "shim start failed: %s\n", out.buf);
		strbuf_release(&out);
		return -1;
	}
	while (out.len > 0 && (out.buf[out.len - 1] == '\n' || out.buf[out.len - 1] == ' '))
		strbuf_setlen(&out, out.len - 1);
	*ret_addr = strbuf_detach(&out, NULL);
	return 0;
}

static bool pid_alive(pid_t pid)
{
	cleanup_free char *path = xasprintf("/proc/%d/stat", (int)pid);
	cleanup_free char *data = NULL;
	const char *p;

	if (read_file(path, 4096, &data, NULL) < 0)
		return false;
	p = strrchr(data, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* ---- the calls ---- */

static const struct ttrpc_call_opts opts = {.timeout_ns = 20000000000ULL};

static int call(struct ttrpc_client *c, const char *method, const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret,
		struct wh_err **err)
{
	int r = ttrpc_client_call(c, TASK, method, req, resp_desc, &opts, ret, err);

	fprintf(stderr, "%s -> %d %s\n", method, r, r < 0 ? wh_err_msg(*err) : "");
	return r;
}

struct wait_result {
	bool done;
	int code;
	uint32_t exit_status;
	int64_t exited_at;
};

static void on_wait(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct wait_result *w = userdata;
	const Containerd__Task__V2__WaitResponse *r = (const void *)reply->msg;

	w->done = true;
	w->code = reply->code;
	if (r) {
		w->exit_status = r->exit_status;
		w->exited_at = r->exited_at ? r->exited_at->seconds : 0;
	}
}

static int check_state(struct ttrpc_client *c, int status, uint32_t pid, uint32_t exit_status)
{
	Containerd__Task__V2__StateRequest req = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
	Containerd__Task__V2__StateResponse *st;
	cleanup_err struct wh_err *e = NULL;
	ProtobufCMessage *m = NULL;

	req.id = (char *)ID;
	CHECK(call(c, "State", &req.base, &containerd__task__v2__state_response__descriptor, &m,
		   &e) == 0);
	st = (void *)m;
	fprintf(stderr, "State: id=%s status=%d pid=%u exit=%u bundle=%s\n", st->id, st->status,
		st->pid, st->exit_status, st->bundle);
	CHECK(streq(st->id, ID));
	CHECK(streq(st->bundle, S.bundle));
	CHECK((int)st->status == status);
	CHECK(st->pid == pid);
	CHECK(st->exit_status == exit_status);
	CHECK(!st->terminal);
	/* Go always emits exited_at (0001-01-01 when unset: negative seconds, §1.8). */
	CHECK(st->exited_at != NULL);
	CHECK(exit_status == 0 || st->exited_at->seconds > 0);
	/* Every field the real shim sent is one our task.v2 proto declares. */
	CHECK(st->base.n_unknown_fields == 0 && st->exited_at->base.n_unknown_fields == 0);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

/* Pids and Stats while the task runs: the stats Any must decode with our cgroups v1 proto. */
static int check_pids_and_stats(struct ttrpc_client *c)
{
	Containerd__Task__V2__PidsRequest preq = CONTAINERD__TASK__V2__PIDS_REQUEST__INIT;
	Containerd__Task__V2__StatsRequest sreq = CONTAINERD__TASK__V2__STATS_REQUEST__INIT;
	cleanup_err struct wh_err *e = NULL, *e2 = NULL;
	Containerd__Task__V2__PidsResponse *pr;
	Containerd__Task__V2__StatsResponse *sr;
	Io__Containerd__Cgroups__V1__Metrics *mt;
	ProtobufCMessage *m = NULL;
	bool found = false;

	preq.id = sreq.id = (char *)ID;
	CHECK(call(c, "Pids", &preq.base, &containerd__task__v2__pids_response__descriptor, &m,
		   &e) == 0);
	pr = (void *)m;
	for (size_t i = 0; i < pr->n_processes; i++)
		found |= pr->processes[i]->pid == (uint32_t)S.task_pid;
	CHECK(found);
	protobuf_c_message_free_unpacked(m, NULL);

	CHECK(call(c, "Stats", &sreq.base, &containerd__task__v2__stats_response__descriptor, &m,
		   &e2) == 0);
	sr = (void *)m;
	CHECK(sr->stats != NULL);
	fprintf(stderr, "Stats: %s, %zu bytes\n", sr->stats->type_url, sr->stats->value.len);
	CHECK(streq(sr->stats->type_url, "io.containerd.cgroups.v1.Metrics"));
	mt = io__containerd__cgroups__v1__metrics__unpack(NULL, sr->stats->value.len,
							  sr->stats->value.data);
	CHECK(mt != NULL);
	fprintf(stderr, "Metrics: pids.current=%llu memory.usage=%llu cpu.total=%llu\n",
		mt->pids ? (unsigned long long)mt->pids->current : 0ULL,
		mt->memory && mt->memory->usage ? (unsigned long long)mt->memory->usage->usage
						: 0ULL,
		mt->cpu && mt->cpu->usage ? (unsigned long long)mt->cpu->usage->total : 0ULL);
	/* Field numbers right means the values land where they belong: one process, some memory. */
	CHECK(mt->pids && mt->pids->current >= 1);
	CHECK(mt->memory && mt->memory->usage && mt->memory->usage->usage > 0);
	/* No unknown fields: every field the real shim sent is one we declared. */
	CHECK(mt->base.n_unknown_fields == 0 && mt->memory->base.n_unknown_fields == 0);
	io__containerd__cgroups__v1__metrics__free_unpacked(mt, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static int lifecycle(struct ttrpc_client *c)
{
	Containerd__Task__V2__ConnectRequest conn = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	Containerd__Task__V2__StateRequest sreq = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
	Containerd__Task__V2__CreateTaskRequest creq =
		CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
	Containerd__Task__V2__StartRequest start = CONTAINERD__TASK__V2__START_REQUEST__INIT;
	Containerd__Task__V2__WaitRequest wreq = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
	Containerd__Task__V2__KillRequest kill = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
	Containerd__Task__V2__DeleteRequest del = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	struct wait_result w = {0};

	conn.id = sreq.id = creq.id = start.id = wreq.id = kill.id = del.id = (char *)ID;
	{
		cleanup_err struct wh_err *e = NULL;
		Containerd__Task__V2__ConnectResponse *cr;

		CHECK(call(c, "Connect", &conn.base,
			   &containerd__task__v2__connect_response__descriptor, &m, &e) == 0);
		cr = (void *)m;
		S.shim_pid = (pid_t)cr->shim_pid;
		CHECK(cr->shim_pid > 0 && pid_alive(S.shim_pid));
		CHECK(cr->task_pid == 0);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	{
		cleanup_err struct wh_err *e = NULL;

		/* Before Create: NotFound, mapped to ENOENT by our table. */
		CHECK(call(c, "State", &sreq.base,
			   &containerd__task__v2__state_response__descriptor, &m, &e) == -ENOENT);
		CHECK(strstr(wh_err_msg(e), "not found") != NULL);
	}
	{
		cleanup_err struct wh_err *e = NULL;

		creq.bundle = S.bundle;
		CHECK(call(c, "Create", &creq.base,
			   &containerd__task__v2__create_task_response__descriptor, &m, &e) == 0);
		S.task_pid = (pid_t)((Containerd__Task__V2__CreateTaskResponse *)m)->pid;
		protobuf_c_message_free_unpacked(m, NULL);
		CHECK(S.task_pid > 0 && pid_alive(S.task_pid));
	}
	CHECK(check_state(c, CONTAINERD__V1__TYPES__STATUS__CREATED, (uint32_t)S.task_pid, 0) == 0);
	{
		cleanup_err struct wh_err *e = NULL;
		Containerd__Task__V2__ConnectResponse *cr;

		CHECK(call(c, "Connect", &conn.base,
			   &containerd__task__v2__connect_response__descriptor, &m, &e) == 0);
		cr = (void *)m;
		CHECK(cr->task_pid == (uint32_t)S.task_pid);
		CHECK(cr->shim_pid == (uint32_t)S.shim_pid);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	{
		cleanup_err struct wh_err *e = NULL;

		CHECK(call(c, "Start", &start.base,
			   &containerd__task__v2__start_response__descriptor, &m, &e) == 0);
		CHECK(((Containerd__Task__V2__StartResponse *)m)->pid == (uint32_t)S.task_pid);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	CHECK(check_state(c, CONTAINERD__V1__TYPES__STATUS__RUNNING, (uint32_t)S.task_pid, 0) == 0);
	CHECK(check_pids_and_stats(c) == 0);
	{
		cleanup_err struct wh_err *e = NULL;

		/* Wait stays pending while other calls go through, as containerd relies on. */
		CHECK(ttrpc_client_call_async(c, TASK, "Wait", &wreq.base,
					      &containerd__task__v2__wait_response__descriptor,
					      NULL, on_wait, &w, &e) > 0);
		CHECK(check_state(c, CONTAINERD__V1__TYPES__STATUS__RUNNING, (uint32_t)S.task_pid,
				  0) == 0);
		CHECK(!w.done);
		kill.signal = SIGKILL;
		CHECK(call(c, "Kill", &kill.base, &google__protobuf__empty__descriptor, &m, &e) ==
		      0);
		protobuf_c_message_free_unpacked(m, NULL);
		while (!w.done)
			CHECK(ev_loop_run_once(S.loop, UINT64_MAX) >= 0);
		fprintf(stderr, "Wait: code=%d exit=%u at=%lld\n", w.code, w.exit_status,
			(long long)w.exited_at);
		CHECK(w.code == TTRPC_OK && w.exit_status == 128 + SIGKILL && w.exited_at > 0);
	}
	CHECK(check_state(c, CONTAINERD__V1__TYPES__STATUS__STOPPED, (uint32_t)S.task_pid,
			  128 + SIGKILL) == 0);
	{
		cleanup_err struct wh_err *e = NULL;
		Containerd__Task__V2__DeleteResponse *dr;

		CHECK(call(c, "Delete", &del.base,
			   &containerd__task__v2__delete_response__descriptor, &m, &e) == 0);
		dr = (void *)m;
		CHECK(dr->pid == (uint32_t)S.task_pid && dr->exit_status == 128 + SIGKILL);
		CHECK(dr->exited_at && dr->exited_at->seconds > 0);
		protobuf_c_message_free_unpacked(m, NULL);
		S.task_pid = 0;
	}
	return 0;
}

static int shutdown_shim(struct ttrpc_client *c)
{
	Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
	cleanup_err struct wh_err *e = NULL;
	ProtobufCMessage *m = NULL;
	int r;

	req.id = (char *)ID;
	r = call(c, "Shutdown", &req.base, &google__protobuf__empty__descriptor, &m, &e);
	/* The shim may exit before its answer leaves (containerd ignores "ttrpc: closed"). */
	CHECK(r == 0 || r == -EAGAIN);
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static int on_shim_exit(struct ev_source *s, const siginfo_t *si, void *userdata)
{
	S.shim_status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
	return 0;
}

static bool has_topic(const char *t)
{
	return strv_contains(S.topics, t);
}

static void cleanup_all(void)
{
	if (S.task_pid > 0 && pid_alive(S.task_pid))
		kill(S.task_pid, SIGKILL);
	if (S.shim_pid > 0 && pid_alive(S.shim_pid))
		kill(S.shim_pid, SIGKILL);
	if (S.shim_pid > 0)
		(void)waitpid(S.shim_pid, NULL, 0);
	if (S.task_pid > 0) {
		/* runc's state and cgroup of a container left behind by a failure. */
		pid_t p = fork();

		if (p == 0) {
			execl("/usr/sbin/runc", "runc", "--root", "/run/containerd/runc/" NS,
			      "delete", "--force", ID, (char *)NULL);
			_exit(127);
		}
		if (p > 0)
			(void)waitpid(p, NULL, 0);
	}
	if (S.tmp[0] && rm_rf(S.tmp) < 0)
		fprintf(stderr, "cannot remove %s\n", S.tmp);
}

static int run(void)
{
	cleanup_err struct wh_err *e = NULL;
	cleanup_ttrpc_server struct ttrpc_server *events = NULL;
	cleanup_ttrpc_client struct ttrpc_client *c = NULL;
	cleanup_ev_source struct ev_source *logsrc = NULL, *child = NULL;
	cleanup_close int logfd = -EBADF;
	cleanup_free char *addr = NULL, *addr_file = NULL, *logpath = NULL, *addr_path = NULL;

	CHECK(unshare(CLONE_NEWNS) == 0);
	CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
	CHECK(mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") == 0);
	CHECK(mkdir("/run/containerd", 0711) == 0);
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	strcpy(S.tmp, "/tmp/ttrpc-interop-XXXXXX");
	CHECK(mkdtemp(S.tmp) != NULL);
	snprintf(S.bundle, sizeof(S.bundle), "%s/%s", S.tmp, ID);
	CHECK(make_bundle() == 0);
	CHECK(ev_loop_new(&S.loop) == 0);

	/* containerd's events socket, served by us. */
	CHECK(ttrpc_server_new(S.loop, &events, &e) == 0);
	CHECK(ttrpc_server_register(events,
				    &containerd__services__events__ttrpc__v1__events__descriptor,
				    events_methods, NULL, &e) == 0);
	CHECK(ttrpc_server_listen(events, TTRPC_ADDR, 0600, &e) == 0);

	/* The shim daemon needs its log fifo with a reader (§2.3). */
	logpath = xasprintf("%s/log", S.bundle);
	CHECK(mkfifo(logpath, 0600) == 0);
	logfd = open(logpath, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	CHECK(logfd >= 0);
	CHECK(ev_add_io(S.loop, &logsrc, logfd, EPOLLIN, drain_log, NULL) == 0);

	CHECK(shim_start(&addr) == 0);
	fprintf(stderr, "shim address: %s\n", addr);
	CHECK(str_startswith(addr, "unix:///run/containerd/s/"));
	addr_path = xasprintf("%s/address", S.bundle);
	CHECK(read_file(addr_path, 4096, &addr_file, NULL) >= 0);
	CHECK(streq(addr_file, addr));

	CHECK(ttrpc_client_connect(S.loop, addr, &c, &e) == 0);
	if (lifecycle(c) < 0)
		return -1;
	/* We are the subreaper: the detached daemon is our child now. */
	CHECK(ev_add_child(S.loop, &child, S.shim_pid, on_shim_exit, NULL) == 0);
	/* The shim publishes its events asynchronously; wait for all of them. */
	while (!(has_topic("/tasks/create") && has_topic("/tasks/start") &&
		 has_topic("/tasks/exit") && has_topic("/tasks/delete")) &&
	       !S.bad_event)
		CHECK(ev_loop_run_once(S.loop, UINT64_MAX) >= 0);
	CHECK(!S.bad_event);
	CHECK(S.exit_event_status == 128 + SIGKILL);
	CHECK(shutdown_shim(c) == 0);
	while (S.shim_status < 0)
		CHECK(ev_loop_run_once(S.loop, UINT64_MAX) >= 0);
	fprintf(stderr, "shim exited with %d\n", S.shim_status);
	CHECK(S.shim_status == 0);
	S.shim_pid = 0;
	/* Our client saw the connection go. */
	while (ttrpc_client_is_connected(c))
		CHECK(ev_loop_run_once(S.loop, UINT64_MAX) >= 0);
	return 0;
}

int main(void)
{
	int r;

	if (geteuid() != 0 || access(SHIM, X_OK) < 0 || access("/usr/sbin/runc", X_OK) < 0 ||
	    access("/bin/busybox", R_OK) < 0) {
		fprintf(stderr, "skip: needs root, %s, runc and busybox\n", SHIM);
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	/* A hang guard for the whole run, not a timing assertion. */
	alarm(120);
	r = run();
	cleanup_all();
	strv_free(S.topics);
	ev_loop_free(S.loop);
	fprintf(stderr, "%s\n", r == 0 ? "PASS" : "FAIL");
	return r == 0 ? 0 : 1;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Interop: our ttrpc client publishes task events into a real containerd 1.6 (Debian's) through
 * its ttrpc events service (containerd.services.events.ttrpc.v1.Events/Forward on
 * <address>.ttrpc, PROTOCOLS.md §2.5), exactly as a shim does, and a real `ctr events`
 * subscriber must see them with our topic, namespace and payload.
 *
 * containerd runs with its own root, state, address and config in a temp dir, inside a private
 * mount namespace with a tmpfs on /run; every process is killed by pid at the end.
 * Exit 77 (skip) without root or without containerd and ctr.
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
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/common.h"
#include "proto/events/task.pb-c.h"
#include "proto/services/events/ttrpc/v1/events.pb-c.h"
#include "ttrpc/ttrpc.h"

#define CONTAINERD "/usr/bin/containerd"
#define CTR "/usr/bin/ctr"
#define EVENTS "containerd.services.events.ttrpc.v1.Events"
#define NS "wharf-events"

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			return -1;                                                               \
		}                                                                                \
	} while (0)

static char tmp[64];
static pid_t containerd_pid, ctr_pid;

static pid_t spawn(char *const argv[], int out_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		if (dup2(devnull, 0) < 0 || dup2(out_fd >= 0 ? out_fd : devnull, 1) < 0 ||
		    dup2(out_fd >= 0 ? out_fd : 2, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* True when something accepts connections at path (containerd is up). */
static bool can_connect(struct ev_loop *l, const char *path)
{
	struct ttrpc_client *c = NULL;

	if (ttrpc_client_connect(l, path, &c, NULL) < 0)
		return false;
	ttrpc_client_free(c);
	return true;
}

static int forward(struct ttrpc_client *c, const char *id, uint32_t status)
{
	Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	Google__Protobuf__Timestamp now = GOOGLE__PROTOBUF__TIMESTAMP__INIT, at = now;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	Containerd__Services__Events__Ttrpc__V1__Envelope env =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
	const char *md[] = {"containerd-namespace-ttrpc", NS, NULL};
	struct ttrpc_call_opts opts = {.timeout_ns = 5000000000ULL, .metadata = md};
	cleanup_free uint8_t *value = NULL;
	cleanup_err struct wh_err *e = NULL;
	ProtobufCMessage *m = NULL;
	uint64_t t = now_real_ns();
	int r;

	at.seconds = (int64_t)(t / 1000000000);
	at.nanos = (int32_t)(t % 1000000000);
	now = at;
	ev.container_id = (char *)id;
	ev.id = (char *)id;
	ev.pid = 4242;
	ev.exit_status = status;
	ev.exited_at = &at;
	value = xmalloc(protobuf_c_message_get_packed_size(&ev.base));
	any.value.len = protobuf_c_message_pack(&ev.base, value);
	any.value.data = value;
	any.type_url = (char *)"containerd.events.TaskExit";
	env.timestamp = &now;
	env.namespace_ = (char *)NS;
	env.topic = (char *)"/tasks/exit";
	env.event = &any;
	req.envelope = &env;
	r = ttrpc_client_call(c, EVENTS, "Forward", &req.base, &google__protobuf__empty__descriptor,
			      &opts, &m, &e);
	fprintf(stderr, "Forward %s -> %d %s\n", id, r, r < 0 ? wh_err_msg(e) : "");
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	return r;
}

static int run(void)
{
	cleanup_ev_loop struct ev_loop *l = NULL;
	cleanup_ttrpc_client struct ttrpc_client *c = NULL;
	cleanup_err struct wh_err *e = NULL;
	cleanup_free char *cfg = NULL, *root = NULL, *state = NULL, *addr = NULL, *taddr = NULL;
	cleanup_free char *out = NULL, *events = NULL, *log = NULL;
	static const char config[] =
		"version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n";
	cleanup_close int out_fd = -EBADF, log_fd = -EBADF;

	CHECK(unshare(CLONE_NEWNS) == 0);
	CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
	CHECK(mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") == 0);
	strcpy(tmp, "/tmp/ttrpc-events-XXXXXX");
	CHECK(mkdtemp(tmp) != NULL);
	cfg = xasprintf("%s/config.toml", tmp);
	root = xasprintf("%s/root", tmp);
	state = xasprintf("%s/state", tmp);
	addr = xasprintf("%s/containerd.sock", tmp);
	taddr = xasprintf("%s.ttrpc", addr);
	out = xasprintf("%s/ctr-events.out", tmp);
	log = xasprintf("%s/containerd.log", tmp);
	log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(log_fd >= 0);
	CHECK(write_file_atomic(cfg, config, strlen(config), 0644) == 0);
	CHECK(ev_loop_new(&l) == 0);

	{
		char *argv[] = {(char *)CONTAINERD,
				(char *)"--config",
				cfg,
				(char *)"--root",
				root,
				(char *)"--state",
				state,
				(char *)"--address",
				addr,
				NULL};

		containerd_pid = spawn(argv, log_fd);
		CHECK(containerd_pid > 0);
	}
	/* Poll for the ttrpc socket: a hang guard (alarm) bounds this, not a timing assertion. */
	while (!can_connect(l, taddr)) {
		CHECK(waitpid(containerd_pid, NULL, WNOHANG) == 0);
		usleep(50000);
	}
	fprintf(stderr, "containerd up at %s\n", taddr);

	out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(out_fd >= 0);
	{
		char *argv[] = {(char *)CTR, (char *)"--address", addr, (char *)"events", NULL};

		ctr_pid = spawn(argv, out_fd);
		CHECK(ctr_pid > 0);
	}

	CHECK(ttrpc_client_connect(l, taddr, &c, &e) == 0);
	/*
	 * The subscriber may not be registered yet when we publish: publish numbered events until
	 * one shows up in its output, then one more that must show up too.
	 */
	for (int i = 0;; i++) {
		cleanup_free char *id = xasprintf("ev%d", i);

		CHECK(forward(c, id, 137) == 0);
		usleep(100000);
		free(events);
		events = NULL;
		CHECK(read_file(out, 1 << 20, &events, NULL) >= 0);
		if (strstr(events, "/tasks/exit"))
			break;
		CHECK(waitpid(ctr_pid, NULL, WNOHANG) == 0);
	}
	CHECK(forward(c, "final-check", 3) == 0);
	for (;;) {
		free(events);
		events = NULL;
		CHECK(read_file(out, 1 << 20, &events, NULL) >= 0);
		if (strstr(events, "final-check"))
			break;
		usleep(50000);
	}
	fprintf(stderr, "ctr events saw:\n%s", events);
	/*
	 * ctr prints "<time> <namespace> <topic> <event as JSON>": containerd decoded our Envelope
	 * and the TaskExit inside its Any, every field in place.
	 */
	CHECK(strstr(events, " " NS " /tasks/exit {\"container_id\":\"final-check\","
			     "\"id\":\"final-check\",\"pid\":4242,\"exit_status\":3,"
			     "\"exited_at\":\"") != NULL);
	return 0;
}

static void cleanup_all(void)
{
	if (ctr_pid > 0) {
		kill(ctr_pid, SIGKILL);
		(void)waitpid(ctr_pid, NULL, 0);
	}
	if (containerd_pid > 0) {
		kill(containerd_pid, SIGTERM);
		(void)waitpid(containerd_pid, NULL, 0);
	}
	if (tmp[0] && rm_rf(tmp) < 0)
		fprintf(stderr, "cannot remove %s\n", tmp);
}

int main(void)
{
	int r;

	if (geteuid() != 0 || access(CONTAINERD, X_OK) < 0 || access(CTR, X_OK) < 0) {
		fprintf(stderr, "skip: needs root, containerd and ctr\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	alarm(120); /* a hang guard, not a timing assertion */
	r = run();
	cleanup_all();
	fprintf(stderr, "%s\n", r == 0 ? "PASS" : "FAIL");
	return r == 0 ? 0 : 1;
}

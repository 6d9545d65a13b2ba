/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-v2 driven against real shims (root, real processes): `rt-test lifecycle|reconnect
 * RUNTIME [SHIM] [BINARY_NAME]` runs a busybox container through the library with the shim of
 * RUNTIME (Debian's containerd-shim-runc-v2 for io.containerd.runc.v2; SHIM is a shim binary put
 * in a temp shim dir as containerd-shim-<name>-<version>), and `rt-test bad` feeds bad inputs.
 *
 * Everything lives in /tmp/runtime-XXXXXX and in a private mount namespace with a tmpfs on /run
 * (the runc shim hard-codes its sockets under /run/containerd/s). The test is the subreaper of
 * every shim, and kills and reaps by pid what is left at the end; runc's cgroups are removed.
 * Exit 77 (skip) without root or without the shim.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
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
#include "proto/runc/options.pb-c.h"
#include "runtime-v2/runtime.h"
#include "snapshots/snapshots.h"

#define NS "rttest"
#define SEC 1000000000ull
#define WAIT_TIMEOUT (60 * SEC)

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			return -1;                                                               \
		}                                                                                \
	} while (0)
/* A call that must succeed: prints the error otherwise. */
#define OK(call)                                                                             \
	do {                                                                                 \
		cleanup_err struct wh_err *_e = NULL;                                        \
		struct wh_err **err = &_e;                                                   \
		int _r = (call);                                                             \
		(void)err;                                                                   \
		if (_r < 0) {                                                                \
			fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
				wh_err_msg(_e));                                             \
			return -1;                                                           \
		}                                                                            \
	} while (0)

static struct {
	char tmp[64];
	char state[128], lower[128], shim_dir[128], ttrpc[128], grpc[128];
	const char *runtime, *binary_name;
	struct rt_config cfg;
	struct ev_loop *loop;
	char **topics;	/* "topic container_id[ exit_status]" in arrival order */
	pid_t pids[64]; /* shims and tasks to kill at the end */
	size_t n_pids;
} T;

/* ---- helpers ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	cleanup_free char *cmd = NULL;
	va_list ap;
	int st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	st = system(cmd);
	if (st != 0)
		fprintf(stderr, "command failed (%#x): %s\n", st, cmd);
	return st == 0 ? 0 : -1;
}

static void track(pid_t pid)
{
	if (pid > 0 && T.n_pids < ARRAY_SIZE(T.pids))
		T.pids[T.n_pids++] = pid;
}

/* Alive and not a zombie (PID 1 and we reap late: a zombie is dead). */
static bool pid_alive(pid_t pid)
{
	cleanup_free char *path = xasprintf("/proc/%d/stat", (int)pid);
	cleanup_free char *data = NULL;
	const char *p;

	if (pid <= 0 || read_file(path, 4096, &data, NULL) < 0)
		return false;
	p = strrchr(data, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void reap_all(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Waits (bounded) until cond holds, running the loop meanwhile. */
#define WAIT_FOR(cond)                                         \
	({                                                     \
		uint64_t _dl = now_mono_ns() + 20 * SEC;       \
		while (!(cond) && now_mono_ns() < _dl) {       \
			ev_loop_run_once(T.loop, 50000000ull); \
			reap_all();                            \
		}                                              \
		(cond);                                        \
	})

static void on_event(const Containerd__Services__Events__Ttrpc__V1__Envelope *env, void *ud)
{
	const ProtobufCMessageDescriptor *d = NULL;
	ProtobufCMessage *m;
	char *line;

	static const ProtobufCMessageDescriptor *const known[] = {
		&containerd__events__task_exit__descriptor,
		&containerd__events__task_create__descriptor,
		&containerd__events__task_start__descriptor,
		&containerd__events__task_delete__descriptor,
		&containerd__events__task_exec_added__descriptor,
		&containerd__events__task_exec_started__descriptor,
		&containerd__events__task_paused__descriptor,
		&containerd__events__task_resumed__descriptor,
		&containerd__events__task_oom__descriptor,
	};

	for (size_t k = 0; k < ARRAY_SIZE(known); k++)
		if (streq(env->event->type_url, known[k]->name))
			d = known[k];
	m = d ? protobuf_c_message_unpack(d, NULL, env->event->value.len, env->event->value.data)
	      : NULL;
	if (m && d == &containerd__events__task_exit__descriptor) {
		Containerd__Events__TaskExit *e = (void *)m;

		line = xasprintf("%s %s %s %u", env->topic, e->container_id, e->id, e->exit_status);
	} else if (m) {
		/* container_id is field 1 of every task event. */
		line = xasprintf("%s %s", env->topic, *(char **)((char *)m + d->fields[0].offset));
	} else {
		line = xasprintf("%s", env->topic);
	}
	fprintf(stderr, "event: %s (ns %s)\n", line, env->namespace_);
	strv_consume(&T.topics, line);
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

static ssize_t event_index(const char *prefix, size_t from)
{
	for (size_t i = from; T.topics && T.topics[i]; i++)
		if (str_startswith(T.topics[i], prefix))
			return (ssize_t)i;
	return -1;
}

static char *spec_json(const char *id, const char *script)
{
	cleanup_free char *dir = xasprintf("%s/spec-%s", T.tmp, id);
	cleanup_free char *path = xasprintf("%s/config.json", dir);
	char *data = NULL;

	/* The script goes through the environment: no shell quoting to get wrong. */
	setenv("RT_SCRIPT", script, 1);
	if (mkdir(dir, 0700) < 0 ||
	    sh("cd %s && runc spec && jq --arg s \"$RT_SCRIPT\" --arg cg '/runtime-test-%d-%s' "
	       "'.process.terminal=false | .process.args=[\"/bin/sh\",\"-c\",$s] | "
	       ".root.readonly=false | .root.path=\"rootfs\" | .hostname=\"rt\" | "
	       ".linux.cgroupsPath=$cg' config.json > c2 && mv c2 config.json",
	       dir, (int)getpid(), id) < 0 ||
	    read_file(path, 1 << 20, &data, NULL) < 0)
		return NULL;
	return data;
}

/*
 * The snapshot-like mounts: an overlay of the busybox lower dir with a per-task upper, or for
 * ids starting with "ro" a read-only bind of the lower dir (a view).
 */
static void task_mounts(const char *id, struct wh_mount_list *l)
{
	cleanup_free char *upper = xasprintf("%s/snap-%s/upper", T.tmp, id);
	cleanup_free char *work = xasprintf("%s/snap-%s/work", T.tmp, id);
	cleanup_free char *o1 = xasprintf("lowerdir=%s", T.lower);
	cleanup_free char *o2 = xasprintf("upperdir=%s", upper);
	cleanup_free char *o3 = xasprintf("workdir=%s", work);
	char *opts[] = {o1, o2, o3, NULL};
	char *bind_opts[] = {(char *)"rbind", (char *)"ro", NULL};

	if (str_startswith(id, "ro")) {
		wh_mount_list_add(l, "bind", T.lower, NULL, bind_opts);
		return;
	}
	mkdir_p(upper, 0755);
	mkdir_p(work, 0755);
	wh_mount_list_add(l, "overlay", "overlay", NULL, opts);
}

static Google__Protobuf__Any *create_options(void)
{
	static Containerd__Runc__V1__Options o = CONTAINERD__RUNC__V1__OPTIONS__INIT;
	static Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	static uint8_t buf[256];

	if (!T.binary_name)
		return NULL;
	o.binary_name = (char *)T.binary_name;
	any.type_url = (char *)"containerd.runc.v1.Options";
	any.value.len = containerd__runc__v1__options__pack(&o, buf);
	any.value.data = buf;
	return &any;
}

static Google__Protobuf__Any *start_options(void)
{
	static Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;

	any.type_url = (char *)"containerd.runc.v1.Options";
	return &any;
}

struct task {
	const char *id;
	struct rt_shim *shim;
	int out_fd, err_fd;
	struct strbuf out;
	uint32_t pid, shim_pid;
};

/* The bundle's rootfs is a mount point of its own (the mounts were performed; binds too). */
static bool is_mountpoint(const char *bundle, const char *name)
{
	cleanup_free char *path = path_join(bundle, name);
	struct statx stx;

	return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
	       (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static char *fifo(const char *id, const char *name)
{
	char *p = xasprintf("%s/fifo/%s-%s", T.tmp, id, name);

	mkfifo(p, 0600);
	return p;
}

/* Starts the shim for a task and creates the task with stdout/stderr fifos. */
static int task_create(struct task *t, const char *script)
{
	cleanup_free char *spec = spec_json(t->id, script);
	cleanup_free char *out = fifo(t->id, "stdout"), *errp = fifo(t->id, "stderr");
	struct wh_mount_list mounts = {0};
	struct rt_start_opts o = {.ns = NS, .id = t->id, .runtime = T.runtime};
	struct rt_stdio io = {.out = out, .err = errp};
	int r;

	CHECK(spec != NULL);
	task_mounts(t->id, &mounts);
	o.spec = spec;
	o.spec_len = strlen(spec);
	o.mounts = &mounts;
	/* stdin of `start`: the runtime options Any, as ctr sends it (§2.3). */
	o.options = start_options();
	{
		cleanup_err struct wh_err *e = NULL;

		r = rt_shim_start(T.loop, &T.cfg, &o, &t->shim, &e);
		wh_mount_list_done(&mounts);
		if (r < 0)
			fprintf(stderr, "start: %s\n", wh_err_msg(e));
		CHECK(r >= 0);
	}
	OK(rt_task_connect(t->shim, &t->shim_pid, NULL, err));
	track(t->shim_pid);
	CHECK(is_mountpoint(rt_shim_bundle(t->shim), "rootfs"));
	/* Our read ends first: the shim opens the fifos for writing. */
	t->out_fd = open(out, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	t->err_fd = open(errp, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	CHECK(t->out_fd >= 0 && t->err_fd >= 0);
	strbuf_init(&t->out, 0);
	OK(rt_task_create(t->shim, &io, create_options(), &t->pid, err));
	track(t->pid);
	CHECK(t->pid > 0);
	return 0;
}

static bool output_has(struct task *t, const char *s)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(t->out_fd, buf, sizeof(buf))) > 0)
		strbuf_add(&t->out, buf, (size_t)n);
	while ((n = read(t->err_fd, buf, sizeof(buf))) > 0)
		strbuf_add(&t->out, buf, (size_t)n);
	return strstr(t->out.buf, s) != NULL;
}

static void task_release(struct task *t)
{
	t->shim = rt_shim_free(t->shim);
	t->out_fd = wh_close(t->out_fd);
	t->err_fd = wh_close(t->err_fd);
	strbuf_release(&t->out);
}

static int check_state(struct task *t, const char *exec_id, int status, uint32_t exit_status)
{
	Containerd__Task__V2__StateResponse *st = NULL;

	OK(rt_task_state(t->shim, exec_id, &st, err));
	fprintf(stderr, "state %s/%s: status %d pid %u exit %u\n", t->id, exec_id ? exec_id : "",
		st->status, st->pid, st->exit_status);
	CHECK((int)st->status == status);
	CHECK(st->exit_status == exit_status);
	protobuf_c_message_free_unpacked(&st->base, NULL);
	return 0;
}

static bool bundle_exists(const char *id)
{
	cleanup_free char *b = rt_bundle_path(T.state, NS, id);

	return access(b, F_OK) == 0;
}

/* Delete + Shutdown (+ shim delete, bundle removal): nothing of the task is left. */
static int task_finish(struct task *t, uint32_t want_status)
{
	struct rt_delete_result d = {0};
	cleanup_free char *bundle = xstrdup(rt_shim_bundle(t->shim));

	OK(rt_task_delete(t->shim, NULL, &d, err));
	CHECK(d.exit_status == want_status);
	CHECK(d.pid == t->pid);
	OK(rt_shim_shutdown(t->shim, err));
	CHECK(!rt_shim_is_connected(t->shim));
	CHECK(access(bundle, F_OK) < 0 && errno == ENOENT);
	CHECK(WAIT_FOR(!pid_alive((pid_t)t->shim_pid)));
	task_release(t);
	return 0;
}

static bool is_runsc(void)
{
	return T.binary_name && str_endswith(T.binary_name, "/runsc-nonet");
}

struct async_wait {
	bool done;
	int code;
	uint32_t status;
};

static void on_async_wait(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct async_wait *w = userdata;

	w->done = true;
	w->code = reply->code;
	if (reply->msg)
		w->status = ((Containerd__Task__V2__WaitResponse *)reply->msg)->exit_status;
}

struct async_shutdown {
	bool done;
	int r;
};

static void on_async_shutdown(struct rt_shim *s, int r, const char *msg, void *userdata)
{
	struct async_shutdown *a = userdata;

	fprintf(stderr, "async shutdown of %s: %d %s\n", rt_shim_id(s), r, msg);
	a->done = true;
	a->r = r;
}

static void on_shim_close(struct rt_shim *s, void *userdata)
{
	*(bool *)userdata = true;
}

/* exec with stdin: what we write comes back; CloseIO gives the process its EOF. */
static int exec_stdin(struct task *a)
{
	static const char cat_process[] =
		"{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"/bin/cat\"],"
		"\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"}";
	cleanup_free char *in = fifo("life1-cat", "stdin");
	cleanup_free char *out = fifo("life1-cat", "stdout");
	cleanup_free char *errp = fifo("life1-cat", "stderr");
	struct rt_stdio io = {.in = in, .out = out, .err = errp};
	struct task e = {.id = "life1-cat", .out_fd = -EBADF, .err_fd = -EBADF};
	cleanup_close int in_fd = -EBADF;
	uint32_t status = 99;

	in_fd = open(in, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	e.out_fd = open(out, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	e.err_fd = open(errp, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	CHECK(in_fd >= 0 && e.out_fd >= 0 && e.err_fd >= 0);
	strbuf_init(&e.out, 0);
	OK(rt_task_exec(a->shim, "cat", &io, cat_process, err));
	OK(rt_task_start(a->shim, "cat", NULL, err));
	CHECK(write_all(in_fd, "piped-in\n", 9) == 0);
	CHECK(WAIT_FOR(output_has(&e, "piped-in")));
	in_fd = wh_close(in_fd);
	OK(rt_task_close_io(a->shim, "cat", err));
	OK(rt_task_wait(a->shim, "cat", WAIT_TIMEOUT, &status, NULL, err));
	CHECK(status == 0);
	OK(rt_task_delete(a->shim, "cat", NULL, err));
	task_release(&e);
	return 0;
}

/* A shim killed under us: on_close fires, cleanup reports the exit and leaves nothing. */
static int shim_killed(void)
{
	struct task k = {.id = "life3", .out_fd = -EBADF, .err_fd = -EBADF};
	struct rt_delete_result d = {0};
	bool closed = false;

	CHECK(task_create(&k, "while true; do sleep 0.1; done") == 0);
	OK(rt_task_start(k.shim, NULL, NULL, err));
	rt_shim_on_close(k.shim, on_shim_close, &closed);
	CHECK(kill((pid_t)k.shim_pid, SIGKILL) == 0);
	CHECK(WAIT_FOR(closed));
	CHECK(!rt_shim_is_connected(k.shim));
	{
		cleanup_err struct wh_err *e = NULL;

		CHECK(rt_task_kill(k.shim, NULL, SIGKILL, false, &e) < 0);
		fprintf(stderr, "call on a dead shim: %s\n", wh_err_msg(e));
	}
	OK(rt_shim_cleanup_dead(&T.cfg, NS, "life3", &d, err));
	fprintf(stderr, "dead shim cleaned: pid %u exit %u\n", d.pid, d.exit_status);
	CHECK(d.exit_status == 137 || d.exit_status == 128 + SIGKILL);
	CHECK(!bundle_exists("life3"));
	CHECK(WAIT_FOR(!pid_alive((pid_t)k.pid)));
	task_release(&k);
	return 0;
}

/* A Create the runtime refuses: a clear error, and Shutdown leaves nothing behind. */
static int create_fails(void)
{
	cleanup_free char *spec = spec_json("badspec", "true");
	struct rt_start_opts o = {.ns = NS, .id = "badspec", .runtime = T.runtime};
	struct rt_shim *shim = NULL;
	uint32_t shim_pid = 0;
	char *p;

	CHECK(spec && (p = strstr(spec, "\"/bin/sh\"")));
	memcpy(p + 1, "/nop/sh", 7);
	o.spec = spec;
	o.spec_len = strlen(spec);
	OK(rt_shim_start(T.loop, &T.cfg, &o, &shim, err));
	OK(rt_task_connect(shim, &shim_pid, NULL, err));
	track((pid_t)shim_pid);
	{
		cleanup_err struct wh_err *e = NULL;

		int r = rt_task_create(shim, NULL, create_options(), NULL, &e);

		/* gVisor looks the binary up at start, not at create. */
		if (r >= 0 && is_runsc()) {
			r = rt_task_start(shim, NULL, NULL, &e);
			if (r < 0)
				(void)rt_task_delete(shim, NULL, NULL, NULL);
		}
		CHECK(r < 0);
		fprintf(stderr, "create with a bad spec: %s\n", wh_err_msg(e));
		CHECK(strstr(wh_err_msg(e), "/nop/sh") != NULL);
	}
	OK(rt_shim_shutdown(shim, err));
	rt_shim_free(shim);
	CHECK(!bundle_exists("badspec"));
	CHECK(WAIT_FOR(!pid_alive((pid_t)shim_pid)));
	return 0;
}

/* ---- scenarios ---- */

static const char exec_process[] =
	"{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"/bin/sh\",\"-c\","
	"\"echo exec-out; exit 5\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"}";

static int lifecycle(void)
{
	struct task a = {.id = "life1", .out_fd = -EBADF, .err_fd = -EBADF};
	struct task b = {.id = "ro-life2", .out_fd = -EBADF, .err_fd = -EBADF};
	uint32_t status = 0, epid = 0, *pids = NULL;
	size_t n_pids = 0;
	bool found = false;
	Google__Protobuf__Any *stats = NULL;
	ssize_t i;

	CHECK(task_create(&a, "trap 'exit 3' TERM; echo ready; echo to-stderr >&2; "
			      "while true; do sleep 0.1; done") == 0);
	CHECK(check_state(&a, NULL, CONTAINERD__V1__TYPES__STATUS__CREATED, 0) == 0);
	OK(rt_task_start(a.shim, NULL, NULL, err));
	CHECK(check_state(&a, NULL, CONTAINERD__V1__TYPES__STATUS__RUNNING, 0) == 0);
	CHECK(WAIT_FOR(output_has(&a, "ready") && output_has(&a, "to-stderr")));

	/* exec: output, exact exit code, delete */
	{
		cleanup_free char *out = fifo("life1-e1", "stdout");
		cleanup_free char *errp = fifo("life1-e1", "stderr");
		struct rt_stdio io = {.out = out, .err = errp};
		struct task e = {.id = "life1-e1", .out_fd = -EBADF, .err_fd = -EBADF};

		e.out_fd = open(out, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		e.err_fd = open(errp, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		strbuf_init(&e.out, 0);
		OK(rt_task_exec(a.shim, "e1", &io, exec_process, err));
		OK(rt_task_start(a.shim, "e1", &epid, err));
		CHECK(epid > 0);
		OK(rt_task_wait(a.shim, "e1", WAIT_TIMEOUT, &status, NULL, err));
		CHECK(status == 5);
		CHECK(WAIT_FOR(output_has(&e, "exec-out")));
		OK(rt_task_delete(a.shim, "e1", NULL, err));
		task_release(&e);
	}
	/* an exec id used twice is refused */
	{
		cleanup_err struct wh_err *e = NULL;

		OK(rt_task_exec(a.shim, "e2", NULL, exec_process, err));
		CHECK(rt_task_exec(a.shim, "e2", NULL, exec_process, &e) == -EEXIST);
		fprintf(stderr, "duplicate exec: %s\n", wh_err_msg(e));
		OK(rt_task_delete(a.shim, "e2", NULL, err));
	}
	CHECK(exec_stdin(&a) == 0);
	/* a request of the wrong type is refused before anything is sent */
	{
		Containerd__Task__V2__PidsRequest preq = CONTAINERD__TASK__V2__PIDS_REQUEST__INIT;
		cleanup_err struct wh_err *e = NULL;

		CHECK(rt_task_call(a.shim, RT_KILL, &preq.base, 0, NULL, &e) == -EINVAL);
		fprintf(stderr, "wrong request type: %s\n", wh_err_msg(e));
	}
	OK(rt_task_pids(a.shim, &pids, &n_pids, err));
	for (size_t k = 0; k < n_pids; k++)
		found |= pids[k] == a.pid;
	free(pids);
	/* gVisor's processes are the sandbox's own, not host pids: only count them there. */
	CHECK(found || (is_runsc() && n_pids >= 1));
	OK(rt_task_stats(a.shim, &stats, err));
	fprintf(stderr, "stats: %s (%zu bytes)\n", stats->type_url, stats->value.len);
	CHECK(str_endswith(stats->type_url, ".Metrics"));
	google__protobuf__any__free_unpacked(stats, NULL);
	OK(rt_task_pause(a.shim, err));
	CHECK(check_state(&a, NULL, CONTAINERD__V1__TYPES__STATUS__PAUSED, 0) == 0);
	OK(rt_task_resume(a.shim, err));
	CHECK(check_state(&a, NULL, CONTAINERD__V1__TYPES__STATUS__RUNNING, 0) == 0);
	OK(rt_task_resize_pty(a.shim, NULL, 80, 25, err));
	OK(rt_task_close_io(a.shim, NULL, err));
	if (!is_runsc()) {
		OK(rt_task_update(a.shim, "{\"pids\":{\"limit\":100}}", err));
	} else {
		/* runsc (Debian's 2022 gVisor) has no `update`: the error must come back. */
		cleanup_err struct wh_err *e = NULL;

		CHECK(rt_task_update(a.shim, "{\"pids\":{\"limit\":100}}", &e) < 0);
		fprintf(stderr, "update under runsc: %s\n", wh_err_msg(e));
	}

	/* a running task cannot be deleted */
	{
		cleanup_err struct wh_err *e = NULL;

		CHECK(rt_task_delete(a.shim, NULL, NULL, &e) < 0);
		fprintf(stderr, "delete running: %s\n", wh_err_msg(e));
	}
	/* kill with a Wait in flight: the trap's exit code comes back exactly, to both waits */
	{
		Containerd__Task__V2__WaitRequest wreq = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
		struct async_wait w = {0};

		wreq.id = (char *)"life1";
		wreq.exec_id = (char *)"";
		OK(rt_task_call_async(a.shim, RT_WAIT, &wreq.base, WAIT_TIMEOUT, on_async_wait, &w,
				      err));
		CHECK(!w.done);
		OK(rt_task_kill(a.shim, NULL, SIGTERM, false, err));
		CHECK(WAIT_FOR(w.done));
		CHECK(w.code == TTRPC_OK && w.status == 3);
	}
	OK(rt_task_wait(a.shim, NULL, WAIT_TIMEOUT, &status, NULL, err));
	CHECK(status == 3);
	CHECK(check_state(&a, NULL, CONTAINERD__V1__TYPES__STATUS__STOPPED, 3) == 0);
	{
		cleanup_err struct wh_err *e = NULL;

		CHECK(rt_task_kill(a.shim, NULL, SIGTERM, false, &e) == -ENOENT);
		fprintf(stderr, "kill exited: %s\n", wh_err_msg(e));
	}
	CHECK(task_finish(&a, 3) == 0);

	/* a task that exits by itself, and one killed with SIGKILL */
	/* The container starts with no signals blocked (a shim's own mask must not leak). */
	CHECK(task_create(&b, "grep SigBlk /proc/self/status; echo bye; exit 42") == 0);
	OK(rt_task_start(b.shim, NULL, NULL, err));
	OK(rt_task_wait(b.shim, NULL, WAIT_TIMEOUT, &status, NULL, err));
	CHECK(status == 42);
	CHECK(WAIT_FOR(output_has(&b, "bye")));
	/* gVisor's /proc is its own: the shim's mask is checked on real kernels. */
	CHECK(is_runsc() || output_has(&b, "SigBlk:\t0000000000000000\n"));
	{
		struct rt_delete_result d = {0};
		struct async_shutdown as = {0};
		cleanup_free char *bundle = xstrdup(rt_shim_bundle(b.shim));

		OK(rt_task_delete(b.shim, NULL, &d, err));
		CHECK(d.exit_status == 42);
		OK(rt_shim_shutdown_async(b.shim, on_async_shutdown, &as, err));
		CHECK(WAIT_FOR(as.done));
		CHECK(as.r == 0);
		CHECK(access(bundle, F_OK) < 0 && errno == ENOENT);
		CHECK(WAIT_FOR(!pid_alive((pid_t)b.shim_pid)));
		task_release(&b);
	}
	CHECK(shim_killed() == 0);
	CHECK(create_fails() == 0);

	/* the events, in order */
	CHECK(WAIT_FOR(event_index("/tasks/delete ro-life2", 0) >= 0));
	i = event_index("/tasks/create life1", 0);
	CHECK(i >= 0);
	CHECK((i = event_index("/tasks/start life1", (size_t)i)) >= 0);
	CHECK((i = event_index("/tasks/exec-added life1", (size_t)i)) >= 0);
	CHECK((i = event_index("/tasks/exec-started life1", (size_t)i)) >= 0);
	CHECK((i = event_index("/tasks/exit life1 e1 5", (size_t)i)) >= 0);
	CHECK((i = event_index("/tasks/paused life1", (size_t)i)) >= 0);
	CHECK((i = event_index("/tasks/resumed life1", (size_t)i)) >= 0);
	CHECK((i = event_index("/tasks/exit life1 life1 3", (size_t)i)) >= 0);
	CHECK((i = event_index("/tasks/delete life1", (size_t)i)) >= 0);
	CHECK((i = event_index("/tasks/create ro-life2", 0)) >= 0);
	CHECK((i = event_index("/tasks/start ro-life2", (size_t)i)) >= 0);
	CHECK((i = event_index("/tasks/exit ro-life2 ro-life2 42", (size_t)i)) >= 0);
	CHECK((i = event_index("/tasks/delete ro-life2", (size_t)i)) >= 0);
	CHECK(!bundle_exists("life1") && !bundle_exists("ro-life2"));
	return 0;
}

/*
 * The first supervisor: starts three tasks, tells the parent their pids, then waits to be killed.
 * Runs in a child process; never returns.
 */
static void supervisor1(int report_fd)
{
	struct task t[3] = {{.id = "live"}, {.id = "exits"}, {.id = "shimdies"}};
	const char *scripts[3] = {
		"trap 'exit 9' TERM; echo ready; while true; do sleep 0.1; done",
		"while [ ! -e /go ]; do sleep 0.1; done; echo leaving; exit 7",
		"while true; do sleep 0.1; done",
	};
	char line[256];

	for (int k = 0; k < 3; k++) {
		cleanup_err struct wh_err *e = NULL;

		t[k].out_fd = t[k].err_fd = -EBADF;
		if (task_create(&t[k], scripts[k]) < 0 ||
		    rt_task_start(t[k].shim, NULL, NULL, &e) < 0)
			_exit(1);
		/* "live" has its TERM trap in place before anyone may kill it. */
		if (k == 0 && !WAIT_FOR(output_has(&t[k], "ready")))
			_exit(1);
		snprintf(line, sizeof(line), "%u %u\n", t[k].shim_pid, t[k].pid);
		if (write_all(report_fd, line, strlen(line)) < 0)
			_exit(1);
	}
	/* A shim started but never given its task (we "crash" between start and Create). */
	{
		cleanup_free char *spec = spec_json("nocreate", "true");
		struct rt_start_opts o = {.ns = NS, .id = "nocreate", .runtime = T.runtime};
		struct rt_shim *s = NULL;
		uint32_t shim_pid = 0;

		o.spec = spec;
		o.spec_len = spec ? strlen(spec) : 0;
		if (!spec || rt_shim_start(T.loop, &T.cfg, &o, &s, NULL) < 0 ||
		    rt_task_connect(s, &shim_pid, NULL, NULL) < 0)
			_exit(1);
		snprintf(line, sizeof(line), "%u\n", shim_pid);
		if (write_all(report_fd, line, strlen(line)) < 0)
			_exit(1);
	}
	close(report_fd);
	for (;;)
		ev_loop_run_once(T.loop, SEC);
}

static int reconnect_inner(struct rt_events **ret_events)
{
	struct rt_restore_report rep = {0};
	uint32_t shim_pid[3], task_pid[3], status = 0;
	cleanup_free char *report = NULL;
	cleanup_free char *go = NULL;
	struct rt_shim *live = NULL, *exits = NULL, *nocreate = NULL;
	uint32_t nocreate_pid = 0;
	cleanup_free char *dead_addr = NULL;
	int pfd[2], st;
	pid_t sup;

	CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	sup = fork();
	CHECK(sup >= 0);
	if (sup == 0) {
		close(pfd[0]);
		/* A fresh loop: the parent's sources must not fire here. */
		T.loop = NULL;
		if (ev_loop_new(&T.loop) < 0)
			_exit(1);
		{
			struct rt_events *ev = NULL;

			if (rt_events_new(T.loop, T.ttrpc, on_event, NULL, &ev, NULL) < 0)
				_exit(1);
		}
		supervisor1(pfd[1]);
	}
	close(pfd[1]);
	{
		int r = read_fd(pfd[0], 4096, &report, NULL);

		close(pfd[0]);
		CHECK(r >= 0);
	}
	CHECK(sscanf(report, "%u %u %u %u %u %u %u", &shim_pid[0], &task_pid[0], &shim_pid[1],
		     &task_pid[1], &shim_pid[2], &task_pid[2], &nocreate_pid) == 7);
	track((pid_t)nocreate_pid);
	for (int k = 0; k < 3; k++) {
		track((pid_t)shim_pid[k]);
		track((pid_t)task_pid[k]);
	}
	/* The supervisor dies; then a shim dies, and a container exits, while it is away. */
	CHECK(kill(sup, SIGKILL) == 0);
	CHECK(waitpid(sup, &st, 0) == sup);
	CHECK(kill((pid_t)shim_pid[2], SIGKILL) == 0);
	CHECK(WAIT_FOR(!pid_alive((pid_t)shim_pid[2])));
	go = xasprintf("%s/tasks/%s/exits/rootfs/go", T.state, NS);
	CHECK(write_file_atomic(go, "", 0, 0644) == 0);
	CHECK(WAIT_FOR(!pid_alive((pid_t)task_pid[1])));
	CHECK(pid_alive((pid_t)task_pid[0]) && pid_alive((pid_t)task_pid[2]));
	/* Our events receiver comes up on the same TTRPC_ADDRESS the shims were given. */
	OK(rt_events_new(T.loop, T.ttrpc, on_event, NULL, ret_events, err));

	{
		cleanup_free char *apath = xasprintf("%s/tasks/%s/shimdies/address", T.state, NS);

		CHECK(read_file(apath, 4096, &dead_addr, NULL) >= 0);
		CHECK(str_startswith(dead_addr, "unix:///"));
	}
	/* A 1.7-style shim may leave its address as JSON: restore reads both forms. */
	{
		cleanup_free char *apath = xasprintf("%s/tasks/%s/live/address", T.state, NS);
		cleanup_free char *plain = NULL, *json = NULL;

		CHECK(read_file(apath, 4096, &plain, NULL) >= 0);
		json = xasprintf("{\"version\":2,\"address\":\"%s\",\"protocol\":\"ttrpc\"}",
				 plain);
		CHECK(write_file_atomic(apath, json, strlen(json), 0600) == 0);
	}
	/* The new supervisor (this process) restores. */
	OK(rt_restore(T.loop, &T.cfg, &rep, err));
	CHECK(rep.n == 4);
	for (size_t k = 0; k < rep.n; k++) {
		struct rt_restored *r = &rep.v[k];

		fprintf(stderr, "restored %s/%s: outcome %d status %u pid %u exit %u: %s\n", r->ns,
			r->id, r->outcome, r->status, r->pid, r->exit_status,
			r->message ? r->message : "");
		CHECK(streq(r->ns, NS));
		if (streq(r->id, "live")) {
			CHECK(r->outcome == RT_RESTORE_LIVE);
			CHECK(r->status == CONTAINERD__V1__TYPES__STATUS__RUNNING);
			CHECK(r->pid == task_pid[0]);
			live = TAKE_PTR(r->shim);
		} else if (streq(r->id, "exits")) {
			CHECK(r->outcome == RT_RESTORE_LIVE);
			CHECK(r->status == CONTAINERD__V1__TYPES__STATUS__STOPPED);
			CHECK(r->exit_status == 7);
			exits = TAKE_PTR(r->shim);
		} else if (streq(r->id, "nocreate")) {
			/* Alive, but it has no such task: the report says so. */
			CHECK(r->outcome == RT_RESTORE_LIVE);
			CHECK(r->message != NULL);
			nocreate = TAKE_PTR(r->shim);
		} else {
			CHECK(streq(r->id, "shimdies"));
			CHECK(r->outcome == RT_RESTORE_CLEANED);
			/* The shim is gone: `shim delete` killed the container (runc shim: 137). */
			CHECK(r->exit_status == 137);
			CHECK(!bundle_exists("shimdies"));
			/* nor is the socket the killed shim left behind */
			CHECK(access(dead_addr + 7, F_OK) < 0 && errno == ENOENT);
		}
	}
	rt_restore_report_done(&rep);
	CHECK(live && exits && nocreate);
	/* The task-less shim goes with Shutdown; its bundle with it. */
	OK(rt_shim_shutdown(nocreate, err));
	nocreate = rt_shim_free(nocreate);
	CHECK(!bundle_exists("nocreate"));
	CHECK(WAIT_FOR(!pid_alive((pid_t)nocreate_pid)));
	/* The wharf shim queues events while the supervisor is away (DESIGN.md): the exit that
	 * happened during the downtime arrives now. The runc shim may have given up retrying. */
	if (streq(T.runtime, "io.containerd.wharf.v2"))
		CHECK(WAIT_FOR(event_index("/tasks/exit exits exits 7", 0) >= 0));
	CHECK(WAIT_FOR(!pid_alive((pid_t)task_pid[2])));

	/* A new task beside the restored ones. */
	{
		struct task n = {.id = "newone", .out_fd = -EBADF, .err_fd = -EBADF};

		CHECK(task_create(&n, "echo fresh; exit 0") == 0);
		OK(rt_task_start(n.shim, NULL, NULL, err));
		OK(rt_task_wait(n.shim, NULL, WAIT_TIMEOUT, &status, NULL, err));
		CHECK(status == 0);
		CHECK(WAIT_FOR(output_has(&n, "fresh")));
		CHECK(task_finish(&n, 0) == 0);
	}
	/* The live one is controllable; the exited one can be waited and deleted. */
	{
		struct task l = {.id = "live",
				 .shim = live,
				 .pid = task_pid[0],
				 .shim_pid = shim_pid[0],
				 .out_fd = -EBADF,
				 .err_fd = -EBADF};
		struct task x = {.id = "exits",
				 .shim = exits,
				 .pid = task_pid[1],
				 .shim_pid = shim_pid[1],
				 .out_fd = -EBADF,
				 .err_fd = -EBADF};

		strbuf_init(&l.out, 0);
		strbuf_init(&x.out, 0);
		OK(rt_task_exec(l.shim, "after", NULL, exec_process, err));
		OK(rt_task_start(l.shim, "after", NULL, err));
		OK(rt_task_wait(l.shim, "after", WAIT_TIMEOUT, &status, NULL, err));
		CHECK(status == 5);
		OK(rt_task_delete(l.shim, "after", NULL, err));
		OK(rt_task_kill(l.shim, NULL, SIGTERM, false, err));
		OK(rt_task_wait(l.shim, NULL, WAIT_TIMEOUT, &status, NULL, err));
		CHECK(status == 9);
		CHECK(task_finish(&l, 9) == 0);
		OK(rt_task_wait(x.shim, NULL, WAIT_TIMEOUT, &status, NULL, err));
		CHECK(status == 7);
		CHECK(task_finish(&x, 7) == 0);
	}
	CHECK(!bundle_exists("live") && !bundle_exists("exits") && !bundle_exists("newone"));
	/* A second restore finds nothing. */
	OK(rt_restore(T.loop, &T.cfg, &rep, err));
	CHECK(rep.n == 0);
	rt_restore_report_done(&rep);
	return 0;
}

static int reconnect(void)
{
	struct rt_events *events = NULL;
	int r = reconnect_inner(&events);

	rt_events_free(events);
	return r;
}

/*
 * Many tasks at once, all driven asynchronously: Waits in flight on every shim, Kills sent
 * together, each exit code back to its own Wait, then async Delete + Shutdown for all.
 */
#define MANY 10

struct many_task {
	struct task t;
	struct async_wait wait;
	bool killed, deleted;
	int kill_code, delete_code;
	uint32_t delete_status;
	struct async_shutdown down;
};

static void on_many_kill(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct many_task *m = userdata;

	m->killed = true;
	m->kill_code = reply->code;
}

static void on_many_delete(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct many_task *m = userdata;

	m->deleted = true;
	m->delete_code = reply->code;
	if (reply->msg)
		m->delete_status =
			((Containerd__Task__V2__DeleteResponse *)reply->msg)->exit_status;
}

static bool all_done(const struct many_task *m, size_t off)
{
	for (int k = 0; k < MANY; k++)
		if (!*(const bool *)((const char *)&m[k] + off))
			return false;
	return true;
}

static int many(void)
{
	static struct many_task m[MANY];
	static char ids[MANY][16];

	for (int k = 0; k < MANY; k++) {
		cleanup_free char *script = xasprintf(
			"trap 'exit %d' TERM; echo ready; while true; do sleep 0.1; done", 10 + k);
		Containerd__Task__V2__WaitRequest wreq = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;

		snprintf(ids[k], sizeof(ids[k]), "many%d", k);
		m[k].t = (struct task){.id = ids[k], .out_fd = -EBADF, .err_fd = -EBADF};
		CHECK(task_create(&m[k].t, script) == 0);
		OK(rt_task_start(m[k].t.shim, NULL, NULL, err));
		wreq.id = ids[k];
		wreq.exec_id = (char *)"";
		OK(rt_task_call_async(m[k].t.shim, RT_WAIT, &wreq.base, WAIT_TIMEOUT, on_async_wait,
				      &m[k].wait, err));
	}
	for (int k = 0; k < MANY; k++) {
		Containerd__Task__V2__KillRequest kreq = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;

		/* The shell is pid 1 of its namespace: a TERM before its trap would be dropped. */
		CHECK(WAIT_FOR(output_has(&m[k].t, "ready")));
		CHECK(!m[k].wait.done);
		kreq.id = ids[k];
		kreq.exec_id = (char *)"";
		kreq.signal = SIGTERM;
		OK(rt_task_call_async(m[k].t.shim, RT_KILL, &kreq.base, WAIT_TIMEOUT, on_many_kill,
				      &m[k], err));
	}
	WAIT_FOR(all_done(m, offsetof(struct many_task, wait.done)));
	for (int k = 0; k < MANY; k++)
		fprintf(stderr, "%s: killed %d (%d), wait done %d (%d) status %u\n", ids[k],
			m[k].killed, m[k].kill_code, m[k].wait.done, m[k].wait.code,
			m[k].wait.status);
	CHECK(all_done(m, offsetof(struct many_task, wait.done)));
	for (int k = 0; k < MANY; k++) {
		Containerd__Task__V2__DeleteRequest dreq =
			CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;

		CHECK(m[k].killed && m[k].kill_code == TTRPC_OK);
		CHECK(m[k].wait.code == TTRPC_OK && m[k].wait.status == (uint32_t)(10 + k));
		dreq.id = ids[k];
		dreq.exec_id = (char *)"";
		OK(rt_task_call_async(m[k].t.shim, RT_DELETE, &dreq.base, WAIT_TIMEOUT,
				      on_many_delete, &m[k], err));
	}
	CHECK(WAIT_FOR(all_done(m, offsetof(struct many_task, deleted))));
	for (int k = 0; k < MANY; k++) {
		CHECK(m[k].delete_code == TTRPC_OK && m[k].delete_status == (uint32_t)(10 + k));
		OK(rt_shim_shutdown_async(m[k].t.shim, on_async_shutdown, &m[k].down, err));
	}
	CHECK(WAIT_FOR(all_done(m, offsetof(struct many_task, down.done))));
	for (int k = 0; k < MANY; k++) {
		CHECK(m[k].down.r == 0);
		CHECK(!bundle_exists(ids[k]));
		CHECK(WAIT_FOR(!pid_alive((pid_t)m[k].t.shim_pid)));
		task_release(&m[k].t);
	}
	for (int k = 0; k < MANY; k++) {
		cleanup_free char *exit_ev =
			xasprintf("/tasks/exit %s %s %d", ids[k], ids[k], 10 + k);

		CHECK(WAIT_FOR(event_index(exit_ev, 0) >= 0));
	}
	return 0;
}

/* ---- bad inputs ---- */

static int write_script(const char *name, const char *body)
{
	cleanup_free char *p = xasprintf("%s/%s", T.shim_dir, name);
	cleanup_free char *text = xasprintf("#!/bin/sh\n%s\n", body);

	return write_file_atomic(p, text, strlen(text), 0755);
}

static int tasks_dir_empty(void)
{
	cleanup_free char *d = xasprintf("%s/tasks/%s", T.state, NS);
	cleanup_closedir DIR *dir = opendir(d);
	struct dirent *de;

	if (!dir)
		return errno == ENOENT;
	while ((de = readdir(dir)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			return 0;
	return 1;
}

static int expect_start_fails(const char *runtime, const char *id, const char *spec, int code,
			      const char *needle)
{
	struct rt_start_opts o = {.ns = NS, .id = id, .runtime = runtime};
	cleanup_err struct wh_err *e = NULL;
	struct rt_shim *s = NULL;
	int r;

	o.spec = spec;
	o.spec_len = strlen(spec);
	r = rt_shim_start(T.loop, &T.cfg, &o, &s, &e);
	fprintf(stderr, "start %s (%s): %d %s\n", runtime, id, r, wh_err_msg(e));
	CHECK(r == -code);
	CHECK(s == NULL);
	CHECK(strstr(wh_err_msg(e), needle) != NULL);
	CHECK(tasks_dir_empty());
	return 0;
}

/* Name -> binary: the shim dir first, then $PATH; non-executables are skipped. */
static int resolve_checks(void)
{
	cleanup_free char *mine = xasprintf("%s/containerd-shim-order-v1", T.shim_dir);
	cleanup_free char *plain = xasprintf("%s/containerd-shim-plain-v1", T.shim_dir);
	cleanup_free char *path_dir = xasprintf("%s/path", T.tmp);
	cleanup_free char *in_path = xasprintf("%s/containerd-shim-order-v1", path_dir);
	cleanup_free char *only_path = xasprintf("%s/containerd-shim-pathonly-v1", path_dir);
	cleanup_free char *old_path = xstrdup(getenv("PATH") ? getenv("PATH") : "");
	cleanup_free char *new_path = xasprintf("%s:%s", path_dir, old_path);
	char *got = NULL;

	CHECK(mkdir(path_dir, 0755) == 0);
	CHECK(write_file_atomic(mine, "#!/bin/sh\n", 10, 0755) == 0);
	CHECK(write_file_atomic(in_path, "#!/bin/sh\n", 10, 0755) == 0);
	CHECK(write_file_atomic(only_path, "#!/bin/sh\n", 10, 0755) == 0);
	CHECK(write_file_atomic(plain, "not executable", 14, 0644) == 0);
	setenv("PATH", new_path, 1);
	OK(rt_resolve_shim("io.containerd.order.v1", T.shim_dir, &got, err));
	CHECK(streq(got, mine));
	free(got);
	OK(rt_resolve_shim("io.containerd.order.v1", NULL, &got, err));
	CHECK(streq(got, in_path));
	free(got);
	OK(rt_resolve_shim("io.containerd.pathonly.v1", T.shim_dir, &got, err));
	CHECK(streq(got, only_path));
	free(got);
	/* any dotted name works the same, as containerd's (com.example.kata.v2) */
	OK(rt_resolve_shim("com.example.pathonly.v1", T.shim_dir, &got, err));
	CHECK(streq(got, only_path));
	free(got);
	CHECK(rt_resolve_shim("io.containerd.plain.v1", T.shim_dir, &got, NULL) == -ENOENT);
	OK(rt_resolve_shim(only_path, NULL, &got, err));
	CHECK(streq(got, only_path));
	free(got);
	setenv("PATH", old_path, 1);
	if (access("/usr/bin/containerd-shim-runc-v2", X_OK) == 0) {
		OK(rt_resolve_shim("io.containerd.runc.v2", NULL, &got, err));
		CHECK(str_endswith(got, "/containerd-shim-runc-v2"));
		free(got);
	}
	CHECK(rt_resolve_shim("", NULL, &got, NULL) == -EINVAL);
	CHECK(rt_resolve_shim("v2", NULL, &got, NULL) == -EINVAL);
	CHECK(rt_resolve_shim(".v2", NULL, &got, NULL) == -EINVAL);
	CHECK(rt_resolve_shim("io.containerd.runc.", NULL, &got, NULL) == -EINVAL);
	CHECK(rt_resolve_shim("io.containerd.ru nc.v2", NULL, &got, NULL) == -EINVAL);
	return 0;
}

/* A real shim behind 1.7's JSON bootstrap output: parsed, connected, driven. */
static int json_bootstrap(void)
{
	static const char wrap[] =
		"for a; do last=$a; done\n"
		"[ \"$last\" = start ] || exec /usr/bin/containerd-shim-runc-v2 \"$@\"\n"
		"addr=$(/usr/bin/containerd-shim-runc-v2 \"$@\") || exit 1\n"
		"printf '{\"version\":2,\"address\":\"%s\",\"protocol\":\"ttrpc\"}\\n' \"$addr\"";
	struct task t = {.id = "jsonboot", .out_fd = -EBADF, .err_fd = -EBADF};
	const char *saved = T.runtime;
	uint32_t status = 1;
	int r;

	if (access("/usr/bin/containerd-shim-runc-v2", X_OK) < 0 ||
	    access("/usr/sbin/runc", X_OK) < 0) {
		fprintf(stderr, "json bootstrap: no containerd-shim-runc-v2 or runc, not tried\n");
		return 0;
	}
	CHECK(write_script("containerd-shim-jsonwrap-v1", wrap) == 0);
	T.runtime = "io.containerd.jsonwrap.v1";
	r = task_create(&t, "echo via-json; exit 4");
	T.runtime = saved;
	CHECK(r == 0);
	CHECK(str_startswith(rt_shim_address(t.shim), "unix:///run/containerd/s/"));
	OK(rt_task_start(t.shim, NULL, NULL, err));
	OK(rt_task_wait(t.shim, NULL, WAIT_TIMEOUT, &status, NULL, err));
	CHECK(status == 4);
	CHECK(WAIT_FOR(output_has(&t, "via-json")));
	CHECK(task_finish(&t, 4) == 0);
	return 0;
}

static int bad_inputs(void)
{
	static const char spec[] = "{\"ociVersion\":\"1.0.2\"}";
	cleanup_free char *nosock = xasprintf("echo unix://%s/nosock.sock", T.tmp);
	cleanup_free char *marker = xasprintf("%s/hang.pid", T.tmp);
	cleanup_free char *hang = xasprintf("echo $$ > %s; exec sleep 1000", marker);
	cleanup_free char *pidtext = NULL;
	pid_t hang_pid = 0;

	CHECK(resolve_checks() == 0);
	CHECK(write_script("containerd-shim-exits-v1", "echo 'exploded on purpose' >&2; exit 3") ==
	      0);
	CHECK(write_script("containerd-shim-garbage-v1", "echo 'hello, I am no address'") == 0);
	CHECK(write_script("containerd-shim-binary-v1", "printf 'a\\001\\000b'") == 0);
	CHECK(write_script("containerd-shim-nosock-v1", nosock) == 0);
	CHECK(write_script("containerd-shim-hang-v1", hang) == 0);

	CHECK(expect_start_fails("io.containerd.nope.v9", "t1", spec, ENOENT,
				 "'containerd-shim-nope-v9' not found") == 0);
	CHECK(expect_start_fails("runc", "t1", spec, EINVAL, "malformed") == 0);
	CHECK(expect_start_fails("io.containerd..v2", "t1", spec, EINVAL, "malformed") == 0);
	CHECK(expect_start_fails("io.containerd.a/b.v2", "t1", spec, EINVAL, "malformed") == 0);
	CHECK(expect_start_fails("/nonexistent/shim", "t1", spec, ENOENT, "no executable") == 0);
	CHECK(expect_start_fails("io.containerd.exits.v1", "t1", spec, EIO,
				 "(exit status 3): exploded on purpose") == 0);
	CHECK(expect_start_fails("io.containerd.garbage.v1", "t1", spec, EPROTO,
				 "'hello, I am no address', not a unix socket address") == 0);
	CHECK(expect_start_fails("io.containerd.binary.v1", "t1", spec, EPROTO, "binary output") ==
	      0);
	CHECK(expect_start_fails("io.containerd.nosock.v1", "t1", spec, ENOENT,
				 "connect to shim") == 0);
	CHECK(expect_start_fails("io.containerd.exits.v1", "../x", spec, EINVAL,
				 "task id '../x' is not a valid identifier") == 0);
	CHECK(expect_start_fails("io.containerd.exits.v1", "t1", "[1,2]", EINVAL, "spec") == 0);
	CHECK(expect_start_fails("io.containerd.exits.v1", "t1", "{not json", EBADMSG,
				 "spec: invalid JSON") == 0);
	T.cfg.start_timeout_ns = 2 * SEC;
	CHECK(expect_start_fails("io.containerd.hang.v1", "t1", spec, ETIMEDOUT,
				 "did not finish in 2 s") == 0);
	T.cfg.start_timeout_ns = 0;
	/* the hanging shim was killed with its process group */
	CHECK(read_file(marker, 64, &pidtext, NULL) >= 0);
	CHECK(parse_int(pidtext[0] ? strtok(pidtext, "\n") : "0", &hang_pid) >= 0);
	CHECK(WAIT_FOR(!pid_alive(hang_pid)));

	/* 1.7's JSON bootstrap: newer versions and other protocols are refused */
	CHECK(write_script(
		      "containerd-shim-v3-v1",
		      "echo '{\"version\":3,\"address\":\"unix:///x\",\"protocol\":\"ttrpc\"}'") ==
	      0);
	CHECK(write_script(
		      "containerd-shim-grpc-v1",
		      "echo '{\"version\":2,\"address\":\"unix:///x\",\"protocol\":\"grpc\"}'") ==
	      0);
	CHECK(expect_start_fails("io.containerd.v3.v1", "t1", spec, ENOTSUP,
				 "bootstrap version 3 is not supported") == 0);
	CHECK(expect_start_fails("io.containerd.grpc.v1", "t1", spec, ENOTSUP,
				 "protocol 'grpc' is not supported") == 0);
	CHECK(json_bootstrap() == 0);

	/* mounts that fail: the error names them, the bundle is gone */
	{
		cleanup_free char *o1 = xasprintf("lowerdir=%s/missing", T.tmp);
		char *opts[] = {o1, NULL};
		struct wh_mount_list ml = {0};
		struct rt_start_opts o = {
			.ns = NS, .id = "badmount", .runtime = "io.containerd.exits.v1"};
		cleanup_err struct wh_err *e = NULL;
		struct rt_shim *s = NULL;

		wh_mount_list_add(&ml, "overlay", "overlay", NULL, opts);
		o.spec = spec;
		o.spec_len = strlen(spec);
		o.mounts = &ml;
		CHECK(rt_shim_start(T.loop, &T.cfg, &o, &s, &e) < 0);
		wh_mount_list_done(&ml);
		fprintf(stderr, "bad mounts: %s\n", wh_err_msg(e));
		CHECK(strstr(wh_err_msg(e), "mount rootfs") != NULL);
		CHECK(tasks_dir_empty());
	}

	/* a bundle that exists is not replaced */
	{
		cleanup_free char *b = rt_bundle_path(T.state, NS, "dup");
		cleanup_free char *marker2 = xasprintf("%s/mine", b);

		CHECK(mkdir_p(b, 0700) >= 0);
		CHECK(write_file_atomic(marker2, "x", 1, 0600) == 0);
		{
			struct rt_start_opts o = {
				.ns = NS, .id = "dup", .runtime = "io.containerd.exits.v1"};
			cleanup_err struct wh_err *e = NULL;
			struct rt_shim *s = NULL;

			o.spec = spec;
			o.spec_len = strlen(spec);
			CHECK(rt_shim_start(T.loop, &T.cfg, &o, &s, &e) == -EEXIST);
			fprintf(stderr, "duplicate: %s\n", wh_err_msg(e));
		}
		CHECK(access(marker2, F_OK) == 0);
		/* restore: no address, no shim-binary-path -> reported as failed, left alone;
		 * dot entries (bundles being removed) are skipped, empty dirs removed */
		{
			struct rt_restore_report rep = {0};
			cleanup_free char *hidden = rt_bundle_path(T.state, NS, ".gone");
			cleanup_free char *hidden_f = xasprintf("%s/address", hidden);
			cleanup_free char *empty = rt_bundle_path(T.state, NS, "empty");

			CHECK(mkdir(hidden, 0700) == 0 && mkdir(empty, 0700) == 0);
			CHECK(write_file_atomic(hidden_f, "unix:///x", 9, 0600) == 0);

			OK(rt_restore(T.loop, &T.cfg, &rep, err));
			CHECK(rep.n == 1 && rep.v[0].outcome == RT_RESTORE_FAILED);
			fprintf(stderr, "restore of a broken bundle: %s\n", rep.v[0].message);
			CHECK(strstr(rep.v[0].message, "address") != NULL);
			rt_restore_report_done(&rep);
			CHECK(access(empty, F_OK) < 0 && errno == ENOENT);
			CHECK(access(hidden_f, F_OK) == 0);
			CHECK(rm_rf(hidden) >= 0);
		}
		CHECK(access(marker2, F_OK) == 0);
		OK(rt_bundle_remove(b, err));
		CHECK(access(b, F_OK) < 0);
	}

	/* events: containerd's topic checks, and a bad envelope over the wire */
	CHECK(rt_validate_topic("/tasks/exit", NULL) == 0);
	CHECK(rt_validate_topic("tasks/exit", NULL) == -EINVAL);
	CHECK(rt_validate_topic("/", NULL) == -EINVAL);
	CHECK(rt_validate_topic("/tasks//exit", NULL) == -EINVAL);
	CHECK(rt_validate_topic("/tasks/exit/", NULL) == -EINVAL);
	CHECK(rt_validate_topic("/tasks/ex it", NULL) == -EINVAL);
	CHECK(rt_validate_topic("", NULL) == -EINVAL);
	{
		Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
			CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
		Containerd__Services__Events__Ttrpc__V1__Envelope env =
			CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
		Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
		cleanup_ttrpc_client struct ttrpc_client *c = NULL;
		size_t before = strv_length(T.topics);
		ProtobufCMessage *resp = NULL;

		OK(ttrpc_client_connect(T.loop, T.ttrpc, &c, err));
		any.type_url = (char *)"containerd.events.TaskOOM";
		env.event = &any;
		env.namespace_ = (char *)"bad ns";
		env.topic = (char *)"/tasks/oom";
		req.envelope = &env;
		{
			cleanup_err struct wh_err *e = NULL;

			CHECK(ttrpc_client_call(c, RT_EVENTS_SERVICE, "Forward", &req.base,
						&google__protobuf__empty__descriptor, NULL, &resp,
						&e) == -EINVAL);
			fprintf(stderr, "bad namespace: %s\n", wh_err_msg(e));
		}
		env.namespace_ = (char *)NS;
		env.topic = (char *)"no-slash";
		CHECK(ttrpc_client_call(c, RT_EVENTS_SERVICE, "Forward", &req.base,
					&google__protobuf__empty__descriptor, NULL, &resp,
					NULL) == -EINVAL);
		env.topic = (char *)"/tasks/oom";
		OK(ttrpc_client_call(c, RT_EVENTS_SERVICE, "Forward", &req.base,
				     &google__protobuf__empty__descriptor, NULL, &resp, err));
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		CHECK(strv_length(T.topics) == before + 1);
		CHECK(str_startswith(T.topics[before], "/tasks/oom"));
	}
	return 0;
}

/* ---- setup and cleanup ---- */

static int setup_rootfs(void)
{
	cleanup_free char *bin = xasprintf("%s/bin", T.lower);

	CHECK(mkdir_p(bin, 0755) >= 0);
	/* Mount points runc needs in a read-only rootfs. */
	CHECK(sh("cd %s && mkdir proc sys dev tmp etc", T.lower) == 0);
	CHECK(sh("cp /bin/busybox %s/busybox && chroot %s /bin/busybox --install -s /bin", bin,
		 T.lower) == 0);
	return 0;
}

static int setup(const char *shim)
{
	cleanup_free char *fifos = NULL;

	strcpy(T.tmp, "/tmp/runtime-XXXXXX");
	CHECK(mkdtemp(T.tmp) != NULL);
	snprintf(T.state, sizeof(T.state), "%s/state", T.tmp);
	snprintf(T.lower, sizeof(T.lower), "%s/lower", T.tmp);
	snprintf(T.shim_dir, sizeof(T.shim_dir), "%s/shims", T.tmp);
	snprintf(T.ttrpc, sizeof(T.ttrpc), "%s/events.sock", T.tmp);
	snprintf(T.grpc, sizeof(T.grpc), "%s/wharfd.sock", T.tmp);
	fifos = xasprintf("%s/fifo", T.tmp);
	CHECK(mkdir(T.state, 0711) == 0 && mkdir(T.shim_dir, 0755) == 0 && mkdir(fifos, 0700) == 0);
	if (shim) {
		/* The shim under its runtime name, found in the configured dir. */
		const char *v = strrchr(T.runtime, '.');
		const char *n = v ? v - 1 : NULL;
		cleanup_free char *link = NULL;

		while (n && n > T.runtime && *n != '.')
			n--;
		CHECK(v && n);
		link = xasprintf("%s/containerd-shim-%.*s-%s", T.shim_dir, (int)(v - n - 1), n + 1,
				 v + 1);
		CHECK(symlink(shim, link) == 0);
	}
	/* gVisor wants --network=none here (no CNI), and shared file access so that the test's
	 * writes into a running container's rootfs are seen inside: a wrapper as the binary name.
	 */
	if (T.binary_name && streq(T.binary_name, "runsc")) {
		static char wrapper[160];

		static const char text[] =
			"#!/bin/sh\nexec runsc --network=none --file-access=shared \"$@\"\n";

		snprintf(wrapper, sizeof(wrapper), "%s/runsc-nonet", T.tmp);
		CHECK(write_file_atomic(wrapper, text, strlen(text), 0755) == 0);
		T.binary_name = wrapper;
	}
	T.cfg = (struct rt_config){
		.state_dir = T.state,
		.shim_dir = T.shim_dir,
		.grpc_address = T.grpc,
		.ttrpc_address = T.ttrpc,
	};
	return setup_rootfs();
}

/* runc's cgroups of our tasks (/runtime-test-<pid>-<id> under every hierarchy). */
static void remove_cgroups(void)
{
	cleanup_free char *prefix = xasprintf("runtime-test-%d-", (int)getpid());
	cleanup_closedir DIR *root = opendir("/sys/fs/cgroup");
	struct dirent *h, *c;

	while (root && (h = readdir(root))) {
		cleanup_free char *hp = xasprintf("/sys/fs/cgroup/%s", h->d_name);
		cleanup_closedir DIR *hd = h->d_name[0] == '.' ? NULL : opendir(hp);

		while (hd && (c = readdir(hd))) {
			cleanup_free char *p = NULL;

			if (!str_startswith(c->d_name, prefix))
				continue;
			p = xasprintf("%s/%s", hp, c->d_name);
			/* Busy until the last (orphaned, now our) zombies are reaped. */
			for (int k = 0; k < 50 && rmdir(p) < 0 && errno == EBUSY; k++) {
				reap_all();
				usleep(100000);
			}
			if (access(p, F_OK) == 0)
				fprintf(stderr, "cleanup: cannot remove cgroup %s\n", p);
		}
	}
}

static void cleanup_all(void)
{
	cleanup_free char *tasks = xasprintf("%s/tasks/%s", T.state, NS);
	DIR *d;
	struct dirent *de;

	for (size_t i = 0; i < T.n_pids; i++)
		if (pid_alive(T.pids[i])) {
			fprintf(stderr, "cleanup: killing leftover pid %d\n", (int)T.pids[i]);
			kill(T.pids[i], SIGKILL);
		}
	for (int k = 0; k < 50; k++) {
		bool any = false;

		reap_all();
		for (size_t i = 0; i < T.n_pids; i++)
			any |= pid_alive(T.pids[i]);
		if (!any)
			break;
		usleep(100000);
	}
	if ((d = opendir(tasks))) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.' || strlen(de->d_name) > 2) {
				cleanup_free char *b = xasprintf("%s/%s", tasks, de->d_name);

				if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
					fprintf(stderr, "cleanup: leftover bundle %s\n", b);
					rt_bundle_remove(b, NULL);
				}
			}
		closedir(d);
	}
	remove_cgroups();
	if (T.tmp[0])
		rm_rf(T.tmp);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	struct rt_events *events = NULL;
	int r = -1;

	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root\n");
		return 77;
	}
	if (streq(mode, "bad")) {
		T.runtime = "io.containerd.none.v1";
	} else if ((streq(mode, "lifecycle") || streq(mode, "reconnect") || streq(mode, "many")) &&
		   argc >= 3) {
		T.runtime = argv[2];
		T.binary_name = argc >= 5 && *argv[4] ? argv[4] : NULL;
	} else {
		fprintf(stderr,
			"usage: rt-test lifecycle|reconnect|many RUNTIME [SHIM [BINARY]] | bad\n");
		return 2;
	}
	if (argc >= 4 && *argv[3] && access(argv[3], X_OK) < 0) {
		fprintf(stderr, "skip: no shim '%s'\n", argv[3]);
		return 77;
	}
	log_set_level(LOG_INFO);
	/* Our own mount namespace with a private /run (the runc shim's sockets and runc's state).
	 */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) {
		perror("mount namespace");
		return 1;
	}
	/* Debian's crun refuses hybrid cgroups: hide the cgroup2 mount in our namespace. */
	if (T.binary_name && streq(T.binary_name, "crun"))
		umount2("/sys/fs/cgroup/unified", MNT_DETACH);
	/* Shim daemons reparent to us: we can kill and reap them by pid. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	if (setup(argc >= 4 && *argv[3] ? argv[3] : NULL) == 0 && ev_loop_new(&T.loop) >= 0) {
		cleanup_err struct wh_err *e = NULL;

		/* reconnect runs its first supervisor in a child, which serves events first. */
		if (streq(mode, "reconnect"))
			r = reconnect();
		else if (rt_events_new(T.loop, T.ttrpc, on_event, NULL, &events, &e) < 0)
			fprintf(stderr, "events: %s\n", wh_err_msg(e));
		else if (streq(mode, "lifecycle"))
			r = lifecycle();
		else if (streq(mode, "many"))
			r = many();
		else
			r = bad_inputs();
	}
	rt_events_free(events);
	ev_loop_free(T.loop);
	cleanup_all();
	strv_free(T.topics);
	fprintf(stderr, "%s: %s\n", mode, r == 0 ? "PASS" : "FAIL");
	return r == 0 ? 0 : 1;
}

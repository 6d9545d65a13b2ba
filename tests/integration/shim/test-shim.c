/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of wharf-shim: started as a supervisor starts it (the `start` protocol, a log
 * fifo, TTRPC_ADDRESS to our events server), driven over ttrpc with a busybox bundle, for one
 * runtime driver per run: `test-shim SHIM builtin|runc|crun [test...]`.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"
#include "proto/cgroups/v1/metrics.pb-c.h"

#define E(x) Containerd__Events__##x

static char *args_filter(const char *args_json)
{
	return xasprintf(".process.args = %s", args_json);
}

/* The events of container id, in order, as "topic[:id]" joined by spaces. */
static char *event_list(struct h_env *e)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < e->n_events; i++) {
		struct h_event *ev = &e->events[i];
		strbuf_addf(&sb, "%s%s", sb.len ? " " : "", ev->topic + 7);
		if (streq(ev->topic, "/tasks/exit")) {
			E(TaskExit) *x =
				containerd__events__task_exit__unpack(NULL, ev->len, ev->data);
			if (x) {
				strbuf_addf(&sb, ":%s:%u", x->id, x->exit_status);
				containerd__events__task_exit__free_unpacked(x, NULL);
			}
		}
	}
	return strbuf_detach(&sb, NULL);
}

/* Delete + Shutdown; the shim must exit and remove its socket. */
static void finish(struct h_shim *s)
{
	T(DeleteResponse) *d = NULL;
	if (h_delete(s, NULL, &d) >= 0)
		protobuf_c_message_free_unpacked(&d->base, NULL);
	h_shutdown(s);
	for (int i = 0; i < 250 && h_alive(s->pid); i++)
		usleep(20000);
	CHECK(!h_alive(s->pid), "shim %d still alive after Shutdown", (int)s->pid);
	struct stat st;
	CHECK(stat(s->address + 7, &st) < 0, "socket '%s' left behind", s->address + 7);
}

/* Output arrives intact (1 MB through a fifo), exit code exact, events in order. */
static void t_output(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *f =
		args_filter("[\"sh\",\"-c\",\"seq 1 150000; echo to-stderr >&2; exit 42\"]");
	if (h_shim_start(e, "out", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	cleanup_free char *op = NULL, *ep = NULL;
	int ofd = h_fifo(e, "out-stdout", &op), efd = h_fifo(e, "out-stderr", &ep);
	uint32_t pid = 0, st = 0;
	CHECK(h_create(&s, NULL, op, ep, false, &pid) >= 0 && pid > 0, "create");
	T(StateResponse) *sr = NULL;
	CHECK(h_state(&s, NULL, &sr) >= 0 && sr->status == 1 && sr->pid == pid, "state created");
	if (sr)
		protobuf_c_message_free_unpacked(&sr->base, NULL);
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	CHECK(h_wait(&s, NULL, ofd, &out, &st) >= 0, "wait");
	h_drain(efd, &err);
	CHECK(st == 42, "exit status %u, want 42", st);
	struct strbuf want = STRBUF_INIT;
	for (int i = 1; i <= 150000; i++)
		strbuf_addf(&want, "%d\n", i);
	CHECK(out.len == want.len && memcmp(out.buf, want.buf, want.len) == 0,
	      "stdout: %zu bytes, want %zu", out.len, want.len);
	CHECK(streq(err.buf, "to-stderr\n"), "stderr '%s'", err.buf);
	sr = NULL;
	CHECK(h_state(&s, NULL, &sr) >= 0 && sr->status == 3 && sr->exit_status == 42,
	      "state stopped");
	if (sr)
		protobuf_c_message_free_unpacked(&sr->base, NULL);
	CHECK(h_kill(&s, NULL, SIGTERM, false) == -ENOENT, "kill after exit is not NotFound");
	finish(&s);
	h_events_wait(e, 4, 10);
	cleanup_free char *evs = event_list(e);
	CHECK(streq(evs, "create start exit:out:42 delete"), "events '%s'", evs);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&want);
	close(ofd);
	close(efd);
	h_shim_release(&s);
}

/* Exec with its own stdio and exit status, Pids, kill of the init, wait for 143. */
static void t_exec_kill(struct h_env *e)
{
	struct h_shim s;
	/* An init ignores SIGTERM without a handler (pid 1 of its namespace): give it one. */
	cleanup_free char *f = args_filter(
		"[\"sh\",\"-c\",\"trap \\\"exit 143\\\" TERM; while :; do sleep 0.1; done\"]");
	if (h_shim_start(e, "exk", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	cleanup_free char *op = NULL;
	int ofd = h_fifo(e, "exk-x1-stdout", &op);
	uint32_t pid = 0, xpid = 0, st = 0;
	CHECK(h_create(&s, NULL, NULL, NULL, false, &pid) >= 0, "create");
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	CHECK(h_exec(&s, "x1", "[\"sh\",\"-c\",\"echo exec-out; exit 3\"]", op, false) >= 0,
	      "exec");
	CHECK(h_exec(&s, "x1", "[\"true\"]", NULL, false) == -EEXIST, "duplicate exec id");
	T(StateResponse) *sr = NULL;
	CHECK(h_state(&s, "x1", &sr) >= 0 && sr->status == 1 && streq(sr->id, "x1"),
	      "exec state created");
	if (sr)
		protobuf_c_message_free_unpacked(&sr->base, NULL);
	CHECK(h_start(&s, "x1", &xpid) >= 0 && xpid > 0, "start exec");
	struct strbuf out = STRBUF_INIT;
	CHECK(h_wait(&s, "x1", ofd, &out, &st) >= 0 && st == 3, "exec exit %u", st);
	CHECK(streq(out.buf, "exec-out\n"), "exec stdout '%s'", out.buf);
	T(DeleteResponse) *d = NULL;
	CHECK(h_delete(&s, "x1", &d) >= 0 && d->exit_status == 3 && d->pid == xpid, "delete exec");
	if (d)
		protobuf_c_message_free_unpacked(&d->base, NULL);
	CHECK(h_state(&s, "x1", &sr) == -ENOENT, "deleted exec still there");
	/* An exec with a terminal of its own. */
	cleanup_free char *tp = NULL;
	int tfd = h_fifo(e, "exk-t1-stdout", &tp);
	CHECK(h_exec(&s, "t1", "[\"sh\",\"-c\",\"test -t 1 && echo exec-tty\"]", tp, true) >= 0,
	      "exec with terminal");
	CHECK(h_start(&s, "t1", NULL) >= 0, "start tty exec");
	strbuf_reset(&out);
	CHECK(h_wait(&s, "t1", tfd, &out, &st) >= 0 && st == 0, "tty exec exit %u", st);
	CHECK(strstr(out.buf, "exec-tty") != NULL, "tty exec output '%s'", out.buf);
	d = NULL;
	CHECK(h_delete(&s, "t1", &d) >= 0, "delete tty exec");
	if (d)
		protobuf_c_message_free_unpacked(&d->base, NULL);
	close(tfd);
	/* Pids lists the init. */
	T(PidsRequest) pr = CONTAINERD__TASK__V2__PIDS_REQUEST__INIT;
	pr.id = s.id;
	T(PidsResponse) *pids = NULL;
	CHECK(h_call(&s, "Pids", &pr.base, &containerd__task__v2__pids_response__descriptor,
		     (ProtobufCMessage **)&pids, NULL) >= 0 &&
		      pids->n_processes >= 1 && pids->processes[0]->pid == pid,
	      "pids");
	if (pids)
		protobuf_c_message_free_unpacked(&pids->base, NULL);
	/* A running init cannot be deleted. */
	int code = 0;
	T(DeleteRequest) dr = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
	dr.id = s.id;
	dr.exec_id = (char *)"";
	h_call(&s, "Delete", &dr.base, &containerd__task__v2__delete_response__descriptor, NULL,
	       &code);
	CHECK(code == TTRPC_UNKNOWN, "delete of a running init: code %d", code);
	CHECK(h_kill(&s, NULL, SIGTERM, false) >= 0, "kill");
	CHECK(h_wait(&s, NULL, -1, NULL, &st) >= 0 && st == 143, "init exit %u, want 143", st);
	finish(&s);
	h_events_wait(e, 10, 10);
	cleanup_free char *evs = event_list(e);
	CHECK(streq(evs, "create start exec-added exec-started exit:x1:3 exec-added exec-started "
			 "exit:t1:0 exit:exk:143 delete"),
	      "events '%s'", evs);
	strbuf_release(&out);
	close(ofd);
	h_shim_release(&s);
}

static void t_pause_resume(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *f = args_filter("[\"sleep\",\"1000\"]");
	if (h_shim_start(e, "pr", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	uint32_t st = 0;
	CHECK(h_create(&s, NULL, NULL, NULL, false, NULL) >= 0, "create");
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	CHECK(h_simple(&s, "Pause", NULL) >= 0, "pause");
	T(StateResponse) *sr = NULL;
	CHECK(h_state(&s, NULL, &sr) >= 0 && sr->status == 4, "state paused");
	if (sr)
		protobuf_c_message_free_unpacked(&sr->base, NULL);
	CHECK(h_simple(&s, "Pause", NULL) == -EBUSY, "second pause");
	CHECK(h_simple(&s, "Resume", NULL) >= 0, "resume");
	sr = NULL;
	CHECK(h_state(&s, NULL, &sr) >= 0 && sr->status == 2, "state running");
	if (sr)
		protobuf_c_message_free_unpacked(&sr->base, NULL);
	CHECK(h_kill(&s, NULL, SIGKILL, true) >= 0, "kill --all");
	CHECK(h_wait(&s, NULL, -1, NULL, &st) >= 0 && st == 137, "exit %u", st);
	finish(&s);
	h_events_wait(e, 6, 10);
	cleanup_free char *evs = event_list(e);
	CHECK(streq(evs, "create start paused resumed exit:pr:137 delete"), "events '%s'", evs);
	h_shim_release(&s);
}

/* A terminal: the process sees a tty, stdin goes in, ResizePty reaches it. */
static void t_tty(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *f = args_filter(
		"[\"sh\",\"-c\",\"test -t 0 && test -t 1 && echo is-a-tty; read l; stty size; "
		"echo got:$l\"] | .process.terminal = true");
	if (h_shim_start(e, "tty", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	cleanup_free char *ip = path_join(e->tmp, "tty-stdin");
	cleanup_free char *op = NULL;
	mkfifo(ip, 0700);
	int ird = open(ip, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* so our writer can open */
	int ifd = open(ip, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	int ofd = h_fifo(e, "tty-stdout", &op);
	uint32_t st = 0;
	CHECK(h_create(&s, ip, op, NULL, true, NULL) >= 0, "create with terminal");
	close(ird);
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	T(ResizePtyRequest) rr = CONTAINERD__TASK__V2__RESIZE_PTY_REQUEST__INIT;
	rr.id = s.id;
	rr.width = 123;
	rr.height = 45;
	CHECK(h_call(&s, "ResizePty", &rr.base, &google__protobuf__empty__descriptor, NULL, NULL) >=
		      0,
	      "resize");
	CHECK(write(ifd, "hello\n", 6) == 6, "write stdin");
	struct strbuf out = STRBUF_INIT;
	CHECK(h_wait(&s, NULL, ofd, &out, &st) >= 0 && st == 0, "exit %u", st);
	CHECK(strstr(out.buf, "is-a-tty") && strstr(out.buf, "45 123") &&
		      strstr(out.buf, "got:hello"),
	      "tty output '%s'", out.buf);
	finish(&s);
	strbuf_release(&out);
	close(ifd);
	close(ofd);
	h_shim_release(&s);
}

/* CloseIO: the container's stdin reaches EOF; 2 MB go through stdin and back intact. */
static void t_closeio(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *f = args_filter("[\"cat\"]");
	if (h_shim_start(e, "cio", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	cleanup_free char *ip = path_join(e->tmp, "cio-stdin");
	cleanup_free char *op = NULL;
	mkfifo(ip, 0700);
	int ird = open(ip, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int ifd = open(ip, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	int ofd = h_fifo(e, "cio-stdout", &op);
	uint32_t st = 1;
	CHECK(h_create(&s, ip, op, NULL, false, NULL) >= 0, "create");
	close(ird);
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	struct strbuf in = STRBUF_INIT, out = STRBUF_INIT;
	for (unsigned i = 0; in.len < (2u << 20); i++)
		strbuf_addf(&in, "line %u %08x\n", i, i * 2654435761u);
	size_t off = 0;
	for (int spins = 0; off < in.len && spins < 200000; spins++) {
		ssize_t n = write(ifd, in.buf + off, MIN(in.len - off, (size_t)65536));
		if (n > 0)
			off += (size_t)n;
		h_drain(ofd, &out);
		if (n <= 0)
			usleep(1000);
	}
	CHECK(off == in.len, "wrote %zu of %zu bytes to stdin", off, in.len);
	close(ifd); /* the client's writer goes; the shim's own keeps the fifo open until CloseIO */
	CHECK(h_simple(&s, "CloseIO", NULL) >= 0, "closeio");
	CHECK(h_wait(&s, NULL, ofd, &out, &st) >= 0 && st == 0, "exit %u", st);
	CHECK(out.len == in.len && memcmp(out.buf, in.buf, in.len) == 0,
	      "cat output: %zu bytes, want %zu", out.len, in.len);
	finish(&s);
	strbuf_release(&in);
	strbuf_release(&out);
	close(ofd);
	h_shim_release(&s);
}

/* A small memory limit: the kernel OOM-kills, the shim publishes /tasks/oom and exit 137. */
static void t_oom(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *f =
		args_filter("[\"sh\",\"-c\",\"x=0123456789; while true; do x=$x$x; done\"] | "
			    ".linux.resources.memory = {\"limit\": 16777216, \"swap\": 16777216}");
	if (h_shim_start(e, "oom", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	uint32_t st = 0;
	CHECK(h_create(&s, NULL, NULL, NULL, false, NULL) >= 0, "create");
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	CHECK(h_wait(&s, NULL, -1, NULL, &st) >= 0 && st == 137, "exit %u, want 137", st);
	h_events_wait(e, 4, 10);
	int oom = h_events_find(e, 0, "/tasks/oom");
	int ex = h_events_find(e, 0, "/tasks/exit");
	CHECK(oom >= 0, "no /tasks/oom event");
	if (oom >= 0) {
		E(TaskOOM) *o = containerd__events__task_oom__unpack(NULL, e->events[oom].len,
								     e->events[oom].data);
		CHECK(o && streq(o->container_id, "oom"), "oom event container id");
		CHECK(streq(e->events[oom].type_url, "containerd.events.TaskOOM"), "type url '%s'",
		      e->events[oom].type_url);
		if (o)
			containerd__events__task_oom__free_unpacked(o, NULL);
	}
	CHECK(ex >= 0, "no exit event");
	finish(&s);
	h_shim_release(&s);
}

/* Update and Stats on a running container. */
static void t_update_stats(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *f =
		args_filter("[\"sleep\",\"1000\"] | .linux.cgroupsPath = \"/shim-it-upd\"");
	if (h_shim_start(e, "upd", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	uint32_t st = 0;
	CHECK(h_create(&s, NULL, NULL, NULL, false, NULL) >= 0, "create");
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	const char *res = "{\"memory\":{\"limit\":67108864}}";
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = (char *)"types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
	any.value.data = (uint8_t *)res;
	any.value.len = strlen(res);
	T(UpdateTaskRequest) ur = CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__INIT;
	ur.id = s.id;
	ur.resources = &any;
	CHECK(h_call(&s, "Update", &ur.base, &google__protobuf__empty__descriptor, NULL, NULL) >= 0,
	      "update");
	cleanup_free char *lim = NULL;
	read_file("/sys/fs/cgroup/memory/shim-it-upd/memory.limit_in_bytes", 64, &lim, NULL);
	CHECK(lim && streq(lim, "67108864\n"), "memory limit after update '%s'", lim ? lim : "");
	T(StatsRequest) sr = CONTAINERD__TASK__V2__STATS_REQUEST__INIT;
	sr.id = s.id;
	T(StatsResponse) *resp = NULL;
	int code = 0;
	int r = h_call(&s, "Stats", &sr.base, &containerd__task__v2__stats_response__descriptor,
		       (ProtobufCMessage **)&resp, &code);
	if (code == TTRPC_UNIMPLEMENTED) {
		fprintf(stderr, "  (stats: shim built without liboci)\n");
	} else {
		CHECK(r >= 0 && resp->stats &&
			      streq(resp->stats->type_url, "io.containerd.cgroups.v1.Metrics"),
		      "stats: code %d", code);
		Io__Containerd__Cgroups__V1__Metrics *mt =
			r >= 0 && resp->stats
				? io__containerd__cgroups__v1__metrics__unpack(
					  NULL, resp->stats->value.len, resp->stats->value.data)
				: NULL;
		CHECK(mt && mt->memory && mt->memory->usage && mt->memory->usage->usage > 0 &&
			      mt->memory->usage->limit == 67108864,
		      "stats: memory usage/limit");
		CHECK(mt && mt->pids && mt->pids->current >= 1, "stats: pids");
		CHECK(mt && mt->cpu && mt->cpu->usage && mt->cpu->usage->total > 0, "stats: cpu");
		if (mt)
			io__containerd__cgroups__v1__metrics__free_unpacked(mt, NULL);
	}
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	CHECK(h_kill(&s, NULL, SIGKILL, false) >= 0, "kill");
	CHECK(h_wait(&s, NULL, -1, NULL, &st) >= 0 && st == 137, "exit %u", st);
	finish(&s);
	h_shim_release(&s);
}

/* Errors as containerd expects them. */
static void t_errors(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *f = args_filter("[\"sleep\",\"1000\"]");
	if (h_shim_start(e, "errs", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	T(StateResponse) *sr = NULL;
	CHECK(h_state(&s, NULL, &sr) == -ENOENT, "state before create is not NotFound");
	CHECK(h_create(&s, NULL, NULL, NULL, false, NULL) >= 0, "create");
	CHECK(h_create(&s, NULL, NULL, NULL, false, NULL) < 0, "second create succeeded");
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	int code = 0;
	T(ExecProcessRequest) xr = CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
	xr.id = s.id;
	xr.exec_id = (char *)"nospec";
	h_call(&s, "Exec", &xr.base, &google__protobuf__empty__descriptor, NULL, &code);
	CHECK(code == TTRPC_INVALID_ARGUMENT, "exec without spec: code %d", code);
	T(CheckpointTaskRequest) cr = CONTAINERD__TASK__V2__CHECKPOINT_TASK_REQUEST__INIT;
	cr.id = s.id;
	cr.path = (char *)"/tmp/nowhere";
	h_call(&s, "Checkpoint", &cr.base, &google__protobuf__empty__descriptor, NULL, &code);
	CHECK(code == TTRPC_UNIMPLEMENTED, "checkpoint: code %d", code);
	CHECK(h_state(&s, "nope", &sr) == -ENOENT, "unknown exec is not NotFound");
	/* Shutdown with a live container does nothing. */
	h_shutdown(&s);
	usleep(100000);
	CHECK(h_alive(s.pid), "shim exited on Shutdown with a live container");
	uint32_t st;
	CHECK(h_kill(&s, NULL, SIGKILL, false) >= 0, "kill");
	CHECK(h_wait(&s, NULL, -1, NULL, &st) >= 0 && st == 137, "exit %u", st);
	finish(&s);
	h_shim_release(&s);
}

/*
 * The shim outlives its starter and keeps every event while the receiver is away: the events
 * server is down while the container runs and exits, then comes back.
 */
static void t_detach_and_retry(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *f = args_filter("[\"sh\",\"-c\",\"read x; exit 7\"]");
	if (h_shim_start(e, "det", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	cleanup_free char *stat = NULL, *path = xasprintf("/proc/%d/stat", (int)s.pid);
	read_file(path, 4096, &stat, NULL);
	int ppid = -1, sid = -1;
	char *rp = stat ? strrchr(stat, ')') : NULL;
	if (rp)
		sscanf(rp + 2, "%*c %d %*d %d", &ppid, &sid);
	CHECK(ppid != getpid() && sid == s.pid, "shim ppid %d sid %d", ppid, sid);
	cleanup_free char *fd3 = xasprintf("/proc/%d/fd/0", (int)s.pid);
	char link[256] = "";
	readlink(fd3, link, sizeof(link) - 1);
	CHECK(streq(link, "/dev/null"), "shim stdin is '%s'", link);
	cleanup_free char *ip = path_join(e->tmp, "det-stdin");
	mkfifo(ip, 0700);
	int ird = open(ip, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int ifd = open(ip, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	CHECK(h_create(&s, ip, NULL, NULL, false, NULL) >= 0, "create");
	close(ird);
	h_events_wait(e, 1, 10);
	h_events_stop(e);
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	CHECK(write(ifd, "go\n", 3) == 3, "write");
	uint32_t st = 0;
	CHECK(h_wait(&s, NULL, -1, NULL, &st) >= 0 && st == 7, "exit %u", st);
	T(DeleteResponse) *d = NULL;
	CHECK(h_delete(&s, NULL, &d) >= 0 && d->exit_status == 7, "delete");
	if (d)
		protobuf_c_message_free_unpacked(&d->base, NULL);
	usleep(300000);
	CHECK(e->n_events == 1, "events arrived while the server was down");
	h_events_start(e);
	h_events_wait(e, 4, 20);
	cleanup_free char *evs = event_list(e);
	CHECK(streq(evs, "create start exit:det:7 delete"), "events after restart '%s'", evs);
	h_shutdown(&s);
	for (int i = 0; i < 250 && h_alive(s.pid); i++)
		usleep(20000);
	CHECK(!h_alive(s.pid), "shim alive after Shutdown");
	close(ifd);
	h_shim_release(&s);
}

/* `delete` cleans up after a shim that died, printing a DeleteResponse. */
static void t_delete_cmd(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *f = args_filter("[\"sleep\",\"1000\"]");
	if (h_shim_start(e, "dead", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	uint32_t pid = 0;
	CHECK(h_create(&s, NULL, NULL, NULL, false, &pid) >= 0, "create");
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	kill(s.pid, SIGKILL);
	for (int i = 0; i < 100 && h_alive(s.pid); i++)
		usleep(20000);
	cleanup_free char *cmd =
		xasprintf("cd %s && TTRPC_ADDRESS=%s %s -namespace testns -address "
			  "/x -publish-binary /bin/true -id dead -bundle %s delete",
			  s.bundle, e->ev_addr, e->shim_bin, s.bundle);
	FILE *p = popen(cmd, "r");
	uint8_t buf[256];
	size_t n = p ? fread(buf, 1, sizeof(buf), p) : 0;
	int st = p ? pclose(p) : -1;
	CHECK(st == 0, "delete exited %d", st);
	T(DeleteResponse) *d = containerd__task__v2__delete_response__unpack(NULL, n, buf);
	CHECK(d && d->pid == pid && d->exit_status == 137 && d->exited_at, "delete response");
	if (d)
		protobuf_c_message_free_unpacked(&d->base, NULL);
	for (int i = 0; i < 100 && h_alive((pid_t)pid); i++)
		usleep(20000);
	CHECK(!h_alive((pid_t)pid), "container init %u survived delete", pid);
	h_shim_release(&s);
}

/* binary:// logging: a logger gets the stdout/stderr pipes as fds 3 and 4, fd 5 signals ready. */
static void t_logger(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *script = path_join(e->tmp, "logger.sh");
	const char *text = "#!/bin/sh\n[ \"$1\" = dir ] || exit 3\nexec 5>&-\n"
			   "cat <&3 >\"$2/$CONTAINER_ID.out\" &\n"
			   "cat <&4 >\"$2/$CONTAINER_NAMESPACE.err\"\nwait\n";
	if (write_file_atomic(script, text, strlen(text), 0755) < 0)
		return;
	cleanup_free char *f =
		args_filter("[\"sh\",\"-c\",\"echo to-logger; echo err-logger >&2; exit 4\"]");
	if (h_shim_start(e, "logid", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	cleanup_free char *uri = xasprintf("binary://%s?dir=%s", script, e->tmp);
	uint32_t st = 0;
	CHECK(h_create(&s, NULL, uri, uri, false, NULL) >= 0, "create with a binary logger");
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	CHECK(h_wait(&s, NULL, -1, NULL, &st) >= 0 && st == 4, "exit %u", st);
	cleanup_free char *po = path_join(e->tmp, "logid.out");
	cleanup_free char *pe = path_join(e->tmp, "testns.err");
	cleanup_free char *o = NULL, *r = NULL;
	/* The logger writes on its own time: wait (bounded) for its files. */
	for (int i = 0; i < 500; i++) {
		free(o);
		free(r);
		o = r = NULL;
		read_file(po, 4096, &o, NULL);
		read_file(pe, 4096, &r, NULL);
		if (o && r && *o && *r)
			break;
		usleep(20000);
	}
	CHECK(o && streq(o, "to-logger\n"), "logger stdout '%s'", o ? o : "(none)");
	CHECK(r && streq(r, "err-logger\n"), "logger stderr '%s'", r ? r : "(none)");
	finish(&s);
	h_shim_release(&s);
}

/* Options.shim_cgroup given on start's stdin (an Any, as containerd sends it): the shim joins it.
 */
static void t_shim_cgroup(struct h_env *e)
{
	const char *cg = "/sys/fs/cgroup/pids/shim-it-cg";
	if (mkdir(cg, 0755) < 0 && errno != EEXIST) {
		CHECK(false, "mkdir '%s': %s", cg, strerror(errno));
		return;
	}
	Containerd__Runc__V1__Options o = CONTAINERD__RUNC__V1__OPTIONS__INIT;
	o.shim_cgroup = (char *)"/shim-it-cg";
	uint8_t ob[128], ab[256];
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = (char *)"containerd.runc.v1.Options";
	any.value.len = protobuf_c_message_pack(&o.base, ob);
	any.value.data = ob;
	size_t n = protobuf_c_message_pack(&any.base, ab);
	cleanup_free char *in = path_join(e->tmp, "start-stdin");
	write_file_atomic(in, ab, n, 0600);
	e->start_stdin = in;
	struct h_shim s;
	int r = h_shim_start(e, "cg", "", &s);
	e->start_stdin = NULL;
	if (r >= 0) {
		cleanup_free char *path = xasprintf("/proc/%d/cgroup", (int)s.pid);
		cleanup_free char *text = NULL;
		read_file(path, 65536, &text, NULL);
		CHECK(text && strstr(text, "pids:/shim-it-cg\n"), "shim cgroups:\n%s",
		      text ? text : "");
		h_shutdown(&s);
		for (int i = 0; i < 250 && h_alive(s.pid); i++)
			usleep(20000);
		CHECK(!h_alive(s.pid), "shim without containers did not exit on Shutdown");
	}
	h_shim_release(&s);
	rmdir(cg);
}

/*
 * Without a private pid namespace nothing dies with the init: the shim kills what is left
 * (runc kill --all) before it reports the exit, so a background child holding stdout cannot
 * hold the exit back either.
 */
static void t_host_pidns(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *f =
		args_filter("[\"sh\",\"-c\",\"sleep 1000 & echo bg:$!; read l; exit 5\"] | "
			    ".linux.namespaces |= map(select(.type != \"pid\"))");
	if (h_shim_start(e, "hpid", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	cleanup_free char *ip = path_join(e->tmp, "hpid-stdin");
	cleanup_free char *op = NULL;
	mkfifo(ip, 0700);
	int ird = open(ip, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int ifd = open(ip, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	int ofd = h_fifo(e, "hpid-stdout", &op);
	CHECK(h_create(&s, ip, op, NULL, false, NULL) >= 0, "create");
	close(ird);
	CHECK(h_start(&s, NULL, NULL) >= 0, "start");
	struct strbuf out = STRBUF_INIT;
	for (int i = 0; i < 500 && !strchr(out.buf, '\n'); i++) {
		h_drain(ofd, &out);
		usleep(10000);
	}
	int bg = 0;
	CHECK(sscanf(out.buf, "bg:%d", &bg) == 1 && bg > 0, "background pid in '%s'", out.buf);
	CHECK(bg > 0 && h_alive(bg), "background child %d not running", bg);
	CHECK(write(ifd, "x\n", 2) == 2, "write");
	uint32_t st = 0;
	CHECK(h_wait(&s, NULL, ofd, &out, &st) >= 0 && st == 5, "exit %u", st);
	for (int i = 0; i < 250 && bg > 0 && h_alive(bg); i++)
		usleep(20000);
	CHECK(bg > 0 && !h_alive(bg), "background child %d survived the init", bg);
	finish(&s);
	strbuf_release(&out);
	close(ifd);
	close(ofd);
	h_shim_release(&s);
}

/* A failing create reports the runtime's own error and leaves nothing behind. */
static void t_create_fails(struct h_env *e)
{
	struct h_shim s;
	cleanup_free char *f = args_filter("[\"/no/such/binary\"]");
	if (h_shim_start(e, "bad", f, &s) < 0) {
		h_shim_release(&s);
		return;
	}
	T(CreateTaskRequest) rq = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
	rq.id = s.id;
	rq.bundle = s.bundle;
	Containerd__Runc__V1__Options o = CONTAINERD__RUNC__V1__OPTIONS__INIT;
	o.binary_name = (char *)e->runtime;
	uint8_t buf[256];
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = (char *)"containerd.runc.v1.Options";
	any.value.len = protobuf_c_message_pack(&o.base, buf);
	any.value.data = buf;
	rq.options = &any;
	cleanup_err struct wh_err *err = NULL;
	struct ttrpc_call_opts co = {.timeout_ns = 60ULL * 1000000000ULL};
	ProtobufCMessage *resp = NULL;
	int r = ttrpc_client_call(s.client, "containerd.task.v2.Task", "Create", &rq.base,
				  &containerd__task__v2__create_task_response__descriptor, &co,
				  &resp, &err);
	CHECK(r < 0 && strstr(wh_err_msg(err), "/no/such/binary"), "create error '%s'",
	      wh_err_msg(err));
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	T(StateResponse) *sr = NULL;
	CHECK(h_state(&s, NULL, &sr) == -ENOENT, "a failed create left a container");
	/* Nothing tracked: Shutdown ends the shim. */
	h_shutdown(&s);
	for (int i = 0; i < 250 && h_alive(s.pid); i++)
		usleep(20000);
	CHECK(!h_alive(s.pid), "shim alive after Shutdown");
	h_shim_release(&s);
}

/* Two containers of one group share one shim, which exits only when both are gone. */
static void t_group(struct h_env *e)
{
	struct h_shim a, b;
	const char *f = ".process.args = [\"sleep\",\"1000\"] | "
			".annotations[\"io.containerd.runc.v2.group\"] = \"grp\"";
	bool ok_a = h_shim_start(e, "ga", f, &a) >= 0;
	bool ok_b = ok_a && h_shim_start(e, "gb", f, &b) >= 0;
	if (!ok_b) {
		h_shim_release(&a);
		return;
	}
	CHECK(streq(a.address, b.address) && a.pid == b.pid, "group members got '%s' and '%s'",
	      a.address, b.address);
	uint32_t st;
	CHECK(h_create(&a, NULL, NULL, NULL, false, NULL) >= 0, "create ga");
	CHECK(h_create(&b, NULL, NULL, NULL, false, NULL) >= 0, "create gb");
	CHECK(h_start(&a, NULL, NULL) >= 0 && h_start(&b, NULL, NULL) >= 0, "start both");
	CHECK(h_kill(&a, NULL, SIGKILL, false) >= 0, "kill ga");
	CHECK(h_wait(&a, NULL, -1, NULL, &st) >= 0 && st == 137, "ga exit %u", st);
	T(DeleteResponse) *d = NULL;
	CHECK(h_delete(&a, NULL, &d) >= 0, "delete ga");
	if (d)
		protobuf_c_message_free_unpacked(&d->base, NULL);
	h_shutdown(&a);
	usleep(100000);
	CHECK(h_alive(b.pid), "shared shim exited while gb lives");
	T(StateResponse) *sr = NULL;
	CHECK(h_state(&b, NULL, &sr) >= 0 && sr->status == 2, "gb still running");
	if (sr)
		protobuf_c_message_free_unpacked(&sr->base, NULL);
	CHECK(h_kill(&b, NULL, SIGKILL, false) >= 0, "kill gb");
	CHECK(h_wait(&b, NULL, -1, NULL, &st) >= 0 && st == 137, "gb exit %u", st);
	finish(&b);
	h_shim_release(&b);
	h_shim_release(&a);
}

static const struct {
	const char *name;
	void (*fn)(struct h_env *);
} tests[] = {
	{"output", t_output},
	{"exec_kill", t_exec_kill},
	{"pause_resume", t_pause_resume},
	{"tty", t_tty},
	{"closeio", t_closeio},
	{"oom", t_oom},
	{"update_stats", t_update_stats},
	{"errors", t_errors},
	{"detach_and_retry", t_detach_and_retry},
	{"delete_cmd", t_delete_cmd},
	{"group", t_group},
	{"logger", t_logger},
	{"shim_cgroup", t_shim_cgroup},
	{"host_pidns", t_host_pidns},
	{"create_fails", t_create_fails},
};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s SHIM builtin|runc|crun [test...]\n", argv[0]);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "needs root\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	const char *runtime = streq(argv[2], "builtin") ? "" : argv[2];
	struct h_env e;
	if (h_env_init(&e, argv[1], runtime) < 0) {
		fprintf(stderr, "setup failed\n");
		h_env_release(&e);
		return 1;
	}
	/* -v names the shim and its version. */
	cleanup_free char *vcmd = xasprintf("%s -v", argv[1]);
	FILE *vp = popen(vcmd, "r");
	char vbuf[256] = "";
	size_t vn = vp ? fread(vbuf, 1, sizeof(vbuf) - 1, vp) : 0;
	vbuf[vn] = 0;
	CHECK(vp && pclose(vp) == 0 && strstr(vbuf, "wharf-shim") && strstr(vbuf, "Version"),
	      "-v printed '%s'", vbuf);
	int ran = 0;
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++) {
		bool want = argc == 3;
		for (int a = 3; a < argc; a++)
			want |= streq(argv[a], tests[i].name);
		if (!want)
			continue;
		int before = h_failures;
		h_events_clear(&e);
		tests[i].fn(&e);
		printf("%s %s (%s)\n", h_failures == before ? "ok" : "FAIL", tests[i].name,
		       argv[2]);
		fflush(stdout);
		ran++;
	}
	h_env_release(&e);
	printf("%d tests, %d failed checks\n", ran, h_failures);
	return h_failures ? 1 : 0;
}

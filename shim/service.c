/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containerd.task.v2.Task over ttrpc (PROTOCOLS.md 3): decodes each request, calls the task
 * layer, publishes the task events in containerd's order and encodes the answer. Wait is
 * answered when the process' exit is final (after its stdio drained).
 */
#include "shim/service.h"

#include <errno.h>
#include <unistd.h>

#include "proto/events/task.pb-c.h"
#include "proto/runc/options.pb-c.h"
#include "proto/task/v2/shim.pb-c.h"
#include "shim/events.h"
#include "shim/task.h"
#include "ttrpc/ttrpc.h"

#define T(x) Containerd__Task__V2__##x
#define E(x) Containerd__Events__##x
/* Go peers always send exited_at; an unset time is 0001-01-01T00:00:00Z. */
#define GO_ZERO_TIME_SECONDS (-62135596800LL)

struct ts {
	Google__Protobuf__Timestamp pb;
};

static Google__Protobuf__Timestamp *ts_set(struct ts *t, uint64_t ns)
{
	t->pb = (Google__Protobuf__Timestamp)GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	if (ns == 0) {
		t->pb.seconds = GO_ZERO_TIME_SECONDS;
		return &t->pb;
	}
	t->pb.seconds = (int64_t)(ns / 1000000000ULL);
	t->pb.nanos = (int32_t)(ns % 1000000000ULL);
	return &t->pb;
}

/* Debug trace of every request: method, id, exec id. */
static void trace(const char *method, const char *id, const char *exec_id)
{
	log_debug("%s id=%s exec=%s", method, id ? id : "", exec_id ? exec_id : "");
}

static int reply_err(struct ttrpc_call *call, const char *method, int r, struct wh_err *e)
{
	log_debug("%s: %s", method, wh_err_msg(e));
	return ttrpc_call_reply_err(call, r, e);
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* ---- events ---- */

static void publish(struct shim *s, const char *topic, const ProtobufCMessage *m)
{
	events_publish(s->events, topic, m);
}

static void on_proc_exited(struct proc *p)
{
	struct ts t;
	E(TaskExit) ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	ev.container_id = p->c->id;
	ev.id = p->exec_id ? p->exec_id : p->c->id;
	ev.pid = (uint32_t)p->pid;
	ev.exit_status = (uint32_t)p->exit_status;
	ev.exited_at = ts_set(&t, p->exited_ns);
	publish(p->c->shim, "/tasks/exit", &ev.base);
}

static void on_oom(struct container *c)
{
	E(TaskOOM) ev = CONTAINERD__EVENTS__TASK_OOM__INIT;
	ev.container_id = c->id;
	publish(c->shim, "/tasks/oom", &ev.base);
}

/* ---- options ---- */

static bool type_is(const char *url, const char *name)
{
	return url && (streq(url, name) ||
		       (str_endswith(url, name) && url[strlen(url) - strlen(name) - 1] == '/'));
}

static int decode_runc_options(const Google__Protobuf__Any *any, struct runtime_opts *o,
			       struct wh_err **err)
{
	*o = (struct runtime_opts){0};
	if (!any || !any->type_url || !*any->type_url)
		return 0;
	if (!type_is(any->type_url, "containerd.runc.v1.Options"))
		return wh_err_setx(err, EINVAL, "unsupported runtime options type '%s'",
				   any->type_url);
	Containerd__Runc__V1__Options *pb =
		containerd__runc__v1__options__unpack(NULL, any->value.len, any->value.data);
	if (!pb)
		return wh_err_setx(err, EINVAL,
				   "runtime options: malformed containerd.runc.v1.Options");
	o->binary_name = *pb->binary_name ? xstrdup(pb->binary_name) : NULL;
	o->root = *pb->root ? xstrdup(pb->root) : NULL;
	o->criu_path = *pb->criu_path ? xstrdup(pb->criu_path) : NULL;
	o->shim_cgroup = *pb->shim_cgroup ? xstrdup(pb->shim_cgroup) : NULL;
	o->no_pivot_root = pb->no_pivot_root;
	o->no_new_keyring = pb->no_new_keyring;
	o->systemd_cgroup = pb->systemd_cgroup;
	o->io_uid = pb->io_uid;
	o->io_gid = pb->io_gid;
	containerd__runc__v1__options__free_unpacked(pb, NULL);
	return 0;
}

/*
 * The runtime options of a Create. Without a binary_name the environment's WHARF_SHIM_RUNTIME
 * (inherited from the supervisor, e.g. containerd's own environment) names the default runtime
 * binary; without that too the builtin driver runs.
 */
static int decode_options(const Google__Protobuf__Any *any, struct runtime_opts *o,
			  struct wh_err **err)
{
	int r = decode_runc_options(any, o, err);
	const char *def = secure_getenv("WHARF_SHIM_RUNTIME");
	if (r >= 0 && !o->binary_name && def && *def && !streq(def, "builtin"))
		o->binary_name = xstrdup(def);
	return r;
}

/* bundle/options.json (Go JSON of the Options, omitempty) and bundle/runtime, for `delete`. */
static void write_bundle_options(const char *bundle, const struct runtime_opts *o)
{
	yajl_gen g = json_gen_new(false);
	yajl_gen_map_open(g);
	if (o->no_pivot_root)
		json_gen_kv_bool(g, "NoPivotRoot", true);
	if (o->no_new_keyring)
		json_gen_kv_bool(g, "NoNewKeyring", true);
	if (o->shim_cgroup)
		json_gen_kv_str(g, "ShimCgroup", o->shim_cgroup);
	if (o->io_uid)
		json_gen_kv_int(g, "IoUid", o->io_uid);
	if (o->io_gid)
		json_gen_kv_int(g, "IoGid", o->io_gid);
	if (o->binary_name)
		json_gen_kv_str(g, "BinaryName", o->binary_name);
	if (o->root)
		json_gen_kv_str(g, "Root", o->root);
	if (o->criu_path)
		json_gen_kv_str(g, "CriuPath", o->criu_path);
	if (o->systemd_cgroup)
		json_gen_kv_bool(g, "SystemdCgroup", true);
	yajl_gen_map_close(g);
	size_t len;
	cleanup_free char *json = json_gen_finish(g, &len);
	cleanup_free char *p1 = path_join(bundle, "options.json");
	cleanup_free char *p2 = path_join(bundle, "runtime");
	const char *bin = nz(o->binary_name);
	if (write_file_atomic(p1, json, len, 0600) < 0 ||
	    write_file_atomic(p2, bin, strlen(bin), 0600) < 0)
		log_warn("write options to bundle '%s' failed, ignoring", bundle);
}

/* ---- handlers ---- */

static int h_create(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(CreateTaskRequest) *rq = (const void *)m;
	trace("create", rq->id, NULL);
	cleanup_err struct wh_err *err = NULL;
	if (*nz(rq->checkpoint))
		return reply_err(
			call, "create",
			wh_err_setx(&err, EOPNOTSUPP,
				    "restore from a checkpoint is not supported by the wharf shim"),
			err);
	struct task_create_req cr = {.id = rq->id, .bundle = rq->bundle};
	cr.io = (struct stdio_cfg){
		.in = rq->stdin, .out = rq->stdout, .err = rq->stderr, .terminal = rq->terminal};
	int r = decode_options(rq->options, &cr.opts, &err);
	if (r < 0)
		return reply_err(call, "create", r, err);
	struct shim_mount *mounts = xnew0(struct shim_mount, rq->n_rootfs + 1);
	for (size_t i = 0; i < rq->n_rootfs; i++)
		mounts[i] = (struct shim_mount){rq->rootfs[i]->type, rq->rootfs[i]->source,
						rq->rootfs[i]->target, rq->rootfs[i]->options,
						rq->rootfs[i]->n_options};
	cr.mounts = mounts;
	cr.n_mounts = rq->n_rootfs;
	struct container *c;
	r = task_create(s, &cr, &c, &err);
	free(mounts);
	if (r >= 0)
		write_bundle_options(c->bundle, &cr.opts);
	runtime_opts_release(&cr.opts);
	if (r < 0)
		return reply_err(call, "create", r, err);
	E(TaskIO) io = CONTAINERD__EVENTS__TASK_IO__INIT;
	io.stdin = rq->stdin;
	io.stdout = rq->stdout;
	io.stderr = rq->stderr;
	io.terminal = rq->terminal;
	E(TaskCreate) ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
	ev.container_id = c->id;
	ev.bundle = c->bundle;
	ev.n_rootfs = rq->n_rootfs;
	ev.rootfs = rq->rootfs;
	ev.io = &io;
	ev.checkpoint = rq->checkpoint;
	ev.pid = (uint32_t)c->init->pid;
	publish(s, "/tasks/create", &ev.base);
	T(CreateTaskResponse) resp = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
	resp.pid = (uint32_t)c->init->pid;
	return ttrpc_call_reply(call, &resp.base);
}

static int h_start(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(StartRequest) *rq = (const void *)m;
	trace("start", rq->id, rq->exec_id);
	cleanup_err struct wh_err *err = NULL;
	struct proc *p;
	int r = task_start(s, rq->id, rq->exec_id, &p, &err);
	if (r < 0)
		return reply_err(call, "start", r, err);
	if (p->exec_id) {
		E(TaskExecStarted) ev = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
		ev.container_id = p->c->id;
		ev.exec_id = p->exec_id;
		ev.pid = (uint32_t)p->pid;
		publish(s, "/tasks/exec-started", &ev.base);
	} else {
		E(TaskStart) ev = CONTAINERD__EVENTS__TASK_START__INIT;
		ev.container_id = p->c->id;
		ev.pid = (uint32_t)p->pid;
		publish(s, "/tasks/start", &ev.base);
	}
	T(StartResponse) resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
	resp.pid = (uint32_t)p->pid;
	task_started(p);
	return ttrpc_call_reply(call, &resp.base);
}

static int h_delete(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(DeleteRequest) *rq = (const void *)m;
	trace("delete", rq->id, rq->exec_id);
	cleanup_err struct wh_err *err = NULL;
	struct task_exit ex;
	cleanup_free char *id = xstrdup(nz(rq->id));
	bool init = !rq->exec_id || !*rq->exec_id;
	int r = task_delete(s, rq->id, rq->exec_id, &ex, &err);
	if (r < 0)
		return reply_err(call, "delete", r, err);
	struct ts t1, t2;
	if (init) {
		E(TaskDelete) ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
		ev.container_id = id;
		ev.pid = (uint32_t)ex.pid;
		ev.exit_status = (uint32_t)ex.exit_status;
		ev.exited_at = ts_set(&t1, ex.exited_ns);
		publish(s, "/tasks/delete", &ev.base);
	}
	T(DeleteResponse) resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	resp.pid = (uint32_t)ex.pid;
	resp.exit_status = (uint32_t)ex.exit_status;
	resp.exited_at = ts_set(&t2, ex.exited_ns);
	return ttrpc_call_reply(call, &resp.base);
}

static int h_state(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(StateRequest) *rq = (const void *)m;
	trace("state", rq->id, rq->exec_id);
	cleanup_err struct wh_err *err = NULL;
	struct container *c;
	struct proc *p;
	int r = task_lookup(s, rq->id, rq->exec_id, &c, &p, &err);
	if (r < 0)
		return reply_err(call, "state", r, err);
	struct ts t;
	T(StateResponse) resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
	resp.id = p->exec_id ? p->exec_id : c->id;
	resp.bundle = c->bundle;
	resp.pid = (uint32_t)p->pid;
	resp.status = (Containerd__V1__Types__Status)p->status;
	resp.stdin = p->io_cfg.in;
	resp.stdout = p->io_cfg.out;
	resp.stderr = p->io_cfg.err;
	resp.terminal = p->io_cfg.terminal;
	resp.exit_status = (uint32_t)p->exit_status;
	resp.exited_at = ts_set(&t, p->status == PROC_STOPPED ? p->exited_ns : 0);
	return ttrpc_call_reply(call, &resp.base);
}

static int h_pids(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(PidsRequest) *rq = (const void *)m;
	trace("pids", rq->id, NULL);
	cleanup_err struct wh_err *err = NULL;
	cleanup_free pid_t *pids = NULL;
	size_t n = 0;
	int r = task_pids(s, rq->id, &pids, &n, &err);
	if (r < 0)
		return reply_err(call, "pids", r, err);
	struct container *c = shim_find(s, rq->id);
	Containerd__V1__Types__ProcessInfo *infos =
		xnew0(Containerd__V1__Types__ProcessInfo, n + 1);
	Containerd__V1__Types__ProcessInfo **ptrs =
		xnew0(Containerd__V1__Types__ProcessInfo *, n + 1);
	Containerd__Runc__V1__ProcessDetails *details =
		xnew0(Containerd__Runc__V1__ProcessDetails, n + 1);
	Google__Protobuf__Any *anys = xnew0(Google__Protobuf__Any, n + 1);
	uint8_t **bufs = xnew0(uint8_t *, n + 1);
	for (size_t i = 0; i < n; i++) {
		infos[i] = (Containerd__V1__Types__ProcessInfo)
			CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
		infos[i].pid = (uint32_t)pids[i];
		ptrs[i] = &infos[i];
		for (size_t j = 0; c && j < c->n_execs; j++) {
			if (c->execs[j]->pid != pids[i] || c->execs[j]->exited)
				continue;
			details[i] = (Containerd__Runc__V1__ProcessDetails)
				CONTAINERD__RUNC__V1__PROCESS_DETAILS__INIT;
			details[i].exec_id = c->execs[j]->exec_id;
			anys[i] = (Google__Protobuf__Any)GOOGLE__PROTOBUF__ANY__INIT;
			anys[i].type_url = (char *)"containerd.runc.v1.ProcessDetails";
			anys[i].value.len = protobuf_c_message_get_packed_size(&details[i].base);
			bufs[i] = xmalloc(anys[i].value.len + 1);
			protobuf_c_message_pack(&details[i].base, bufs[i]);
			anys[i].value.data = bufs[i];
			infos[i].info = &anys[i];
		}
	}
	T(PidsResponse) resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
	resp.n_processes = n;
	resp.processes = ptrs;
	r = ttrpc_call_reply(call, &resp.base);
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(anys);
	free(details);
	free(ptrs);
	free(infos);
	return r;
}

static int reply_empty(struct ttrpc_call *call)
{
	Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
	return ttrpc_call_reply(call, &e.base);
}

static int h_pause(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(PauseRequest) *rq = (const void *)m;
	trace("pause", rq->id, NULL);
	cleanup_err struct wh_err *err = NULL;
	int r = task_pause(s, rq->id, true, &err);
	if (r < 0)
		return reply_err(call, "pause", r, err);
	E(TaskPaused) ev = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
	ev.container_id = rq->id;
	publish(s, "/tasks/paused", &ev.base);
	return reply_empty(call);
}

static int h_resume(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(ResumeRequest) *rq = (const void *)m;
	trace("resume", rq->id, NULL);
	cleanup_err struct wh_err *err = NULL;
	int r = task_pause(s, rq->id, false, &err);
	if (r < 0)
		return reply_err(call, "resume", r, err);
	E(TaskResumed) ev = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
	ev.container_id = rq->id;
	publish(s, "/tasks/resumed", &ev.base);
	return reply_empty(call);
}

static int h_checkpoint(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(CheckpointTaskRequest) *rq = (const void *)m;
	trace("checkpoint", rq->id, NULL);
	cleanup_err struct wh_err *err = NULL;
	int r = task_lookup(s, rq->id, NULL, NULL, NULL, &err);
	if (r >= 0)
		r = wh_err_setx(&err, EOPNOTSUPP,
				"checkpoint is not supported by the wharf shim (no CRIU support)");
	return reply_err(call, "checkpoint", r, err);
}

static int h_kill(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(KillRequest) *rq = (const void *)m;
	trace("kill", rq->id, rq->exec_id);
	cleanup_err struct wh_err *err = NULL;
	int r = task_kill(s, rq->id, rq->exec_id, (int)rq->signal, rq->all, &err);
	if (r < 0)
		return reply_err(call, "kill", r, err);
	return reply_empty(call);
}

static int h_exec(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(ExecProcessRequest) *rq = (const void *)m;
	trace("exec", rq->id, rq->exec_id);
	cleanup_err struct wh_err *err = NULL;
	struct task_exec_req er = {.id = rq->id, .exec_id = rq->exec_id};
	er.io = (struct stdio_cfg){
		.in = rq->stdin, .out = rq->stdout, .err = rq->stderr, .terminal = rq->terminal};
	if (rq->spec) {
		er.spec = (const char *)rq->spec->value.data;
		er.spec_len = rq->spec->value.len;
		if (!er.spec)
			er.spec = "";
	}
	int r = task_exec(s, &er, &err);
	if (r < 0)
		return reply_err(call, "exec", r, err);
	E(TaskExecAdded) ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
	ev.container_id = rq->id;
	ev.exec_id = rq->exec_id;
	publish(s, "/tasks/exec-added", &ev.base);
	return reply_empty(call);
}

static int h_resize(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(ResizePtyRequest) *rq = (const void *)m;
	trace("resize", rq->id, rq->exec_id);
	cleanup_err struct wh_err *err = NULL;
	int r = task_resize(s, rq->id, rq->exec_id, rq->width, rq->height, &err);
	if (r < 0)
		return reply_err(call, "resize", r, err);
	return reply_empty(call);
}

static int h_close_io(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(CloseIORequest) *rq = (const void *)m;
	trace("close_io", rq->id, rq->exec_id);
	cleanup_err struct wh_err *err = NULL;
	int r = rq->stdin ? task_close_io(s, rq->id, rq->exec_id, &err)
			  : task_lookup(s, rq->id, rq->exec_id, NULL, NULL, &err);
	if (r < 0)
		return reply_err(call, "closeio", r, err);
	return reply_empty(call);
}

static int h_update(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(UpdateTaskRequest) *rq = (const void *)m;
	trace("update", rq->id, NULL);
	cleanup_err struct wh_err *err = NULL;
	int r;
	if (!rq->resources || !rq->resources->value.data)
		r = wh_err_setx(&err, EINVAL, "update: resources are missing");
	else
		r = task_update(s, rq->id, (const char *)rq->resources->value.data,
				rq->resources->value.len, &err);
	if (r < 0)
		return reply_err(call, "update", r, err);
	return reply_empty(call);
}

static void wait_done(struct proc *p, void *ud)
{
	struct ttrpc_call *call = ud;
	struct ts t;
	T(WaitResponse) resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
	resp.exit_status = (uint32_t)p->exit_status;
	resp.exited_at = ts_set(&t, p->exited_ns);
	ttrpc_call_reply(call, &resp.base);
}

static int h_wait(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(WaitRequest) *rq = (const void *)m;
	trace("wait", rq->id, rq->exec_id);
	cleanup_err struct wh_err *err = NULL;
	struct proc *p;
	int r = task_lookup(s, rq->id, rq->exec_id, NULL, &p, &err);
	if (r < 0)
		return reply_err(call, "wait", r, err);
	if (p->status == PROC_STOPPED) {
		wait_done(p, call);
		return 0;
	}
	proc_add_waiter(p, wait_done, call);
	return 0;
}

static int h_stats(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(StatsRequest) *rq = (const void *)m;
	trace("stats", rq->id, NULL);
	cleanup_err struct wh_err *err = NULL;
	struct container *c;
	int r = task_lookup(s, rq->id, NULL, &c, NULL, &err);
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	if (r >= 0)
		r = shim_stats(c, &any, &err);
	if (r < 0)
		return reply_err(call, "stats", r, err);
	T(StatsResponse) resp = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
	resp.stats = &any;
	r = ttrpc_call_reply(call, &resp.base);
	free(any.value.data);
	return r;
}

static int h_connect(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	const T(ConnectRequest) *rq = (const void *)m;
	trace("connect", rq->id, NULL);
	struct container *c = shim_find(s, nz(rq->id));
	T(ConnectResponse) resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	resp.shim_pid = (uint32_t)getpid();
	resp.task_pid = c && c->init ? (uint32_t)c->init->pid : 0;
	resp.version = (char *)"";
	return ttrpc_call_reply(call, &resp.base);
}

static int h_shutdown(struct ttrpc_call *call, const ProtobufCMessage *m, void *ud)
{
	struct shim *s = ud;
	int r = reply_empty(call);
	if (!s->containers)
		shim_request_exit(s);
	return r;
}

static const struct ttrpc_method methods[] = {
	{"State", h_state},	  {"Create", h_create},
	{"Start", h_start},	  {"Delete", h_delete},
	{"Pids", h_pids},	  {"Pause", h_pause},
	{"Resume", h_resume},	  {"Checkpoint", h_checkpoint},
	{"Kill", h_kill},	  {"Exec", h_exec},
	{"ResizePty", h_resize},  {"CloseIO", h_close_io},
	{"Update", h_update},	  {"Wait", h_wait},
	{"Stats", h_stats},	  {"Connect", h_connect},
	{"Shutdown", h_shutdown}, {NULL, NULL},
};

int service_register(struct shim *s, struct ttrpc_server *srv, struct wh_err **err)
{
	s->hooks.proc_exited = on_proc_exited;
	s->hooks.oom = on_oom;
	return ttrpc_server_register(srv, &containerd__task__v2__task__descriptor, methods, s, err);
}

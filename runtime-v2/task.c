/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The containerd.task.v2.Task client (PROTOCOLS.md §3): one async call for every method, checked
 * against the method's request type, and sync conveniences for tests and the CLI.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime-v2/internal.h"

#define TIMEOUT_CALL (60ull * 1000000000ull)
#define TIMEOUT_CONNECT (5ull * 1000000000ull)

struct method_info {
	const char *name;
	const ProtobufCMessageDescriptor *req, *resp;
};

#define M(n, rq, rs)                                             \
	{                                                        \
		n, &containerd__task__v2__##rq##__descriptor, rs \
	}
#define EMPTY (&google__protobuf__empty__descriptor)
#define R(rs) (&containerd__task__v2__##rs##__descriptor)

static const struct method_info methods[_RT_METHOD_MAX] = {
	[RT_STATE] = M("State", state_request, R(state_response)),
	[RT_CREATE] = M("Create", create_task_request, R(create_task_response)),
	[RT_START] = M("Start", start_request, R(start_response)),
	[RT_DELETE] = M("Delete", delete_request, R(delete_response)),
	[RT_PIDS] = M("Pids", pids_request, R(pids_response)),
	[RT_PAUSE] = M("Pause", pause_request, EMPTY),
	[RT_RESUME] = M("Resume", resume_request, EMPTY),
	[RT_CHECKPOINT] = M("Checkpoint", checkpoint_task_request, EMPTY),
	[RT_KILL] = M("Kill", kill_request, EMPTY),
	[RT_EXEC] = M("Exec", exec_process_request, EMPTY),
	[RT_RESIZE_PTY] = M("ResizePty", resize_pty_request, EMPTY),
	[RT_CLOSE_IO] = M("CloseIO", close_iorequest, EMPTY),
	[RT_UPDATE] = M("Update", update_task_request, EMPTY),
	[RT_WAIT] = M("Wait", wait_request, R(wait_response)),
	[RT_STATS] = M("Stats", stats_request, R(stats_response)),
	[RT_CONNECT] = M("Connect", connect_request, R(connect_response)),
	[RT_SHUTDOWN] = M("Shutdown", shutdown_request, EMPTY),
};

const char *rt_method_name(enum rt_method m)
{
	return (unsigned)m < _RT_METHOD_MAX ? methods[m].name : "?";
}

static int check_method(enum rt_method m, const ProtobufCMessage *req, struct wh_err **err)
{
	if ((unsigned)m >= _RT_METHOD_MAX)
		return wh_err_setx(err, EINVAL, "unknown task method %d", (int)m);
	if (!req || req->descriptor != methods[m].req)
		return wh_err_setx(err, EINVAL, "task %s: request is not a %s", methods[m].name,
				   methods[m].req->name);
	return 0;
}

static void call_opts(struct rt_shim *s, uint64_t timeout_ns, const char *md[3],
		      struct ttrpc_call_opts *o)
{
	md[0] = "containerd-namespace-ttrpc";
	md[1] = s->ns;
	md[2] = NULL;
	o->timeout_ns = timeout_ns;
	o->metadata = md;
}

int rt_task_call_async(struct rt_shim *s, enum rt_method m, const ProtobufCMessage *req,
		       uint64_t timeout_ns, ttrpc_reply_fn *cb, void *userdata, struct wh_err **err)
{
	struct ttrpc_call_opts o;
	const char *md[3];
	int r = check_method(m, req, err);

	if (r < 0)
		return r;
	if (!s->client)
		return wh_err_setx(err, ENOTCONN, "task '%s': not connected to its shim", s->id);
	call_opts(s, timeout_ns, md, &o);
	r = ttrpc_client_call_async(s->client, RT_TASK_SERVICE, methods[m].name, req,
				    methods[m].resp, &o, cb, userdata, err);
	if (r < 0)
		return wh_err_wrap(err, r, "task '%s' %s", s->id, methods[m].name);
	return r;
}

int rt_task_call(struct rt_shim *s, enum rt_method m, const ProtobufCMessage *req,
		 uint64_t timeout_ns, ProtobufCMessage **ret_resp, struct wh_err **err)
{
	ProtobufCMessage *resp = NULL;
	struct ttrpc_call_opts o;
	const char *md[3];
	int r = check_method(m, req, err);

	if (r < 0)
		return r;
	if (!s->client)
		return wh_err_setx(err, ENOTCONN, "task '%s': not connected to its shim", s->id);
	call_opts(s, timeout_ns, md, &o);
	r = ttrpc_client_call(s->client, RT_TASK_SERVICE, methods[m].name, req, methods[m].resp, &o,
			      &resp, err);
	if (r < 0)
		return wh_err_wrap(err, r, "task '%s' %s", s->id, methods[m].name);
	if (ret_resp)
		*ret_resp = resp;
	else if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

static char *opt(const char *s)
{
	return (char *)(s ? s : "");
}

static int64_t ts_ns(const Google__Protobuf__Timestamp *t)
{
	/* Go sends 0001-01-01 (negative seconds) for "unset" (§1.8). */
	if (!t || t->seconds <= 0)
		return 0;
	return t->seconds * 1000000000ll + t->nanos;
}

int rt_task_create(struct rt_shim *s, const struct rt_stdio *io, const Google__Protobuf__Any *opts,
		   uint32_t *ret_pid, struct wh_err **err)
{
	Containerd__Task__V2__CreateTaskRequest req =
		CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int r;

	req.id = s->id;
	req.bundle = s->bundle;
	if (io) {
		req.stdin = opt(io->in);
		req.stdout = opt(io->out);
		req.stderr = opt(io->err);
		req.terminal = io->terminal;
	}
	req.options = (Google__Protobuf__Any *)opts;
	r = rt_task_call(s, RT_CREATE, &req.base, TIMEOUT_CALL, &m, err);
	if (r < 0)
		return r;
	if (ret_pid)
		*ret_pid = ((Containerd__Task__V2__CreateTaskResponse *)m)->pid;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int rt_task_start(struct rt_shim *s, const char *exec_id, uint32_t *ret_pid, struct wh_err **err)
{
	Containerd__Task__V2__StartRequest req = CONTAINERD__TASK__V2__START_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int r;

	req.id = s->id;
	req.exec_id = opt(exec_id);
	r = rt_task_call(s, RT_START, &req.base, TIMEOUT_CALL, &m, err);
	if (r < 0)
		return r;
	if (ret_pid)
		*ret_pid = ((Containerd__Task__V2__StartResponse *)m)->pid;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int rt_task_state(struct rt_shim *s, const char *exec_id, Containerd__Task__V2__StateResponse **ret,
		  struct wh_err **err)
{
	Containerd__Task__V2__StateRequest req = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;

	req.id = s->id;
	req.exec_id = opt(exec_id);
	return rt_task_call(s, RT_STATE, &req.base, TIMEOUT_CONNECT, (ProtobufCMessage **)ret, err);
}

int rt_task_kill(struct rt_shim *s, const char *exec_id, uint32_t signal, bool all,
		 struct wh_err **err)
{
	Containerd__Task__V2__KillRequest req = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;

	req.id = s->id;
	req.exec_id = opt(exec_id);
	req.signal = signal;
	req.all = all;
	return rt_task_call(s, RT_KILL, &req.base, TIMEOUT_CALL, NULL, err);
}

int rt_task_wait(struct rt_shim *s, const char *exec_id, uint64_t timeout_ns, uint32_t *ret_status,
		 int64_t *ret_exited_at_ns, struct wh_err **err)
{
	Containerd__Task__V2__WaitRequest req = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
	Containerd__Task__V2__WaitResponse *w;
	ProtobufCMessage *m = NULL;
	int r;

	req.id = s->id;
	req.exec_id = opt(exec_id);
	r = rt_task_call(s, RT_WAIT, &req.base, timeout_ns, &m, err);
	if (r < 0)
		return r;
	w = (void *)m;
	if (ret_status)
		*ret_status = w->exit_status;
	if (ret_exited_at_ns)
		*ret_exited_at_ns = ts_ns(w->exited_at);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int rt_task_delete(struct rt_shim *s, const char *exec_id, struct rt_delete_result *ret,
		   struct wh_err **err)
{
	Containerd__Task__V2__DeleteRequest req = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
	Containerd__Task__V2__DeleteResponse *d;
	ProtobufCMessage *m = NULL;
	int r;

	req.id = s->id;
	req.exec_id = opt(exec_id);
	r = rt_task_call(s, RT_DELETE, &req.base, TIMEOUT_CALL, &m, err);
	if (r < 0)
		return r;
	d = (void *)m;
	if (ret)
		*ret = (struct rt_delete_result){d->pid, d->exit_status, ts_ns(d->exited_at)};
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int rt_task_exec(struct rt_shim *s, const char *exec_id, const struct rt_stdio *io,
		 const char *process_json, struct wh_err **err)
{
	Containerd__Task__V2__ExecProcessRequest req =
		CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
	Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;

	if (!exec_id || !*exec_id || !process_json)
		return wh_err_setx(err, EINVAL, "task '%s' exec: exec id and process are required",
				   s->id);
	req.id = s->id;
	req.exec_id = (char *)exec_id;
	if (io) {
		req.stdin = opt(io->in);
		req.stdout = opt(io->out);
		req.stderr = opt(io->err);
		req.terminal = io->terminal;
	}
	/* Always send the spec: the 1.6 runc shim dies on an Exec without one (§3.2). */
	spec.type_url = (char *)"types.containerd.io/opencontainers/runtime-spec/1/Process";
	spec.value.data = (uint8_t *)process_json;
	spec.value.len = strlen(process_json);
	req.spec = &spec;
	return rt_task_call(s, RT_EXEC, &req.base, TIMEOUT_CALL, NULL, err);
}

int rt_task_pids(struct rt_shim *s, uint32_t **ret_pids, size_t *ret_n, struct wh_err **err)
{
	Containerd__Task__V2__PidsRequest req = CONTAINERD__TASK__V2__PIDS_REQUEST__INIT;
	Containerd__Task__V2__PidsResponse *p;
	ProtobufCMessage *m = NULL;
	uint32_t *v;
	int r;

	req.id = s->id;
	r = rt_task_call(s, RT_PIDS, &req.base, TIMEOUT_CALL, &m, err);
	if (r < 0)
		return r;
	p = (void *)m;
	v = xcalloc(p->n_processes + 1, sizeof(*v));
	for (size_t i = 0; i < p->n_processes; i++)
		v[i] = p->processes[i]->pid;
	*ret_n = p->n_processes;
	*ret_pids = v;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int rt_task_pause(struct rt_shim *s, struct wh_err **err)
{
	Containerd__Task__V2__PauseRequest req = CONTAINERD__TASK__V2__PAUSE_REQUEST__INIT;

	req.id = s->id;
	return rt_task_call(s, RT_PAUSE, &req.base, TIMEOUT_CALL, NULL, err);
}

int rt_task_resume(struct rt_shim *s, struct wh_err **err)
{
	Containerd__Task__V2__ResumeRequest req = CONTAINERD__TASK__V2__RESUME_REQUEST__INIT;

	req.id = s->id;
	return rt_task_call(s, RT_RESUME, &req.base, TIMEOUT_CALL, NULL, err);
}

int rt_task_close_io(struct rt_shim *s, const char *exec_id, struct wh_err **err)
{
	Containerd__Task__V2__CloseIORequest req = CONTAINERD__TASK__V2__CLOSE_IOREQUEST__INIT;

	req.id = s->id;
	req.exec_id = opt(exec_id);
	req.stdin = true;
	return rt_task_call(s, RT_CLOSE_IO, &req.base, TIMEOUT_CALL, NULL, err);
}

int rt_task_resize_pty(struct rt_shim *s, const char *exec_id, uint32_t width, uint32_t height,
		       struct wh_err **err)
{
	Containerd__Task__V2__ResizePtyRequest req = CONTAINERD__TASK__V2__RESIZE_PTY_REQUEST__INIT;

	req.id = s->id;
	req.exec_id = opt(exec_id);
	req.width = width;
	req.height = height;
	return rt_task_call(s, RT_RESIZE_PTY, &req.base, TIMEOUT_CALL, NULL, err);
}

int rt_task_update(struct rt_shim *s, const char *resources_json, struct wh_err **err)
{
	Containerd__Task__V2__UpdateTaskRequest req =
		CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__INIT;
	Google__Protobuf__Any res = GOOGLE__PROTOBUF__ANY__INIT;

	req.id = s->id;
	res.type_url = (char *)"types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
	res.value.data = (uint8_t *)resources_json;
	res.value.len = strlen(resources_json);
	req.resources = &res;
	return rt_task_call(s, RT_UPDATE, &req.base, TIMEOUT_CALL, NULL, err);
}

int rt_task_stats(struct rt_shim *s, Google__Protobuf__Any **ret, struct wh_err **err)
{
	Containerd__Task__V2__StatsRequest req = CONTAINERD__TASK__V2__STATS_REQUEST__INIT;
	Containerd__Task__V2__StatsResponse *st;
	ProtobufCMessage *m = NULL;
	int r;

	req.id = s->id;
	r = rt_task_call(s, RT_STATS, &req.base, TIMEOUT_CALL, &m, err);
	if (r < 0)
		return r;
	st = (void *)m;
	if (!st->stats) {
		protobuf_c_message_free_unpacked(m, NULL);
		return wh_err_setx(err, EPROTO, "task '%s' Stats: the shim sent no metrics", s->id);
	}
	*ret = TAKE_PTR(st->stats);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int rt_task_connect(struct rt_shim *s, uint32_t *ret_shim_pid, uint32_t *ret_task_pid,
		    struct wh_err **err)
{
	Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
	Containerd__Task__V2__ConnectResponse *c;
	ProtobufCMessage *m = NULL;
	int r;

	req.id = s->id;
	r = rt_task_call(s, RT_CONNECT, &req.base, TIMEOUT_CONNECT, &m, err);
	if (r < 0)
		return r;
	c = (void *)m;
	if (ret_shim_pid)
		*ret_shim_pid = c->shim_pid;
	if (ret_task_pid)
		*ret_task_pid = c->task_pid;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

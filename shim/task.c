/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The task layer: containers and their processes (init plus execs) with the state table
 * created -> running <-> paused -> stopped -> deleted, the rules and error codes of the runc shim
 * (PROTOCOLS.md 3.2), exit collection with the stdio drain, and the calls into the runtime
 * driver. It knows nothing of protobuf or ttrpc; service.c translates.
 */
#include "shim/task.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/stat.h>

#include "shim/internal.h"

#define DRAIN_TIMEOUT_NS (2ULL * 1000000000ULL)

const char *proc_status_name(enum proc_status s)
{
	switch (s) {
	case PROC_CREATED:
		return "created";
	case PROC_RUNNING:
		return "running";
	case PROC_STOPPED:
		return "stopped";
	case PROC_PAUSED:
		return "paused";
	case PROC_PAUSING:
		return "pausing";
	default:
		return "unknown";
	}
}

struct container *shim_find(struct shim *s, const char *id)
{
	for (struct container *c = s->containers; c; c = c->next)
		if (streq(c->id, id))
			return c;
	return NULL;
}

struct proc *container_find_proc(struct container *c, const char *exec_id)
{
	if (!exec_id || !*exec_id)
		return c->init;
	for (size_t i = 0; i < c->n_execs; i++)
		if (streq(c->execs[i]->exec_id, exec_id))
			return c->execs[i];
	return NULL;
}

int task_lookup(struct shim *s, const char *id, const char *exec_id, struct container **ret_c,
		struct proc **ret_p, struct wh_err **err)
{
	struct container *c = shim_find(s, id ? id : "");
	if (!c || !c->init)
		return wh_err_setx(err, ENOENT, "container not created");
	struct proc *p = container_find_proc(c, exec_id);
	if (!p)
		return wh_err_setx(err, ENOENT, "process does not exist %s", exec_id);
	if (ret_c)
		*ret_c = c;
	if (ret_p)
		*ret_p = p;
	return 0;
}

void proc_add_waiter(struct proc *p, proc_exit_fn *fn, void *ud)
{
	struct proc_waiter *w = xnew0(struct proc_waiter, 1);
	w->fn = fn;
	w->ud = ud;
	w->next = p->waiters;
	p->waiters = w;
}

static void proc_fire_waiters(struct proc *p)
{
	struct proc_waiter *w = TAKE_PTR(p->waiters);
	while (w) {
		struct proc_waiter *next = w->next;
		w->fn(p, w->ud);
		free(w);
		w = next;
	}
}

void proc_free(struct proc *p)
{
	if (!p)
		return;
	/* Nobody may wait forever on a process that is gone. */
	if (p->status != PROC_STOPPED) {
		p->status = PROC_STOPPED;
		if (!p->exited) {
			p->exit_status = 255;
			p->exited_ns = now_real_ns();
		}
	}
	proc_fire_waiters(p);
	ev_source_disable_unref(p->drain_timer);
	proc_io_free(p->io);
	stdio_cfg_release(&p->io_cfg);
	free(p->exec_id);
	free(p->spec);
	free(p);
}

struct container *container_free(struct container *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_execs; i++)
		proc_free(c->execs[i]);
	free(c->execs);
	proc_free(c->init);
	oom_watch_free(c->oom);
	runtime_free(c->rt);
	free(c->cgroup_path);
	free(c->id);
	free(c->bundle);
	free(c);
	return NULL;
}

static void shim_unlink(struct shim *s, struct container *c)
{
	for (struct container **pp = &s->containers; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

/* ---- exits ---- */

static void proc_finalize(struct proc *p)
{
	if (p->status == PROC_STOPPED)
		return;
	p->drain_timer = ev_source_disable_unref(p->drain_timer);
	p->status = PROC_STOPPED;
	struct shim *s = p->c->shim;
	if (s->hooks.proc_exited)
		s->hooks.proc_exited(p);
	proc_fire_waiters(p);
}

static void on_drained(void *ud)
{
	proc_finalize(ud);
}

static int on_drain_timeout(struct ev_source *src, uint64_t now, void *ud)
{
	struct proc *p = ud;
	log_warn("%s %s: output still open %llus after exit, reporting the exit anyway", p->c->id,
		 p->exec_id ? p->exec_id : "init",
		 (unsigned long long)(DRAIN_TIMEOUT_NS / 1000000000ULL));
	proc_finalize(p);
	return 0;
}

static void proc_exited(struct proc *p, int status)
{
	struct container *c = p->c;
	p->exited = true;
	p->exit_status = wait_status_to_exit(status);
	p->exited_ns = now_real_ns();
	if (!p->exec_id && c->host_pidns && c->rt) {
		/* Nothing else dies with the init without a private pid namespace. */
		cleanup_err struct wh_err *e = NULL;
		if (c->rt->ops->kill(c->rt, c, SIGKILL, true, &e) < 0)
			log_debug("%s: kill remaining processes: %s", c->id, wh_err_msg(e));
	}
	if (proc_io_drained(p->io)) {
		proc_finalize(p);
		return;
	}
	proc_io_on_drained(p->io, on_drained, p);
	ev_add_timer(c->shim->loop, &p->drain_timer, now_mono_ns() + DRAIN_TIMEOUT_NS,
		     on_drain_timeout, p);
}

static struct proc *find_by_pid(struct shim *s, pid_t pid)
{
	for (struct container *c = s->containers; c; c = c->next) {
		if (c->init && c->init->pid == pid && !c->init->exited)
			return c->init;
		for (size_t i = 0; i < c->n_execs; i++)
			if (c->execs[i]->pid == pid && !c->execs[i]->exited)
				return c->execs[i];
	}
	return NULL;
}

void shim_handle_exit(struct shim *s, pid_t pid, int status)
{
	struct proc *p = find_by_pid(s, pid);
	if (!p) {
		exits_park(pid, status);
		return;
	}
	proc_exited(p, status);
}

/* A process whose exit was reaped while its runtime call ran (not yet registered). */
static void proc_check_parked(struct proc *p, uint64_t since)
{
	int st;
	if (exits_take(p->pid, since, &st))
		proc_exited(p, st);
}

/* ---- cgroup of the init (stats, OOM) ---- */

static char *cgroup_of_pid(pid_t pid)
{
	cleanup_free char *path = xasprintf("/proc/%d/cgroup", (int)pid);
	cleanup_free char *text = NULL;
	if (read_file(path, 1 << 16, &text, NULL) < 0)
		return NULL;
	char *unified = NULL, *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = 0;
		const char *ctrls = c1 + 1;
		if (!*ctrls && !unified)
			unified = c2 + 1;
		/* v1: the memory controller's path names the container's cgroup. */
		for (const char *m = strstr(ctrls, "memory"); m; m = NULL)
			if ((m == ctrls || m[-1] == ',') && (m[6] == 0 || m[6] == ','))
				return xstrdup(c2 + 1);
	}
	return unified ? xstrdup(unified) : NULL;
}

/* ---- operations ---- */

/* Options io_uid/io_gid 0 means "leave the pipes as they are". */
static uid_t id_or_keep(uint32_t v)
{
	return v ? (uid_t)v : (uid_t)-1;
}

static int do_mounts(struct container *c, const struct task_create_req *rq, struct wh_err **err)
{
	if (rq->n_mounts == 0)
		return 0;
	cleanup_free char *rootfs = path_join(c->bundle, "rootfs");
	if (mkdir(rootfs, 0711) < 0 && errno != EEXIST)
		return wh_err_set(err, errno, "create '%s'", rootfs);
	int r = mount_rootfs(rq->mounts, rq->n_mounts, rootfs, err);
	if (r < 0)
		return r;
	c->rootfs_mounted = true;
	return 0;
}

static void undo_mounts(struct container *c)
{
	if (!c->rootfs_mounted)
		return;
	cleanup_free char *rootfs = path_join(c->bundle, "rootfs");
	cleanup_err struct wh_err *e = NULL;
	if (unmount_all(rootfs, &e) < 0)
		log_warn("%s: %s, ignoring", c->id, wh_err_msg(e));
	c->rootfs_mounted = false;
}

static bool spec_has_private_pidns(const char *bundle)
{
	cleanup_free char *path = path_join(bundle, "config.json");
	yajl_val v = NULL;
	if (json_parse_file(path, 64 << 20, &v, NULL) < 0)
		return true;
	bool priv = false;
	yajl_val ns = json_get(json_get(v, "linux"), "namespaces");
	for (size_t i = 0; YAJL_IS_ARRAY(ns) && i < ns->u.array.len; i++) {
		yajl_val e = ns->u.array.values[i];
		yajl_val t = json_get(e, "type"), p = json_get(e, "path");
		if (YAJL_IS_STRING(t) && streq(t->u.string, "pid"))
			priv = !(YAJL_IS_STRING(p) && *p->u.string);
	}
	yajl_tree_free(v);
	return priv;
}

int task_create(struct shim *s, const struct task_create_req *rq, struct container **ret,
		struct wh_err **err)
{
	if (!rq->id || !*rq->id)
		return wh_err_setx(err, EINVAL, "create: id is empty");
	if (!rq->bundle || !*rq->bundle)
		return wh_err_setx(err, EINVAL, "create '%s': bundle is empty", rq->id);
	if (shim_find(s, rq->id))
		return wh_err_setx(err, EEXIST, "container %s: already exists", rq->id);
	struct container *c = xnew0(struct container, 1);
	c->shim = s;
	c->id = xstrdup(rq->id);
	c->bundle = xstrdup(rq->bundle);
	c->host_pidns = !spec_has_private_pidns(rq->bundle);
	int r = runtime_new(&rq->opts, s->state_dir, s->ns, &c->rt, err);
	if (r >= 0)
		r = do_mounts(c, rq, err);
	struct proc *p = xnew0(struct proc, 1);
	p->c = c;
	p->io_cfg = (struct stdio_cfg){.in = xstrdup(rq->io.in ? rq->io.in : ""),
				       .out = xstrdup(rq->io.out ? rq->io.out : ""),
				       .err = xstrdup(rq->io.err ? rq->io.err : ""),
				       .terminal = rq->io.terminal};
	struct stdio_child child = {-EBADF, -EBADF, -EBADF, NULL, -EBADF};
	bool ext = c->rt && c->rt->ops != runtime_builtin_ops;
	p->io_cfg.id = c->id;
	p->io_cfg.ns = s->ns;
	if (r >= 0)
		r = proc_io_new(s->loop, &p->io_cfg, ext, id_or_keep(rq->opts.io_uid),
				id_or_keep(rq->opts.io_gid), &p->io, &child, err);
	uint64_t since = exits_mark();
	if (r >= 0)
		r = c->rt->ops->create(c->rt, c, &child, &p->pid, err);
	if (r >= 0) {
		c->init = p;
		p->status = PROC_CREATED;
		r = proc_io_started(p->io, &child, err);
		if (r < 0)
			c->rt->ops->delete (c->rt, c, true, NULL);
	}
	stdio_child_release(&child);
	if (r < 0) {
		c->init = NULL;
		proc_io_free(TAKE_PTR(p->io));
		proc_free(p);
		undo_mounts(c);
		container_free(c);
		return wh_err_wrap(err, r, "create '%s'", rq->id);
	}
	c->next = s->containers;
	s->containers = c;
	proc_check_parked(p, since);
	*ret = c;
	return 0;
}

static void oom_event(void *ud)
{
	struct container *c = ud;
	if (c->shim->hooks.oom)
		c->shim->hooks.oom(c);
}

int task_start(struct shim *s, const char *id, const char *exec_id, struct proc **ret,
	       struct wh_err **err)
{
	struct container *c = NULL;
	struct proc *p = NULL;
	int r = task_lookup(s, id, exec_id, &c, &p, err);
	if (r < 0)
		return r;
	if (p->status != PROC_CREATED)
		return wh_err_setx(err, EBUSY, "cannot start a %s process",
				   proc_status_name(p->status));
	if (!p->exec_id) {
		if ((r = c->rt->ops->start(c->rt, c, err)) < 0)
			return r;
		p->status = PROC_RUNNING;
		if (!c->cgroup_path)
			c->cgroup_path = cgroup_of_pid(p->pid);
		cleanup_err struct wh_err *e = NULL;
		if (c->cgroup_path &&
		    oom_watch_new(s->loop, c->cgroup_path, oom_event, c, &c->oom, &e) < 0)
			log_warn("%s: OOM events unavailable: %s", c->id, wh_err_msg(e));
		*ret = p;
		return 0;
	}
	if (c->init->status != PROC_RUNNING && c->init->status != PROC_PAUSED)
		return wh_err_setx(err, EBUSY, "cannot exec in a %s container",
				   proc_status_name(c->init->status));
	struct stdio_child child;
	p->io_cfg.id = c->id;
	p->io_cfg.ns = s->ns;
	r = proc_io_new(s->loop, &p->io_cfg, c->rt->ops != runtime_builtin_ops,
			id_or_keep(c->rt->opts.io_uid), id_or_keep(c->rt->opts.io_gid), &p->io,
			&child, err);
	if (r < 0)
		return r;
	uint64_t since = exits_mark();
	r = c->rt->ops->exec(c->rt, c, p, &child, &p->pid, err);
	if (r >= 0)
		r = proc_io_started(p->io, &child, err);
	stdio_child_release(&child);
	if (r < 0) {
		p->io = proc_io_free(p->io);
		return r;
	}
	p->status = PROC_RUNNING;
	*ret = p;
	/* The caller publishes exec-started before the exit it may find here is reported. */
	p->parked_since = since;
	return 0;
}

void task_started(struct proc *p)
{
	if (p->exec_id)
		proc_check_parked(p, p->parked_since);
}

static void container_remove_exec(struct container *c, struct proc *p)
{
	for (size_t i = 0; i < c->n_execs; i++) {
		if (c->execs[i] == p) {
			memmove(&c->execs[i], &c->execs[i + 1],
				(c->n_execs - i - 1) * sizeof(c->execs[0]));
			c->n_execs--;
			break;
		}
	}
	proc_free(p);
}

int task_delete(struct shim *s, const char *id, const char *exec_id, struct task_exit *ret,
		struct wh_err **err)
{
	struct container *c = NULL;
	struct proc *p = NULL;
	int r = task_lookup(s, id, exec_id, &c, &p, err);
	if (r < 0)
		return r;
	if (p->status != PROC_STOPPED && p->status != PROC_CREATED)
		return wh_err_setx(err, SHIM_EUNKNOWN, "cannot delete a %s process",
				   p->status == PROC_PAUSED ? "paused" : "running");
	*ret = (struct task_exit){p->pid, p->exit_status, p->exited_ns};
	if (p->exec_id) {
		container_remove_exec(c, p);
		return 0;
	}
	r = c->rt->ops->delete (c->rt, c, p->status == PROC_CREATED, err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == -ENOENT && err)
		*err = wh_err_free(*err);
	undo_mounts(c);
	shim_unlink(s, c);
	container_free(c);
	return 0;
}

int task_exec(struct shim *s, const struct task_exec_req *rq, struct wh_err **err)
{
	struct container *c = NULL;
	int r = task_lookup(s, rq->id, NULL, &c, NULL, err);
	if (r < 0)
		return r;
	if (!rq->exec_id || !*rq->exec_id)
		return wh_err_setx(err, EINVAL, "exec: exec id is empty");
	if (container_find_proc(c, rq->exec_id))
		return wh_err_setx(err, EEXIST, "id %s: already exists", rq->exec_id);
	if (c->init->status == PROC_STOPPED)
		return wh_err_setx(err, EBUSY, "cannot exec in a stopped state");
	if (!rq->spec)
		return wh_err_setx(err, EINVAL, "exec '%s': spec is missing", rq->exec_id);
	/* The request's terminal flag wins over the spec's (as the runc shim does). */
	yajl_val v = NULL;
	r = json_parse(rq->spec, rq->spec_len, &v, err);
	if (r < 0)
		return wh_err_wrap(err, r, "exec '%s': spec", rq->exec_id);
	if (!YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		return wh_err_setx(err, EINVAL, "exec '%s': spec is not an object", rq->exec_id);
	}
	yajl_gen g = json_gen_new(false);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < v->u.object.len; i++) {
		if (streq(v->u.object.keys[i], "terminal"))
			continue;
		json_gen_str(g, v->u.object.keys[i]);
		json_gen_value(g, v->u.object.values[i]);
	}
	json_gen_kv_bool(g, "terminal", rq->io.terminal);
	yajl_gen_map_close(g);
	yajl_tree_free(v);
	struct proc *p = xnew0(struct proc, 1);
	p->c = c;
	p->exec_id = xstrdup(rq->exec_id);
	p->status = PROC_CREATED;
	p->spec = json_gen_finish(g, &p->spec_len);
	p->io_cfg = (struct stdio_cfg){.in = xstrdup(rq->io.in ? rq->io.in : ""),
				       .out = xstrdup(rq->io.out ? rq->io.out : ""),
				       .err = xstrdup(rq->io.err ? rq->io.err : ""),
				       .terminal = rq->io.terminal};
	xgrow((void **)&c->execs, &c->cap_execs, c->n_execs + 1, sizeof(c->execs[0]));
	c->execs[c->n_execs++] = p;
	return 0;
}

int task_kill(struct shim *s, const char *id, const char *exec_id, int sig, bool all,
	      struct wh_err **err)
{
	struct container *c = NULL;
	struct proc *p = NULL;
	int r = task_lookup(s, id, exec_id, &c, &p, err);
	if (r < 0)
		return r;
	if (sig <= 0 || sig >= _NSIG)
		return wh_err_setx(err, EINVAL, "kill: invalid signal %d", sig);
	if (p->exec_id) {
		if (p->status == PROC_CREATED)
			return wh_err_setx(err, EBUSY, "process not started");
		if (p->exited || p->status == PROC_STOPPED)
			return wh_err_setx(err, ENOENT, "process already finished");
		if (kill(p->pid, sig) < 0)
			return wh_err_set(err, errno, "kill %d", (int)p->pid);
		return 0;
	}
	if ((p->exited || p->status == PROC_STOPPED) && !all)
		return wh_err_setx(err, ENOENT, "process already finished");
	return c->rt->ops->kill(c->rt, c, sig, all, err);
}

int task_pause(struct shim *s, const char *id, bool pause, struct wh_err **err)
{
	struct container *c = NULL;
	struct proc *p = NULL;
	int r = task_lookup(s, id, NULL, &c, &p, err);
	if (r < 0)
		return r;
	enum proc_status want = pause ? PROC_RUNNING : PROC_PAUSED;
	if (p->status != want || p->exited)
		return wh_err_setx(err, EBUSY, "cannot %s a %s container",
				   pause ? "pause" : "resume", proc_status_name(p->status));
	r = pause ? c->rt->ops->pause(c->rt, c, err) : c->rt->ops->resume(c->rt, c, err);
	if (r < 0)
		return r;
	p->status = pause ? PROC_PAUSED : PROC_RUNNING;
	return 0;
}

int task_pids(struct shim *s, const char *id, pid_t **ret, size_t *ret_n, struct wh_err **err)
{
	struct container *c = NULL;
	int r = task_lookup(s, id, NULL, &c, NULL, err);
	if (r < 0)
		return r;
	return c->rt->ops->ps(c->rt, c, ret, ret_n, err);
}

int task_update(struct shim *s, const char *id, const char *json, size_t len, struct wh_err **err)
{
	struct container *c = NULL;
	struct proc *p = NULL;
	int r = task_lookup(s, id, NULL, &c, &p, err);
	if (r < 0)
		return r;
	if (p->status == PROC_STOPPED)
		return wh_err_setx(err, EBUSY, "cannot update a stopped container");
	return c->rt->ops->update(c->rt, c, json, len, err);
}

int task_close_io(struct shim *s, const char *id, const char *exec_id, struct wh_err **err)
{
	struct proc *p = NULL;
	int r = task_lookup(s, id, exec_id, NULL, &p, err);
	if (r < 0)
		return r;
	proc_io_close_stdin(p->io);
	return 0;
}

int task_resize(struct shim *s, const char *id, const char *exec_id, unsigned w, unsigned h,
		struct wh_err **err)
{
	struct proc *p = NULL;
	int r = task_lookup(s, id, exec_id, NULL, &p, err);
	if (r < 0)
		return r;
	return proc_io_resize(p->io, w, h, err);
}

bool shim_has_live_processes(struct shim *s)
{
	for (struct container *c = s->containers; c; c = c->next) {
		if (c->init && !c->init->exited && c->init->status != PROC_CREATED)
			return true;
		for (size_t i = 0; i < c->n_execs; i++)
			if (c->execs[i]->status == PROC_RUNNING && !c->execs[i]->exited)
				return true;
	}
	return false;
}

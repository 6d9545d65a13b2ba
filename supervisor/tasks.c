/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tasks service. Shims live on a runtime thread with its own event loop, because
 * runtime-v2's launch and its sync calls run their loop until the shim answers: the API loop
 * never blocks on a shim. A request is a job: prepared on the API thread (metadata: spec,
 * rootfs mounts, runtime), run on the runtime thread, answered back on the API thread. Wait is
 * asynchronous on the runtime loop. Shim events (Forward on <address>.ttrpc) go to the events bus;
 * a task's exit is recorded. On start, tasks of bundles left by an earlier wharfd are reconnected,
 * and dead ones cleaned with `shim delete` keeping their exit status until Delete.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include "common/log.h"
#include "common/util.h"
#include "metadata/metadata.h"
#include "proto/events/task.pb-c.h"
#include "proto/runc/options.pb-c.h"
#include "proto/services/tasks/v1/tasks.pb-c.h"
#include "snapshots/snapshots.h"
#include "supervisor/netsetup.h"
#include "supervisor/supervisor.h"
#include "supervisor/volumes.h"

#ifdef WHARF_HAVE_RUNTIME
#	include "runtime-v2/runtime.h"

#	define CALL_TIMEOUT_NS (30ull * 1000000000ull)

struct task {
	struct task *next;
	char *ns, *id;
	struct rt_shim *shim; /* NULL once the shim is gone */
	uint32_t pid;
	bool stopped; /* init exited (or the shim died) */
	uint32_t exit_status;
	int64_t exited_at_ns;
	bool deleting;
	bool cleaned; /* task_dead ran */
};

struct job;
typedef void job_fn(struct tasks *t, struct job *j);

struct job {
	struct job *next;
	job_fn *run;  /* runtime thread */
	job_fn *done; /* API thread; NULL: answer ctx with r/resp/e */
	struct svc_ctx *ctx;
	ProtobufCMessage *req; /* a copy of the request */
	int r;
	struct wh_err *e;
	ProtobufCMessage *resp;
	/* create */
	char *ns, *id, *runtime;
	void *spec;
	size_t spec_len;
	struct wh_mount_list mounts;
	Google__Protobuf__Any *options;
	struct net_plan *net; /* the container's network labels, or NULL */
	/* events */
	char *topic;
	uint64_t ts;
	Google__Protobuf__Any *event;
};

struct queue {
	pthread_mutex_t lock;
	struct job *head, **tail;
	int efd;
};

struct tasks {
	struct daemon *d;
	struct ev_loop *loop; /* the runtime thread's */
	struct rt_config cfg;
	struct rt_events *events;
	struct queue to_rt, to_api;
	struct ev_source *api_src;
	pthread_t thread;
	bool thread_started, running_jobs, quit;
	pthread_mutex_t table_lock;
	struct task *table;
};

static void queue_init(struct queue *q)
{
	pthread_mutex_init(&q->lock, NULL);
	q->head = NULL;
	q->tail = &q->head;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

static void queue_push(struct queue *q, struct job *j)
{
	uint64_t one = 1;

	j->next = NULL;
	pthread_mutex_lock(&q->lock);
	*q->tail = j;
	q->tail = &j->next;
	pthread_mutex_unlock(&q->lock);
	if (write(q->efd, &one, sizeof(one)) < 0)
		log_warn("tasks: eventfd write failed: %m");
}

static struct job *queue_pop(struct queue *q)
{
	struct job *j;

	pthread_mutex_lock(&q->lock);
	j = q->head;
	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = &q->head;
	}
	pthread_mutex_unlock(&q->lock);
	return j;
}

static void job_free(struct job *j)
{
	if (j->req)
		protobuf_c_message_free_unpacked(j->req, NULL);
	if (j->resp)
		protobuf_c_message_free_unpacked(j->resp, NULL);
	if (j->options)
		protobuf_c_message_free_unpacked(&j->options->base, NULL);
	if (j->event)
		protobuf_c_message_free_unpacked(&j->event->base, NULL);
	wh_err_free(j->e);
	wh_mount_list_done(&j->mounts);
	netsetup_plan_free(j->net);
	free(j->ns);
	free(j->id);
	free(j->runtime);
	free(j->spec);
	free(j->topic);
	free(j);
}

/* Back to the API thread. */
static void job_finish(struct tasks *t, struct job *j)
{
	queue_push(&t->to_api, j);
}

static int on_api_jobs(struct ev_source *s, int fd, uint32_t revents, void *userdata)
{
	struct tasks *t = userdata;
	uint64_t v;
	struct job *j;

	(void)s, (void)revents;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return 0;
	while ((j = queue_pop(&t->to_api))) {
		if (j->done)
			j->done(t, j);
		if (j->ctx) {
			svc_complete(j->ctx, j->r, TAKE_PTR(j->resp), TAKE_PTR(j->e));
			j->ctx = NULL;
		}
		job_free(j);
	}
	return 0;
}

static int on_rt_jobs(struct ev_source *s, int fd, uint32_t revents, void *userdata)
{
	struct tasks *t = userdata;
	uint64_t v;
	struct job *j;

	(void)s, (void)revents;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return 0;
	/* A job's sync shim call runs this loop again: never run jobs inside a job. */
	if (t->running_jobs)
		return 0;
	t->running_jobs = true;
	while ((j = queue_pop(&t->to_rt))) {
		if (!j->run) { /* the quit marker */
			t->quit = true;
			ev_loop_exit(t->loop, 0);
			job_free(j);
			continue;
		}
		j->run(t, j);
	}
	t->running_jobs = false;
	return 0;
}

/* ---- the task table (shared: the API thread reads it for tasks_has) ---- */

static struct task *task_find(struct tasks *t, const char *ns, const char *id)
{
	for (struct task *k = t->table; k; k = k->next)
		if (streq(k->ns, ns) && streq(k->id, id))
			return k;
	return NULL;
}

bool tasks_has(struct tasks *t, const char *ns, const char *id)
{
	bool r;

	pthread_mutex_lock(&t->table_lock);
	r = task_find(t, ns, id) != NULL;
	pthread_mutex_unlock(&t->table_lock);
	return r;
}

static struct task *task_add(struct tasks *t, const char *ns, const char *id)
{
	struct task *k = xnew0(struct task, 1);

	k->ns = xstrdup(ns);
	k->id = xstrdup(id);
	pthread_mutex_lock(&t->table_lock);
	k->next = t->table;
	t->table = k;
	pthread_mutex_unlock(&t->table_lock);
	return k;
}

static void task_remove(struct tasks *t, struct task *k)
{
	pthread_mutex_lock(&t->table_lock);
	for (struct task **p = &t->table; *p; p = &(*p)->next)
		if (*p == k) {
			*p = k->next;
			break;
		}
	pthread_mutex_unlock(&t->table_lock);
	rt_shim_free(k->shim);
	free(k->ns);
	free(k->id);
	free(k);
}

/* ---- events from shims ---- */

static void publish_done(struct tasks *t, struct job *j)
{
	events_publish(t->d->events, j->ns, j->topic, j->ts, TAKE_PTR(j->event));
}

static void post_event(struct tasks *t, const char *ns, const char *topic, uint64_t ts,
		       Google__Protobuf__Any *ev)
{
	struct job *j = xnew0(struct job, 1);

	j->done = publish_done;
	j->ns = xstrdup(ns);
	j->topic = xstrdup(topic);
	j->ts = ts;
	j->event = ev;
	job_finish(t, j);
}

static void on_shim_event(const Containerd__Services__Events__Ttrpc__V1__Envelope *env,
			  void *userdata)
{
	struct tasks *t = userdata;

	if (streq(env->topic, "/tasks/exit") && env->event &&
	    str_endswith(env->event->type_url, "containerd.events.TaskExit")) {
		Containerd__Events__TaskExit *ex = containerd__events__task_exit__unpack(
			NULL, env->event->value.len, env->event->value.data);

		if (ex) {
			struct task *k = task_find(t, env->namespace_, ex->container_id);

			if (k && streq(ex->id, ex->container_id)) {
				k->stopped = true;
				k->exit_status = ex->exit_status;
				k->exited_at_ns = (int64_t)pb_ts_ns(ex->exited_at);
			}
			containerd__events__task_exit__free_unpacked(ex, NULL);
		}
	}
	post_event(t, env->namespace_, env->topic, pb_ts_ns(env->timestamp),
		   pb_any(env->event ? env->event->type_url : "",
			  env->event ? env->event->value.data : NULL,
			  env->event ? env->event->value.len : 0));
}

/* The shim went away without a Delete: clean its bundle, record an exit, tell everyone. */
static void task_dead(struct tasks *t, struct task *k, const char *why)
{
	struct rt_delete_result res = {0};
	cleanup_err struct wh_err *e = NULL;
	Containerd__Events__TaskExit ex = CONTAINERD__EVENTS__TASK_EXIT__INIT;

	if (k->deleting || !k->shim || k->cleaned)
		return;
	k->cleaned = true;
	log_warn("task %s/%s: shim lost (%s): cleaning up", k->ns, k->id, why);
	if (rt_shim_delete_binary(&t->cfg, rt_shim_binary(k->shim), k->ns, k->id, &res, &e) < 0)
		log_warn("task %s/%s: shim delete: %s", k->ns, k->id, wh_err_msg(e));
	{
		cleanup_err struct wh_err *e2 = NULL;

		if (rt_bundle_remove(rt_shim_bundle(k->shim), &e2) < 0)
			log_warn("task %s/%s: %s", k->ns, k->id, wh_err_msg(e2));
	}
	if (!k->stopped) {
		k->stopped = true;
		k->exit_status = res.exit_status ? res.exit_status : 128 + SIGKILL;
		k->exited_at_ns = res.exited_at_ns ? res.exited_at_ns : (int64_t)now_real_ns();
		ex.container_id = k->id;
		ex.id = k->id;
		ex.pid = k->pid;
		ex.exit_status = k->exit_status;
		ex.exited_at = pb_ts((uint64_t)k->exited_at_ns);
		post_event(t, k->ns, "/tasks/exit", 0, pb_any_msg(&ex.base));
		protobuf_c_message_free_unpacked(&ex.exited_at->base, NULL);
	}
}

static void on_shim_close(struct rt_shim *s, void *userdata)
{
	struct tasks *t = userdata;

	for (struct task *k = t->table; k; k = k->next)
		if (k->shim == s) {
			task_dead(t, k, "connection closed");
			break;
		}
}

/* ---- the runtime thread ---- */

static void *rt_main(void *userdata)
{
	struct tasks *t = userdata;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	ev_loop_run(t->loop);
	return NULL;
}

int tasks_new(struct daemon *d, struct tasks **ret, struct wh_err **err)
{
	struct tasks *t = xnew0(struct tasks, 1);
	struct rt_restore_report rep = {0};
	int r;

	t->d = d;
	pthread_mutex_init(&t->table_lock, NULL);
	queue_init(&t->to_rt);
	queue_init(&t->to_api);
	if (t->to_rt.efd < 0 || t->to_api.efd < 0) {
		r = wh_err_set(err, errno, "eventfd");
		goto fail;
	}
	t->cfg = (struct rt_config){
		.state_dir = d->cfg.state,
		.shim_dir = d->cfg.shim_dir,
		.grpc_address = d->cfg.address,
		.ttrpc_address = d->ttrpc_events_address,
		.debug = log_get_level() >= LOG_DEBUG,
	};
	if ((r = ev_loop_new(&t->loop)) < 0) {
		r = wh_err_set(err, r, "event loop");
		goto fail;
	}
	if ((r = ev_add_io(t->loop, NULL, t->to_rt.efd, EPOLLIN, on_rt_jobs, t)) < 0 ||
	    (r = ev_add_io(d->loop, &t->api_src, t->to_api.efd, EPOLLIN, on_api_jobs, t)) < 0) {
		r = wh_err_set(err, r, "event sources");
		goto fail;
	}
	if ((r = rt_events_new(t->loop, d->ttrpc_events_address, on_shim_event, t, &t->events,
			       err)) < 0)
		goto fail;
	/* Reconnect to the shims an earlier wharfd left (before serving: nothing else runs). */
	if ((r = rt_restore(t->loop, &t->cfg, &rep, err)) < 0)
		goto fail;
	for (size_t i = 0; i < rep.n; i++) {
		struct rt_restored *x = &rep.v[i];
		struct task *k;

		if (x->outcome == RT_RESTORE_FAILED) {
			log_warn("restore %s/%s: %s", x->ns, x->id,
				 x->message ? x->message : "failed");
			continue;
		}
		k = task_add(t, x->ns, x->id);
		k->pid = x->pid;
		if (x->outcome == RT_RESTORE_LIVE) {
			k->shim = TAKE_PTR(x->shim);
			k->stopped = x->status == CONTAINERD__V1__TYPES__STATUS__STOPPED;
			k->exit_status = x->exit_status;
			k->exited_at_ns = x->exited_at_ns;
			rt_shim_on_close(k->shim, on_shim_close, t);
			log_info("restore %s/%s: reconnected (pid %u)", x->ns, x->id, x->pid);
		} else {
			k->stopped = true;
			k->exit_status = x->exit_status;
			k->exited_at_ns = x->exited_at_ns;
			log_info("restore %s/%s: shim was gone, exit status %u kept", x->ns, x->id,
				 x->exit_status);
		}
	}
	rt_restore_report_done(&rep);
	if ((r = pthread_create(&t->thread, NULL, rt_main, t)) != 0) {
		r = wh_err_set(err, r, "cannot start the runtime thread");
		goto fail;
	}
	t->thread_started = true;
	*ret = t;
	return 0;
fail:
	tasks_free(t);
	return r;
}

struct tasks *tasks_free(struct tasks *t)
{
	struct job *j;

	if (!t)
		return NULL;
	if (t->thread_started) {
		queue_push(&t->to_rt, xnew0(struct job, 1));
		pthread_join(t->thread, NULL);
	}
	/* Containers keep running: drop the connections only. */
	while (t->table)
		task_remove(t, t->table);
	t->events = rt_events_free(t->events);
	while ((j = queue_pop(&t->to_rt)))
		job_free(j);
	while ((j = queue_pop(&t->to_api))) {
		if (j->ctx)
			svc_complete(j->ctx, -ECANCELED, NULL, NULL);
		j->ctx = NULL;
		job_free(j);
	}
	ev_source_disable_unref(t->api_src);
	ev_loop_free(t->loop);
	wh_close(t->to_rt.efd);
	wh_close(t->to_api.efd);
	free(t);
	return NULL;
}

static void shim_stop(struct tasks *t, struct task *k);

/* ---- reconciling restored tasks with metadata ---- */

/* A task whose container record is gone: kill it, delete it, stop its shim. */
static void run_reap(struct tasks *t, struct job *j)
{
	struct task *k = task_find(t, j->ns, j->id);
	cleanup_err struct wh_err *e = NULL;

	if (!k)
		goto out;
	if (k->shim && !k->cleaned) {
		struct rt_delete_result res;

		if (!k->stopped) {
			rt_task_kill(k->shim, NULL, SIGKILL, true, NULL);
			rt_task_wait(k->shim, NULL, 10000000000ull, NULL, NULL, NULL);
		}
		if (rt_task_delete(k->shim, NULL, &res, &e) < 0)
			log_warn("reap %s/%s: delete: %s", k->ns, k->id, wh_err_msg(e));
		k->deleting = true;
		shim_stop(t, k);
	}
	log_info("reaped task %s/%s: its container no longer exists", k->ns, k->id);
	netsetup_down(t->d, k->ns, k->id);
	task_remove(t, k);
out:
	job_finish(t, j);
}

/* Networks of containers whose task is gone or whose shim died (a task with a live shim keeps
 * its network until Delete). Runtime thread: the table is ours. */
static bool net_keep(void *userdata, const char *ns, const char *id)
{
	struct task *k = task_find(userdata, ns, id);

	return k && k->shim && !k->cleaned;
}

static void run_net_sweep(struct tasks *t, struct job *j)
{
	netsetup_sweep(t->d, net_keep, t);
	job_finish(t, j);
}

int tasks_reconcile(struct tasks *t)
{
	struct daemon *d = t->d;
	cleanup_strv char **orphans = NULL;
	size_t n = 0;

	pthread_mutex_lock(&t->table_lock);
	for (struct task *k = t->table; k; k = k->next) {
		struct meta_container mc;

		if (meta_container_get(d->db, k->ns, k->id, &mc, NULL) == -ENOENT) {
			strv_push(&orphans, k->ns);
			strv_push(&orphans, k->id);
		} else {
			meta_container_release(&mc);
		}
	}
	pthread_mutex_unlock(&t->table_lock);
	for (size_t i = 0; orphans && orphans[i]; i += 2, n++) {
		struct job *j = xnew0(struct job, 1);

		log_warn("task %s/%s has no container record: reaping it", orphans[i],
			 orphans[i + 1]);
		j->run = run_reap;
		j->ns = xstrdup(orphans[i]);
		j->id = xstrdup(orphans[i + 1]);
		queue_push(&t->to_rt, j);
	}
	{
		struct job *j = xnew0(struct job, 1);

		j->run = run_net_sweep;
		queue_push(&t->to_rt, j);
	}
	return (int)n;
}

/* ---- the service: API-thread halves ---- */

static ProtobufCMessage *msg_dup(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = xmalloc(len + 1);
	ProtobufCMessage *c;

	protobuf_c_message_pack(m, buf);
	c = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	free(buf);
	if (!c)
		abort(); /* what we just packed always unpacks */
	return c;
}

static int submit(struct svc_ctx *c, const ProtobufCMessage *req, job_fn *run, struct job *j)
{
	if (!j)
		j = xnew0(struct job, 1);
	j->run = run;
	j->req = msg_dup(req);
	j->ctx = svc_ctx_detach(c);
	j->ns = j->ns ? j->ns : xstrdup(c->ns);
	queue_push(&c->d->tasks->to_rt, j);
	return SVC_ASYNC;
}

/* Finds the task of the request on the runtime thread, or fails the job. */
static struct task *job_task(struct tasks *t, struct job *j, const char *id)
{
	struct task *k = task_find(t, j->ns, id);

	if (!k)
		j->r = wh_err_setx(&j->e, ENOENT, "task %s not found", id);
	return k;
}

static struct task *job_live_task(struct tasks *t, struct job *j, const char *id)
{
	struct task *k = job_task(t, j, id);

	if (k && (!k->shim || k->cleaned)) {
		j->r = wh_err_setx(&j->e, EBUSY, "task %s: its shim is gone (exited with %u)", id,
				   k->exit_status);
		return NULL;
	}
	return k;
}

/* Create */

static void run_create(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__CreateTaskRequest *q = (const void *)j->req;
	Containerd__Services__Tasks__V1__CreateTaskResponse *resp;
	struct rt_start_opts o = {
		.ns = j->ns,
		.id = j->id,
		.runtime = j->runtime,
		.spec = j->spec,
		.spec_len = j->spec_len,
		.mounts = &j->mounts,
		.options = j->options,
	};
	struct rt_stdio io = {pb_nz(q->stdin), pb_nz(q->stdout), pb_nz(q->stderr), q->terminal};
	struct rt_shim *shim = NULL;
	struct task *k;
	uint32_t pid = 0;

	if (task_find(t, j->ns, j->id)) {
		j->r = wh_err_setx(&j->e, EEXIST, "task %s: already exists", j->id);
		goto out;
	}
	/* New volumes get the image's content at their destination (off the API loop). */
	j->r = volumes_task_prefill(t->d->cfg.root, j->ns, j->spec, j->spec_len, &j->mounts, &j->e);
	if (j->r < 0)
		goto out;
	/* Network namespace, CNI attachments and /etc files; the spec then points at them. */
	if (j->net) {
		j->r = netsetup_up(t->d, j->ns, j->id, j->net, &j->spec, &j->spec_len, &j->e);
		if (j->r < 0)
			goto out;
		o.spec = j->spec;
		o.spec_len = j->spec_len;
	}
	j->r = rt_shim_start(t->loop, &t->cfg, &o, &shim, &j->e);
	if (j->r < 0)
		goto out_net;
	j->r = rt_task_create(shim, &io, j->options, &pid, &j->e);
	if (j->r < 0) {
		cleanup_err struct wh_err *e = NULL;

		rt_shim_shutdown(shim, &e);
		rt_bundle_remove(rt_shim_bundle(shim), NULL);
		rt_shim_free(shim);
		goto out_net;
	}
	k = task_add(t, j->ns, j->id);
	k->shim = shim;
	k->pid = pid;
	rt_shim_on_close(shim, on_shim_close, t);
	resp = pb_new(&containerd__services__tasks__v1__create_task_response__descriptor);
	resp->container_id = pb_str(j->id);
	resp->pid = pid;
	j->resp = &resp->base;
	job_finish(t, j);
	return;
out_net:
	if (j->net)
		netsetup_down(t->d, j->ns, j->id);
out:
	job_finish(t, j);
}

static int tk_create(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Containerd__Services__Tasks__V1__CreateTaskRequest *q = (const void *)req;
	struct daemon *d = c->d;
	struct meta_container mc;
	struct job *j;
	const struct runtime_config *rc;
	int r;

	(void)ret;
	if (q->checkpoint)
		return wh_err_setx(err, ENOTSUP, "create from a checkpoint is not supported");
	r = meta_container_get(d->db, c->ns, q->container_id, &mc, err);
	if (r < 0)
		return r;
	if (!mc.spec.value || mc.spec.len == 0) {
		meta_container_release(&mc);
		return wh_err_setx(err, EINVAL, "container '%s' has no spec", q->container_id);
	}
	j = xnew0(struct job, 1);
	j->ns = xstrdup(c->ns);
	j->id = xstrdup(q->container_id);
	j->spec = TAKE_PTR(mc.spec.value);
	j->spec_len = mc.spec.len;
	rc = config_runtime(&d->cfg, mc.runtime_name);
	j->runtime = xstrdup(rc && rc->shim ? rc->shim : mc.runtime_name);
	if (q->options)
		j->options =
			pb_any(q->options->type_url, q->options->value.data, q->options->value.len);
	else if (mc.runtime_options.type_url)
		j->options = pb_any(mc.runtime_options.type_url, mc.runtime_options.value,
				    mc.runtime_options.len);
	else if (rc && (rc->binary_name || rc->root || rc->systemd_cgroup)) {
		/* The config's defaults for this runtime, as runc options. */
		Containerd__Runc__V1__Options o = CONTAINERD__RUNC__V1__OPTIONS__INIT;

		if (rc->binary_name)
			o.binary_name = rc->binary_name;
		if (rc->root)
			o.root = rc->root;
		o.systemd_cgroup = rc->systemd_cgroup;
		j->options = pb_any_msg(&o.base);
	}
	if (q->n_rootfs > 0) {
		pb_mounts_to_list(q->rootfs, q->n_rootfs, &j->mounts);
	} else if (mc.snapshot_key) {
		struct snapshotter *backend, *view;
		const char *real;

		r = daemon_snapshotter(d, mc.snapshotter, &backend, &real, err);
		if (r >= 0) {
			view = snview_new(d, c->ns, real, backend, NULL);
			r = snapshotter_mounts(view, mc.snapshot_key, &j->mounts, err);
			snapshotter_close(view);
		}
		if (r < 0) {
			meta_container_release(&mc);
			job_free(j);
			return wh_err_wrap(err, r, "container '%s': rootfs", q->container_id);
		}
	}
	/* The network labels are checked first: that has no side effects. Then volume mounts
	 * become bind mounts of the volumes' data (made when missing). */
	r = netsetup_plan(mc.labels, &j->net, err);
	if (r >= 0)
		r = volumes_task_prepare(d, c->ns, &mc, &j->spec, &j->spec_len, err);
	meta_container_release(&mc);
	if (r < 0) {
		job_free(j);
		return r;
	}
	return submit(c, req, run_create, j);
}

/* Start */

static void run_start(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__StartRequest *q = (const void *)j->req;
	struct task *k = job_live_task(t, j, q->container_id);
	uint32_t pid = 0;

	if (k && (j->r = rt_task_start(k->shim, pb_nz(q->exec_id), &pid, &j->e)) >= 0) {
		Containerd__Services__Tasks__V1__StartResponse *resp =
			pb_new(&containerd__services__tasks__v1__start_response__descriptor);

		resp->pid = pid;
		j->resp = &resp->base;
	}
	job_finish(t, j);
}

static int tk_start(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		    struct wh_err **err)
{
	(void)ret, (void)err;
	return submit(c, req, run_start, NULL);
}

/* Delete */

static Containerd__Services__Tasks__V1__DeleteResponse *delete_resp(const char *id, uint32_t pid,
								    uint32_t status, int64_t at_ns)
{
	Containerd__Services__Tasks__V1__DeleteResponse *resp =
		pb_new(&containerd__services__tasks__v1__delete_response__descriptor);

	resp->id = pb_str(id);
	resp->pid = pid;
	resp->exit_status = status;
	resp->exited_at = pb_ts(at_ns > 0 ? (uint64_t)at_ns : 0);
	return resp;
}

/*
 * After a task's Delete: Shutdown, wait for the shim to go (containerd's sequence, §2.7), then
 * remove the bundle. A shim that lingers gets the full treatment (`shim delete`).
 */
static void shim_stop(struct tasks *t, struct task *k)
{
	Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
	cleanup_err struct wh_err *e = NULL;
	uint64_t deadline = now_mono_ns() + 5000000000ull;

	req.id = k->id;
	/* The shim may exit before it answers: a closed connection is success here. */
	rt_task_call(k->shim, RT_SHUTDOWN, &req.base, 3000000000ull, NULL, NULL);
	while (rt_shim_is_connected(k->shim) && now_mono_ns() < deadline)
		ev_loop_run_once(t->loop, 50000000ull);
	if (rt_shim_is_connected(k->shim)) {
		if (rt_shim_shutdown(k->shim, &e) < 0)
			log_warn("task %s/%s: shim shutdown: %s", k->ns, k->id, wh_err_msg(e));
		return;
	}
	if (rt_bundle_remove(rt_shim_bundle(k->shim), &e) < 0)
		log_warn("task %s/%s: %s", k->ns, k->id, wh_err_msg(e));
}

static void run_delete(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__DeleteTaskRequest *q = (const void *)j->req;
	struct task *k = job_task(t, j, q->container_id);
	struct rt_delete_result res = {0};

	if (!k)
		goto out;
	if (!k->shim || k->cleaned) {
		j->resp = &delete_resp(k->id, k->pid, k->exit_status, k->exited_at_ns)->base;
		task_remove(t, k);
		goto out;
	}
	j->r = rt_task_delete(k->shim, NULL, &res, &j->e);
	if (j->r < 0)
		goto out;
	k->deleting = true;
	shim_stop(t, k);
	j->resp = &delete_resp(k->id, res.pid, res.exit_status, res.exited_at_ns)->base;
	task_remove(t, k);
out:
	if (j->r >= 0)
		netsetup_down(t->d, j->ns, q->container_id);
	job_finish(t, j);
}

static int tk_delete(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	(void)ret, (void)err;
	return submit(c, req, run_delete, NULL);
}

static void run_delete_process(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__DeleteProcessRequest *q = (const void *)j->req;
	struct task *k = job_live_task(t, j, q->container_id);
	struct rt_delete_result res = {0};

	if (k && !pb_nz(q->exec_id))
		j->r = wh_err_setx(&j->e, EINVAL, "exec id required (use Delete for the task)");
	else if (k && (j->r = rt_task_delete(k->shim, q->exec_id, &res, &j->e)) >= 0)
		j->resp =
			&delete_resp(q->exec_id, res.pid, res.exit_status, res.exited_at_ns)->base;
	job_finish(t, j);
}

static int tk_delete_process(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			     struct wh_err **err)
{
	(void)ret, (void)err;
	return submit(c, req, run_delete_process, NULL);
}

/* Get / List */

static Containerd__V1__Types__Process *process_of(struct task *k, const char *exec_id,
						  struct wh_err **err, int *ret_r)
{
	Containerd__V1__Types__Process *p = pb_new(&containerd__v1__types__process__descriptor);
	Containerd__Task__V2__StateResponse *st = NULL;

	p->container_id = pb_str(k->id);
	p->id = pb_str(exec_id ? exec_id : k->id);
	*ret_r = 0;
	if (!k->shim || k->cleaned) {
		p->pid = k->pid;
		p->status = CONTAINERD__V1__TYPES__STATUS__STOPPED;
		p->exit_status = k->exit_status;
		p->exited_at = pb_ts((uint64_t)k->exited_at_ns);
		return p;
	}
	*ret_r = rt_task_state(k->shim, exec_id, &st, err);
	if (*ret_r < 0) {
		protobuf_c_message_free_unpacked(&p->base, NULL);
		return NULL;
	}
	p->pid = st->pid;
	p->status = st->status;
	p->stdin = pb_str(st->stdin);
	p->stdout = pb_str(st->stdout);
	p->stderr = pb_str(st->stderr);
	p->terminal = st->terminal;
	p->exit_status = st->exit_status;
	if (st->exited_at)
		p->exited_at = pb_ts(pb_ts_ns(st->exited_at));
	protobuf_c_message_free_unpacked(&st->base, NULL);
	return p;
}

static void run_get(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__GetRequest *q = (const void *)j->req;
	struct task *k = job_task(t, j, q->container_id);
	Containerd__V1__Types__Process *p;

	if (k && (p = process_of(k, pb_nz(q->exec_id), &j->e, &j->r))) {
		Containerd__Services__Tasks__V1__GetResponse *resp =
			pb_new(&containerd__services__tasks__v1__get_response__descriptor);

		resp->process = p;
		j->resp = &resp->base;
	}
	job_finish(t, j);
}

static int tk_get(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		  struct wh_err **err)
{
	(void)ret, (void)err;
	return submit(c, req, run_get, NULL);
}

static void run_list(struct tasks *t, struct job *j)
{
	Containerd__Services__Tasks__V1__ListTasksResponse *resp =
		pb_new(&containerd__services__tasks__v1__list_tasks_response__descriptor);
	size_t n = 0;

	for (struct task *k = t->table; k; k = k->next)
		n++;
	resp->tasks = n ? xnew0(Containerd__V1__Types__Process *, n) : NULL;
	for (struct task *k = t->table; k; k = k->next) {
		cleanup_err struct wh_err *e = NULL;
		Containerd__V1__Types__Process *p;
		int r;

		if (!streq(k->ns, j->ns))
			continue;
		p = process_of(k, NULL, &e, &r);
		if (p)
			resp->tasks[resp->n_tasks++] = p;
	}
	j->resp = &resp->base;
	job_finish(t, j);
}

static int tk_list(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	(void)ret, (void)err;
	return submit(c, req, run_list, NULL);
}

/* Kill, Exec, ResizePty, CloseIO, Pause, Resume, ListPids, Update, Metrics */

static void run_kill(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__KillRequest *q = (const void *)j->req;
	struct task *k = job_live_task(t, j, q->container_id);

	if (k)
		j->r = rt_task_kill(k->shim, pb_nz(q->exec_id), q->signal, q->all, &j->e);
	job_finish(t, j);
}

static void run_exec(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__ExecProcessRequest *q = (const void *)j->req;
	struct task *k = job_live_task(t, j, q->container_id);
	struct rt_stdio io = {pb_nz(q->stdin), pb_nz(q->stdout), pb_nz(q->stderr), q->terminal};

	if (k && (!q->spec || q->spec->value.len == 0 || !pb_nz(q->exec_id)))
		j->r = wh_err_setx(&j->e, EINVAL, "exec: exec id and process spec required");
	else if (k) {
		cleanup_free char *json =
			xstrndup((const char *)q->spec->value.data, q->spec->value.len);

		j->r = rt_task_exec(k->shim, q->exec_id, &io, json, &j->e);
	}
	job_finish(t, j);
}

static void run_resize(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__ResizePtyRequest *q = (const void *)j->req;
	struct task *k = job_live_task(t, j, q->container_id);

	if (k)
		j->r = rt_task_resize_pty(k->shim, pb_nz(q->exec_id), q->width, q->height, &j->e);
	job_finish(t, j);
}

static void run_close_io(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__CloseIORequest *q = (const void *)j->req;
	struct task *k = job_live_task(t, j, q->container_id);

	if (k && q->stdin)
		j->r = rt_task_close_io(k->shim, pb_nz(q->exec_id), &j->e);
	job_finish(t, j);
}

static void run_pause(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__PauseTaskRequest *q = (const void *)j->req;
	struct task *k = job_live_task(t, j, q->container_id);

	if (k)
		j->r = rt_task_pause(k->shim, &j->e);
	job_finish(t, j);
}

static void run_resume(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__ResumeTaskRequest *q = (const void *)j->req;
	struct task *k = job_live_task(t, j, q->container_id);

	if (k)
		j->r = rt_task_resume(k->shim, &j->e);
	job_finish(t, j);
}

static void run_pids(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__ListPidsRequest *q = (const void *)j->req;
	struct task *k = job_live_task(t, j, q->container_id);
	uint32_t *pids = NULL;
	size_t n = 0;

	if (k && (j->r = rt_task_pids(k->shim, &pids, &n, &j->e)) >= 0) {
		Containerd__Services__Tasks__V1__ListPidsResponse *resp =
			pb_new(&containerd__services__tasks__v1__list_pids_response__descriptor);

		resp->processes = n ? xnew0(Containerd__V1__Types__ProcessInfo *, n) : NULL;
		for (size_t i = 0; i < n; i++) {
			Containerd__V1__Types__ProcessInfo *pi =
				pb_new(&containerd__v1__types__process_info__descriptor);

			pi->pid = pids[i];
			resp->processes[resp->n_processes++] = pi;
		}
		j->resp = &resp->base;
	}
	free(pids);
	job_finish(t, j);
}

static void run_update(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__UpdateTaskRequest *q = (const void *)j->req;
	struct task *k = job_live_task(t, j, q->container_id);

	if (k && (!q->resources || q->resources->value.len == 0))
		j->r = wh_err_setx(&j->e, EINVAL, "update: resources required");
	else if (k) {
		cleanup_free char *json =
			xstrndup((const char *)q->resources->value.data, q->resources->value.len);

		j->r = rt_task_update(k->shim, json, &j->e);
	}
	job_finish(t, j);
}

static void run_metrics(struct tasks *t, struct job *j)
{
	Containerd__Services__Tasks__V1__MetricsResponse *resp =
		pb_new(&containerd__services__tasks__v1__metrics_response__descriptor);
	size_t n = 0;

	for (struct task *k = t->table; k; k = k->next)
		n++;
	resp->metrics = n ? xnew0(Containerd__Types__Metric *, n) : NULL;
	for (struct task *k = t->table; k; k = k->next) {
		cleanup_err struct wh_err *e = NULL;
		Google__Protobuf__Any *data = NULL;
		Containerd__Types__Metric *m;

		if (!streq(k->ns, j->ns) || !k->shim || k->cleaned || k->stopped)
			continue;
		if (rt_task_stats(k->shim, &data, &e) < 0)
			continue;
		m = pb_new(&containerd__types__metric__descriptor);
		m->timestamp = pb_ts(now_real_ns());
		m->id = pb_str(k->id);
		m->data = pb_any(data->type_url, data->value.data, data->value.len);
		netsetup_metrics(k->pid, &m->data);
		protobuf_c_message_free_unpacked(&data->base, NULL);
		resp->metrics[resp->n_metrics++] = m;
	}
	j->resp = &resp->base;
	job_finish(t, j);
}

#	define SIMPLE(name, fn)                                                \
		static int name(struct svc_ctx *c, const ProtobufCMessage *req, \
				ProtobufCMessage **ret, struct wh_err **err)    \
		{                                                               \
			(void)ret, (void)err;                                   \
			return submit(c, req, fn, NULL);                        \
		}
SIMPLE(tk_kill, run_kill)
SIMPLE(tk_exec, run_exec)
SIMPLE(tk_resize, run_resize)
SIMPLE(tk_close_io, run_close_io)
SIMPLE(tk_pause, run_pause)
SIMPLE(tk_resume, run_resume)
SIMPLE(tk_pids, run_pids)
SIMPLE(tk_update, run_update)
SIMPLE(tk_metrics, run_metrics)

static int tk_checkpoint(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
			 struct wh_err **err)
{
	(void)c, (void)req, (void)ret;
	return wh_err_setx(err, ENOTSUP, "checkpoint is not supported by wharfd yet");
}

/* Wait: asynchronous on the runtime loop; a lost shim answers with the recorded exit. */

struct wait_ctx {
	struct tasks *t;
	struct job *j;
};

static void wait_answer_recorded(struct tasks *t, struct job *j, struct task *k)
{
	Containerd__Services__Tasks__V1__WaitResponse *resp =
		pb_new(&containerd__services__tasks__v1__wait_response__descriptor);

	resp->exit_status = k->exit_status;
	resp->exited_at = pb_ts((uint64_t)k->exited_at_ns);
	j->resp = &resp->base;
	job_finish(t, j);
}

static void on_wait_reply(struct ttrpc_client *cl, struct ttrpc_reply *reply, void *userdata)
{
	struct job *j = userdata;
	struct tasks *t = j->ctx->d->tasks;
	const Containerd__Services__Tasks__V1__WaitRequest *q = (const void *)j->req;

	(void)cl;
	if (reply->code == TTRPC_OK) {
		const Containerd__Task__V2__WaitResponse *w = (const void *)reply->msg;
		Containerd__Services__Tasks__V1__WaitResponse *resp =
			pb_new(&containerd__services__tasks__v1__wait_response__descriptor);

		resp->exit_status = w->exit_status;
		resp->exited_at = pb_ts(pb_ts_ns(w->exited_at));
		j->resp = &resp->base;
		job_finish(t, j);
		return;
	}
	if (reply->code == TTRPC_UNAVAILABLE && !pb_nz(q->exec_id)) {
		struct task *k = task_find(t, j->ns, q->container_id);

		if (k) {
			task_dead(t, k, "wait failed");
			wait_answer_recorded(t, j, k);
			return;
		}
	}
	j->r = -ttrpc_errno_from_code(reply->code);
	wh_err_setx(&j->e, -j->r, "%s", reply->message ? reply->message : "wait failed");
	job_finish(t, j);
}

static void run_wait(struct tasks *t, struct job *j)
{
	const Containerd__Services__Tasks__V1__WaitRequest *q = (const void *)j->req;
	struct task *k = job_task(t, j, q->container_id);
	Containerd__Task__V2__WaitRequest w = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;

	if (!k)
		goto fail;
	if (!k->shim || k->cleaned || (k->stopped && !pb_nz(q->exec_id))) {
		wait_answer_recorded(t, j, k);
		return;
	}
	w.id = q->container_id;
	w.exec_id = q->exec_id;
	j->r = rt_task_call_async(k->shim, RT_WAIT, &w.base, 0, on_wait_reply, j, &j->e);
	if (j->r >= 0)
		return;
fail:
	job_finish(t, j);
}

static int tk_wait(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	(void)ret, (void)err;
	return submit(c, req, run_wait, NULL);
}

const struct svc_service svc_tasks = {
	&containerd__services__tasks__v1__tasks__descriptor,
	(const struct svc_method[]){{"Create", tk_create},
				    {"Start", tk_start},
				    {"Delete", tk_delete},
				    {"DeleteProcess", tk_delete_process},
				    {"Get", tk_get},
				    {"List", tk_list},
				    {"Kill", tk_kill},
				    {"Exec", tk_exec},
				    {"ResizePty", tk_resize},
				    {"CloseIO", tk_close_io},
				    {"Pause", tk_pause},
				    {"Resume", tk_resume},
				    {"ListPids", tk_pids},
				    {"Checkpoint", tk_checkpoint},
				    {"Update", tk_update},
				    {"Metrics", tk_metrics},
				    {"Wait", tk_wait},
				    {NULL, NULL}},
};

#else /* !WHARF_HAVE_RUNTIME */
#	error "wharfd needs runtime-v2"
#endif

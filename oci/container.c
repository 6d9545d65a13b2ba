/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container lifecycle after create: start (the exec fifo and poststart hooks), kill,
 * delete (poststop hooks, cgroup, state), pause/resume, update, ps and exec, each under the
 * container's lock and checked against its live status.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include "common/common.h"
#include "oci/internal.h"

int oci_exec_in(struct oci_container *c, const struct oci_exec_opts *o,
		const struct oci_process *proc, pid_t *ret_pid, int *ret_pty_master,
		struct wh_err **err);

DEFINE_CLEANUP(struct oci_container *, oci_container_free)
#define cleanup_container cleanup(oci_container_freep)

static char *hook_state(struct oci_container *c, enum oci_status status)
{
	struct oci_state *s = oci_container_state(c);
	s->status = status;
	char *js = oci_state_hook_json(s);
	oci_state_free(s);
	return js;
}

int oci_start(const char *root, const char *id, struct wh_err **err)
{
	cleanup_container struct oci_container *c = NULL;
	int r = oci_container_open(root, id, &c, err);
	if (r < 0)
		return r;
	enum oci_status st = oci_container_status(c);
	if (st != OCI_STATUS_CREATED)
		return wh_err_setx(err, EBUSY, "container '%s' is %s, not created", id,
				   oci_status_name(st));
	cleanup_close int fd = openat(c->dir_fd, "exec.fifo", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENXIO)
			return wh_err_setx(err, ESRCH, "container '%s': its init is gone", id);
		return wh_err_set(err, errno, "container '%s': open exec.fifo", id);
	}
	if (write(fd, "0", 1) != 1)
		return wh_err_set(err, errno, "container '%s': start", id);
	unlinkat(c->dir_fd, "exec.fifo", 0);
	if (c->spec->hooks.n[OCI_HOOK_POSTSTART]) {
		cleanup_free char *js = hook_state(c, OCI_STATUS_RUNNING);
		cleanup_err struct wh_err *he = NULL;
		/* runtime-spec: a failing poststart hook is a warning, the container runs on */
		if (oci_hooks_run(&c->spec->hooks, OCI_HOOK_POSTSTART, js, &he) < 0)
			log_warn("container '%s': %s, ignoring", id, wh_err_msg(he));
	}
	return 0;
}

int oci_kill(const char *root, const char *id, int sig, bool all, struct wh_err **err)
{
	cleanup_container struct oci_container *c = NULL;
	int r = oci_container_open(root, id, &c, err);
	if (r < 0)
		return r;
	enum oci_status st = oci_container_status(c);
	if (st == OCI_STATUS_STOPPED && !all)
		return wh_err_setx(err, ESRCH, "container '%s' is not running", id);
	if (all) {
		struct oci_cgroup *cg = NULL;
		r = oci_container_cgroup(c, &cg, err);
		if (r < 0)
			return r;
		r = oci_cgroup_kill(cg, sig, err);
		if (r >= 0 && st == OCI_STATUS_PAUSED && sig != SIGKILL)
			/* runc: signals to a paused container are delivered on resume */
			r = 0;
		oci_cgroup_free(cg);
		return r < 0 ? r : 0;
	}
	if (kill(c->pid, sig) < 0)
		return wh_err_set(err, errno, "container '%s': kill %d", id, sig);
	return 0;
}

/* Waits (up to about 10 s) until the init is gone or a zombie. */
static void wait_dead(struct oci_container *c)
{
	for (int i = 0; i < 1000; i++) {
		uint64_t stt;
		char state;
		if (oci_proc_start_time(c->pid, &stt, &state) < 0 || stt != c->pid_start ||
		    state == 'Z' || state == 'X')
			return;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int oci_delete(const char *root, const char *id, bool force, struct wh_err **err)
{
	cleanup_container struct oci_container *c = NULL;
	int r = oci_container_open(root, id, &c, err);
	if (r < 0)
		return r;
	enum oci_status st = oci_container_status(c);
	struct oci_cgroup *cg = NULL;
	if (oci_container_cgroup(c, &cg, NULL) < 0)
		cg = NULL;
	if (st != OCI_STATUS_STOPPED) {
		if (!force && st != OCI_STATUS_CREATED && st != OCI_STATUS_CREATING) {
			oci_cgroup_free(cg);
			return wh_err_setx(err, EBUSY,
					   "cannot delete container '%s' that is not stopped: %s",
					   id, oci_status_name(st));
		}
		if (cg) {
			if (st == OCI_STATUS_PAUSED)
				oci_cgroup_thaw(cg, NULL);
			oci_cgroup_kill(cg, SIGKILL, NULL);
		}
		kill(c->pid, SIGKILL);
		wait_dead(c);
	}
	if (cg) {
		r = oci_cgroup_destroy(cg, err);
		oci_cgroup_free(cg);
		if (r < 0)
			return wh_err_wrap(err, r, "delete container '%s'", id);
	}
	if (c->spec->hooks.n[OCI_HOOK_POSTSTOP]) {
		cleanup_free char *js = hook_state(c, OCI_STATUS_STOPPED);
		cleanup_err struct wh_err *he = NULL;
		/* runc only warns about failing poststop hooks: the container is gone anyway */
		if (oci_hooks_run(&c->spec->hooks, OCI_HOOK_POSTSTOP, js, &he) < 0)
			log_warn("container '%s': %s, ignoring", id, wh_err_msg(he));
	}
	r = rm_rf(c->dir);
	if (r < 0)
		return wh_err_set(err, r, "delete container '%s': remove '%s'", id, c->dir);
	return 0;
}

static int freeze(const char *root, const char *id, bool on, struct wh_err **err)
{
	cleanup_container struct oci_container *c = NULL;
	int r = oci_container_open(root, id, &c, err);
	if (r < 0)
		return r;
	enum oci_status st = oci_container_status(c);
	if (on && st != OCI_STATUS_RUNNING && st != OCI_STATUS_CREATED)
		return wh_err_setx(err, EBUSY, "container '%s' is %s, not running", id,
				   oci_status_name(st));
	if (!on && st != OCI_STATUS_PAUSED)
		return wh_err_setx(err, EBUSY, "container '%s' is %s, not paused", id,
				   oci_status_name(st));
	struct oci_cgroup *cg = NULL;
	r = oci_container_cgroup(c, &cg, err);
	if (r < 0)
		return r;
	r = on ? oci_cgroup_freeze(cg, err) : oci_cgroup_thaw(cg, err);
	oci_cgroup_free(cg);
	return r < 0 ? wh_err_wrap(err, r, "container '%s'", id) : 0;
}

int oci_pause(const char *root, const char *id, struct wh_err **err)
{
	return freeze(root, id, true, err);
}

int oci_resume(const char *root, const char *id, struct wh_err **err)
{
	return freeze(root, id, false, err);
}

int oci_update(const char *root, const char *id, const char *resources_json, struct wh_err **err)
{
	yajl_val v = NULL;
	int r = json_parse(resources_json, strlen(resources_json), &v, err);
	if (r < 0)
		return wh_err_wrap(err, r, "resources");
	struct oci_resources res;
	oci_resources_init(&res);
	r = oci_resources_parse(v, "resources", &res, err);
	yajl_tree_free(v);
	if (r < 0)
		return r;
	cleanup_container struct oci_container *c = NULL;
	r = oci_container_open(root, id, &c, err);
	if (r < 0)
		goto out;
	enum oci_status st = oci_container_status(c);
	if (st == OCI_STATUS_STOPPED) {
		r = wh_err_setx(err, ESRCH, "container '%s' is not running", id);
		goto out;
	}
	struct oci_cgroup *cg = NULL;
	r = oci_container_cgroup(c, &cg, err);
	if (r < 0)
		goto out;
	r = oci_cgroup_apply(cg, &res, err);
	oci_cgroup_free(cg);
	if (r < 0)
		r = wh_err_wrap(err, r, "update container '%s'", id);
out:
	oci_resources_release(&res);
	return r < 0 ? r : 0;
}

int oci_pids(const char *root, const char *id, pid_t **ret_pids, size_t *ret_n, struct wh_err **err)
{
	cleanup_container struct oci_container *c = NULL;
	int r = oci_container_open(root, id, &c, err);
	if (r < 0)
		return r;
	struct oci_cgroup *cg = NULL;
	r = oci_container_cgroup(c, &cg, err);
	if (r < 0)
		return r;
	r = oci_cgroup_pids(cg, true, ret_pids, ret_n, err);
	oci_cgroup_free(cg);
	return r < 0 ? r : 0;
}

/* The container's process with runc exec's overrides. */
static int override_process(struct oci_process *p, const struct oci_exec_opts *o,
			    struct wh_err **err)
{
	strv_free(p->args);
	p->args = strv_copy(o->args);
	for (char *const *e = o->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
		for (char **x = p->env; x && *x; x++) {
			if (strncmp(*x, *e, n) == 0 && (*x)[n] == '=') {
				free(*x);
				*x = xstrdup(*e);
				goto next;
			}
		}
		strv_push(&p->env, *e);
	next:;
	}
	if (o->cwd) {
		free(p->cwd);
		p->cwd = xstrdup(o->cwd);
	}
	if (o->has_user) {
		p->uid = o->uid;
		p->gid = o->gid;
		free(p->additional_gids);
		p->additional_gids = NULL;
		p->n_additional_gids = 0;
	}
	if (o->tty >= 0)
		p->terminal = o->tty;
	if (o->no_new_privileges)
		p->no_new_privileges = true;
	if (o->n_additional_gids) {
		free(p->additional_gids);
		p->additional_gids =
			xmemdup(o->additional_gids, o->n_additional_gids * sizeof(gid_t));
		p->n_additional_gids = o->n_additional_gids;
	}
	for (char *const *c = o->add_caps; c && *c; c++) {
		int cap = oci_cap_from_name(*c);
		if (cap < 0)
			return wh_err_setx(err, EINVAL, "exec --cap: unknown capability '%s'", *c);
		uint64_t bit = 1ULL << cap;
		p->caps.present = true;
		p->caps.bounding |= bit;
		p->caps.effective |= bit;
		p->caps.permitted |= bit;
		p->caps.inheritable |= bit;
		p->caps.ambient |= bit;
	}
	return 0;
}

static void copy_process(struct oci_process *dst, const struct oci_process *src)
{
	*dst = *src;
	dst->args = strv_copy(src->args);
	dst->env = strv_copy(src->env);
	dst->cwd = xstrdup(src->cwd);
	dst->additional_gids =
		src->n_additional_gids
			? xmemdup(src->additional_gids, src->n_additional_gids * sizeof(gid_t))
			: NULL;
	dst->rlimits = src->n_rlimits
			       ? xmemdup(src->rlimits, src->n_rlimits * sizeof(*src->rlimits))
			       : NULL;
}

int oci_exec(const struct oci_exec_opts *o, pid_t *ret_pid, int *ret_pty_master,
	     struct wh_err **err)
{
	struct oci_process proc;
	int r;
	if (o->process_json) {
		yajl_val v = NULL;
		r = json_parse(o->process_json, strlen(o->process_json), &v, err);
		if (r < 0)
			return wh_err_wrap(err, r, "process");
		r = oci_process_parse(v, "process", &proc, err);
		yajl_tree_free(v);
		if (r < 0) {
			oci_process_release(&proc);
			return r;
		}
	}
	cleanup_container struct oci_container *c = NULL;
	r = oci_container_open(o->root, o->id, &c, err);
	if (r < 0) {
		if (o->process_json)
			oci_process_release(&proc);
		return r;
	}
	if (!o->process_json) {
		if (!o->args || !o->args[0])
			return wh_err_setx(err, EINVAL, "exec: no command given");
		copy_process(&proc, &c->spec->process);
		r = override_process(&proc, o, err);
		if (r < 0) {
			oci_process_release(&proc);
			return r;
		}
	}
	enum oci_status st = oci_container_status(c);
	if (st != OCI_STATUS_RUNNING && st != OCI_STATUS_CREATED) {
		oci_process_release(&proc);
		return wh_err_setx(err, EBUSY, "cannot exec in a %s container '%s'",
				   oci_status_name(st), o->id);
	}
	r = oci_exec_in(c, o, &proc, ret_pid, ret_pty_master, err);
	oci_process_release(&proc);
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reconnecting after a restart (PROTOCOLS.md §2.8): every bundle under <state>/tasks/<ns>/<id>/
 * is either a live shim (Connect + State) or a dead one (`shim delete`, bundle removed).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime-v2/internal.h"

void rt_restore_report_done(struct rt_restore_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct rt_restored *t = &r->v[i];

		free(t->ns);
		free(t->id);
		free(t->bundle);
		free(t->message);
		rt_shim_free(t->shim);
	}
	free(r->v);
	*r = (struct rt_restore_report){0};
}

static bool dir_is_empty(const char *path)
{
	cleanup_closedir DIR *d = opendir(path);
	struct dirent *de;

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			return false;
	return true;
}

static void restore_live(struct rt_restored *t)
{
	Containerd__Task__V2__StateResponse *st = NULL;
	cleanup_err struct wh_err *e = NULL;

	t->outcome = RT_RESTORE_LIVE;
	if (rt_task_state(t->shim, NULL, &st, &e) < 0) {
		/* A live shim that does not know the task (created bundle, no Create yet). */
		t->message = xstrdup(wh_err_msg(e));
		return;
	}
	t->status = st->status;
	t->pid = st->pid;
	t->exit_status = st->exit_status;
	t->exited_at_ns = st->exited_at && st->exited_at->seconds > 0
				  ? st->exited_at->seconds * 1000000000ll + st->exited_at->nanos
				  : 0;
	protobuf_c_message_free_unpacked(&st->base, NULL);
}

static void restore_dead(const struct rt_config *cfg, struct rt_restored *t, struct wh_err *why)
{
	cleanup_err struct wh_err *e = NULL;
	struct rt_delete_result d = {0};

	t->message = xstrdup(wh_err_msg(why));
	if (rt_shim_cleanup_dead(cfg, t->ns, t->id, &d, &e) < 0) {
		t->outcome = RT_RESTORE_FAILED;
		free(t->message);
		t->message = xasprintf("%s; %s", wh_err_msg(why), wh_err_msg(e));
		return;
	}
	t->outcome = RT_RESTORE_CLEANED;
	t->status = CONTAINERD__V1__TYPES__STATUS__STOPPED;
	t->pid = d.pid;
	t->exit_status = d.exit_status;
	t->exited_at_ns = d.exited_at_ns;
}

static void restore_one(struct ev_loop *l, const struct rt_config *cfg, const char *ns,
			const char *id, struct rt_restore_report *rep)
{
	cleanup_err struct wh_err *e = NULL;
	struct rt_restored *t;

	rep->v = xrealloc(rep->v, (rep->n + 1) * sizeof(*rep->v));
	t = &rep->v[rep->n++];
	*t = (struct rt_restored){.ns = xstrdup(ns), .id = xstrdup(id)};
	t->bundle = rt_bundle_path(cfg->state_dir, ns, id);
	if (rt_shim_connect(l, cfg, ns, id, &t->shim, &e) >= 0)
		restore_live(t);
	else
		restore_dead(cfg, t, e);
	log_full(t->outcome == RT_RESTORE_FAILED ? LOG_WARNING : LOG_INFO,
		 "restore ns=%s id=%s: %s%s%s", ns, id,
		 t->outcome == RT_RESTORE_LIVE	    ? "reconnected"
		 : t->outcome == RT_RESTORE_CLEANED ? "shim gone, cleaned up"
						    : "failed",
		 t->message ? ": " : "", t->message ? t->message : "");
}

static int scan_ns(struct ev_loop *l, const struct rt_config *cfg, const char *ns,
		   struct rt_restore_report *rep)
{
	cleanup_free char *dir = xasprintf("%s/tasks/%s", cfg->state_dir, ns);
	cleanup_closedir DIR *d = opendir(dir);
	cleanup(strv_freep) char **ids = NULL;
	struct dirent *de;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && de->d_type == DT_DIR)
			strv_push(&ids, de->d_name);
	for (size_t i = 0; ids && ids[i]; i++) {
		cleanup_free char *b = rt_bundle_path(cfg->state_dir, ns, ids[i]);

		if (dir_is_empty(b)) {
			rmdir(b);
			continue;
		}
		restore_one(l, cfg, ns, ids[i], rep);
	}
	return 0;
}

int rt_restore(struct ev_loop *l, const struct rt_config *cfg, struct rt_restore_report *ret,
	       struct wh_err **err)
{
	cleanup_free char *dir = xasprintf("%s/tasks", cfg->state_dir);
	cleanup_closedir DIR *d = opendir(dir);
	struct rt_restore_report rep = {0};
	cleanup(strv_freep) char **nss = NULL;
	struct dirent *de;
	int r;

	if (!d) {
		if (errno != ENOENT)
			return wh_err_set(err, errno, "open '%s'", dir);
		*ret = rep;
		return 0;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && de->d_type == DT_DIR)
			strv_push(&nss, de->d_name);
	for (size_t i = 0; nss && nss[i]; i++) {
		r = scan_ns(l, cfg, nss[i], &rep);
		if (r < 0) {
			rt_restore_report_done(&rep);
			return wh_err_set(err, r, "open '%s/%s'", dir, nss[i]);
		}
	}
	*ret = rep;
	return 0;
}

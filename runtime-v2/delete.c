/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ending a shim (PROTOCOLS.md §2.6, §2.7, §7): `shim delete` for a shim that went away and
 * Shutdown + `shim delete` + bundle removal after a task was deleted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "runtime-v2/internal.h"

int rt_shim_delete_binary(const struct rt_config *cfg, const char *binary, const char *ns,
			  const char *id, struct rt_delete_result *ret, struct wh_err **err)
{
	cleanup_free char *bundle = rt_bundle_path(cfg->state_dir, ns, id);
	cleanup_free char *bin = NULL;
	cleanup(strv_freep) char **argv = NULL;
	struct rt_run_result res = {0};
	Containerd__Task__V2__DeleteResponse *d;
	int r;

	if (!binary) {
		cleanup_free char *p = path_join(bundle, "shim-binary-path");

		r = read_file(p, 4096, &bin, NULL);
		if (r < 0)
			return wh_err_set(err, r, "shim delete '%s/%s': read '%s'", ns, id, p);
		binary = bin;
	}
	argv = rt_shim_argv(cfg, binary, ns, id, bundle, "delete");
	r = rt_run_shim(cfg, binary, argv, bundle, ns, NULL, 0, false, &res, err);
	if (r < 0)
		return wh_err_wrap(err, r, "shim delete '%s/%s'", ns, id);
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0) {
		cleanup_free char *how = rt_describe_status(res.status);
		size_t n = strlen(res.errout);

		while (n > 0 && (res.errout[n - 1] == '\n' || res.errout[n - 1] == ' '))
			res.errout[--n] = '\0';
		r = wh_err_setx(err, EIO, "shim delete '%s/%s': '%s' failed (%s)%s%.300s", ns, id,
				binary, how, n ? ": " : "", res.errout);
		rt_run_result_done(&res);
		return r;
	}
	if (res.errout[0])
		log_debug("shim delete ns=%s id=%s: %s", ns, id, res.errout);
	d = containerd__task__v2__delete_response__unpack(NULL, res.out_len, (uint8_t *)res.out);
	rt_run_result_done(&res);
	if (!d)
		return wh_err_setx(err, EBADMSG,
				   "shim delete '%s/%s': output is not a DeleteResponse", ns, id);
	if (ret) {
		ret->pid = d->pid;
		ret->exit_status = d->exit_status;
		ret->exited_at_ns =
			d->exited_at && d->exited_at->seconds > 0
				? d->exited_at->seconds * 1000000000ll + d->exited_at->nanos
				: 0;
	}
	containerd__task__v2__delete_response__free_unpacked(d, NULL);
	return 0;
}

int rt_shim_shutdown(struct rt_shim *s, struct wh_err **err)
{
	Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
	cleanup_err struct wh_err *e = NULL;
	uint64_t deadline = now_mono_ns() + rt_timeout(s->cfg);
	int r;

	req.id = s->id;
	if (s->client && ttrpc_client_is_connected(s->client)) {
		/* The shim may exit before it answers: "ttrpc: closed" is success here (§2.7). */
		r = rt_task_call(s, RT_SHUTDOWN, &req.base, 3000000000ull, NULL, &e);
		if (r < 0 && r != -EAGAIN && ttrpc_client_is_connected(s->client))
			return wh_err_move(err, &e);
		while (ttrpc_client_is_connected(s->client) && now_mono_ns() < deadline)
			ev_loop_run_once(s->loop, 100000000ull);
		if (ttrpc_client_is_connected(s->client))
			return wh_err_setx(err, EBUSY,
					   "shim of task '%s' did not exit after Shutdown (tasks "
					   "left in it?)",
					   s->id);
	}
	r = rt_shim_delete_binary(s->cfg, s->binary, s->ns, s->id, NULL, &e);
	if (r < 0) {
		/* The task is gone already; the runc shim's delete may complain. Keep going. */
		log_warn("%s, ignoring", wh_err_msg(e));
		e = wh_err_free(e);
	}
	/* Drain the log before its fifo goes away. */
	ev_loop_run_once(s->loop, 0);
	r = rt_bundle_remove(s->bundle, err);
	if (r < 0)
		return wh_err_wrap(err, r, "shutdown task '%s'", s->id);
	return 0;
}

/* A socket left by a shim killed with -9 (a path socket nobody listens on any more). */
static void remove_stale_socket(const char *bundle)
{
	cleanup_free char *apath = path_join(bundle, "address");
	cleanup_free char *addr = NULL;
	const char *p;
	struct stat st;

	if (read_file(apath, 4096, &addr, NULL) < 0)
		return;
	p = str_startswith(addr, "unix://") ? addr + 7 : addr;
	if (p[0] != '/' || lstat(p, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	{
		cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		if (fd < 0 || strlen(p) >= sizeof(sa.sun_path))
			return;
		strcpy(sa.sun_path, p);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED)
			unlink(p);
	}
}

int rt_shim_cleanup_dead(const struct rt_config *cfg, const char *ns, const char *id,
			 struct rt_delete_result *ret, struct wh_err **err)
{
	cleanup_free char *bundle = rt_bundle_path(cfg->state_dir, ns, id);
	int r;

	r = rt_shim_delete_binary(cfg, NULL, ns, id, ret, err);
	if (r < 0)
		return r;
	remove_stale_socket(bundle);
	r = rt_bundle_remove(bundle, err);
	if (r < 0)
		return wh_err_wrap(err, r, "clean up task '%s/%s'", ns, id);
	return 0;
}

/* ---- async shutdown ---- */

static void shutdown_finish(struct rt_shim *s)
{
	cleanup_err struct wh_err *e = NULL;
	void (*done)(struct rt_shim *, int, const char *, void *) = s->shutdown_done;
	int r;

	if (!done)
		return;
	s->shutdown_done = NULL;
	s->shutdown_timer = ev_source_disable_unref(s->shutdown_timer);
	if (rt_shim_delete_binary(s->cfg, s->binary, s->ns, s->id, NULL, &e) < 0) {
		log_warn("%s, ignoring", wh_err_msg(e));
		e = wh_err_free(e);
	}
	r = rt_bundle_remove(s->bundle, &e);
	done(s, r, r < 0 ? wh_err_msg(e) : "", s->shutdown_data);
}

static int on_shutdown_defer(struct ev_source *src, void *userdata)
{
	struct rt_shim *s = userdata;

	s->shutdown_defer = ev_source_unref(s->shutdown_defer);
	shutdown_finish(s);
	return 0;
}

/* Connection closed: finish from a defer, outside the client's own callback. */
static void on_shutdown_close(struct rt_shim *s, void *userdata)
{
	if (!s->shutdown_defer &&
	    ev_add_defer(s->loop, &s->shutdown_defer, on_shutdown_defer, s) < 0)
		shutdown_finish(s);
}

static void on_shutdown_reply(struct ttrpc_client *c, struct ttrpc_reply *reply, void *userdata)
{
	struct rt_shim *s = userdata;

	/* "ttrpc: closed" is expected; any other error means the shim refused to go. */
	if (reply->code != TTRPC_OK && reply->code != TTRPC_UNAVAILABLE &&
	    reply->code != TTRPC_CANCELLED && s->shutdown_done) {
		void (*done)(struct rt_shim *, int, const char *, void *) = s->shutdown_done;

		s->shutdown_done = NULL;
		s->shutdown_timer = ev_source_disable_unref(s->shutdown_timer);
		done(s, -ttrpc_errno_from_code(reply->code), reply->message, s->shutdown_data);
	}
}

/* The shim answered but stayed (tasks left in it): give up waiting, leave the bundle. */
static int on_shutdown_timeout(struct ev_source *src, uint64_t now, void *userdata)
{
	struct rt_shim *s = userdata;
	void (*done)(struct rt_shim *, int, const char *, void *) = s->shutdown_done;
	cleanup_free char *msg = NULL;

	s->shutdown_timer = ev_source_unref(s->shutdown_timer);
	if (!done)
		return 0;
	s->shutdown_done = NULL;
	msg = xasprintf("shim of task '%s' did not exit after Shutdown (tasks left in it?)", s->id);
	done(s, -EBUSY, msg, s->shutdown_data);
	return 0;
}

int rt_shim_shutdown_async(struct rt_shim *s,
			   void (*done)(struct rt_shim *, int r, const char *msg, void *),
			   void *userdata, struct wh_err **err)
{
	Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
	int r;

	if (s->shutdown_done)
		return wh_err_setx(err, EALREADY, "task '%s': shutdown already in progress", s->id);
	s->shutdown_done = done;
	s->shutdown_data = userdata;
	rt_shim_on_close(s, on_shutdown_close, NULL);
	if (!rt_shim_is_connected(s)) {
		on_shutdown_close(s, NULL);
		return 0;
	}
	req.id = s->id;
	r = rt_task_call_async(s, RT_SHUTDOWN, &req.base, 3000000000ull, on_shutdown_reply, s, err);
	if (r >= 0)
		r = ev_add_timer(s->loop, &s->shutdown_timer, now_mono_ns() + rt_timeout(s->cfg),
				 on_shutdown_timeout, s);
	if (r < 0) {
		s->shutdown_done = NULL;
		return wh_err_wrap(err, r, "shutdown task '%s'", s->id);
	}
	return 0;
}

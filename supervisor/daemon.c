/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's life: directories, the single-instance lock, the stores, the API server, the
 * events bus, tasks, periodic GC, sd_notify, and a clean SIGTERM shutdown that leaves containers
 * (shims) running.
 */
#include "supervisor/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/util.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "snapshots/snapshots.h"
#include "supervisor/supervisor.h"
#include "ttrpc/ttrpc.h"

#define GC_INTERVAL_NS (600ull * 1000000000ull)
#define SHUTDOWN_GRACE_NS (5ull * 1000000000ull)
#define GC_DELAY_NS (1ull * 1000000000ull) /* after a delete, as containerd schedules it */

void content_writers_close_all(void);

int daemon_snapshotter(struct daemon *d, const char *name, struct snapshotter **ret,
		       const char **ret_name, struct wh_err **err)
{
	if (!name || !*name)
		name = d->cfg.snapshotter;
	if (streq(name, "overlayfs") || streq(name, "overlay")) {
		if (!d->overlay)
			return wh_err_setx(err, ENOENT,
					   "snapshotter 'overlayfs' is not available on this host");
		*ret = d->overlay;
		if (ret_name)
			*ret_name = "overlayfs";
		return 0;
	}
	if (streq(name, "native")) {
		*ret = d->native;
		if (ret_name)
			*ret_name = "native";
		return 0;
	}
	return wh_err_setx(err, ENOENT, "snapshotter '%s' not found (overlayfs, native)", name);
}

/* sd_notify(3) by hand: one datagram to $NOTIFY_SOCKET (a path or @abstract name). */
int daemon_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cleanup_close int fd = -EBADF;
	size_t len;
	socklen_t salen;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
		return -errno;
	return 1;
}

static int lock_state(const char *state, int *ret_fd, struct wh_err **err)
{
	cleanup_free char *p = path_join(state, "wharfd.lock");
	cleanup_close int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	char pid[32];
	int n;

	if (fd < 0)
		return wh_err_set(err, errno, "cannot open lock '%s'", p);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return wh_err_setx(err, EBUSY, "another wharfd is running on %s", state);
		return wh_err_set(err, errno, "cannot lock '%s'", p);
	}
	n = snprintf(pid, sizeof(pid), "%d\n", getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		return wh_err_set(err, errno, "cannot write lock '%s'", p);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int load_uuid(struct daemon *d, struct wh_err **err)
{
	cleanup_free char *p = path_join(d->cfg.root, "uuid");
	cleanup_free char *s = NULL;
	size_t len = 0;
	uint8_t b[16];
	int r;

	if (read_file(p, 64, &s, &len) >= 0 && len >= 36) {
		memcpy(d->uuid, s, 36);
		d->uuid[36] = 0;
		return 0;
	}
	{
		cleanup_close int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || read_full(fd, b, sizeof(b)) != sizeof(b))
			return wh_err_set(err, EIO, "cannot read /dev/urandom");
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(d->uuid, sizeof(d->uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
	r = write_file_atomic(p, d->uuid, 36, 0600);
	return r < 0 ? wh_err_set(err, r, "cannot write '%s'", p) : 0;
}

static int run_gc(struct ev_source *s, uint64_t now, void *userdata)
{
	struct daemon *d = userdata;
	struct meta_gc_stats st = {0};
	cleanup_err struct wh_err *e = NULL;

	if (meta_gc(d->db, snview_gc_remove, d, &st, &e) < 0)
		log_warn("gc: %s", wh_err_msg(e));
	else
		log_debug(
			"gc: %zu leases, %zu content, %zu blobs, %zu snapshots, %zu ingests removed",
			st.leases_expired, st.content_removed, st.blobs_removed,
			st.snapshots_removed, st.ingests_removed);
	ev_source_set_time(s, now + GC_INTERVAL_NS);
	ev_source_set_enabled(s, EV_ONESHOT);
	return 0;
}

void daemon_gc_soon(struct daemon *d)
{
	uint64_t at = now_mono_ns() + GC_DELAY_NS;

	/* Only the API loop's daemon has the timer (a worker's view has none). */
	if (!d->gc_timer)
		return;
	if (ev_source_get_enabled(d->gc_timer) == EV_OFF || ev_source_get_time(d->gc_timer) > at) {
		ev_source_set_time(d->gc_timer, at);
		ev_source_set_enabled(d->gc_timer, EV_ONESHOT);
	}
}

static void shutdown_done(struct ttrpc_server *s, void *userdata)
{
	struct daemon *d = userdata;

	(void)s;
	ev_loop_exit(d->loop, 0);
}

/* Calls that wait on something (Tasks/Wait, Subscriptions/Next) would hold the shutdown open. */
static int shutdown_timeout(struct ev_source *s, uint64_t now, void *userdata)
{
	struct daemon *d = userdata;

	(void)s, (void)now;
	log_info("shutdown: calls still pending after %llu s: closing them",
		 (unsigned long long)(SHUTDOWN_GRACE_NS / 1000000000ull));
	ev_loop_exit(d->loop, 0);
	return 0;
}

static int on_signal(struct ev_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	(void)s;
	if (d->stopping) {
		log_info("signal %d again: exiting now", si->ssi_signo);
		ev_loop_exit(d->loop, 0);
		return 0;
	}
	d->stopping = true;
	log_info("signal %d: shutting down (containers keep running)", si->ssi_signo);
	daemon_notify("STOPPING=1");
	ttrpc_server_shutdown(d->server, shutdown_done, d);
	if (ev_add_timer(d->loop, &d->shutdown_timer, now_mono_ns() + SHUTDOWN_GRACE_NS,
			 shutdown_timeout, d) < 0)
		ev_loop_exit(d->loop, 0);
	return 0;
}

int daemon_setup(struct daemon *d, struct wh_err **err)
{
	cleanup_free char *content_root = NULL, *native_root = NULL, *overlay_root = NULL;
	cleanup_free char *sock_dir = NULL;
	char *slash;
	int r;

	/* Block the signals we handle before any thread exists, so every thread inherits it. */
	{
		sigset_t ss;

		sigemptyset(&ss);
		sigaddset(&ss, SIGTERM);
		sigaddset(&ss, SIGINT);
		sigprocmask(SIG_BLOCK, &ss, NULL);
	}
	if (!d->cfg.address)
		d->cfg.address = path_join(d->cfg.state, "wharfd.sock");
	if ((r = mkdir_p(d->cfg.root, 0700)) < 0)
		return wh_err_set(err, r, "cannot create root '%s'", d->cfg.root);
	if ((r = mkdir_p(d->cfg.state, 0700)) < 0)
		return wh_err_set(err, r, "cannot create state '%s'", d->cfg.state);
	sock_dir = xstrdup(d->cfg.address);
	slash = strrchr(sock_dir, '/');
	if (slash && slash != sock_dir) {
		*slash = 0;
		if ((r = mkdir_p(sock_dir, 0700)) < 0)
			return wh_err_set(err, r, "cannot create socket dir '%s'", sock_dir);
	}
	if ((r = lock_state(d->cfg.state, &d->lock_fd, err)) < 0)
		return r;
	{
		/* Transfer and Diff run in wharfd-worker, installed beside wharfd (worker.c). */
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n <= 0)
			return wh_err_set(err, errno, "cannot read /proc/self/exe");
		self[n] = 0;
		*strrchr(self, '/') = 0;
		d->worker_path = path_join(*self ? self : "/", "wharfd-worker");
		if (access(d->worker_path, X_OK) < 0)
			log_warn("'%s' is missing: pull, push, import, export and diff will fail",
				 d->worker_path);
	}
	if ((r = load_uuid(d, err)) < 0)
		return r;
	content_root = path_join(d->cfg.root, "content");
	if ((r = content_store_open(content_root, &d->cs, err)) < 0)
		return r;
	d->db_path = path_join(d->cfg.root, "metadata.db");
	if ((r = meta_db_open(d->db_path, d->cs, &d->db, err)) < 0)
		return r;
	native_root = path_join(d->cfg.root, "snapshots/native");
	if ((r = mkdir_p(native_root, 0700)) < 0)
		return wh_err_set(err, r, "cannot create '%s'", native_root);
	if ((r = snapshotter_native_new(native_root, &d->native, err)) < 0)
		return r;
	overlay_root = path_join(d->cfg.root, "snapshots/overlayfs");
	if ((r = mkdir_p(overlay_root, 0700)) < 0)
		return wh_err_set(err, r, "cannot create '%s'", overlay_root);
	{
		cleanup_err struct wh_err *e = NULL;

		if (snapshotter_overlay_new(overlay_root, &d->overlay, &e) < 0) {
			log_warn("overlayfs snapshotter unavailable: %s", wh_err_msg(e));
			d->overlay = NULL;
			if (streq(d->cfg.snapshotter, "overlayfs")) {
				log_warn("default snapshotter falls back to native");
				free(d->cfg.snapshotter);
				d->cfg.snapshotter = xstrdup("native");
			}
		}
	}
	if ((r = ev_loop_new(&d->loop)) < 0)
		return wh_err_set(err, r, "event loop");
	if ((r = events_bus_new(d, &d->events)) < 0)
		return wh_err_set(err, r, "events");
	if ((r = pool_new(d, &d->pool, err)) < 0)
		return r;
	d->ttrpc_events_address = xasprintf("%s.ttrpc", d->cfg.address);
	if ((r = tasks_new(d, &d->tasks, err)) < 0)
		return r;
	tasks_reconcile(d->tasks);
	if ((r = ttrpc_server_new(d->loop, &d->server, err)) < 0 ||
	    (r = svc_register_ttrpc(d, d->server, err)) < 0)
		return r;
	if ((r = ttrpc_server_listen(d->server, d->cfg.address, 0660, err)) < 0)
		return wh_err_wrap(err, r, "cannot serve on '%s'", d->cfg.address);
	signal(SIGPIPE, SIG_IGN);
	if ((r = ev_add_signal(d->loop, NULL, SIGTERM, on_signal, d)) < 0 ||
	    (r = ev_add_signal(d->loop, NULL, SIGINT, on_signal, d)) < 0 ||
	    (r = ev_add_timer(d->loop, &d->gc_timer, now_mono_ns() + 5ull * 1000000000ull, run_gc,
			      d)) < 0)
		return wh_err_set(err, r, "event sources");
	return 0;
}

int daemon_run(struct daemon *d)
{
	int r;

	log_info("wharfd %s serving on %s (root %s, state %s, snapshotter %s)", WHARFD_VERSION,
		 d->cfg.address, d->cfg.root, d->cfg.state, d->cfg.snapshotter);
	r = daemon_notify("READY=1");
	if (r < 0)
		log_warn_errno(r, "sd_notify READY=1 failed");
	r = ev_loop_run(d->loop);
	log_info("wharfd stopped");
	return r;
}

void daemon_release(struct daemon *d)
{
	d->server = ttrpc_server_free(d->server);
	worker_stop_all(); /* a pull in progress must not hold the pool (and the stop) */
	d->pool = pool_free(d->pool);
	content_writers_close_all();
	d->tasks = tasks_free(d->tasks);
	d->events = events_bus_free(d->events);
	d->gc_timer = ev_source_disable_unref(d->gc_timer);
	d->shutdown_timer = ev_source_disable_unref(d->shutdown_timer);
	d->loop = ev_loop_free(d->loop);
	d->overlay = snapshotter_close(d->overlay);
	d->native = snapshotter_close(d->native);
	d->db = meta_db_close(d->db);
	d->cs = content_store_free(d->cs);
	free(d->ttrpc_events_address);
	free(d->db_path);
	free(d->worker_path);
	d->lock_fd = wh_close(d->lock_fd);
	config_release(&d->cfg);
}

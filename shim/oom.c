/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OOM notifications for a container's memory cgroup (PROTOCOLS.md 4.6): cgroup v1 registers an
 * eventfd on memory.oom_control through cgroup.event_control; cgroup v2 watches memory.events
 * with inotify and reports when its oom_kill counter grows.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <linux/magic.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/vfs.h>

#include "shim/internal.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

struct oom_watch {
	int fd; /* eventfd (v1) or inotify (v2) */
	bool v2;
	char *dir;
	uint64_t oom_kills;
	struct ev_source *src;
	oom_fn *cb;
	void *ud;
};

static bool cgroup_is_v2(void)
{
	struct statfs sf;
	return statfs(CGROUP_ROOT, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* The value of key in a "key value" lines file such as memory.events. */
static uint64_t read_counter(const char *dir, const char *file, const char *key)
{
	cleanup_free char *path = path_join(dir, file);
	cleanup_free char *text = NULL;
	if (read_file(path, 1 << 16, &text, NULL) < 0)
		return 0;
	size_t kl = strlen(key);
	for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
			return strtoull(l + kl + 1, NULL, 10);
	}
	return 0;
}

static int on_event(struct ev_source *s, int fd, uint32_t revents, void *ud)
{
	struct oom_watch *w = ud;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (access(w->dir, F_OK) < 0) {
		/* v1 also signals the eventfd when the cgroup is removed: not an OOM. */
		w->src = ev_source_disable_unref(w->src);
		return 0;
	}
	if (w->v2) {
		uint64_t kills = read_counter(w->dir, "memory.events", "oom_kill");
		if (kills <= w->oom_kills)
			return 0;
		w->oom_kills = kills;
	}
	w->cb(w->ud);
	return 0;
}

static int watch_v1(struct oom_watch *w, struct wh_err **err)
{
	cleanup_free char *ctl = path_join(w->dir, "memory.oom_control");
	cleanup_free char *evc = path_join(w->dir, "cgroup.event_control");
	cleanup_close int ofd = open(ctl, O_RDONLY | O_CLOEXEC);
	if (ofd < 0)
		return wh_err_set(err, errno, "open '%s'", ctl);
	w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->fd < 0)
		return wh_err_set(err, errno, "eventfd");
	cleanup_close int efd = open(evc, O_WRONLY | O_CLOEXEC);
	if (efd < 0)
		return wh_err_set(err, errno, "open '%s'", evc);
	char line[64];
	int n = snprintf(line, sizeof(line), "%d %d", w->fd, ofd);
	if (write(efd, line, (size_t)n) < 0)
		return wh_err_set(err, errno, "write '%s'", evc);
	return 0;
}

static int watch_v2(struct oom_watch *w, struct wh_err **err)
{
	cleanup_free char *events = path_join(w->dir, "memory.events");
	w->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w->fd < 0)
		return wh_err_set(err, errno, "inotify");
	if (inotify_add_watch(w->fd, events, IN_MODIFY) < 0)
		return wh_err_set(err, errno, "watch '%s'", events);
	w->oom_kills = read_counter(w->dir, "memory.events", "oom_kill");
	return 0;
}

int oom_watch_new(struct ev_loop *loop, const char *cgroup_path, oom_fn *cb, void *ud,
		  struct oom_watch **ret, struct wh_err **err)
{
	struct oom_watch *w = xnew0(struct oom_watch, 1);
	w->fd = -EBADF;
	w->cb = cb;
	w->ud = ud;
	w->v2 = cgroup_is_v2();
	w->dir = xasprintf("%s%s%s", CGROUP_ROOT, w->v2 ? "" : "/memory", cgroup_path);
	int r = w->v2 ? watch_v2(w, err) : watch_v1(w, err);
	if (r >= 0 && (r = ev_add_io(loop, &w->src, w->fd, EPOLLIN, on_event, w)) < 0)
		wh_err_set(err, r, "watch OOM events");
	if (r < 0) {
		oom_watch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

struct oom_watch *oom_watch_free(struct oom_watch *w)
{
	if (!w)
		return NULL;
	ev_source_disable_unref(w->src);
	wh_close(w->fd);
	free(w->dir);
	free(w);
	return NULL;
}

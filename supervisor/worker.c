/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharfd's side of the calls that run out of process: Transfer (pull, push, import, export) and
 * Diff (layer apply and diff) parse hostile input with large libraries (libcurl, libarchive and
 * what they load). Each call runs in a wharfd-worker process of its own, started from a worker
 * thread: a crash there fails one call, not the daemon, and the daemon's memory stays small. The
 * worker opens the same root (SQLite in WAL mode, the content store's per-ingest flocks and the
 * snapshotters' cross-process lock make that safe) and reports events and its answer in frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "proto/services/diff/v1/diff.pb-c.h"
#include "proto/services/wharf/v1/transfer.pb-c.h"
#include "supervisor/supervisor.h"

extern char **environ;

/* The workers running now, so that a stopping wharfd does not wait for a long pull. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t *live;
static size_t n_live, cap_live;
static bool stopping;

static bool live_add(pid_t pid)
{
	bool ok;

	pthread_mutex_lock(&live_lock);
	ok = !stopping;
	xgrow((void **)&live, &cap_live, n_live + 1, sizeof(*live));
	live[n_live++] = pid;
	pthread_mutex_unlock(&live_lock);
	return ok;
}

static void live_remove(pid_t pid)
{
	pthread_mutex_lock(&live_lock);
	for (size_t i = 0; i < n_live; i++) {
		if (live[i] == pid) {
			live[i] = live[--n_live];
			break;
		}
	}
	if (!n_live) {
		free(live);
		live = NULL;
		cap_live = 0;
	}
	pthread_mutex_unlock(&live_lock);
}

void worker_stop_all(void)
{
	pthread_mutex_lock(&live_lock);
	stopping = true;
	for (size_t i = 0; i < n_live; i++)
		kill(live[i], SIGTERM); /* still our unreaped child: the pid is not reused */
	pthread_mutex_unlock(&live_lock);
}

#define FRAME_MAX (256u << 20)

static void argv_add(char ***v, const char *flag, const char *value)
{
	if (!value)
		return;
	strv_push(v, flag);
	strv_push(v, value);
}

static char **worker_argv(struct svc_ctx *c, const char *service, const char *method)
{
	const struct config *cfg = &c->d->cfg;
	char **v = NULL;

	strv_push(&v, c->d->worker_path);
	argv_add(&v, "--root", cfg->root);
	argv_add(&v, "--state", cfg->state);
	argv_add(&v, "--snapshotter", cfg->snapshotter);
	argv_add(&v, "--log-level", cfg->log_level);
	argv_add(&v, "--registry-config-path", cfg->registry_config_path);
	for (char *const *h = cfg->plain_http; h && *h; h++)
		argv_add(&v, "--plain-http", *h);
	argv_add(&v, "--namespace", c->ns);
	argv_add(&v, "--lease", c->lease);
	strv_push(&v, service);
	strv_push(&v, method);
	return v;
}

static int read_frame(int fd, uint8_t *ret_type, struct strbuf *ret, struct wh_err **err)
{
	uint8_t h[5];
	ssize_t n = read_full(fd, h, sizeof(h));
	uint32_t len;

	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(h))
		return wh_err_setx(err, EPROTO, "wharfd-worker: truncated frame header");
	len = (uint32_t)h[1] | (uint32_t)h[2] << 8 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 24;
	if (len > FRAME_MAX)
		return wh_err_setx(err, EPROTO, "wharfd-worker: frame of %u bytes", len);
	strbuf_reset(ret);
	strbuf_grow(ret, len);
	if (len && read_full(fd, ret->buf, len) != (ssize_t)len)
		return wh_err_setx(err, EPROTO, "wharfd-worker: truncated frame");
	ret->len = len; /* strbuf_grow made room for len bytes and the NUL */
	ret->buf[len] = 0;
	*ret_type = h[0];
	return 1;
}

/* ns NUL topic NUL type_url NUL value: onto the bus (from this worker thread). */
static void forward_event(struct svc_ctx *c, const struct strbuf *f)
{
	const char *ns = f->buf, *end = f->buf + f->len;
	const char *topic = memchr(ns, 0, f->len);
	const char *url = topic ? memchr(topic + 1, 0, (size_t)(end - topic - 1)) : NULL;
	const char *val = url ? memchr(url + 1, 0, (size_t)(end - url - 1)) : NULL;

	if (!val) {
		log_warn("wharfd-worker: malformed event frame dropped");
		return;
	}
	topic++, url++, val++;
	if (c->d->worker_pool)
		pool_post_any(c->d->worker_pool, ns, topic, pb_any(url, val, (size_t)(end - val)));
}

int worker_call(struct svc_ctx *c, const ProtobufCServiceDescriptor *service, const char *method,
		const ProtobufCMessage *req, ProtobufCMessage **ret, struct wh_err **err)
{
	cleanup_strv char **argv = worker_argv(c, service->name, method);
	cleanup_free uint8_t *packed = xmalloc(protobuf_c_message_get_packed_size(req) + 1);
	size_t plen = protobuf_c_message_pack(req, packed);
	int in[2] = {-EBADF, -EBADF}, out[2] = {-EBADF, -EBADF};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none, defaults;
	struct strbuf f = STRBUF_INIT;
	bool answered = false;
	pid_t pid;
	int st, r;

	*ret = NULL;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		r = wh_err_set(err, errno, "wharfd-worker: pipes");
		wh_close(in[0]), wh_close(in[1]), wh_close(out[0]), wh_close(out[1]);
		return r;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	/* wharfd's blocked and ignored signals are not the worker's. */
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGINT);
	posix_spawnattr_init(&sa);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &defaults);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(&pid, c->d->worker_path, &fa, &sa, argv, environ);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	wh_close(in[0]);
	wh_close(out[1]);
	if (r != 0) {
		wh_close(in[1]), wh_close(out[0]);
		return wh_err_set(err, r, "cannot run '%s'", c->d->worker_path);
	}
	if (!live_add(pid))
		kill(pid, SIGTERM); /* wharfd is stopping: this call ends at once */
	/* The worker reads the whole request before it writes anything. A worker that died
	 * before reading it (EPIPE) is reported from its exit status below. */
	(void)write_all(in[1], packed, plen);
	wh_close(in[1]);
	r = 0;
	for (;;) {
		uint8_t type = 0;
		int q = read_frame(out[0], &type, &f, r < 0 ? NULL : err);

		if (q <= 0) {
			if (q < 0 && r >= 0)
				r = q;
			break;
		}
		if (type == WORKER_FRAME_EVENT) {
			forward_event(c, &f);
		} else if (type == WORKER_FRAME_RESPONSE && !answered && r >= 0) {
			*ret = protobuf_c_message_unpack(c->resp_desc, NULL, f.len,
							 (const uint8_t *)f.buf);
			if (!*ret)
				r = wh_err_setx(err, EPROTO, "wharfd-worker: bad %s answer",
						c->resp_desc->name);
			answered = true;
		} else if (type == WORKER_FRAME_ERROR && !answered && r >= 0 && f.len >= 4) {
			int code = (int)((uint32_t)(uint8_t)f.buf[0] |
					 (uint32_t)(uint8_t)f.buf[1] << 8 |
					 (uint32_t)(uint8_t)f.buf[2] << 16 |
					 (uint32_t)(uint8_t)f.buf[3] << 24);
			r = wh_err_setx(err, code > 0 ? code : EIO, "%s", f.buf + 4);
			answered = true;
		}
	}
	wh_close(out[0]);
	strbuf_release(&f);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	live_remove(pid);
	if (r >= 0 && !answered) {
		if (WIFSIGNALED(st))
			r = wh_err_setx(err, EIO, "wharfd-worker for %s/%s died of signal %d",
					service->name, method, WTERMSIG(st));
		else
			r = wh_err_setx(err, EIO, "wharfd-worker for %s/%s exited with %d",
					service->name, method, WEXITSTATUS(st));
	}
	if (r < 0 && *ret) {
		protobuf_c_message_free_unpacked(*ret, NULL);
		*ret = NULL;
	}
	return r;
}

/* wharfd's handlers: on a pool thread, each one a worker process. */
#define OUT_OF_PROCESS(name, desc, method)                                                      \
	static int name##_run(struct svc_ctx *c, const ProtobufCMessage *req,                   \
			      ProtobufCMessage **ret, struct wh_err **err)                      \
	{                                                                                       \
		return worker_call(c, &(desc), method, req, ret, err);                          \
	}                                                                                       \
	static int name(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret, \
			struct wh_err **err)                                                    \
	{                                                                                       \
		if (!c->d->pool)                                                                \
			return name##_run(c, req, ret, err);                                    \
		return pool_submit(c, req, name##_run, NULL);                                   \
	}

OUT_OF_PROCESS(tr_pull, wharf__services__images__v1__transfer__descriptor, "Pull")
OUT_OF_PROCESS(tr_push, wharf__services__images__v1__transfer__descriptor, "Push")
OUT_OF_PROCESS(tr_import, wharf__services__images__v1__transfer__descriptor, "Import")
OUT_OF_PROCESS(tr_export, wharf__services__images__v1__transfer__descriptor, "Export")
OUT_OF_PROCESS(df_apply, containerd__services__diff__v1__diff__descriptor, "Apply")
OUT_OF_PROCESS(df_diff, containerd__services__diff__v1__diff__descriptor, "Diff")

const struct svc_service svc_transfer = {
	&wharf__services__images__v1__transfer__descriptor,
	(const struct svc_method[]){{"Pull", tr_pull},
				    {"Push", tr_push},
				    {"Import", tr_import},
				    {"Export", tr_export},
				    {NULL, NULL}},
};

const struct svc_service svc_diff = {
	&containerd__services__diff__v1__diff__descriptor,
	(const struct svc_method[]){{"Apply", df_apply}, {"Diff", df_diff}, {NULL, NULL}},
};

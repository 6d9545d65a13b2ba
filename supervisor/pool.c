/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker pool for blocking service work (imports, pulls, pushes, exports, unpacks): a
 * handler's call is detached and queued; a worker runs the same transport-independent handler
 * against a view of the daemon with its own metadata connection (SQLite connections are per
 * thread) and no events bus; the answer returns to the API loop, which answers the call and
 * publishes the events the worker could not.
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
#include "supervisor/supervisor.h"

#define POOL_THREADS 2

struct pool_job {
	struct pool_job *next;
	struct svc_ctx *ctx;
	svc_fn *fn;
	pool_done_fn *done;
	ProtobufCMessage *req;
	ProtobufCMessage *resp;
	struct wh_err *e;
	int r;
};

struct pool_event {
	struct pool_event *next;
	char *ns, *topic;
	Google__Protobuf__Any *ev;
};

struct pool {
	struct daemon *d;
	struct daemon tmpl;
	struct pool_event *events, **events_tail;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pool_job *todo, *done;
	bool quit;
	int efd;
	struct ev_source *src;
	pthread_t threads[POOL_THREADS];
	size_t n_threads;
};

static void *worker(void *userdata)
{
	struct pool *p = userdata;
	struct daemon view = p->tmpl; /* written before this thread started */
	struct wh_err *e = NULL;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (meta_db_open(p->d->db_path, p->d->cs, &view.db, &e) < 0) {
		log_error("worker: cannot open metadata: %s", wh_err_msg(e));
		wh_err_free(e);
	}
	for (;;) {
		struct pool_job *j;
		uint64_t one = 1;

		pthread_mutex_lock(&p->lock);
		while (!p->todo && !p->quit)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->quit) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		j = p->todo;
		p->todo = j->next;
		pthread_mutex_unlock(&p->lock);

		if (!view.db) {
			j->r = wh_err_setx(&j->e, EIO, "worker has no metadata connection");
		} else {
			struct svc_ctx c = *j->ctx;

			c.d = &view;
			j->r = j->fn(&c, j->req, &j->resp, &j->e);
			if (j->r == SVC_ASYNC) /* workers run synchronous handlers only */
				j->r = wh_err_setx(&j->e, EINVAL,
						   "asynchronous handler in a worker");
		}
		pthread_mutex_lock(&p->lock);
		j->next = p->done;
		p->done = j;
		pthread_mutex_unlock(&p->lock);
		if (write(p->efd, &one, sizeof(one)) < 0)
			log_warn("worker: eventfd write failed");
	}
	meta_db_close(view.db);
	return NULL;
}

static int on_done(struct ev_source *s, int fd, uint32_t revents, void *userdata)
{
	struct pool *p = userdata;
	struct pool_job *list;
	uint64_t v;

	(void)s, (void)revents;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return 0;
	pthread_mutex_lock(&p->lock);
	list = p->done;
	p->done = NULL;
	{
		struct pool_event *evs = p->events;

		p->events = NULL;
		p->events_tail = &p->events;
		pthread_mutex_unlock(&p->lock);
		while (evs) {
			struct pool_event *e = evs;

			evs = e->next;
			events_publish(p->d->events, e->ns, e->topic, 0, e->ev);
			free(e->ns);
			free(e->topic);
			free(e);
		}
	}
	while (list) {
		struct pool_job *j = list;

		list = j->next;
		if (j->r >= 0 && j->done && j->resp)
			j->done(p->d, j->ctx->ns, j->resp);
		protobuf_c_message_free_unpacked(j->req, NULL);
		svc_complete(j->ctx, j->r, j->resp, j->e);
		free(j);
	}
	return 0;
}

int pool_new(struct daemon *d, struct pool **ret, struct wh_err **err)
{
	struct pool *p = xnew0(struct pool, 1);
	int r;

	p->d = d;
	/* The workers' view of the daemon: stores and config, no loop-bound objects. */
	p->tmpl = *d;
	p->tmpl.db = NULL;
	p->tmpl.events = NULL;
	p->tmpl.pool = NULL;
	p->tmpl.tasks = NULL;
	p->tmpl.server = NULL;
	p->tmpl.gc_timer = NULL;
	p->tmpl.shutdown_timer = NULL;
	p->tmpl.worker_pool = p;
	p->events_tail = &p->events;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0) {
		r = wh_err_set(err, errno, "eventfd");
		goto fail;
	}
	if ((r = ev_add_io(d->loop, &p->src, p->efd, EPOLLIN, on_done, p)) < 0) {
		r = wh_err_set(err, r, "worker pool source");
		goto fail;
	}
	for (; p->n_threads < POOL_THREADS; p->n_threads++) {
		r = pthread_create(&p->threads[p->n_threads], NULL, worker, p);
		if (r != 0) {
			r = wh_err_set(err, r, "cannot start a worker thread");
			goto fail;
		}
	}
	*ret = p;
	return 0;
fail:
	pool_free(p);
	return r;
}

struct pool *pool_free(struct pool *p)
{
	if (!p)
		return NULL;
	pthread_mutex_lock(&p->lock);
	p->quit = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	/* Calls still queued or finished are answered (CANCELLED if they never ran). */
	while (p->todo) {
		struct pool_job *j = p->todo;

		p->todo = j->next;
		protobuf_c_message_free_unpacked(j->req, NULL);
		svc_complete(j->ctx, -ECANCELED, NULL, NULL);
		free(j);
	}
	while (p->done) {
		struct pool_job *j = p->done;

		p->done = j->next;
		protobuf_c_message_free_unpacked(j->req, NULL);
		svc_complete(j->ctx, j->r, j->resp, j->e);
		free(j);
	}
	while (p->events) {
		struct pool_event *e = p->events;

		p->events = e->next;
		protobuf_c_message_free_unpacked(&e->ev->base, NULL);
		free(e->ns);
		free(e->topic);
		free(e);
	}
	ev_source_disable_unref(p->src);
	wh_close(p->efd);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
	return NULL;
}

int pool_submit(struct svc_ctx *c, const ProtobufCMessage *req, svc_fn *fn, pool_done_fn *done)
{
	struct pool *p = c->d->pool;
	struct pool_job *j = xnew0(struct pool_job, 1);
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = xmalloc(len + 1);

	protobuf_c_message_pack(req, buf);
	j->req = protobuf_c_message_unpack(req->descriptor, NULL, len, buf);
	free(buf);
	wh_assert(j->req);
	j->fn = fn;
	j->done = done;
	j->ctx = svc_ctx_detach(c);
	pthread_mutex_lock(&p->lock);
	/* FIFO: append. */
	{
		struct pool_job **t = &p->todo;

		while (*t)
			t = &(*t)->next;
		*t = j;
	}
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return SVC_ASYNC;
}

void pool_post_event(struct pool *p, const char *ns, const char *topic, const ProtobufCMessage *msg)
{
	pool_post_any(p, ns, topic, pb_any_msg(msg));
}

void pool_post_any(struct pool *p, const char *ns, const char *topic, Google__Protobuf__Any *ev)
{
	struct pool_event *e = xnew0(struct pool_event, 1);
	uint64_t one = 1;

	e->ns = xstrdup(ns);
	e->topic = xstrdup(topic);
	e->ev = ev;
	pthread_mutex_lock(&p->lock);
	*p->events_tail = e;
	p->events_tail = &e->next;
	pthread_mutex_unlock(&p->lock);
	if (write(p->efd, &one, sizeof(one)) < 0)
		log_warn("worker: eventfd write failed");
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The thin ttrpc glue: one generic ttrpc handler per registered service that finds the method's
 * svc_fn, builds the svc_ctx (namespace from containerd-namespace, default "default"; lease from
 * containerd-lease) and turns the handler's result into the answer.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/netsetup.h"
#include "supervisor/supervisor.h"
#include "supervisor/volumes.h"
#include "ttrpc/ttrpc.h"

struct binding {
	struct daemon *d;
	const struct svc_service *svc;
};

static void ctx_free(struct svc_ctx *c)
{
	free(c->cancel_hook);
	free(c->ns);
	free(c->lease);
	free(c);
}

struct svc_ctx *svc_ctx_detach(const struct svc_ctx *c)
{
	struct svc_ctx *n = xnew0(struct svc_ctx, 1);

	*n = *c;
	n->ns = xstrdup(c->ns);
	n->lease = c->lease ? xstrdup(c->lease) : NULL;
	n->cancel_hook = NULL;
	return n;
}

static void answer(struct ttrpc_call *call, const ProtobufCMessageDescriptor *desc, int r,
		   ProtobufCMessage *resp, struct wh_err *e, uint64_t start_ns)
{
	if (log_get_level() >= LOG_DEBUG) {
		const Ttrpc__Request *rq = ttrpc_call_request(call);

		log_debug("%s/%s: %s in %.2f ms", rq->service, rq->method, r < 0 ? "failed" : "ok",
			  (double)(now_mono_ns() - start_ns) / 1e6);
	}
	if (r < 0) {
		const char *name = ttrpc_call_request(call)->method;

		log_debug("%s: %s", name, wh_err_msg(e));
		if (e)
			ttrpc_call_reply_err(call, r, e);
		else
			ttrpc_call_reply_err(call, r, NULL);
	} else if (resp) {
		ttrpc_call_reply(call, resp);
	} else {
		ProtobufCMessage *empty = pb_new(desc);

		ttrpc_call_reply(call, empty);
		protobuf_c_message_free_unpacked(empty, NULL);
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	wh_err_free(e);
}

void svc_complete(struct svc_ctx *c, int r, ProtobufCMessage *resp, struct wh_err *e)
{
	answer(c->transport, c->resp_desc, r, resp, e, c->start_ns);
	ctx_free(c);
}

bool svc_ctx_cancelled(const struct svc_ctx *c)
{
	return ttrpc_call_is_cancelled(c->transport);
}

struct cancel_hook {
	struct svc_ctx *c;
	void (*fn)(struct svc_ctx *, void *);
	void *userdata;
};

static void on_cancel(struct ttrpc_call *call, void *userdata)
{
	struct cancel_hook *h = userdata;

	(void)call;
	h->fn(h->c, h->userdata); /* may complete (and free) h->c and with it h */
}

void svc_ctx_on_cancel(struct svc_ctx *c, void (*fn)(struct svc_ctx *, void *), void *userdata)
{
	struct cancel_hook *h = xnew0(struct cancel_hook, 1);

	*h = (struct cancel_hook){c, fn, userdata};
	free(c->cancel_hook);
	c->cancel_hook = h;
	ttrpc_call_on_cancel(c->transport, on_cancel, h);
}

static int glue(struct ttrpc_call *call, const ProtobufCMessage *req, void *userdata)
{
	struct binding *b = userdata;
	const char *method = ttrpc_call_request(call)->method;
	const ProtobufCMethodDescriptor *md;
	const char *ns = ttrpc_call_metadata(call, "containerd-namespace");
	const char *lease = ttrpc_call_metadata(call, "containerd-lease");
	ProtobufCMessage *resp = NULL;
	struct wh_err *e = NULL;
	struct svc_ctx c;
	svc_fn *fn = NULL;
	int r;

	md = protobuf_c_service_descriptor_get_method_by_name(b->svc->desc, method);
	for (const struct svc_method *m = b->svc->methods; m->name; m++)
		if (streq(m->name, method))
			fn = m->fn;
	if (!md || !fn)
		return ttrpc_call_reply_error(call, TTRPC_UNIMPLEMENTED, "%s/%s not implemented",
					      b->svc->desc->name, method);
	c = (struct svc_ctx){
		.d = b->d,
		.ns = (char *)(ns && *ns ? ns : DEFAULT_NAMESPACE),
		.lease = (char *)(lease && *lease ? lease : NULL),
		.transport = call,
		.resp_desc = md->output,
		.start_ns = now_mono_ns(),
	};
	r = fn(&c, req, &resp, &e);
	if (r == SVC_ASYNC)
		return 0;
	answer(call, md->output, r, resp, e, c.start_ns);
	return 0;
}

static const struct svc_service *const all_services[] = {
	&svc_namespaces, &svc_containers, &svc_leases,	      &svc_content, &svc_snapshots,
	&svc_images,	 &svc_version,	  &svc_introspection, &svc_events,  &svc_subscriptions,
	&svc_transfer,	 &svc_diff,	  &svc_tasks,	      &svc_volumes, &svc_networks,
};

int svc_register_ttrpc(struct daemon *d, struct ttrpc_server *s, struct wh_err **err)
{
	for (size_t i = 0; i < ARRAY_SIZE(all_services); i++) {
		const struct svc_service *svc = all_services[i];
		static struct binding bindings[ARRAY_SIZE(all_services)];
		struct binding *b = &bindings[i];
		struct ttrpc_method *methods;
		size_t n = svc->desc->n_methods;
		int r;

		*b = (struct binding){d, svc};
		methods = xnew0(struct ttrpc_method, n + 1);
		for (size_t j = 0; j < n; j++)
			methods[j] = (struct ttrpc_method){svc->desc->methods[j].name, glue};
		r = ttrpc_server_register(s, svc->desc, methods, b, err);
		free(methods);
		if (r < 0)
			return r;
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharfctl's connection to wharfd: one ttrpc client on a loop of its own, synchronous calls
 * that carry the namespace (containerd-namespace metadata) and the --timeout.
 */
#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "common/ev.h"
#include "ctl/ctl.h"
#include "ttrpc/ttrpc.h"

struct ctl_client_full {
	struct ctl_client pub;
	const char *md[5];
	char *lease;
};

int ctl_client_open(const struct ctl_global *g, struct ctl_client **ret, struct wh_err **err)
{
	struct ctl_client_full *f;
	struct ev_loop *l = NULL;
	struct ttrpc_client *c = NULL;
	struct wh_err *e = NULL;
	int r;

	if ((r = ev_loop_new(&l)) < 0)
		return wh_err_set(err, r, "event loop");
	r = ttrpc_client_connect(l, g->address, &c, &e);
	if (r < 0) {
		ev_loop_free(l);
		if (r == -ECONNREFUSED || r == -ENOENT || r == -ENOTDIR) {
			r = wh_err_setx(err, -r, "cannot connect to %s: is wharfd running?",
					g->address);
			wh_err_free(e);
			return r;
		}
		if (!e)
			return wh_err_set(err, r, "cannot connect to %s", g->address);
		wh_err_move(err, &e);
		return wh_err_wrap(err, r, "cannot connect to %s", g->address);
	}
	f = xnew0(struct ctl_client_full, 1);
	f->pub = (struct ctl_client){
		.loop = l, .c = c, .address = g->address, .ns = g->ns, .timeout_ns = g->timeout_ns};
	f->md[0] = "containerd-namespace";
	f->md[1] = g->ns;
	f->md[2] = NULL;
	*ret = &f->pub;
	return 0;
}

struct ctl_client *ctl_client_free(struct ctl_client *c)
{
	if (!c)
		return NULL;
	ttrpc_client_free(c->c);
	ev_loop_free(c->loop);
	free(((struct ctl_client_full *)c)->lease);
	free(c);
	return NULL;
}

void ctl_client_set_lease(struct ctl_client *c, const char *lease)
{
	struct ctl_client_full *f = (struct ctl_client_full *)c;

	free(f->lease);
	f->lease = lease ? xstrdup(lease) : NULL;
	f->md[2] = lease ? "containerd-lease" : NULL;
	f->md[3] = f->lease;
	f->md[4] = NULL;
}

const char *const *ctl_client_metadata(struct ctl_client *c)
{
	return ((struct ctl_client_full *)c)->md;
}

static int call(struct ctl_client *c, uint64_t timeout, const char *service, const char *method,
		const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
		ProtobufCMessage **ret, struct wh_err **err)
{
	struct ttrpc_call_opts o = {.timeout_ns = timeout, .metadata = ctl_client_metadata(c)};
	struct wh_err *e = NULL;
	int r;

	r = ttrpc_client_call(c->c, service, method, req, desc, &o, ret, &e);
	if (r >= 0)
		return r;
	if (!ttrpc_client_is_connected(c->c)) {
		wh_err_free(e);
		return wh_err_setx(err, -r, "wharfd at %s closed the connection", c->address);
	}
	if (r == -ETIMEDOUT && timeout) {
		wh_err_free(e);
		return wh_err_setx(err, ETIMEDOUT, "%s: no answer within the timeout", method);
	}
	if (!e)
		return wh_err_set(err, r, "%s.%s", service, method);
	return wh_err_move(err, &e);
}

int ctl_call(struct ctl_client *c, const char *service, const char *method,
	     const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
	     ProtobufCMessage **ret, struct wh_err **err)
{
	return call(c, c->timeout_ns, service, method, req, desc, ret, err);
}

int ctl_call_long(struct ctl_client *c, const char *service, const char *method,
		  const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
		  ProtobufCMessage **ret, struct wh_err **err)
{
	return call(c, 0, service, method, req, desc, ret, err);
}

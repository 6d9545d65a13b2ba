/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharfd-worker: runs one Transfer or Diff call for wharfd (worker.c) and exits. It opens the
 * daemon's stores under --root itself, reads the packed request on stdin, and writes frames on
 * stdout: the events the call publishes, then its answer or its error. Not for people to run.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "snapshots/snapshots.h"
#include "supervisor/supervisor.h"

static const struct svc_service *const services[] = {&worker_svc_transfer, &worker_svc_diff};

static int write_frame(uint8_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	size_t len = alen + blen;
	uint8_t h[5] = {type, (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
			(uint8_t)(len >> 24)};

	if (write_all(1, h, sizeof(h)) < 0 || (alen && write_all(1, a, alen) < 0) ||
	    (blen && write_all(1, b, blen) < 0))
		return -EPIPE;
	return 0;
}

/* daemon_publish here: the event goes to wharfd, which puts it on its bus. */
static void publish_to_wharfd(struct daemon *d, const char *ns, const char *topic,
			      const ProtobufCMessage *msg)
{
	Google__Protobuf__Any *any = pb_any_msg(msg);
	struct strbuf h = STRBUF_INIT;

	(void)d;
	strbuf_add(&h, ns, strlen(ns) + 1);
	strbuf_add(&h, topic, strlen(topic) + 1);
	strbuf_add(&h, any->type_url, strlen(any->type_url) + 1);
	if (write_frame(WORKER_FRAME_EVENT, h.buf, h.len, any->value.data, any->value.len) < 0)
		log_warn("cannot send event %s to wharfd", topic);
	strbuf_release(&h);
	protobuf_c_message_free_unpacked(&any->base, NULL);
}

static int open_stores(struct daemon *d, struct wh_err **err)
{
	cleanup_free char *content = path_join(d->cfg.root, "content");
	cleanup_free char *native = path_join(d->cfg.root, "snapshots/native");
	cleanup_free char *overlay = path_join(d->cfg.root, "snapshots/overlayfs");
	int r;

	if ((r = content_store_open(content, &d->cs, err)) < 0)
		return r;
	d->db_path = path_join(d->cfg.root, "metadata.db");
	if ((r = meta_db_open(d->db_path, d->cs, &d->db, err)) < 0)
		return r;
	if ((r = snapshotter_native_new(native, &d->native, err)) < 0)
		return r;
	/* wharfd passes the snapshotter it settled on: overlayfs only when it works here. */
	if (streq(d->cfg.snapshotter, "overlayfs") &&
	    (r = snapshotter_overlay_new(overlay, &d->overlay, err)) < 0)
		return r;
	return 0;
}

static int run(struct daemon *d, const char *ns, const char *lease, const char *service,
	       const char *method, struct wh_err **err)
{
	const struct svc_service *svc = NULL;
	const ProtobufCMethodDescriptor *md = NULL;
	const struct svc_method *m = NULL;
	ProtobufCMessage *req = NULL, *resp = NULL;
	cleanup_free char *in = NULL;
	size_t len = 0;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(services) && !svc; i++)
		if (streq(services[i]->desc->name, service))
			svc = services[i];
	if (!svc)
		return wh_err_setx(err, ENOENT, "wharfd-worker: unknown service '%s'", service);
	for (m = svc->methods; m->name && !streq(m->name, method); m++)
		;
	md = protobuf_c_service_descriptor_get_method_by_name(svc->desc, method);
	if (!m->name || !md)
		return wh_err_setx(err, ENOENT, "wharfd-worker: unknown method %s/%s", service,
				   method);
	if ((r = read_fd(0, WORKER_REQUEST_MAX, &in, &len)) < 0)
		return wh_err_set(err, r, "wharfd-worker: read the request");
	req = protobuf_c_message_unpack(md->input, NULL, len, (const uint8_t *)in);
	if (!req)
		return wh_err_setx(err, EINVAL, "wharfd-worker: bad %s request", md->input->name);
	{
		struct svc_ctx c = {.d = d,
				    .ns = (char *)ns,
				    .lease = (char *)lease,
				    .start_ns = now_mono_ns(),
				    .resp_desc = md->output};

		r = m->fn(&c, req, &resp, err);
	}
	protobuf_c_message_free_unpacked(req, NULL);
	if (r < 0)
		return r;
	{
		size_t n = resp ? protobuf_c_message_get_packed_size(resp) : 0;
		cleanup_free uint8_t *buf = xmalloc(n + 1);

		if (resp) {
			protobuf_c_message_pack(resp, buf);
			protobuf_c_message_free_unpacked(resp, NULL);
		}
		if (write_frame(WORKER_FRAME_RESPONSE, buf, n, NULL, 0) < 0)
			return -EPIPE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"root", required_argument, NULL, 'r'},
		{"state", required_argument, NULL, 's'},
		{"snapshotter", required_argument, NULL, 'S'},
		{"log-level", required_argument, NULL, 'l'},
		{"registry-config-path", required_argument, NULL, 'C'},
		{"plain-http", required_argument, NULL, 'p'},
		{"namespace", required_argument, NULL, 'n'},
		{"lease", required_argument, NULL, 'L'},
		{NULL, 0, NULL, 0},
	};
	struct daemon d = {.lock_fd = -EBADF, .publish_hook = publish_to_wharfd};
	cleanup_err struct wh_err *e = NULL;
	const char *ns = DEFAULT_NAMESPACE, *lease = NULL;
	int c, r;

	log_set_ident("wharfd-worker");
	signal(SIGPIPE, SIG_IGN); /* a gone wharfd is EPIPE on stdout, not a silent death */
	config_defaults(&d.cfg);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		char **slot = c == 'r'	 ? &d.cfg.root
			      : c == 's' ? &d.cfg.state
			      : c == 'S' ? &d.cfg.snapshotter
			      : c == 'l' ? &d.cfg.log_level
			      : c == 'C' ? &d.cfg.registry_config_path
					 : NULL;

		if (slot) {
			free(*slot);
			*slot = xstrdup(optarg);
		} else if (c == 'p') {
			strv_push(&d.cfg.plain_http, optarg);
		} else if (c == 'n') {
			ns = optarg;
		} else if (c == 'L') {
			lease = optarg;
		} else {
			fprintf(stderr, "usage: wharfd-worker [--root DIR ...] SERVICE METHOD "
					"(run by wharfd)\n");
			config_release(&d.cfg);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr,
			"usage: wharfd-worker [--root DIR ...] SERVICE METHOD (run by wharfd)\n");
		config_release(&d.cfg);
		return 2;
	}
	if ((r = log_parse_level(d.cfg.log_level)) >= 0)
		log_set_level(r);
	r = open_stores(&d, &e);
	if (r >= 0)
		r = run(&d, ns, lease, argv[optind], argv[optind + 1], &e);
	if (r < 0) {
		const char *msg = wh_err_msg(e);
		int code = e ? -r : EIO;
		uint8_t b[4] = {(uint8_t)code, (uint8_t)(code >> 8), (uint8_t)(code >> 16),
				(uint8_t)(code >> 24)};

		if (write_frame(WORKER_FRAME_ERROR, b, sizeof(b), msg, strlen(msg) + 1) < 0)
			fprintf(stderr, "wharfd-worker: %s\n", msg);
	}
	d.overlay = snapshotter_close(d.overlay);
	d.native = snapshotter_close(d.native);
	d.db = meta_db_close(d.db);
	d.cs = content_store_free(d.cs);
	free(d.db_path);
	config_release(&d.cfg);
	return r < 0 ? 1 : 0;
}

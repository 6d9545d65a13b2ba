/* SPDX-License-Identifier: Apache-2.0 */
/*
 * images pull|push|ls|rm|tag|import|export|check|usage. Pull, push, import and export go through
 * wharfd's Transfer service (the daemon does the work); pull shows progress bars on a terminal
 * by polling the content store's active ingests, as ctr does, and plain lines otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ev.h"
#include "ctl/cmd.h"
#include "proto/google/protobuf/empty.pb-c.h"
#include "proto/google/protobuf/timestamp.pb-c.h"
#include "proto/services/content/v1/content.pb-c.h"
#include "proto/services/images/v1/images.pb-c.h"
#include "proto/services/snapshots/v1/snapshots.pb-c.h"
#include "proto/services/wharf/v1/transfer.pb-c.h"
#include "ttrpc/ttrpc.h"

#define IMG_SVC "containerd.services.images.v1.Images"
#define XFER_SVC "wharf.services.images.v1.Transfer"

struct xfer_opts {
	Wharf__Services__Images__V1__RegistryOptions reg;
	Containerd__Types__Platform plat;
	bool has_plat, all_platforms, no_unpack;
	const char *snapshotter, *base_name, *index_name;
	char *userpass;
	char **rest;
};

static int parse_xfer(int argc, char **argv, struct xfer_opts *o)
{
	static const struct option opts[] = {
		{"plain-http", no_argument, NULL, 'h'},
		{"skip-verify", no_argument, NULL, 'k'},
		{"user", required_argument, NULL, 'u'},
		{"platform", required_argument, NULL, 'p'},
		{"all-platforms", no_argument, NULL, 'a'},
		{"snapshotter", required_argument, NULL, 's'},
		{"no-unpack", no_argument, NULL, 'n'},
		{"base-name", required_argument, NULL, 'b'},
		{"index-name", required_argument, NULL, 'i'},
		{NULL, 0, NULL, 0},
	};
	int c;

	wharf__services__images__v1__registry_options__init(&o->reg);
	containerd__types__platform__init(&o->plat);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+ku:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			o->reg.plain_http = true;
			break;
		case 'k':
			o->reg.skip_verify = true;
			break;
		case 'u': {
			char *colon = strchr(optarg, ':');

			if (!colon)
				return cmd_failf("%s: --user '%s': expected USER:PASSWORD", argv[0],
						 optarg);
			o->userpass = xstrdup(optarg);
			o->userpass[colon - optarg] = 0;
			o->reg.user = o->userpass;
			o->reg.password = o->userpass + (colon - optarg) + 1;
			break;
		}
		case 'p': {
			char *slash = strchr(optarg, '/');

			if (!slash || slash == optarg || !slash[1])
				return cmd_failf("%s: --platform '%s': expected OS/ARCH[/VARIANT]",
						 argv[0], optarg);
			o->plat.os = xstrndup(optarg, slash - optarg);
			o->plat.architecture = xstrdup(slash + 1);
			if ((slash = strchr(o->plat.architecture, '/'))) {
				*slash = 0;
				o->plat.variant = slash + 1;
			}
			o->has_plat = true;
			break;
		}
		case 'a':
			o->all_platforms = true;
			break;
		case 's':
			o->snapshotter = optarg;
			break;
		case 'n':
			o->no_unpack = true;
			break;
		case 'b':
			o->base_name = optarg;
			break;
		case 'i':
			o->index_name = optarg;
			break;
		default:
			return cmd_failf("%s: unknown flag or missing value '%s'", argv[0],
					 argv[optind - 1]);
		}
	}
	o->rest = argv + optind;
	return 0;
}

static void xfer_release(struct xfer_opts *o)
{
	free(o->userpass);
	if (o->has_plat) {
		free(o->plat.os);
		free(o->plat.architecture);
	}
}

/* ---- pull with progress ---- */

struct pull_state {
	struct ctl_client *c;
	bool done, polling, tty;
	int rc;
	unsigned lines; /* progress lines drawn last time */
	Wharf__Services__Images__V1__PullResponse *resp;
	struct wh_err *e;
};

static void draw_statuses(struct pull_state *s,
			  const Containerd__Services__Content__V1__ListStatusesResponse *r)
{
	struct strbuf sb = STRBUF_INIT;

	if (s->lines)
		strbuf_addf(&sb, "\033[%uA", s->lines);
	for (size_t i = 0; i < r->n_statuses; i++) {
		const Containerd__Services__Content__V1__Status *st = r->statuses[i];
		cleanup_free char *line = ctl_fmt_progress(st->ref, st->offset, st->total);

		strbuf_addf(&sb, "\033[2K%s\n", line);
	}
	/* Clear lines left from a longer previous list. */
	for (unsigned i = (unsigned)r->n_statuses; i < s->lines; i++)
		strbuf_adds(&sb, "\033[2K\n");
	s->lines = MAX(s->lines, (unsigned)r->n_statuses);
	fputs(sb.buf, stdout);
	fflush(stdout);
	strbuf_release(&sb);
}

static void on_statuses(struct ttrpc_client *tc, struct ttrpc_reply *reply, void *userdata)
{
	struct pull_state *s = userdata;

	s->polling = false;
	if (reply->code == TTRPC_OK && reply->msg && !s->done)
		draw_statuses(
			s, (Containerd__Services__Content__V1__ListStatusesResponse *)reply->msg);
}

static int on_tick(struct ev_source *src, uint64_t now, void *userdata)
{
	Containerd__Services__Content__V1__ListStatusesRequest q =
		CONTAINERD__SERVICES__CONTENT__V1__LIST_STATUSES_REQUEST__INIT;
	struct ttrpc_call_opts o = {
		.metadata = ctl_client_metadata(((struct pull_state *)userdata)->c)};
	struct pull_state *s = userdata;

	if (!s->polling && !s->done &&
	    ttrpc_client_call_async(
		    s->c->c, "containerd.services.content.v1.Content", "ListStatuses", &q.base,
		    &containerd__services__content__v1__list_statuses_response__descriptor, &o,
		    on_statuses, s, NULL) > 0)
		s->polling = true;
	ev_source_set_time(src, now + 200000000ULL);
	return 0;
}

static void on_pulled(struct ttrpc_client *tc, struct ttrpc_reply *reply, void *userdata)
{
	struct pull_state *s = userdata;

	s->done = true;
	if (reply->code == TTRPC_OK) {
		s->resp = (Wharf__Services__Images__V1__PullResponse *)TAKE_PTR(reply->msg);
		return;
	}
	s->rc = -ttrpc_errno_from_code(reply->code);
	wh_err_setx(&s->e, ttrpc_errno_from_code(reply->code), "%s", reply->message);
}

static void print_pull(const struct pull_state *s)
{
	const Wharf__Services__Images__V1__PullResponse *r = s->resp;

	for (size_t i = 0; i < r->n_blobs; i++) {
		cleanup_free char *size = ctl_fmt_size(r->blobs[i]->size);
		printf("%s: %s (%s)\n", r->blobs[i]->digest,
		       r->blobs[i]->fetched ? "fetched" : "exists", size);
	}
	if (r->chain_id && *r->chain_id)
		printf("unpacked %s: %u layers applied, %u reused\n", r->chain_id,
		       r->layers_applied, r->layers_reused);
	if (r->image)
		printf("%s: %s\n", r->image->name,
		       r->image->target ? r->image->target->digest : "-");
}

static int img_pull(struct cmd_ctx *x, int argc, char **argv)
{
	Wharf__Services__Images__V1__PullRequest q =
		WHARF__SERVICES__IMAGES__V1__PULL_REQUEST__INIT;
	struct pull_state s = {.tty = isatty(STDOUT_FILENO)};
	struct ttrpc_call_opts co = {0};
	cleanup(ev_source_unrefp) struct ev_source *tick = NULL;
	struct xfer_opts o = {0};
	int r;

	if (parse_xfer(argc, argv, &o)) {
		xfer_release(&o);
		return 1;
	}
	if (!o.rest[0] || o.rest[1]) {
		xfer_release(&o);
		return cmd_failf(
			"usage: images pull [--plain-http] [-k] [-u U:P] [--platform OS/ARCH] "
			"[--all-platforms] [--no-unpack] [--snapshotter NAME] REF");
	}
	if (!(s.c = cmd_client(x))) {
		xfer_release(&o);
		return 1;
	}
	q.ref = o.rest[0];
	q.registry = &o.reg;
	q.platform = o.has_plat ? &o.plat : NULL;
	q.all_platforms = o.all_platforms;
	q.unpack = !o.no_unpack;
	q.snapshotter = (char *)(o.snapshotter ? o.snapshotter : "");
	co.metadata = ctl_client_metadata(s.c);
	if (!s.tty)
		printf("pulling %s\n", q.ref);
	fflush(stdout);
	r = ttrpc_client_call_async(s.c->c, XFER_SVC, "Pull", &q.base,
				    &wharf__services__images__v1__pull_response__descriptor, &co,
				    on_pulled, &s, &s.e);
	xfer_release(&o);
	if (r < 0)
		return cmd_fail(s.e);
	if (s.tty)
		ev_add_timer(s.c->loop, &tick, now_mono_ns(), on_tick, &s);
	while (!s.done)
		if (ev_loop_run_once(s.c->loop, UINT64_MAX) < 0)
			break;
	if (!s.done)
		return cmd_failf("pull: event loop failed");
	if (!s.resp)
		return cmd_fail(s.e);
	print_pull(&s);
	cmd_free_msg(s.resp);
	return 0;
}

static int img_push(struct cmd_ctx *x, int argc, char **argv)
{
	Wharf__Services__Images__V1__PushRequest q =
		WHARF__SERVICES__IMAGES__V1__PUSH_REQUEST__INIT;
	cleanup_msg Wharf__Services__Images__V1__PushResponse *resp = NULL;
	struct xfer_opts o = {0};
	struct ctl_client *c;
	struct wh_err *e = NULL;
	int r;

	if (parse_xfer(argc, argv, &o)) {
		xfer_release(&o);
		return 1;
	}
	if (!o.rest[0] || (o.rest[1] && o.rest[2])) {
		xfer_release(&o);
		return cmd_failf("usage: images push [--plain-http] [-k] [-u U:P] NAME [REF]");
	}
	if (!(c = cmd_client(x))) {
		xfer_release(&o);
		return 1;
	}
	q.name = o.rest[0];
	q.ref = o.rest[1] ? o.rest[1] : o.rest[0];
	q.registry = &o.reg;
	printf("pushing %s to %s\n", q.name, q.ref);
	fflush(stdout);
	r = ctl_call_long(c, XFER_SVC, "Push", &q.base,
			  &wharf__services__images__v1__push_response__descriptor,
			  (ProtobufCMessage **)&resp, &e);
	xfer_release(&o);
	if (r == -ENOENT && e && strstr(wh_err_msg(e), "not found")) {
		wh_err_free(e);
		return cmd_failf("image \"%s\" not found", q.name);
	}
	if (r < 0)
		return cmd_fail(e);
	printf("pushed %s: %s\n", q.ref, resp->target ? resp->target->digest : "-");
	return 0;
}

static void image_json(yajl_gen g, const Containerd__Services__Images__V1__Image *im, int64_t size)
{
	cleanup_free char *created = cmd_fmt_time(im->created_at);

	yajl_gen_map_open(g);
	json_gen_kv_str(g, "name", im->name);
	if (im->target) {
		json_gen_kv_str(g, "mediaType", im->target->media_type);
		json_gen_kv_str(g, "digest", im->target->digest);
		json_gen_kv_int(g, "targetSize", im->target->size);
	}
	/* The image's usage for this host (ctl_usage_of); -1 when it cannot be computed. */
	json_gen_kv_int(g, "size", size);
	json_gen_kv_str(g, "createdAt", created);
	json_gen_str(g, "labels");
	yajl_gen_map_open(g);
	for (size_t j = 0; j < im->n_labels; j++)
		json_gen_kv_str(g, im->labels[j]->key, im->labels[j]->value);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}

static const char *short_type(const char *mt)
{
	if (!mt)
		return "-";
	if (str_startswith(mt, "application/vnd.oci.image."))
		return mt + strlen("application/vnd.");
	if (str_startswith(mt, "application/vnd.docker.distribution."))
		return mt + strlen("application/vnd.docker.distribution.");
	return mt;
}

/* The image's usage for this host's platform, -1 ("-") when a blob is missing or bad. */
static int64_t image_size(struct ctl_client *c, const Containerd__Services__Images__V1__Image *im)
{
	struct wh_err *e = NULL;
	int64_t size = -1;

	if (!im->target || !im->target->digest ||
	    ctl_usage_of(c, im->target->digest, NULL, &size, &e) < 0)
		size = -1;
	wh_err_free(e);
	return size;
}

static int img_ls(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Images__V1__ListImagesRequest q =
		CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_REQUEST__INIT;
	cleanup_msg Containerd__Services__Images__V1__ListImagesResponse *resp = NULL;
	struct cmd_list_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	if (cmd_parse_list(argc, argv, &o) || !(c = cmd_client(x)))
		return 1;
	q.filters = o.rest;
	q.n_filters = strv_length(o.rest);
	if (ctl_call(c, IMG_SVC, "List", &q.base,
		     &containerd__services__images__v1__list_images_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	if (o.json) {
		yajl_gen g = json_gen_new(true);

		yajl_gen_array_open(g);
		for (size_t i = 0; i < resp->n_images; i++)
			image_json(g, resp->images[i], image_size(c, resp->images[i]));
		yajl_gen_array_close(g);
		return cmd_print_json(g);
	}
	struct ctl_table *t = ctl_table_new(6);
	if (!o.quiet)
		ctl_table_add(
			t, (const char *[]){"REF", "TYPE", "DIGEST", "SIZE", "CREATED", "LABELS"});
	for (size_t i = 0; i < resp->n_images; i++) {
		Containerd__Services__Images__V1__Image *im = resp->images[i];
		struct strbuf l = STRBUF_INIT;

		if (o.quiet) {
			printf("%s\n", im->name);
			continue;
		}
		for (size_t j = 0; j < im->n_labels; j++)
			strbuf_addf(&l, "%s%s=%s", j ? "," : "", im->labels[j]->key,
				    im->labels[j]->value);
		cleanup_free char *created = cmd_fmt_time(im->created_at);
		cleanup_free char *size = ctl_fmt_size(image_size(c, im));
		ctl_table_add(
			t, (const char *[]){
				   im->name, short_type(im->target ? im->target->media_type : NULL),
				   im->target ? im->target->digest : NULL, size, created, l.buf});
		strbuf_release(&l);
	}
	cleanup_free char *s = ctl_table_render(t);
	fputs(s, stdout);
	ctl_table_free(t);
	return 0;
}

static int img_rm(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Images__V1__DeleteImageRequest q =
		CONTAINERD__SERVICES__IMAGES__V1__DELETE_IMAGE_REQUEST__INIT;
	struct ctl_client *c;
	int rc = 0, i = 1;

	if (argc >= 2 && streq(argv[1], "--sync"))
		q.sync = true, i++;
	if (argc <= i)
		return cmd_failf("usage: images rm [--sync] NAME...");
	if (!(c = cmd_client(x)))
		return 1;
	for (; i < argc; i++) {
		ProtobufCMessage *resp = NULL;
		struct wh_err *e = NULL;
		int r;

		q.name = argv[i];
		r = ctl_call(c, IMG_SVC, "Delete", &q.base, &google__protobuf__empty__descriptor,
			     &resp, &e);
		if (r == -ENOENT) {
			wh_err_free(e);
			rc = cmd_failf("image \"%s\" not found", argv[i]);
			continue;
		}
		if (r < 0) {
			rc = cmd_fail(e);
			continue;
		}
		cmd_free_msg(resp);
		printf("%s\n", argv[i]);
	}
	return rc;
}

static int img_tag(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Images__V1__GetImageRequest gq =
		CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
	Containerd__Services__Images__V1__CreateImageRequest cq =
		CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_REQUEST__INIT;
	cleanup_msg Containerd__Services__Images__V1__GetImageResponse *src = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	bool force = false;
	int r;

	if (argc >= 2 && streq(argv[1], "--force")) {
		force = true;
		argv[1] = argv[0];
		argv++, argc--;
	}
	if (argc < 3)
		return cmd_failf("usage: images tag [--force] SOURCE TARGET...");
	if (!(c = cmd_client(x)))
		return 1;
	gq.name = argv[1];
	r = ctl_call(c, IMG_SVC, "Get", &gq.base,
		     &containerd__services__images__v1__get_image_response__descriptor,
		     (ProtobufCMessage **)&src, &e);
	if (r == -ENOENT) {
		wh_err_free(e);
		return cmd_failf("image \"%s\" not found", argv[1]);
	}
	if (r < 0)
		return cmd_fail(e);
	for (int i = 2; i < argc; i++) {
		Containerd__Services__Images__V1__Image im = *src->image;
		ProtobufCMessage *resp = NULL;

		im.name = argv[i];
		im.created_at = im.updated_at = NULL;
		cq.image = &im;
		r = ctl_call(c, IMG_SVC, "Create", &cq.base,
			     &containerd__services__images__v1__create_image_response__descriptor,
			     &resp, &e);
		if (r == -EEXIST && force) {
			Containerd__Services__Images__V1__UpdateImageRequest uq =
				CONTAINERD__SERVICES__IMAGES__V1__UPDATE_IMAGE_REQUEST__INIT;
			Wharf__Types__FieldMask mask = WHARF__TYPES__FIELD_MASK__INIT;
			char *paths[] = {(char *)"target", NULL};

			e = wh_err_free(e);
			mask.paths = paths;
			mask.n_paths = 1;
			uq.image = &im;
			uq.update_mask = &mask;
			r = ctl_call(
				c, IMG_SVC, "Update", &uq.base,
				&containerd__services__images__v1__update_image_response__descriptor,
				&resp, &e);
		}
		if (r < 0)
			return cmd_fail(e);
		cmd_free_msg(resp);
		printf("%s\n", argv[i]);
	}
	return 0;
}

static int img_import(struct cmd_ctx *x, int argc, char **argv)
{
	Wharf__Services__Images__V1__ImportRequest q =
		WHARF__SERVICES__IMAGES__V1__IMPORT_REQUEST__INIT;
	cleanup_msg Wharf__Services__Images__V1__ImportResponse *resp = NULL;
	cleanup_free char *path = NULL;
	struct xfer_opts o = {0};
	struct ctl_client *c;
	struct wh_err *e = NULL;
	int r;

	if (parse_xfer(argc, argv, &o)) {
		xfer_release(&o);
		return 1;
	}
	if (!o.rest[0] || o.rest[1]) {
		xfer_release(&o);
		return cmd_failf("usage: images import [--base-name NAME] [--index-name NAME] "
				 "[--no-unpack] [--snapshotter NAME] [--platform OS/ARCH] FILE");
	}
	/* The daemon opens the file: give it an absolute path. */
	if (!(path = realpath(o.rest[0], NULL))) {
		xfer_release(&o);
		return cmd_failf("images import: '%s': %s", o.rest[0], strerror(errno));
	}
	if (!(c = cmd_client(x))) {
		xfer_release(&o);
		return 1;
	}
	q.path = path;
	q.base_name = (char *)(o.base_name ? o.base_name : "");
	q.index_name = (char *)(o.index_name ? o.index_name : "");
	q.unpack = !o.no_unpack;
	q.snapshotter = (char *)(o.snapshotter ? o.snapshotter : "");
	q.platform = o.has_plat ? &o.plat : NULL;
	r = ctl_call_long(c, XFER_SVC, "Import", &q.base,
			  &wharf__services__images__v1__import_response__descriptor,
			  (ProtobufCMessage **)&resp, &e);
	xfer_release(&o);
	if (r < 0)
		return cmd_fail(e);
	for (size_t i = 0; i < resp->n_images; i++)
		printf("%s: %s\n", resp->images[i]->name,
		       resp->images[i]->target ? resp->images[i]->target->digest : "-");
	return 0;
}

static int img_export(struct cmd_ctx *x, int argc, char **argv)
{
	Wharf__Services__Images__V1__ExportRequest q =
		WHARF__SERVICES__IMAGES__V1__EXPORT_REQUEST__INIT;
	cleanup_msg Wharf__Services__Images__V1__ExportResponse *resp = NULL;
	cleanup_free char *path = NULL;
	struct xfer_opts o = {0};
	struct ctl_client *c;
	struct wh_err *e = NULL;
	int r;

	if (parse_xfer(argc, argv, &o)) {
		xfer_release(&o);
		return 1;
	}
	if (!o.rest[0] || !o.rest[1]) {
		xfer_release(&o);
		return cmd_failf("usage: images export [--all-platforms] [--platform OS/ARCH] DIR "
				 "NAME...");
	}
	if (o.rest[0][0] == '/') {
		path = xstrdup(o.rest[0]);
	} else {
		cleanup_free char *cwd = getcwd(NULL, 0);
		path = path_join(cwd ? cwd : "/", o.rest[0]);
	}
	if (!(c = cmd_client(x))) {
		xfer_release(&o);
		return 1;
	}
	q.path = path;
	q.names = o.rest + 1;
	q.n_names = strv_length(o.rest + 1);
	q.all_platforms = o.all_platforms;
	q.platform = o.has_plat ? &o.plat : NULL;
	r = ctl_call_long(c, XFER_SVC, "Export", &q.base,
			  &wharf__services__images__v1__export_response__descriptor,
			  (ProtobufCMessage **)&resp, &e);
	xfer_release(&o);
	if (r < 0)
		return cmd_fail(e);
	for (size_t i = 0; i < resp->n_exported; i++)
		printf("%s %s\n", resp->exported[i]->digest, resp->exported[i]->media_type);
	return 0;
}

/* Counts the manifest's blobs (config + layers) present in the content store. */
static int check_blobs(struct ctl_client *c, const char *manifest, size_t *ret_have,
		       size_t *ret_total, int64_t *ret_size, struct wh_err **err)
{
	cleanup_free char *doc = NULL;
	yajl_val root = NULL, layers;
	cleanup_strv char **digests = NULL;
	size_t len;
	int r;

	if ((r = ctl_content_read(c, manifest, 16u << 20, &doc, &len, err)) < 0)
		return r;
	if ((r = json_parse(doc, len, &root, err)) < 0)
		return r;
	const char *cd = NULL;
	json_get_string_opt(json_get(root, "config"), "digest", "config.digest", &cd, NULL);
	if (cd)
		strv_push(&digests, cd);
	layers = json_get(root, "layers");
	for (size_t i = 0; YAJL_IS_ARRAY(layers) && i < layers->u.array.len; i++) {
		const char *d = NULL;

		json_get_string_opt(layers->u.array.values[i], "digest", "digest", &d, NULL);
		if (d)
			strv_push(&digests, d);
	}
	yajl_tree_free(root);
	*ret_have = 0;
	*ret_total = strv_length(digests);
	*ret_size = 0;
	strv_foreach(d, digests) {
		Containerd__Services__Content__V1__InfoRequest q =
			CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
		Containerd__Services__Content__V1__InfoResponse *resp = NULL;

		q.digest = *d;
		if (ctl_call(c, "containerd.services.content.v1.Content", "Info", &q.base,
			     &containerd__services__content__v1__info_response__descriptor,
			     (ProtobufCMessage **)&resp, NULL) < 0)
			continue;
		(*ret_have)++;
		*ret_size += resp->info ? resp->info->size : 0;
		cmd_free_msg(resp);
	}
	return 0;
}

static bool snapshot_exists(struct ctl_client *c, const char *chain_id)
{
	Containerd__Services__Snapshots__V1__StatSnapshotRequest q =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;

	q.snapshotter = (char *)"";
	q.key = (char *)chain_id;
	if (ctl_call(c, "containerd.services.snapshots.v1.Snapshots", "Stat", &q.base,
		     &containerd__services__snapshots__v1__stat_snapshot_response__descriptor,
		     &resp, NULL) < 0)
		return false;
	cmd_free_msg(resp);
	return true;
}

static int img_check(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Images__V1__ListImagesRequest q =
		CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_REQUEST__INIT;
	cleanup_msg Containerd__Services__Images__V1__ListImagesResponse *resp = NULL;
	struct cmd_list_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	int rc = 0;

	if (cmd_parse_list(argc, argv, &o) || !(c = cmd_client(x)))
		return 1;
	q.filters = o.rest;
	q.n_filters = strv_length(o.rest);
	if (ctl_call(c, IMG_SVC, "List", &q.base,
		     &containerd__services__images__v1__list_images_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	struct ctl_table *t = ctl_table_new(5);
	yajl_gen g = o.json ? json_gen_new(true) : NULL;
	if (g)
		yajl_gen_array_open(g);
	if (!o.quiet && !g)
		ctl_table_add(t, (const char *[]){"REF", "DIGEST", "STATUS", "SIZE", "UNPACKED"});
	for (size_t i = 0; i < resp->n_images; i++) {
		const char *name = resp->images[i]->name;
		struct ctl_image img = {0};
		size_t have = 0, total = 0;
		int64_t size = 0;
		bool unpacked = false;
		int r;

		r = ctl_image_resolve(c, name, &img, &e);
		if (r >= 0)
			r = check_blobs(c, img.manifest_digest, &have, &total, &size, &e);
		if (r >= 0)
			unpacked = snapshot_exists(c, img.chain_id);
		e = wh_err_free(e);
		cleanup_free char *status =
			r < 0 ? xstrdup("incomplete (manifest or config missing)")
			      : xasprintf("%s (%zu/%zu)", have == total ? "complete" : "incomplete",
					  have, total);
		cleanup_free char *sz = ctl_fmt_size(size);
		if (r < 0 || have != total)
			rc = 1;
		if (g) {
			yajl_gen_map_open(g);
			json_gen_kv_str(g, "name", name);
			json_gen_kv_bool(g, "complete", r >= 0 && have == total);
			json_gen_kv_int(g, "present", (int64_t)have);
			json_gen_kv_int(g, "total", (int64_t)total);
			json_gen_kv_int(g, "size", size);
			json_gen_kv_bool(g, "unpacked", unpacked);
			yajl_gen_map_close(g);
		} else if (o.quiet) {
			printf("%s %s\n", name, r < 0 || have != total ? "incomplete" : "complete");
		} else {
			const char *dg =
				resp->images[i]->target ? resp->images[i]->target->digest : NULL;

			ctl_table_add(t, (const char *[]){name, dg, status, sz,
							  unpacked ? "true" : "false"});
		}
		ctl_image_release(&img);
	}
	if (g) {
		yajl_gen_array_close(g);
		cmd_print_json(g);
	}
	cleanup_free char *s = ctl_table_render(t);
	fputs(s, stdout);
	ctl_table_free(t);
	return rc;
}

static int img_usage(struct cmd_ctx *x, int argc, char **argv)
{
	struct xfer_opts o = {0};
	struct ctl_platform plat = {0};
	struct ctl_client *c;
	struct wh_err *e = NULL;
	int64_t size = 0;
	int r;

	if (parse_xfer(argc, argv, &o)) {
		xfer_release(&o);
		return 1;
	}
	if (!o.rest[0] || o.rest[1] || (o.has_plat && o.all_platforms)) {
		xfer_release(&o);
		return cmd_failf("usage: images usage [--platform OS/ARCH[/VARIANT] | "
				 "--all-platforms] NAME");
	}
	if (!(c = cmd_client(x))) {
		xfer_release(&o);
		return 1;
	}
	if (o.has_plat)
		plat = (struct ctl_platform){o.plat.os, o.plat.architecture, o.plat.variant};
	r = ctl_image_usage(c, o.rest[0], o.has_plat || o.all_platforms ? &plat : NULL, &size, &e);
	xfer_release(&o);
	if (r < 0)
		return cmd_fail(e);
	cleanup_free char *human = ctl_fmt_size(size);
	printf("%" PRId64 " (%s)\n", size, human);
	return 0;
}

int cmd_images(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct cmd_sub subs[] = {
		{"pull", NULL, img_pull},     {"push", NULL, img_push},
		{"ls", "list", img_ls},	      {"rm", "remove", img_rm},
		{"tag", NULL, img_tag},	      {"import", NULL, img_import},
		{"export", NULL, img_export}, {"check", NULL, img_check},
		{"usage", NULL, img_usage},   {NULL, NULL, NULL},
	};
	return cmd_dispatch(x, "images", subs, argc, argv);
}

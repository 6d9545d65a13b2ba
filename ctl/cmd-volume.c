/* SPDX-License-Identifier: Apache-2.0 */
/*
 * volume create|ls|inspect|rm|prune: named volumes through wharfd's
 * wharf.services.volumes.v1.Volumes (docker's and nerdctl's verbs and output shapes).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl/cmd.h"
#include "proto/google/protobuf/empty.pb-c.h"
#include "proto/google/protobuf/timestamp.pb-c.h"
#include "proto/services/volumes/v1/volumes.pb-c.h"

#define VOL_SVC "wharf.services.volumes.v1.Volumes"

typedef Wharf__Services__Volumes__V1__Volume PbVolume;

cmd_fn cmd_volume;

static void volume_json(yajl_gen g, const PbVolume *v)
{
	cleanup_free char *created = cmd_fmt_time(v->created_at);

	yajl_gen_map_open(g);
	json_gen_kv_str(g, "Name", v->name);
	json_gen_kv_str(g, "Driver", "local");
	json_gen_kv_str(g, "Mountpoint", v->mountpoint);
	json_gen_kv_str(g, "CreatedAt", created);
	json_gen_str(g, "Labels");
	yajl_gen_map_open(g);
	for (size_t j = 0; j < v->n_labels; j++)
		json_gen_kv_str(g, v->labels[j]->key, v->labels[j]->value);
	yajl_gen_map_close(g);
	json_gen_kv_str(g, "Scope", "local");
	json_gen_kv_bool(g, "Anonymous", v->anonymous);
	json_gen_kv_bool(g, "Initialized", v->initialized);
	json_gen_str(g, "UsedBy");
	yajl_gen_array_open(g);
	for (size_t j = 0; j < v->n_used_by; j++)
		json_gen_str(g, v->used_by[j]);
	yajl_gen_array_close(g);
	if (v->size >= 0)
		json_gen_kv_int(g, "Size", v->size);
	yajl_gen_map_close(g);
}

static int vol_create(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{"label", required_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	Wharf__Services__Volumes__V1__CreateVolumeRequest q =
		WHARF__SERVICES__VOLUMES__V1__CREATE_VOLUME_REQUEST__INIT;
	cleanup_msg Wharf__Services__Volumes__V1__CreateVolumeResponse *resp = NULL;
	cleanup_strv char **labels = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	int ch, r;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+l:", opts, NULL)) != -1) {
		if (ch != 'l')
			return cmd_failf("volume create: unknown flag or missing value: %s",
					 argv[optind - 1]);
		if (!strchr(optarg, '=') || optarg[0] == '=')
			return cmd_failf("volume create: --label '%s': expected K=V", optarg);
		strv_push(&labels, optarg);
	}
	if (argc - optind > 1)
		return cmd_failf("usage: volume create [--label K=V]... [NAME]");
	if (argc - optind == 1 && !ctl_volume_name_valid(argv[optind]))
		return cmd_failf("volume create: volume name '%s' is invalid: it must match "
				 "[a-zA-Z0-9][a-zA-Z0-9_.-]*",
				 argv[optind]);
	if (!(c = cmd_client(x)))
		return 1;
	q.name = argc - optind == 1 ? argv[optind] : (char *)"";
	q.labels = (Wharf__Services__Volumes__V1__CreateVolumeRequest__LabelsEntry **)cmd_kv_new(
		labels,
		&wharf__services__volumes__v1__create_volume_request__labels_entry__descriptor,
		&q.n_labels);
	r = ctl_call(c, VOL_SVC, "Create", &q.base,
		     &wharf__services__volumes__v1__create_volume_response__descriptor,
		     (ProtobufCMessage **)&resp, &e);
	cmd_kv_free((void **)q.labels, q.n_labels);
	if (r < 0)
		return cmd_fail(e);
	printf("%s\n", resp->volume->name);
	return 0;
}

static int vol_ls(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{"quiet", no_argument, NULL, 'q'},
		{"format", required_argument, NULL, 'f'},
		{"filter", required_argument, NULL, 'F'},
		{"size", no_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	Wharf__Services__Volumes__V1__ListVolumesRequest q =
		WHARF__SERVICES__VOLUMES__V1__LIST_VOLUMES_REQUEST__INIT;
	cleanup_msg Wharf__Services__Volumes__V1__ListVolumesResponse *resp = NULL;
	cleanup_strv char **filters = NULL;
	bool quiet = false, json = false;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+qsf:", opts, NULL)) != -1) {
		if (ch == 'q') {
			quiet = true;
		} else if (ch == 's') {
			q.size = true;
		} else if (ch == 'F') {
			strv_push(&filters, optarg);
		} else if (ch == 'f' && (streq(optarg, "json") || streq(optarg, "table"))) {
			json = streq(optarg, "json");
		} else if (ch == 'f') {
			return cmd_failf("volume ls: --format '%s': expected json or table",
					 optarg);
		} else {
			return cmd_failf("volume ls: unknown flag or missing value: %s",
					 argv[optind - 1]);
		}
	}
	/* Filters may also come as arguments, as in the other ls commands. */
	for (int i = optind; i < argc; i++)
		strv_push(&filters, argv[i]);
	if (!(c = cmd_client(x)))
		return 1;
	q.filters = filters;
	q.n_filters = strv_length(filters);
	if (ctl_call(c, VOL_SVC, "List", &q.base,
		     &wharf__services__volumes__v1__list_volumes_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	if (json) {
		yajl_gen g = json_gen_new(true);

		yajl_gen_array_open(g);
		for (size_t i = 0; i < resp->n_volumes; i++)
			volume_json(g, resp->volumes[i]);
		yajl_gen_array_close(g);
		return cmd_print_json(g);
	}
	struct ctl_table *t = ctl_table_new(q.size ? 4 : 3);
	if (!quiet)
		ctl_table_add(t, (const char *[]){"VOLUME NAME", "USED BY", "MOUNTPOINT", "SIZE"});
	for (size_t i = 0; i < resp->n_volumes; i++) {
		PbVolume *v = resp->volumes[i];
		struct strbuf users = STRBUF_INIT;
		cleanup_free char *size = v->size >= 0 ? ctl_fmt_size(v->size) : NULL;

		if (quiet) {
			printf("%s\n", v->name);
			continue;
		}
		for (size_t j = 0; j < v->n_used_by; j++)
			strbuf_addf(&users, "%s%s", j ? "," : "", v->used_by[j]);
		ctl_table_add(t, (const char *[]){v->name, users.len ? users.buf : NULL,
						  v->mountpoint, size});
		strbuf_release(&users);
	}
	cleanup_free char *s = ctl_table_render(t);
	fputs(s, stdout);
	ctl_table_free(t);
	return 0;
}

static int vol_inspect(struct cmd_ctx *x, int argc, char **argv)
{
	struct ctl_client *c;
	yajl_gen g;
	int rc = 0, first = 1;
	bool size = false;

	if (argc >= 2 && (streq(argv[1], "--size") || streq(argv[1], "-s"))) {
		size = true;
		first = 2;
	}
	if (argc <= first)
		return cmd_failf("usage: volume inspect [--size] NAME...");
	if (!(c = cmd_client(x)))
		return 1;
	g = json_gen_new(true);
	yajl_gen_array_open(g);
	for (int i = first; i < argc; i++) {
		Wharf__Services__Volumes__V1__GetVolumeRequest q =
			WHARF__SERVICES__VOLUMES__V1__GET_VOLUME_REQUEST__INIT;
		cleanup_msg Wharf__Services__Volumes__V1__GetVolumeResponse *resp = NULL;
		struct wh_err *e = NULL;

		q.name = argv[i];
		q.size = size;
		if (ctl_call(c, VOL_SVC, "Get", &q.base,
			     &wharf__services__volumes__v1__get_volume_response__descriptor,
			     (ProtobufCMessage **)&resp, &e) < 0) {
			rc = cmd_fail(e);
			continue;
		}
		volume_json(g, resp->volume);
	}
	yajl_gen_array_close(g);
	cleanup_free char *s = json_gen_finish(g, NULL);
	if (rc == 0 || argc - first > 1)
		printf("%s\n", s);
	return rc;
}

static int vol_rm(struct cmd_ctx *x, int argc, char **argv)
{
	Wharf__Services__Volumes__V1__DeleteVolumeRequest q =
		WHARF__SERVICES__VOLUMES__V1__DELETE_VOLUME_REQUEST__INIT;
	struct ctl_client *c;

	if (argc < 2)
		return cmd_failf("usage: volume rm NAME...");
	if (!(c = cmd_client(x)))
		return 1;
	return cmd_each(c, argv + 1, argc - 1, VOL_SVC, "Delete", &q.base, &q.name);
}

static int vol_prune(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{"all", no_argument, NULL, 'a'},
		{"force", no_argument, NULL, 'f'},
		{"filter", required_argument, NULL, 'F'},
		{NULL, 0, NULL, 0},
	};
	Wharf__Services__Volumes__V1__PruneVolumesRequest q =
		WHARF__SERVICES__VOLUMES__V1__PRUNE_VOLUMES_REQUEST__INIT;
	cleanup_msg Wharf__Services__Volumes__V1__PruneVolumesResponse *resp = NULL;
	cleanup_strv char **filters = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+af", opts, NULL)) != -1) {
		if (ch == 'a')
			q.all = true;
		else if (ch == 'F')
			strv_push(&filters, optarg);
		else if (ch != 'f') /* -f: no prompt to skip, accepted as docker's */
			return cmd_failf("volume prune: unknown flag or missing value: %s",
					 argv[optind - 1]);
	}
	if (optind < argc)
		return cmd_failf("usage: volume prune [-a|--all] [--filter F]...");
	if (!(c = cmd_client(x)))
		return 1;
	q.filters = filters;
	q.n_filters = strv_length(filters);
	if (ctl_call(c, VOL_SVC, "Prune", &q.base,
		     &wharf__services__volumes__v1__prune_volumes_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	if (resp->n_deleted)
		printf("Deleted Volumes:\n");
	for (size_t i = 0; i < resp->n_deleted; i++)
		printf("%s\n", resp->deleted[i]);
	cleanup_free char *freed = ctl_fmt_size(resp->space_reclaimed);
	printf("%sTotal reclaimed space: %s\n", resp->n_deleted ? "\n" : "", freed);
	return 0;
}

int cmd_volume(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct cmd_sub subs[] = {
		{"create", NULL, vol_create},	{"ls", "list", vol_ls},
		{"inspect", NULL, vol_inspect}, {"rm", "remove", vol_rm},
		{"prune", NULL, vol_prune},	{NULL, NULL, NULL},
	};
	return cmd_dispatch(x, "volume", subs, argc, argv);
}

void cmd_volumes_remove_anonymous(struct ctl_client *c, const struct ctl_run_opts *o)
{
	for (size_t i = 0; i < o->n_mounts; i++) {
		Wharf__Services__Volumes__V1__DeleteVolumeRequest q =
			WHARF__SERVICES__VOLUMES__V1__DELETE_VOLUME_REQUEST__INIT;
		ProtobufCMessage *resp = NULL;

		if (!o->mounts[i].anonymous || !o->mounts[i].source)
			continue;
		q.name = o->mounts[i].source;
		/* Not made yet (the task never started) or already gone: nothing to do. */
		if (ctl_call(c, VOL_SVC, "Delete", &q.base, &google__protobuf__empty__descriptor,
			     &resp, NULL) >= 0)
			cmd_free_msg(resp);
	}
}

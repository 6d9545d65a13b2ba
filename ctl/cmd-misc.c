/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The small commands: version, namespaces ls|create|rm|label, snapshots ls|rm, content ls|get.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl/cmd.h"
#include "proto/google/protobuf/empty.pb-c.h"
#include "proto/google/protobuf/timestamp.pb-c.h"
#include "proto/services/content/v1/content.pb-c.h"
#include "proto/services/namespaces/v1/namespace.pb-c.h"
#include "proto/services/snapshots/v1/snapshots.pb-c.h"
#include "proto/services/version/v1/version.pb-c.h"

#define NS_SVC "containerd.services.namespaces.v1.Namespaces"
#define SN_SVC "containerd.services.snapshots.v1.Snapshots"
#define CT_SVC "containerd.services.content.v1.Content"

#ifndef WHARF_VERSION
#	define WHARF_VERSION "0.1.0"
#endif

int cmd_version(struct cmd_ctx *x, int argc, char **argv)
{
	Google__Protobuf__Empty q = GOOGLE__PROTOBUF__EMPTY__INIT;
	cleanup_msg Containerd__Services__Version__V1__VersionResponse *resp = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	printf("Client:\n  Version:  %s\n\n", WHARF_VERSION);
	if (!(c = cmd_client(x)))
		return 1;
	if (ctl_call(c, "containerd.services.version.v1.Version", "Version", &q.base,
		     &containerd__services__version__v1__version_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	printf("Server:\n  Version:  %s\n  Revision: %s\n", resp->version, resp->revision);
	return 0;
}

/* ---- namespaces ---- */

static int ns_ls(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Namespaces__V1__ListNamespacesRequest q =
		CONTAINERD__SERVICES__NAMESPACES__V1__LIST_NAMESPACES_REQUEST__INIT;
	cleanup_msg Containerd__Services__Namespaces__V1__ListNamespacesResponse *resp = NULL;
	struct cmd_list_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	if (cmd_parse_list(argc, argv, &o) || !(c = cmd_client(x)))
		return 1;
	if (ctl_call(c, NS_SVC, "List", &q.base,
		     &containerd__services__namespaces__v1__list_namespaces_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	if (o.json) {
		yajl_gen g = json_gen_new(true);

		yajl_gen_array_open(g);
		for (size_t i = 0; i < resp->n_namespaces; i++) {
			yajl_gen_map_open(g);
			json_gen_kv_str(g, "name", resp->namespaces[i]->name);
			json_gen_str(g, "labels");
			yajl_gen_map_open(g);
			for (size_t j = 0; j < resp->namespaces[i]->n_labels; j++)
				json_gen_kv_str(g, resp->namespaces[i]->labels[j]->key,
						resp->namespaces[i]->labels[j]->value);
			yajl_gen_map_close(g);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		return cmd_print_json(g);
	}
	struct ctl_table *t = ctl_table_new(2);
	if (!o.quiet)
		ctl_table_add(t, (const char *[]){"NAME", "LABELS"});
	for (size_t i = 0; i < resp->n_namespaces; i++) {
		Containerd__Services__Namespaces__V1__Namespace *n = resp->namespaces[i];
		struct strbuf l = STRBUF_INIT;

		if (o.quiet) {
			printf("%s\n", n->name);
			continue;
		}
		for (size_t j = 0; j < n->n_labels; j++)
			strbuf_addf(&l, "%s%s=%s", j ? "," : "", n->labels[j]->key,
				    n->labels[j]->value);
		ctl_table_add(t, (const char *[]){n->name, l.buf});
		strbuf_release(&l);
	}
	cleanup_free char *s = ctl_table_render(t);
	fputs(s, stdout);
	ctl_table_free(t);
	return 0;
}

static int ns_create_or_label(struct cmd_ctx *x, int argc, char **argv, bool create)
{
	Containerd__Services__Namespaces__V1__Namespace n =
		CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__INIT;
	Wharf__Types__FieldMask mask = WHARF__TYPES__FIELD_MASK__INIT;
	cleanup_strv char **labels = NULL, **paths = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	ProtobufCMessage *resp = NULL;
	int r;

	if (argc < 2)
		return cmd_failf("usage: namespaces %s NAME [K=V...]", argv[0]);
	for (int i = 2; i < argc; i++) {
		if (!strchr(argv[i], '=') || argv[i][0] == '=')
			return cmd_failf("namespaces %s: label '%s': expected K=V", argv[0],
					 argv[i]);
		strv_push(&labels, argv[i]);
		cleanup_free char *k = xstrndup(argv[i], strcspn(argv[i], "="));
		strv_consume(&paths, xasprintf("labels.%s", k));
	}
	if (!(c = cmd_client(x)))
		return 1;
	n.name = argv[1];
	n.labels = (Containerd__Services__Namespaces__V1__Namespace__LabelsEntry **)cmd_kv_new(
		labels, &containerd__services__namespaces__v1__namespace__labels_entry__descriptor,
		&n.n_labels);
	if (create) {
		Containerd__Services__Namespaces__V1__CreateNamespaceRequest q =
			CONTAINERD__SERVICES__NAMESPACES__V1__CREATE_NAMESPACE_REQUEST__INIT;

		q.namespace_ = &n;
		r = ctl_call(
			c, NS_SVC, "Create", &q.base,
			&containerd__services__namespaces__v1__create_namespace_response__descriptor,
			&resp, &e);
	} else {
		Containerd__Services__Namespaces__V1__UpdateNamespaceRequest q =
			CONTAINERD__SERVICES__NAMESPACES__V1__UPDATE_NAMESPACE_REQUEST__INIT;

		mask.paths = paths;
		mask.n_paths = strv_length(paths);
		q.namespace_ = &n;
		q.update_mask = &mask;
		r = ctl_call(
			c, NS_SVC, "Update", &q.base,
			&containerd__services__namespaces__v1__update_namespace_response__descriptor,
			&resp, &e);
	}
	cmd_kv_free((void **)n.labels, n.n_labels);
	cmd_free_msg(resp);
	if (r < 0)
		return cmd_fail(e);
	printf("%s\n", argv[1]);
	return 0;
}

static int ns_create(struct cmd_ctx *x, int argc, char **argv)
{
	return ns_create_or_label(x, argc, argv, true);
}

static int ns_label(struct cmd_ctx *x, int argc, char **argv)
{
	return ns_create_or_label(x, argc, argv, false);
}

static int ns_rm(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Namespaces__V1__DeleteNamespaceRequest q =
		CONTAINERD__SERVICES__NAMESPACES__V1__DELETE_NAMESPACE_REQUEST__INIT;
	struct ctl_client *c;

	if (argc < 2)
		return cmd_failf("usage: namespaces rm NAME...");
	if (!(c = cmd_client(x)))
		return 1;
	return cmd_each(c, argv + 1, argc - 1, NS_SVC, "Delete", &q.base, &q.name);
}

int cmd_namespaces(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct cmd_sub subs[] = {
		{"ls", "list", ns_ls},	   {"create", NULL, ns_create}, {"rm", "remove", ns_rm},
		{"label", NULL, ns_label}, {NULL, NULL, NULL},
	};
	return cmd_dispatch(x, "namespaces", subs, argc, argv);
}

/* ---- snapshots ---- */

static const char *kind_name(int k)
{
	switch (k) {
	case CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__VIEW:
		return "View";
	case CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__ACTIVE:
		return "Active";
	case CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED:
		return "Committed";
	default:
		return "Unknown";
	}
}

/* --snapshotter NAME before the rest; "" is the daemon's default. */
static const char *snapshotter_flag(int *argc, char ***argv)
{
	const char *sn = "";

	if (*argc >= 3 && streq((*argv)[1], "--snapshotter")) {
		sn = (*argv)[2];
		(*argv)[2] = (*argv)[0];
		*argv += 2;
		*argc -= 2;
	} else if (*argc >= 2 && str_startswith((*argv)[1], "--snapshotter=")) {
		sn = (*argv)[1] + strlen("--snapshotter=");
		(*argv)[1] = (*argv)[0];
		*argv += 1;
		*argc -= 1;
	}
	return sn;
}

static int sn_ls(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Snapshots__V1__ListSnapshotsRequest q =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_REQUEST__INIT;
	cleanup_msg Containerd__Services__Snapshots__V1__ListSnapshotsResponse *resp = NULL;
	struct cmd_list_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	q.snapshotter = (char *)snapshotter_flag(&argc, &argv);
	if (cmd_parse_list(argc, argv, &o) || !(c = cmd_client(x)))
		return 1;
	q.filters = o.rest;
	q.n_filters = strv_length(o.rest);
	if (ctl_call(c, SN_SVC, "List", &q.base,
		     &containerd__services__snapshots__v1__list_snapshots_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	if (o.json) {
		yajl_gen g = json_gen_new(true);

		yajl_gen_array_open(g);
		for (size_t i = 0; i < resp->n_info; i++) {
			yajl_gen_map_open(g);
			json_gen_kv_str(g, "name", resp->info[i]->name);
			json_gen_kv_str(g, "parent", resp->info[i]->parent);
			json_gen_kv_str(g, "kind", kind_name(resp->info[i]->kind));
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		return cmd_print_json(g);
	}
	struct ctl_table *t = ctl_table_new(3);
	if (!o.quiet)
		ctl_table_add(t, (const char *[]){"KEY", "PARENT", "KIND"});
	for (size_t i = 0; i < resp->n_info; i++) {
		if (o.quiet)
			printf("%s\n", resp->info[i]->name);
		else
			ctl_table_add(t,
				      (const char *[]){resp->info[i]->name, resp->info[i]->parent,
						       kind_name(resp->info[i]->kind)});
	}
	cleanup_free char *s = ctl_table_render(t);
	fputs(s, stdout);
	ctl_table_free(t);
	return 0;
}

static int sn_rm(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Snapshots__V1__RemoveSnapshotRequest q =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
	struct ctl_client *c;

	q.snapshotter = (char *)snapshotter_flag(&argc, &argv);
	if (argc < 2)
		return cmd_failf("usage: snapshots rm [--snapshotter NAME] KEY...");
	if (!(c = cmd_client(x)))
		return 1;
	return cmd_each(c, argv + 1, argc - 1, SN_SVC, "Remove", &q.base, &q.key);
}

int cmd_snapshots(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct cmd_sub subs[] = {
		{"ls", "list", sn_ls},
		{"rm", "remove", sn_rm},
		{NULL, NULL, NULL},
	};
	return cmd_dispatch(x, "snapshots", subs, argc, argv);
}

/* ---- content ---- */

static int ct_ls(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Content__V1__ListContentRequest q =
		CONTAINERD__SERVICES__CONTENT__V1__LIST_CONTENT_REQUEST__INIT;
	cleanup_msg Containerd__Services__Content__V1__ListContentResponse *resp = NULL;
	struct cmd_list_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	if (cmd_parse_list(argc, argv, &o) || !(c = cmd_client(x)))
		return 1;
	q.filters = o.rest;
	q.n_filters = strv_length(o.rest);
	if (ctl_call(c, CT_SVC, "List", &q.base,
		     &containerd__services__content__v1__list_content_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	if (o.json) {
		yajl_gen g = json_gen_new(true);

		yajl_gen_array_open(g);
		for (size_t i = 0; i < resp->n_info; i++) {
			yajl_gen_map_open(g);
			json_gen_kv_str(g, "digest", resp->info[i]->digest);
			json_gen_kv_int(g, "size", resp->info[i]->size);
			json_gen_str(g, "labels");
			yajl_gen_map_open(g);
			for (size_t j = 0; j < resp->info[i]->n_labels; j++)
				json_gen_kv_str(g, resp->info[i]->labels[j]->key,
						resp->info[i]->labels[j]->value);
			yajl_gen_map_close(g);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		return cmd_print_json(g);
	}
	struct ctl_table *t = ctl_table_new(4);
	if (!o.quiet)
		ctl_table_add(t, (const char *[]){"DIGEST", "SIZE", "AGE", "LABELS"});
	for (size_t i = 0; i < resp->n_info; i++) {
		Containerd__Services__Content__V1__Info *in = resp->info[i];
		struct strbuf l = STRBUF_INIT;

		if (o.quiet) {
			printf("%s\n", in->digest);
			continue;
		}
		for (size_t j = 0; j < in->n_labels; j++)
			strbuf_addf(&l, "%s%s=%s", j ? "," : "", in->labels[j]->key,
				    in->labels[j]->value);
		cleanup_free char *size = ctl_fmt_size(in->size);
		cleanup_free char *when = cmd_fmt_time(in->created_at);
		ctl_table_add(t, (const char *[]){in->digest, size, when, l.buf});
		strbuf_release(&l);
	}
	cleanup_free char *s = ctl_table_render(t);
	fputs(s, stdout);
	ctl_table_free(t);
	return 0;
}

static int ct_get(struct cmd_ctx *x, int argc, char **argv)
{
	cleanup_free char *data = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	size_t len;

	if (cmd_need_args(argc, argv, 1, "DIGEST"))
		return 1;
	if (!digest_is_valid(argv[1]))
		return cmd_failf("content get: invalid digest '%s'", argv[1]);
	if (!(c = cmd_client(x)))
		return 1;
	if (ctl_content_read(c, argv[1], SIZE_MAX / 2, &data, &len, &e) < 0)
		return cmd_fail(e);
	if (write_all(STDOUT_FILENO, data, len) < 0)
		return cmd_failf("content get: write to stdout: %s", strerror(errno));
	return 0;
}

int cmd_content(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct cmd_sub subs[] = {
		{"ls", "list", ct_ls},
		{"get", NULL, ct_get},
		{NULL, NULL, NULL},
	};
	return cmd_dispatch(x, "content", subs, argc, argv);
}

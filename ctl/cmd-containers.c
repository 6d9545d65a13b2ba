/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containers create|ls|info|rm, and the create/delete steps `run` shares: a snapshot prepared
 * on the image's chain ID under the container's id, the default spec, the container record.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl/cmd.h"
#include "proto/google/protobuf/any.pb-c.h"
#include "proto/google/protobuf/empty.pb-c.h"
#include "proto/google/protobuf/timestamp.pb-c.h"
#include "proto/runc/options.pb-c.h"
#include "proto/services/containers/v1/containers.pb-c.h"
#include "proto/services/leases/v1/leases.pb-c.h"
#include "proto/services/snapshots/v1/snapshots.pb-c.h"

#define CONT_SVC "containerd.services.containers.v1.Containers"
#define SN_SVC "containerd.services.snapshots.v1.Snapshots"
#define LEASE_SVC "containerd.services.leases.v1.Leases"

static int prepare_snapshot(struct ctl_client *c, const char *sn, const char *key,
			    const char *parent, struct wh_err **err)
{
	Containerd__Services__Snapshots__V1__PrepareSnapshotRequest q =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int r;

	q.snapshotter = (char *)sn;
	q.key = (char *)key;
	q.parent = (char *)parent;
	r = ctl_call(c, SN_SVC, "Prepare", &q.base,
		     &containerd__services__snapshots__v1__prepare_snapshot_response__descriptor,
		     &resp, err);
	if (r < 0)
		return wh_err_wrap(err, r, "prepare snapshot '%s'", key);
	cmd_free_msg(resp);
	return 0;
}

static int remove_snapshot(struct ctl_client *c, const char *sn, const char *key,
			   struct wh_err **err)
{
	Containerd__Services__Snapshots__V1__RemoveSnapshotRequest q =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int r;

	q.snapshotter = (char *)sn;
	q.key = (char *)key;
	r = ctl_call(c, SN_SVC, "Remove", &q.base, &google__protobuf__empty__descriptor, &resp,
		     err);
	cmd_free_msg(resp);
	return r;
}

static int record_container(struct ctl_client *c, const struct ctl_run_opts *o, const char *image,
			    const char *spec, size_t spec_len, struct wh_err **err)
{
	Containerd__Services__Containers__V1__CreateContainerRequest q =
		CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_REQUEST__INIT;
	Containerd__Services__Containers__V1__Container ct =
		CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
	Containerd__Services__Containers__V1__Container__Runtime rt =
		CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__RUNTIME__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	Google__Protobuf__Any opts_any = GOOGLE__PROTOBUF__ANY__INIT;
	Containerd__Runc__V1__Options ro = CONTAINERD__RUNC__V1__OPTIONS__INIT;
	cleanup_free uint8_t *packed = NULL;
	ProtobufCMessage *resp = NULL;
	int r;

	rt.name = (char *)o->runtime;
	if (o->runtime_binary) {
		/* ctr's --runc-binary: runc Options for the shim (the wharf shim's exec driver). */
		ro.binary_name = (char *)o->runtime_binary;
		opts_any.type_url = (char *)"containerd.runc.v1.Options";
		opts_any.value.len = containerd__runc__v1__options__get_packed_size(&ro);
		packed = xmalloc(opts_any.value.len ? opts_any.value.len : 1);
		containerd__runc__v1__options__pack(&ro, packed);
		opts_any.value.data = packed;
		rt.options = &opts_any;
	}
	any.type_url = (char *)CTL_SPEC_TYPE_URL;
	any.value.data = (uint8_t *)spec;
	any.value.len = spec_len;
	ct.id = (char *)o->id;
	ct.image = (char *)image;
	ct.runtime = &rt;
	ct.spec = &any;
	ct.snapshotter = (char *)(o->snapshotter ? o->snapshotter : CTL_DEFAULT_SNAPSHOTTER);
	ct.snapshot_key = (char *)o->id;
	ct.labels = (Containerd__Services__Containers__V1__Container__LabelsEntry **)cmd_kv_new(
		o->labels,
		&containerd__services__containers__v1__container__labels_entry__descriptor,
		&ct.n_labels);
	q.container = &ct;
	r = ctl_call(c, CONT_SVC, "Create", &q.base,
		     &containerd__services__containers__v1__create_container_response__descriptor,
		     &resp, err);
	cmd_kv_free((void **)ct.labels, ct.n_labels);
	cmd_free_msg(resp);
	return r;
}

/*
 * A lease held while a container is made, as containerd's client does (expiring in 24 h should
 * this command die): until the container record names its snapshot, a garbage collection (run
 * after any delete) would take the fresh snapshot for garbage.
 */
static char *lease_begin(struct ctl_client *c, struct wh_err **err)
{
	Containerd__Services__Leases__V1__CreateRequest q =
		CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
	Containerd__Services__Leases__V1__CreateRequest__LabelsEntry exp =
		CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__LABELS_ENTRY__INIT;
	Containerd__Services__Leases__V1__CreateRequest__LabelsEntry *labels[] = {&exp};
	cleanup_msg Containerd__Services__Leases__V1__CreateResponse *resp = NULL;
	char when[64];
	time_t t = time(NULL) + 24 * 3600;
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	exp.key = (char *)"containerd.io/gc.expire";
	exp.value = when;
	q.labels = labels;
	q.n_labels = 1;
	if (ctl_call(c, LEASE_SVC, "Create", &q.base,
		     &containerd__services__leases__v1__create_response__descriptor,
		     (ProtobufCMessage **)&resp, err) < 0)
		return NULL;
	if (!resp->lease || !resp->lease->id || !*resp->lease->id) {
		wh_err_setx(err, EIO, "wharfd made a lease without an id");
		return NULL;
	}
	return xstrdup(resp->lease->id);
}

static void lease_end(struct ctl_client *c, char *id)
{
	Containerd__Services__Leases__V1__DeleteRequest q =
		CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;

	ctl_client_set_lease(c, NULL);
	q.id = id;
	if (ctl_call(c, LEASE_SVC, "Delete", &q.base, &google__protobuf__empty__descriptor, &resp,
		     NULL) >= 0)
		cmd_free_msg(resp);
	free(id);
}

int cmd_container_create(struct cmd_ctx *x, struct ctl_client *c, const struct ctl_run_opts *o,
			 struct wh_err **err)
{
	struct ctl_spec_opts so = {
		.id = o->id,
		.ns = x->g.ns,
		.args = o->args,
		.env = o->env,
		.tty = o->tty,
		.user = o->user,
		.cwd = o->cwd,
		.mounts = o->mounts,
		.n_mounts = o->n_mounts,
		.host_network = o->networks && o->networks[0] && streq(o->networks[0], "host"),
	};
	const char *sn = o->snapshotter ? o->snapshotter : CTL_DEFAULT_SNAPSHOTTER;
	cleanup_free char *spec = NULL;
	struct ctl_image img = {0};
	size_t len;
	int r;

	char *lease;

	if ((r = ctl_image_resolve(c, o->image, &img, err)) < 0)
		return r;
	r = ctl_spec_generate(&so, &img.config, &spec, &len, err);
	if (r >= 0 && !(lease = lease_begin(c, err)))
		r = -EIO;
	if (r >= 0) {
		ctl_client_set_lease(c, lease);
		r = prepare_snapshot(c, sn, o->id, img.chain_id, err);
		if (r >= 0) {
			r = record_container(c, o, img.name, spec, len, err);
			if (r < 0)
				remove_snapshot(c, sn, o->id, NULL);
		}
		lease_end(c, lease);
	}
	ctl_image_release(&img);
	return r;
}

static int get_container(struct ctl_client *c, const char *id,
			 Containerd__Services__Containers__V1__GetContainerResponse **ret,
			 struct wh_err **err)
{
	Containerd__Services__Containers__V1__GetContainerRequest q =
		CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
	int r;

	q.id = (char *)id;
	r = ctl_call(c, CONT_SVC, "Get", &q.base,
		     &containerd__services__containers__v1__get_container_response__descriptor,
		     (ProtobufCMessage **)ret, err);
	if (r == -ENOENT) {
		wh_err_free(*err), *err = NULL;
		return wh_err_setx(err, ENOENT, "container \"%s\" not found", id);
	}
	return r;
}

int cmd_container_delete(struct ctl_client *c, const char *id, struct wh_err **err)
{
	Containerd__Services__Containers__V1__DeleteContainerRequest q =
		CONTAINERD__SERVICES__CONTAINERS__V1__DELETE_CONTAINER_REQUEST__INIT;
	cleanup_msg Containerd__Services__Containers__V1__GetContainerResponse *got = NULL;
	ProtobufCMessage *resp = NULL;
	int r;

	if ((r = get_container(c, id, &got, err)) < 0)
		return r;
	q.id = (char *)id;
	r = ctl_call(c, CONT_SVC, "Delete", &q.base, &google__protobuf__empty__descriptor, &resp,
		     err);
	if (r < 0)
		return r;
	cmd_free_msg(resp);
	if (got->container && got->container->snapshot_key && *got->container->snapshot_key)
		remove_snapshot(c, got->container->snapshotter, got->container->snapshot_key, NULL);
	return 0;
}

static int ct_create(struct cmd_ctx *x, int argc, char **argv)
{
	struct ctl_run_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	int r;

	if (ctl_parse_run(argc, argv, CTL_RUN_MODE_CREATE, &o, &e) < 0)
		return cmd_fail(e);
	if (!(c = cmd_client(x))) {
		ctl_run_opts_release(&o);
		return 1;
	}
	r = cmd_container_create(x, c, &o, &e);
	if (r >= 0)
		printf("%s\n", o.id);
	ctl_run_opts_release(&o);
	return r < 0 ? cmd_fail(e) : 0;
}

static void container_json(yajl_gen g, const Containerd__Services__Containers__V1__Container *ct,
			   bool with_spec)
{
	cleanup_free char *created = cmd_fmt_time(ct->created_at);
	cleanup_free char *updated = cmd_fmt_time(ct->updated_at);

	yajl_gen_map_open(g);
	json_gen_kv_str(g, "ID", ct->id);
	json_gen_str(g, "Labels");
	yajl_gen_map_open(g);
	for (size_t j = 0; j < ct->n_labels; j++)
		json_gen_kv_str(g, ct->labels[j]->key, ct->labels[j]->value);
	yajl_gen_map_close(g);
	json_gen_kv_str(g, "Image", ct->image);
	json_gen_str(g, "Runtime");
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "Name", ct->runtime ? ct->runtime->name : "");
	yajl_gen_map_close(g);
	json_gen_kv_str(g, "SnapshotKey", ct->snapshot_key);
	json_gen_kv_str(g, "Snapshotter", ct->snapshotter);
	json_gen_kv_str(g, "CreatedAt", created);
	json_gen_kv_str(g, "UpdatedAt", updated);
	if (with_spec && ct->spec && ct->spec->value.len) {
		yajl_val v = NULL;

		json_gen_str(g, "Spec");
		if (json_parse((const char *)ct->spec->value.data, ct->spec->value.len, &v, NULL) >=
		    0)
			json_gen_value(g, v);
		else
			yajl_gen_null(g);
		yajl_tree_free(v);
	}
	yajl_gen_map_close(g);
}

static int ct_ls(struct cmd_ctx *x, int argc, char **argv)
{
	Containerd__Services__Containers__V1__ListContainersRequest q =
		CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_REQUEST__INIT;
	cleanup_msg Containerd__Services__Containers__V1__ListContainersResponse *resp = NULL;
	struct cmd_list_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	if (cmd_parse_list(argc, argv, &o) || !(c = cmd_client(x)))
		return 1;
	q.filters = o.rest;
	q.n_filters = strv_length(o.rest);
	if (ctl_call(c, CONT_SVC, "List", &q.base,
		     &containerd__services__containers__v1__list_containers_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	if (o.json) {
		yajl_gen g = json_gen_new(true);

		yajl_gen_array_open(g);
		for (size_t i = 0; i < resp->n_containers; i++)
			container_json(g, resp->containers[i], false);
		yajl_gen_array_close(g);
		return cmd_print_json(g);
	}
	struct ctl_table *t = ctl_table_new(3);
	if (!o.quiet)
		ctl_table_add(t, (const char *[]){"CONTAINER", "IMAGE", "RUNTIME"});
	for (size_t i = 0; i < resp->n_containers; i++) {
		Containerd__Services__Containers__V1__Container *ct = resp->containers[i];

		if (o.quiet)
			printf("%s\n", ct->id);
		else
			ctl_table_add(t, (const char *[]){ct->id, ct->image,
							  ct->runtime ? ct->runtime->name : NULL});
	}
	cleanup_free char *s = ctl_table_render(t);
	fputs(s, stdout);
	ctl_table_free(t);
	return 0;
}

static int ct_info(struct cmd_ctx *x, int argc, char **argv)
{
	cleanup_msg Containerd__Services__Containers__V1__GetContainerResponse *resp = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	if (cmd_need_args(argc, argv, 1, "ID") || !(c = cmd_client(x)))
		return 1;
	if (get_container(c, argv[1], &resp, &e) < 0)
		return cmd_fail(e);
	yajl_gen g = json_gen_new(true);
	container_json(g, resp->container, true);
	return cmd_print_json(g);
}

static int ct_rm(struct cmd_ctx *x, int argc, char **argv)
{
	struct ctl_client *c;
	int rc = 0;

	if (argc < 2)
		return cmd_failf("usage: containers rm ID...");
	if (!(c = cmd_client(x)))
		return 1;
	for (int i = 1; i < argc; i++) {
		struct wh_err *e = NULL;

		if (cmd_container_delete(c, argv[i], &e) < 0)
			rc = cmd_fail(e);
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}

int cmd_containers(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct cmd_sub subs[] = {
		{"create", NULL, ct_create}, {"ls", "list", ct_ls}, {"info", NULL, ct_info},
		{"rm", "delete", ct_rm},     {NULL, NULL, NULL},
	};
	return cmd_dispatch(x, "containers", subs, argc, argv);
}

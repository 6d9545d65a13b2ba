/* SPDX-License-Identifier: Apache-2.0 */
/*
 * network ls|inspect|create|rm: the CNI networks of wharfd's conf_dir through
 * wharf.services.networks.v1.Networks (nerdctl's verbs; inspect prints the conflist with what
 * wharf knows about it).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl/cmd.h"
#include "proto/google/protobuf/empty.pb-c.h"
#include "proto/services/networks/v1/networks.pb-c.h"

#define NET_SVC "wharf.services.networks.v1.Networks"

typedef Wharf__Services__Networks__V1__Network pb_network;

cmd_fn cmd_network;

static void network_json(yajl_gen g, const pb_network *n)
{
	yajl_val conf = NULL;

	yajl_gen_map_open(g);
	json_gen_kv_str(g, "Name", n->name);
	json_gen_kv_str(g, "CNIVersion", n->cni_version);
	json_gen_str(g, "Plugins");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n->n_plugins; i++)
		json_gen_str(g, n->plugins[i]);
	yajl_gen_array_close(g);
	json_gen_kv_str(g, "Subnet", n->subnet);
	json_gen_kv_str(g, "Gateway", n->gateway);
	json_gen_kv_str(g, "Bridge", n->bridge);
	json_gen_kv_bool(g, "Managed", n->managed);
	json_gen_kv_bool(g, "Default", n->is_default);
	json_gen_kv_str(g, "File", n->path);
	json_gen_str(g, "Labels");
	yajl_gen_map_open(g);
	for (size_t i = 0; i < n->n_labels; i++)
		json_gen_kv_str(g, n->labels[i]->key, n->labels[i]->value);
	yajl_gen_map_close(g);
	json_gen_str(g, "Containers");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n->n_containers; i++)
		json_gen_str(g, n->containers[i]);
	yajl_gen_array_close(g);
	json_gen_str(g, "Config");
	if (n->conflist && json_parse(n->conflist, strlen(n->conflist), &conf, NULL) >= 0) {
		json_gen_value(g, conf);
		yajl_tree_free(conf);
	} else {
		yajl_gen_null(g);
	}
	yajl_gen_map_close(g);
}

static void print_json_list(pb_network *const *v, size_t n)
{
	yajl_gen g = json_gen_new(true);

	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++)
		network_json(g, v[i]);
	yajl_gen_array_close(g);
	cmd_print_json(g);
}

static int nw_ls(struct cmd_ctx *x, int argc, char **argv)
{
	Wharf__Services__Networks__V1__ListNetworksRequest q =
		WHARF__SERVICES__NETWORKS__V1__LIST_NETWORKS_REQUEST__INIT;
	cleanup_msg Wharf__Services__Networks__V1__ListNetworksResponse *resp = NULL;
	struct cmd_list_opts o;
	struct ctl_client *c;
	struct wh_err *e = NULL;

	if (cmd_parse_list(argc, argv, &o) || !(c = cmd_client(x)))
		return 1;
	if (o.rest[0])
		return cmd_failf("usage: network ls [-q] [--format json|table]");
	if (ctl_call(c, NET_SVC, "List", &q.base,
		     &wharf__services__networks__v1__list_networks_response__descriptor,
		     (ProtobufCMessage **)&resp, &e) < 0)
		return cmd_fail(e);
	if (o.json) {
		print_json_list(resp->networks, resp->n_networks);
		return 0;
	}
	struct ctl_table *t = ctl_table_new(5);
	if (!o.quiet)
		ctl_table_add(t, (const char *[]){"NAME", "SUBNET", "BRIDGE", "PLUGINS", "FILE"});
	for (size_t i = 0; i < resp->n_networks; i++) {
		pb_network *n = resp->networks[i];
		struct strbuf pl = STRBUF_INIT;

		if (o.quiet) {
			printf("%s\n", n->name);
			continue;
		}
		for (size_t k = 0; k < n->n_plugins; k++)
			strbuf_addf(&pl, "%s%s", k ? "," : "", n->plugins[k]);
		ctl_table_add(t, (const char *[]){n->name, *n->subnet ? n->subnet : NULL,
						  *n->bridge ? n->bridge : NULL, pl.buf, n->path});
		strbuf_release(&pl);
	}
	cleanup_free char *s = ctl_table_render(t);
	fputs(s, stdout);
	ctl_table_free(t);
	return 0;
}

static int nw_inspect(struct cmd_ctx *x, int argc, char **argv)
{
	pb_network **v;
	struct ctl_client *c;
	size_t n = 0;
	int rc = 0;

	if (argc < 2)
		return cmd_failf("usage: network inspect NAME...");
	if (!(c = cmd_client(x)))
		return 1;
	v = xnew0(pb_network *, (size_t)argc);
	for (int i = 1; i < argc; i++) {
		Wharf__Services__Networks__V1__GetNetworkRequest q =
			WHARF__SERVICES__NETWORKS__V1__GET_NETWORK_REQUEST__INIT;
		Wharf__Services__Networks__V1__GetNetworkResponse *resp = NULL;
		struct wh_err *e = NULL;

		q.name = argv[i];
		if (ctl_call(c, NET_SVC, "Get", &q.base,
			     &wharf__services__networks__v1__get_network_response__descriptor,
			     (ProtobufCMessage **)&resp, &e) < 0) {
			rc = cmd_fail(e);
			continue;
		}
		v[n++] = TAKE_PTR(resp->network);
		cmd_free_msg(resp);
	}
	if (n)
		print_json_list(v, n);
	for (size_t i = 0; i < n; i++)
		cmd_free_msg(v[i]);
	free(v);
	return rc;
}

static int nw_create(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
		{"subnet", required_argument, NULL, 's'},
		{"bridge", required_argument, NULL, 'b'},
		{"internal", no_argument, NULL, 'i'},
		{"label", required_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	Wharf__Services__Networks__V1__CreateNetworkRequest q =
		WHARF__SERVICES__NETWORKS__V1__CREATE_NETWORK_REQUEST__INIT;
	cleanup_msg Wharf__Services__Networks__V1__CreateNetworkResponse *resp = NULL;
	cleanup_strv char **labels = NULL;
	struct ctl_client *c;
	struct wh_err *e = NULL;
	int ch, r;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+l:", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			q.subnet = optarg;
			break;
		case 'b':
			q.bridge = optarg;
			break;
		case 'i':
			q.internal = true;
			break;
		case 'l':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return cmd_failf("network create: --label '%s': expected K=V",
						 optarg);
			strv_push(&labels, optarg);
			break;
		default:
			return cmd_failf("network create: unknown flag or missing value: %s",
					 argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cmd_failf("usage: network create [--subnet CIDR] [--bridge NAME] "
				 "[--internal] [--label K=V] NAME");
	if (!(c = cmd_client(x)))
		return 1;
	q.name = argv[optind];
	q.labels = (Wharf__Services__Networks__V1__CreateNetworkRequest__LabelsEntry **)cmd_kv_new(
		labels,
		&wharf__services__networks__v1__create_network_request__labels_entry__descriptor,
		&q.n_labels);
	r = ctl_call(c, NET_SVC, "Create", &q.base,
		     &wharf__services__networks__v1__create_network_response__descriptor,
		     (ProtobufCMessage **)&resp, &e);
	cmd_kv_free((void **)q.labels, q.n_labels);
	if (r < 0)
		return cmd_fail(e);
	printf("%s\n", resp->network->name);
	return 0;
}

static int nw_rm(struct cmd_ctx *x, int argc, char **argv)
{
	Wharf__Services__Networks__V1__DeleteNetworkRequest q =
		WHARF__SERVICES__NETWORKS__V1__DELETE_NETWORK_REQUEST__INIT;
	struct ctl_client *c;

	if (argc < 2)
		return cmd_failf("usage: network rm NAME...");
	if (!(c = cmd_client(x)))
		return 1;
	return cmd_each(c, argv + 1, argc - 1, NET_SVC, "Delete", &q.base, &q.name);
}

int cmd_network(struct cmd_ctx *x, int argc, char **argv)
{
	static const struct cmd_sub subs[] = {
		{"ls", "list", nw_ls},	     {"inspect", NULL, nw_inspect},
		{"create", NULL, nw_create}, {"rm", "remove", nw_rm},
		{NULL, NULL, NULL},
	};

	return cmd_dispatch(x, "network", subs, argc, argv);
}

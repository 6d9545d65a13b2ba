/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container networking in wharfd (see netsetup.h for the labels and paths): the plan read from
 * a container's labels, set-up at Tasks.Create (network namespace, CNI ADD of lo and each
 * network, resolv.conf/hosts/hostname, the spec rewritten to use them), teardown at Tasks.Delete
 * and after a crash (sweep), and the interface counters added to a task's metrics.
 */
#include "supervisor/netsetup.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "common/common.h"
#include "common/log.h"
#include "metadata/metadata.h"
#include "network/network.h"
#include "proto/cgroups/v1/metrics.pb-c.h"
#include "proto/services/networks/v1/networks.pb-c.h"

#define LOOPBACK_NAME "wharf-loopback"
#define LOOPBACK_CONF                                         \
	"{\"cniVersion\":\"1.0.0\",\"name\":\"" LOOPBACK_NAME \
	"\",\"plugins\":[{\"type\":\"loopback\"}]}"
#define RECORD_MAX (1u << 20)

/* Serializes writes to conf_dir (the runtime thread's default network, the service's create). */
static pthread_mutex_t netsetup_conf_lock = PTHREAD_MUTEX_INITIALIZER;

enum plan_mode {
	PLAN_CNI,
	PLAN_NONE,
	PLAN_HOST,
};

struct net_plan {
	enum plan_mode mode;
	char **networks;
	struct net_port_mapping *ports;
	size_t n_ports;
	char *ports_json; /* the label, kept in the record for DEL */
	char **dns, **add_hosts;
	char *hostname;
};

static void yajl_valp(yajl_val *v)
{
	yajl_tree_free(*v);
}

void netsetup_plan_free(struct net_plan *p)
{
	if (!p)
		return;
	strv_free(p->networks);
	for (size_t i = 0; i < p->n_ports; i++) {
		free((char *)p->ports[i].protocol);
		free((char *)p->ports[i].host_ip);
	}
	free(p->ports);
	free(p->ports_json);
	strv_free(p->dns);
	strv_free(p->add_hosts);
	free(p->hostname);
	free(p);
}

/* A label that is a JSON list of strings, or (lenient) one bare string. */
static int label_strv(const char *label, const char *v, char ***ret, struct wh_err **err)
{
	cleanup(yajl_valp) yajl_val t = NULL;
	cleanup_strv char **out = NULL;

	if (*v != '[') {
		if (!*v)
			return wh_err_setx(err, EINVAL, "label '%s': empty", label);
		strv_push(&out, v);
		*ret = TAKE_PTR(out);
		return 0;
	}
	if (json_parse(v, strlen(v), &t, NULL) < 0 || !YAJL_IS_ARRAY(t))
		return wh_err_setx(err, EINVAL, "label '%s': expected a JSON list of strings",
				   label);
	for (size_t i = 0; i < t->u.array.len; i++) {
		yajl_val s = t->u.array.values[i];

		if (!YAJL_IS_STRING(s) || !*s->u.string)
			return wh_err_setx(err, EINVAL, "label '%s': item %zu is not a string",
					   label, i);
		strv_push(&out, s->u.string);
	}
	*ret = TAKE_PTR(out);
	return 0;
}

static int port_number(yajl_val m, const char *key, size_t i, bool required, uint16_t *ret,
		       struct wh_err **err)
{
	yajl_val v = json_get(m, key);

	if (!v && !required)
		return 0;
	if (!v || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 1 || YAJL_GET_INTEGER(v) > 65535)
		return wh_err_setx(err, EINVAL, "%s must be 1..65535", key);
	*ret = (uint16_t)YAJL_GET_INTEGER(v);
	return 0;
}

static int plan_ports(struct net_plan *p, const char *v, struct wh_err **err)
{
	cleanup(yajl_valp) yajl_val t = NULL;
	int r;

	if (json_parse(v, strlen(v), &t, NULL) < 0 || !YAJL_IS_ARRAY(t))
		return wh_err_setx(err, EINVAL, "label '%s': expected a JSON list",
				   NETSETUP_LABEL_PORTS);
	p->ports = xnew0(struct net_port_mapping, t->u.array.len + 1);
	for (size_t i = 0; i < t->u.array.len; i++) {
		yajl_val m = t->u.array.values[i];
		struct net_port_mapping *pm = &p->ports[p->n_ports];
		const char *proto = "tcp", *ip = NULL;

		if (!YAJL_IS_OBJECT(m))
			return wh_err_setx(err, EINVAL, "label '%s': item %zu is not an object",
					   NETSETUP_LABEL_PORTS, i);
		if ((r = port_number(m, "hostPort", i, true, &pm->host_port, err)) < 0 ||
		    (r = port_number(m, "containerPort", i, true, &pm->container_port, err)) < 0 ||
		    (r = json_get_string_opt(m, "protocol", "protocol", &proto, err)) < 0 ||
		    (r = json_get_string_opt(m, "hostIP", "hostIP", &ip, err)) < 0)
			return wh_err_wrap(err, r, "label '%s': item %zu", NETSETUP_LABEL_PORTS, i);
		if (!streq(proto, "tcp") && !streq(proto, "udp") && !streq(proto, "sctp"))
			return wh_err_setx(err, EINVAL,
					   "label '%s': item %zu: protocol '%s' (tcp, udp or sctp)",
					   NETSETUP_LABEL_PORTS, i, proto);
		pm->protocol = xstrdup(proto);
		pm->host_ip = ip && *ip ? xstrdup(ip) : NULL;
		p->n_ports++;
	}
	p->ports_json = xstrdup(v);
	return 0;
}

/* Checks dns, add-hosts and hostname with the generators that will use them. */
static int plan_check_files(const struct net_plan *p, struct wh_err **err)
{
	struct net_files_opts o = {
		.hostname = p->hostname,
		.dns = (const char *const *)p->dns,
		.add_hosts = (const char *const *)p->add_hosts,
	};
	cleanup_free char *a = NULL, *b = NULL, *c = NULL;
	int r;

	if ((r = net_resolv_conf(&o, NULL, &a, err)) < 0 || (r = net_hosts(&o, NULL, &b, err)) < 0)
		return r;
	if (p->hostname && (r = net_hostname(&o, &c, err)) < 0)
		return wh_err_wrap(err, r, "label '%s'", NETSETUP_LABEL_HOSTNAME);
	return 0;
}

static int plan_fill(struct net_plan *p, char *const *kv, struct wh_err **err)
{
	const char *v;
	int r;

	if ((v = meta_labels_get(kv, NETSETUP_LABEL_PORTS)) && (r = plan_ports(p, v, err)) < 0)
		return r;
	if ((v = meta_labels_get(kv, NETSETUP_LABEL_DNS)) &&
	    (r = label_strv(NETSETUP_LABEL_DNS, v, &p->dns, err)) < 0)
		return r;
	if ((v = meta_labels_get(kv, NETSETUP_LABEL_ADD_HOSTS)) &&
	    (r = label_strv(NETSETUP_LABEL_ADD_HOSTS, v, &p->add_hosts, err)) < 0)
		return r;
	if ((v = meta_labels_get(kv, NETSETUP_LABEL_HOSTNAME)))
		p->hostname = xstrdup(v);
	if (p->n_ports && p->mode != PLAN_CNI)
		return wh_err_setx(err, EINVAL, "published ports need a network, not '%s'",
				   p->mode == PLAN_HOST ? "host" : "none");
	return plan_check_files(p, err);
}

int netsetup_plan(char *const *kv, struct net_plan **ret, struct wh_err **err)
{
	const char *v = meta_labels_get(kv, NETSETUP_LABEL_NETWORKS);
	struct net_plan *p;
	int r;

	*ret = NULL;
	if (!v)
		return 0;
	p = xnew0(struct net_plan, 1);
	if ((r = label_strv(NETSETUP_LABEL_NETWORKS, v, &p->networks, err)) < 0)
		goto fail;
	if (!p->networks) {
		r = wh_err_setx(err, EINVAL, "label '%s': no network named",
				NETSETUP_LABEL_NETWORKS);
		goto fail;
	}
	strv_foreach(n, p->networks) {
		if (!net_name_valid(*n)) {
			r = wh_err_setx(err, EINVAL, "label '%s': '%s' is not a network name",
					NETSETUP_LABEL_NETWORKS, *n);
			goto fail;
		}
	}
	if (strv_contains(p->networks, "none") || strv_contains(p->networks, "host")) {
		if (strv_length(p->networks) != 1) {
			r = wh_err_setx(err, EINVAL,
					"label '%s': 'none' and 'host' exclude other networks",
					NETSETUP_LABEL_NETWORKS);
			goto fail;
		}
		p->mode = streq(p->networks[0], "none") ? PLAN_NONE : PLAN_HOST;
	}
	if (strv_length(p->networks) > 8) {
		r = wh_err_setx(err, EINVAL, "label '%s': at most 8 networks",
				NETSETUP_LABEL_NETWORKS);
		goto fail;
	}
	if ((r = plan_fill(p, kv, err)) < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	netsetup_plan_free(p);
	return r;
}

/* ---- paths and keys ---- */

static char *key_of(const char *ns, const char *id)
{
	return xasprintf("%s--%s", ns, id);
}

/* Splits "<ns>--<id>"; false when key is not one of ours. */
static bool key_split(const char *key, char **ret_ns, char **ret_id)
{
	const char *sep = strstr(key, "--");

	if (!sep || sep == key || !sep[2])
		return false;
	*ret_ns = xstrndup(key, (size_t)(sep - key));
	*ret_id = xstrdup(sep + 2);
	return true;
}

static char *netns_dir(struct daemon *d)
{
	return path_join(d->cfg.state, "netns");
}

static char *files_dir(struct daemon *d, const char *key)
{
	return xasprintf("%s/net/%s", d->cfg.state, key);
}

static void cni_of(struct daemon *d, struct net_cni *cni, char **plugin_path, char **cache)
{
	struct strbuf sb = STRBUF_INIT;

	strv_foreach(b, d->cfg.cni_bin_dirs)
		strbuf_addf(&sb, "%s%s", sb.len ? ":" : "", *b);
	*plugin_path = strbuf_detach(&sb, NULL);
	*cache = xasprintf("%s/cni/cache", d->cfg.root);
	*cni = (struct net_cni){.plugin_path = *plugin_path, .cache_dir = *cache};
}

static char *netsetup_ipam_dir(struct daemon *d)
{
	return xasprintf("%s/cni/networks", d->cfg.root);
}

/* ---- conflists ---- */

static char *netsetup_mark_managed(const char *text, char *const *labels_kv)
{
	yajl_val t = NULL;
	yajl_gen g;
	char *out;

	if (json_parse(text, strlen(text), &t, NULL) < 0 || !YAJL_IS_OBJECT(t))
		BUG("net_bridge_conflist gave no object");
	g = json_gen_new(true);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < t->u.object.len; i++) {
		json_gen_str(g, t->u.object.keys[i]);
		json_gen_value(g, t->u.object.values[i]);
	}
	json_gen_str(g, NETSETUP_MANAGED_KEY);
	yajl_gen_map_open(g);
	json_gen_str(g, "labels");
	yajl_gen_map_open(g);
	for (size_t i = 0; labels_kv && labels_kv[i] && labels_kv[i + 1]; i += 2)
		json_gen_kv_str(g, labels_kv[i], labels_kv[i + 1]);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	yajl_tree_free(t);
	out = json_gen_finish(g, NULL);
	return out;
}

/* Writes the default network (wharf0, NET_DEFAULT_SUBNET) into conf_dir when it has none. */
static int default_network(struct daemon *d, struct net_conflist **ret, struct wh_err **err)
{
	cleanup_free char *ipam = netsetup_ipam_dir(d), *text = NULL, *marked = NULL;
	cleanup_free char *path = NULL;
	cleanup_err struct wh_err *e = NULL;
	struct net_bridge_opts o = {.ipam_data_dir = ipam};
	int r;

	pthread_mutex_lock(&netsetup_conf_lock);
	r = net_conflist_load(d->cfg.cni_conf_dir, NET_DEFAULT_NAME, ret, &e);
	if (r != -ENOENT) {
		if (r < 0)
			wh_err_move(err, &e);
		goto out;
	}
	/* Absent: written once, never over a file of someone else's. */
	path = xasprintf("%s/%s.conflist", d->cfg.cni_conf_dir, NET_DEFAULT_NAME);
	if (access(path, F_OK) == 0) {
		r = wh_err_setx(err, EEXIST, "'%s' exists but does not define network '%s'", path,
				NET_DEFAULT_NAME);
		goto out;
	}
	if ((r = net_bridge_conflist(&o, &text, err)) < 0)
		goto out;
	marked = netsetup_mark_managed(text, NULL);
	if ((r = mkdir_p(d->cfg.cni_conf_dir, 0755)) < 0 ||
	    (r = write_file_atomic(path, marked, strlen(marked), 0644)) < 0) {
		r = wh_err_set(err, r, "write the default network '%s'", path);
		goto out;
	}
	log_info("wrote the default network %s to '%s'", NET_DEFAULT_NAME, path);
	r = net_conflist_load(d->cfg.cni_conf_dir, NET_DEFAULT_NAME, ret, err);
out:
	pthread_mutex_unlock(&netsetup_conf_lock);
	return r;
}

static int load_network(struct daemon *d, const char *name, struct net_conflist **ret,
			struct wh_err **err)
{
	if (streq(name, NET_DEFAULT_NAME))
		return default_network(d, ret, err);
	return net_conflist_load(d->cfg.cni_conf_dir, name, ret, err);
}

/* ---- the record of what was set up ---- */

struct record {
	char *mode;
	char *netns;
	char *ports_json;
	char **nets, **ifnames; /* parallel */
};

static void record_release(struct record *rec)
{
	free(rec->mode);
	free(rec->netns);
	free(rec->ports_json);
	strv_free(rec->nets);
	strv_free(rec->ifnames);
	*rec = (struct record){0};
}

static int record_write(const char *dir, const struct record *rec, struct wh_err **err)
{
	cleanup_free char *path = path_join(dir, "record.json");
	cleanup_free char *text = NULL;
	yajl_gen g = json_gen_new(false);
	size_t len;
	int r;

	yajl_gen_map_open(g);
	json_gen_kv_str(g, "mode", rec->mode);
	json_gen_kv_str(g, "netns", rec->netns ? rec->netns : "");
	json_gen_kv_str(g, "ports", rec->ports_json ? rec->ports_json : "");
	json_gen_str(g, "attachments");
	yajl_gen_array_open(g);
	for (size_t i = 0; rec->nets && rec->nets[i]; i++) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "network", rec->nets[i]);
		json_gen_kv_str(g, "ifname", rec->ifnames[i]);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	text = json_gen_finish(g, &len);
	if ((r = write_file_atomic(path, text, len, 0600)) < 0)
		return wh_err_set(err, r, "write '%s'", path);
	return 0;
}

static int record_read(const char *dir, struct record *rec)
{
	cleanup_free char *path = path_join(dir, "record.json");
	cleanup(yajl_valp) yajl_val t = NULL;
	const char *mode = NULL, *netns = NULL, *ports = NULL;
	yajl_val att;

	*rec = (struct record){0};
	if (json_parse_file(path, RECORD_MAX, &t, NULL) < 0 || !YAJL_IS_OBJECT(t))
		return -ENOENT;
	(void)json_get_string_opt(t, "mode", "mode", &mode, NULL);
	(void)json_get_string_opt(t, "netns", "netns", &netns, NULL);
	(void)json_get_string_opt(t, "ports", "ports", &ports, NULL);
	rec->mode = xstrdup(mode ? mode : "");
	rec->netns = netns && *netns ? xstrdup(netns) : NULL;
	rec->ports_json = ports && *ports ? xstrdup(ports) : NULL;
	att = json_get(t, "attachments");
	for (size_t i = 0; att && YAJL_IS_ARRAY(att) && i < att->u.array.len; i++) {
		const char *n = NULL, *ifn = NULL;

		(void)json_get_string_opt(att->u.array.values[i], "network", "network", &n, NULL);
		(void)json_get_string_opt(att->u.array.values[i], "ifname", "ifname", &ifn, NULL);
		if (n && ifn) {
			strv_push(&rec->nets, n);
			strv_push(&rec->ifnames, ifn);
		}
	}
	return 0;
}

/* ---- attach / detach ---- */

/* The netns path for a plugin: "" once it is no longer a namespace (plugins accept a missing
 * path on DEL, not a plain file). */
static const char *live_netns(const char *path)
{
	struct statfs sf;

	if (!path || statfs(path, &sf) < 0 || sf.f_type != NSFS_MAGIC)
		return "";
	return path;
}

static void detach(struct daemon *d, const struct net_cni *cni, const char *key, const char *netns,
		   const char *network, const char *ifname, const struct net_plan *ports)
{
	struct net_conflist *cl = NULL;
	cleanup_err struct wh_err *e = NULL;
	struct net_attachment a = {
		.container_id = key,
		.netns = live_netns(netns),
		.ifname = ifname,
		.ports = ports ? ports->ports : NULL,
		.n_ports = ports ? ports->n_ports : 0,
	};

	if (net_cni_cached_conflist(cni, network, key, ifname, &cl, NULL) < 0) {
		int r = streq(network, LOOPBACK_NAME)
				? net_conflist_parse(LOOPBACK_CONF, strlen(LOOPBACK_CONF), false,
						     "loopback", &cl, &e)
				: net_conflist_load(d->cfg.cni_conf_dir, network, &cl, &e);

		if (r < 0) {
			log_warn("network teardown of %s on '%s': %s", key, network, wh_err_msg(e));
			return;
		}
	}
	if (net_cni_del(cni, cl, &a, &e) < 0)
		log_warn("network teardown of %s: %s", key, wh_err_msg(e));
	else
		log_debug("network %s: %s detached (%s)", network, key, ifname);
	net_conflist_free(cl);
}

static int attach(struct daemon *d, const struct net_cni *cni, const char *key, const char *netns,
		  const char *network, const char *ifname, const struct net_plan *p,
		  struct net_result **ret, struct wh_err **err)
{
	struct net_conflist *cl = NULL;
	struct net_attachment a = {
		.container_id = key,
		.netns = netns,
		.ifname = ifname,
		.ports = p ? p->ports : NULL,
		.n_ports = p ? p->n_ports : 0,
	};
	int r;

	if (streq(network, LOOPBACK_NAME))
		r = net_conflist_parse(LOOPBACK_CONF, strlen(LOOPBACK_CONF), false, "loopback", &cl,
				       err);
	else
		r = load_network(d, network, &cl, err);
	if (r < 0)
		return r;
	r = net_cni_add(cni, cl, &a, ret, err);
	net_conflist_free(cl);
	return r;
}

/* Every attachment of key: the record's, then cache entries the record lacks. */
static void detach_all(struct daemon *d, const struct net_cni *cni, const char *key,
		       const struct record *rec)
{
	cleanup_strv char **nets = strv_copy(rec->nets), **ifns = strv_copy(rec->ifnames);
	struct net_plan *ports = NULL;
	struct net_cached *cv = NULL;
	size_t cn = 0;

	if (net_cni_cache_list(cni, &cv, &cn, NULL) >= 0) {
		for (size_t i = 0; i < cn; i++) {
			bool known = false;

			if (!streq(cv[i].container_id, key))
				continue;
			for (size_t k = 0; nets && nets[k]; k++)
				known |= streq(nets[k], cv[i].network) &&
					 streq(ifns[k], cv[i].ifname);
			if (!known) {
				strv_push(&nets, cv[i].network);
				strv_push(&ifns, cv[i].ifname);
			}
		}
	}
	net_cached_free(cv, cn);
	if (rec->ports_json) {
		ports = xnew0(struct net_plan, 1);
		if (plan_ports(ports, rec->ports_json, NULL) < 0)
			ports->n_ports = 0;
	}
	/* Networks in reverse order of attachment, lo (first attached) last. */
	for (size_t i = strv_length(nets); i-- > 0;)
		detach(d, cni, key, rec->netns, nets[i], ifns[i], ports);
	netsetup_plan_free(ports);
}

void netsetup_down(struct daemon *d, const char *ns, const char *id)
{
	cleanup_free char *key = key_of(ns, id), *dir = files_dir(d, key), *nsd = netns_dir(d);
	cleanup_free char *pp = NULL, *cache = NULL;
	cleanup_err struct wh_err *e = NULL;
	struct net_cni cni;
	struct record rec;
	struct stat st;
	int r;

	cni_of(d, &cni, &pp, &cache);
	(void)record_read(dir, &rec);
	if (!rec.netns) {
		cleanup_free char *p = path_join(nsd, key);

		if (lstat(p, &st) == 0)
			rec.netns = TAKE_PTR(p);
	}
	detach_all(d, &cni, key, &rec);
	if (net_ns_remove(nsd, key, &e) < 0)
		log_warn("network teardown of %s: %s", key, wh_err_msg(e));
	if ((r = rm_rf(dir)) < 0)
		log_warn_errno(r, "network teardown of %s: remove '%s': %m", key, dir);
	record_release(&rec);
}

/* ---- the container's files and spec ---- */

struct spec_net {
	bool host;
	const char *netns; /* NULL with host */
	const char *hostname;
	const char *dir; /* of resolv.conf, hosts, hostname */
};

static const char *const etc_files[] = {"resolv.conf", "hosts", "hostname"};

static bool has_uts(yajl_val lx)
{
	yajl_val nss = json_get(lx, "namespaces");

	for (size_t i = 0; nss && YAJL_IS_ARRAY(nss) && i < nss->u.array.len; i++) {
		yajl_val e = nss->u.array.values[i];
		yajl_val type = json_get(e, "type");

		if (type && YAJL_IS_STRING(type) && streq(type->u.string, "uts") &&
		    !json_get(e, "path"))
			return true;
	}
	return false;
}

static void gen_namespaces(yajl_gen g, yajl_val nss, const struct spec_net *sn)
{
	bool done = false;

	json_gen_str(g, "namespaces");
	yajl_gen_array_open(g);
	for (size_t i = 0; nss && YAJL_IS_ARRAY(nss) && i < nss->u.array.len; i++) {
		yajl_val e = nss->u.array.values[i];
		yajl_val type = json_get(e, "type");

		if (!type || !YAJL_IS_STRING(type) || !streq(type->u.string, "network")) {
			json_gen_value(g, e);
			continue;
		}
		if (sn->host || done)
			continue;
		done = true;
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "type", "network");
		json_gen_kv_str(g, "path", sn->netns);
		yajl_gen_map_close(g);
	}
	if (!sn->host && !done) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "type", "network");
		json_gen_kv_str(g, "path", sn->netns);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void gen_linux(yajl_gen g, yajl_val lx, const struct spec_net *sn)
{
	json_gen_str(g, "linux");
	yajl_gen_map_open(g);
	for (size_t i = 0; lx && YAJL_IS_OBJECT(lx) && i < lx->u.object.len; i++) {
		if (streq(lx->u.object.keys[i], "namespaces"))
			continue;
		json_gen_str(g, lx->u.object.keys[i]);
		json_gen_value(g, lx->u.object.values[i]);
	}
	gen_namespaces(g, json_get(lx, "namespaces"), sn);
	yajl_gen_map_close(g);
}

static bool has_mount(yajl_val mounts, const char *dst)
{
	for (size_t i = 0; mounts && YAJL_IS_ARRAY(mounts) && i < mounts->u.array.len; i++) {
		yajl_val d = json_get(mounts->u.array.values[i], "destination");

		if (d && YAJL_IS_STRING(d) && streq(d->u.string, dst))
			return true;
	}
	return false;
}

static void gen_mounts(yajl_gen g, yajl_val mounts, const struct spec_net *sn)
{
	json_gen_str(g, "mounts");
	yajl_gen_array_open(g);
	for (size_t i = 0; mounts && YAJL_IS_ARRAY(mounts) && i < mounts->u.array.len; i++)
		json_gen_value(g, mounts->u.array.values[i]);
	for (size_t i = 0; i < ARRAY_SIZE(etc_files); i++) {
		cleanup_free char *dst = xasprintf("/etc/%s", etc_files[i]);
		cleanup_free char *src = path_join(sn->dir, etc_files[i]);

		/* A mount the user asked for on the same file wins. */
		if (has_mount(mounts, dst))
			continue;
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "destination", dst);
		json_gen_kv_str(g, "type", "bind");
		json_gen_kv_str(g, "source", src);
		json_gen_str(g, "options");
		yajl_gen_array_open(g);
		json_gen_str(g, "rbind");
		json_gen_str(g, "rprivate");
		json_gen_str(g, "rw");
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static int spec_rewrite(const void *spec, size_t len, const struct spec_net *o, char **ret,
			size_t *ret_len, struct wh_err **err)
{
	cleanup(yajl_valp) yajl_val t = NULL;
	const struct spec_net sn = *o;
	bool seen_linux = false, seen_mounts = false;
	yajl_val lx;
	yajl_gen g;
	int r;

	if ((r = json_parse(spec, len, &t, err)) < 0)
		return wh_err_wrap(err, r, "spec");
	if (!YAJL_IS_OBJECT(t))
		return wh_err_setx(err, EINVAL, "spec: expected an object");
	lx = json_get(t, "linux");
	g = json_gen_new(false);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < t->u.object.len; i++) {
		const char *k = t->u.object.keys[i];

		if (streq(k, "hostname"))
			continue;
		if (streq(k, "linux")) {
			gen_linux(g, lx, &sn);
			seen_linux = true;
		} else if (streq(k, "mounts")) {
			gen_mounts(g, t->u.object.values[i], &sn);
			seen_mounts = true;
		} else {
			json_gen_str(g, k);
			json_gen_value(g, t->u.object.values[i]);
		}
	}
	if (!seen_linux)
		gen_linux(g, NULL, &sn);
	if (!seen_mounts)
		gen_mounts(g, NULL, &sn);
	if (o->hostname && has_uts(lx))
		json_gen_kv_str(g, "hostname", o->hostname);
	yajl_gen_map_close(g);
	*ret = json_gen_finish(g, ret_len);
	return 0;
}

/* The container's host name: the label's, the host's with host networking, else its id. */
static char *hostname_of(const struct net_plan *p, const char *id)
{
	char buf[256] = "";

	if (p->hostname)
		return xstrdup(p->hostname);
	if (p->mode == PLAN_HOST && gethostname(buf, sizeof(buf) - 1) == 0 && *buf)
		return xstrdup(buf);
	{
		/* a label of at most 63 bytes that does not end in '.' or '-' */
		char *h = xstrndup(id, 63);
		size_t n = strlen(h);

		while (n > 1 && (h[n - 1] == '.' || h[n - 1] == '-'))
			h[--n] = 0;
		return h;
	}
}

static int write_in(const char *dir, const char *name, const char *text, struct wh_err **err)
{
	cleanup_free char *p = path_join(dir, name);
	int r = write_file_atomic(p, text, strlen(text), 0644);

	return r < 0 ? wh_err_set(err, r, "write '%s'", p) : 0;
}

/* resolv.conf, hosts and hostname for the container in dir. */
static int write_files(const char *dir, const struct net_plan *p, const char *hostname,
		       const struct net_result *res, struct wh_err **err)
{
	cleanup_free char *host_resolv = NULL, *host_hosts = NULL;
	cleanup_free char *resolv = NULL, *hosts = NULL, *hn = NULL;
	struct net_files_opts o = {
		.hostname = hostname,
		.dns = (const char *const *)p->dns,
		.add_hosts = (const char *const *)p->add_hosts,
	};
	int r;

	(void)read_file("/etc/resolv.conf", 1 << 20, &host_resolv, NULL);
	o.host_resolv = host_resolv;
	if (p->mode == PLAN_HOST && !p->dns && host_resolv)
		resolv = xstrdup(host_resolv); /* the host's, loopback servers work here */
	else if ((r = net_resolv_conf(&o, res, &resolv, err)) < 0)
		return r;
	if ((r = net_hosts(&o, res, &hosts, err)) < 0 || (r = net_hostname(&o, &hn, err)) < 0)
		return r;
	if (p->mode == PLAN_HOST && read_file("/etc/hosts", 1 << 20, &host_hosts, NULL) >= 0) {
		/*
		 * The host's hosts file plus what net_hosts added after its two localhost lines:
		 * "127.0.1.1 <hostname>" (kept only for a --hostname, the host's own name is in
		 * the host's file) and the --add-host lines.
		 */
		const char *extra = hosts;
		int skip = p->hostname ? 2 : 3;

		for (int i = 0; i < skip && *extra; i++)
			extra = strchr(extra, '\n') ? strchr(extra, '\n') + 1 : "";
		char *merged = xasprintf(
			"%s%s%s", host_hosts,
			*host_hosts && host_hosts[strlen(host_hosts) - 1] != '\n' ? "\n" : "",
			extra);
		free(hosts);
		hosts = merged;
	}
	if ((r = write_in(dir, "resolv.conf", resolv, err)) < 0 ||
	    (r = write_in(dir, "hosts", hosts, err)) < 0 ||
	    (r = write_in(dir, "hostname", hn, err)) < 0)
		return r;
	return 0;
}

/* Namespace and CNI ADDs; *ret_res gets the first network's result. */
static int connect_all(struct daemon *d, const struct net_cni *cni, const char *key,
		       const struct net_plan *p, struct record *rec, const char *dir,
		       struct net_result **ret_res, struct wh_err **err)
{
	cleanup_free char *nsd = netns_dir(d);
	int r;

	if ((r = net_ns_create(nsd, key, &rec->netns, err)) < 0)
		return r;
	/* none: lo alone, set up here (no plugin run, nothing in the CNI cache). */
	if (p->mode == PLAN_NONE) {
		if ((r = record_write(dir, rec, err)) < 0)
			return r;
		return net_ns_loopback_up(rec->netns, err);
	}
	strv_push(&rec->nets, LOOPBACK_NAME);
	strv_push(&rec->ifnames, "lo");
	for (size_t i = 0; p->networks[i]; i++) {
		strv_push(&rec->nets, p->networks[i]);
		strv_consume(&rec->ifnames, xasprintf("eth%zu", i));
	}
	/* The intent first: a crash from here on is cleaned by the sweep. */
	if ((r = record_write(dir, rec, err)) < 0)
		return r;
	for (size_t i = 0; rec->nets[i]; i++) {
		struct net_result *res = NULL;

		r = attach(d, cni, key, rec->netns, rec->nets[i], rec->ifnames[i],
			   i == 1 ? p : NULL, &res, err);
		if (r < 0)
			return r;
		if (i == 1)
			*ret_res = res;
		else
			net_result_free(res);
	}
	return 0;
}

int netsetup_up(struct daemon *d, const char *ns, const char *id, const struct net_plan *p,
		void **spec, size_t *spec_len, struct wh_err **err)
{
	cleanup_free char *key = key_of(ns, id), *dir = files_dir(d, key);
	cleanup_free char *pp = NULL, *cache = NULL, *hostname = hostname_of(p, id);
	cleanup_free char *out = NULL;
	struct record rec = {.mode = xstrdup(p->mode == PLAN_HOST   ? "host"
					     : p->mode == PLAN_NONE ? "none"
								    : "cni"),
			     .ports_json = p->ports_json ? xstrdup(p->ports_json) : NULL};
	struct net_result *res = NULL;
	struct net_cni cni;
	size_t len = 0;
	int r;

	cni_of(d, &cni, &pp, &cache);
	/* A leftover of an earlier container of the same name goes first. */
	netsetup_down(d, ns, id);
	if ((r = mkdir_p(dir, 0711)) < 0) {
		r = wh_err_set(err, r, "create '%s'", dir);
		goto fail;
	}
	if (p->mode != PLAN_HOST && (r = connect_all(d, &cni, key, p, &rec, dir, &res, err)) < 0)
		goto fail;
	if (p->mode == PLAN_HOST && (r = record_write(dir, &rec, err)) < 0)
		goto fail;
	if ((r = write_files(dir, p, hostname, res, err)) < 0)
		goto fail;
	{
		struct spec_net so = {p->mode == PLAN_HOST, rec.netns, hostname, dir};

		if ((r = spec_rewrite(*spec, *spec_len, &so, &out, &len, err)) < 0)
			goto fail;
	}
	free(*spec);
	*spec = TAKE_PTR(out);
	*spec_len = len;
	net_result_free(res);
	record_release(&rec);
	return 0;
fail:
	net_result_free(res);
	record_release(&rec);
	netsetup_down(d, ns, id);
	return wh_err_wrap(err, r, "network of container '%s'", id);
}

/* ---- after a crash ---- */

/*
 * The conflist of an attachment as it was at ADD, without portmap: Debian's portmap 1.1.1 CHECK
 * looks for an IPv6 chain it never made for IPv4-only mappings and always fails.
 */
static int check_conflist(const struct net_conflist *cl, struct net_conflist **ret,
			  struct wh_err **err)
{
	yajl_gen g = json_gen_new(false);
	cleanup_free char *text = NULL;
	size_t len;

	yajl_gen_map_open(g);
	for (size_t i = 0; i < cl->tree->u.object.len; i++) {
		const char *k = cl->tree->u.object.keys[i];

		if (streq(k, "plugins") || streq(k, "type"))
			continue;
		json_gen_str(g, k);
		json_gen_value(g, cl->tree->u.object.values[i]);
	}
	json_gen_str(g, "plugins");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < cl->n_plugins; i++)
		if (!streq(cl->types[i], "portmap"))
			json_gen_value(g, cl->plugins[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	text = json_gen_finish(g, &len);
	return net_conflist_parse(text, len, false, "conflist to check", ret, err);
}

/* CHECK of a kept container's attachment after a restart: problems are logged. */
static void check_attachment(const struct net_cni *cni, const struct net_cached *c, const char *ns,
			     const char *id)
{
	struct net_conflist *cached = NULL, *cl = NULL;
	cleanup_err struct wh_err *e = NULL;
	struct net_attachment a = {
		.container_id = c->container_id, .netns = c->netns, .ifname = c->ifname};

	if (net_cni_cached_conflist(cni, c->network, c->container_id, c->ifname, &cached, &e) < 0 ||
	    check_conflist(cached, &cl, &e) < 0 || net_cni_check(cni, cl, &a, &e) < 0)
		log_warn("network %s of %s/%s: CHECK failed: %s", c->network, ns, id,
			 wh_err_msg(e));
	else
		log_info("network %s of %s/%s (%s): CHECK passed", c->network, ns, id, c->ifname);
	net_conflist_free(cached);
	net_conflist_free(cl);
}

void netsetup_sweep(struct daemon *d, bool (*keep)(void *userdata, const char *ns, const char *id),
		    void *userdata)
{
	cleanup_free char *nsd = netns_dir(d), *pp = NULL, *cache = NULL;
	cleanup_free char *netdir = path_join(d->cfg.state, "net");
	cleanup_strv char **keys = NULL, **nsids = NULL;
	struct net_cached *cv = NULL;
	struct net_cni cni;
	size_t cn = 0;

	cni_of(d, &cni, &pp, &cache);
	/* Records and namespaces: the full teardown of each container not kept. */
	if (net_ns_list(netdir, &keys, NULL) >= 0 && net_ns_list(nsd, &nsids, NULL) >= 0) {
		strv_foreach(k, nsids)
			if (!strv_contains(keys, *k))
				strv_push(&keys, *k);
		strv_foreach(k, keys) {
			cleanup_free char *ns = NULL, *id = NULL;

			if (!key_split(*k, &ns, &id) || keep(userdata, ns, id))
				continue;
			log_info("network of %s/%s: its task is gone, tearing down", ns, id);
			netsetup_down(d, ns, id);
		}
	}
	/* Cache entries without a record (after a reboot cleared the state dir). */
	if (net_cni_cache_list(&cni, &cv, &cn, NULL) < 0)
		return;
	for (size_t i = 0; i < cn; i++) {
		cleanup_free char *ns = NULL, *id = NULL;

		if (!key_split(cv[i].container_id, &ns, &id))
			continue;
		if (keep(userdata, ns, id)) {
			check_attachment(&cni, &cv[i], ns, id);
			continue;
		}
		log_info("network %s of %s/%s: its task is gone, releasing", cv[i].network, ns, id);
		detach(d, &cni, cv[i].container_id, cv[i].netns, cv[i].network, cv[i].ifname, NULL);
	}
	net_cached_free(cv, cn);
}

/* ---- metrics ---- */

void netsetup_metrics(uint32_t pid, Google__Protobuf__Any **data)
{
	Io__Containerd__Cgroups__V1__Metrics *m;
	struct net_if_stats *st = NULL;
	size_t n = 0, len;
	uint8_t *buf;

	if (!*data || !strstr((*data)->type_url, "cgroups.v1.Metrics") || pid == 0)
		return;
	if (net_pid_if_stats((int)pid, &st, &n, NULL) < 0)
		return;
	m = io__containerd__cgroups__v1__metrics__unpack(NULL, (*data)->value.len,
							 (*data)->value.data);
	if (!m) {
		free(st);
		return;
	}
	/* The unpacked message owns its arrays through the allocator: build a fresh one. */
	Io__Containerd__Cgroups__V1__NetworkStat **old = m->network;
	size_t n_old = m->n_network;
	Io__Containerd__Cgroups__V1__NetworkStat *nst =
		xnew0(Io__Containerd__Cgroups__V1__NetworkStat, n + 1);
	Io__Containerd__Cgroups__V1__NetworkStat **pv =
		xnew0(Io__Containerd__Cgroups__V1__NetworkStat *, n + 1);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (streq(st[i].name, "lo"))
			continue;
		io__containerd__cgroups__v1__network_stat__init(&nst[k]);
		nst[k].name = st[i].name;
		nst[k].rx_bytes = st[i].rx_bytes;
		nst[k].rx_packets = st[i].rx_packets;
		nst[k].rx_errors = st[i].rx_errors;
		nst[k].rx_dropped = st[i].rx_dropped;
		nst[k].tx_bytes = st[i].tx_bytes;
		nst[k].tx_packets = st[i].tx_packets;
		nst[k].tx_errors = st[i].tx_errors;
		nst[k].tx_dropped = st[i].tx_dropped;
		pv[k] = &nst[k];
		k++;
	}
	m->network = pv;
	m->n_network = k;
	len = io__containerd__cgroups__v1__metrics__get_packed_size(m);
	buf = xmalloc(len + 1);
	io__containerd__cgroups__v1__metrics__pack(m, buf);
	m->network = old;
	m->n_network = n_old;
	io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);
	{
		Google__Protobuf__Any *any = pb_any((*data)->type_url, buf, len);

		protobuf_c_message_free_unpacked(&(*data)->base, NULL);
		*data = any;
	}
	free(buf);
	free(pv);
	free(nst);
	free(st);
}

/* ---- the Networks service (API thread) ---- */

typedef Wharf__Services__Networks__V1__Network pb_network;

static const char *tree_str(yajl_val v, const char *key)
{
	yajl_val s = json_get(v, key);

	return s && YAJL_IS_STRING(s) ? s->u.string : NULL;
}

/* The first host-local range (or the old single-subnet form) of a plugin's ipam. */
static void ipam_range(yajl_val plugin, const char **subnet, const char **gw)
{
	yajl_val ipam = json_get(plugin, "ipam");
	yajl_val ranges = json_get(ipam, "ranges");

	if (ranges && YAJL_IS_ARRAY(ranges) && ranges->u.array.len > 0) {
		yajl_val set = ranges->u.array.values[0];

		if (YAJL_IS_ARRAY(set) && set->u.array.len > 0) {
			*subnet = tree_str(set->u.array.values[0], "subnet");
			*gw = tree_str(set->u.array.values[0], "gateway");
			return;
		}
	}
	if (tree_str(ipam, "subnet")) {
		*subnet = tree_str(ipam, "subnet");
		*gw = tree_str(ipam, "gateway");
	}
}

static void describe(const struct net_conflist *cl, const char **subnet, const char **gw,
		     const char **bridge)
{
	*subnet = *gw = *bridge = NULL;
	for (size_t i = 0; i < cl->n_plugins; i++) {
		if (!*bridge)
			*bridge = tree_str(cl->plugins[i], "bridge");
		if (!*subnet)
			ipam_range(cl->plugins[i], subnet, gw);
	}
}

static bool is_managed(const struct net_conflist *cl)
{
	yajl_val m = json_get(cl->tree, NETSETUP_MANAGED_KEY);

	return m && YAJL_IS_OBJECT(m);
}

static pb_network *network_msg(const struct net_conflist *cl, const struct net_cached *cv,
			       size_t cn)
{
	pb_network *n = pb_new(&wharf__services__networks__v1__network__descriptor);
	yajl_val labels = json_get(json_get(cl->tree, NETSETUP_MANAGED_KEY), "labels");
	const char *subnet, *gw, *bridge;
	cleanup_strv char **kv = NULL;
	cleanup_free char *text = NULL;
	yajl_gen g;

	describe(cl, &subnet, &gw, &bridge);
	n->name = pb_str(cl->name);
	n->cni_version = pb_str(cl->cni_version);
	n->plugins = xnew0(char *, cl->n_plugins + 1);
	for (size_t i = 0; i < cl->n_plugins; i++)
		n->plugins[n->n_plugins++] = xstrdup(cl->types[i]);
	n->subnet = pb_str(subnet);
	n->gateway = pb_str(gw);
	n->bridge = pb_str(bridge);
	n->managed = is_managed(cl);
	n->is_default = streq(cl->name, NET_DEFAULT_NAME);
	n->path = pb_str(cl->path);
	g = json_gen_new(true);
	json_gen_value(g, cl->tree);
	n->conflist = json_gen_finish(g, NULL);
	for (size_t i = 0; labels && YAJL_IS_OBJECT(labels) && i < labels->u.object.len; i++) {
		yajl_val v = labels->u.object.values[i];

		strv_push(&kv, labels->u.object.keys[i]);
		strv_push(&kv, YAJL_IS_STRING(v) ? v->u.string : "");
	}
	pb_map_from_strv(&wharf__services__networks__v1__network__labels_entry__descriptor, kv,
			 &n->n_labels, &n->labels);
	n->containers = xnew0(char *, cn + 1);
	for (size_t i = 0; i < cn; i++) {
		char *ns = NULL, *id = NULL;

		if (!streq(cv[i].network, cl->name) || !key_split(cv[i].container_id, &ns, &id))
			continue;
		n->containers[n->n_containers++] = xasprintf("%s/%s", ns, id);
		free(ns);
		free(id);
	}
	return n;
}

static void cache_list(struct daemon *d, struct net_cached **cv, size_t *cn)
{
	cleanup_free char *pp = NULL, *cache = NULL;
	struct net_cni cni;

	cni_of(d, &cni, &pp, &cache);
	*cv = NULL;
	*cn = 0;
	(void)net_cni_cache_list(&cni, cv, cn, NULL);
}

static int nw_list(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	Wharf__Services__Networks__V1__ListNetworksResponse *resp;
	struct net_conflist **v = NULL;
	struct net_cached *cv;
	size_t n = 0, cn;
	int r;

	(void)req;
	if ((r = net_conflist_load_all(c->d->cfg.cni_conf_dir, &v, &n, err)) < 0)
		return r;
	cache_list(c->d, &cv, &cn);
	resp = pb_new(&wharf__services__networks__v1__list_networks_response__descriptor);
	resp->networks = xnew0(pb_network *, n + 1);
	for (size_t i = 0; i < n; i++)
		resp->networks[resp->n_networks++] = network_msg(v[i], cv, cn);
	net_cached_free(cv, cn);
	net_conflists_free(v, n);
	*ret = &resp->base;
	return 0;
}

static int nw_get(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		  struct wh_err **err)
{
	const Wharf__Services__Networks__V1__GetNetworkRequest *q = (const void *)req;
	Wharf__Services__Networks__V1__GetNetworkResponse *resp;
	struct net_conflist *cl = NULL;
	struct net_cached *cv;
	size_t cn;
	int r;

	if (!pb_nz(q->name))
		return wh_err_setx(err, EINVAL, "network name required");
	if ((r = net_conflist_load(c->d->cfg.cni_conf_dir, q->name, &cl, err)) < 0)
		return r;
	cache_list(c->d, &cv, &cn);
	resp = pb_new(&wharf__services__networks__v1__get_network_response__descriptor);
	resp->network = network_msg(cl, cv, cn);
	net_cached_free(cv, cn);
	net_conflist_free(cl);
	*ret = &resp->base;
	return 0;
}

/* "a.b.c.d/n" -> network address and prefix; false when it is not one. */
static bool cidr_parse(const char *s, uint32_t *ret_addr, unsigned *ret_pfx)
{
	unsigned a, b, c, d, pfx;
	char tail;

	if (!s || sscanf(s, "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &pfx, &tail) != 5 || a > 255 ||
	    b > 255 || c > 255 || d > 255 || pfx > 32)
		return false;
	*ret_addr = a << 24 | b << 16 | c << 8 | d;
	*ret_pfx = pfx;
	return true;
}

static bool cidr_overlap(const char *x, const char *y)
{
	uint32_t ax, ay, mask;
	unsigned px, py, p;

	if (!cidr_parse(x, &ax, &px) || !cidr_parse(y, &ay, &py))
		return false;
	p = MIN(px, py);
	mask = p == 0 ? 0 : ~0u << (32 - p);
	return (ax & mask) == (ay & mask);
}

/* Refuses a name, subnet or bridge another network has; picks a free subnet when none. */
static int create_check(struct net_conflist **v, size_t n, const char *name, char **subnet,
			const char *bridge, struct wh_err **err)
{
	/* The default network is taken even before its file is written (on first use). */
	if (streq(name, NET_DEFAULT_NAME))
		return wh_err_setx(err, EEXIST, "network '%s' is the default network", name);
	if (streq(bridge, "wharf0"))
		return wh_err_setx(err, EEXIST, "bridge 'wharf0' is the default network's");
	if (*subnet && cidr_overlap(*subnet, NET_DEFAULT_SUBNET))
		return wh_err_setx(err, EEXIST, "subnet %s overlaps %s of the default network",
				   *subnet, NET_DEFAULT_SUBNET);
	for (size_t i = 0; i < n; i++) {
		const char *s, *gw, *br;

		describe(v[i], &s, &gw, &br);
		if (streq(v[i]->name, name))
			return wh_err_setx(err, EEXIST, "network '%s' already exists (%s)", name,
					   v[i]->path ? v[i]->path : "");
		if (*subnet && s && cidr_overlap(*subnet, s))
			return wh_err_setx(err, EEXIST, "subnet %s overlaps %s of network '%s'",
					   *subnet, s, v[i]->name);
		if (br && streq(br, bridge))
			return wh_err_setx(err, EEXIST, "bridge '%s' is used by network '%s'",
					   bridge, v[i]->name);
	}
	for (unsigned k = 1; !*subnet && k < 256; k++) {
		cleanup_free char *cand = xasprintf("10.89.%u.0/24", k);
		bool used = false;

		for (size_t i = 0; i < n && !used; i++) {
			const char *s, *gw, *br;

			describe(v[i], &s, &gw, &br);
			used = s && cidr_overlap(cand, s);
		}
		if (!used)
			*subnet = TAKE_PTR(cand);
	}
	if (!*subnet)
		return wh_err_setx(err, ENOSPC, "no free subnet in 10.89.1.0/24..10.89.255.0/24");
	return 0;
}

static int create_locked(struct daemon *d,
			 const Wharf__Services__Networks__V1__CreateNetworkRequest *q,
			 const char *bridge, char *const *labels, struct wh_err **err)
{
	cleanup_free char *subnet = pb_nz(q->subnet) ? xstrdup(q->subnet) : NULL;
	cleanup_free char *ipam = netsetup_ipam_dir(d), *text = NULL, *marked = NULL;
	cleanup_free char *path = xasprintf("%s/%s.conflist", d->cfg.cni_conf_dir, q->name);
	struct net_conflist **v = NULL;
	struct net_bridge_opts o = {.name = q->name,
				    .bridge = bridge,
				    .ipam_data_dir = ipam,
				    .no_masquerade = q->internal};
	size_t n = 0;
	int r;

	if ((r = net_conflist_load_all(d->cfg.cni_conf_dir, &v, &n, err)) < 0)
		return r;
	r = create_check(v, n, q->name, &subnet, bridge, err);
	net_conflists_free(v, n);
	if (r < 0)
		return r;
	if (access(path, F_OK) == 0)
		return wh_err_setx(err, EEXIST, "'%s' already exists", path);
	o.subnet = subnet;
	if ((r = net_bridge_conflist(&o, &text, err)) < 0)
		return r;
	marked = netsetup_mark_managed(text, labels);
	if ((r = mkdir_p(d->cfg.cni_conf_dir, 0755)) < 0 ||
	    (r = write_file_atomic(path, marked, strlen(marked), 0644)) < 0)
		return wh_err_set(err, r, "write '%s'", path);
	return 0;
}

static int nw_create(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Wharf__Services__Networks__V1__CreateNetworkRequest *q = (const void *)req;
	Wharf__Services__Networks__V1__CreateNetworkResponse *resp;
	cleanup_strv char **labels = pb_map_to_strv((void *const *)q->labels, q->n_labels);
	cleanup_free char *bridge = NULL;
	struct net_conflist *cl = NULL;
	struct net_cached *cv;
	size_t cn;
	int r;

	if (!pb_nz(q->name))
		return wh_err_setx(err, EINVAL, "network name required");
	if (streq(q->name, "none") || streq(q->name, "host") || streq(q->name, LOOPBACK_NAME))
		return wh_err_setx(err, EINVAL, "network name '%s' is reserved", q->name);
	if (!net_name_valid(q->name))
		return wh_err_setx(err, EINVAL,
				   "invalid network name '%s' (letters, digits, '_', '.' and '-', "
				   "starting with a letter or digit)",
				   q->name);
	if (pb_nz(q->bridge)) {
		bridge = xstrdup(q->bridge);
	} else {
		char dg[DIGEST_STR_LEN];

		digest_buf(q->name, strlen(q->name), dg);
		bridge = xasprintf("wh-%.12s", dg + 7);
	}
	pthread_mutex_lock(&netsetup_conf_lock);
	r = create_locked(c->d, q, bridge, labels, err);
	pthread_mutex_unlock(&netsetup_conf_lock);
	if (r < 0)
		return wh_err_wrap(err, r, "create network '%s'", q->name);
	if ((r = net_conflist_load(c->d->cfg.cni_conf_dir, q->name, &cl, err)) < 0)
		return r;
	cache_list(c->d, &cv, &cn);
	resp = pb_new(&wharf__services__networks__v1__create_network_response__descriptor);
	resp->network = network_msg(cl, cv, cn);
	net_cached_free(cv, cn);
	net_conflist_free(cl);
	log_info("network %s created (subnet %s)", q->name, resp->network->subnet);
	*ret = &resp->base;
	return 0;
}

/* A container (any namespace) whose labels name the network, as "ns/id"; NULL when none. */
static char *container_using(struct daemon *d, const char *name)
{
	cleanup_strv char **nss = NULL;
	char *found = NULL;

	if (meta_namespace_list(d->db, &nss, NULL) < 0)
		return NULL;
	strv_foreach(ns, nss) {
		struct meta_container *v = NULL;
		size_t n = 0;

		if (meta_container_list(d->db, *ns, NULL, &v, &n, NULL) < 0)
			continue;
		for (size_t i = 0; i < n && !found; i++) {
			const char *l = meta_labels_get(v[i].labels, NETSETUP_LABEL_NETWORKS);
			cleanup_strv char **names = NULL;

			if (l && label_strv(NETSETUP_LABEL_NETWORKS, l, &names, NULL) >= 0 &&
			    strv_contains(names, name))
				found = xasprintf("%s/%s", *ns, v[i].id);
		}
		meta_containers_free(v, n);
		if (found)
			break;
	}
	return found;
}

static int nw_delete(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Wharf__Services__Networks__V1__DeleteNetworkRequest *q = (const void *)req;
	struct net_conflist *cl = NULL;
	cleanup_free char *user = NULL, *ipam = NULL;
	struct net_cached *cv;
	size_t cn;
	int r;

	(void)ret;
	if (!pb_nz(q->name))
		return wh_err_setx(err, EINVAL, "network name required");
	if (streq(q->name, NET_DEFAULT_NAME))
		return wh_err_setx(err, EPERM, "network '%s' is the default network", q->name);
	pthread_mutex_lock(&netsetup_conf_lock);
	if ((r = net_conflist_load(c->d->cfg.cni_conf_dir, q->name, &cl, err)) < 0)
		goto out;
	if (!is_managed(cl)) {
		r = wh_err_setx(err, EPERM, "network '%s' (%s) was not created by wharf", q->name,
				cl->path);
		goto out;
	}
	cache_list(c->d, &cv, &cn);
	for (size_t i = 0; i < cn && !user; i++) {
		char *ns = NULL, *id = NULL;

		if (!streq(cv[i].network, q->name))
			continue;
		user = key_split(cv[i].container_id, &ns, &id) ? xasprintf("%s/%s", ns, id)
							       : xstrdup(cv[i].container_id);
		free(ns);
		free(id);
	}
	net_cached_free(cv, cn);
	if (!user)
		user = container_using(c->d, q->name);
	if (user) {
		r = wh_err_setx(err, EBUSY, "network '%s' is in use by container %s", q->name,
				user);
		goto out;
	}
	if (unlink(cl->path) < 0) {
		r = wh_err_set(err, errno, "remove '%s'", cl->path);
		goto out;
	}
	ipam = xasprintf("%s/cni/networks/%s", c->d->cfg.root, q->name);
	(void)rm_rf(ipam);
	log_info("network %s removed", q->name);
out:
	pthread_mutex_unlock(&netsetup_conf_lock);
	net_conflist_free(cl);
	return r;
}

const struct svc_service svc_networks = {
	&wharf__services__networks__v1__networks__descriptor,
	(const struct svc_method[]){{"List", nw_list},
				    {"Get", nw_get},
				    {"Create", nw_create},
				    {"Delete", nw_delete},
				    {NULL, NULL}},
};

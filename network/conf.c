/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CNI network configuration lists: parsing (.conflist and single-plugin .conf), loading from the
 * configuration directory, and the generator of the default bridge network.
 */
#include <arpa/inet.h>
#include <errno.h>

#include <sys/stat.h>

#include "common/common.h"
#include "network/network.h"

void net_conflist_free(struct net_conflist *cl)
{
	if (!cl)
		return;
	free(cl->name);
	free(cl->cni_version);
	free(cl->path);
	free(cl->plugins);
	for (size_t i = 0; cl->types && i < cl->n_plugins; i++)
		free(cl->types[i]);
	free(cl->types);
	yajl_tree_free(cl->tree);
	free(cl);
}

void net_conflists_free(struct net_conflist **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		net_conflist_free(v[i]);
	free(v);
}

bool net_name_valid(const char *s)
{
	/* CNI: network names match ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ */
	if (!s || !*s || strlen(s) > 128)
		return false;
	for (const char *p = s; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9');
		if (!alnum && (p == s || !strchr("_.-", *p)))
			return false;
	}
	return true;
}

static int plugin_type(yajl_val p, const char *field, char **ret, struct wh_err **err)
{
	if (!YAJL_IS_OBJECT(p))
		return wh_err_setx(err, EINVAL, "%s: expected an object", field);
	const char *type;
	cleanup_free char *tf = xasprintf("%s.type", field);
	int r = json_get_string(p, "type", tf, &type, err);
	if (r < 0)
		return r;
	if (!*type || strchr(type, '/') || streq(type, "..") || streq(type, "."))
		return wh_err_setx(err, EINVAL, "%s: invalid plugin type '%s'", field, type);
	*ret = xstrdup(type);
	return 0;
}

int net_conflist_parse(const char *text, size_t len, bool single, const char *origin,
		       struct net_conflist **ret, struct wh_err **err)
{
	yajl_val tree = NULL;
	int r = json_parse(text, len, &tree, err);
	if (r < 0)
		return wh_err_wrap(err, r, "%s", origin);
	struct net_conflist *cl = xnew0(struct net_conflist, 1);
	cl->tree = tree;
	const char *name, *ver;
	if (!YAJL_IS_OBJECT(tree)) {
		r = wh_err_setx(err, EINVAL, "%s: expected an object", origin);
		goto fail;
	}
	r = json_get_string(tree, "name", "name", &name, err);
	if (r < 0)
		goto fail_wrap;
	if (!net_name_valid(name)) {
		r = wh_err_setx(err, EINVAL, "%s: invalid network name '%s'", origin, name);
		goto fail;
	}
	r = json_get_string(tree, "cniVersion", "cniVersion", &ver, err);
	if (r < 0)
		goto fail_wrap;
	cl->name = xstrdup(name);
	cl->cni_version = xstrdup(ver);
	r = json_get_bool_opt(tree, "disableCheck", "disableCheck", &cl->disable_check, err);
	if (r < 0)
		goto fail_wrap;
	if (single) {
		cl->plugins = xnew0(yajl_val, 1);
		cl->types = xnew0(char *, 1);
		cl->plugins[0] = tree;
		cl->n_plugins = 1;
		r = plugin_type(tree, "plugin", &cl->types[0], err);
		if (r < 0)
			goto fail_wrap;
	} else {
		yajl_val pl = json_get(tree, "plugins");
		if (!pl || !YAJL_IS_ARRAY(pl)) {
			r = wh_err_setx(err, EINVAL, "%s: plugins: expected an array", origin);
			goto fail;
		}
		size_t n = pl->u.array.len;
		if (n == 0) {
			r = wh_err_setx(err, EINVAL, "%s: plugins: empty", origin);
			goto fail;
		}
		cl->plugins = xnew0(yajl_val, n);
		cl->types = xnew0(char *, n + 1);
		for (size_t i = 0; i < n; i++) {
			char field[32];
			snprintf(field, sizeof(field), "plugins[%zu]", i);
			cl->plugins[i] = pl->u.array.values[i];
			r = plugin_type(cl->plugins[i], field, &cl->types[i], err);
			if (r < 0)
				goto fail_wrap;
			cl->n_plugins = i + 1;
		}
	}
	*ret = cl;
	return 0;
fail_wrap:
	r = wh_err_wrap(err, r, "%s", origin);
fail:
	net_conflist_free(cl);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* load_all; *skipped (may be NULL) gets why the first unreadable file was left out. */
static int load_all(const char *dir, struct net_conflist ***ret, size_t *ret_n, char **skipped,
		    struct wh_err **err)
{
	cleanup_strv char **names = xnew0(char *, 1);
	{
		cleanup_closedir DIR *d = opendir(dir);
		if (!d && errno != ENOENT)
			return wh_err_set(err, errno, "open '%s'", dir);
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (de->d_name[0] != '.' && (str_endswith(de->d_name, ".conflist") ||
						     str_endswith(de->d_name, ".conf")))
				strv_push(&names, de->d_name);
	}
	size_t n = strv_length(names);
	qsort(names, n, sizeof(char *), cmp_str);
	struct net_conflist **v = xnew0(struct net_conflist *, n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *path = path_join(dir, names[i]);
		cleanup_free char *text = NULL;
		size_t len;
		cleanup_err struct wh_err *e = NULL;
		int r = read_file(path, NET_CONF_MAX, &text, &len);
		if (r < 0)
			wh_err_set(&e, r, "read '%s'", path);
		else
			r = net_conflist_parse(text, len, !str_endswith(names[i], ".conflist"),
					       path, &v[k], &e);
		if (r < 0) {
			/* As libcni: one bad file (someone else's) does not take every network
			 * down; it is named in the log, and in the error of a lookup that fails. */
			log_warn("CNI config skipped: %s", wh_err_msg(e));
			if (skipped && !*skipped)
				*skipped = xstrdup(wh_err_msg(e));
			continue;
		}
		v[k++]->path = TAKE_PTR(path);
	}
	*ret = v;
	*ret_n = k;
	return 0;
}

int net_conflist_load_all(const char *dir, struct net_conflist ***ret, size_t *ret_n,
			  struct wh_err **err)
{
	return load_all(dir, ret, ret_n, NULL, err);
}

int net_conflist_load(const char *dir, const char *name, struct net_conflist **ret,
		      struct wh_err **err)
{
	struct net_conflist **v = NULL;
	cleanup_free char *skipped = NULL;
	size_t n = 0;
	int r = load_all(dir, &v, &n, &skipped, err);
	if (r < 0)
		return r;
	struct net_conflist *found = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!found && streq(v[i]->name, name)) {
			found = v[i];
			continue;
		}
		net_conflist_free(v[i]);
	}
	free(v);
	if (!found)
		return wh_err_setx(err, ENOENT, "network '%s' not found in '%s'%s%s", name, dir,
				   skipped ? "; skipped " : "", skipped ? skipped : "");
	*ret = found;
	return 0;
}

static int check_subnet(const char *subnet, struct in_addr *net, unsigned *prefix,
			struct wh_err **err)
{
	const char *slash = strchr(subnet, '/');
	int pfx;
	if (!slash || parse_int(slash + 1, &pfx) < 0 || pfx < 8 || pfx > 30)
		return wh_err_setx(err, EINVAL, "invalid subnet '%s': want a.b.c.d/8..30", subnet);
	cleanup_free char *a = xstrndup(subnet, (size_t)(slash - subnet));
	if (inet_pton(AF_INET, a, net) != 1)
		return wh_err_setx(err, EINVAL, "invalid subnet '%s': bad address", subnet);
	uint32_t mask = pfx == 0 ? 0 : ~0u << (32 - pfx);
	if (ntohl(net->s_addr) & ~mask)
		return wh_err_setx(err, EINVAL, "invalid subnet '%s': host bits set", subnet);
	*prefix = (unsigned)pfx;
	return 0;
}

int net_bridge_conflist(const struct net_bridge_opts *o, char **ret, struct wh_err **err)
{
	const char *name = o->name ? o->name : NET_DEFAULT_NAME;
	const char *bridge = o->bridge ? o->bridge : NET_DEFAULT_NAME;
	const char *subnet = o->subnet ? o->subnet : NET_DEFAULT_SUBNET;
	if (!net_name_valid(name))
		return wh_err_setx(err, EINVAL, "invalid network name '%s'", name);
	if (!*bridge || strlen(bridge) > 15 || strchr(bridge, '/') || strchr(bridge, ' '))
		return wh_err_setx(err, EINVAL, "invalid bridge name '%s'", bridge);
	struct in_addr net;
	unsigned pfx;
	int r = check_subnet(subnet, &net, &pfx, err);
	if (r < 0)
		return r;
	struct in_addr gw = {.s_addr = htonl(ntohl(net.s_addr) + 1)};
	char gwbuf[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &gw, gwbuf, sizeof(gwbuf));

	yajl_gen g = json_gen_new(true);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "cniVersion", "1.0.0");
	json_gen_kv_str(g, "name", name);
	json_gen_str(g, "plugins");
	yajl_gen_array_open(g);

	yajl_gen_map_open(g);
	json_gen_kv_str(g, "type", "bridge");
	json_gen_kv_str(g, "bridge", bridge);
	json_gen_kv_bool(g, "isGateway", true);
	json_gen_kv_bool(g, "ipMasq", !o->no_masquerade);
	json_gen_kv_bool(g, "hairpinMode", true);
	json_gen_str(g, "ipam");
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "type", "host-local");
	if (o->ipam_data_dir)
		json_gen_kv_str(g, "dataDir", o->ipam_data_dir);
	json_gen_str(g, "ranges");
	yajl_gen_array_open(g);
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "subnet", subnet);
	json_gen_kv_str(g, "gateway", gwbuf);
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
	yajl_gen_array_close(g);
	json_gen_str(g, "routes");
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "dst", "0.0.0.0/0");
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g); /* ipam */
	yajl_gen_map_close(g); /* bridge */

	if (!o->no_portmap) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "type", "portmap");
		json_gen_str(g, "capabilities");
		yajl_gen_map_open(g);
		json_gen_kv_bool(g, "portMappings", true);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
	}
	if (!o->no_firewall) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "type", "firewall");
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	*ret = json_gen_finish(g, NULL);
	return 0;
}

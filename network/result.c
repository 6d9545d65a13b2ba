/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CNI 1.0 results: parsing a plugin's stdout into interfaces, IPs, routes and DNS, with every
 * malformed field named.
 */
#include <errno.h>

#include "common/common.h"
#include "network/network.h"

void net_result_free(struct net_result *r)
{
	if (!r)
		return;
	free(r->cni_version);
	for (size_t i = 0; i < r->n_interfaces; i++) {
		free(r->interfaces[i].name);
		free(r->interfaces[i].mac);
		free(r->interfaces[i].sandbox);
	}
	free(r->interfaces);
	for (size_t i = 0; i < r->n_ips; i++) {
		free(r->ips[i].address);
		free(r->ips[i].gateway);
	}
	free(r->ips);
	for (size_t i = 0; i < r->n_routes; i++) {
		free(r->routes[i].dst);
		free(r->routes[i].gw);
	}
	free(r->routes);
	strv_free(r->dns_nameservers);
	strv_free(r->dns_search);
	strv_free(r->dns_options);
	free(r->dns_domain);
	free(r->json);
	free(r);
}

static char *dup_opt(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static int parse_cidr_field(const char *s, const char *field, struct wh_err **err)
{
	const char *slash = strchr(s, '/');
	int pfx;
	if (!slash || slash == s || parse_int(slash + 1, &pfx) < 0 || pfx < 0 || pfx > 128)
		return wh_err_setx(err, EINVAL, "%s: '%s' is not an address/prefix", field, s);
	return 0;
}

static int parse_interfaces(yajl_val a, struct net_result *res, struct wh_err **err)
{
	int r = json_expect_array(a, "interfaces", err);
	if (r < 0 || !a)
		return r;
	res->interfaces = xnew0(struct net_result_if, a->u.array.len + 1);
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val o = a->u.array.values[i];
		char field[48];
		snprintf(field, sizeof(field), "interfaces[%zu]", i);
		if (!YAJL_IS_OBJECT(o))
			return wh_err_setx(err, EINVAL, "%s: expected an object", field);
		const char *name, *mac = NULL, *sandbox = NULL;
		char f2[64];
		snprintf(f2, sizeof(f2), "%s.name", field);
		if ((r = json_get_string(o, "name", f2, &name, err)) < 0)
			return r;
		snprintf(f2, sizeof(f2), "%s.mac", field);
		if ((r = json_get_string_opt(o, "mac", f2, &mac, err)) < 0)
			return r;
		snprintf(f2, sizeof(f2), "%s.sandbox", field);
		if ((r = json_get_string_opt(o, "sandbox", f2, &sandbox, err)) < 0)
			return r;
		struct net_result_if *it = &res->interfaces[res->n_interfaces++];
		it->name = xstrdup(name);
		it->mac = dup_opt(mac);
		it->sandbox = dup_opt(sandbox);
	}
	return 0;
}

static int parse_ips(yajl_val a, struct net_result *res, struct wh_err **err)
{
	int r = json_expect_array(a, "ips", err);
	if (r < 0 || !a)
		return r;
	res->ips = xnew0(struct net_result_ip, a->u.array.len + 1);
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val o = a->u.array.values[i];
		char field[48], f2[64];
		snprintf(field, sizeof(field), "ips[%zu]", i);
		if (!YAJL_IS_OBJECT(o))
			return wh_err_setx(err, EINVAL, "%s: expected an object", field);
		const char *addr, *gw = NULL;
		int64_t idx = -1;
		snprintf(f2, sizeof(f2), "%s.address", field);
		if ((r = json_get_string(o, "address", f2, &addr, err)) < 0)
			return r;
		if ((r = parse_cidr_field(addr, f2, err)) < 0)
			return r;
		snprintf(f2, sizeof(f2), "%s.gateway", field);
		if ((r = json_get_string_opt(o, "gateway", f2, &gw, err)) < 0)
			return r;
		snprintf(f2, sizeof(f2), "%s.interface", field);
		if ((r = json_get_int64_opt(o, "interface", f2, &idx, err)) < 0)
			return r;
		if (idx != -1 && (idx < 0 || (uint64_t)idx >= res->n_interfaces))
			return wh_err_setx(err, EINVAL, "%s: index %lld out of range", f2,
					   (long long)idx);
		struct net_result_ip *ip = &res->ips[res->n_ips++];
		ip->address = xstrdup(addr);
		ip->gateway = dup_opt(gw);
		ip->interface = (int)idx;
	}
	return 0;
}

static int parse_routes(yajl_val a, struct net_result *res, struct wh_err **err)
{
	int r = json_expect_array(a, "routes", err);
	if (r < 0 || !a)
		return r;
	res->routes = xnew0(struct net_result_route, a->u.array.len + 1);
	for (size_t i = 0; i < a->u.array.len; i++) {
		yajl_val o = a->u.array.values[i];
		char field[48], f2[64];
		snprintf(field, sizeof(field), "routes[%zu]", i);
		if (!YAJL_IS_OBJECT(o))
			return wh_err_setx(err, EINVAL, "%s: expected an object", field);
		const char *dst, *gw = NULL;
		snprintf(f2, sizeof(f2), "%s.dst", field);
		if ((r = json_get_string(o, "dst", f2, &dst, err)) < 0)
			return r;
		if ((r = parse_cidr_field(dst, f2, err)) < 0)
			return r;
		snprintf(f2, sizeof(f2), "%s.gw", field);
		if ((r = json_get_string_opt(o, "gw", f2, &gw, err)) < 0)
			return r;
		struct net_result_route *rt = &res->routes[res->n_routes++];
		rt->dst = xstrdup(dst);
		rt->gw = dup_opt(gw);
	}
	return 0;
}

static int parse_dns(yajl_val o, struct net_result *res, struct wh_err **err)
{
	int r = json_expect_object(o, "dns", err);
	if (r < 0 || !o)
		return r;
	const char *domain = NULL;
	if ((r = json_get_strv_opt(o, "nameservers", "dns.nameservers", &res->dns_nameservers,
				   err)) < 0)
		return r;
	if ((r = json_get_strv_opt(o, "search", "dns.search", &res->dns_search, err)) < 0)
		return r;
	if ((r = json_get_strv_opt(o, "options", "dns.options", &res->dns_options, err)) < 0)
		return r;
	if ((r = json_get_string_opt(o, "domain", "dns.domain", &domain, err)) < 0)
		return r;
	res->dns_domain = dup_opt(domain);
	return 0;
}

int net_result_parse(const char *text, size_t len, struct net_result **ret, struct wh_err **err)
{
	yajl_val tree = NULL;
	int r = json_parse(text, len, &tree, err);
	if (r < 0)
		return wh_err_wrap(err, r, "result");
	struct net_result *res = xnew0(struct net_result, 1);
	const char *ver;
	if (!YAJL_IS_OBJECT(tree)) {
		r = wh_err_setx(err, EINVAL, "expected an object");
		goto out;
	}
	if ((r = json_get_string(tree, "cniVersion", "cniVersion", &ver, err)) < 0)
		goto out;
	res->cni_version = xstrdup(ver);
	if ((r = parse_interfaces(json_get(tree, "interfaces"), res, err)) < 0)
		goto out;
	if ((r = parse_ips(json_get(tree, "ips"), res, err)) < 0)
		goto out;
	if ((r = parse_routes(json_get(tree, "routes"), res, err)) < 0)
		goto out;
	if ((r = parse_dns(json_get(tree, "dns"), res, err)) < 0)
		goto out;
	res->json = xstrndup(text, len);
	*ret = TAKE_PTR(res);
	r = 0;
out:
	yajl_tree_free(tree);
	if (r < 0) {
		net_result_free(res);
		return wh_err_wrap(err, r, "result");
	}
	return 0;
}

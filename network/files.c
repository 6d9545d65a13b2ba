/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content of a container's /etc/resolv.conf, /etc/hosts and /etc/hostname, from the CNI
 * result and the user's --dns, --add-host and --hostname.
 */
#include <arpa/inet.h>
#include <errno.h>

#include "common/common.h"
#include "network/network.h"

static bool ip_ok(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool hostname_ok(const char *h)
{
	size_t n = strlen(h), label = 0;
	if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-' || h[n - 1] == '.')
		return false;
	for (const char *p = h; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9');
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!alnum && *p != '-' && *p != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static bool is_loopback_ns(const char *s)
{
	return str_startswith(s, "127.") || streq(s, "::1");
}

int net_resolv_conf(const struct net_files_opts *o, const struct net_result *r, char **ret,
		    struct wh_err **err)
{
	cleanup_strv char **ns = NULL, **search = NULL, **opts = NULL;
	for (const char *const *s = o->dns; s && *s; s++) {
		if (!ip_ok(*s))
			return wh_err_setx(err, EINVAL, "--dns: '%s' is not an IP address", *s);
		strv_push(&ns, *s);
	}
	if (!ns && r)
		strv_foreach(s, r->dns_nameservers)
			if (ip_ok(*s))
				strv_push(&ns, *s);
	if (o->dns_search)
		search = strv_copy((char *const *)o->dns_search);
	else if (r && r->dns_search)
		search = strv_copy(r->dns_search);
	if (o->dns_options)
		opts = strv_copy((char *const *)o->dns_options);
	else if (r && r->dns_options)
		opts = strv_copy(r->dns_options);
	/* Fall back to the host's servers; loopback ones do not work from another namespace. */
	const char *line = o->host_resolv;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		cleanup_free char *l = xstrndup(line, nl ? (size_t)(nl - line) : strlen(line));
		line = nl ? nl + 1 : NULL;
		char key[16], val[256];
		if (sscanf(l, "%15s %255s", key, val) != 2)
			continue;
		if (streq(key, "nameserver") && !o->dns && !(r && r->dns_nameservers) &&
		    ip_ok(val) && !is_loopback_ns(val))
			strv_push(&ns, val);
		else if (streq(key, "search") && !search)
			search = strv_copy((char *[]){val, NULL});
	}
	struct strbuf sb = STRBUF_INIT;
	strv_foreach(s, ns)
		strbuf_addf(&sb, "nameserver %s\n", *s);
	if (search && *search) {
		strbuf_adds(&sb, "search");
		strv_foreach(s, search)
			strbuf_addf(&sb, " %s", *s);
		strbuf_addc(&sb, '\n');
	}
	if (opts && *opts) {
		strbuf_adds(&sb, "options");
		strv_foreach(s, opts)
			strbuf_addf(&sb, " %s", *s);
		strbuf_addc(&sb, '\n');
	}
	*ret = strbuf_detach(&sb, NULL);
	return 0;
}

static char *ip_of(const char *cidr)
{
	const char *slash = strchr(cidr, '/');
	return slash ? xstrndup(cidr, (size_t)(slash - cidr)) : xstrdup(cidr);
}

int net_hosts(const struct net_files_opts *o, const struct net_result *r, char **ret,
	      struct wh_err **err)
{
	if (o->hostname && !hostname_ok(o->hostname))
		return wh_err_setx(err, EINVAL, "invalid hostname '%s'", o->hostname);
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "127.0.0.1\tlocalhost\n"
			 "::1\tlocalhost ip6-localhost ip6-loopback\n");
	if (o->hostname) {
		bool any = false;
		for (size_t i = 0; r && i < r->n_ips; i++) {
			cleanup_free char *ip = ip_of(r->ips[i].address);
			strbuf_addf(&sb, "%s\t%s\n", ip, o->hostname);
			any = true;
		}
		if (!any)
			strbuf_addf(&sb, "127.0.1.1\t%s\n", o->hostname);
	}
	for (const char *const *s = o->add_hosts; s && *s; s++) {
		const char *c = strchr(*s, ':');
		if (!c || c == *s || !ip_ok(c + 1)) {
			strbuf_release(&sb);
			return wh_err_setx(err, EINVAL, "--add-host: '%s': want name:ip", *s);
		}
		cleanup_free char *name = xstrndup(*s, (size_t)(c - *s));
		if (!hostname_ok(name)) {
			strbuf_release(&sb);
			return wh_err_setx(err, EINVAL, "--add-host: invalid host name '%s'", name);
		}
		strbuf_addf(&sb, "%s\t%s\n", c + 1, name);
	}
	*ret = strbuf_detach(&sb, NULL);
	return 0;
}

int net_hostname(const struct net_files_opts *o, char **ret, struct wh_err **err)
{
	if (!o->hostname || !hostname_ok(o->hostname))
		return wh_err_setx(err, EINVAL, "invalid hostname '%s'",
				   o->hostname ? o->hostname : "");
	*ret = xasprintf("%s\n", o->hostname);
	return 0;
}

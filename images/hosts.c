/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containerd's hosts.toml (config_path/<host>/hosts.toml) into a struct img_host_config: the
 * server URL and its TLS settings, and [host."<url>"] mirrors with capabilities, ca,
 * skip_verify and override_path, tried in file order. Unsupported keys (header, client
 * certificates) are refused by name rather than silently ignored.
 */
#include <errno.h>

#include "common/toml.h"
#include "images/internal.h"

#define HOSTS_MAX (1024 * 1024)

static int parse_caps(const struct toml_value *t, unsigned *ret, struct wh_err **err)
{
	cleanup_strv char **v = NULL;
	int r = toml_get_strv(t, "capabilities", &v, err);
	if (r <= 0)
		return r;
	unsigned caps = 0;
	strv_foreach(s, v) {
		if (streq(*s, "pull"))
			caps |= IMG_CAP_PULL;
		else if (streq(*s, "resolve"))
			caps |= IMG_CAP_RESOLVE;
		else if (streq(*s, "push"))
			caps |= IMG_CAP_PUSH;
		else
			return toml_value_error(toml_table_get(t, "capabilities"), err, EINVAL,
						"unknown capability '%s' (pull, resolve, push)",
						*s);
	}
	if (!caps)
		return toml_value_error(toml_table_get(t, "capabilities"), err, EINVAL,
					"no capabilities");
	*ret = caps;
	return 0;
}

/* ca = "file" or ["file"]: one CA bundle. */
static int parse_ca(const struct toml_value *t, char **ret, struct wh_err **err)
{
	const struct toml_value *v = toml_table_get(t, "ca");
	if (!v)
		return 0;
	if (toml_type(v) == TOML_ARRAY && toml_array_len(v) == 1)
		v = toml_array_at(v, 0);
	if (toml_type(v) != TOML_STRING)
		return toml_value_error(v, err, EINVAL,
					"expected a file name or an array of one file name");
	free(*ret);
	*ret = xstrdup(toml_string(v));
	return 0;
}

static int check_keys(const struct toml_value *t, const char *const *allowed, struct wh_err **err)
{
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const char *k = toml_table_key(t, i);
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = streq(*a, k);
		if (!ok)
			return toml_value_error(toml_table_value(t, i), err, ENOTSUP,
						"unsupported key '%s'", k);
	}
	return 0;
}

static int parse_mirror(const char *url, const struct toml_value *t, struct img_endpoint *m,
			struct wh_err **err)
{
	static const char *const keys[] = {"capabilities", "ca", "skip_verify", "override_path",
					   NULL};
	if (toml_type(t) != TOML_TABLE)
		return toml_value_error(t, err, EINVAL, "expected a table");
	if (!str_startswith(url, "http://") && !str_startswith(url, "https://"))
		return toml_value_error(t, err, EINVAL, "host '%s' is not an http(s) URL", url);
	/* As containerd: a host entry without capabilities may pull, resolve and push. */
	m->caps = IMG_CAP_PULL | IMG_CAP_RESOLVE | IMG_CAP_PUSH;
	int r = check_keys(t, keys, err);
	if (r >= 0)
		r = parse_caps(t, &m->caps, err);
	if (r >= 0)
		r = parse_ca(t, &m->ca_file, err);
	if (r >= 0)
		r = toml_get_bool(t, "skip_verify", &m->skip_verify, err);
	if (r >= 0)
		r = toml_get_bool(t, "override_path", &m->override_path, err);
	if (r < 0)
		return r;
	m->url = xstrdup(url);
	return 0;
}

static int parse_doc(const struct toml_value *root, struct img_host_config *h, struct wh_err **err)
{
	static const char *const keys[] = {"server",	  "capabilities", "ca",
					   "skip_verify", "host",	  NULL};
	const char *server = NULL;
	const struct toml_value *hosts = NULL;
	int r = check_keys(root, keys, err);
	if (r >= 0)
		r = toml_get_string(root, "server", &server, err);
	if (r >= 0)
		r = parse_ca(root, &h->ca_file, err);
	if (r >= 0)
		r = toml_get_bool(root, "skip_verify", &h->skip_verify, err);
	if (r >= 0)
		r = toml_get_table(root, "host", &hosts, err);
	if (r < 0)
		return r;
	if (server) {
		if (!str_startswith(server, "http://") && !str_startswith(server, "https://"))
			return toml_value_error(toml_table_get(root, "server"), err, EINVAL,
						"server '%s' is not an http(s) URL", server);
		h->server = xstrdup(server);
		h->plain_http = str_startswith(server, "http://");
	}
	size_t n = hosts ? toml_table_len(hosts) : 0;
	h->mirrors = xnew0(struct img_endpoint, n ? n : 1);
	for (size_t i = 0; i < n; i++) {
		h->n_mirrors = i + 1; /* so that a failure releases what was parsed */
		r = parse_mirror(toml_table_key(hosts, i), toml_table_value(hosts, i),
				 &h->mirrors[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

int img_hosts_parse(const char *name, const char *text, size_t len, const char *source,
		    struct img_host_config *ret, struct wh_err **err)
{
	struct toml_doc *doc = NULL;
	struct img_host_config h = {.name = xstrdup(name)};
	int r = toml_parse(text, len, source, &doc, err);
	if (r >= 0)
		r = parse_doc(toml_doc_root(doc), &h, err);
	toml_doc_free(doc);
	if (r < 0) {
		img_host_config_release(&h);
		return r;
	}
	*ret = h;
	return 0;
}

int img_hosts_load(const char *dir, const char *name, struct img_host_config *ret,
		   struct wh_err **err)
{
	/* containerd names the directory after host:port; "_default" applies to the rest. */
	const char *try[] = {name, "_default"};
	for (size_t i = 0; i < ARRAY_SIZE(try); i++) {
		cleanup_free char *path = xasprintf("%s/%s/hosts.toml", dir, try[i]);
		cleanup_free char *text = NULL;
		size_t len = 0;
		int r = read_file(path, HOSTS_MAX, &text, &len);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return wh_err_set(err, r, "read '%s'", path);
		r = img_hosts_parse(name, text, len, path, ret, err);
		return r < 0 ? r : 1;
	}
	return 0;
}

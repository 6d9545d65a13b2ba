/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharfd's config.toml: containerd-like sections over built-in defaults. Unknown keys and wrong
 * types are errors naming file:line:column, so a typo never passes silently.
 *
 *   root = "/var/lib/wharf"            state = "/run/wharf"        version = 2
 *   [ttrpc]      address = "/run/wharf/wharfd.sock"
 *   [debug]      level = "info"
 *   [snapshotter] default = "overlayfs"          (or "native")
 *   [runtime]    default = "io.containerd.wharf.v2"   shim_dir = "/usr/libexec/wharf"
 *   [runtimes."io.containerd.runc.v2"]  shim = "/path"  binary_name = "crun"  root = "..."
 *                                        systemd_cgroup = false
 *   [registry]   config_path = "/etc/wharf/certs.d"   plain_http = ["127.0.0.1:5000"]
 *   [cni]        bin_dirs = ["/usr/lib/cni", "/opt/cni/bin"]   conf_dir = "/etc/cni/net.d"
 */
#include <errno.h>
#include <string.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/toml.h"
#include "common/util.h"
#include "supervisor/supervisor.h"

#define CONFIG_MAX_SIZE (1u << 20)

static void set_str(char **p, const char *v)
{
	free(*p);
	*p = v ? xstrdup(v) : NULL;
}

void config_defaults(struct config *c)
{
	*c = (struct config){0};
	c->root = xstrdup(DEFAULT_ROOT);
	c->state = xstrdup(DEFAULT_STATE);
	c->log_level = xstrdup("info");
	c->snapshotter = xstrdup(DEFAULT_SNAPSHOTTER);
	c->runtime = xstrdup(DEFAULT_RUNTIME);
	strv_push(&c->cni_bin_dirs, "/usr/lib/cni");
	strv_push(&c->cni_bin_dirs, "/opt/cni/bin");
	c->cni_conf_dir = xstrdup("/etc/cni/net.d");
}

void config_release(struct config *c)
{
	free(c->path);
	free(c->root);
	free(c->state);
	free(c->address);
	free(c->log_level);
	free(c->snapshotter);
	free(c->runtime);
	free(c->shim_dir);
	for (size_t i = 0; i < c->n_runtimes; i++) {
		free(c->runtimes[i].name);
		free(c->runtimes[i].shim);
		free(c->runtimes[i].binary_name);
		free(c->runtimes[i].root);
	}
	free(c->runtimes);
	free(c->registry_config_path);
	strv_free(c->plain_http);
	strv_free(c->cni_bin_dirs);
	free(c->cni_conf_dir);
	*c = (struct config){0};
}

const struct runtime_config *config_runtime(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_runtimes; i++)
		if (streq(c->runtimes[i].name, name))
			return &c->runtimes[i];
	return NULL;
}

/* Refuses keys of table t that are not in known. */
static int check_keys(const struct toml_value *t, const char *const *known, struct wh_err **err)
{
	if (!t)
		return 0;
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const char *k = toml_table_key(t, i);
		bool ok = false;

		for (size_t j = 0; known[j]; j++)
			if (streq(known[j], k))
				ok = true;
		if (!ok)
			return toml_value_error(toml_table_value(t, i), err, EINVAL, "unknown key");
	}
	return 0;
}

/* A string at path below t, copied over *p when present. */
static int get_str(const struct toml_value *t, const char *path, char **p, bool nonempty,
		   struct wh_err **err)
{
	const char *s = NULL;
	int r = toml_get_string(t, path, &s, err);

	if (r <= 0)
		return r;
	if (nonempty && !*s)
		return toml_value_error(toml_get(t, path), err, EINVAL, "must not be empty");
	set_str(p, s);
	return 0;
}

static int get_abs_path(const struct toml_value *t, const char *path, char **p, struct wh_err **err)
{
	int r = get_str(t, path, p, true, err);

	if (r < 0)
		return r;
	if (toml_get(t, path) && (*p)[0] != '/')
		return toml_value_error(toml_get(t, path), err, EINVAL, "must be an absolute path");
	return 0;
}

int config_parse(struct config *c, const char *text, size_t len, const char *name,
		 struct wh_err **err)
{
	static const char *const top[] = {"version",  "root",	  "state",	 "ttrpc",
					  "grpc",     "debug",	  "snapshotter", "runtime",
					  "runtimes", "registry", "cni",	 NULL};
	static const char *const k_addr[] = {"address", "uid", "gid", NULL};
	static const char *const k_debug[] = {"level", NULL};
	static const char *const k_snap[] = {"default", NULL};
	static const char *const k_rt[] = {"default", "shim_dir", NULL};
	static const char *const k_rts[] = {"shim", "binary_name", "root", "systemd_cgroup", NULL};
	static const char *const k_reg[] = {"config_path", "plain_http", NULL};
	static const char *const k_cni[] = {"bin_dirs", "conf_dir", NULL};
	struct toml_doc *doc = NULL;
	const struct toml_value *root, *t = NULL;
	int64_t version = 2;
	int r;

	r = toml_parse(text, len, name, &doc, err);
	if (r < 0)
		return r;
	root = toml_doc_root(doc);
	r = check_keys(root, top, err);
	if (r < 0)
		goto out;
	r = toml_get_int(root, "version", &version, err);
	if (r < 0)
		goto out;
	if (r > 0 && version != 2) {
		r = toml_value_error(toml_get(root, "version"), err, EINVAL,
				     "unsupported config version %lld (want 2)",
				     (long long)version);
		goto out;
	}
	if ((r = get_abs_path(root, "root", &c->root, err)) < 0 ||
	    (r = get_abs_path(root, "state", &c->state, err)) < 0)
		goto out;

	if ((r = toml_get_table(root, "ttrpc", &t, err)) < 0 ||
	    (r = check_keys(t, k_addr, err)) < 0 ||
	    (r = get_abs_path(t, "address", &c->address, err)) < 0)
		goto out;
	t = NULL;
	/* [grpc] is accepted for containerd configs; wharfd serves ttrpc there until gRPC exists.
	 */
	if ((r = toml_get_table(root, "grpc", &t, err)) < 0 ||
	    (r = check_keys(t, k_addr, err)) < 0 ||
	    (r = get_abs_path(t, "address", &c->address, err)) < 0)
		goto out;
	t = NULL;
	if ((r = toml_get_table(root, "debug", &t, err)) < 0 ||
	    (r = check_keys(t, k_debug, err)) < 0 ||
	    (r = get_str(t, "level", &c->log_level, true, err)) < 0)
		goto out;
	if (t && toml_get(t, "level") && log_parse_level(c->log_level) < 0) {
		r = toml_value_error(toml_get(t, "level"), err, EINVAL,
				     "unknown level '%s' (error, warn, info, debug)", c->log_level);
		goto out;
	}
	t = NULL;
	if ((r = toml_get_table(root, "snapshotter", &t, err)) < 0 ||
	    (r = check_keys(t, k_snap, err)) < 0 ||
	    (r = get_str(t, "default", &c->snapshotter, true, err)) < 0)
		goto out;
	if (t && toml_get(t, "default") && !streq(c->snapshotter, "overlayfs") &&
	    !streq(c->snapshotter, "native")) {
		r = toml_value_error(toml_get(t, "default"), err, EINVAL,
				     "unknown snapshotter '%s' (overlayfs, native)",
				     c->snapshotter);
		goto out;
	}
	t = NULL;
	if ((r = toml_get_table(root, "runtime", &t, err)) < 0 ||
	    (r = check_keys(t, k_rt, err)) < 0 ||
	    (r = get_str(t, "default", &c->runtime, true, err)) < 0 ||
	    (r = get_abs_path(t, "shim_dir", &c->shim_dir, err)) < 0)
		goto out;
	t = NULL;
	if ((r = toml_get_table(root, "runtimes", &t, err)) < 0)
		goto out;
	for (size_t i = 0; t && i < toml_table_len(t); i++) {
		const struct toml_value *rt = toml_table_value(t, i);
		struct runtime_config *rc;

		if (toml_type(rt) != TOML_TABLE) {
			r = toml_value_error(rt, err, EINVAL, "expected a table, got %s",
					     toml_type_name(toml_type(rt)));
			goto out;
		}
		if ((r = check_keys(rt, k_rts, err)) < 0)
			goto out;
		c->runtimes = xrealloc(c->runtimes, (c->n_runtimes + 1) * sizeof(*c->runtimes));
		rc = &c->runtimes[c->n_runtimes++];
		*rc = (struct runtime_config){.name = xstrdup(toml_table_key(t, i))};
		if ((r = get_abs_path(rt, "shim", &rc->shim, err)) < 0 ||
		    (r = get_str(rt, "binary_name", &rc->binary_name, true, err)) < 0 ||
		    (r = get_abs_path(rt, "root", &rc->root, err)) < 0 ||
		    (r = toml_get_bool(rt, "systemd_cgroup", &rc->systemd_cgroup, err)) < 0)
			goto out;
	}
	t = NULL;
	if ((r = toml_get_table(root, "registry", &t, err)) < 0 ||
	    (r = check_keys(t, k_reg, err)) < 0 ||
	    (r = get_abs_path(t, "config_path", &c->registry_config_path, err)) < 0 ||
	    (r = toml_get_strv(t, "plain_http", &c->plain_http, err)) < 0)
		goto out;
	t = NULL;
	if ((r = toml_get_table(root, "cni", &t, err)) < 0 || (r = check_keys(t, k_cni, err)) < 0 ||
	    (r = toml_get_strv(t, "bin_dirs", &c->cni_bin_dirs, err)) < 0 ||
	    (r = get_abs_path(t, "conf_dir", &c->cni_conf_dir, err)) < 0)
		goto out;
	r = 0;
out:
	toml_doc_free(doc);
	return r < 0 ? r : 0;
}

int config_load(struct config *c, const char *path, bool required, struct wh_err **err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	int r;

	r = read_file(path, CONFIG_MAX_SIZE, &text, &len);
	if (r == -ENOENT && !required)
		return 0;
	if (r < 0)
		return wh_err_set(err, r, "cannot read config '%s'", path);
	r = config_parse(c, text, len, path, err);
	if (r < 0)
		return r;
	set_str(&c->path, path);
	return 0;
}

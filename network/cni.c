/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Invoking CNI 1.0 plugins: the per-plugin network configuration on stdin, CNI_* environment,
 * a timeout per invocation, the plugin's error JSON, ADD/CHECK/DEL of a whole conflist and the
 * result cache that gives DEL and CHECK their prevResult.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/common.h"
#include "network/network.h"

extern char **environ;

#define PLUGIN_OUT_MAX (4u << 20)

static const char *plugin_path(const struct net_cni *cni)
{
	return cni->plugin_path ? cni->plugin_path : NET_DEFAULT_PLUGIN_PATH;
}

static int find_plugin(const struct net_cni *cni, const char *type, char **ret, struct wh_err **err)
{
	const char *p = plugin_path(cni);
	while (*p) {
		const char *c = strchr(p, ':');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		if (n) {
			cleanup_free char *dir = xstrndup(p, n);
			cleanup_free char *full = path_join(dir, type);
			if (access(full, X_OK) == 0) {
				*ret = TAKE_PTR(full);
				return 0;
			}
		}
		p += n + (c ? 1 : 0);
	}
	return wh_err_setx(err, ENOENT, "plugin '%s' not found in '%s'", type, plugin_path(cni));
}

/* Turns a failed plugin's stdout (error JSON) or stderr into a message. */
static int plugin_error(struct wh_err **err, const char *out, size_t out_len, const char *errtxt,
			int status)
{
	yajl_val t = NULL;
	int r = -EIO;
	if (out_len && json_parse(out, out_len, &t, NULL) == 0 && YAJL_IS_OBJECT(t)) {
		const char *msg = NULL, *details = NULL;
		uint64_t code = 0;
		(void)json_get_string_opt(t, "msg", "msg", &msg, NULL);
		(void)json_get_string_opt(t, "details", "details", &details, NULL);
		(void)json_get_uint64_opt(t, "code", "code", &code, NULL);
		if (msg || code) {
			r = wh_err_setx(err, EIO, "error code %llu: %s%s%s",
					(unsigned long long)code, msg ? msg : "",
					details && *details ? ": " : "", details ? details : "");
			yajl_tree_free(t);
			return r;
		}
	}
	yajl_tree_free(t);
	cleanup_free char *e = xstrdup(errtxt ? errtxt : "");
	size_t n = strlen(e);
	while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
		e[--n] = '\0';
	if (WIFSIGNALED(status))
		return wh_err_setx(err, EIO, "killed by signal %d%s%s", WTERMSIG(status),
				   *e ? ": " : "", e);
	return wh_err_setx(err, EIO, "exit status %d%s%s", WEXITSTATUS(status), *e ? ": " : "", e);
}

struct run {
	const char *cmd;
	const char *input;
	char *out;
};

static int run_plugin(const struct net_cni *cni, const char *type, const struct net_attachment *a,
		      struct run *run, struct wh_err **err)
{
	cleanup_free char *bin = NULL;
	int r = find_plugin(cni, type, &bin, err);
	if (r < 0)
		return r;
	cleanup_strv char **env = NULL;
	strv_consume(&env, xasprintf("CNI_COMMAND=%s", run->cmd));
	strv_consume(&env, xasprintf("CNI_CONTAINERID=%s", a->container_id));
	strv_consume(&env, xasprintf("CNI_NETNS=%s", a->netns ? a->netns : ""));
	strv_consume(&env, xasprintf("CNI_IFNAME=%s", a->ifname));
	strv_consume(&env, xasprintf("CNI_ARGS=%s", a->args ? a->args : ""));
	strv_consume(&env, xasprintf("CNI_PATH=%s", plugin_path(cni)));
	const char *path = getenv("PATH");
	strv_consume(&env, xasprintf("PATH=%s", path ? path
						     : "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
						       "/usr/bin:/sbin:/bin"));
	char *argv[] = {(char *)type, NULL};

	int in[2] = {-EBADF, -EBADF}, out[2] = {-EBADF, -EBADF}, errp[2] = {-EBADF, -EBADF};
	cleanup_close int pidfd = -EBADF;
	/* stdin is a socket so that writing to a plugin that died gives EPIPE, not SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
	    pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		r = wh_err_set(err, errno, "plugin '%s': pipes", type);
		goto close_all;
	}
	pid_t pid = fork();
	if (pid < 0) {
		r = wh_err_set(err, errno, "plugin '%s': fork", type);
		goto close_all;
	}
	if (pid == 0) {
		if (dup2(in[1], 0) < 0 || dup2(out[1], 1) < 0 || dup2(errp[1], 2) < 0)
			_exit(126);
		shutdown(0, SHUT_WR);
		execve(bin, argv, env);
		_exit(127);
	}
	in[1] = wh_close(in[1]);
	out[1] = wh_close(out[1]);
	errp[1] = wh_close(errp[1]);
	(void)fd_set_nonblock(in[0], true);
	(void)fd_set_nonblock(out[0], true);
	(void)fd_set_nonblock(errp[0], true);

	uint64_t timeout_ms = cni->timeout_ms ? cni->timeout_ms : NET_DEFAULT_TIMEOUT_MS;
	uint64_t deadline = now_mono_ns() + timeout_ms * 1000000ull;
	struct strbuf ob = STRBUF_INIT, eb = STRBUF_INIT;
	size_t in_off = 0, in_len = strlen(run->input);
	bool timed_out = false, too_big = false, exited = false;
	/* Once the plugin has exited, what it wrote is drained and a descendant that kept its
	 * stdout open is not waited for. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	while (out[0] >= 0 || errp[0] >= 0) {
		struct pollfd pf[4] = {{.fd = in[0], .events = POLLOUT},
				       {.fd = out[0], .events = POLLIN},
				       {.fd = errp[0], .events = POLLIN},
				       {.fd = exited ? -1 : pidfd, .events = POLLIN}};
		uint64_t now = now_mono_ns();
		if (now >= deadline) {
			timed_out = true;
			break;
		}
		int pr = poll(pf, 4, (int)MIN((deadline - now) / 1000000 + 1, 1000000));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			r = wh_err_set(err, errno, "plugin '%s': poll", type);
			kill(pid, SIGKILL);
			break;
		}
		if (pf[3].revents)
			exited = true;
		if (in[0] >= 0 && pf[0].revents) {
			ssize_t n = send(in[0], run->input + in_off, in_len - in_off, MSG_NOSIGNAL);
			if (n > 0)
				in_off += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || in_off == in_len)
				in[0] = wh_close(in[0]);
		}
		for (int k = 1; k < 3; k++) {
			int *fd = k == 1 ? &out[0] : &errp[0];
			struct strbuf *sb = k == 1 ? &ob : &eb;
			if (*fd < 0 || (!pf[k].revents && !exited))
				continue;
			char buf[8192];
			ssize_t n = read(*fd, buf, sizeof(buf));
			if (n < 0 && errno == EAGAIN && exited) {
				*fd = wh_close(*fd);
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0) {
				*fd = wh_close(*fd);
				continue;
			}
			if (sb->len + (size_t)n > PLUGIN_OUT_MAX) {
				too_big = true;
				*fd = wh_close(*fd);
				continue;
			}
			strbuf_add(sb, buf, (size_t)n);
		}
		if (in[0] >= 0 && out[0] < 0 && errp[0] < 0)
			in[0] = wh_close(in[0]);
	}
	if (timed_out)
		kill(pid, SIGKILL);
	/* With stdout and stderr closed the plugin is exiting; a plugin that keeps running with
	 * them closed is killed at the deadline. */
	int st = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			st = 0;
			break;
		}
		if (w == 0 && now_mono_ns() >= deadline && !timed_out) {
			timed_out = true;
			kill(pid, SIGKILL);
		}
		if (w == 0)
			usleep(1000);
	}
	if (r < 0) {
		/* poll failed, already set */
	} else if (timed_out) {
		r = wh_err_setx(err, ETIMEDOUT, "plugin '%s' %s: timed out after %llu ms", type,
				run->cmd, (unsigned long long)timeout_ms);
	} else if (too_big) {
		r = wh_err_setx(err, EMSGSIZE, "plugin '%s' %s: output larger than %u bytes", type,
				run->cmd, PLUGIN_OUT_MAX);
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		r = plugin_error(err, ob.buf, ob.len, eb.buf, st);
		r = wh_err_wrap(err, r, "plugin '%s' %s", type, run->cmd);
	} else {
		run->out = strbuf_detach(&ob, NULL);
		r = 0;
	}
	strbuf_release(&ob);
	strbuf_release(&eb);
close_all:
	for (int k = 0; k < 2; k++) {
		wh_close(in[k]);
		wh_close(out[k]);
		wh_close(errp[k]);
	}
	return r;
}

static bool has_capability(yajl_val plugin, const char *cap)
{
	yajl_val c = json_get(json_get(plugin, "capabilities"), cap);
	return c && YAJL_IS_TRUE(c);
}

/* The network configuration a plugin reads on stdin. */
static int plugin_config(const struct net_conflist *cl, size_t i, const char *prev,
			 const struct net_attachment *a, char **ret, struct wh_err **err)
{
	yajl_val p = cl->plugins[i];
	yajl_val prevtree = NULL;
	if (prev && *prev) {
		int r = json_parse(prev, strlen(prev), &prevtree, err);
		if (r < 0)
			return wh_err_wrap(err, r, "prevResult");
	}
	yajl_gen g = json_gen_new(false);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "cniVersion", cl->cni_version);
	json_gen_kv_str(g, "name", cl->name);
	for (size_t k = 0; k < p->u.object.len; k++) {
		const char *key = p->u.object.keys[k];
		if (streq(key, "cniVersion") || streq(key, "name") || streq(key, "prevResult") ||
		    streq(key, "runtimeConfig") || (cl->n_plugins == 1 && streq(key, "plugins")))
			continue;
		json_gen_str(g, key);
		json_gen_value(g, p->u.object.values[k]);
	}
	if (prevtree) {
		json_gen_str(g, "prevResult");
		json_gen_value(g, prevtree);
	}
	if (a->n_ports && has_capability(p, "portMappings")) {
		json_gen_str(g, "runtimeConfig");
		yajl_gen_map_open(g);
		json_gen_str(g, "portMappings");
		yajl_gen_array_open(g);
		for (size_t k = 0; k < a->n_ports; k++) {
			const struct net_port_mapping *m = &a->ports[k];
			yajl_gen_map_open(g);
			json_gen_kv_int(g, "hostPort", m->host_port);
			json_gen_kv_int(g, "containerPort", m->container_port);
			json_gen_kv_str(g, "protocol", m->protocol ? m->protocol : "tcp");
			if (m->host_ip)
				json_gen_kv_str(g, "hostIP", m->host_ip);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	yajl_tree_free(prevtree);
	*ret = json_gen_finish(g, NULL);
	return 0;
}

static bool component_ok(const char *s)
{
	return s && *s && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..") && strlen(s) < 256;
}

static int check_attachment(const struct net_cni *cni, const struct net_attachment *a,
			    struct wh_err **err)
{
	if (!cni->cache_dir)
		return wh_err_setx(err, EINVAL, "no CNI cache dir");
	if (!component_ok(a->container_id))
		return wh_err_setx(err, EINVAL, "invalid container id '%s'",
				   a->container_id ? a->container_id : "");
	if (!component_ok(a->ifname) || strlen(a->ifname) > 15)
		return wh_err_setx(err, EINVAL, "invalid interface name '%s'",
				   a->ifname ? a->ifname : "");
	return 0;
}

/*
 * results/<sha256 of "net NUL cid NUL ifname">: libcni's "<net>-<cid>-<ifname>" is ambiguous
 * when the parts contain '-' (network "a-b" + id "c" vs network "a" + id "b-c"), and names
 * from requests never become path components. The entry itself says whose it is.
 */
static char *cache_path(const struct net_cni *cni, const char *net, const char *cid,
			const char *ifname)
{
	struct strbuf key = STRBUF_INIT;
	char dg[DIGEST_STR_LEN];

	strbuf_add(&key, net, strlen(net) + 1);
	strbuf_add(&key, cid, strlen(cid) + 1);
	strbuf_adds(&key, ifname);
	digest_buf(key.buf, key.len, dg);
	strbuf_release(&key);
	return xasprintf("%s/results/%s", cni->cache_dir, dg + 7);
}

static int cache_write(const struct net_cni *cni, const struct net_conflist *cl,
		       const struct net_attachment *a, const char *result, struct wh_err **err)
{
	yajl_val t = NULL;
	int r = json_parse(result, strlen(result), &t, err);
	if (r < 0)
		return r;
	yajl_gen g = json_gen_new(false);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "kind", "cniCacheV1");
	json_gen_kv_str(g, "containerId", a->container_id);
	json_gen_kv_str(g, "ifName", a->ifname);
	json_gen_kv_str(g, "networkName", cl->name);
	json_gen_kv_str(g, "netns", a->netns ? a->netns : "");
	json_gen_str(g, "result");
	json_gen_value(g, t);
	json_gen_str(g, "config");
	json_gen_value(g, cl->tree);
	yajl_gen_map_close(g);
	yajl_tree_free(t);
	size_t len;
	cleanup_free char *text = json_gen_finish(g, &len);
	cleanup_free char *dir = path_join(cni->cache_dir, "results");
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return wh_err_set(err, r, "create '%s'", dir);
	cleanup_free char *p = cache_path(cni, cl->name, a->container_id, a->ifname);
	r = write_file_atomic(p, text, len, 0600);
	if (r < 0)
		return wh_err_set(err, r, "write '%s'", p);
	return 0;
}

/* A member (an object) of a cache entry as JSON text, -ENOENT when there is no entry. */
static int cache_read_member(const struct net_cni *cni, const char *net, const char *cid,
			     const char *ifname, const char *member, char **ret,
			     struct wh_err **err)
{
	cleanup_free char *p = cache_path(cni, net, cid, ifname);
	cleanup_free char *text = NULL;
	size_t len;
	int r = read_file(p, NET_RESULT_MAX + NET_CONF_MAX, &text, &len);
	if (r == -ENOENT)
		return wh_err_setx(err, ENOENT, "no cached result for '%s' on network '%s'", cid,
				   net);
	if (r < 0)
		return wh_err_set(err, r, "read '%s'", p);
	yajl_val t = NULL;
	r = json_parse(text, len, &t, err);
	if (r < 0)
		return wh_err_wrap(err, r, "cache '%s'", p);
	const char *en = NULL, *ec = NULL, *ei = NULL;
	(void)json_get_string_opt(t, "networkName", "networkName", &en, NULL);
	(void)json_get_string_opt(t, "containerId", "containerId", &ec, NULL);
	(void)json_get_string_opt(t, "ifName", "ifName", &ei, NULL);
	if (!en || !ec || !ei || !streq(en, net) || !streq(ec, cid) || !streq(ei, ifname)) {
		yajl_tree_free(t);
		return wh_err_setx(err, ENOENT, "no cached result for '%s' on network '%s'", cid,
				   net);
	}
	yajl_val res = json_get(t, member);
	if (!res || !YAJL_IS_OBJECT(res)) {
		yajl_tree_free(t);
		return wh_err_setx(err, EBADMSG, "cache '%s': no %s", p, member);
	}
	yajl_gen g = json_gen_new(false);
	json_gen_value(g, res);
	yajl_tree_free(t);
	*ret = json_gen_finish(g, NULL);
	return 0;
}

static int cache_read(const struct net_cni *cni, const char *net, const char *cid,
		      const char *ifname, char **ret, struct wh_err **err)
{
	return cache_read_member(cni, net, cid, ifname, "result", ret, err);
}

int net_cni_cached_conflist(const struct net_cni *cni, const char *network,
			    const char *container_id, const char *ifname, struct net_conflist **ret,
			    struct wh_err **err)
{
	cleanup_free char *text = NULL;
	int r = cache_read_member(cni, network, container_id, ifname, "config", &text, err);
	if (r < 0)
		return r;
	/* A single-plugin .conf was cached as it was: it has no "plugins". */
	yajl_val t = NULL;
	r = json_parse(text, strlen(text), &t, err);
	if (r < 0)
		return wh_err_wrap(err, r, "cached config");
	bool single = !json_get(t, "plugins");
	yajl_tree_free(t);
	return net_conflist_parse(text, strlen(text), single, "cached config", ret, err);
}

void net_cached_free(struct net_cached *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].network);
		free(v[i].container_id);
		free(v[i].ifname);
		free(v[i].netns);
	}
	free(v);
}

int net_cni_cache_list(const struct net_cni *cni, struct net_cached **ret, size_t *ret_n,
		       struct wh_err **err)
{
	if (!cni->cache_dir)
		return wh_err_setx(err, EINVAL, "no CNI cache dir");
	cleanup_free char *dir = path_join(cni->cache_dir, "results");
	cleanup_closedir DIR *d = opendir(dir);
	if (!d && errno != ENOENT)
		return wh_err_set(err, errno, "open '%s'", dir);
	struct net_cached *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		cleanup_free char *p = path_join(dir, de->d_name);
		cleanup_free char *text = NULL;
		size_t len;
		yajl_val t = NULL;
		if (read_file(p, NET_RESULT_MAX + NET_CONF_MAX, &text, &len) < 0 ||
		    json_parse(text, len, &t, NULL) < 0)
			continue;
		const char *net = NULL, *cid = NULL, *ifn = NULL, *ns = NULL;
		(void)json_get_string_opt(t, "networkName", "networkName", &net, NULL);
		(void)json_get_string_opt(t, "containerId", "containerId", &cid, NULL);
		(void)json_get_string_opt(t, "ifName", "ifName", &ifn, NULL);
		(void)json_get_string_opt(t, "netns", "netns", &ns, NULL);
		if (net && cid && ifn) {
			xgrow((void **)&v, &cap, n + 1, sizeof(*v));
			v[n++] = (struct net_cached){.network = xstrdup(net),
						     .container_id = xstrdup(cid),
						     .ifname = xstrdup(ifn),
						     .netns = xstrdup(ns ? ns : "")};
		}
		yajl_tree_free(t);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int net_cni_cached_result(const struct net_cni *cni, const char *network, const char *container_id,
			  const char *ifname, struct net_result **ret, struct wh_err **err)
{
	cleanup_free char *text = NULL;
	int r = cache_read(cni, network, container_id, ifname, &text, err);
	if (r < 0)
		return r;
	return net_result_parse(text, strlen(text), ret, err);
}

static int invoke(const struct net_cni *cni, const struct net_conflist *cl, size_t i,
		  const char *cmd, const char *prev, const struct net_attachment *a, char **ret_out,
		  struct wh_err **err)
{
	cleanup_free char *conf = NULL;
	int r = plugin_config(cl, i, prev, a, &conf, err);
	if (r < 0)
		return r;
	struct run run = {.cmd = cmd, .input = conf};
	r = run_plugin(cni, cl->types[i], a, &run, err);
	if (r < 0)
		return r;
	if (ret_out)
		*ret_out = run.out;
	else
		free(run.out);
	return 0;
}

/* DEL of plugins [0, n) in reverse order; all are called, the first error is kept. */
static int del_range(const struct net_cni *cni, const struct net_conflist *cl, size_t n,
		     const char *prev, const struct net_attachment *a, struct wh_err **err)
{
	int first = 0;
	for (size_t i = n; i-- > 0;) {
		struct wh_err *e = NULL;
		int r = invoke(cni, cl, i, "DEL", prev, a, NULL, &e);
		if (r < 0 && first == 0)
			first = wh_err_move(err, &e);
		wh_err_free(e);
	}
	return first;
}

int net_cni_add(const struct net_cni *cni, const struct net_conflist *cl,
		const struct net_attachment *a, struct net_result **ret, struct wh_err **err)
{
	int r = check_attachment(cni, a, err);
	if (r < 0)
		return r;
	char *prev = NULL;
	size_t i;
	for (i = 0; i < cl->n_plugins; i++) {
		char *out = NULL;
		r = invoke(cni, cl, i, "ADD", prev, a, &out, err);
		if (r < 0)
			break;
		struct net_result *tmp = NULL;
		r = net_result_parse(out, strlen(out), &tmp, err);
		if (r < 0) {
			free(out);
			r = wh_err_wrap(err, r, "plugin '%s' ADD", cl->types[i]);
			i++; /* it did add: undo it too */
			break;
		}
		net_result_free(tmp);
		free(prev);
		prev = out;
	}
	if (r < 0) {
		(void)del_range(cni, cl, i, prev, a, NULL);
		free(prev);
		return wh_err_wrap(err, r, "network '%s'", cl->name);
	}
	struct net_result *res = NULL;
	r = net_result_parse(prev, strlen(prev), &res, err);
	if (r >= 0)
		r = cache_write(cni, cl, a, prev, err);
	if (r < 0) {
		(void)del_range(cni, cl, cl->n_plugins, prev, a, NULL);
		net_result_free(res);
		free(prev);
		return wh_err_wrap(err, r, "network '%s'", cl->name);
	}
	free(prev);
	if (ret)
		*ret = res;
	else
		net_result_free(res);
	return 0;
}

int net_cni_check(const struct net_cni *cni, const struct net_conflist *cl,
		  const struct net_attachment *a, struct wh_err **err)
{
	int r = check_attachment(cni, a, err);
	if (r < 0)
		return r;
	if (cl->disable_check)
		return 0;
	if (str_startswith(cl->cni_version, "0.1.") || str_startswith(cl->cni_version, "0.2.") ||
	    str_startswith(cl->cni_version, "0.3."))
		return wh_err_setx(err, EOPNOTSUPP,
				   "network '%s': CHECK needs CNI 0.4.0 or later, not '%s'",
				   cl->name, cl->cni_version);
	cleanup_free char *prev = NULL;
	r = cache_read(cni, cl->name, a->container_id, a->ifname, &prev, err);
	if (r < 0)
		return wh_err_wrap(err, r, "network '%s' CHECK", cl->name);
	for (size_t i = 0; i < cl->n_plugins; i++) {
		r = invoke(cni, cl, i, "CHECK", prev, a, NULL, err);
		if (r < 0)
			return wh_err_wrap(err, r, "network '%s'", cl->name);
	}
	return 0;
}

int net_cni_del(const struct net_cni *cni, const struct net_conflist *cl,
		const struct net_attachment *a, struct wh_err **err)
{
	int r = check_attachment(cni, a, err);
	if (r < 0)
		return r;
	cleanup_free char *prev = NULL;
	struct wh_err *e = NULL;
	r = cache_read(cni, cl->name, a->container_id, a->ifname, &prev, &e);
	wh_err_free(e); /* no cache: DEL without prevResult, as the spec allows */
	r = del_range(cni, cl, cl->n_plugins, prev, a, err);
	if (r < 0)
		return wh_err_wrap(err, r, "network '%s'", cl->name);
	cleanup_free char *p = cache_path(cni, cl->name, a->container_id, a->ifname);
	if (unlink(p) < 0 && errno != ENOENT)
		return wh_err_set(err, errno, "remove '%s'", p);
	return 0;
}

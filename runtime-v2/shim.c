/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Launching and connecting shims (PROTOCOLS.md §2.3, §2.8): the `start` protocol, its output
 * (a plain address or 1.7's JSON bootstrap), the log fifo relay and the shim handle.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include "runtime-v2/internal.h"

#define RT_LOG_LINE_MAX 65536

struct rt_shim *rt_shim_alloc(struct ev_loop *l, const struct rt_config *cfg, const char *ns,
			      const char *id, const char *bundle)
{
	struct rt_shim *s = xcalloc(1, sizeof(*s));

	s->loop = l;
	s->cfg = cfg;
	s->ns = xstrdup(ns);
	s->id = xstrdup(id);
	s->bundle = xstrdup(bundle);
	s->log_fd = -EBADF;
	strbuf_init(&s->log_line, 0);
	return s;
}

struct rt_shim *rt_shim_free(struct rt_shim *s)
{
	if (!s)
		return NULL;
	ttrpc_client_free(s->client);
	ev_source_disable_unref(s->shutdown_defer);
	ev_source_disable_unref(s->shutdown_timer);
	ev_source_disable_unref(s->log_src);
	wh_close(s->log_fd);
	strbuf_release(&s->log_line);
	free(s->ns);
	free(s->id);
	free(s->bundle);
	free(s->binary);
	free(s->address);
	free(s);
	return NULL;
}

const char *rt_shim_bundle(const struct rt_shim *s)
{
	return s->bundle;
}
const char *rt_shim_id(const struct rt_shim *s)
{
	return s->id;
}
const char *rt_shim_namespace(const struct rt_shim *s)
{
	return s->ns;
}
const char *rt_shim_address(const struct rt_shim *s)
{
	return s->address;
}
const char *rt_shim_binary(const struct rt_shim *s)
{
	return s->binary;
}
struct ttrpc_client *rt_shim_client(const struct rt_shim *s)
{
	return s->client;
}
bool rt_shim_is_connected(const struct rt_shim *s)
{
	return s->client && ttrpc_client_is_connected(s->client);
}

void rt_shim_on_close(struct rt_shim *s, void (*fn)(struct rt_shim *, void *), void *userdata)
{
	s->on_close = fn;
	s->on_close_data = userdata;
}

/* ---- the log fifo ---- */

static void log_flush(struct rt_shim *s)
{
	if (s->log_line.len > 0)
		log_info("shim ns=%s id=%s: %s", s->ns, s->id, s->log_line.buf);
	strbuf_reset(&s->log_line);
}

static int on_log(struct ev_source *src, int fd, uint32_t revents, void *userdata)
{
	struct rt_shim *s = userdata;
	char buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || s->log_line.len >= RT_LOG_LINE_MAX)
			log_flush(s);
		if (buf[i] != '\n')
			strbuf_addc(&s->log_line, buf[i]);
	}
	return 0;
}

int rt_shim_open_log(struct rt_shim *s, struct wh_err **err)
{
	cleanup_free char *path = path_join(s->bundle, "log");
	int r;

	/* O_RDWR: we are a reader before `start` (the shim blocks until one exists) and the fifo
	 * never reports EOF when a shim closes its end. */
	s->log_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (s->log_fd < 0)
		return wh_err_set(err, errno, "open log fifo '%s'", path);
	r = ev_add_io(s->loop, &s->log_src, s->log_fd, EPOLLIN, on_log, s);
	if (r < 0)
		return wh_err_set(err, r, "watch log fifo '%s'", path);
	return 0;
}

static bool fd_readable(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* ---- connecting ---- */

static void on_client_close(struct ttrpc_client *c, void *userdata)
{
	struct rt_shim *s = userdata;

	if (s->on_close)
		s->on_close(s, s->on_close_data);
}

int rt_shim_dial(struct rt_shim *s, const char *address, struct wh_err **err)
{
	int r = ttrpc_client_connect(s->loop, address, &s->client, err);

	if (r < 0)
		return wh_err_wrap(err, r, "connect to shim at '%s'", address);
	free(s->address);
	s->address = xstrdup(address);
	ttrpc_client_on_close(s->client, on_client_close, s);
	return 0;
}

/* ---- start ---- */

static char *printable(const char *s, size_t len)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < len && sb.len < 300; i++)
		strbuf_addc(&sb, isprint((unsigned char)s[i]) || s[i] == '\n' ? s[i] : '?');
	while (sb.len > 0 && isspace((unsigned char)sb.buf[sb.len - 1]))
		strbuf_setlen(&sb, sb.len - 1);
	return strbuf_detach(&sb, NULL);
}

static bool address_ok(const char *a)
{
	const char *p = str_startswith(a, "unix://") ? a + 7 : a;
	size_t n = strlen(p);

	if (p[0] != '/' || n > 107)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)p[i]))
			return false;
	return true;
}

/* 1.7+ shims may print {"version":2,"address":"...","protocol":"ttrpc"} (§2.9). */
static int parse_bootstrap(const char *text, char **ret, struct wh_err **err)
{
	yajl_val v = NULL;
	const char *addr = NULL, *proto = NULL;
	int64_t version = 0;
	int r;

	r = json_parse(text, strlen(text), &v, err);
	if (r < 0)
		return r;
	r = json_expect_object(v, "bootstrap", err);
	if (r >= 0)
		r = json_get_int64_opt(v, "version", "version", &version, err);
	if (r >= 0)
		r = json_get_string(v, "address", "address", &addr, err);
	if (r >= 0)
		r = json_get_string_opt(v, "protocol", "protocol", &proto, err);
	if (r >= 0 && version > 2)
		r = wh_err_setx(err, ENOTSUP, "bootstrap version %lld is not supported (max 2)",
				(long long)version);
	if (r >= 0 && proto && *proto && !streq(proto, "ttrpc"))
		r = wh_err_setx(err, ENOTSUP, "protocol '%s' is not supported (ttrpc only)", proto);
	if (r >= 0)
		*ret = xstrdup(addr);
	yajl_tree_free(v);
	return r;
}

/* what: "shim 'X' start printed" or "address file 'X' holds", for the messages. */
static int parse_start_output(const char *what, const char *out, size_t len, char **ret,
			      struct wh_err **err)
{
	cleanup_free char *text = xstrndup(out, len);
	cleanup_free char *addr = NULL;
	char *t = text, *end;

	while (isspace((unsigned char)*t))
		t++;
	end = t + strlen(t);
	while (end > t && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (strlen(t) != (size_t)(end - t) || memchr(out, '\0', len))
		return wh_err_setx(err, EPROTO, "%s binary output", what);
	if (*t == '{') {
		int r = parse_bootstrap(t, &addr, err);

		if (r < 0)
			return wh_err_wrap(err, r, "%s bad JSON", what);
	} else {
		addr = xstrdup(t);
	}
	if (!address_ok(addr)) {
		cleanup_free char *shown = printable(t, strlen(t));

		return wh_err_setx(err, EPROTO, "%s '%s', not a unix socket address", what, shown);
	}
	*ret = TAKE_PTR(addr);
	return 0;
}

static char **shim_argv(const struct rt_config *cfg, const char *binary, const char *ns,
			const char *id, const char *bundle, const char *action)
{
	char **argv = NULL;

	strv_push(&argv, binary);
	strv_push(&argv, "-namespace");
	strv_push(&argv, ns);
	strv_push(&argv, "-address");
	strv_push(&argv, cfg->grpc_address ? cfg->grpc_address : "");
	strv_push(&argv, "-publish-binary");
	if (cfg->publish_binary) {
		strv_push(&argv, cfg->publish_binary);
	} else {
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		self[n > 0 ? n : 0] = '\0';
		strv_push(&argv, self);
	}
	strv_push(&argv, "-id");
	strv_push(&argv, id);
	if (bundle) {
		strv_push(&argv, "-bundle");
		strv_push(&argv, bundle);
	}
	if (cfg->debug && streq(action, "start"))
		strv_push(&argv, "-debug");
	strv_push(&argv, action);
	return argv;
}

char **rt_shim_argv(const struct rt_config *cfg, const char *binary, const char *ns, const char *id,
		    const char *bundle, const char *action)
{
	return shim_argv(cfg, binary, ns, id, bundle, action);
}

static int run_start(struct rt_shim *s, const struct rt_start_opts *o, char **ret_addr,
		     struct wh_err **err)
{
	cleanup(strv_freep) char **argv = shim_argv(s->cfg, s->binary, s->ns, s->id, NULL, "start");
	struct rt_run_result res = {0};
	cleanup_free uint8_t *in = NULL;
	size_t in_len = 0;
	int r;

	if (o->options) {
		in_len = google__protobuf__any__get_packed_size(o->options);
		in = xmalloc(in_len ? in_len : 1);
		google__protobuf__any__pack(o->options, in);
	}
	/* Output and errors are read together, as containerd's CombinedOutput (§2.3). */
	r = rt_run_shim(s->cfg, s->binary, argv, s->bundle, s->ns, in, in_len, true, &res, err);
	if (r < 0)
		return r;
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0) {
		cleanup_free char *how = rt_describe_status(res.status);
		cleanup_free char *shown = printable(res.out, res.out_len);

		r = wh_err_setx(err, EIO, "shim '%s' start failed (%s)%s%s", s->binary, how,
				*shown ? ": " : "", shown);
	} else {
		cleanup_free char *what = xasprintf("shim '%s' start printed", s->binary);

		r = parse_start_output(what, res.out, res.out_len, ret_addr, err);
	}
	rt_run_result_done(&res);
	return r;
}

static int write_bundle_files(struct rt_shim *s, struct wh_err **err)
{
	cleanup_free char *bin = path_join(s->bundle, "shim-binary-path");
	cleanup_free char *addr = path_join(s->bundle, "address");
	int r;

	r = write_file_atomic(bin, s->binary, strlen(s->binary), 0600);
	if (r < 0)
		return wh_err_set(err, r, "write '%s'", bin);
	/* The runc shim writes `address` itself; a shim that did not gets it from us (§2.8). */
	if (access(addr, F_OK) < 0) {
		r = write_file_atomic(addr, s->address, strlen(s->address), 0600);
		if (r < 0)
			return wh_err_set(err, r, "write '%s'", addr);
	}
	return 0;
}

/*
 * A shim that started but cannot be used is told to go, then cleaned like a dead one. The
 * Shutdown runs on a private loop: rt_shim_start may be called from a callback of the caller's.
 */
static void abandon(struct rt_shim *s, const char *addr)
{
	s->client = ttrpc_client_free(s->client);
	if (addr && address_ok(addr)) {
		Containerd__Task__V2__ShutdownRequest req =
			CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
		const struct ttrpc_call_opts o = {.timeout_ns = 2000000000ull};
		cleanup_ev_loop struct ev_loop *l = NULL;
		cleanup_ttrpc_client struct ttrpc_client *c = NULL;
		ProtobufCMessage *resp = NULL;

		req.id = s->id;
		req.now = true;
		if (ev_loop_new(&l) >= 0 && ttrpc_client_connect(l, addr, &c, NULL) >= 0 &&
		    ttrpc_client_call(c, RT_TASK_SERVICE, "Shutdown", &req.base,
				      &google__protobuf__empty__descriptor, &o, &resp, NULL) >= 0 &&
		    resp)
			protobuf_c_message_free_unpacked(resp, NULL);
	}
	if (addr)
		rt_shim_delete_binary(s->cfg, s->binary, s->ns, s->id, NULL, NULL);
}

/* Relays what the shim wrote to its log so far (without running the loop). */
static void drain_log(struct rt_shim *s)
{
	if (s->log_fd >= 0)
		while (on_log(s->log_src, s->log_fd, EPOLLIN, s) >= 0 && fd_readable(s->log_fd))
			;
	log_flush(s);
}

int rt_shim_start(struct ev_loop *l, const struct rt_config *cfg, const struct rt_start_opts *o,
		  struct rt_shim **ret, struct wh_err **err)
{
	cleanup_free char *binary = NULL, *bundle = NULL, *addr = NULL;
	struct rt_shim *s;
	bool started = false;
	int r;

	r = rt_resolve_shim(o->runtime, cfg->shim_dir, &binary, err);
	if (r < 0)
		return wh_err_wrap(err, r, "start task '%s'", o->id ? o->id : "");
	r = rt_bundle_create(cfg->state_dir, o->ns, o->id, o->spec, o->spec_len, o->mounts, &bundle,
			     err);
	if (r < 0)
		return wh_err_wrap(err, r, "start task '%s'", o->id);
	s = rt_shim_alloc(l, cfg, o->ns, o->id, bundle);
	s->binary = TAKE_PTR(binary);
	r = rt_shim_open_log(s, err);
	if (r >= 0)
		r = run_start(s, o, &addr, err);
	if (r >= 0) {
		started = true;
		r = rt_shim_dial(s, addr, err);
	}
	if (r >= 0)
		r = write_bundle_files(s, err);
	if (r < 0) {
		abandon(s, started ? addr : NULL);
		/* The shim's last words reach our log before the fifo goes. */
		drain_log(s);
		rt_bundle_remove(bundle, NULL);
		rt_shim_free(s);
		return wh_err_wrap(err, r, "start task '%s'", o->id);
	}
	*ret = s;
	return 0;
}

int rt_shim_connect(struct ev_loop *l, const struct rt_config *cfg, const char *ns, const char *id,
		    struct rt_shim **ret, struct wh_err **err)
{
	cleanup_free char *bundle = rt_bundle_path(cfg->state_dir, ns, id);
	cleanup_free char *apath = path_join(bundle, "address");
	cleanup_free char *bpath = path_join(bundle, "shim-binary-path");
	cleanup_free char *addr = NULL, *text = NULL;
	struct rt_shim *s;
	int r;

	r = read_file(apath, 4096, &text, NULL);
	if (r < 0)
		return wh_err_set(err, r, "read '%s'", apath);
	/* 1.7 shims may leave the JSON bootstrap form there (§2.9). */
	{
		cleanup_free char *what = xasprintf("address file '%s' holds", apath);

		r = parse_start_output(what, text, strlen(text), &addr, err);
	}
	if (r < 0)
		return wh_err_wrap(err, r, "reconnect task '%s/%s'", ns, id);
	s = rt_shim_alloc(l, cfg, ns, id, bundle);
	if (read_file(bpath, 4096, &s->binary, NULL) < 0)
		s->binary = NULL;
	r = rt_shim_open_log(s, err);
	if (r >= 0)
		r = rt_shim_dial(s, addr, err);
	if (r >= 0)
		r = rt_task_connect(s, NULL, NULL, err);
	if (r < 0) {
		rt_shim_free(s);
		return wh_err_wrap(err, r, "reconnect task '%s/%s'", ns, id);
	}
	*ret = s;
	return 0;
}

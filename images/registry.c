/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry client: endpoints per registry (mirrors first, plain http and TLS settings),
 * credentials, bearer tokens cached per scope, and the request engine over libcurl's multi
 * interface (HTTP/1.1 keep-alive and HTTP/2 multiplexing share one connection cache), with
 * bounded retries and backoff on 5xx/429 and connection failures, resume of interrupted
 * downloads with Range, and failover to the next endpoint.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>

#include "images/internal.h"

#define ERROR_BODY_MAX (64 * 1024)

static char *dup0(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static CURLcode curl_init_result;

static void curl_init_once(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int img_client_new(const struct img_client_opts *o, struct img_client **ret, struct wh_err **err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, curl_init_once);
	if (curl_init_result != CURLE_OK)
		return wh_err_setx(err, EIO, "curl_global_init: %s",
				   curl_easy_strerror(curl_init_result));
	struct img_client *c = xnew0(struct img_client, 1);
	struct img_client_opts def = {0};
	c->o = o ? *o : def;
	c->user = dup0(c->o.user);
	c->pass = dup0(c->o.pass);
	c->ca_file = dup0(c->o.ca_file);
	c->docker_config = dup0(c->o.docker_config);
	c->hosts_dir = dup0(c->o.hosts_dir);
	c->user_agent = c->o.user_agent ? xstrdup(c->o.user_agent) : xstrdup("wharf/0.1");
	c->plain_http = strv_copy(c->o.plain_http_hosts);
	c->o.user = c->o.pass = c->o.ca_file = c->o.docker_config = c->o.user_agent = NULL;
	c->o.hosts_dir = NULL;
	c->o.plain_http_hosts = NULL;
	if (!c->o.max_parallel)
		c->o.max_parallel = 4;
	if (!c->o.retries)
		c->o.retries = 3;
	if (!c->o.backoff_ms)
		c->o.backoff_ms = 200;
	c->multi = curl_multi_init();
	if (!c->multi) {
		img_client_free(c);
		return wh_err_setx(err, ENOMEM, "curl_multi_init failed");
	}
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->o.max_parallel);
	*ret = c;
	return 0;
}

static void host_rt_free(struct img_host_rt *h)
{
	for (size_t i = 0; i < h->n_eps; i++) {
		free(h->eps[i].base);
		free(h->eps[i].api);
		free(h->eps[i].authority);
		free(h->eps[i].ca_file);
	}
	free(h->eps);
	free(h->name);
	wh_err_free(h->load_err);
	free(h->user);
	free(h->pass);
	free(h);
}

struct img_client *img_client_free(struct img_client *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_cfgs; i++)
		img_host_config_release(&c->cfgs[i]);
	free(c->cfgs);
	for (size_t i = 0; i < c->n_hosts; i++)
		host_rt_free(c->hosts[i]);
	free(c->hosts);
	for (size_t i = 0; i < c->n_auths; i++) {
		free(c->auths[i].authority);
		free(c->auths[i].scheme);
		free(c->auths[i].realm);
		free(c->auths[i].service);
	}
	free(c->auths);
	for (size_t i = 0; i < c->n_tokens; i++) {
		free(c->tokens[i].key);
		free(c->tokens[i].token);
	}
	free(c->tokens);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	free(c->user);
	free(c->pass);
	free(c->ca_file);
	free(c->user_agent);
	free(c->docker_config);
	free(c->hosts_dir);
	free(c->docker_config_json);
	strv_free(c->plain_http);
	free(c);
	return NULL;
}

void img_host_config_release(struct img_host_config *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_mirrors; i++) {
		free(h->mirrors[i].url);
		free(h->mirrors[i].ca_file);
	}
	free(h->mirrors);
	free(h->name);
	free(h->server);
	free(h->ca_file);
	free(h->user);
	free(h->pass);
	*h = (struct img_host_config){0};
}

static void host_config_copy(struct img_host_config *d, const struct img_host_config *s)
{
	*d = (struct img_host_config){
		.name = dup0(s->name),
		.n_mirrors = s->n_mirrors,
		.server = dup0(s->server),
		.plain_http = s->plain_http,
		.skip_verify = s->skip_verify,
		.ca_file = dup0(s->ca_file),
		.user = dup0(s->user),
		.pass = dup0(s->pass),
	};
	d->mirrors = xnew0(struct img_endpoint, s->n_mirrors ? s->n_mirrors : 1);
	for (size_t i = 0; i < s->n_mirrors; i++) {
		d->mirrors[i] = s->mirrors[i];
		d->mirrors[i].url = dup0(s->mirrors[i].url);
		d->mirrors[i].ca_file = dup0(s->mirrors[i].ca_file);
	}
}

void img_client_add_host(struct img_client *c, const struct img_host_config *h)
{
	for (size_t i = 0; i < c->n_cfgs; i++) {
		if (streq(c->cfgs[i].name, h->name)) {
			img_host_config_release(&c->cfgs[i]);
			host_config_copy(&c->cfgs[i], h);
			return;
		}
	}
	xgrow((void **)&c->cfgs, &c->cap_cfgs, c->n_cfgs + 1, sizeof(*c->cfgs));
	host_config_copy(&c->cfgs[c->n_cfgs++], h);
}

void img_client_get_stats(const struct img_client *c, struct img_client_stats *ret)
{
	*ret = c->stats;
}

struct img_client_stats *img_client_stats_mut(struct img_client *c)
{
	return &c->stats;
}

const struct img_client_opts *img_client_opts(const struct img_client *c)
{
	return &c->o;
}

/* ---- endpoints ---- */

static bool is_loopback(const char *domain)
{
	size_t n = strcspn(domain, ":");
	if (domain[0] == '[')
		return str_startswith(domain, "[::1]");
	return (n == 9 && strncmp(domain, "localhost", 9) == 0) ||
	       (n >= 4 && strncmp(domain, "127.", 4) == 0);
}

static char *url_authority(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	return xstrndup(p, strcspn(p, "/?#"));
}

static void add_endpoint(struct img_host_rt *h, const char *url, bool mirror, unsigned caps,
			 bool skip_verify, const char *ca_file, bool override_path)
{
	h->eps = xrealloc(h->eps, (h->n_eps + 1) * sizeof(*h->eps));
	struct img_endpoint_rt *e = &h->eps[h->n_eps++];
	size_t len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		len--;
	cleanup_free char *u = xstrndup(url, len);
	e->authority = url_authority(u);
	const char *scheme_end = strstr(u, "://");
	e->base = xasprintf("%.*s://%s", scheme_end ? (int)(scheme_end - u) : 5,
			    scheme_end ? u : "https", e->authority);
	const char *path = scheme_end ? scheme_end + 3 + strlen(e->authority) : "";
	if (override_path)
		e->api = xasprintf("%s%s", e->base, path);
	else
		e->api = xasprintf("%s%s/v2", e->base, path);
	e->mirror = mirror;
	e->caps = caps ? caps : (IMG_CAP_PULL | IMG_CAP_RESOLVE);
	e->skip_verify = skip_verify;
	e->ca_file = dup0(ca_file);
}

static struct img_host_rt *host_lookup(struct img_client *c, const char *domain)
{
	for (size_t i = 0; i < c->n_hosts; i++)
		if (streq(c->hosts[i]->name, domain))
			return c->hosts[i];
	struct img_host_rt *h = xnew0(struct img_host_rt, 1);
	h->name = xstrdup(domain);
	const struct img_host_config *cfg = NULL;
	for (size_t i = 0; i < c->n_cfgs; i++)
		if (streq(c->cfgs[i].name, domain))
			cfg = &c->cfgs[i];
	struct img_host_config loaded = {0};
	if (!cfg && c->hosts_dir) {
		int r = img_hosts_load(c->hosts_dir, domain, &loaded, &h->load_err);
		if (r > 0)
			cfg = &loaded;
	}
	for (size_t i = 0; cfg && i < cfg->n_mirrors; i++) {
		const struct img_endpoint *m = &cfg->mirrors[i];
		add_endpoint(h, m->url, true, m->caps, m->skip_verify || c->o.skip_verify,
			     m->ca_file ? m->ca_file : c->ca_file, m->override_path);
	}
	bool plain = (cfg && cfg->plain_http) || strv_contains(c->plain_http, domain);
	bool skip = (cfg && cfg->skip_verify) || c->o.skip_verify;
	const char *ca = cfg && cfg->ca_file ? cfg->ca_file : c->ca_file;
	unsigned all = IMG_CAP_PULL | IMG_CAP_RESOLVE | IMG_CAP_PUSH;
	if (cfg && cfg->server) {
		add_endpoint(h, cfg->server, false, all, skip, ca, false);
	} else {
		cleanup_free char *u = NULL;
		if (streq(domain, "docker.io"))
			u = xstrdup("https://registry-1.docker.io");
		else
			u = xasprintf("%s://%s", plain ? "http" : "https", domain);
		add_endpoint(h, u, false, all, skip, ca, false);
		/* Loopback registries may speak plain http: try TLS, fall back (as containerd). */
		h->eps[h->n_eps - 1].auto_http = !plain && is_loopback(domain);
	}
	if (cfg && cfg->user) {
		h->user = xstrdup(cfg->user);
		h->pass = dup0(cfg->pass);
	}
	img_host_config_release(&loaded);
	xgrow((void **)&c->hosts, &c->cap_hosts, c->n_hosts + 1, sizeof(*c->hosts));
	c->hosts[c->n_hosts++] = h;
	return h;
}

static bool ep_ok(const struct img_endpoint_rt *e, unsigned caps)
{
	return (e->caps & caps) == caps;
}

void img_req_init(struct img_req *r, struct img_client *c, const char *domain, const char *method)
{
	*r = (struct img_req){.method = method, .body_fd = -EBADF, .body = STRBUF_INIT};
	r->client = c;
	r->host = host_lookup(c, domain);
	r->caps = IMG_CAP_PULL;
}

static void req_reset_response(struct img_req *r)
{
	r->status = 0;
	free(r->location);
	free(r->ctype);
	free(r->docker_digest);
	free(r->www_auth);
	free(r->resp_range);
	free(r->retry_after);
	r->location = r->ctype = r->docker_digest = r->www_auth = r->resp_range = NULL;
	r->retry_after = NULL;
	strbuf_reset(&r->body);
	r->started_body = r->streaming = false;
	r->body_pos = 0;
}

void img_req_release(struct img_req *r)
{
	req_reset_response(r);
	strbuf_release(&r->body);
	free(r->path);
	free(r->url);
	free(r->content_range);
	curl_slist_free_all(r->hdrs);
	if (r->easy)
		curl_easy_cleanup(r->easy);
	digester_free(r->dg);
	wh_err_free(r->err);
	wh_err_free(r->cb_err);
	*r = (struct img_req){.body_fd = -EBADF, .body = STRBUF_INIT};
}

const struct img_endpoint_rt *img_req_ep(const struct img_req *r)
{
	return &r->host->eps[r->ep];
}

static char *req_build_url(const struct img_req *r)
{
	const struct img_endpoint_rt *e = img_req_ep(r);
	if (r->url) {
		if (strstr(r->url, "://"))
			return xstrdup(r->url);
		return xasprintf("%s%s%s", e->base, r->url[0] == '/' ? "" : "/", r->url);
	}
	if (e->mirror)
		return xasprintf("%s%s%sns=%s", e->api, r->path, strchr(r->path, '?') ? "&" : "?",
				 r->host->name);
	return xasprintf("%s%s", e->api, r->path);
}

const char *img_req_url(const struct img_req *r)
{
	char *u = NULL;
	if (r->easy && curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &u) == CURLE_OK && u)
		return u;
	return r->path ? r->path : "";
}

/* ---- the engine ---- */

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct img_req *r = ud;
	size_t n = size * nitems;
	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or 100-continue): forget the last one. */
		req_reset_response(r);
		return n;
	}
	const char *colon = memchr(buf, ':', n);
	if (!colon)
		return n;
	size_t klen = (size_t)(colon - buf);
	const char *v = colon + 1;
	const char *end = buf + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	char **slot = NULL;
#define HDR(name) (klen == strlen(name) && strncasecmp(buf, name, klen) == 0)
	if (HDR("location"))
		slot = &r->location;
	else if (HDR("content-type"))
		slot = &r->ctype;
	else if (HDR("docker-content-digest"))
		slot = &r->docker_digest;
	else if (HDR("www-authenticate"))
		slot = &r->www_auth;
	else if (HDR("content-range"))
		slot = &r->resp_range;
	else if (HDR("retry-after"))
		slot = &r->retry_after;
#undef HDR
	if (slot == &r->www_auth && *slot) {
		/* Several challenge headers are one comma-separated list (RFC 7235). */
		char *joined = xasprintf("%s, %.*s", *slot, (int)(end - v), v);
		free(*slot);
		*slot = joined;
	} else if (slot && !*slot) {
		*slot = xstrndup(v, (size_t)(end - v));
	}
	return n;
}

static int fetch_begin(struct img_req *r)
{
	struct img_fetch *f = r->fetch;
	if (r->status == 206) {
		/* Content-Range: bytes START-END/TOTAL must start where we are. */
		uint64_t start = UINT64_MAX;
		if (r->resp_range)
			sscanf(r->resp_range, "bytes %" SCNu64, &start);
		if (start != r->got)
			return wh_err_setx(
				&r->cb_err, EPROTO,
				"blob %s: asked for bytes from %" PRIu64 ", got Content-Range '%s'",
				f->desc->digest, r->got, r->resp_range ? r->resp_range : "");
		return 0;
	}
	if (r->got > 0) {
		/* The server ignored Range: start over. */
		int rc = f->sink->truncate(f->sink, &r->cb_err);
		if (rc < 0)
			return rc;
		if (r->dg)
			digester_reset(r->dg);
		r->got = 0;
	}
	return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct img_req *r = ud;
	size_t n = size * nmemb;
	if (!r->started_body) {
		r->started_body = true;
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->fetch && (r->status == 200 || r->status == 206)) {
			r->cb_error = fetch_begin(r);
			if (r->cb_error < 0)
				return 0;
			r->streaming = true;
		}
	}
	if (!r->streaming) {
		size_t max = r->status >= 200 && r->status < 300 && r->capture_max ? r->capture_max
										   : ERROR_BODY_MAX;
		if (r->body.len + n > max) {
			r->cb_error = wh_err_setx(&r->cb_err, EFBIG,
						  "%s %s: response larger than %zu bytes",
						  r->method, img_req_url(r), max);
			return 0;
		}
		strbuf_add(&r->body, ptr, n);
		return n;
	}
	struct img_fetch *f = r->fetch;
	if (r->got + n > f->desc->size) {
		r->cb_error = wh_err_setx(&r->cb_err, EBADMSG,
					  "blob %s: the registry sent more than the %" PRIu64
					  " bytes of its descriptor",
					  f->desc->digest, f->desc->size);
		return 0;
	}
	int rc = f->sink->write(f->sink, ptr, n, &r->cb_err);
	if (rc < 0) {
		r->cb_error = rc;
		return 0;
	}
	if (r->dg)
		digester_update(r->dg, ptr, n);
	r->got += n;
	if (r->client->o.progress)
		r->client->o.progress(r->client->o.progress_userdata, f->desc->digest, r->got,
				      f->desc->size);
	return n;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct img_req *r = ud;
	size_t want = size * nitems;
	uint64_t left = r->body_len - r->body_pos;
	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (r->body_buf) {
		memcpy(buf, r->body_buf + r->body_pos, want);
	} else {
		ssize_t k = pread(r->body_fd, buf, want, (off_t)(r->body_off + r->body_pos));
		if (k <= 0) {
			r->cb_error = wh_err_set(&r->cb_err, k < 0 ? errno : EIO,
						 "read the upload body at %" PRIu64,
						 r->body_off + r->body_pos);
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)k;
	}
	r->body_pos += want;
	return want;
}

static int seek_cb(void *ud, curl_off_t off, int origin)
{
	struct img_req *r = ud;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->body_pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

__attribute__((format(printf, 2, 3))) static struct curl_slist *add_hdr(struct curl_slist *l,
									const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cleanup_free char *h = xvasprintf(fmt, ap);
	va_end(ap);
	return curl_slist_append(l, h);
}

static void setup_easy(struct img_client *c, struct img_req *r, const char *url, const char *auth)
{
	CURL *e = r->easy;
	curl_easy_reset(e);
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A stalled peer (under 1 byte/s for 60 s) fails the attempt and is retried. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	img_set_tls(e, img_req_ep(r));
	if (r->accept)
		r->hdrs = add_hdr(r->hdrs, "Accept: %s", r->accept);
	if (r->content_type)
		r->hdrs = add_hdr(r->hdrs, "Content-Type: %s", r->content_type);
	if (r->content_range)
		r->hdrs = add_hdr(r->hdrs, "Content-Range: %s", r->content_range);
	if (r->fetch && r->got > 0) {
		r->hdrs = add_hdr(r->hdrs, "Range: bytes=%" PRIu64 "-", r->got);
		c->stats.resumed++;
	}
	if (auth)
		r->hdrs = curl_slist_append(r->hdrs, auth);
	/* No "Expect: 100-continue" round trip on uploads. */
	r->hdrs = curl_slist_append(r->hdrs, "Expect:");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	if (streq(r->method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (r->has_body) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
		if (!streq(r->method, "PUT"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (streq(r->method, "POST")) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
	} else if (streq(r->method, "PUT")) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
	} else if (!streq(r->method, "GET")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
}

static void req_fail(struct img_req *r, int rc, struct wh_err **e)
{
	r->done = true;
	r->result = rc < 0 ? rc : -EIO;
	wh_err_free(r->err);
	r->err = e ? *e : NULL;
	if (e)
		*e = NULL;
}

static void req_fail_msg(struct img_req *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void req_fail_msg(struct img_req *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cleanup_free char *m = xvasprintf(fmt, ap);
	va_end(ap);
	struct wh_err *e = NULL;
	int rc = wh_err_setx(&e, code, "%s", m);
	req_fail(r, rc, &e);
}

/*
 * The sink holds the whole blob already (a crash before commit): commit it without a request
 * when it verifies (true), else drop it and download from the start (false).
 */
static bool held_complete(struct img_req *r)
{
	struct img_fetch *f = r->fetch;
	char dig[DIGEST_STR_LEN] = "";
	if (r->dg) {
		digester_final(r->dg, dig);
		if (streq(dig, f->desc->digest) &&
		    f->sink->commit(f->sink, dig, r->got, NULL) >= 0) {
			r->done = true;
			r->result = 0;
			return true;
		}
	} else if (f->sink->commit(f->sink, f->desc->digest, r->got, NULL) >= 0) {
		r->done = true;
		r->result = 0;
		return true;
	}
	if (f->sink->truncate(f->sink, NULL) < 0) {
		req_fail_msg(r, EIO, "blob %s: cannot drop the corrupt data held", f->desc->digest);
		return true;
	}
	if (r->dg)
		digester_reset(r->dg);
	r->got = 0;
	return false;
}

/* Starts an attempt: auth, URL, easy handle, add to the multi. */
static void req_start(struct img_client *c, struct img_req *r)
{
	struct wh_err *e = NULL;
	if (r->host->load_err) {
		req_fail_msg(r, r->host->load_err->code, "%s", wh_err_msg(r->host->load_err));
		return;
	}
	while (r->ep < r->host->n_eps && !ep_ok(img_req_ep(r), r->caps))
		r->ep++;
	if (r->ep >= r->host->n_eps) {
		req_fail_msg(r, ENOENT, "no endpoint of '%s' offers this operation", r->host->name);
		return;
	}
	if (r->fetch && !r->primed) {
		r->primed = true;
		r->got = r->fetch->offset;
		if (!r->fetch->sink->verifies)
			r->dg = digester_new();
		if (r->got > 0 && r->dg) {
			int rc = r->fetch->sink->prime(r->fetch->sink, r->got, r->dg, &e);
			if (rc < 0) {
				req_fail(r, rc, &e);
				return;
			}
		}
	}
	if (r->fetch && r->got > 0 && r->got == r->fetch->desc->size && held_complete(r))
		return;
	cleanup_free char *auth = NULL;
	cleanup_free char *url = req_build_url(r);
	cleanup_free char *authority = url_authority(url);
	/* Credentials go to the endpoint only, not to another host an upload URL names. */
	int rc = streq(authority, img_req_ep(r)->authority) ? img_req_auth_header(c, r, &auth, &e)
							    : 0;
	if (rc < 0) {
		req_fail(r, rc, &e);
		return;
	}
	r->sent_auth = auth != NULL;
	/* A fresh handle per attempt, not curl_easy_reset: curl 7.88 keeps a pointer to the last
	 * header of the previous response across a reset and follows it when the next response
	 * opens with a folded header line (use after free, found by fuzz-images-registry).
	 * Connections are the multi handle's, so they are still reused. */
	if (r->easy)
		curl_easy_cleanup(r->easy);
	if (!(r->easy = curl_easy_init()))
		wh_abort(__FILE__, __LINE__, "out of memory");
	r->sent_https = str_startswith(url, "https://");
	req_reset_response(r);
	setup_easy(c, r, url, auth);
	r->active = true;
	curl_multi_add_handle(c->multi, r->easy);
}

static bool curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

#define RETRY_AFTER_MAX_S 10

static void req_retry_later(struct img_client *c, struct img_req *r)
{
	uint64_t delay = (uint64_t)c->o.backoff_ms << (r->attempts < 10 ? r->attempts : 10);
	uint64_t secs = 0;
	/* Retry-After in seconds (429, 503) is honoured up to a bound; dates are ignored. */
	if (r->retry_after && parse_u64(r->retry_after, &secs) >= 0)
		delay = MAX(delay, MIN(secs, (uint64_t)RETRY_AFTER_MAX_S) * 1000);
	r->attempts++;
	r->not_before = now_mono_ns() + delay * 1000000ull;
	c->stats.retries++;
}

/* The next endpoint when this one failed (mirror failover). True when there is one. */
static bool req_next_endpoint(struct img_req *r)
{
	size_t i = r->ep + 1;
	while (i < r->host->n_eps && !ep_ok(&r->host->eps[i], r->caps))
		i++;
	if (i >= r->host->n_eps || (r->fetch && r->got > 0 && r->fetch->offset != r->got))
		return false;
	r->ep = i;
	r->attempts = 0;
	r->auth_retried = false;
	return true;
}

/* Verifies size and digest of a complete download and commits the sink. */
static void fetch_complete(struct img_req *r)
{
	struct img_fetch *f = r->fetch;
	if (r->got != f->desc->size) {
		req_fail_msg(r, EBADMSG,
			     "blob %s: got %" PRIu64 " bytes, the descriptor says %" PRIu64,
			     f->desc->digest, r->got, f->desc->size);
		return;
	}
	struct wh_err *e = NULL;
	if (r->dg) {
		char dig[DIGEST_STR_LEN];
		digester_final(r->dg, dig);
		if (!streq(dig, f->desc->digest)) {
			/* Bad data must not be resumed from: drop it. */
			(void)f->sink->truncate(f->sink, NULL);
			req_fail_msg(r, EBADMSG, "blob %s from %s: digest mismatch (got %s)",
				     f->desc->digest, img_req_ep(r)->authority, dig);
			return;
		}
	}
	int rc = f->sink->commit(f->sink, f->desc->digest, r->got, &e);
	if (rc < 0 && f->sink->verifies && (rc == -EINVAL || rc == -EBADMSG)) {
		(void)f->sink->truncate(f->sink, NULL);
		rc = wh_err_wrap(&e, rc, "blob %s from %s: digest mismatch", f->desc->digest,
				 img_req_ep(r)->authority);
	}
	if (rc < 0) {
		req_fail(r, rc, &e);
		return;
	}
	r->done = true;
	r->result = 0;
}

static void req_finish_fetch(struct img_client *c, struct img_req *r)
{
	struct img_fetch *f = r->fetch;
	if (r->status == 416 && r->got > 0 && f->sink->truncate(f->sink, NULL) >= 0) {
		/* The server has less than we hold: what we hold is not its blob. Start over. */
		if (r->dg)
			digester_reset(r->dg);
		r->got = 0;
		return;
	}
	if (r->status != 200 && r->status != 206) {
		struct wh_err *e = NULL;
		int rc = img_req_status_error(r, &e);
		req_fail(r, rc, &e);
		return;
	}
	fetch_complete(r);
}

static void req_finish(struct img_client *c, struct img_req *r, CURLcode cc)
{
	curl_multi_remove_handle(c->multi, r->easy);
	r->active = false;
	c->stats.requests++;
	long conns = 0, ver = 0;
	curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &conns);
	curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &ver);
	c->stats.connects += (uint64_t)conns;
	if (ver == CURL_HTTP_VERSION_2_0)
		c->stats.http2++;
	if (r->streaming)
		c->stats.bytes += r->got;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->cb_error < 0) {
		int rc = r->cb_error;
		r->cb_error = 0;
		req_fail(r, rc, &r->cb_err);
		return;
	}
	struct img_endpoint_rt *ep = &r->host->eps[r->ep];
	if (cc != CURLE_OK) {
		if (cc == CURLE_SSL_CONNECT_ERROR && ep->auto_http) {
			/* A loopback registry speaking plain http: switch for good. */
			cleanup_free char *b = ep->base;
			ep->base = xasprintf("http%s", b + 5);
			cleanup_free char *a = ep->api;
			ep->api = xasprintf("http%s", a + 5);
			ep->auto_http = false;
			ep->switched_http = true;
			return;
		}
		if (cc == CURLE_SSL_CONNECT_ERROR && ep->switched_http && r->sent_https)
			return; /* sent in parallel before the switch: again, in http */
		if (curl_retryable(cc) && r->attempts < c->o.retries) {
			req_retry_later(c, r);
			return;
		}
		if (req_next_endpoint(r))
			return;
		req_fail_msg(r, EIO, "%s %s: %s", r->method, img_req_url(r),
			     *r->errbuf ? r->errbuf : curl_easy_strerror(cc));
		return;
	}
	ep->auto_http = false;
	if (r->status == 401) {
		struct wh_err *e = NULL;
		if (r->sent_auth && !r->auth_retried) {
			/* A cached token may have expired early: fetch a new one once. */
			img_forget_req_token(c, r);
		} else if (r->auth_retried) {
			const char *u = NULL, *p = NULL;
			int have = img_host_creds(c, r->host, &u, &p, NULL);
			const char *realm = img_auth_bearer_realm(c, r);
			if (realm)
				req_fail_msg(r, EACCES,
					     "%s rejected the token from '%s' (user '%s') for %s",
					     ep->authority, realm, have > 0 ? u : "anonymous",
					     img_req_url(r));
			else if (have > 0)
				req_fail_msg(r, EACCES,
					     "%s refused the credentials of user '%s' for %s",
					     ep->authority, u, img_req_url(r));
			else
				req_fail_msg(r, EACCES,
					     "%s requires authentication for %s and no credentials "
					     "are configured for it",
					     ep->authority, img_req_url(r));
			return;
		}
		int rc = img_auth_learn(c, r, &e);
		if (rc < 0) {
			req_fail(r, rc, &e);
			return;
		}
		r->auth_retried = true;
		return;
	}
	if ((r->status >= 500 || r->status == 429) && r->attempts < c->o.retries) {
		req_retry_later(c, r);
		return;
	}
	if ((r->status >= 500 || r->status == 404) && ep->mirror && req_next_endpoint(r))
		return;
	if (r->fetch) {
		req_finish_fetch(c, r);
		return;
	}
	r->done = true;
	r->result = 0;
}

/* Tells fetch callers about finished downloads as soon as possible (pipelined unpack). */
static void notify_done(struct img_req **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct img_req *r = v[i];
		if (!r->done || r->notified || !r->fetch || !r->fetch->on_done)
			continue;
		r->notified = true;
		r->fetch->on_done(r->fetch, r->result);
	}
}

void img_run(struct img_client *c, struct img_req **v, size_t n)
{
	for (;;) {
		size_t active = 0, left = 0;
		uint64_t now = now_mono_ns(), next = UINT64_MAX;
		for (size_t i = 0; i < n; i++)
			active += v[i]->active;
		for (size_t i = 0; i < n; i++) {
			struct img_req *r = v[i];
			if (r->done)
				continue;
			left++;
			if (r->active)
				continue;
			if (r->not_before > now) {
				next = MIN(next, r->not_before);
				continue;
			}
			if (active >= c->o.max_parallel)
				continue;
			req_start(c, r);
			active += r->active;
		}
		if (left == 0) {
			notify_done(v, n);
			return;
		}
		int running = 0;
		curl_multi_perform(c->multi, &running);
		CURLMsg *m;
		int q;
		while ((m = curl_multi_info_read(c->multi, &q))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct img_req *r = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
			req_finish(c, r, m->data.result);
		}
		notify_done(v, n);
		int timeout = 1000;
		if (next != UINT64_MAX) {
			uint64_t ms = next > now ? (next - now) / 1000000 + 1 : 0;
			timeout = (int)MIN((uint64_t)timeout, ms);
		}
		if (active == 0 && next != UINT64_MAX) {
			struct timespec ts = {.tv_sec = timeout / 1000,
					      .tv_nsec = (long)(timeout % 1000) * 1000000};
			nanosleep(&ts, NULL);
		} else if (running > 0) {
			curl_multi_poll(c->multi, NULL, 0, timeout, NULL);
		}
	}
}

int img_run_one(struct img_client *c, struct img_req *r, struct wh_err **err)
{
	struct img_req *v[] = {r};
	img_run(c, v, 1);
	if (r->result < 0) {
		int rc = r->result;
		if (r->err)
			return wh_err_move(err, &r->err);
		return wh_err_set(err, rc, "%s %s", r->method, img_req_url(r));
	}
	return 0;
}

/* Pulls "errors":[{"code","message"}] out of a registry error body. */
static char *registry_error_text(const struct strbuf *body)
{
	yajl_val doc = NULL;
	if (body->len == 0 || json_parse(body->buf, body->len, &doc, NULL) < 0)
		return NULL;
	yajl_val errs = json_get(doc, "errors");
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; errs && YAJL_IS_ARRAY(errs) && i < errs->u.array.len && i < 4; i++) {
		const char *code = NULL, *msg = NULL;
		yajl_val e = errs->u.array.values[i];
		(void)json_get_string_opt(e, "code", "code", &code, NULL);
		(void)json_get_string_opt(e, "message", "message", &msg, NULL);
		strbuf_addf(&sb, "%s%s%s%s", sb.len ? "; " : "", code ? code : "",
			    code && msg ? ": " : "", msg ? msg : "");
	}
	yajl_tree_free(doc);
	return sb.len ? strbuf_detach(&sb, NULL) : NULL;
}

int img_req_status_error(struct img_req *r, struct wh_err **err)
{
	cleanup_free char *text = registry_error_text(&r->body);
	int code = EPROTO;
	if (r->status == 404)
		code = ENOENT;
	else if (r->status == 401 || r->status == 403)
		code = EACCES;
	else if (r->status >= 500)
		code = EIO;
	return wh_err_setx(err, code, "%s %s: HTTP %ld%s%s", r->method, img_req_url(r), r->status,
			   text ? ": " : "", text ? text : "");
}

const char *img_req_host_name(const struct img_req *r)
{
	return r->host->name;
}

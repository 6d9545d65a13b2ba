/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry auth of the client: credentials (explicit, per host, Docker config.json), the auth
 * scheme learnt from a 401's WWW-Authenticate per endpoint, Basic headers, and Bearer tokens
 * fetched from the realm (service, scopes; token or access_token) and cached per scope until
 * they expire.
 */
#include <errno.h>
#include <inttypes.h>

#include "images/internal.h"

#define TOKEN_BODY_MAX (1024 * 1024)
#define TOKEN_DEFAULT_TTL_S 60

static char *dup0(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* ---- credentials and tokens ---- */

static void load_docker_config(struct img_client *c)
{
	if (c->docker_config_read)
		return;
	c->docker_config_read = true;
	cleanup_free char *path = NULL;
	if (c->docker_config) {
		if (!*c->docker_config)
			return;
		path = xstrdup(c->docker_config);
	} else {
		const char *dir = secure_getenv("DOCKER_CONFIG");
		const char *home = secure_getenv("HOME");
		if (dir)
			path = path_join(dir, "config.json");
		else if (home)
			path = xasprintf("%s/.docker/config.json", home);
		else
			return;
	}
	if (read_file(path, 1 << 20, &c->docker_config_json, &c->docker_config_len) < 0)
		c->docker_config_json = NULL;
}

/* Credentials for a registry: the explicit pair, the host config, then config.json. */
int img_host_creds(struct img_client *c, struct img_host_rt *h, const char **ret_user,
		   const char **ret_pass, struct wh_err **err)
{
	if (c->user) {
		*ret_user = c->user;
		*ret_pass = c->pass ? c->pass : "";
		return 1;
	}
	if (!h->creds_known) {
		h->creds_known = true;
		load_docker_config(c);
		if (!h->user && c->docker_config_json) {
			int r = img_docker_config_lookup(c->docker_config_json,
							 c->docker_config_len, h->name, &h->user,
							 &h->pass, err);
			if (r < 0)
				return wh_err_wrap(err, r, "docker config");
		}
	}
	if (!h->user)
		return 0;
	*ret_user = h->user;
	*ret_pass = h->pass ? h->pass : "";
	return 1;
}

static struct auth_state *auth_find(struct img_client *c, const char *authority)
{
	for (size_t i = 0; i < c->n_auths; i++)
		if (streq(c->auths[i].authority, authority))
			return &c->auths[i];
	return NULL;
}

static char *req_scope(const struct img_req *r)
{
	if (!r->repo)
		return xstrdup("");
	if (r->mount_from)
		return xasprintf("repository:%s:pull,push repository:%s:pull", r->repo,
				 r->mount_from);
	return xasprintf("repository:%s:%s", r->repo, r->push ? "pull,push" : "pull");
}

static struct token *token_find(struct img_client *c, const char *key)
{
	uint64_t now = now_mono_ns();
	for (size_t i = 0; i < c->n_tokens; i++)
		if (streq(c->tokens[i].key, key) && c->tokens[i].expires_ns > now)
			return &c->tokens[i];
	return NULL;
}

static void token_forget(struct img_client *c, const char *key)
{
	for (size_t i = 0; i < c->n_tokens; i++)
		if (streq(c->tokens[i].key, key))
			c->tokens[i].expires_ns = 0;
}

static size_t collect_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct strbuf *sb = ud;
	size_t n = size * nmemb;
	if (sb->len + n > TOKEN_BODY_MAX)
		return 0;
	strbuf_add(sb, ptr, n);
	return n;
}

void img_set_tls(CURL *e, const struct img_endpoint_rt *ep)
{
	if (ep->skip_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (ep->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, ep->ca_file);
}

static int token_parse(struct img_client *c, const char *key, const char *realm,
		       struct strbuf *body, struct wh_err **err)
{
	yajl_val doc = NULL;
	const char *tok = NULL;
	int64_t ttl = 0;
	int r = json_parse(body->buf, body->len, &doc, err);
	if (r >= 0)
		r = json_get_string_opt(doc, "token", "token", &tok, err);
	if (r >= 0 && !tok)
		r = json_get_string_opt(doc, "access_token", "access_token", &tok, err);
	if (r >= 0)
		r = json_get_int64_opt(doc, "expires_in", "expires_in", &ttl, err);
	if (r >= 0 && (!tok || !*tok))
		r = wh_err_setx(err, EBADMSG, "no token or access_token in the answer");
	if (r < 0) {
		yajl_tree_free(doc);
		return wh_err_wrap(err, r, "token server '%s'", realm);
	}
	if (ttl <= 0)
		ttl = TOKEN_DEFAULT_TTL_S;
	for (size_t i = 0; i < c->n_tokens; i++) {
		if (streq(c->tokens[i].key, key)) {
			free(c->tokens[i].token);
			c->tokens[i].token = xstrdup(tok);
			c->tokens[i].expires_ns = now_mono_ns() + (uint64_t)ttl * 1000000000ull;
			yajl_tree_free(doc);
			return 0;
		}
	}
	xgrow((void **)&c->tokens, &c->cap_tokens, c->n_tokens + 1, sizeof(*c->tokens));
	c->tokens[c->n_tokens++] = (struct token){
		.key = xstrdup(key),
		.token = xstrdup(tok),
		.expires_ns = now_mono_ns() + (uint64_t)ttl * 1000000000ull,
	};
	yajl_tree_free(doc);
	return 0;
}

static void url_add_param(struct strbuf *u, CURL *e, const char *k, const char *v)
{
	char *esc = curl_easy_escape(e, v, 0);
	strbuf_addf(u, "%c%s=%s", strchr(u->buf, '?') ? '&' : '?', k, esc ? esc : "");
	curl_free(esc);
}

/* GET realm?service=..&scope=.. (Basic with credentials when known); caches the token. */
static int token_fetch(struct img_client *c, struct img_req *r, const struct auth_state *a,
		       const char *scope, const char *key, struct wh_err **err)
{
	/* A handle per fetch: see the note on curl_easy_reset in registry.c. */
	cleanup(curl_easy_cleanupp) CURL *e = curl_easy_init();
	cleanup_strbuf struct strbuf url = STRBUF_INIT, body = STRBUF_INIT;
	const char *user = NULL, *pass = NULL;
	int have = img_host_creds(c, r->host, &user, &pass, err);
	if (have < 0)
		return have;
	if (!e)
		return wh_err_setx(err, ENOMEM, "curl_easy_init failed");
	strbuf_adds(&url, a->realm);
	if (a->service)
		url_add_param(&url, e, "service", a->service);
	cleanup_free char *sc = xstrdup(scope);
	for (char *save = NULL, *s = strtok_r(sc, " ", &save); s; s = strtok_r(NULL, " ", &save))
		url_add_param(&url, e, "scope", s);
	curl_easy_setopt(e, CURLOPT_URL, url.buf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
	img_set_tls(e, img_req_ep(r));
	if (have) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, pass);
	}
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ebuf);
	CURLcode cc = curl_easy_perform(e);
	c->stats.requests++;
	if (cc != CURLE_OK)
		return wh_err_setx(err, EIO, "token server '%s': %s", a->realm,
				   *ebuf ? ebuf : curl_easy_strerror(cc));
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (status == 401 || status == 403) {
		if (have)
			return wh_err_setx(err, EACCES,
					   "token server '%s' refused the credentials of user '%s' "
					   "(HTTP %ld)",
					   a->realm, user, status);
		return wh_err_setx(err, EACCES,
				   "token server '%s' refused anonymous access to '%s' (HTTP %ld); "
				   "give credentials",
				   a->realm, scope, status);
	}
	if (status != 200)
		return wh_err_setx(err, EPROTO, "token server '%s': unexpected HTTP %ld", a->realm,
				   status);
	c->stats.tokens++;
	return token_parse(c, key, a->realm, &body, err);
}

/* The Authorization header for r's next attempt, or NULL (anonymous). */
int img_req_auth_header(struct img_client *c, struct img_req *r, char **ret, struct wh_err **err)
{
	*ret = NULL;
	struct auth_state *a = auth_find(c, img_req_ep(r)->authority);
	if (!a)
		return 0;
	if (streq(a->scheme, "basic")) {
		const char *user = NULL, *pass = NULL;
		int have = img_host_creds(c, r->host, &user, &pass, err);
		if (have <= 0)
			return have;
		cleanup_free char *up = xasprintf("%s:%s", user, pass);
		cleanup_free char *b64 = img_base64_encode(up, strlen(up));
		*ret = xasprintf("Authorization: Basic %s", b64);
		return 0;
	}
	cleanup_free char *scope = req_scope(r);
	cleanup_free char *key =
		xasprintf("%s\n%s\n%s", a->realm, a->service ? a->service : "", scope);
	struct token *t = token_find(c, key);
	if (!t) {
		int rc = token_fetch(c, r, a, scope, key, err);
		if (rc < 0)
			return rc;
		t = token_find(c, key);
		if (!t)
			return wh_err_setx(err, EPROTO, "token server '%s': token already expired",
					   a->realm);
	}
	*ret = xasprintf("Authorization: Bearer %s", t->token);
	return 0;
}

void img_forget_req_token(struct img_client *c, struct img_req *r)
{
	struct auth_state *a = auth_find(c, img_req_ep(r)->authority);
	if (!a || !streq(a->scheme, "bearer"))
		return;
	cleanup_free char *scope = req_scope(r);
	cleanup_free char *key =
		xasprintf("%s\n%s\n%s", a->realm, a->service ? a->service : "", scope);
	token_forget(c, key);
}

/* Learns the auth scheme from a 401's WWW-Authenticate. */
int img_auth_learn(struct img_client *c, struct img_req *r, struct wh_err **err)
{
	if (!r->www_auth)
		return wh_err_setx(err, EACCES, "%s %s: HTTP 401 without a WWW-Authenticate header",
				   r->method, img_req_url(r));
	struct img_challenge *ch = NULL;
	size_t n = 0;
	int rc = img_challenges_parse(r->www_auth, &ch, &n, err);
	if (rc < 0)
		return wh_err_wrap(err, rc, "%s %s", r->method, img_req_url(r));
	const struct img_challenge *pick = NULL;
	for (size_t i = 0; i < n; i++)
		if (streq(ch[i].scheme, "bearer") && ch[i].realm)
			pick = &ch[i];
	for (size_t i = 0; !pick && i < n; i++)
		if (streq(ch[i].scheme, "basic"))
			pick = &ch[i];
	if (!pick) {
		img_challenges_free(ch, n);
		return wh_err_setx(err, ENOTSUP, "%s: unsupported auth challenge '%s'",
				   img_req_ep(r)->authority, r->www_auth);
	}
	struct auth_state *a = auth_find(c, img_req_ep(r)->authority);
	if (!a) {
		xgrow((void **)&c->auths, &c->cap_auths, c->n_auths + 1, sizeof(*c->auths));
		a = &c->auths[c->n_auths++];
		*a = (struct auth_state){.authority = xstrdup(img_req_ep(r)->authority)};
	}
	free(a->scheme);
	free(a->realm);
	free(a->service);
	a->scheme = xstrdup(pick->scheme);
	a->realm = dup0(pick->realm);
	a->service = dup0(pick->service);
	img_challenges_free(ch, n);
	if (streq(a->scheme, "basic")) {
		const char *u = NULL, *p = NULL;
		rc = img_host_creds(c, r->host, &u, &p, err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return wh_err_setx(
				err, EACCES,
				"'%s' requires authentication (Basic) and no credentials "
				"are configured for it",
				r->host->name);
	}
	return 0;
}

const char *img_auth_bearer_realm(struct img_client *c, const struct img_req *r)
{
	struct auth_state *a = auth_find(c, img_req_ep(r)->authority);
	return a && streq(a->scheme, "bearer") ? a->realm : NULL;
}

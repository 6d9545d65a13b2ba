/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry auth inputs: WWW-Authenticate challenge parsing (RFC 7235 auth-params, several
 * challenges per header) and credentials from a Docker config.json "auths" map.
 */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>

#include "common/common.h"
#include "images/images.h"
#include "images/internal.h"

#define MAX_CHALLENGES 16

static bool is_tchar(char c)
{
	return c && (isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Reads a token or a quoted-string at *pp into a new string. */
static int read_value(const char **pp, char **ret)
{
	const char *p = *pp;
	struct strbuf sb = STRBUF_INIT;
	if (*p == '"') {
		p++;
		for (; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			strbuf_addc(&sb, *p);
		}
		if (*p != '"') {
			strbuf_release(&sb);
			return -EBADMSG;
		}
		p++;
	} else {
		const char *s = p;
		while (*p && (is_tchar(*p) || *p == '/' || *p == ':' || *p == '='))
			p++;
		strbuf_add(&sb, s, (size_t)(p - s));
	}
	*pp = p;
	*ret = strbuf_detach(&sb, NULL);
	return 0;
}

static void set_param(struct img_challenge *c, const char *key, char *value)
{
	char **slot = NULL;
	if (strcasecmp(key, "realm") == 0)
		slot = &c->realm;
	else if (strcasecmp(key, "service") == 0)
		slot = &c->service;
	else if (strcasecmp(key, "scope") == 0)
		slot = &c->scope;
	else if (strcasecmp(key, "error") == 0)
		slot = &c->error;
	if (!slot) {
		free(value);
		return;
	}
	free(*slot);
	*slot = value;
}

/* Parses "key=value" at *pp. Returns 1 when one was read, 0 when *pp starts a new scheme. */
static int read_param(const char **pp, struct img_challenge *c)
{
	const char *p = skip_ws(*pp);
	const char *k = p;
	while (is_tchar(*p))
		p++;
	if (p == k)
		return -EBADMSG;
	cleanup_free char *key = xstrndup(k, (size_t)(p - k));
	const char *q = skip_ws(p);
	if (*q != '=')
		return 0; /* a bare token: the next challenge's scheme */
	q = skip_ws(q + 1);
	char *value = NULL;
	if (read_value(&q, &value) < 0)
		return -EBADMSG;
	set_param(c, key, value);
	*pp = q;
	return 1;
}

static int parse_one(const char **pp, struct img_challenge *c)
{
	const char *p = skip_ws(*pp);
	const char *s = p;
	while (is_tchar(*p))
		p++;
	if (p == s)
		return -EBADMSG;
	c->scheme = xstrndup(s, (size_t)(p - s));
	for (char *q = c->scheme; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	p = skip_ws(p);
	for (;;) {
		if (!*p)
			break;
		const char *save = p;
		int r = read_param(&p, c);
		if (r < 0)
			return r;
		if (r == 0) {
			p = save;
			break;
		}
		p = skip_ws(p);
		if (*p == ',')
			p = skip_ws(p + 1);
		else if (*p)
			return -EBADMSG;
	}
	*pp = p;
	return 0;
}

int img_challenges_parse(const char *header, struct img_challenge **ret, size_t *ret_n,
			 struct wh_err **err)
{
	struct img_challenge *v = NULL;
	size_t n = 0, cap = 0;
	const char *p = skip_ws(header);
	int r = 0;
	while (*p) {
		if (n == MAX_CHALLENGES) {
			r = wh_err_setx(err, E2BIG, "WWW-Authenticate: more than %d challenges",
					MAX_CHALLENGES);
			goto fail;
		}
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		v[n] = (struct img_challenge){0};
		r = parse_one(&p, &v[n++]);
		if (r < 0) {
			r = wh_err_setx(err, EBADMSG, "malformed WWW-Authenticate header '%s'",
					header);
			goto fail;
		}
		p = skip_ws(p);
	}
	if (n == 0) {
		r = wh_err_setx(err, EBADMSG, "empty WWW-Authenticate header");
		goto fail;
	}
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	img_challenges_free(v, n);
	return r;
}

void img_challenges_free(struct img_challenge *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].scheme);
		free(c[i].realm);
		free(c[i].service);
		free(c[i].scope);
		free(c[i].error);
	}
	free(c);
}

char *img_base64_encode(const void *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

int img_base64_decode(const char *s, char **ret, size_t *ret_len)
{
	size_t len = strlen(s);
	if (len % 4 != 0 || len > (1 << 20))
		return -EINVAL;
	unsigned char *out = xmalloc(len / 4 * 3 + 1);
	int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
	if (n < 0) {
		free(out);
		return -EINVAL;
	}
	/* EVP_DecodeBlock counts the padding as data. */
	if (len >= 1 && s[len - 1] == '=')
		n--;
	if (len >= 2 && s[len - 2] == '=')
		n--;
	out[n] = 0;
	*ret = (char *)out;
	*ret_len = (size_t)n;
	return 0;
}

/* "https://host/v1/" -> "host"; "host" stays. */
static char *auth_key_host(const char *key)
{
	const char *p = key;
	if (str_startswith(p, "https://"))
		p += 8;
	else if (str_startswith(p, "http://"))
		p += 7;
	size_t n = strcspn(p, "/");
	return xstrndup(p, n);
}

static bool key_matches(const char *key, const char *host)
{
	cleanup_free char *h = auth_key_host(key);
	if (streq(h, host))
		return true;
	return streq(host, "docker.io") &&
	       (streq(h, "index.docker.io") || streq(h, "registry-1.docker.io"));
}

static int entry_creds(yajl_val e, const char *key, char **ret_user, char **ret_pass,
		       struct wh_err **err)
{
	const char *auth = NULL, *user = NULL, *pass = NULL;
	cleanup_free char *f = xasprintf("auths.%s", key);
	int r = json_get_string_opt(e, "auth", f, &auth, err);
	if (r >= 0)
		r = json_get_string_opt(e, "username", f, &user, err);
	if (r >= 0)
		r = json_get_string_opt(e, "password", f, &pass, err);
	if (r < 0)
		return r;
	if (auth && *auth) {
		cleanup_free char *dec = NULL;
		size_t len = 0;
		if (img_base64_decode(auth, &dec, &len) < 0 || memchr(dec, 0, len))
			return wh_err_setx(err, EBADMSG, "%s.auth: invalid base64", f);
		char *colon = strchr(dec, ':');
		if (!colon)
			return wh_err_setx(err, EBADMSG, "%s.auth: not 'user:password'", f);
		*ret_user = xstrndup(dec, (size_t)(colon - dec));
		*ret_pass = xstrdup(colon + 1);
		return 1;
	}
	if (user && pass) {
		*ret_user = xstrdup(user);
		*ret_pass = xstrdup(pass);
		return 1;
	}
	return 0;
}

int img_docker_config_lookup(const char *json, size_t len, const char *host, char **ret_user,
			     char **ret_pass, struct wh_err **err)
{
	yajl_val doc = NULL;
	int r = json_parse(json, len, &doc, err);
	if (r < 0)
		return r;
	yajl_val auths = json_get(doc, "auths");
	r = json_expect_object(doc, "config", err);
	if (r >= 0)
		r = json_expect_object(auths, "auths", err);
	if (r < 0 || !auths)
		goto out;
	r = 0;
	for (size_t i = 0; i < auths->u.object.len && r == 0; i++) {
		const char *key = auths->u.object.keys[i];
		if (!key_matches(key, host))
			continue;
		cleanup_free char *f = xasprintf("auths.%s", key);
		r = json_expect_object(auths->u.object.values[i], f, err);
		if (r >= 0)
			r = entry_creds(auths->u.object.values[i], key, ret_user, ret_pass, err);
	}
out:
	yajl_tree_free(doc);
	return r;
}

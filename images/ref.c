/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references: parsing and docker-style normalization ("busybox" ->
 * "docker.io/library/busybox:latest"), following the grammar of the distribution reference
 * package: [domain/]path[:tag][@digest].
 */
#include <ctype.h>
#include <errno.h>

#include "common/common.h"
#include "images/images.h"

#define NAME_MAX_LEN 255

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool component_is_valid(const char *s, size_t len)
{
	size_t i = 0;
	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	while (i < len) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < len && !is_lower_alnum(s[j]))
			j++;
		size_t n = j - i;
		bool ok = false;
		if (n == 1 && (s[i] == '.' || s[i] == '_' || s[i] == '-'))
			ok = true;
		else if (n == 2 && s[i] == '_' && s[i + 1] == '_')
			ok = true;
		else if (strspn(s + i, "-") >= n)
			ok = true;
		if (!ok)
			return false;
		i = j;
	}
	return true;
}

/* host[:port]: DNS labels of [A-Za-z0-9-] separated by dots, or [IPv6]. */
static bool domain_is_valid(const char *s, size_t len)
{
	size_t i = 0;
	if (len == 0)
		return false;
	if (s[0] == '[') {
		const char *end = memchr(s, ']', len);
		if (!end || end == s + 1)
			return false;
		for (const char *p = s + 1; p < end; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return false;
		i = (size_t)(end - s) + 1;
	} else {
		size_t label = 0;
		for (; i < len && s[i] != ':'; i++) {
			char c = s[i];
			if (isalnum((unsigned char)c)) {
				label++;
			} else if (c == '-' && label > 0) {
				label++;
			} else if (c == '.' && label > 0 && s[i - 1] != '-') {
				label = 0;
			} else {
				return false;
			}
		}
		if (label == 0 || s[i - 1] == '-')
			return false;
	}
	if (i == len)
		return true;
	if (s[i] != ':' || i + 1 == len || len - i - 1 > 5)
		return false;
	for (size_t j = i + 1; j < len; j++)
		if (!isdigit((unsigned char)s[j]))
			return false;
	return true;
}

bool img_tag_is_valid(const char *tag)
{
	size_t len = strlen(tag);
	if (len == 0 || len > 128)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = tag[i];
		bool w = isalnum((unsigned char)c) || c == '_';
		if (!w && (i == 0 || (c != '.' && c != '-')))
			return false;
	}
	return true;
}

/* Docker's rule: the first component is a domain when it has a '.' or ':' or is "localhost". */
static bool looks_like_domain(const char *s, size_t len)
{
	if (len == 9 && strncmp(s, "localhost", 9) == 0)
		return true;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '.' || s[i] == ':' || s[i] == '[' || (s[i] >= 'A' && s[i] <= 'Z'))
			return true;
	return false;
}

static int check_path(const char *in, const char *path, struct wh_err **err)
{
	const char *p = path;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0)
			return wh_err_setx(err, EINVAL,
					   "invalid reference '%s': empty path component", in);
		for (size_t i = 0; i < len; i++)
			if (p[i] >= 'A' && p[i] <= 'Z')
				return wh_err_setx(
					err, EINVAL,
					"invalid reference '%s': repository name must be lowercase",
					in);
		if (!component_is_valid(p, len))
			return wh_err_setx(err, EINVAL,
					   "invalid reference '%s': invalid path component '%.*s'",
					   in, (int)len, p);
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

static int split_digest(const char *in, char *name, struct img_ref *r, struct wh_err **err)
{
	char *at = strchr(name, '@');
	if (!at)
		return 0;
	*at = 0;
	const char *d = at + 1;
	if (!str_startswith(d, "sha256:")) {
		const char *colon = strchr(d, ':');
		if (colon && colon != d)
			return wh_err_setx(
				err, EINVAL,
				"invalid reference '%s': unsupported digest algorithm '%.*s'", in,
				(int)(colon - d), d);
		return wh_err_setx(err, EINVAL, "invalid reference '%s': invalid digest '%s'", in,
				   d);
	}
	if (!digest_is_valid(d))
		return wh_err_setx(
			err, EINVAL,
			"invalid reference '%s': invalid digest '%s' (want sha256: and 64 "
			"lowercase hex digits)",
			in, d);
	r->digest = xstrdup(d);
	return 0;
}

static int split_tag(const char *in, char *name, struct img_ref *r, struct wh_err **err)
{
	char *colon = strrchr(name, ':');
	char *slash = strrchr(name, '/');
	if (!colon || (slash && colon < slash))
		return 0;
	*colon = 0;
	if (!img_tag_is_valid(colon + 1))
		return wh_err_setx(err, EINVAL, "invalid reference '%s': invalid tag '%s'", in,
				   colon + 1);
	r->tag = xstrdup(colon + 1);
	return 0;
}

static int parse(const char *in, struct img_ref *r, struct wh_err **err)
{
	if (!*in)
		return wh_err_setx(err, EINVAL, "invalid reference '': empty");
	for (const char *p = in; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return wh_err_setx(
				err, EINVAL,
				"invalid reference '%s': contains whitespace or a control "
				"or non-ASCII character",
				in);
	cleanup_free char *name = xstrdup(in);
	int rc = split_digest(in, name, r, err);
	if (rc < 0)
		return rc;
	rc = split_tag(in, name, r, err);
	if (rc < 0)
		return rc;
	if (!*name)
		return wh_err_setx(err, EINVAL, "invalid reference '%s': missing repository name",
				   in);
	if (strlen(name) > NAME_MAX_LEN)
		return wh_err_setx(
			err, EINVAL,
			"invalid reference '%s': repository name longer than %d characters", in,
			NAME_MAX_LEN);
	char *slash = strchr(name, '/');
	if (slash && looks_like_domain(name, (size_t)(slash - name))) {
		if (!domain_is_valid(name, (size_t)(slash - name)))
			return wh_err_setx(err, EINVAL,
					   "invalid reference '%s': invalid domain '%.*s'", in,
					   (int)(slash - name), name);
		r->domain = xstrndup(name, (size_t)(slash - name));
		r->path = xstrdup(slash + 1);
	} else {
		r->domain = xstrdup(IMG_DEFAULT_DOMAIN);
		r->path = xstrdup(name);
	}
	if (streq(r->domain, "index.docker.io")) {
		free(r->domain);
		r->domain = xstrdup(IMG_DEFAULT_DOMAIN);
	}
	rc = check_path(in, r->path, err);
	if (rc < 0)
		return rc;
	if (streq(r->domain, IMG_DEFAULT_DOMAIN) && !strchr(r->path, '/')) {
		char *p = xasprintf("library/%s", r->path);
		free(r->path);
		r->path = p;
	}
	/* The bound applies to the normalized name too, as docker's does. */
	if (strlen(r->domain) + 1 + strlen(r->path) > NAME_MAX_LEN)
		return wh_err_setx(
			err, EINVAL,
			"invalid reference '%s': repository name longer than %d characters", in,
			NAME_MAX_LEN);
	if (!r->tag && !r->digest)
		r->tag = xstrdup(IMG_DEFAULT_TAG);
	return 0;
}

int img_ref_parse(const char *s, struct img_ref *ret, struct wh_err **err)
{
	struct img_ref r = {0};
	int rc = parse(s, &r, err);
	if (rc < 0) {
		img_ref_release(&r);
		return rc;
	}
	*ret = r;
	return 0;
}

void img_ref_release(struct img_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	*r = (struct img_ref){0};
}

char *img_ref_string(const struct img_ref *r)
{
	return xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "",
			 r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}

char *img_ref_name(const struct img_ref *r)
{
	return xasprintf("%s/%s", r->domain, r->path);
}

const char *img_ref_object(const struct img_ref *r)
{
	return r->digest ? r->digest : r->tag;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* JSON reading and writing over yajl, with field-naming errors and a depth bound. */
#include "common/json.h"

#include <errno.h>
#include <inttypes.h>

#include "common/err.h"
#include "common/fs.h"
#include "common/util.h"

/* yajl's tree parser recurses without a limit; refuse deep nesting before handing it over. */
static int check_depth(const char *s, size_t len)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[') {
			if (++depth > JSON_MAX_DEPTH)
				return -ELOOP;
		} else if (c == '}' || c == ']')
			depth--;
	}
	return 0;
}

int json_parse(const char *text, size_t len, yajl_val *ret, struct wh_err **err)
{
	char ebuf[256] = "";
	if (check_depth(text, len) < 0)
		return wh_err_setx(err, EBADMSG, "invalid JSON: nesting deeper than %d",
				   JSON_MAX_DEPTH);
	if (memchr(text, 0, len))
		return wh_err_setx(err, EBADMSG, "invalid JSON: NUL byte in input");
	cleanup_free char *copy = xstrndup(text, len);
	yajl_val v = yajl_tree_parse(copy, ebuf, sizeof(ebuf));
	if (!v) {
		/* yajl's message spans lines; keep the first. */
		char *nl = strchr(ebuf, '\n');
		if (nl)
			*nl = 0;
		return wh_err_setx(err, EBADMSG, "invalid JSON: %s", *ebuf ? ebuf : "parse error");
	}
	*ret = v;
	return 0;
}

int json_parse_file(const char *path, size_t max, yajl_val *ret, struct wh_err **err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = read_file(path, max, &buf, &len);
	if (r == -EFBIG)
		return wh_err_setx(err, EFBIG, "read '%s': larger than %zu bytes", path, max);
	if (r < 0)
		return wh_err_set(err, r, "read '%s'", path);
	r = json_parse(buf, len, ret, err);
	if (r < 0)
		return wh_err_wrap(err, r, "parse '%s'", path);
	return 0;
}

yajl_val json_get(yajl_val obj, const char *key)
{
	if (!obj || !YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (streq(obj->u.object.keys[i], key))
			return YAJL_IS_NULL(obj->u.object.values[i]) ? NULL
								     : obj->u.object.values[i];
	return NULL;
}

int json_string(yajl_val v, const char *field, const char **ret, struct wh_err **err)
{
	if (!v)
		return wh_err_setx(err, EINVAL, "%s: missing", field);
	if (!YAJL_IS_STRING(v))
		return wh_err_setx(err, EINVAL, "%s: expected a string", field);
	*ret = v->u.string;
	return 0;
}

int json_get_string(yajl_val obj, const char *key, const char *field, const char **ret,
		    struct wh_err **err)
{
	return json_string(json_get(obj, key), field, ret, err);
}

int json_get_string_opt(yajl_val obj, const char *key, const char *field, const char **ret,
			struct wh_err **err)
{
	yajl_val v = json_get(obj, key);
	if (!v)
		return 0;
	return json_string(v, field, ret, err);
}

int json_int64(yajl_val v, const char *field, int64_t *ret, struct wh_err **err)
{
	if (!v)
		return wh_err_setx(err, EINVAL, "%s: missing", field);
	if (!YAJL_IS_INTEGER(v))
		return wh_err_setx(err, EINVAL, "%s: expected an integer", field);
	*ret = YAJL_GET_INTEGER(v);
	return 0;
}

int json_get_int64_opt(yajl_val obj, const char *key, const char *field, int64_t *ret,
		       struct wh_err **err)
{
	yajl_val v = json_get(obj, key);
	if (!v)
		return 0;
	return json_int64(v, field, ret, err);
}

int json_uint64(yajl_val v, const char *field, uint64_t *ret, struct wh_err **err)
{
	if (!v)
		return wh_err_setx(err, EINVAL, "%s: missing", field);
	/* yajl parses into long long; numbers above INT64_MAX arrive as doubles only. */
	if (YAJL_IS_INTEGER(v)) {
		if (YAJL_GET_INTEGER(v) < 0)
			return wh_err_setx(err, EINVAL, "%s: must not be negative", field);
		*ret = (uint64_t)YAJL_GET_INTEGER(v);
		return 0;
	}
	if (YAJL_IS_NUMBER(v) && v->u.number.r) {
		uint64_t u;
		if (parse_u64(v->u.number.r, &u) == 0) {
			*ret = u;
			return 0;
		}
	}
	return wh_err_setx(err, EINVAL, "%s: expected an unsigned integer", field);
}

int json_get_uint64_opt(yajl_val obj, const char *key, const char *field, uint64_t *ret,
			struct wh_err **err)
{
	yajl_val v = json_get(obj, key);
	if (!v)
		return 0;
	return json_uint64(v, field, ret, err);
}

int json_get_bool_opt(yajl_val obj, const char *key, const char *field, bool *ret,
		      struct wh_err **err)
{
	yajl_val v = json_get(obj, key);
	if (!v)
		return 0;
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return wh_err_setx(err, EINVAL, "%s: expected a boolean", field);
	*ret = YAJL_IS_TRUE(v);
	return 0;
}

int json_get_strv_opt(yajl_val obj, const char *key, const char *field, char ***ret,
		      struct wh_err **err)
{
	yajl_val v = json_get(obj, key);
	if (!v)
		return 0;
	if (!YAJL_IS_ARRAY(v))
		return wh_err_setx(err, EINVAL, "%s: expected an array of strings", field);
	char **l = xnew0(char *, v->u.array.len + 1);
	for (size_t i = 0; i < v->u.array.len; i++) {
		yajl_val e = v->u.array.values[i];
		if (!YAJL_IS_STRING(e)) {
			strv_free(l);
			return wh_err_setx(err, EINVAL, "%s[%zu]: expected a string", field, i);
		}
		l[i] = xstrdup(e->u.string);
	}
	strv_free(*ret);
	*ret = l;
	return 0;
}

int json_expect_object(yajl_val v, const char *field, struct wh_err **err)
{
	if (v && !YAJL_IS_OBJECT(v))
		return wh_err_setx(err, EINVAL, "%s: expected an object", field);
	return 0;
}

int json_expect_array(yajl_val v, const char *field, struct wh_err **err)
{
	if (v && !YAJL_IS_ARRAY(v))
		return wh_err_setx(err, EINVAL, "%s: expected an array", field);
	return 0;
}

yajl_gen json_gen_new(bool pretty)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	if (!g)
		BUG("yajl_gen_alloc");
	yajl_gen_config(g, yajl_gen_beautify, pretty ? 1 : 0);
	yajl_gen_config(g, yajl_gen_validate_utf8, 0);
	return g;
}

char *json_gen_finish(yajl_gen g, size_t *ret_len)
{
	const unsigned char *buf = NULL;
	size_t len = 0;
	yajl_gen_get_buf(g, &buf, &len);
	char *r = xstrndup((const char *)buf, len);
	yajl_gen_free(g);
	if (ret_len)
		*ret_len = len;
	return r;
}

void json_gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

void json_gen_kv_str(yajl_gen g, const char *key, const char *value)
{
	json_gen_str(g, key);
	json_gen_str(g, value);
}

void json_gen_kv_int(yajl_gen g, const char *key, int64_t value)
{
	json_gen_str(g, key);
	yajl_gen_integer(g, value);
}

void json_gen_kv_bool(yajl_gen g, const char *key, bool value)
{
	json_gen_str(g, key);
	yajl_gen_bool(g, value);
}

void json_gen_value(yajl_gen g, yajl_val v)
{
	if (!v || YAJL_IS_NULL(v)) {
		yajl_gen_null(g);
	} else if (YAJL_IS_STRING(v)) {
		json_gen_str(g, v->u.string);
	} else if (YAJL_IS_NUMBER(v)) {
		yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, YAJL_IS_TRUE(v));
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			json_gen_str(g, v->u.object.keys[i]);
			json_gen_value(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			json_gen_value(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	}
}

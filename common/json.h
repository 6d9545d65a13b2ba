/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON over yajl. Reading uses yajl's tree (yajl_val); errors name the field by its path
 * ("process.args[0]: expected a string"). Writing wraps yajl_gen. Input from peers is bounded:
 * JSON_MAX_DEPTH levels of nesting and the caller's size limit.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

struct wh_err;

#define JSON_MAX_DEPTH 64

/* Parses text (len bytes; need not be NUL-terminated). -EBADMSG with yajl's message (or a
 * depth error) on malformed input. *ret is freed with yajl_tree_free. */
int json_parse(const char *text, size_t len, yajl_val *ret, struct wh_err **err);
/* Reads and parses a file of at most max bytes. */
int json_parse_file(const char *path, size_t max, yajl_val *ret, struct wh_err **err);

/* Object member by key, or NULL when absent (or v is not an object). */
yajl_val json_get(yajl_val obj, const char *key);

/*
 * Typed accessors. `field` is the path used in error messages. A JSON null counts as absent.
 * The *_opt variants leave *ret untouched and return 0 when the member is absent;
 * the plain variants fail with -EINVAL "<field>: missing".
 */
int json_string(yajl_val v, const char *field, const char **ret, struct wh_err **err);
int json_get_string(yajl_val obj, const char *key, const char *field, const char **ret,
		    struct wh_err **err);
int json_get_string_opt(yajl_val obj, const char *key, const char *field, const char **ret,
			struct wh_err **err);
int json_int64(yajl_val v, const char *field, int64_t *ret, struct wh_err **err);
int json_get_int64_opt(yajl_val obj, const char *key, const char *field, int64_t *ret,
		       struct wh_err **err);
int json_uint64(yajl_val v, const char *field, uint64_t *ret, struct wh_err **err);
int json_get_uint64_opt(yajl_val obj, const char *key, const char *field, uint64_t *ret,
			struct wh_err **err);
int json_get_bool_opt(yajl_val obj, const char *key, const char *field, bool *ret,
		      struct wh_err **err);
/* Arrays of strings into a NULL-terminated strv (caller frees with strv_free). */
int json_get_strv_opt(yajl_val obj, const char *key, const char *field, char ***ret,
		      struct wh_err **err);
/* Checks that v is an object / array (absent is fine); names field on error. */
int json_expect_object(yajl_val v, const char *field, struct wh_err **err);
int json_expect_array(yajl_val v, const char *field, struct wh_err **err);

/* ---- writing ---- */
yajl_gen json_gen_new(bool pretty);
/* Copies the generated text out (NUL-terminated), then frees the generator. */
char *json_gen_finish(yajl_gen g, size_t *ret_len);
void json_gen_str(yajl_gen g, const char *s);
void json_gen_kv_str(yajl_gen g, const char *key, const char *value);
void json_gen_kv_int(yajl_gen g, const char *key, int64_t value);
void json_gen_kv_bool(yajl_gen g, const char *key, bool value);
/* Writes a parsed value back (for pass-through of unknown subtrees). */
void json_gen_value(yajl_gen g, yajl_val v);

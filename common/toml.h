/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A strict TOML 1.0 subset parser for wharf's config.toml (containerd-like sections), into a tree
 * that is queried by dotted path.
 *
 * Accepted: comments; tables [a.b] and arrays of tables [[a.b]]; bare, "basic" and 'literal' keys,
 * dotted keys; basic and literal strings, single- and multi-line, with all TOML escapes; integers
 * (decimal with sign and '_', 0x/0o/0b); floats (fraction, exponent, inf, nan); booleans; arrays
 * (nested, multi-line, trailing comma); inline tables. Refused with a message: dates and times,
 * NUL characters in strings, invalid UTF-8, duplicate keys, tables defined twice, and every other
 * breach of TOML 1.0. Nesting of arrays and inline tables, and the parts of a dotted key, are
 * capped at TOML_MAX_DEPTH.
 *
 * Errors read "<name>:<line>:<column>: <what>" ("config.toml:12:5: expected '=' after a key");
 * lines and columns count from 1, columns in characters.
 *
 * Ownership: a struct toml_doc owns every value in it; values, keys and strings handed out are
 * borrowed and live until toml_doc_free(). The tree is read-only after parsing.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wh_err;

#define TOML_MAX_DEPTH 64

enum toml_type {
	TOML_TABLE,
	TOML_ARRAY,
	TOML_STRING,
	TOML_INT,
	TOML_FLOAT,
	TOML_BOOL,
	_TOML_TYPE_MAX,
};

struct toml_doc;   /* opaque: the parsed document */
struct toml_value; /* opaque: one node of the tree */

/*
 * Parses len bytes of text (no NUL needed). name is used in error messages (a file name).
 * -EBADMSG on malformed input, with "<name>:<line>:<col>: <what>" in *err.
 */
int toml_parse(const char *text, size_t len, const char *name, struct toml_doc **ret,
	       struct wh_err **err);
/* Reads and parses a file of at most max bytes (-EFBIG beyond); messages name the path. */
int toml_parse_file(const char *path, size_t max, struct toml_doc **ret, struct wh_err **err);
/* NULL-safe; returns NULL. */
struct toml_doc *toml_doc_free(struct toml_doc *doc);
/* The root table. */
const struct toml_value *toml_doc_root(const struct toml_doc *doc);
/* The name given to toml_parse (the path for toml_parse_file). */
const char *toml_doc_name(const struct toml_doc *doc);

/* ---- values ---- */
enum toml_type toml_type(const struct toml_value *v);
/* "table", "array", "string", "integer", "float", "boolean". */
const char *toml_type_name(enum toml_type t);
/* Where the value starts in the document (a table: its header, or the root's 1:1). */
unsigned toml_line(const struct toml_value *v);
unsigned toml_column(const struct toml_value *v);
/* The dotted path from the root, keys quoted where needed ("plugins.\"io.x\".a[2]"); caller frees.
 */
char *toml_path(const struct toml_value *v);

/* Scalars; the value must be of that type (a programmer error otherwise: BUG). */
const char *toml_string(const struct toml_value *v);
int64_t toml_int(const struct toml_value *v);
double toml_float(const struct toml_value *v);
bool toml_bool(const struct toml_value *v);

/* Arrays: element count and element i (NULL past the end). Arrays of tables are arrays too. */
size_t toml_array_len(const struct toml_value *arr);
const struct toml_value *toml_array_at(const struct toml_value *arr, size_t i);

/* Tables: keys in document order. Iterate with i < toml_table_len(t). */
size_t toml_table_len(const struct toml_value *t);
const char *toml_table_key(const struct toml_value *t, size_t i);
const struct toml_value *toml_table_value(const struct toml_value *t, size_t i);
/* The member named key (one key, dots are literal), or NULL. */
const struct toml_value *toml_table_get(const struct toml_value *t, const char *key);

/*
 * Looks up a dotted path below table t, written as TOML keys:
 * `plugins."io.containerd.grpc.v1.cri".containerd.snapshotter`. NULL when absent, when a step is
 * not a table, or when path is not a valid key.
 */
const struct toml_value *toml_get(const struct toml_value *t, const char *path);

/*
 * Typed lookups by dotted path. Return 1 and set *ret when present, 0 (and leave *ret alone) when
 * absent, -EINVAL when present with another type, with "<name>:<line>:<col>: '<path>': expected a
 * string, got integer" in *err. toml_get_float accepts integers too. toml_get_strv wants an array
 * of strings and returns a copy (caller frees with strv_free) in place of *ret, freeing the old.
 * t may be NULL (absent), so that lookups chain: toml_get_table(root, "grpc", &g, err) then
 * toml_get_string(g, "address", &addr, err).
 */
int toml_get_table(const struct toml_value *t, const char *path, const struct toml_value **ret,
		   struct wh_err **err);
int toml_get_array(const struct toml_value *t, const char *path, const struct toml_value **ret,
		   struct wh_err **err);
int toml_get_string(const struct toml_value *t, const char *path, const char **ret,
		    struct wh_err **err);
int toml_get_int(const struct toml_value *t, const char *path, int64_t *ret, struct wh_err **err);
int toml_get_float(const struct toml_value *t, const char *path, double *ret, struct wh_err **err);
int toml_get_bool(const struct toml_value *t, const char *path, bool *ret, struct wh_err **err);
int toml_get_strv(const struct toml_value *t, const char *path, char ***ret, struct wh_err **err);

/*
 * Sets *err to "<name>:<line>:<col>: '<path of v>': <fmt...>" (no strerror) and returns -code: for
 * callers that find a semantic problem in a value ("unknown key", "must be positive").
 */
__attribute__((cold, format(printf, 4, 5))) int
toml_value_error(const struct toml_value *v, struct wh_err **err, int code, const char *fmt, ...);

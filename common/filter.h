/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containerd's filter syntax for list calls (containerd filters/parser.go), shared by content,
 * metadata and the snapshotters.
 *
 *   filter    := selectors ("|" selectors)*       (the "|" alternative is a wharf extension)
 *   selectors := selector ("," selector)*          (AND)
 *   selector  := fieldpath [operator value]        (no operator: the field is present)
 *   fieldpath := field ("." field)*
 *   field     := "quoted" | [A-Za-z0-9_]+
 *   operator  := "==" | "!=" | "~="                (~= is a RE2-syntax regex (PCRE2), unanchored)
 *   value     := "quoted" | [^\s,]+                (after ~=, /re/ and |re| quote too)
 *
 * As in containerd an unquoted value runs to ',' or a space and may contain '|' (name~=a|b is
 * one regex), so an OR after an unquoted value needs a space: labels.a==x | labels.a==y.
 * Quoted strings follow Go's syntax (\n, \t, \\, \", \xHH, \uHHHH, \NNN octal ...). Several
 * filter strings given together (filter_parse_all, containerd's ParseAll) match when any
 * matches. An empty string matches everything. As in containerd, "!=" is true for an absent
 * field and "~=" false. Parse errors are -EINVAL with containerd's message that marks the
 * position: "filters: parse error: [labels.a >|=|< b]: expected an operator (...)".
 *
 * Matching calls a field-lookup callback: the object under test maps a field path to a value.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct wh_err;
struct filter; /* opaque, immutable once parsed; safe to share between threads */

/*
 * Looks up the field path (n >= 1 components, e.g. {"labels", "k"}) of the object in userdata.
 * Returns true when the field is present and sets *ret_value (borrowed, NUL-terminated).
 */
typedef bool filter_field_fn(void *userdata, const char *const *path, size_t n,
			     const char **ret_value);

/* Parses one filter string. *ret is freed with filter_free. */
int filter_parse(const char *s, struct filter **ret, struct wh_err **err);
/* Parses n filter strings into their OR. n == 0 gives a filter that matches everything. */
int filter_parse_all(const char *const *ss, size_t n, struct filter **ret, struct wh_err **err);
/* True when f (NULL matches everything) matches the object that lookup describes. */
bool filter_match(const struct filter *f, filter_field_fn *lookup, void *userdata);
/* NULL-safe; returns NULL. */
struct filter *filter_free(struct filter *f);
void filter_freep(struct filter **f);
#define cleanup_filter __attribute__((__cleanup__(filter_freep)))

/*
 * A lookup helper for the common shape of containerd objects: "labels.<key>" over a
 * NULL-terminated key, value, key, value ... vector. Returns true when path is labels.<key>
 * and the key is present.
 */
bool filter_lookup_labels(char *const *kv, const char *const *path, size_t n,
			  const char **ret_value);

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: containerd filter expressions as API clients send them (list calls of
 * images, content, containers, snapshots). The input is split at newlines into up to eight
 * filter strings; each is parsed and matched against fixed objects, and the strings parsed
 * together (filter_parse_all) must match exactly when one of them does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S(x) ((char *)(x))
#define MAX_FILTERS 8

struct obj {
	const char *name, *kind, *parent, *digest;
	char *labels[16];
};

static const struct obj objs[] = {
	{.name = "docker.io/library/busybox:latest",
	 .kind = "committed",
	 .parent = "sha256:9f9f9f",
	 .digest = "sha256:0123456789abcdef",
	 .labels = {S("containerd.io/gc.root"), S("2024-01-01T00:00:00Z"), S("a.b"), S("dotted"),
		    S("with space"), S("x y"), S("empty"), S(""), S("ünï"), S("cödé"), S("foo"),
		    S("bar"), NULL}},
	{.name = "k8s.io/pause:3.9", .kind = "active", .labels = {S("foo"), S("baz|qux"), NULL}},
	{.name = "", .labels = {NULL}},
};

static bool obj_field(void *userdata, const char *const *path, size_t n, const char **ret)
{
	const struct obj *o = userdata;
	const char *v = NULL;

	wh_assert(n >= 1);
	for (size_t i = 0; i < n; i++)
		wh_assert(path[i]);
	if (n == 1 && streq(path[0], "name"))
		v = o->name;
	else if (n == 1 && streq(path[0], "kind"))
		v = o->kind;
	else if (n == 1 && streq(path[0], "parent"))
		v = o->parent;
	else if (n == 2 && streq(path[0], "target") && streq(path[1], "digest"))
		v = o->digest;
	else
		return filter_lookup_labels((char *const *)o->labels, path, n, ret);
	if (!v)
		return false;
	*ret = v;
	return true;
}

static void check_err(int r, struct wh_err *err)
{
	wh_assert(r < 0 && err && r == -err->code && wh_err_msg(err)[0]);
	wh_err_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (memchr(data, '\0', size))
		return 0;
	cleanup_free char *text = xstrndup((const char *)data, size);
	const char *ss[MAX_FILTERS];
	size_t n = 0;
	for (char *p = text, *nl; n < MAX_FILTERS; p = nl + 1) {
		ss[n++] = p;
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
	}

	struct filter *fs[MAX_FILTERS] = {NULL};
	bool all_ok = true;
	for (size_t i = 0; i < n; i++) {
		struct wh_err *err = NULL;
		int r = filter_parse(ss[i], &fs[i], &err);
		if (r < 0) {
			check_err(r, err);
			fs[i] = NULL;
			all_ok = false;
			continue;
		}
		if (!ss[i][0])
			for (size_t o = 0; o < ARRAY_SIZE(objs); o++)
				wh_assert(filter_match(fs[i], obj_field, (void *)&objs[o]));
	}

	struct filter *all = NULL;
	struct wh_err *err = NULL;
	int r = filter_parse_all(ss, n, &all, &err);
	if (r < 0) {
		check_err(r, err);
		if (all_ok)
			abort(); /* each string parses alone but not together */
	} else {
		if (!all_ok)
			abort(); /* a string that does not parse alone parsed among others */
		for (size_t o = 0; o < ARRAY_SIZE(objs); o++) {
			bool any = false;
			for (size_t i = 0; i < n; i++)
				any |= filter_match(fs[i], obj_field, (void *)&objs[o]);
			if (filter_match(all, obj_field, (void *)&objs[o]) != any) {
				fprintf(stderr,
					"fuzz: filter_parse_all disagrees with its parts on "
					"object %zu\n",
					o);
				abort();
			}
		}
	}
	filter_free(all);
	for (size_t i = 0; i < n; i++)
		filter_free(fs[i]);
	wh_assert(filter_match(NULL, obj_field, (void *)&objs[0]));
	return 0;
}

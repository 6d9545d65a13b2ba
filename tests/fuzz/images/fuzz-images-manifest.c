/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: manifests and indexes as a registry or an archive serves them. Each input is
 * parsed with no announced media type and with one of the announced types; what parses has
 * valid digests, platform selection returns sane indexes, and the descriptors written back as
 * JSON (img_desc_gen) parse to the same document.
 */
#include <inttypes.h>
#include <stdint.h>

#include "images/images.h"
#include "tests/fuzz/images/fuzz-common.h"

static const char *const announced[] = {
	IMG_MT_OCI_INDEX,	IMG_MT_OCI_MANIFEST,	      IMG_MT_DOCKER_LIST,
	IMG_MT_DOCKER_MANIFEST, IMG_MT_DOCKER_SCHEMA1_SIGNED, "application/json",
};

static const char *const platforms[] = {"linux/amd64", "linux/arm64", "linux/arm/v6",
					"windows/amd64", "386"};

static bool str_eq_null(const char *a, const char *b)
{
	return (!a && !b) || (a && b && streq(a, b));
}

static void check_desc(const struct img_desc *d)
{
	wh_assert(d->digest && digest_is_valid(d->digest));
	wh_assert(!d->has_platform || (d->platform.os && d->platform.arch));
	(void)img_desc_annotation(d, "org.opencontainers.image.ref.name");
	cleanup_free char *key = img_ref_key(d);
	wh_assert(key && str_endswith(key, d->digest));
}

static void check_same_desc(const struct img_desc *a, const struct img_desc *b, size_t i)
{
	if (!streq(a->digest, b->digest) || a->size != b->size ||
	    !str_eq_null(a->media_type, b->media_type) || a->has_platform != b->has_platform)
		fuzz_fail("descriptor %zu changed in a round trip: %s %" PRIu64 " -> %s %" PRIu64,
			  i, a->digest, a->size, b->digest, b->size);
	if (a->has_platform &&
	    (!streq(a->platform.os, b->platform.os) || !streq(a->platform.arch, b->platform.arch) ||
	     !str_eq_null(a->platform.variant, b->platform.variant)))
		fuzz_fail("platform of descriptor %zu changed in a round trip", i);
	if (strv_length(a->urls) != strv_length(b->urls) ||
	    strv_length(a->annotations) != strv_length(b->annotations))
		fuzz_fail("urls or annotations of descriptor %zu changed in a round trip", i);
}

/* Writes m back as JSON from its descriptors and checks that it parses to the same. */
static void check_round_trip(const struct img_manifest *m)
{
	yajl_gen g = json_gen_new(false);

	yajl_gen_map_open(g);
	json_gen_kv_int(g, "schemaVersion", 2);
	json_gen_kv_str(g, "mediaType", m->media_type);
	if (m->kind == IMG_KIND_INDEX) {
		json_gen_str(g, "manifests");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < m->n_manifests; i++)
			img_desc_gen(g, &m->manifests[i]);
		yajl_gen_array_close(g);
	} else {
		json_gen_str(g, "config");
		img_desc_gen(g, &m->config);
		json_gen_str(g, "layers");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < m->n_layers; i++)
			img_desc_gen(g, &m->layers[i]);
		yajl_gen_array_close(g);
	}
	yajl_gen_map_close(g);
	size_t len = 0;
	cleanup_free char *json = json_gen_finish(g, &len);

	struct img_manifest m2;
	struct wh_err *err = NULL;
	if (img_manifest_parse(m->media_type, json, len, &m2, &err) < 0)
		fuzz_fail("regenerated document does not parse: %s\n%s", wh_err_msg(err), json);
	wh_assert(m2.kind == m->kind && streq(m2.media_type, m->media_type));
	if (m->kind == IMG_KIND_INDEX) {
		wh_assert(m2.n_manifests == m->n_manifests);
		for (size_t i = 0; i < m->n_manifests; i++)
			check_same_desc(&m->manifests[i], &m2.manifests[i], i);
	} else {
		check_same_desc(&m->config, &m2.config, 0);
		wh_assert(m2.n_layers == m->n_layers);
		for (size_t i = 0; i < m->n_layers; i++)
			check_same_desc(&m->layers[i], &m2.layers[i], i + 1);
	}
	img_manifest_release(&m2);
}

static void check_select(const struct img_manifest *m)
{
	size_t *idx = NULL, n = 0;
	struct wh_err *err = NULL;

	int rc = img_index_select(m, NULL, &idx, &n, &err);
	if (rc < 0)
		fuzz_check_err(rc, err);
	else
		wh_assert(n == m->n_manifests);
	free(idx);
	for (size_t i = 0; i < ARRAY_SIZE(platforms); i++) {
		struct img_platform want;
		if (img_platform_parse(platforms[i], &want, NULL) < 0)
			abort();
		idx = NULL;
		n = 0;
		err = NULL;
		rc = img_index_select(m, &want, &idx, &n, &err);
		if (rc < 0) {
			fuzz_check_err(rc, err);
		} else {
			wh_assert(n == 1 && idx[0] < m->n_manifests);
			const struct img_desc *d = &m->manifests[idx[0]];
			wh_assert(!d->has_platform || img_platform_match(&want, &d->platform) > 0);
		}
		free(idx);
		img_platform_release(&want);
	}
}

static void parse_one(const char *media_type, const uint8_t *data, size_t size)
{
	struct img_manifest m;
	struct wh_err *err = NULL;

	int rc = img_manifest_parse(media_type, (const char *)data, size, &m, &err);
	if (rc < 0) {
		fuzz_check_err(rc, err);
		return;
	}
	wh_assert(m.media_type);
	if (m.kind == IMG_KIND_INDEX) {
		wh_assert(img_media_type_is_index(m.media_type));
		wh_assert(m.n_manifests <= IMG_MAX_ENTRIES);
		for (size_t i = 0; i < m.n_manifests; i++)
			check_desc(&m.manifests[i]);
		check_select(&m);
	} else {
		wh_assert(m.n_layers <= IMG_MAX_ENTRIES);
		check_desc(&m.config);
		for (size_t i = 0; i < m.n_layers; i++)
			check_desc(&m.layers[i]);
	}
	check_round_trip(&m);
	img_manifest_release(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_one(NULL, data, size);
	parse_one(announced[size % ARRAY_SIZE(announced)], data, size);
	return 0;
}

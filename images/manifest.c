/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Descriptors, manifests and indexes (OCI image-spec 1.0 and Docker schema 2 / manifest list):
 * parsing with field-naming errors and bounds, schema 1 refusal, descriptor JSON output and
 * platform selection in an index.
 */
#include <errno.h>
#include <inttypes.h>

#include "common/common.h"
#include "images/images.h"

void img_desc_release(struct img_desc *d)
{
	if (!d)
		return;
	free(d->media_type);
	free(d->digest);
	img_platform_release(&d->platform);
	strv_free(d->urls);
	strv_free(d->annotations);
	*d = (struct img_desc){0};
}

void img_desc_copy(struct img_desc *dst, const struct img_desc *src)
{
	*dst = (struct img_desc){0};
	dst->media_type = src->media_type ? xstrdup(src->media_type) : NULL;
	dst->digest = src->digest ? xstrdup(src->digest) : NULL;
	dst->size = src->size;
	dst->has_platform = src->has_platform;
	if (src->has_platform)
		img_platform_copy(&dst->platform, &src->platform);
	dst->urls = strv_copy(src->urls);
	dst->annotations = strv_copy(src->annotations);
}

const char *img_desc_annotation(const struct img_desc *d, const char *key)
{
	for (char **p = d->annotations; p && p[0] && p[1]; p += 2)
		if (streq(p[0], key))
			return p[1];
	return NULL;
}

bool img_media_type_is_index(const char *mt)
{
	return mt && (streq(mt, IMG_MT_OCI_INDEX) || streq(mt, IMG_MT_DOCKER_LIST));
}

bool img_media_type_is_manifest(const char *mt)
{
	return mt && (streq(mt, IMG_MT_OCI_MANIFEST) || streq(mt, IMG_MT_DOCKER_MANIFEST));
}

static bool is_schema1(const char *mt)
{
	return mt && (streq(mt, IMG_MT_DOCKER_SCHEMA1) || streq(mt, IMG_MT_DOCKER_SCHEMA1_SIGNED));
}

static int parse_platform(yajl_val v, const char *field, struct img_platform *p,
			  struct wh_err **err)
{
	const char *os = NULL, *arch = NULL, *variant = NULL, *osv = NULL;
	cleanup_free char *f = xasprintf("%s.platform", field);
	cleanup_free char *fos = xasprintf("%s.os", f);
	cleanup_free char *farch = xasprintf("%s.architecture", f);
	cleanup_free char *fvar = xasprintf("%s.variant", f);
	cleanup_free char *fosv = xasprintf("%s.os.version", f);
	int r = json_expect_object(v, f, err);
	if (r >= 0)
		r = json_get_string(v, "os", fos, &os, err);
	if (r >= 0)
		r = json_get_string(v, "architecture", farch, &arch, err);
	if (r >= 0)
		r = json_get_string_opt(v, "variant", fvar, &variant, err);
	if (r >= 0)
		r = json_get_string_opt(v, "os.version", fosv, &osv, err);
	if (r < 0)
		return r;
	*p = (struct img_platform){
		.os = xstrdup(os),
		.arch = xstrdup(arch),
		.variant = variant && *variant ? xstrdup(variant) : NULL,
		.os_version = osv ? xstrdup(osv) : NULL,
	};
	return 0;
}

static int parse_annotations(yajl_val v, const char *field, char ***ret, struct wh_err **err)
{
	if (!v)
		return 0;
	if (!YAJL_IS_OBJECT(v))
		return wh_err_setx(err, EBADMSG, "%s.annotations: expected an object", field);
	for (size_t i = 0; i < v->u.object.len; i++) {
		const char *s = NULL;
		cleanup_free char *f = xasprintf("%s.annotations.%s", field, v->u.object.keys[i]);
		int r = json_string(v->u.object.values[i], f, &s, err);
		if (r < 0)
			return r;
		strv_push(ret, v->u.object.keys[i]);
		strv_push(ret, s);
	}
	return 0;
}

static int parse_desc(yajl_val v, const char *field, struct img_desc *d, struct wh_err **err)
{
	const char *mt = NULL, *digest = NULL;
	cleanup_free char *fmt = xasprintf("%s.mediaType", field);
	cleanup_free char *fdigest = xasprintf("%s.digest", field);
	int r = json_expect_object(v, field, err);
	if (r >= 0 && !v)
		r = wh_err_setx(err, EBADMSG, "%s: missing", field);
	if (r >= 0)
		r = json_get_string_opt(v, "mediaType", fmt, &mt, err);
	if (r >= 0)
		r = json_get_string(v, "digest", fdigest, &digest, err);
	if (r < 0)
		return r;
	if (!digest_is_valid(digest))
		return wh_err_setx(err, EBADMSG, "%s.digest: invalid digest '%s'", field, digest);
	yajl_val sz = json_get(v, "size");
	if (!sz)
		return wh_err_setx(err, EBADMSG, "%s.size: missing", field);
	cleanup_free char *fsize = xasprintf("%s.size", field);
	r = json_uint64(sz, fsize, &d->size, err);
	if (r < 0)
		return r;
	/* OCI and containerd sizes are int64: anything larger could not be written back */
	if (d->size > INT64_MAX)
		return wh_err_setx(err, EBADMSG, "%s: %llu is out of range", fsize,
				   (unsigned long long)d->size);
	d->media_type = mt ? xstrdup(mt) : NULL;
	d->digest = xstrdup(digest);
	yajl_val p = json_get(v, "platform");
	if (p) {
		r = parse_platform(p, field, &d->platform, err);
		if (r < 0)
			return r;
		d->has_platform = true;
	}
	r = json_get_strv_opt(v, "urls", field, &d->urls, err);
	if (r < 0)
		return r;
	return parse_annotations(json_get(v, "annotations"), field, &d->annotations, err);
}

static int parse_desc_array(yajl_val doc, const char *key, struct img_desc **ret, size_t *ret_n,
			    struct wh_err **err)
{
	yajl_val a = json_get(doc, key);
	if (!a)
		return wh_err_setx(err, EBADMSG, "%s: missing", key);
	if (!YAJL_IS_ARRAY(a))
		return wh_err_setx(err, EBADMSG, "%s: expected an array", key);
	size_t n = a->u.array.len;
	if (n > IMG_MAX_ENTRIES)
		return wh_err_setx(err, E2BIG, "%s: %zu entries, more than %d", key, n,
				   IMG_MAX_ENTRIES);
	struct img_desc *v = xnew0(struct img_desc, n ? n : 1);
	*ret = v;
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *f = xasprintf("%s[%zu]", key, i);
		int r = parse_desc(a->u.array.values[i], f, &v[i], err);
		*ret_n = i + 1;
		if (r < 0)
			return r;
	}
	*ret_n = n;
	return 0;
}

/* Decides the document type from the announced type, the mediaType field and the shape. */
static int detect_kind(const char *announced, yajl_val doc, const char **ret_mt,
		       struct wh_err **err)
{
	const char *own = NULL;
	int64_t schema = 0;
	int r = json_get_string_opt(doc, "mediaType", "mediaType", &own, err);
	if (r >= 0)
		r = json_get_int64_opt(doc, "schemaVersion", "schemaVersion", &schema, err);
	if (r < 0)
		return r;
	if (schema == 1 || is_schema1(own) || is_schema1(announced))
		return wh_err_setx(err, ENOTSUP,
				   "Docker schema 1 manifests are not supported (deprecated and "
				   "unsigned by now); push the image again with a current client");
	if (json_get(doc, "schemaVersion") && schema != 2)
		return wh_err_setx(err, EBADMSG, "schemaVersion: unsupported version %" PRId64,
				   schema);
	/* Announced types like application/json or text/plain say nothing; look inside. */
	const char *mt = own;
	if (!mt && (img_media_type_is_index(announced) || img_media_type_is_manifest(announced)))
		mt = announced;
	if (!mt) {
		if (json_get(doc, "manifests"))
			mt = IMG_MT_OCI_INDEX;
		else if (json_get(doc, "config") || json_get(doc, "layers"))
			mt = IMG_MT_OCI_MANIFEST;
	}
	if (!mt || (!img_media_type_is_index(mt) && !img_media_type_is_manifest(mt)))
		return wh_err_setx(err, EBADMSG, "unsupported manifest media type '%s'",
				   mt ? mt : "(none)");
	if (own && announced && *announced &&
	    (img_media_type_is_index(announced) || img_media_type_is_manifest(announced)) &&
	    !streq(own, announced))
		return wh_err_setx(err, EBADMSG,
				   "mediaType '%s' does not match the announced type '%s'", own,
				   announced);
	*ret_mt = mt;
	return 0;
}

int img_manifest_parse(const char *media_type, const char *data, size_t len,
		       struct img_manifest *ret, struct wh_err **err)
{
	yajl_val doc = NULL;
	struct img_manifest m = {0};
	const char *mt = NULL;
	if (len > IMG_MAX_MANIFEST_SIZE)
		return wh_err_setx(err, EFBIG, "manifest of %zu bytes, more than %d", len,
				   IMG_MAX_MANIFEST_SIZE);
	int r = json_parse(data, len, &doc, err);
	if (r < 0)
		return r;
	if (!YAJL_IS_OBJECT(doc)) {
		r = wh_err_setx(err, EBADMSG, "manifest: expected a JSON object");
		goto out;
	}
	r = detect_kind(media_type, doc, &mt, err);
	if (r < 0)
		goto out;
	m.media_type = xstrdup(mt);
	if (img_media_type_is_index(mt)) {
		m.kind = IMG_KIND_INDEX;
		r = parse_desc_array(doc, "manifests", &m.manifests, &m.n_manifests, err);
	} else {
		m.kind = IMG_KIND_MANIFEST;
		r = parse_desc(json_get(doc, "config"), "config", &m.config, err);
		if (r >= 0)
			r = parse_desc_array(doc, "layers", &m.layers, &m.n_layers, err);
	}
	if (r < 0)
		goto out;
	*ret = m;
	m = (struct img_manifest){0};
out:
	if (r < 0)
		r = wh_err_wrap(err, r, "parse %s",
				mt && img_media_type_is_index(mt) ? "index" : "manifest");
	img_manifest_release(&m);
	yajl_tree_free(doc);
	return r;
}

void img_manifest_release(struct img_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_manifests; i++)
		img_desc_release(&m->manifests[i]);
	free(m->manifests);
	for (size_t i = 0; i < m->n_layers; i++)
		img_desc_release(&m->layers[i]);
	free(m->layers);
	img_desc_release(&m->config);
	free(m->media_type);
	*m = (struct img_manifest){0};
}

int img_index_select(const struct img_manifest *m, const struct img_platform *want,
		     size_t **ret_idx, size_t *ret_n, struct wh_err **err)
{
	if (m->kind != IMG_KIND_INDEX)
		return wh_err_setx(err, EINVAL, "not an index");
	if (!want) {
		size_t *v = xnew0(size_t, m->n_manifests ? m->n_manifests : 1);
		for (size_t i = 0; i < m->n_manifests; i++)
			v[i] = i;
		*ret_idx = v;
		*ret_n = m->n_manifests;
		return m->n_manifests ? 0 : wh_err_setx(err, ENOENT, "the index is empty");
	}
	int best = 0;
	size_t best_i = 0;
	for (size_t i = 0; i < m->n_manifests; i++) {
		const struct img_desc *d = &m->manifests[i];
		if (!d->has_platform || !img_media_type_is_manifest(d->media_type))
			continue;
		int s = img_platform_match(want, &d->platform);
		if (s > best) {
			best = s;
			best_i = i;
		}
	}
	if (best == 0) {
		cleanup_free char *w = img_platform_string(want);
		cleanup_strbuf struct strbuf sb = STRBUF_INIT;
		for (size_t i = 0; i < m->n_manifests; i++) {
			if (!m->manifests[i].has_platform)
				continue;
			cleanup_free char *s = img_platform_string(&m->manifests[i].platform);
			strbuf_addf(&sb, "%s%s", sb.len ? ", " : "", s);
		}
		return wh_err_setx(err, ENOENT, "no manifest for platform '%s' (the index has: %s)",
				   w, sb.len ? sb.buf : "none with a platform");
	}
	size_t *v = xnew0(size_t, 1);
	v[0] = best_i;
	*ret_idx = v;
	*ret_n = 1;
	return 0;
}

void img_desc_gen(struct yajl_gen_t *g, const struct img_desc *d)
{
	yajl_gen_map_open(g);
	if (d->media_type)
		json_gen_kv_str(g, "mediaType", d->media_type);
	json_gen_kv_str(g, "digest", d->digest);
	json_gen_kv_int(g, "size", (int64_t)d->size);
	if (d->has_platform) {
		json_gen_str(g, "platform");
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "architecture", d->platform.arch);
		json_gen_kv_str(g, "os", d->platform.os);
		if (d->platform.variant)
			json_gen_kv_str(g, "variant", d->platform.variant);
		if (d->platform.os_version)
			json_gen_kv_str(g, "os.version", d->platform.os_version);
		yajl_gen_map_close(g);
	}
	if (d->urls && d->urls[0]) {
		json_gen_str(g, "urls");
		yajl_gen_array_open(g);
		strv_foreach(u, d->urls)
			json_gen_str(g, *u);
		yajl_gen_array_close(g);
	}
	if (d->annotations && d->annotations[0]) {
		json_gen_str(g, "annotations");
		yajl_gen_map_open(g);
		for (char **p = d->annotations; p[0] && p[1]; p += 2)
			json_gen_kv_str(g, p[0], p[1]);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
}

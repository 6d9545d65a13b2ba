/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image resolution on the client side, as ctr does it: the image record's target, an index
 * walked to this host's platform, the manifest, the config blob (read through the content
 * service), and the chain ID of its layers (the parent snapshot of a container).
 */
#include <errno.h>
#include <string.h>

#include <sys/utsname.h>

#include "common/common.h"
#include "ctl/ctl.h"
#include "proto/services/content/v1/content.pb-c.h"
#include "proto/services/images/v1/images.pb-c.h"

#define MAX_DOC (16u << 20)
#define CONTENT_SVC "containerd.services.content.v1.Content"

static void yajl_valp(yajl_val *v)
{
	yajl_tree_free(*v);
}

const char *ctl_host_arch(void)
{
	static const struct {
		const char *uname, *oci;
	} map[] = {
		{"x86_64", "amd64"}, {"aarch64", "arm64"},   {"i686", "386"},
		{"i386", "386"},     {"armv7l", "arm"},	     {"ppc64le", "ppc64le"},
		{"s390x", "s390x"},  {"riscv64", "riscv64"},
	};
	static char other[65];
	struct utsname u;

	if (uname(&u) < 0)
		return "amd64";
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (streq(u.machine, map[i].uname))
			return map[i].oci;
	snprintf(other, sizeof(other), "%s", u.machine);
	return other;
}

int ctl_content_read(struct ctl_client *c, const char *digest, size_t max, char **ret,
		     size_t *ret_len, struct wh_err **err)
{
	Containerd__Services__Content__V1__ReadContentRequest q =
		CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_REQUEST__INIT;
	struct strbuf sb = STRBUF_INIT;
	int r;

	q.digest = (char *)digest;
	for (;;) {
		Containerd__Services__Content__V1__ReadContentResponse *resp = NULL;

		q.offset = (int64_t)sb.len;
		r = ctl_call(c, CONTENT_SVC, "Read", &q.base,
			     &containerd__services__content__v1__read_content_response__descriptor,
			     (ProtobufCMessage **)&resp, err);
		if (r < 0) {
			strbuf_release(&sb);
			return r == -ENOENT ? r : wh_err_wrap(err, r, "read blob %s", digest);
		}
		size_t n = resp->data.len;

		if (sb.len + n > max) {
			protobuf_c_message_free_unpacked(&resp->base, NULL);
			strbuf_release(&sb);
			return wh_err_setx(err, EFBIG, "blob %s: larger than %zu bytes", digest,
					   max);
		}
		strbuf_add(&sb, resp->data.data, n);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (n == 0)
			break;
	}
	*ret = strbuf_detach(&sb, ret_len);
	return 0;
}

int ctl_index_pick(const char *json, size_t len, const char *arch, char **ret_digest,
		   char **ret_media_type, struct wh_err **err)
{
	cleanup(yajl_valp) yajl_val root = NULL;
	yajl_val ms;
	int r;

	if ((r = json_parse(json, len, &root, err)) < 0)
		return wh_err_wrap(err, r, "image index");
	ms = json_get(root, "manifests");
	if (!YAJL_IS_ARRAY(ms))
		return wh_err_setx(err, EINVAL, "image index: no manifests array");
	for (size_t i = 0; i < ms->u.array.len; i++) {
		yajl_val m = ms->u.array.values[i], p = json_get(m, "platform");
		const char *os = NULL, *a = NULL, *d = NULL, *mt = NULL;

		if (json_get_string_opt(p, "os", "platform.os", &os, NULL) < 0 ||
		    json_get_string_opt(p, "architecture", "platform.architecture", &a, NULL) < 0 ||
		    json_get_string_opt(m, "digest", "digest", &d, NULL) < 0 ||
		    json_get_string_opt(m, "mediaType", "mediaType", &mt, NULL) < 0)
			continue;
		if (!d || !os || !a || !streq(os, "linux") || !streq(a, arch))
			continue;
		*ret_digest = xstrdup(d);
		*ret_media_type = xstrdup(mt ? mt : "");
		return 0;
	}
	return wh_err_setx(err, ENOENT, "image index has no manifest for linux/%s", arch);
}

void ctl_image_release(struct ctl_image *img)
{
	free(img->name);
	free(img->target_digest);
	free(img->target_media_type);
	free(img->manifest_digest);
	free(img->config_digest);
	ctl_image_config_release(&img->config);
	*img = (struct ctl_image){0};
}

char *ctl_normalize_ref(const char *ref)
{
	const char *slash = strchr(ref, '/'), *last = strrchr(ref, '/');
	const char *base = last ? last + 1 : ref;
	bool has_domain = false;
	struct strbuf sb = STRBUF_INIT;

	if (slash) {
		cleanup_free char *first = xstrndup(ref, slash - ref);

		has_domain = strchr(first, '.') || strchr(first, ':') || streq(first, "localhost");
	}
	if (!has_domain)
		strbuf_adds(&sb, slash ? "docker.io/" : "docker.io/library/");
	strbuf_adds(&sb, ref);
	if (!strchr(base, ':') && !strchr(base, '@'))
		strbuf_adds(&sb, ":latest");
	return strbuf_detach(&sb, NULL);
}

static int get_target(struct ctl_client *c, const char *name, struct ctl_image *img,
		      struct wh_err **err)
{
	Containerd__Services__Images__V1__GetImageRequest q =
		CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
	Containerd__Services__Images__V1__GetImageResponse *resp = NULL;
	struct wh_err *e = NULL;
	int r;

	q.name = (char *)name;
	r = ctl_call(c, "containerd.services.images.v1.Images", "Get", &q.base,
		     &containerd__services__images__v1__get_image_response__descriptor,
		     (ProtobufCMessage **)&resp, &e);
	if (r == -ENOENT) {
		cleanup_free char *full = ctl_normalize_ref(name);

		if (!streq(full, name)) {
			e = wh_err_free(e);
			q.name = full;
			r = ctl_call(
				c, "containerd.services.images.v1.Images", "Get", &q.base,
				&containerd__services__images__v1__get_image_response__descriptor,
				(ProtobufCMessage **)&resp, &e);
		}
	}
	if (r == -ENOENT) {
		wh_err_free(e);
		return wh_err_setx(err, ENOENT, "image \"%s\" not found", name);
	}
	if (r < 0)
		return wh_err_move(err, &e);
	if (!resp->image || !resp->image->target || !resp->image->target->digest) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return wh_err_setx(err, EBADMSG, "image \"%s\": record has no target", name);
	}
	img->name = xstrdup(resp->image->name);
	img->target_digest = xstrdup(resp->image->target->digest);
	img->target_media_type = xstrdup(resp->image->target->media_type);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

/* Reads the manifest (walking an index first) and returns the config digest. */
static int read_manifest(struct ctl_client *c, struct ctl_image *img, struct wh_err **err)
{
	cleanup_free char *doc = NULL, *mt = NULL;
	cleanup(yajl_valp) yajl_val root = NULL;
	const char *cfg = NULL;
	size_t len;
	int r;

	img->manifest_digest = xstrdup(img->target_digest);
	for (int depth = 0;; depth++) {
		free(doc), doc = NULL;
		if ((r = ctl_content_read(c, img->manifest_digest, MAX_DOC, &doc, &len, err)) < 0)
			return r;
		yajl_tree_free(root), root = NULL;
		if ((r = json_parse(doc, len, &root, err)) < 0)
			return wh_err_wrap(err, r, "manifest %s", img->manifest_digest);
		if (!json_get(root, "manifests"))
			break;
		if (depth > 2)
			return wh_err_setx(err, ELOOP, "image index nested too deep");
		free(img->manifest_digest), img->manifest_digest = NULL;
		free(mt), mt = NULL;
		if ((r = ctl_index_pick(doc, len, ctl_host_arch(), &img->manifest_digest, &mt,
					err)) < 0)
			return wh_err_wrap(err, r, "image \"%s\"", img->name);
	}
	if ((r = json_get_string(json_get(root, "config"), "digest", "config.digest", &cfg, err)) <
	    0)
		return wh_err_wrap(err, r, "manifest %s", img->manifest_digest);
	img->config_digest = xstrdup(cfg);
	return 0;
}

/* Whether an index entry is for os/arch[/variant]; an entry without a platform matches all. */
static bool platform_matches(yajl_val m, const char *os, const char *arch, const char *variant)
{
	yajl_val p = json_get(m, "platform");
	const char *o = NULL, *a = NULL, *v = NULL;

	if (!p)
		return true;
	if (json_get_string_opt(p, "os", "platform.os", &o, NULL) < 0 ||
	    json_get_string_opt(p, "architecture", "platform.architecture", &a, NULL) < 0 ||
	    json_get_string_opt(p, "variant", "platform.variant", &v, NULL) < 0)
		return false;
	if (!o || !a || !streq(o, os) || !streq(a, arch))
		return false;
	return !variant || !*variant || (v && streq(v, variant));
}

struct usage_walk {
	struct ctl_client *c;
	const struct ctl_platform *plat; /* NULL: every manifest */
	char **seen;			 /* digests counted */
	int64_t total;
};

/* Adds size once per digest (containerd's Usage counts each blob once). */
static void usage_add(struct usage_walk *w, const char *digest, int64_t size)
{
	if (strv_contains(w->seen, digest))
		return;
	strv_push(&w->seen, digest);
	w->total += size;
}

static int usage_desc(struct usage_walk *w, yajl_val desc, const char *what, struct wh_err **err)
{
	const char *d = NULL;
	yajl_val sz = json_get(desc, "size");

	if (json_get_string(desc, "digest", "digest", &d, err) < 0)
		return wh_err_wrap(err, -EINVAL, "%s", what);
	if (!YAJL_IS_INTEGER(sz) || YAJL_GET_INTEGER(sz) < 0)
		return wh_err_setx(err, EINVAL, "%s %s: no valid size", what, d);
	usage_add(w, d, YAJL_GET_INTEGER(sz));
	return 0;
}

/* Reads the manifest or index at digest (its size is what was read) and walks its children. */
static int usage_walk(struct usage_walk *w, const char *digest, int depth, struct wh_err **err)
{
	cleanup_free char *doc = NULL;
	cleanup(yajl_valp) yajl_val root = NULL;
	yajl_val ms, layers;
	size_t len, picked = 0;
	int r;

	if (depth > 3)
		return wh_err_setx(err, ELOOP, "image index nested too deep");
	if ((r = ctl_content_read(w->c, digest, MAX_DOC, &doc, &len, err)) < 0)
		return r == -ENOENT ? wh_err_setx(err, ENOENT, "blob %s: not in the content store",
						  digest)
				    : r;
	if ((r = json_parse(doc, len, &root, err)) < 0)
		return wh_err_wrap(err, r, "manifest %s", digest);
	usage_add(w, digest, (int64_t)len);
	if ((ms = json_get(root, "manifests"))) {
		if (!YAJL_IS_ARRAY(ms))
			return wh_err_setx(err, EINVAL, "index %s: manifests is not an array",
					   digest);
		for (size_t i = 0; i < ms->u.array.len; i++) {
			yajl_val m = ms->u.array.values[i];
			const char *d = NULL;

			if (w->plat &&
			    !platform_matches(m, w->plat->os, w->plat->arch, w->plat->variant))
				continue;
			if (json_get_string(m, "digest", "manifests[].digest", &d, err) < 0)
				return wh_err_wrap(err, -EINVAL, "index %s", digest);
			if ((r = usage_walk(w, d, depth + 1, err)) < 0)
				return r;
			picked++;
		}
		if (!picked && w->plat)
			return wh_err_setx(err, ENOENT, "image index has no manifest for %s/%s%s%s",
					   w->plat->os, w->plat->arch,
					   w->plat->variant && *w->plat->variant ? "/" : "",
					   w->plat->variant ? w->plat->variant : "");
		return 0;
	}
	if ((r = usage_desc(w, json_get(root, "config"), "config", err)) < 0)
		return wh_err_wrap(err, r, "manifest %s", digest);
	layers = json_get(root, "layers");
	if (layers && !YAJL_IS_ARRAY(layers))
		return wh_err_setx(err, EINVAL, "manifest %s: layers is not an array", digest);
	for (size_t i = 0; layers && i < layers->u.array.len; i++)
		if ((r = usage_desc(w, layers->u.array.values[i], "layer", err)) < 0)
			return wh_err_wrap(err, r, "manifest %s", digest);
	return 0;
}

int ctl_usage_of(struct ctl_client *c, const char *target_digest, const struct ctl_platform *plat,
		 int64_t *ret_size, struct wh_err **err)
{
	struct ctl_platform host = {.os = "linux", .arch = ctl_host_arch()};
	struct usage_walk w = {.c = c, .plat = plat ? plat : &host};
	int r;

	if (plat && !plat->os)
		w.plat = NULL; /* every platform */
	r = usage_walk(&w, target_digest, 0, err);
	strv_free(w.seen);
	if (r < 0)
		return r;
	*ret_size = w.total;
	return 0;
}

int ctl_image_usage(struct ctl_client *c, const char *name, const struct ctl_platform *plat,
		    int64_t *ret_size, struct wh_err **err)
{
	struct ctl_image img = {0};
	int r;

	if ((r = get_target(c, name, &img, err)) >= 0 &&
	    (r = ctl_usage_of(c, img.target_digest, plat, ret_size, err)) < 0)
		r = wh_err_wrap(err, r, "image \"%s\"", img.name);
	ctl_image_release(&img);
	return r;
}

int ctl_image_resolve(struct ctl_client *c, const char *name, struct ctl_image *ret,
		      struct wh_err **err)
{
	struct ctl_image img = {0};
	cleanup_free char *doc = NULL;
	size_t len;
	int r;

	if ((r = get_target(c, name, &img, err)) < 0 || (r = read_manifest(c, &img, err)) < 0 ||
	    (r = ctl_content_read(c, img.config_digest, MAX_DOC, &doc, &len, err)) < 0 ||
	    (r = ctl_image_config_parse(doc, len, &img.config, err)) < 0 ||
	    (r = ctl_chain_id(img.config.diff_ids, img.chain_id, err)) < 0) {
		ctl_image_release(&img);
		return r;
	}
	*ret = img;
	return 0;
}

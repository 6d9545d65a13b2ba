/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resolve and pull: manifests by tag or digest (verified against the reference, the
 * Docker-Content-Digest header and the descriptor), parallel verified blob downloads into
 * sinks, and the walk of a whole image (index -> platform selection -> manifests -> config
 * and layers) into a store.
 */
#include <errno.h>
#include <inttypes.h>

#include "images/internal.h"

static char *strip_params(const char *ct)
{
	if (!ct)
		return NULL;
	size_t n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return xstrndup(ct, n);
}

/* GET /<repo>/manifests/<object>; returns the body and the announced media type. */
static int get_manifest(struct img_client *c, const struct img_ref *ref, const char *object,
			char **ret_data, size_t *ret_len, char **ret_mt, char **ret_dcd,
			struct wh_err **err)
{
	struct img_req r;
	img_req_init(&r, c, ref->domain, "GET");
	r.path = xasprintf("/%s/manifests/%s", ref->path, object);
	r.repo = ref->path;
	r.caps = IMG_CAP_RESOLVE;
	r.accept = IMG_MANIFEST_ACCEPT;
	r.capture_max = IMG_MAX_MANIFEST_SIZE;
	int rc = img_run_one(c, &r, err);
	if (rc >= 0 && r.status == 404) {
		rc = wh_err_setx(err, ENOENT, "not found (%s has no manifest '%s' in '%s')",
				 img_req_host_name(&r), object, ref->path);
	} else if (rc >= 0 && r.status != 200) {
		rc = img_req_status_error(&r, err);
	}
	if (rc >= 0) {
		*ret_len = r.body.len;
		*ret_data = strbuf_detach(&r.body, NULL);
		*ret_mt = strip_params(r.ctype);
		*ret_dcd = r.docker_digest ? xstrdup(r.docker_digest) : NULL;
	}
	img_req_release(&r);
	return rc;
}

static int check_manifest(const char *what, const char *want_digest, const char *dcd,
			  const char *data, size_t len, char *ret_digest, struct wh_err **err)
{
	digest_buf(data, len, ret_digest);
	if (want_digest && !streq(ret_digest, want_digest))
		return wh_err_setx(err, EBADMSG, "%s: digest mismatch: asked for %s, got %s", what,
				   want_digest, ret_digest);
	/* The header is advisory when fetched by tag, yet a disagreement means corruption. */
	if (dcd && digest_is_valid(dcd) && !streq(dcd, ret_digest))
		return wh_err_setx(err, EBADMSG,
				   "%s: the registry's Docker-Content-Digest %s does not match the "
				   "content (%s)",
				   what, dcd, ret_digest);
	return 0;
}

int img_resolve(struct img_client *c, const struct img_ref *ref, struct img_desc *ret_desc,
		char **ret_data, size_t *ret_len, struct wh_err **err)
{
	cleanup_free char *data = NULL, *mt = NULL, *dcd = NULL;
	cleanup_free char *name = img_ref_string(ref);
	size_t len = 0;
	char dig[DIGEST_STR_LEN];
	int rc = get_manifest(c, ref, img_ref_object(ref), &data, &len, &mt, &dcd, err);
	if (rc >= 0)
		rc = check_manifest(name, ref->digest, dcd, data, len, dig, err);
	struct img_manifest m = {0};
	if (rc >= 0)
		rc = img_manifest_parse(mt, data, len, &m, err);
	if (rc < 0)
		return wh_err_wrap(err, rc, "resolve '%s'", name);
	*ret_desc = (struct img_desc){
		.media_type = xstrdup(m.media_type),
		.digest = xstrdup(dig),
		.size = len,
	};
	img_manifest_release(&m);
	*ret_data = TAKE_PTR(data);
	*ret_len = len;
	return 0;
}

int img_fetch_manifest(struct img_client *c, const struct img_ref *ref, const struct img_desc *d,
		       char **ret_data, size_t *ret_len, struct wh_err **err)
{
	cleanup_free char *data = NULL, *mt = NULL, *dcd = NULL;
	size_t len = 0;
	char dig[DIGEST_STR_LEN];
	if (d->size > IMG_MAX_MANIFEST_SIZE)
		return wh_err_setx(err, EFBIG, "manifest %s: %" PRIu64 " bytes, more than %d",
				   d->digest, d->size, IMG_MAX_MANIFEST_SIZE);
	int rc = get_manifest(c, ref, d->digest, &data, &len, &mt, &dcd, err);
	if (rc >= 0)
		rc = check_manifest(d->digest, d->digest, dcd, data, len, dig, err);
	if (rc >= 0 && len != d->size)
		rc = wh_err_setx(err, EBADMSG,
				 "manifest %s: %zu bytes, the descriptor says %" PRIu64, d->digest,
				 len, d->size);
	if (rc < 0)
		return rc;
	*ret_data = TAKE_PTR(data);
	*ret_len = len;
	return 0;
}

int img_fetch_blobs(struct img_client *c, const struct img_ref *ref, struct img_fetch *v, size_t n,
		    struct wh_err **err)
{
	struct img_req *reqs = xnew0(struct img_req, n ? n : 1);
	struct img_req **pv = xnew0(struct img_req *, n ? n : 1);
	for (size_t i = 0; i < n; i++) {
		img_req_init(&reqs[i], c, ref->domain, "GET");
		reqs[i].path = xasprintf("/%s/blobs/%s", ref->path, v[i].desc->digest);
		reqs[i].repo = ref->path;
		reqs[i].fetch = &v[i];
		pv[i] = &reqs[i];
	}
	img_run(c, pv, n);
	int first = 0;
	for (size_t i = 0; i < n; i++) {
		struct img_req *r = &reqs[i];
		v[i].result = r->result;
		wh_err_free(v[i].err);
		v[i].err = NULL;
		if (r->result < 0) {
			v[i].offset = r->got;
			v[i].err = r->err ? TAKE_PTR(r->err) : NULL;
			if (!v[i].err)
				wh_err_set(&v[i].err, r->result, "blob %s", v[i].desc->digest);
			if (first == 0) {
				first = r->result;
				if (err)
					wh_err_setx(err, -first, "%s", wh_err_msg(v[i].err));
			}
		}
		img_req_release(r);
	}
	free(reqs);
	free(pv);
	return first;
}

/* ---- pull ---- */

/* Writes an in-memory blob (a manifest) into the store unless it is there. */
static int store_put(struct img_store *s, const struct img_desc *d, const char *data, size_t len,
		     struct wh_err **err)
{
	int rc = s->has(s, d, err);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	struct img_sink *sink = NULL;
	uint64_t off = 0;
	rc = s->open(s, d, &sink, &off, err);
	if (rc < 0)
		return rc;
	if (off > 0)
		rc = sink->truncate(sink, err);
	if (rc >= 0)
		rc = sink->write(sink, data, len, err);
	if (rc >= 0)
		rc = sink->commit(sink, d->digest, len, err);
	s->close(s, sink);
	return rc;
}

struct pull_ctx {
	const struct img_pull_opts *o;
	struct img_client *c;
	const struct img_ref *ref;
	struct img_store *store;
	struct img_desc **blobs; /* configs and layers to fetch, deduplicated */
	size_t n_blobs, cap_blobs;
};

static void add_blob(struct pull_ctx *p, const struct img_desc *d)
{
	for (size_t i = 0; i < p->n_blobs; i++)
		if (streq(p->blobs[i]->digest, d->digest))
			return;
	xgrow((void **)&p->blobs, &p->cap_blobs, p->n_blobs + 1, sizeof(*p->blobs));
	struct img_desc *copy = xnew0(struct img_desc, 1);
	img_desc_copy(copy, d);
	p->blobs[p->n_blobs++] = copy;
}

static int pull_manifest(struct pull_ctx *p, const struct img_desc *d, const char *data, size_t len,
			 struct wh_err **err)
{
	struct img_manifest m = {0};
	int rc = img_manifest_parse(d->media_type, data, len, &m, err);
	if (rc < 0)
		return wh_err_wrap(err, rc, "manifest %s", d->digest);
	if (m.kind != IMG_KIND_MANIFEST) {
		img_manifest_release(&m);
		return wh_err_setx(err, EBADMSG, "manifest %s: nested index not supported",
				   d->digest);
	}
	rc = store_put(p->store, d, data, len, err);
	if (rc >= 0 && p->o && p->o->manifest_cb)
		p->o->manifest_cb(p->o->userdata, d, data, len);
	if (rc >= 0) {
		add_blob(p, &m.config);
		for (size_t i = 0; i < m.n_layers; i++)
			add_blob(p, &m.layers[i]);
	}
	img_manifest_release(&m);
	return rc;
}

static int pull_index(struct pull_ctx *p, const struct img_pull_opts *o, const char *data,
		      size_t len, const struct img_desc *root, struct wh_err **err)
{
	struct img_manifest idx = {0};
	cleanup_free size_t *sel = NULL;
	size_t n_sel = 0;
	struct img_platform host = {0};
	const struct img_platform *want = o ? o->platform : NULL;
	int rc = img_manifest_parse(root->media_type, data, len, &idx, err);
	if (rc < 0)
		return rc;
	if (!want && !(o && o->all_platforms)) {
		img_platform_host(&host);
		want = &host;
	}
	rc = img_index_select(&idx, o && o->all_platforms ? NULL : want, &sel, &n_sel, err);
	for (size_t i = 0; rc >= 0 && i < n_sel; i++) {
		const struct img_desc *d = &idx.manifests[sel[i]];
		cleanup_free char *mdata = NULL;
		size_t mlen = 0;
		if (!img_media_type_is_manifest(d->media_type) && d->media_type) {
			if (o && o->all_platforms)
				continue; /* nested indexes and artifacts are not images */
		}
		rc = img_fetch_manifest(p->c, p->ref, d, &mdata, &mlen, err);
		if (rc >= 0)
			rc = pull_manifest(p, d, mdata, mlen, err);
	}
	if (rc >= 0)
		rc = store_put(p->store, root, data, len, err);
	img_platform_release(&host);
	img_manifest_release(&idx);
	return rc;
}

static void blob_done(struct img_fetch *f, int result)
{
	const struct img_pull_opts *o = f->userdata;
	o->blob_cb(o->userdata, f->desc, result);
}

static int pull_blobs(struct pull_ctx *p, struct wh_err **err)
{
	struct img_fetch *f = xnew0(struct img_fetch, p->n_blobs ? p->n_blobs : 1);
	struct img_sink **sinks = xnew0(struct img_sink *, p->n_blobs ? p->n_blobs : 1);
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; i < p->n_blobs && rc >= 0; i++) {
		rc = p->store->has(p->store, p->blobs[i], err);
		if (rc > 0 && p->o && p->o->blob_cb)
			p->o->blob_cb(p->o->userdata, p->blobs[i], 0);
		if (rc != 0)
			continue;
		rc = p->store->open(p->store, p->blobs[i], &sinks[n], &f[n].offset, err);
		if (rc < 0)
			break;
		f[n].desc = p->blobs[i];
		f[n].sink = sinks[n];
		if (p->o && p->o->blob_cb) {
			f[n].on_done = blob_done;
			f[n].userdata = (void *)p->o;
		}
		n++;
	}
	if (rc >= 0)
		rc = img_fetch_blobs(p->c, p->ref, f, n, err);
	for (size_t i = 0; i < n; i++) {
		wh_err_free(f[i].err);
		p->store->close(p->store, sinks[i]);
	}
	free(sinks);
	free(f);
	return rc < 0 ? rc : 0;
}

int img_pull(struct img_client *c, const struct img_ref *ref, const struct img_pull_opts *o,
	     struct img_store *store, struct img_desc *ret_root, struct wh_err **err)
{
	struct pull_ctx p = {.o = o, .c = c, .ref = ref, .store = store};
	struct img_desc root = {0};
	cleanup_free char *data = NULL;
	cleanup_free char *name = img_ref_string(ref);
	size_t len = 0;
	int rc = img_resolve(c, ref, &root, &data, &len, err);
	if (rc < 0)
		return rc;
	if (img_media_type_is_index(root.media_type))
		rc = pull_index(&p, o, data, len, &root, err);
	else
		rc = pull_manifest(&p, &root, data, len, err);
	/* Manifests first, then every config and layer in parallel. The root is written
	 * before its blobs on purpose only in the store's own ingest; callers that record
	 * the image do so after this returns 0. */
	if (rc >= 0)
		rc = pull_blobs(&p, err);
	for (size_t i = 0; i < p.n_blobs; i++) {
		img_desc_release(p.blobs[i]);
		free(p.blobs[i]);
	}
	free(p.blobs);
	if (rc < 0) {
		img_desc_release(&root);
		return wh_err_wrap(err, rc, "pull '%s'", name);
	}
	*ret_root = root;
	return 0;
}

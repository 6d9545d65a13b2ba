/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Push: blobs (HEAD to skip what the registry has, cross-repository mount, monolithic
 * POST+PUT or chunked POST+PATCH...+PUT uploads), then manifests by digest, then the root
 * under its tag; and remote tagging.
 */
#include <errno.h>
#include <inttypes.h>

#include "images/internal.h"

/* One blob being pushed; the phases below run every blob's next request in parallel. */
struct blob_push {
	const struct img_desc *d;
	bool done;
	char *loc; /* upload session URL */
	int fd;
	uint64_t off; /* bytes uploaded in chunks */
	struct img_req req;
};

/* "loc" + "?digest=" or "&digest=". */
static char *with_digest(const char *loc, const char *digest)
{
	return xasprintf("%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?', digest);
}

static void req_for(struct img_req *r, struct img_client *c, const struct img_ref *ref,
		    const char *method)
{
	img_req_init(r, c, ref->domain, method);
	r->repo = ref->path;
	r->push = true;
	r->caps = IMG_CAP_PUSH;
}

/* Runs the prepared req of every blob not done yet, in parallel; the first failure wins. */
static int run_phase(struct img_client *c, struct blob_push *v, size_t n, struct wh_err **err)
{
	struct img_req **pv = xnew0(struct img_req *, n ? n : 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!v[i].done)
			pv[k++] = &v[i].req;
	img_run(c, pv, k);
	free(pv);
	for (size_t i = 0; i < n; i++) {
		if (v[i].done || v[i].req.result >= 0)
			continue;
		int rc = v[i].req.result;
		if (v[i].req.err)
			rc = wh_err_move(err, &v[i].req.err);
		return wh_err_wrap(err, rc, "push blob %s", v[i].d->digest);
	}
	return 0;
}

static int phase_head(struct img_client *c, const struct img_ref *ref, struct blob_push *v,
		      size_t n, struct wh_err **err)
{
	for (size_t i = 0; i < n; i++) {
		req_for(&v[i].req, c, ref, "HEAD");
		v[i].req.path = xasprintf("/%s/blobs/%s", ref->path, v[i].d->digest);
	}
	int rc = run_phase(c, v, n, err);
	for (size_t i = 0; rc >= 0 && i < n; i++) {
		struct img_req *r = &v[i].req;
		if (r->status == 200) {
			v[i].done = true;
			img_client_stats_mut(c)->blobs_skipped++;
		} else if (r->status != 404) {
			rc = wh_err_wrap(err, img_req_status_error(r, err), "push blob %s",
					 v[i].d->digest);
		}
	}
	return rc;
}

/* POST an upload session (or a mount) for every blob still to push. */
static int phase_start(struct img_client *c, const struct img_ref *ref, const char *mount_from,
		       struct blob_push *v, size_t n, struct wh_err **err)
{
	bool mount = mount_from && !streq(mount_from, ref->path);
	for (size_t i = 0; i < n; i++) {
		if (v[i].done)
			continue;
		img_req_release(&v[i].req);
		req_for(&v[i].req, c, ref, "POST");
		if (mount) {
			v[i].req.path = xasprintf("/%s/blobs/uploads/?mount=%s&from=%s", ref->path,
						  v[i].d->digest, mount_from);
			v[i].req.mount_from = mount_from;
		} else {
			v[i].req.path = xasprintf("/%s/blobs/uploads/", ref->path);
		}
	}
	int rc = run_phase(c, v, n, err);
	for (size_t i = 0; rc >= 0 && i < n; i++) {
		struct img_req *r = &v[i].req;
		if (v[i].done)
			continue;
		if (r->status == 201 && mount) {
			v[i].done = true;
			img_client_stats_mut(c)->blobs_mounted++;
		} else if (r->status == 202 && r->location) {
			v[i].loc = TAKE_PTR(r->location);
		} else {
			rc = wh_err_wrap(err, img_req_status_error(r, err), "push blob %s",
					 v[i].d->digest);
		}
	}
	return rc;
}

/* One PATCH of the next chunk of every blob with bytes left (chunked uploads). */
static int phase_patch(struct img_client *c, const struct img_ref *ref, struct blob_push *v,
		       size_t n, bool *ret_more, struct wh_err **err)
{
	uint64_t chunk = img_client_opts(c)->chunk_size;
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		img_req_release(&v[i].req);
		if (v[i].done || v[i].off >= v[i].d->size)
			continue;
		uint64_t len = MIN(chunk, v[i].d->size - v[i].off);
		struct img_req *r = &v[i].req;
		req_for(r, c, ref, "PATCH");
		r->url = xstrdup(v[i].loc);
		r->has_body = true;
		r->body_fd = v[i].fd;
		r->body_off = v[i].off;
		r->body_len = len;
		r->content_type = "application/octet-stream";
		r->content_range = xasprintf("%" PRIu64 "-%" PRIu64, v[i].off, v[i].off + len - 1);
		any = true;
	}
	*ret_more = any;
	if (!any)
		return 0;
	struct img_req **pv = xnew0(struct img_req *, n);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].req.method)
			pv[k++] = &v[i].req;
	img_run(c, pv, k);
	free(pv);
	int rc = 0;
	for (size_t i = 0; rc >= 0 && i < n; i++) {
		struct img_req *r = &v[i].req;
		if (!r->method)
			continue;
		if (r->result < 0)
			rc = wh_err_wrap(err, r->err ? wh_err_move(err, &r->err) : r->result,
					 "push blob %s", v[i].d->digest);
		else if (r->status != 202 || !r->location)
			rc = wh_err_wrap(err, img_req_status_error(r, err), "push blob %s",
					 v[i].d->digest);
		else {
			free(v[i].loc);
			v[i].loc = TAKE_PTR(r->location);
			v[i].off += r->body_len;
			img_client_stats_mut(c)->chunks_uploaded++;
		}
	}
	return rc;
}

/* The closing PUT ?digest= of every upload: the whole body (monolithic) or none (chunked). */
static int phase_put(struct img_client *c, const struct img_ref *ref, struct blob_push *v, size_t n,
		     struct wh_err **err)
{
	bool chunked = img_client_opts(c)->chunk_size != 0;
	for (size_t i = 0; i < n; i++) {
		img_req_release(&v[i].req);
		if (v[i].done)
			continue;
		struct img_req *r = &v[i].req;
		req_for(r, c, ref, "PUT");
		r->url = with_digest(v[i].loc, v[i].d->digest);
		r->has_body = true;
		r->body_fd = v[i].fd;
		r->body_len = chunked ? 0 : v[i].d->size;
		r->content_type = "application/octet-stream";
	}
	int rc = run_phase(c, v, n, err);
	for (size_t i = 0; rc >= 0 && i < n; i++) {
		struct img_req *r = &v[i].req;
		if (v[i].done)
			continue;
		if (r->status != 201)
			rc = wh_err_wrap(err, img_req_status_error(r, err), "push blob %s",
					 v[i].d->digest);
		else if (r->docker_digest && !streq(r->docker_digest, v[i].d->digest))
			rc = wh_err_setx(err, EBADMSG, "push blob %s: the registry stored %s",
					 v[i].d->digest, r->docker_digest);
		else
			img_client_stats_mut(c)->blobs_uploaded++;
	}
	return rc;
}

/*
 * Pushes blobs in parallel, phase by phase: HEAD (skip what is there), POST (mount, or open
 * an upload session), PATCH rounds when chunked, then the closing PUT.
 */
static int push_blobs(struct img_client *c, const struct img_ref *ref, struct img_desc **ds,
		      size_t n, struct img_source *src, const char *mount_from, struct wh_err **err)
{
	struct blob_push *v = xnew0(struct blob_push, n ? n : 1);
	for (size_t i = 0; i < n; i++)
		v[i] = (struct blob_push){.d = ds[i], .fd = -EBADF};
	int rc = phase_head(c, ref, v, n, err);
	if (rc >= 0)
		rc = phase_start(c, ref, mount_from, v, n, err);
	for (size_t i = 0; rc >= 0 && i < n; i++)
		if (!v[i].done && (rc = src->open(src, v[i].d, &v[i].fd, err)) < 0)
			rc = wh_err_wrap(err, rc, "push blob %s", v[i].d->digest);
	bool more = img_client_opts(c)->chunk_size != 0;
	while (rc >= 0 && more)
		rc = phase_patch(c, ref, v, n, &more, err);
	if (rc >= 0)
		rc = phase_put(c, ref, v, n, err);
	for (size_t i = 0; i < n; i++) {
		img_req_release(&v[i].req);
		free(v[i].loc);
		wh_close(v[i].fd);
	}
	free(v);
	return rc;
}

static int put_manifest(struct img_client *c, const struct img_ref *ref, const char *object,
			const char *mt, const char *data, size_t len, struct wh_err **err)
{
	struct img_req r;
	req_for(&r, c, ref, "PUT");
	r.path = xasprintf("/%s/manifests/%s", ref->path, object);
	r.has_body = true;
	r.body_buf = data;
	r.body_len = len;
	r.content_type = mt;
	int rc = img_run_one(c, &r, err);
	if (rc >= 0 && r.status != 201)
		rc = img_req_status_error(&r, err);
	char dig[DIGEST_STR_LEN];
	digest_buf(data, len, dig);
	if (rc >= 0 && r.docker_digest && !streq(r.docker_digest, dig))
		rc = wh_err_setx(err, EBADMSG, "manifest %s: the registry stored it as %s", dig,
				 r.docker_digest);
	img_req_release(&r);
	return rc < 0 ? wh_err_wrap(err, rc, "push manifest %s", dig) : 0;
}

static int read_source(struct img_source *src, const struct img_desc *d, char **ret,
		       size_t *ret_len, struct wh_err **err)
{
	cleanup_close int fd = -EBADF;
	if (d->size > IMG_MAX_MANIFEST_SIZE)
		return wh_err_setx(err, EFBIG, "manifest %s: %" PRIu64 " bytes, more than %d",
				   d->digest, d->size, IMG_MAX_MANIFEST_SIZE);
	int rc = src->open(src, d, &fd, err);
	if (rc < 0)
		return rc;
	rc = read_fd(fd, IMG_MAX_MANIFEST_SIZE, ret, ret_len);
	if (rc < 0)
		return wh_err_set(err, rc, "read manifest %s", d->digest);
	char dig[DIGEST_STR_LEN];
	digest_buf(*ret, *ret_len, dig);
	if (!streq(dig, d->digest) || *ret_len != d->size) {
		free(*ret);
		*ret = NULL;
		return wh_err_setx(err, EBADMSG, "manifest %s in the source is corrupt (got %s)",
				   d->digest, dig);
	}
	return 0;
}

/* What a push has to send: blobs first, then manifests (children before their index). */
struct push_plan {
	struct img_desc **blobs;
	size_t n_blobs, cap_blobs;
	struct img_desc *mans; /* manifests in upload order; data in datas */
	char **datas;
	size_t *lens;
	size_t n_mans, cap_mans, cap_datas, cap_lens;
};

static void plan_blob(struct push_plan *p, const struct img_desc *d)
{
	for (size_t i = 0; i < p->n_blobs; i++)
		if (streq(p->blobs[i]->digest, d->digest))
			return;
	xgrow((void **)&p->blobs, &p->cap_blobs, p->n_blobs + 1, sizeof(*p->blobs));
	p->blobs[p->n_blobs] = xnew0(struct img_desc, 1);
	img_desc_copy(p->blobs[p->n_blobs++], d);
}

static void plan_manifest(struct push_plan *p, const struct img_desc *d, char *data, size_t len)
{
	xgrow((void **)&p->mans, &p->cap_mans, p->n_mans + 1, sizeof(*p->mans));
	xgrow((void **)&p->datas, &p->cap_datas, p->n_mans + 1, sizeof(*p->datas));
	xgrow((void **)&p->lens, &p->cap_lens, p->n_mans + 1, sizeof(*p->lens));
	img_desc_copy(&p->mans[p->n_mans], d);
	p->datas[p->n_mans] = data;
	p->lens[p->n_mans++] = len;
}

static void plan_release(struct push_plan *p)
{
	for (size_t i = 0; i < p->n_blobs; i++) {
		img_desc_release(p->blobs[i]);
		free(p->blobs[i]);
	}
	for (size_t i = 0; i < p->n_mans; i++) {
		img_desc_release(&p->mans[i]);
		free(p->datas[i]);
	}
	free(p->blobs);
	free(p->mans);
	free(p->datas);
	free(p->lens);
}

/* Walks the image rooted at d (data owned by the plan afterwards). */
static int plan_tree(struct push_plan *p, struct img_source *src, const struct img_desc *d,
		     char *data, size_t len, int depth, struct wh_err **err)
{
	struct img_manifest m = {0};
	int rc = img_manifest_parse(d->media_type, data, len, &m, err);
	if (rc < 0) {
		free(data);
		return wh_err_wrap(err, rc, "manifest %s", d->digest);
	}
	if (m.kind == IMG_KIND_MANIFEST) {
		plan_blob(p, &m.config);
		for (size_t i = 0; i < m.n_layers; i++)
			plan_blob(p, &m.layers[i]);
	} else if (depth > 0) {
		rc = wh_err_setx(err, EBADMSG, "manifest %s: nested index not supported",
				 d->digest);
	}
	for (size_t i = 0; rc >= 0 && m.kind == IMG_KIND_INDEX && i < m.n_manifests; i++) {
		char *cdata = NULL;
		size_t clen = 0;
		rc = read_source(src, &m.manifests[i], &cdata, &clen, err);
		if (rc >= 0)
			rc = plan_tree(p, src, &m.manifests[i], cdata, clen, depth + 1, err);
	}
	/* Children were added above: the document goes after them. */
	struct img_desc self = {0};
	img_desc_copy(&self, d);
	if (!self.media_type)
		self.media_type = xstrdup(m.media_type);
	img_manifest_release(&m);
	if (rc >= 0)
		plan_manifest(p, &self, data, len);
	else
		free(data);
	img_desc_release(&self);
	return rc;
}

int img_push(struct img_client *c, const struct img_ref *ref, const struct img_desc *root,
	     struct img_source *src, const struct img_push_opts *o, struct wh_err **err)
{
	struct push_plan p = {0};
	cleanup_free char *name = img_ref_string(ref);
	char *data = NULL;
	size_t len = 0;
	if (ref->digest && !streq(ref->digest, root->digest))
		return wh_err_setx(err, EINVAL, "push '%s': the image's digest is %s", name,
				   root->digest);
	int rc = read_source(src, root, &data, &len, err);
	if (rc >= 0)
		rc = plan_tree(&p, src, root, data, len, 0, err);
	if (rc >= 0)
		rc = push_blobs(c, ref, p.blobs, p.n_blobs, src, o ? o->mount_from : NULL, err);
	/* Children by digest, the root last under the tag (or its digest). */
	for (size_t i = 0; rc >= 0 && i < p.n_mans; i++) {
		bool last = i + 1 == p.n_mans;
		const char *object = last && ref->tag ? ref->tag : p.mans[i].digest;
		rc = put_manifest(c, ref, object, p.mans[i].media_type, p.datas[i], p.lens[i], err);
	}
	plan_release(&p);
	return rc < 0 ? wh_err_wrap(err, rc, "push '%s'", name) : 0;
}

int img_tag_remote(struct img_client *c, const struct img_ref *ref, const char *tag,
		   struct wh_err **err)
{
	struct img_desc d = {0};
	cleanup_free char *data = NULL;
	size_t len = 0;
	if (!img_tag_is_valid(tag))
		return wh_err_setx(err, EINVAL, "invalid tag '%s'", tag);
	int rc = img_resolve(c, ref, &d, &data, &len, err);
	if (rc >= 0)
		rc = put_manifest(c, ref, tag, d.media_type, data, len, err);
	img_desc_release(&d);
	return rc < 0 ? wh_err_wrap(err, rc, "tag '%s' as '%s'", ref->path, tag) : 0;
}

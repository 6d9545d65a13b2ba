/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharf.services.images.v1.Transfer: import from an OCI image layout or archive, pull from a
 * registry, export to an OCI image layout, push to a registry. Blobs enter the namespace through
 * metadata writers (verified, owned by the namespace, GC-labelled: manifests reference their config
 * and layers, indexes their manifests, configs their unpacked snapshot), under a temporary lease so
 * GC never sees half an image. Every call runs in a wharfd-worker process of its own (worker.c):
 * registries, archives and layers are hostile input, and the libraries that parse them (libcurl,
 * libarchive) stay out of the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/util.h"
#include "content/content.h"
#include "images/images.h"
#include "metadata/metadata.h"
#include "proto/api/events/container.pb-c.h"
#include "proto/services/images/v1/images.pb-c.h"
#include "proto/services/wharf/v1/transfer.pb-c.h"
#include "snapshots/snapshots.h"
#include "supervisor/archive.h"
#include "supervisor/supervisor.h"

#define BLOB_MAX_DOC (16u << 20)
#define COPY_BUF (1u << 20)

Containerd__Services__Images__V1__Image *image_msg(const struct meta_image *img);

/* Where blobs come from: an OCI layout directory, or the (namespace-less) content store. */
struct blob_src {
	struct img_layout *layout;
	struct content_store *cs;
};

static int src_open(struct blob_src *s, const char *digest, int *ret_fd, struct wh_err **err)
{
	if (s->layout) {
		cleanup_free char *p = img_layout_blob_path(s->layout, digest);
		int fd = open(p, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return wh_err_set(err, errno, "blob %s missing from the layout ('%s')",
					  digest, p);
		*ret_fd = fd;
		return 0;
	} else {
		struct content_reader *rd = NULL;
		int r = content_reader_open(s->cs, digest, &rd, err), fd;

		if (r < 0)
			return r;
		fd = fcntl(content_reader_fd(rd), F_DUPFD_CLOEXEC, 3);
		content_reader_free(rd);
		if (fd < 0)
			return wh_err_set(err, errno, "dup");
		*ret_fd = fd;
		return 0;
	}
}

/* Copies blob d from src into namespace ns (no-op when ns has it), with labels. */
static int ingest(struct daemon *d, const char *ns, const char *lease, struct blob_src *src,
		  const struct img_desc *desc, char *const *labels, struct wh_err **err)
{
	struct meta_content_info info;
	struct meta_writer *w = NULL;
	cleanup_free char *ref = NULL;
	cleanup_free char *buf = NULL;
	cleanup_close int fd = -EBADF;
	char digest[DIGEST_STR_LEN];
	off_t off = 0;
	int r;

	if (meta_content_info(d->db, ns, desc->digest, &info, NULL) >= 0) {
		meta_content_info_release(&info);
		if (labels)
			return meta_content_update(d->db, ns, desc->digest, labels,
						   (const char *const[]){"labels", NULL}, err) < 0
				       ? -EIO
				       : 0;
		return 0;
	}
	if ((r = src_open(src, desc->digest, &fd, err)) < 0)
		return r;
	ref = xasprintf("import-%s", desc->digest);
	r = meta_writer_open(d->db, ns, ref, desc->size, desc->digest, lease, &w, err);
	if (r < 0)
		return r;
	{
		struct content_status st = {0};

		if (meta_writer_status(w, &st, NULL) >= 0)
			off = (off_t)st.offset;
		content_status_release(&st);
	}
	buf = xmalloc(COPY_BUF);
	for (;;) {
		ssize_t n = pread(fd, buf, COPY_BUF, off);

		if (n < 0) {
			r = wh_err_set(err, errno, "read blob %s", desc->digest);
			goto out;
		}
		if (n == 0)
			break;
		if ((r = meta_writer_write(w, buf, (size_t)n, err)) < 0)
			goto out;
		off += n;
	}
	r = meta_writer_commit(w, desc->size, desc->digest, labels, digest, err);
	if (r == -EEXIST) {
		wh_err_free(*err);
		*err = NULL;
		r = 0;
	}
out:
	meta_writer_free(w);
	return r;
}

static int read_doc(struct daemon *d, const char *ns, const char *digest, char **ret,
		    size_t *ret_len, struct wh_err **err)
{
	struct content_reader *rd = NULL;
	uint64_t size;
	char *buf;
	ssize_t n;
	int r;

	r = meta_content_reader_open(d->db, ns, digest, &rd, err);
	if (r < 0)
		return r;
	size = content_reader_size(rd);
	if (size > BLOB_MAX_DOC) {
		content_reader_free(rd);
		return wh_err_setx(err, EFBIG, "document %s too large", digest);
	}
	buf = xmalloc(size + 1);
	n = content_reader_read_at(rd, buf, size, 0, err);
	content_reader_free(rd);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	buf[n] = 0;
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

/*
 * Ingests the tree under desc (children first, so every GC reference points at present content).
 */
static int ingest_tree(struct daemon *d, const char *ns, const char *lease, struct blob_src *src,
		       const struct img_desc *desc, unsigned depth, struct wh_err **err)
{
	cleanup_strv char **labels = NULL;
	cleanup_free char *data = NULL;
	struct img_manifest m = {0};
	size_t len = 0;
	int r;

	if (depth > 4)
		return wh_err_setx(err, ELOOP, "image %s: indexes nested too deep", desc->digest);
	if (!img_media_type_is_index(desc->media_type) &&
	    !img_media_type_is_manifest(desc->media_type))
		return ingest(d, ns, lease, src, desc, NULL, err);
	/* The document first (unlabelled), to parse it from the namespace. */
	if ((r = ingest(d, ns, lease, src, desc, NULL, err)) < 0)
		return r;
	if ((r = read_doc(d, ns, desc->digest, &data, &len, err)) < 0)
		return r;
	if ((r = img_manifest_parse(desc->media_type, data, len, &m, err)) < 0)
		return r;
	if (m.kind == IMG_KIND_INDEX) {
		for (size_t i = 0; i < m.n_manifests; i++) {
			/* Children of other platforms may be absent from a layout: skip those. */
			r = ingest_tree(d, ns, lease, src, &m.manifests[i], depth + 1, err);
			if (r == -ENOENT) {
				wh_err_free(*err);
				*err = NULL;
				continue;
			}
			if (r < 0)
				goto out;
			strv_consume(&labels, xasprintf("containerd.io/gc.ref.content.m.%zu", i));
			strv_push(&labels, m.manifests[i].digest);
		}
	} else {
		if ((r = ingest(d, ns, lease, src, &m.config, NULL, err)) < 0)
			goto out;
		strv_push(&labels, "containerd.io/gc.ref.content.config");
		strv_push(&labels, m.config.digest);
		for (size_t i = 0; i < m.n_layers; i++) {
			if ((r = ingest(d, ns, lease, src, &m.layers[i], NULL, err)) < 0)
				goto out;
			strv_consume(&labels, xasprintf("containerd.io/gc.ref.content.l.%zu", i));
			strv_push(&labels, m.layers[i].digest);
		}
	}
	r = meta_content_update(d->db, ns, desc->digest, labels,
				(const char *const[]){"labels", NULL}, err);
out:
	img_manifest_release(&m);
	return r < 0 ? r : 0;
}

/* Picks the image manifest for platform (NULL: host) under root. ret is a copy. */
static int pick_manifest(struct daemon *d, const char *ns, const struct img_desc *root,
			 const struct img_platform *want, struct img_desc *ret, struct wh_err **err)
{
	struct img_desc cur;
	int r = 0;

	img_desc_copy(&cur, root);
	for (unsigned depth = 0; depth < 5; depth++) {
		cleanup_free char *data = NULL;
		struct img_manifest m = {0};
		struct img_platform host = {0};
		size_t len = 0, *idx = NULL, n = 0;

		if (!img_media_type_is_index(cur.media_type)) {
			*ret = cur;
			return 0;
		}
		if ((r = read_doc(d, ns, cur.digest, &data, &len, err)) < 0 ||
		    (r = img_manifest_parse(cur.media_type, data, len, &m, err)) < 0)
			break;
		if (!want)
			img_platform_host(&host);
		r = img_index_select(&m, want ? want : &host, &idx, &n, err);
		img_platform_release(&host);
		if (r < 0 || n == 0) {
			img_manifest_release(&m);
			free(idx);
			if (r >= 0)
				r = wh_err_setx(err, ENOENT, "no manifest for this platform");
			break;
		}
		img_desc_release(&cur);
		img_desc_copy(&cur, &m.manifests[idx[0]]);
		free(idx);
		img_manifest_release(&m);
	}
	img_desc_release(&cur);
	return r < 0 ? r : wh_err_setx(err, ELOOP, "indexes nested too deep");
}

static void snapshotter_closep(struct snapshotter **s)
{
	if (*s)
		snapshotter_close(*s);
}

/* Unpacks the image rooted at root into snapshotter sn_name of ns; labels its config. */
static int unpack(struct daemon *d, const char *ns, const char *lease, const char *sn_name,
		  const struct img_desc *root, const struct img_platform *want,
		  struct img_unpack_result *res, struct wh_err **err)
{
	cleanup(snapshotter_closep) struct snapshotter *view = NULL;
	struct snapshotter *backend;
	const char *real;
	struct img_desc man = {0};
	cleanup_free char *key = NULL;
	int r;

	if ((r = daemon_snapshotter(d, sn_name, &backend, &real, err)) < 0)
		return r;
	if ((r = pick_manifest(d, ns, root, want, &man, err)) < 0)
		return r;
	view = snview_new(d, ns, real, backend, lease);
	r = img_unpack(d->cs, view, &man, res, err);
	if (r >= 0) {
		struct img_manifest m = {0};
		cleanup_free char *data = NULL;
		size_t len;

		if ((r = read_doc(d, ns, man.digest, &data, &len, err)) >= 0 &&
		    (r = img_manifest_parse(man.media_type, data, len, &m, err)) >= 0) {
			cleanup_free char *path = NULL;

			key = xasprintf("containerd.io/gc.ref.snapshot.%s", real);
			path = xasprintf("labels.%s", key);
			r = meta_content_update(d->db, ns, m.config.digest,
						(char *const[]){key, res->chain_id, NULL},
						(const char *const[]){path, NULL}, err);
			img_manifest_release(&m);
		}
	}
	img_desc_release(&man);
	return r < 0 ? r : 0;
}

/* A temporary lease guarding one transfer; deleted at the end (GC may then take orphans). */
static char *lease_begin(struct daemon *d, const char *ns, struct wh_err **err)
{
	char *id = xasprintf("transfer-%llu-%d", (unsigned long long)now_real_ns(), getpid());
	cleanup_free char *exp = time_rfc3339(now_real_ns() + 24ull * 3600 * 1000000000ull);

	if (meta_lease_create(d->db, ns, id,
			      (char *const[]){(char *)META_LABEL_GC_EXPIRE, exp, NULL}, err) < 0) {
		free(id);
		return NULL;
	}
	return id;
}

static void lease_end(struct daemon *d, const char *ns, char *id)
{
	if (id)
		meta_lease_delete(d->db, ns, id, NULL);
	free(id);
}

static void image_created(struct daemon *d, const char *ns, const char *name)
{
	Containerd__Events__ImageCreate ev = CONTAINERD__EVENTS__IMAGE_CREATE__INIT;

	ev.name = (char *)name;
	daemon_publish(d, ns, "/images/create", &ev.base);
}

/* Creates or updates the image record name -> root. */
static int record_image(struct daemon *d, const char *ns, const char *name,
			const struct img_desc *root, char *const *labels, struct meta_image *ret,
			struct wh_err **err)
{
	struct meta_image img = {0};
	int r;

	img.name = (char *)name;
	img.target.media_type = root->media_type;
	if (strlen(root->digest) >= sizeof(img.target.digest))
		return wh_err_setx(err, EINVAL, "bad digest '%s'", root->digest);
	strcpy(img.target.digest, root->digest);
	img.target.size = (int64_t)root->size;
	img.labels = (char **)labels;
	r = meta_image_create(d->db, ns, &img, err);
	if (r == -EEXIST) {
		wh_err_free(*err);
		*err = NULL;
		r = meta_image_update(d->db, ns, &img, NULL, err);
	}
	if (r < 0)
		return r;
	return meta_image_get(d->db, ns, name, ret, err);
}

static int platform_from_msg(const Containerd__Types__Platform *p, struct img_platform *ret,
			     struct wh_err **err)
{
	cleanup_free char *s = NULL;

	if (!p || !pb_nz(p->os))
		return 0;
	s = xasprintf("%s/%s%s%s", p->os, p->architecture ? p->architecture : "",
		      pb_nz(p->variant) ? "/" : "", pb_nz(p->variant) ? p->variant : "");
	return img_platform_parse(s, ret, err) < 0 ? -EINVAL : 1;
}

/* The name an imported entry gets. */
static char *import_name(const char *annotation, const char *base)
{
	if (!annotation || !*annotation)
		return base && *base ? xstrdup(base) : NULL;
	if (strchr(annotation, '/') || !base || !*base)
		return xstrdup(annotation);
	return xasprintf("%s:%s", base, annotation);
}

static int do_import(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Wharf__Services__Images__V1__ImportRequest *q = (const void *)req;
	Wharf__Services__Images__V1__ImportResponse *resp = NULL;
	struct daemon *d = c->d;
	struct blob_src src = {0};
	struct img_platform plat = {0};
	struct img_manifest idx = {0};
	cleanup_free char *index = NULL, *lease = NULL, *tmpdir = NULL;
	cleanup_strv char **labels = pb_map_to_strv((void *const *)q->labels, q->n_labels);
	const char *path = q->path;
	struct stat st;
	size_t len = 0;
	int r, has_plat;

	if (!pb_nz(q->path))
		return wh_err_setx(err, EINVAL, "import: path required");
	if (stat(q->path, &st) < 0)
		return wh_err_set(err, errno, "import: '%s'", q->path);
	if (S_ISREG(st.st_mode)) {
		if ((r = archive_to_layout(q->path, d->cfg.state, &tmpdir, err)) < 0)
			return wh_err_wrap(err, r, "import");
		path = tmpdir;
	} else if (!S_ISDIR(st.st_mode)) {
		return wh_err_setx(
			err, EINVAL,
			"import: '%s' is neither an OCI image layout directory nor a tar", q->path);
	}
	if ((has_plat = platform_from_msg(q->platform, &plat, err)) < 0)
		return has_plat;
	if ((r = img_layout_open(path, false, &src.layout, err)) < 0)
		goto out;
	{
		cleanup_free char *ip = path_join(path, "index.json");

		if ((r = read_file(ip, BLOB_MAX_DOC, &index, &len)) < 0) {
			r = wh_err_set(err, r, "import: cannot read '%s'", ip);
			goto out;
		}
	}
	if ((r = img_manifest_parse(IMG_MT_OCI_INDEX, index, len, &idx, err)) < 0)
		goto out;
	if (idx.kind != IMG_KIND_INDEX || idx.n_manifests == 0) {
		r = wh_err_setx(err, EINVAL, "import: '%s' has an empty index.json", q->path);
		goto out;
	}
	lease = lease_begin(d, c->ns, err);
	if (!lease) {
		r = -EIO;
		goto out;
	}
	resp = pb_new(&wharf__services__images__v1__import_response__descriptor);
	resp->images = xnew0(Containerd__Services__Images__V1__Image *, idx.n_manifests);
	for (size_t i = 0; i < idx.n_manifests; i++) {
		const struct img_desc *e = &idx.manifests[i];
		const char *ann = img_desc_annotation(e, "org.opencontainers.image.ref.name");
		cleanup_free char *name = NULL;
		struct meta_image img;

		if (pb_nz(q->index_name) && (!ann || !streq(ann, q->index_name)))
			continue;
		name = import_name(ann, q->base_name);
		if (!name)
			name = xasprintf("import-%s", e->digest + 7);
		if ((r = ingest_tree(d, c->ns, lease, &src, e, 0, err)) < 0) {
			wh_err_wrap(err, r, "import '%s'", name);
			goto out;
		}
		if (q->unpack) {
			struct img_unpack_result res;

			r = unpack(d, c->ns, lease, q->snapshotter, e, has_plat ? &plat : NULL,
				   &res, err);
			if (r < 0) {
				wh_err_wrap(err, r, "unpack '%s'", name);
				goto out;
			}
		}
		if ((r = record_image(d, c->ns, name, e, labels, &img, err)) < 0)
			goto out;
		resp->images[resp->n_images++] = image_msg(&img);
		meta_image_release(&img);
		image_created(d, c->ns, name);
	}
	if (resp->n_images == 0) {
		r = wh_err_setx(err, ENOENT, "import: no image named '%s' in '%s'",
				q->index_name ? q->index_name : "", q->path);
		goto out;
	}
	*ret = &resp->base;
	resp = NULL;
	r = 0;
out:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	lease_end(d, c->ns, TAKE_PTR(lease));
	img_manifest_release(&idx);
	img_platform_release(&plat);
	img_layout_free(src.layout);
	if (tmpdir)
		rm_rf(tmpdir);
	return r;
}

/*
 * The pull's store: blobs go straight into the namespace through verified metadata writers under
 * the pull's lease, resumable by containerd's ingest ref ("layer-sha256:..."), written once.
 */
struct ns_store {
	struct img_store base;
	struct daemon *d;
	const char *ns, *lease;
};

struct ns_sink {
	struct img_sink base;
	struct ns_store *owner;
	struct meta_writer *w;
	const struct img_desc *desc;
	char *ref;
};

static int ns_prime(struct img_sink *s, uint64_t offset, struct digester *dg, struct wh_err **err)
{
	(void)s, (void)offset, (void)dg;
	/* Never called: the sink verifies at commit (verifies = true). */
	return wh_err_setx(err, ENOTSUP, "prime: the metadata writer verifies by itself");
}

static int ns_truncate(struct img_sink *s, struct wh_err **err)
{
	struct ns_sink *k = (struct ns_sink *)s;
	struct ns_store *o = k->owner;

	k->w = meta_writer_free(k->w);
	meta_content_abort(o->d->db, o->ns, k->ref, NULL);
	return meta_writer_open(o->d->db, o->ns, k->ref, k->desc->size, k->desc->digest, o->lease,
				&k->w, err);
}

static int ns_write(struct img_sink *s, const void *buf, size_t len, struct wh_err **err)
{
	return meta_writer_write(((struct ns_sink *)s)->w, buf, len, err);
}

static int ns_commit(struct img_sink *s, const char *digest, uint64_t size, struct wh_err **err)
{
	struct ns_sink *k = (struct ns_sink *)s;
	cleanup_err struct wh_err *e = NULL;
	char out[DIGEST_STR_LEN];
	int r = meta_writer_commit(k->w, size, digest, NULL, out, &e);

	if (r == -EEXIST)
		return 0; /* a concurrent pull committed it first */
	return r < 0 ? wh_err_move(err, &e) : 0;
}

static int ns_has(struct img_store *s, const struct img_desc *d, struct wh_err **err)
{
	struct ns_store *o = (struct ns_store *)s;
	struct meta_content_info info;
	cleanup_err struct wh_err *e = NULL;
	int r = meta_content_info(o->d->db, o->ns, d->digest, &info, &e);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return wh_err_move(err, &e);
	r = info.size == d->size ? 1 : 0;
	meta_content_info_release(&info);
	return r;
}

static void ns_close(struct img_store *s, struct img_sink *sink)
{
	struct ns_sink *k = (struct ns_sink *)sink;

	(void)s;
	if (!k)
		return;
	meta_writer_free(k->w);
	free(k->ref);
	free(k);
}

static int ns_open(struct img_store *s, const struct img_desc *d, struct img_sink **ret,
		   uint64_t *ret_offset, struct wh_err **err)
{
	struct ns_store *o = (struct ns_store *)s;
	struct ns_sink *k = xnew0(struct ns_sink, 1);
	struct content_status st = {0};
	int r;

	k->base = (struct img_sink){
		.verifies = true,
		.prime = ns_prime,
		.truncate = ns_truncate,
		.write = ns_write,
		.commit = ns_commit,
	};
	k->owner = o;
	k->desc = d;
	k->ref = img_ref_key(d);
	r = meta_writer_open(o->d->db, o->ns, k->ref, d->size, d->digest, o->lease, &k->w, err);
	if (r >= 0)
		r = meta_writer_status(k->w, &st, err);
	if (r < 0) {
		ns_close(s, &k->base);
		return r;
	}
	*ret_offset = st.offset;
	content_status_release(&st);
	*ret = &k->base;
	return 0;
}

/* Pull progress, posted from the worker to the events bus (throttled per blob). */
struct progress {
	struct daemon *d;
	const char *ns, *ref;
	uint64_t last_ns;
	char last_digest[DIGEST_STR_LEN];
};

static void on_progress(void *userdata, const char *digest, uint64_t done, uint64_t total)
{
	struct progress *pg = userdata;
	Wharf__Services__Images__V1__PullProgress ev =
		WHARF__SERVICES__IMAGES__V1__PULL_PROGRESS__INIT;
	uint64_t now = now_mono_ns();

	if (done < total && streq(pg->last_digest, digest) && now - pg->last_ns < 200000000ull)
		return;
	pg->last_ns = now;
	snprintf(pg->last_digest, sizeof(pg->last_digest), "%s", digest);
	ev.ref = (char *)pg->ref;
	ev.digest = (char *)digest;
	ev.offset = (int64_t)done;
	ev.total = (int64_t)total;
	daemon_publish(pg->d, pg->ns, "/images/pull/progress", &ev.base);
}

static int make_client(struct daemon *d, const Wharf__Services__Images__V1__RegistryOptions *o,
		       const struct img_ref *ref, struct progress *pg, struct img_client **ret,
		       struct wh_err **err)
{
	cleanup_strv char **plain = strv_copy(d->cfg.plain_http);
	struct img_client_opts opts = {0};

	if (o && o->plain_http)
		strv_push(&plain, ref->domain);
	opts.plain_http_hosts = plain;
	opts.hosts_dir = d->cfg.registry_config_path;
	opts.skip_verify = o && o->skip_verify;
	opts.user = o ? pb_nz(o->user) : NULL;
	opts.pass = o ? pb_nz(o->password) : NULL;
	if (pg) {
		opts.progress = on_progress;
		opts.progress_userdata = pg;
	}
	return img_client_new(&opts, ret, err);
}

static int do_pull(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Wharf__Services__Images__V1__PullRequest *q = (const void *)req;
	Wharf__Services__Images__V1__PullResponse *resp;
	struct daemon *d = c->d;
	struct img_ref ref = {0};
	struct img_platform plat = {0};
	struct img_client *cl = NULL;
	struct img_desc root = {0};
	struct img_pull_opts po = {0};
	struct blob_src src = {.cs = d->cs}; /* unused by ingest_tree: the blobs are in ns */
	struct img_unpack_result res = {0};
	struct progress pg = {.d = d, .ns = c->ns, .ref = q->ref};
	cleanup_strv char **labels = pb_map_to_strv((void *const *)q->labels, q->n_labels);
	cleanup_free char *lease = NULL, *name = NULL;
	struct meta_image img;
	int r, has_plat;

	if (!pb_nz(q->ref))
		return wh_err_setx(err, EINVAL, "pull: reference required");
	if ((r = img_ref_parse(q->ref, &ref, err)) < 0)
		return r;
	if ((has_plat = platform_from_msg(q->platform, &plat, err)) < 0) {
		r = has_plat;
		goto out;
	}
	if ((r = make_client(d, q->registry, &ref, &pg, &cl, err)) < 0)
		goto out;
	po.platform = has_plat ? &plat : NULL;
	po.all_platforms = q->all_platforms;
	lease = lease_begin(d, c->ns, err);
	if (!lease) {
		r = -EIO;
		goto out;
	}
	{
		struct ns_store store = {
			.base = {ns_has, ns_open, ns_close},
			.d = d,
			.ns = c->ns,
			.lease = lease,
		};

		r = img_pull(cl, &ref, &po, &store.base, &root, err);
	}
	if (r < 0)
		goto out;
	if ((r = ingest_tree(d, c->ns, lease, &src, &root, 0, err)) < 0)
		goto out;
	if (q->unpack && (r = unpack(d, c->ns, lease, q->snapshotter, &root,
				     has_plat ? &plat : NULL, &res, err)) < 0)
		goto out;
	name = img_ref_string(&ref);
	if ((r = record_image(d, c->ns, name, &root, labels, &img, err)) < 0)
		goto out;
	image_created(d, c->ns, name);
	resp = pb_new(&wharf__services__images__v1__pull_response__descriptor);
	resp->image = image_msg(&img);
	meta_image_release(&img);
	if (q->unpack) {
		resp->chain_id = pb_str(res.chain_id);
		resp->layers_applied = (uint32_t)res.applied;
		resp->layers_reused = (uint32_t)res.reused;
	}
	*ret = &resp->base;
	r = 0;
out:
	lease_end(d, c->ns, TAKE_PTR(lease));
	img_desc_release(&root);
	img_client_free(cl);
	img_platform_release(&plat);
	img_ref_release(&ref);
	return r;
}

/* Pushing and exporting read blobs of the namespace. */
struct ns_source {
	struct img_source base;
	struct daemon *d;
	const char *ns;
};

static int ns_source_open(struct img_source *s, const struct img_desc *desc, int *ret_fd,
			  struct wh_err **err)
{
	struct ns_source *n = (struct ns_source *)s;
	struct content_reader *rd = NULL;
	int r = meta_content_reader_open(n->d->db, n->ns, desc->digest, &rd, err), fd;

	if (r < 0)
		return r;
	fd = fcntl(content_reader_fd(rd), F_DUPFD_CLOEXEC, 3);
	content_reader_free(rd);
	if (fd < 0)
		return wh_err_set(err, errno, "dup");
	if (lseek(fd, 0, SEEK_SET) < 0) {
		wh_close(fd);
		return wh_err_set(err, errno, "seek");
	}
	*ret_fd = fd;
	return 0;
}

static void desc_from_meta(const struct meta_image *img, struct img_desc *ret)
{
	*ret = (struct img_desc){0};
	ret->media_type = xstrdup(img->target.media_type);
	ret->digest = xstrdup(img->target.digest);
	ret->size = (uint64_t)img->target.size;
}

static int do_push(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		   struct wh_err **err)
{
	const Wharf__Services__Images__V1__PushRequest *q = (const void *)req;
	Wharf__Services__Images__V1__PushResponse *resp;
	struct ns_source src = {{ns_source_open}, c->d, c->ns};
	struct img_push_opts po = {.mount_from = pb_nz(q->mount_from)};
	struct img_client *cl = NULL;
	struct img_ref ref = {0};
	struct img_desc root;
	struct meta_image img;
	int r;

	if (!pb_nz(q->name))
		return wh_err_setx(err, EINVAL, "push: image name required");
	if ((r = meta_image_get(c->d->db, c->ns, q->name, &img, err)) < 0)
		return r;
	desc_from_meta(&img, &root);
	meta_image_release(&img);
	if ((r = img_ref_parse(pb_nz(q->ref) ? q->ref : q->name, &ref, err)) < 0 ||
	    (r = make_client(c->d, q->registry, &ref, NULL, &cl, err)) < 0 ||
	    (r = img_push(cl, &ref, &root, &src.base, &po, err)) < 0)
		goto out;
	resp = pb_new(&wharf__services__images__v1__push_response__descriptor);
	resp->target = pb_new(&containerd__types__descriptor__descriptor);
	resp->target->media_type = pb_str(root.media_type);
	resp->target->digest = pb_str(root.digest);
	resp->target->size = (int64_t)root.size;
	*ret = &resp->base;
out:
	img_client_free(cl);
	img_ref_release(&ref);
	img_desc_release(&root);
	return r < 0 ? r : 0;
}

/* Copies the tree under desc from the namespace into the layout store. */
static int export_tree(struct daemon *d, const char *ns, struct img_store *store,
		       const struct img_desc *desc, unsigned depth, struct wh_err **err)
{
	struct ns_source src = {{ns_source_open}, d, ns};
	struct img_sink *sink = NULL;
	cleanup_free char *buf = NULL;
	cleanup_close int fd = -EBADF;
	uint64_t off = 0;
	int r;

	if (depth > 4)
		return wh_err_setx(err, ELOOP, "indexes nested too deep");
	if (img_media_type_is_index(desc->media_type) ||
	    img_media_type_is_manifest(desc->media_type)) {
		cleanup_free char *data = NULL;
		struct img_manifest m = {0};
		size_t len;

		if ((r = read_doc(d, ns, desc->digest, &data, &len, err)) < 0 ||
		    (r = img_manifest_parse(desc->media_type, data, len, &m, err)) < 0)
			return r;
		for (size_t i = 0; r >= 0 && i < m.n_manifests; i++) {
			r = export_tree(d, ns, store, &m.manifests[i], depth + 1, err);
			if (r == -ENOENT) { /* another platform's manifest was never fetched */
				wh_err_free(*err);
				*err = NULL;
				r = 0;
			}
		}
		if (m.kind == IMG_KIND_MANIFEST) {
			if (r >= 0)
				r = export_tree(d, ns, store, &m.config, depth + 1, err);
			for (size_t i = 0; r >= 0 && i < m.n_layers; i++)
				r = export_tree(d, ns, store, &m.layers[i], depth + 1, err);
		}
		img_manifest_release(&m);
		if (r < 0)
			return r;
	}
	if ((r = store->has(store, desc, err)) != 0)
		return r < 0 ? r : 0;
	if ((r = ns_source_open(&src.base, desc, &fd, err)) < 0)
		return r;
	if ((r = store->open(store, desc, &sink, &off, err)) < 0)
		return r;
	if (off > 0 && (r = sink->truncate(sink, err)) < 0)
		goto out;
	buf = xmalloc(COPY_BUF);
	for (off = 0;;) {
		ssize_t n = pread(fd, buf, COPY_BUF, (off_t)off);

		if (n < 0) {
			r = wh_err_set(err, errno, "read %s", desc->digest);
			goto out;
		}
		if (n == 0)
			break;
		if ((r = sink->write(sink, buf, (size_t)n, err)) < 0)
			goto out;
		off += (uint64_t)n;
	}
	r = sink->commit(sink, desc->digest, desc->size, err);
out:
	store->close(store, sink);
	return r < 0 ? r : 0;
}

static int do_export(struct svc_ctx *c, const ProtobufCMessage *req, ProtobufCMessage **ret,
		     struct wh_err **err)
{
	const Wharf__Services__Images__V1__ExportRequest *q = (const void *)req;
	Wharf__Services__Images__V1__ExportResponse *resp = NULL;
	struct img_layout *l = NULL;
	int r = 0;

	if (!pb_nz(q->path) || q->n_names == 0)
		return wh_err_setx(err, EINVAL, "export: path and image names required");
	if ((r = img_layout_open(q->path, true, &l, err)) < 0)
		return r;
	resp = pb_new(&wharf__services__images__v1__export_response__descriptor);
	resp->exported = xnew0(Containerd__Types__Descriptor *, q->n_names);
	for (size_t i = 0; i < q->n_names; i++) {
		struct meta_image img;
		struct img_desc root;
		Containerd__Types__Descriptor *dm;

		if ((r = meta_image_get(c->d->db, c->ns, q->names[i], &img, err)) < 0)
			break;
		desc_from_meta(&img, &root);
		meta_image_release(&img);
		r = export_tree(c->d, c->ns, img_layout_store(l), &root, 0, err);
		if (r >= 0)
			r = img_layout_add(l, &root, q->names[i], err);
		if (r >= 0) {
			dm = pb_new(&containerd__types__descriptor__descriptor);
			dm->media_type = pb_str(root.media_type);
			dm->digest = pb_str(root.digest);
			dm->size = (int64_t)root.size;
			resp->exported[resp->n_exported++] = dm;
		}
		img_desc_release(&root);
		if (r < 0)
			break;
	}
	img_layout_free(l);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return r;
	}
	*ret = &resp->base;
	return 0;
}

/* Run by wharfd-worker, one call per process (worker.c has wharfd's side). */
const struct svc_service worker_svc_transfer = {
	&wharf__services__images__v1__transfer__descriptor,
	(const struct svc_method[]){{"Pull", do_pull},
				    {"Push", do_push},
				    {"Import", do_import},
				    {"Export", do_export},
				    {NULL, NULL}},
};

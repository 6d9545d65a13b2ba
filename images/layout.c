/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI image-layout directories (oci-layout, index.json, blobs/sha256/<hex>) as a pull store
 * with resumable ingest files (.ingest/<hex>, renamed into blobs/ once verified) and as a push
 * source. index.json entries are named by org.opencontainers.image.ref.name.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#include <sys/stat.h>

#include "images/internal.h"

#define REF_NAME "org.opencontainers.image.ref.name"
#define INDEX_MAX (16 * 1024 * 1024)

struct img_layout {
	char *dir;
	struct img_store store;
	struct img_source source;
};

struct layout_sink {
	struct img_sink base;
	int fd;
	char *ingest;
	char *final;
	bool committed;
};

char *img_layout_blob_path(struct img_layout *l, const char *digest)
{
	const char *hex = digest + 7;
	return xasprintf("%s/blobs/sha256/%s", l->dir, hex);
}

static int sink_prime(struct img_sink *s, uint64_t offset, struct digester *d, struct wh_err **err)
{
	struct layout_sink *ls = (struct layout_sink *)s;
	char buf[65536];
	uint64_t pos = 0;
	while (pos < offset) {
		size_t want = (size_t)MIN((uint64_t)sizeof(buf), offset - pos);
		ssize_t n = pread(ls->fd, buf, want, (off_t)pos);
		if (n < 0)
			return wh_err_set(err, errno, "read '%s'", ls->ingest);
		if (n == 0)
			return wh_err_setx(err, EIO, "'%s' is shorter than %" PRIu64 " bytes",
					   ls->ingest, offset);
		digester_update(d, buf, (size_t)n);
		pos += (uint64_t)n;
	}
	return 0;
}

static int sink_truncate(struct img_sink *s, struct wh_err **err)
{
	struct layout_sink *ls = (struct layout_sink *)s;
	if (ftruncate(ls->fd, 0) < 0)
		return wh_err_set(err, errno, "truncate '%s'", ls->ingest);
	return 0;
}

static int sink_write(struct img_sink *s, const void *buf, size_t len, struct wh_err **err)
{
	struct layout_sink *ls = (struct layout_sink *)s;
	int r = write_all(ls->fd, buf, len);
	if (r < 0)
		return wh_err_set(err, r, "write '%s'", ls->ingest);
	return 0;
}

static int sink_commit(struct img_sink *s, const char *digest, uint64_t size, struct wh_err **err)
{
	struct layout_sink *ls = (struct layout_sink *)s;
	struct stat st;
	if (fstat(ls->fd, &st) < 0)
		return wh_err_set(err, errno, "stat '%s'", ls->ingest);
	if ((uint64_t)st.st_size != size)
		return wh_err_setx(err, EIO, "'%s' holds %" PRIu64 " bytes, expected %" PRIu64,
				   ls->ingest, (uint64_t)st.st_size, size);
	if (rename(ls->ingest, ls->final) < 0)
		return wh_err_set(err, errno, "rename '%s' to '%s'", ls->ingest, ls->final);
	ls->committed = true;
	return 0;
}

static int store_has(struct img_store *s, const struct img_desc *d, struct wh_err **err)
{
	struct img_layout *l =
		(struct img_layout *)((char *)s - offsetof(struct img_layout, store));
	if (!digest_is_valid(d->digest))
		return wh_err_setx(err, EINVAL, "invalid digest '%s'", d->digest);
	cleanup_free char *p = img_layout_blob_path(l, d->digest);
	struct stat st;
	if (stat(p, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return wh_err_set(err, errno, "stat '%s'", p);
	}
	return (uint64_t)st.st_size == d->size ? 1 : 0;
}

static int store_open(struct img_store *s, const struct img_desc *d, struct img_sink **ret,
		      uint64_t *ret_offset, struct wh_err **err)
{
	struct img_layout *l =
		(struct img_layout *)((char *)s - offsetof(struct img_layout, store));
	if (!digest_is_valid(d->digest))
		return wh_err_setx(err, EINVAL, "invalid digest '%s'", d->digest);
	struct layout_sink *ls = xnew0(struct layout_sink, 1);
	ls->base = (struct img_sink){
		.prime = sink_prime,
		.truncate = sink_truncate,
		.write = sink_write,
		.commit = sink_commit,
	};
	ls->ingest = xasprintf("%s/.ingest/%s", l->dir, d->digest + 7);
	ls->final = img_layout_blob_path(l, d->digest);
	ls->fd = open(ls->ingest, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	struct stat st;
	if (ls->fd < 0 || fstat(ls->fd, &st) < 0) {
		int rc = wh_err_set(err, errno, "open '%s'", ls->ingest);
		s->close(s, &ls->base);
		return rc;
	}
	uint64_t have = (uint64_t)st.st_size;
	if (have > d->size) {
		/* Longer than the blob: not ours to resume from. */
		if (ftruncate(ls->fd, 0) < 0) {
			int rc = wh_err_set(err, errno, "truncate '%s'", ls->ingest);
			s->close(s, &ls->base);
			return rc;
		}
		have = 0;
	}
	*ret_offset = have;
	*ret = &ls->base;
	return 0;
}

static void store_close(struct img_store *s, struct img_sink *sink)
{
	struct layout_sink *ls = (struct layout_sink *)sink;
	if (!ls)
		return;
	if (ls->fd >= 0) {
		/* An empty ingest file is no progress worth keeping. */
		struct stat st;
		if (!ls->committed && fstat(ls->fd, &st) == 0 && st.st_size == 0)
			unlink(ls->ingest);
		close(ls->fd);
	}
	free(ls->ingest);
	free(ls->final);
	free(ls);
}

static int source_open(struct img_source *s, const struct img_desc *d, int *ret_fd,
		       struct wh_err **err)
{
	struct img_layout *l =
		(struct img_layout *)((char *)s - offsetof(struct img_layout, source));
	if (!digest_is_valid(d->digest))
		return wh_err_setx(err, EINVAL, "invalid digest '%s'", d->digest);
	cleanup_free char *p = img_layout_blob_path(l, d->digest);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return wh_err_set(err, errno, "open blob '%s'", p);
	*ret_fd = fd;
	return 0;
}

static int write_index(struct img_layout *l, const struct img_manifest *idx, struct wh_err **err)
{
	yajl_gen g = json_gen_new(false);
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "schemaVersion", 2);
	json_gen_kv_str(g, "mediaType", IMG_MT_OCI_INDEX);
	json_gen_str(g, "manifests");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < idx->n_manifests; i++)
		img_desc_gen(g, &idx->manifests[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	size_t len = 0;
	cleanup_free char *text = json_gen_finish(g, &len);
	cleanup_free char *p = path_join(l->dir, "index.json");
	int r = write_file_atomic(p, text, len, 0644);
	return r < 0 ? wh_err_set(err, r, "write '%s'", p) : 0;
}

static int read_index(struct img_layout *l, struct img_manifest *ret, struct wh_err **err)
{
	cleanup_free char *p = path_join(l->dir, "index.json");
	cleanup_free char *text = NULL;
	size_t len = 0;
	int r = read_file(p, INDEX_MAX, &text, &len);
	if (r < 0)
		return wh_err_set(err, r, "read '%s'", p);
	r = img_manifest_parse(IMG_MT_OCI_INDEX, text, len, ret, err);
	return r < 0 ? wh_err_wrap(err, r, "'%s'", p) : 0;
}

int img_layout_open(const char *dir, bool create, struct img_layout **ret, struct wh_err **err)
{
	cleanup_free char *blobs = xasprintf("%s/blobs/sha256", dir);
	cleanup_free char *ingest = xasprintf("%s/.ingest", dir);
	cleanup_free char *marker = path_join(dir, "oci-layout");
	struct img_layout *l = xnew0(struct img_layout, 1);
	l->dir = xstrdup(dir);
	l->store = (struct img_store){store_has, store_open, store_close};
	l->source = (struct img_source){source_open};
	int r = 0;
	if (create && access(marker, F_OK) < 0) {
		const char *text = "{\"imageLayoutVersion\":\"1.0.0\"}";
		struct img_manifest empty = {.kind = IMG_KIND_INDEX};
		r = mkdir_p(blobs, 0755);
		if (r < 0)
			r = wh_err_set(err, r, "create '%s'", blobs);
		if (r >= 0 && (r = write_file_atomic(marker, text, strlen(text), 0644)) < 0)
			r = wh_err_set(err, r, "write '%s'", marker);
		if (r >= 0)
			r = write_index(l, &empty, err);
	} else if (access(marker, F_OK) < 0) {
		r = wh_err_set(err, errno, "'%s' is not an OCI layout (no oci-layout file)", dir);
	}
	if (r >= 0 && (r = mkdir_p(blobs, 0755)) < 0)
		r = wh_err_set(err, r, "create '%s'", blobs);
	if (r >= 0 && (r = mkdir_p(ingest, 0755)) < 0)
		r = wh_err_set(err, r, "create '%s'", ingest);
	if (r < 0) {
		img_layout_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

struct img_layout *img_layout_free(struct img_layout *l)
{
	if (!l)
		return NULL;
	/* Keep .ingest only while it holds partial downloads. */
	cleanup_free char *ingest = xasprintf("%s/.ingest", l->dir);
	(void)rmdir(ingest);
	free(l->dir);
	free(l);
	return NULL;
}

struct img_store *img_layout_store(struct img_layout *l)
{
	return &l->store;
}

struct img_source *img_layout_source(struct img_layout *l)
{
	return &l->source;
}

int img_layout_add(struct img_layout *l, const struct img_desc *root, const char *name,
		   struct wh_err **err)
{
	struct img_manifest idx = {0};
	int r = read_index(l, &idx, err);
	if (r < 0)
		return r;
	size_t j = 0;
	for (size_t i = 0; i < idx.n_manifests; i++) {
		const char *n = img_desc_annotation(&idx.manifests[i], REF_NAME);
		if (name && n && streq(n, name))
			img_desc_release(&idx.manifests[i]);
		else
			idx.manifests[j++] = idx.manifests[i];
	}
	idx.n_manifests = j;
	idx.manifests = xrealloc(idx.manifests, (j + 1) * sizeof(*idx.manifests));
	struct img_desc *d = &idx.manifests[idx.n_manifests++];
	img_desc_copy(d, root);
	if (name && !img_desc_annotation(d, REF_NAME)) {
		strv_push(&d->annotations, REF_NAME);
		strv_push(&d->annotations, name);
	}
	r = write_index(l, &idx, err);
	img_manifest_release(&idx);
	return r;
}

int img_layout_find(struct img_layout *l, const char *name, struct img_desc *ret,
		    struct wh_err **err)
{
	struct img_manifest idx = {0};
	int r = read_index(l, &idx, err);
	if (r < 0)
		return r;
	const struct img_desc *hit = NULL;
	size_t hits = 0;
	for (size_t i = 0; i < idx.n_manifests; i++) {
		const char *n = img_desc_annotation(&idx.manifests[i], REF_NAME);
		if (!name || (n && streq(n, name))) {
			hit = &idx.manifests[i];
			hits++;
		}
	}
	if (hits == 1)
		img_desc_copy(ret, hit);
	else if (hits == 0)
		r = wh_err_setx(err, ENOENT, "'%s': no image named '%s'", l->dir,
				name ? name : "(any)");
	else
		r = wh_err_setx(err, EINVAL, "'%s' holds %zu images; name one", l->dir, hits);
	img_manifest_release(&idx);
	return r;
}

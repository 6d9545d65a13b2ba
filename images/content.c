/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store (content/content.h) as a pull store: every blob goes through a resumable
 * ingest keyed by containerd's ref key ("layer-sha256:...", "manifest-...", "index-...",
 * "config-..."), so an interrupted pull resumes where the ingest stopped, and nothing appears
 * in blobs/ before the store verified its size and digest at commit.
 */
#include "content/content.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#include "images/internal.h"

struct cs_store {
	struct img_store base;
	struct content_store *cs;
};

struct cs_sink {
	struct img_sink base;
	struct cs_store *owner;
	struct content_writer *w;
	char *ref;
};

char *img_ref_key(const struct img_desc *d)
{
	const char *mt = d->media_type ? d->media_type : "";
	const char *kind = "layer";
	if (img_media_type_is_index(mt))
		kind = "index";
	else if (img_media_type_is_manifest(mt))
		kind = "manifest";
	else if (streq(mt, IMG_MT_OCI_CONFIG) || streq(mt, IMG_MT_DOCKER_CONFIG))
		kind = "config";
	return xasprintf("%s-%s", kind, d->digest);
}

/* The writer hashes its own prefix; the client's digester needs the same bytes. */
static int cs_prime(struct img_sink *s, uint64_t offset, struct digester *d, struct wh_err **err)
{
	struct cs_sink *k = (struct cs_sink *)s;
	char name[DIGEST_HEX_LEN + 1];
	content_ingest_name(k->ref, name);
	cleanup_free char *path =
		xasprintf("%s/ingest/%s/data", content_store_root(k->owner->cs), name);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return wh_err_set(err, errno, "open ingest '%s'", path);
	char buf[65536];
	uint64_t pos = 0;
	while (pos < offset) {
		ssize_t n = pread(fd, buf, (size_t)MIN((uint64_t)sizeof(buf), offset - pos),
				  (off_t)pos);
		if (n < 0)
			return wh_err_set(err, errno, "read ingest '%s'", path);
		if (n == 0)
			return wh_err_setx(err, EIO, "ingest '%s' is shorter than %" PRIu64, path,
					   offset);
		digester_update(d, buf, (size_t)n);
		pos += (uint64_t)n;
	}
	return 0;
}

static int cs_truncate(struct img_sink *s, struct wh_err **err)
{
	struct cs_sink *k = (struct cs_sink *)s;
	return content_writer_truncate(k->w, 0, err);
}

static int cs_write(struct img_sink *s, const void *buf, size_t len, struct wh_err **err)
{
	struct cs_sink *k = (struct cs_sink *)s;
	return content_writer_write(k->w, buf, len, err);
}

static int cs_commit(struct img_sink *s, const char *digest, uint64_t size, struct wh_err **err)
{
	struct cs_sink *k = (struct cs_sink *)s;
	cleanup_err struct wh_err *e = NULL;
	int r = content_writer_commit(k->w, size, digest, NULL, &e);
	if (r == -EEXIST)
		return 0; /* another pull committed the same blob first */
	if (r < 0)
		return wh_err_move(err, &e);
	return 0;
}

static int cs_has(struct img_store *s, const struct img_desc *d, struct wh_err **err)
{
	struct cs_store *c = (struct cs_store *)s;
	struct content_info info;
	cleanup_err struct wh_err *e = NULL;
	int r = content_info(c->cs, d->digest, &info, &e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return wh_err_move(err, &e);
	return info.size == d->size ? 1 : 0;
}

static int cs_open(struct img_store *s, const struct img_desc *d, struct img_sink **ret,
		   uint64_t *ret_offset, struct wh_err **err)
{
	struct cs_store *c = (struct cs_store *)s;
	struct cs_sink *k = xnew0(struct cs_sink, 1);
	k->base = (struct img_sink){
		.verifies = true,
		.prime = cs_prime,
		.truncate = cs_truncate,
		.write = cs_write,
		.commit = cs_commit,
	};
	k->owner = c;
	k->ref = img_ref_key(d);
	int r = content_writer_open(c->cs, k->ref, d->size, d->digest, &k->w, err);
	struct content_status st = {0};
	if (r >= 0)
		r = content_writer_status(k->w, &st, err);
	if (r < 0) {
		s->close(s, &k->base);
		return r;
	}
	*ret_offset = st.offset;
	content_status_release(&st);
	*ret = &k->base;
	return 0;
}

static void cs_close(struct img_store *s, struct img_sink *sink)
{
	struct cs_sink *k = (struct cs_sink *)sink;
	if (!k)
		return;
	content_writer_free(k->w);
	free(k->ref);
	free(k);
}

struct img_store *img_content_store_new(struct content_store *cs)
{
	struct cs_store *c = xnew0(struct cs_store, 1);
	c->base = (struct img_store){cs_has, cs_open, cs_close};
	c->cs = cs;
	return &c->base;
}

struct img_store *img_content_store_free(struct img_store *s)
{
	free(s);
	return NULL;
}

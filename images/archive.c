/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image archives over libarchive: import of OCI layout tars and docker-archives (`docker save`)
 * into the content store, staged and verified before anything is committed, and export of
 * images from the content store as deterministic OCI layout or docker-archive tars.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "content/content.h"
#include "images/internal.h"

#define REF_NAME "org.opencontainers.image.ref.name"
#define IMAGE_NAME "io.containerd.image.name"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define LAYOUT_TEXT "{\"imageLayoutVersion\":\"1.0.0\"}"

/* Entries held in memory (manifests, configs, small files) up to this size each and in all. */
#define MEM_ENTRY_MAX ((uint64_t)IMG_MAX_MANIFEST_SIZE)
#define MEM_TOTAL_MAX ((uint64_t)128 << 20)
#define MAX_ARCHIVE_ENTRIES 16384
#define MAX_LINK_HOPS 8
#define MAX_DEPTH 8
#define IO_CHUNK (1 << 20)

void img_archive_images_free(struct img_archive_image *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		img_desc_release(&v[i].target);
	}
	free(v);
}

/* ---- import ---- */

struct arc_entry {
	char *name; /* cleaned path in the archive; NULL for a synthesized manifest */
	char *link; /* a symlink or hard link: the cleaned target path */
	char digest[DIGEST_STR_LEN];
	uint64_t size;
	unsigned char magic[4];
	size_t n_magic;
	char *data;    /* the bytes, when held in memory */
	char *ref;     /* the staged ingest, when written to the store uncommitted */
	bool in_store; /* the blob was already in the store: nothing to commit */
	bool used;     /* referenced by an image: commit it */
	bool committed;
	int rank; /* commit order: blobs 0, manifests 1, indexes 2 */
};

struct importer {
	struct content_store *cs;
	const struct img_import_opts *o;
	struct arc_entry *v;
	size_t n, cap;
	uint64_t mem_total;
	uint64_t stamp;
	unsigned seq;
	char *layout, *index, *manifest;
	size_t layout_len, index_len, manifest_len;
	bool has_layout, has_index, has_manifest;
	struct img_archive_image *imgs;
	size_t n_imgs, cap_imgs;
};

/*
 * Lexically normalizes a path of the archive: "./" and "." components and trailing slashes
 * go, ".." climbs when allow_dotdot is set (symlink targets) and is refused otherwise. Absolute
 * paths and paths that climb out of the archive are refused.
 */
static int clean_path(const char *dir, const char *p, bool allow_dotdot, char **ret)
{
	if (!p || !*p || p[0] == '/')
		return -EINVAL;
	cleanup_free char *joined = dir && *dir ? xasprintf("%s/%s", dir, p) : xstrdup(p);
	cleanup_strv char **parts = NULL;
	char *save = NULL;
	for (char *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (streq(c, "."))
			continue;
		if (streq(c, "..")) {
			size_t n = strv_length(parts);
			if (!allow_dotdot || n == 0)
				return -EINVAL;
			free(parts[n - 1]);
			parts[n - 1] = NULL;
			continue;
		}
		strv_push(&parts, c);
	}
	if (!parts || !parts[0])
		return -EINVAL;
	struct strbuf sb = STRBUF_INIT;
	strv_foreach(s, parts) {
		if (sb.len)
			strbuf_addc(&sb, '/');
		strbuf_adds(&sb, *s);
	}
	*ret = strbuf_detach(&sb, NULL);
	return 0;
}

static bool is_hex64(const char *s)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == DIGEST_HEX_LEN;
}

static struct arc_entry *find_name(struct importer *im, const char *name)
{
	for (size_t i = 0; i < im->n; i++)
		if (im->v[i].name && streq(im->v[i].name, name))
			return &im->v[i];
	return NULL;
}

static struct arc_entry *find_digest(struct importer *im, const char *digest)
{
	for (size_t i = 0; i < im->n; i++)
		if (!im->v[i].link && streq(im->v[i].digest, digest))
			return &im->v[i];
	return NULL;
}

static struct arc_entry *new_entry(struct importer *im)
{
	xgrow((void **)&im->v, &im->cap, im->n + 1, sizeof(*im->v));
	struct arc_entry *e = &im->v[im->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

static const char *ename(const struct arc_entry *e)
{
	return e->name ? e->name : "(synthesized manifest)";
}

/* Reads a JSON file of the archive (bounded) into memory. */
static int read_json_entry(struct archive *a, const char *name, int64_t size, char **ret,
			   size_t *ret_len, struct wh_err **err)
{
	if (size < 0 || (uint64_t)size > IMG_ARCHIVE_MAX_JSON)
		return wh_err_setx(err, EFBIG,
				   "entry '%s' is %" PRId64 " bytes, more than the %d allowed",
				   name, size, IMG_ARCHIVE_MAX_JSON);
	char *buf = xmalloc((size_t)size + 1);
	size_t got = 0;
	for (;;) {
		la_ssize_t n =
			archive_read_data(a, buf + got, (size_t)size - got + (got == (size_t)size));
		if (n < 0) {
			int rc = wh_err_setx(err, EIO, "entry '%s': %s", name,
					     archive_error_string(a));
			free(buf);
			return rc;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > (size_t)size) {
			free(buf);
			return wh_err_setx(err, EBADMSG, "entry '%s': longer than its header says",
					   name);
		}
	}
	if (got != (size_t)size) {
		free(buf);
		return wh_err_setx(err, EIO, "entry '%s': truncated (%zu of %" PRId64 " bytes)",
				   name, got, size);
	}
	buf[got] = 0;
	*ret = buf;
	*ret_len = got;
	return 0;
}

static void digester_freep(struct digester **d)
{
	digester_free(*d);
}

/*
 * Streams one regular entry: hashed only when known is already in the store, held in memory
 * when small, else written into a fresh ingest that stays uncommitted until the end.
 */
static int read_blob_entry(struct importer *im, struct archive *a, struct arc_entry *e,
			   const char *known, struct wh_err **err)
{
	cleanup(digester_freep) struct digester *dg = NULL;
	struct content_writer *w = NULL;
	bool hash_only = known && content_exists(im->cs, known);
	bool mem =
		!hash_only && e->size <= MEM_ENTRY_MAX && im->mem_total + e->size <= MEM_TOTAL_MAX;
	int r = 0;
	if (hash_only) {
		dg = digester_new();
		e->in_store = true;
	} else if (mem) {
		e->data = xmalloc((size_t)e->size + 1);
		im->mem_total += e->size;
	} else {
		e->ref = xasprintf("import-%" PRIu64 "-%d-%u", im->stamp, (int)getpid(), im->seq++);
		r = content_writer_open(im->cs, e->ref, e->size, known, &w, err);
		if (r < 0) {
			free(e->ref);
			e->ref = NULL;
			return wh_err_wrap(err, r, "entry '%s'", e->name);
		}
	}
	cleanup_free char *buf = mem ? NULL : xmalloc(IO_CHUNK);
	uint64_t got = 0;
	for (;;) {
		char *dst = mem ? e->data + got : buf;
		size_t room = mem ? (size_t)(e->size - got) + 1 : IO_CHUNK;
		la_ssize_t n = archive_read_data(a, dst, room);
		if (n < 0) {
			r = wh_err_setx(err, EIO,
					"entry '%s': read failed after %" PRIu64 " of %" PRIu64
					" bytes: %s",
					e->name, got, e->size, archive_error_string(a));
			break;
		}
		if (n == 0)
			break;
		if (got + (uint64_t)n > e->size) {
			r = wh_err_setx(err, EBADMSG, "entry '%s': longer than its header says",
					e->name);
			break;
		}
		if (e->n_magic < sizeof(e->magic)) {
			size_t k = MIN(sizeof(e->magic) - e->n_magic, (size_t)n);
			memcpy(e->magic + e->n_magic, dst, k);
			e->n_magic += k;
		}
		if (dg)
			digester_update(dg, dst, (size_t)n);
		else if (w && (r = content_writer_write(w, dst, (size_t)n, err)) < 0) {
			r = wh_err_wrap(err, r, "entry '%s'", e->name);
			break;
		}
		got += (uint64_t)n;
	}
	if (r >= 0 && got != e->size)
		r = wh_err_setx(err, EIO,
				"entry '%s': truncated (%" PRIu64 " of %" PRIu64 " bytes)", e->name,
				got, e->size);
	if (r >= 0) {
		if (dg)
			digester_final(dg, e->digest);
		else if (mem)
			digest_buf(e->data, (size_t)e->size, e->digest);
		else
			content_writer_digest(w, e->digest);
		if (known && !streq(known, e->digest))
			r = wh_err_setx(
				err, EBADMSG,
				"entry '%s': content digest is %s, not the %s its name says",
				e->name, e->digest, known);
	}
	content_writer_free(w);
	return r;
}

/* The flag of a JSON file read into memory (oci-layout, index.json, manifest.json), or NULL. */
static bool *json_seen(struct importer *im, const char *name)
{
	if (streq(name, "oci-layout"))
		return &im->has_layout;
	if (streq(name, "index.json"))
		return &im->has_index;
	if (streq(name, "manifest.json"))
		return &im->has_manifest;
	return NULL;
}

/* Reads oci-layout, index.json, manifest.json (kept) or repositories (RepoTags say the same). */
static int keep_json(struct importer *im, struct archive *a, const char *name, int64_t size,
		     struct wh_err **err)
{
	char *text = NULL;
	size_t len = 0;
	int r = read_json_entry(a, name, size, &text, &len, err);
	if (r < 0)
		return r;
	if (streq(name, "oci-layout")) {
		im->layout = text, im->layout_len = len;
	} else if (streq(name, "index.json")) {
		im->index = text, im->index_len = len;
	} else if (streq(name, "manifest.json")) {
		im->manifest = text, im->manifest_len = len;
	} else {
		free(text);
		return 0;
	}
	*json_seen(im, name) = true;
	return 0;
}

/* One entry of the archive: checked, and read into memory or an ingest. */
static int read_one(struct importer *im, struct archive *a, struct archive_entry *ae,
		    struct wh_err **err)
{
	const char *raw = archive_entry_pathname(ae);
	cleanup_free char *name = NULL;
	if (!raw || clean_path(NULL, raw, false, &name) < 0) {
		if (raw && (streq(raw, ".") || streq(raw, "./")) &&
		    archive_entry_filetype(ae) == AE_IFDIR)
			return 0;
		return wh_err_setx(err, EINVAL,
				   "entry '%s': not a relative path inside the archive",
				   raw ? raw : "(none)");
	}
	bool in_blobs = str_startswith(name, "blobs/") || streq(name, "blobs");
	mode_t type = archive_entry_filetype(ae);
	const char *hard = archive_entry_hardlink(ae);
	if (type == AE_IFDIR) {
		if (in_blobs && !streq(name, "blobs") && !streq(name, "blobs/sha256"))
			return wh_err_setx(err, EINVAL,
					   "entry '%s': unexpected directory in blobs/", name);
		return 0;
	}
	bool *seen = json_seen(im, name);
	if ((seen && *seen) || find_name(im, name))
		return wh_err_setx(err, EINVAL, "entry '%s' appears twice", name);
	if (type == AE_IFLNK || hard) {
		if (in_blobs)
			return wh_err_setx(err, EINVAL, "entry '%s': %s in blobs/ refused", name,
					   hard ? "a hard link" : "a symlink");
		cleanup_free char *dir = xstrdup(name);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		else
			dir[0] = 0;
		const char *target = hard ? hard : archive_entry_symlink(ae);
		char *t = NULL;
		if (!target || clean_path(hard ? NULL : dir, target, true, &t) < 0)
			return wh_err_setx(err, EINVAL,
					   "entry '%s': link target '%s' leaves the archive", name,
					   target ? target : "");
		struct arc_entry *e = new_entry(im);
		e->name = TAKE_PTR(name);
		e->link = t;
		return 0;
	}
	if (type != AE_IFREG)
		return wh_err_setx(err, EINVAL, "entry '%s': unsupported file type 0%o", name,
				   (unsigned)type);
	int64_t size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : -1;
	if (size < 0)
		return wh_err_setx(err, EBADMSG, "entry '%s': no size", name);
	if (streq(name, "oci-layout") || streq(name, "index.json") ||
	    streq(name, "manifest.json") || streq(name, "repositories")) {
		return keep_json(im, a, name, size, err);
	}
	cleanup_free char *known = NULL;
	if (in_blobs) {
		const char *hex =
			str_startswith(name, "blobs/sha256/") ? name + strlen("blobs/sha256/") : "";
		if (!is_hex64(hex))
			return wh_err_setx(err, EINVAL,
					   "entry '%s': not a blob name (blobs/sha256/<64 hex>)",
					   name);
		known = xasprintf("sha256:%s", hex);
	}
	struct arc_entry *e = new_entry(im);
	e->name = TAKE_PTR(name);
	e->size = (uint64_t)size;
	return read_blob_entry(im, a, e, known, err);
}

static int read_archive(struct importer *im, int fd, struct wh_err **err)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_none(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	int r = 0;
	if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
		r = wh_err_setx(err, EBADMSG, "not a tar archive: %s", archive_error_string(a));
		archive_read_free(a);
		return r;
	}
	size_t count = 0;
	for (;;) {
		struct archive_entry *ae = NULL;
		int ar = archive_read_next_header(a, &ae);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = wh_err_setx(err, EBADMSG, "%s: %s",
					count ? "after the last complete entry"
					      : "not a tar archive",
					archive_error_string(a));
			break;
		}
		if (++count > MAX_ARCHIVE_ENTRIES) {
			r = wh_err_setx(err, E2BIG, "more than %d entries", MAX_ARCHIVE_ENTRIES);
			break;
		}
		r = read_one(im, a, ae, err);
		if (r < 0)
			break;
	}
	archive_read_free(a);
	return r;
}

/* The entry behind name, following links. */
static int resolve_name(struct importer *im, const char *field, const char *name,
			struct arc_entry **ret, struct wh_err **err)
{
	cleanup_free char *p = NULL;
	if (clean_path(NULL, name, false, &p) < 0)
		return wh_err_setx(err, EINVAL, "%s: '%s' is not a path inside the archive", field,
				   name);
	struct arc_entry *e = find_name(im, p);
	for (int hops = 0; e && e->link; hops++) {
		if (hops == MAX_LINK_HOPS)
			return wh_err_setx(err, ELOOP, "%s: '%s': too many links", field, name);
		e = find_name(im, e->link);
	}
	if (!e)
		return wh_err_setx(err, ENOENT, "%s: '%s' is not in the archive", field, name);
	*ret = e;
	return 0;
}

/* Reads a whole blob of the store (at most max bytes). */
static int store_read(struct content_store *cs, const char *digest, uint64_t max, char **ret,
		      size_t *ret_len, struct wh_err **err)
{
	struct content_reader *rd = NULL;
	int r = content_reader_open(cs, digest, &rd, err);
	if (r < 0)
		return r;
	uint64_t size = content_reader_size(rd);
	if (size > max) {
		content_reader_free(rd);
		return wh_err_setx(err, EFBIG,
				   "%s: %" PRIu64 " bytes, more than the %" PRIu64 " allowed",
				   digest, size, max);
	}
	char *buf = xmalloc((size_t)size + 1);
	uint64_t got = 0;
	while (got < size) {
		ssize_t n = content_reader_read_at(rd, buf + got, (size_t)(size - got), got, err);
		if (n <= 0) {
			r = n < 0 ? (int)n : wh_err_setx(err, EIO, "%s: short read", digest);
			break;
		}
		got += (uint64_t)n;
	}
	content_reader_free(rd);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[size] = 0;
	*ret = buf;
	*ret_len = (size_t)size;
	return 0;
}

/* The bytes of a manifest or index blob, from the archive's memory or from the store. */
static int blob_bytes(struct importer *im, struct arc_entry *e, const char *digest, char **ret,
		      size_t *ret_len, struct wh_err **err)
{
	if (e && e->data) {
		*ret = xmemdup(e->data, (size_t)e->size + 1);
		*ret_len = (size_t)e->size;
		return 0;
	}
	if (e && !e->in_store)
		return wh_err_setx(err, EFBIG,
				   "entry '%s': a manifest larger than %" PRIu64 " bytes", ename(e),
				   MEM_ENTRY_MAX);
	return store_read(im->cs, digest, MEM_ENTRY_MAX, ret, ret_len, err);
}

/* Marks d (and what it references) as used; checks presence and sizes. */
static int walk_oci(struct importer *im, const struct img_desc *d, const char *parent, int depth,
		    bool optional, struct wh_err **err)
{
	if (depth > MAX_DEPTH)
		return wh_err_setx(err, ELOOP, "%s: nested more than %d deep", parent, MAX_DEPTH);
	struct arc_entry *e = find_digest(im, d->digest);
	uint64_t have = 0;
	if (e) {
		have = e->size;
	} else {
		struct content_info ci;
		if (content_info(im->cs, d->digest, &ci, NULL) < 0) {
			if (optional || (d->urls && d->urls[0]))
				return 0;
			return wh_err_setx(err, ENOENT, "blob %s (%s) referenced by %s is missing",
					   d->digest,
					   d->media_type ? d->media_type : "no media type", parent);
		}
		have = ci.size;
	}
	if (have != d->size)
		return wh_err_setx(err, EBADMSG,
				   "blob %s: %s says %" PRIu64 " bytes, the archive holds %" PRIu64,
				   d->digest, parent, d->size, have);
	bool idx = d->media_type && img_media_type_is_index(d->media_type);
	bool man = d->media_type && img_media_type_is_manifest(d->media_type);
	if (e) {
		e->used = true;
		e->rank = MAX(e->rank, idx ? 2 : man ? 1 : 0);
	}
	if (!idx && !man)
		return 0;
	cleanup_free char *text = NULL;
	size_t len = 0;
	int r = blob_bytes(im, e, d->digest, &text, &len, err);
	if (r < 0)
		return r;
	struct img_manifest m = {0};
	r = img_manifest_parse(d->media_type, text, len, &m, err);
	if (r < 0)
		return wh_err_wrap(err, r, "%s %s", idx ? "index" : "manifest", d->digest);
	cleanup_free char *me = xasprintf("%s %s", idx ? "index" : "manifest", d->digest);
	if (m.kind == IMG_KIND_INDEX) {
		/* An export for one platform leaves the others out: children may be absent. */
		for (size_t i = 0; r >= 0 && i < m.n_manifests; i++)
			r = walk_oci(im, &m.manifests[i], me, depth + 1, true, err);
	} else {
		r = walk_oci(im, &m.config, me, depth + 1, false, err);
		for (size_t i = 0; r >= 0 && i < m.n_layers; i++)
			r = walk_oci(im, &m.layers[i], me, depth + 1, false, err);
	}
	img_manifest_release(&m);
	return r;
}

static void add_image(struct importer *im, char *name, const struct img_desc *d)
{
	xgrow((void **)&im->imgs, &im->cap_imgs, im->n_imgs + 1, sizeof(*im->imgs));
	struct img_archive_image *img = &im->imgs[im->n_imgs++];
	memset(img, 0, sizeof(*img));
	img->name = name;
	img_desc_copy(&img->target, d);
}

static int normalize_name(const char *field, const char *s, char **ret, struct wh_err **err)
{
	struct img_ref ref = {0};
	int r = img_ref_parse(s, &ref, err);
	if (r < 0)
		return wh_err_wrap(err, r, "%s", field);
	*ret = img_ref_string(&ref);
	img_ref_release(&ref);
	return 0;
}

static int import_oci(struct importer *im, struct wh_err **err)
{
	if (!im->has_index)
		return wh_err_setx(err, ENOENT, "OCI layout without index.json");
	yajl_val lv = NULL;
	int r = json_parse(im->layout, im->layout_len, &lv, err);
	if (r < 0)
		return wh_err_wrap(err, r, "entry 'oci-layout'");
	const char *ver = NULL;
	r = json_get_string(lv, "imageLayoutVersion", "oci-layout: imageLayoutVersion", &ver, err);
	if (r >= 0 && !streq(ver, "1.0.0"))
		r = wh_err_setx(err, ENOTSUP, "oci-layout: unsupported imageLayoutVersion '%s'",
				ver);
	yajl_tree_free(lv);
	if (r < 0)
		return r;
	for (size_t i = 0; i < im->n; i++) {
		const char *n = im->v[i].name;
		if (n && !str_startswith(n, "blobs/"))
			return wh_err_setx(err, EINVAL,
					   "entry '%s' is outside blobs/ in an OCI layout", n);
	}
	struct img_manifest idx = {0};
	r = img_manifest_parse(IMG_MT_OCI_INDEX, im->index, im->index_len, &idx, err);
	if (r < 0)
		return wh_err_wrap(err, r, "entry 'index.json'");
	if (idx.kind != IMG_KIND_INDEX)
		r = wh_err_setx(err, EBADMSG, "entry 'index.json': not an image index");
	for (size_t i = 0; r >= 0 && i < idx.n_manifests; i++) {
		const struct img_desc *d = &idx.manifests[i];
		cleanup_free char *field = xasprintf("index.json: manifests[%zu]", i);
		r = walk_oci(im, d, "index.json", 0, false, err);
		if (r < 0)
			break;
		const char *full = img_desc_annotation(d, IMAGE_NAME);
		const char *ref = img_desc_annotation(d, REF_NAME);
		char *name = NULL;
		if (full && *full) {
			r = normalize_name(field, full, &name, err);
		} else if (ref && *ref && strpbrk(ref, "/:@")) {
			r = normalize_name(field, ref, &name, err);
		} else if (ref && *ref && im->o && im->o->base_name) {
			cleanup_free char *joined = xasprintf("%s:%s", im->o->base_name, ref);
			r = normalize_name(field, joined, &name, err);
		}
		if (r < 0)
			break;
		add_image(im, name, d);
	}
	img_manifest_release(&idx);
	return r;
}

/* The platform of an image config (os, architecture, variant). */
static int config_platform(const char *field, const char *text, size_t len, struct img_desc *d,
			   struct wh_err **err)
{
	yajl_val v = NULL;
	int r = json_parse(text, len, &v, err);
	if (r < 0)
		return wh_err_wrap(err, r, "%s", field);
	const char *os = NULL, *arch = NULL, *variant = NULL;
	if (!YAJL_IS_OBJECT(v))
		r = wh_err_setx(err, EBADMSG, "%s: not a JSON object", field);
	if (r >= 0)
		r = json_get_string_opt(v, "os", "os", &os, err);
	if (r >= 0)
		r = json_get_string_opt(v, "architecture", "architecture", &arch, err);
	if (r >= 0)
		r = json_get_string_opt(v, "variant", "variant", &variant, err);
	if (r < 0) {
		r = wh_err_wrap(err, r, "%s", field);
	} else if (os && arch) {
		d->has_platform = true;
		d->platform.os = xstrdup(os);
		d->platform.arch = xstrdup(arch);
		d->platform.variant = variant ? xstrdup(variant) : NULL;
	}
	yajl_tree_free(v);
	return r;
}

static void gen_plain_desc(yajl_gen g, const char *mt, const char *digest, uint64_t size)
{
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "mediaType", mt);
	json_gen_kv_str(g, "digest", digest);
	json_gen_kv_int(g, "size", (int64_t)size);
	yajl_gen_map_close(g);
}

/* One manifest.json entry: config and layers marked, a Docker schema 2 manifest synthesized. */
static int import_docker_one(struct importer *im, yajl_val item, size_t i, struct wh_err **err)
{
	cleanup_free char *field = xasprintf("manifest.json[%zu]", i);
	const char *config = NULL;
	cleanup_strv char **tags = NULL, **layers = NULL;
	int r = json_expect_object(item, field, err);
	if (r >= 0)
		r = json_get_string(item, "Config", "Config", &config, err);
	if (r >= 0)
		r = json_get_strv_opt(item, "RepoTags", "RepoTags", &tags, err);
	if (r >= 0)
		r = json_get_strv_opt(item, "Layers", "Layers", &layers, err);
	if (r < 0)
		return wh_err_wrap(err, r, "%s", field);
	if (strv_length(layers) > IMG_MAX_ENTRIES)
		return wh_err_setx(err, E2BIG, "%s: more than %d layers", field, IMG_MAX_ENTRIES);
	struct arc_entry *ce = NULL;
	cleanup_free char *cfield = xasprintf("%s.Config", field);
	r = resolve_name(im, cfield, config, &ce, err);
	if (r < 0)
		return r;
	if (!ce->data)
		return wh_err_setx(err, EFBIG, "%s: '%s' is larger than %" PRIu64 " bytes", cfield,
				   config, MEM_ENTRY_MAX);
	struct img_desc md = {0};
	r = config_platform(cfield, ce->data, (size_t)ce->size, &md, err);
	if (r < 0) {
		img_desc_release(&md);
		return r;
	}
	ce->used = true;
	yajl_gen g = json_gen_new(false);
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "schemaVersion", 2);
	json_gen_kv_str(g, "mediaType", IMG_MT_DOCKER_MANIFEST);
	json_gen_str(g, "config");
	gen_plain_desc(g, IMG_MT_DOCKER_CONFIG, ce->digest, ce->size);
	json_gen_str(g, "layers");
	yajl_gen_array_open(g);
	size_t k = 0;
	strv_foreach(l, layers) {
		cleanup_free char *lfield = xasprintf("%s.Layers[%zu]", field, k++);
		struct arc_entry *le = NULL;
		r = resolve_name(im, lfield, *l, &le, err);
		if (r < 0)
			break;
		le->used = true;
		bool gz = le->n_magic >= 2 && le->magic[0] == 0x1f && le->magic[1] == 0x8b;
		bool zst = le->n_magic >= 4 && le->magic[0] == 0x28 && le->magic[1] == 0xb5 &&
			   le->magic[2] == 0x2f && le->magic[3] == 0xfd;
		/* As containerd: any compressed layer is announced as gzip. */
		gen_plain_desc(g, gz || zst ? MT_DOCKER_LAYER_GZIP : MT_DOCKER_LAYER, le->digest,
			       le->size);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	size_t len = 0;
	char *text = json_gen_finish(g, &len);
	if (r < 0) {
		free(text);
		img_desc_release(&md);
		return r;
	}
	md.media_type = xstrdup(IMG_MT_DOCKER_MANIFEST);
	md.size = len;
	char dg[DIGEST_STR_LEN];
	digest_buf(text, len, dg);
	md.digest = xstrdup(dg);
	struct arc_entry *me = find_digest(im, dg);
	if (me) {
		free(text);
	} else {
		me = new_entry(im);
		me->data = text;
		me->size = len;
		memcpy(me->digest, dg, sizeof(dg));
		me->in_store = content_exists(im->cs, dg);
	}
	me->used = true;
	me->rank = 1;
	if (!tags || !tags[0])
		add_image(im, NULL, &md);
	k = 0;
	strv_foreach(t, tags) {
		cleanup_free char *tfield = xasprintf("%s.RepoTags[%zu]", field, k++);
		char *name = NULL;
		r = normalize_name(tfield, *t, &name, err);
		if (r < 0)
			break;
		add_image(im, name, &md);
	}
	img_desc_release(&md);
	return r;
}

static int import_docker(struct importer *im, struct wh_err **err)
{
	yajl_val v = NULL;
	int r = json_parse(im->manifest, im->manifest_len, &v, err);
	if (r < 0)
		return wh_err_wrap(err, r, "entry 'manifest.json'");
	if (!YAJL_IS_ARRAY(v))
		r = wh_err_setx(err, EBADMSG, "entry 'manifest.json': not a JSON array");
	else if (YAJL_GET_ARRAY(v)->len == 0)
		r = wh_err_setx(err, EBADMSG, "entry 'manifest.json': no images");
	else if (YAJL_GET_ARRAY(v)->len > IMG_MAX_ENTRIES)
		r = wh_err_setx(err, E2BIG, "entry 'manifest.json': more than %d images",
				IMG_MAX_ENTRIES);
	for (size_t i = 0; r >= 0 && i < YAJL_GET_ARRAY(v)->len; i++)
		r = import_docker_one(im, YAJL_GET_ARRAY(v)->values[i], i, err);
	yajl_tree_free(v);
	return r;
}

static int commit_entry(struct importer *im, struct arc_entry *e, struct wh_err **err)
{
	struct content_writer *w = NULL;
	int r;
	if (e->data) {
		free(e->ref);
		e->ref = xasprintf("import-%" PRIu64 "-%d-%u", im->stamp, (int)getpid(), im->seq++);
		r = content_writer_open(im->cs, e->ref, e->size, e->digest, &w, err);
		if (r >= 0)
			r = content_writer_write(w, e->data, (size_t)e->size, err);
	} else {
		r = content_writer_open(im->cs, e->ref, 0, NULL, &w, err);
	}
	if (r >= 0) {
		r = content_writer_commit(w, e->size, e->digest, NULL, err);
		if (r == -EEXIST) {
			wh_err_move(NULL, err);
			r = 0;
		}
	}
	content_writer_free(w);
	if (r < 0)
		return wh_err_wrap(err, r, "commit '%s' (%s)", ename(e), e->digest);
	e->committed = true;
	return 0;
}

static void importer_release(struct importer *im)
{
	for (size_t i = 0; i < im->n; i++) {
		struct arc_entry *e = &im->v[i];
		if (e->ref && !e->committed)
			(void)content_abort(im->cs, e->ref, NULL);
		free(e->name);
		free(e->link);
		free(e->data);
		free(e->ref);
	}
	free(im->v);
	free(im->layout);
	free(im->index);
	free(im->manifest);
	img_archive_images_free(im->imgs, im->n_imgs);
}

int img_archive_import(struct content_store *cs, int fd, const struct img_import_opts *o,
		       struct img_archive_image **ret, size_t *ret_n, struct wh_err **err)
{
	struct importer im = {.cs = cs, .o = o, .stamp = now_real_ns()};
	int r = read_archive(&im, fd, err);
	if (r >= 0) {
		if (im.has_layout)
			r = import_oci(&im, err);
		else if (im.has_manifest)
			r = import_docker(&im, err);
		else if (im.has_index)
			r = wh_err_setx(err, EBADMSG,
					"index.json without oci-layout: not an OCI layout");
		else
			r = wh_err_setx(err, EBADMSG,
					"neither an OCI layout (oci-layout, index.json) nor a "
					"docker-archive (manifest.json)");
	}
	for (int rank = 0; r >= 0 && rank <= 2; rank++)
		for (size_t i = 0; r >= 0 && i < im.n; i++) {
			struct arc_entry *e = &im.v[i];
			if (e->used && !e->in_store && !e->link && e->rank == rank)
				r = commit_entry(&im, e, err);
		}
	if (r >= 0) {
		*ret = TAKE_PTR(im.imgs);
		*ret_n = im.n_imgs;
		im.n_imgs = 0;
	}
	importer_release(&im);
	return r;
}

/* ---- export ---- */

struct exp_rec {
	char *name;
	bool dir;
	char *data; /* in-memory file, or NULL for a blob of the store */
	size_t len;
	char digest[DIGEST_STR_LEN];
	uint64_t size;
};

struct exporter {
	struct content_store *cs;
	const struct img_export_opts *o;
	struct img_platform platform;
	struct exp_rec *v;
	size_t n, cap;
};

static void add_rec(struct exporter *ex, const char *name, bool dir, char *data, size_t len,
		    const char *digest, uint64_t size)
{
	for (size_t i = 0; i < ex->n; i++)
		if (streq(ex->v[i].name, name)) {
			free(data);
			return;
		}
	xgrow((void **)&ex->v, &ex->cap, ex->n + 1, sizeof(*ex->v));
	struct exp_rec *r = &ex->v[ex->n++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	r->dir = dir;
	r->data = data;
	r->len = len;
	if (digest)
		snprintf(r->digest, sizeof(r->digest), "%s", digest);
	r->size = size;
}

/* Adds the blob d (checked present with its size). 0 when added, 1 when absent but foreign. */
static int add_blob(struct exporter *ex, const struct img_desc *d, const char *what,
		    struct wh_err **err)
{
	const char *hex = NULL;
	if (digest_parse(d->digest, &hex) < 0)
		return wh_err_setx(err, EINVAL, "%s: invalid digest '%s'", what, d->digest);
	struct content_info ci;
	struct wh_err *e = NULL;
	int r = content_info(ex->cs, d->digest, &ci, &e);
	if (r < 0) {
		if (r == -ENOENT && d->urls && d->urls[0]) {
			wh_err_free(e);
			return 1;
		}
		wh_err_move(err, &e);
		return wh_err_wrap(err, r, "%s", what);
	}
	if (ci.size != d->size)
		return wh_err_setx(err, EBADMSG,
				   "%s: blob %s holds %" PRIu64 " bytes, not %" PRIu64, what,
				   d->digest, ci.size, d->size);
	cleanup_free char *name = xasprintf("blobs/sha256/%s", hex);
	add_rec(ex, name, false, NULL, 0, d->digest, d->size);
	return 0;
}

static int read_manifest(struct exporter *ex, const struct img_desc *d, struct img_manifest *m,
			 struct wh_err **err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	int r = store_read(ex->cs, d->digest, IMG_MAX_MANIFEST_SIZE, &text, &len, err);
	if (r >= 0)
		r = img_manifest_parse(d->media_type, text, len, m, err);
	return r < 0 ? wh_err_wrap(err, r, "%s", d->digest) : 0;
}

/* The indexes of m's manifests to export. */
static int select_children(struct exporter *ex, const struct img_manifest *m, bool all,
			   size_t **ret, size_t *ret_n, struct wh_err **err)
{
	return img_index_select(m, all ? NULL : &ex->platform, ret, ret_n, err);
}

static int walk_export(struct exporter *ex, const struct img_desc *d, const char *what, int depth,
		       struct wh_err **err)
{
	if (depth > MAX_DEPTH)
		return wh_err_setx(err, ELOOP, "%s: nested more than %d deep", what, MAX_DEPTH);
	int r = add_blob(ex, d, what, err);
	if (r != 0)
		return r < 0 ? r : 0;
	bool idx = d->media_type && img_media_type_is_index(d->media_type);
	bool man = d->media_type && img_media_type_is_manifest(d->media_type);
	if (!idx && !man)
		return 0;
	struct img_manifest m = {0};
	r = read_manifest(ex, d, &m, err);
	if (r < 0)
		return wh_err_wrap(err, r, "%s", what);
	if (m.kind == IMG_KIND_INDEX) {
		cleanup_free size_t *sel = NULL;
		size_t n_sel = 0;
		r = select_children(ex, &m, ex->o->all_platforms, &sel, &n_sel, err);
		if (r < 0)
			r = wh_err_wrap(err, r, "%s: index %s", what, d->digest);
		for (size_t i = 0; r >= 0 && i < n_sel; i++)
			r = walk_export(ex, &m.manifests[sel[i]], what, depth + 1, err);
	} else {
		r = walk_export(ex, &m.config, what, depth + 1, err);
		for (size_t i = 0; r >= 0 && i < m.n_layers; i++)
			r = walk_export(ex, &m.layers[i], what, depth + 1, err);
	}
	img_manifest_release(&m);
	return r;
}

/* The tag of a reference, else the reference itself (containerd's ref.name). */
static char *ref_name_of(const char *name)
{
	struct img_ref ref = {0};
	if (img_ref_parse(name, &ref, NULL) < 0)
		return xstrdup(name);
	char *s = xstrdup(ref.tag && !ref.digest ? ref.tag : name);
	img_ref_release(&ref);
	return s;
}

/* "docker.io/library/busybox:latest" -> "busybox:latest"; NULL when there is no tag. */
static char *familiar_name(const char *name)
{
	struct img_ref ref = {0};
	if (img_ref_parse(name, &ref, NULL) < 0)
		return NULL;
	char *s = NULL;
	if (ref.tag) {
		const char *path = ref.path;
		bool hub = streq(ref.domain, IMG_DEFAULT_DOMAIN);
		if (hub && str_startswith(path, "library/") && !strchr(path + 8, '/'))
			path += 8;
		s = hub ? xasprintf("%s:%s", path, ref.tag)
			: xasprintf("%s/%s:%s", ref.domain, path, ref.tag);
	}
	img_ref_release(&ref);
	return s;
}

/* Finds the single image manifest for a docker-archive entry. */
static int docker_manifest(struct exporter *ex, const struct img_desc *d, const char *what,
			   int depth, struct img_manifest *ret, struct wh_err **err)
{
	if (depth > MAX_DEPTH)
		return wh_err_setx(err, ELOOP, "%s: nested more than %d deep", what, MAX_DEPTH);
	struct img_manifest m = {0};
	int r = read_manifest(ex, d, &m, err);
	if (r < 0)
		return wh_err_wrap(err, r, "%s", what);
	if (m.kind == IMG_KIND_MANIFEST) {
		*ret = m;
		return 0;
	}
	cleanup_free size_t *sel = NULL;
	size_t n_sel = 0;
	r = select_children(ex, &m, false, &sel, &n_sel, err);
	if (r >= 0)
		r = docker_manifest(ex, &m.manifests[sel[0]], what, depth + 1, ret, err);
	else
		r = wh_err_wrap(err, r, "%s", what);
	img_manifest_release(&m);
	return r;
}

static int export_docker(struct exporter *ex, const struct img_archive_image *v, size_t n,
			 struct wh_err **err)
{
	if (ex->o->all_platforms)
		return wh_err_setx(err, EINVAL,
				   "a docker-archive holds one platform per image: choose one");
	yajl_gen g = json_gen_new(false);
	yajl_gen_array_open(g);
	int r = 0;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		cleanup_free char *what =
			xasprintf("image '%s'", v[i].name ? v[i].name : "(unnamed)");
		struct img_manifest m = {0};
		r = docker_manifest(ex, &v[i].target, what, 0, &m, err);
		if (r < 0)
			break;
		r = add_blob(ex, &m.config, what, err);
		for (size_t k = 0; r >= 0 && k < m.n_layers; k++) {
			r = add_blob(ex, &m.layers[k], what, err);
			if (r > 0)
				r = wh_err_setx(err, ENOENT,
						"%s: foreign layer %s is not in the store", what,
						m.layers[k].digest);
		}
		if (r >= 0) {
			yajl_gen_map_open(g);
			cleanup_free char *cpath =
				xasprintf("blobs/sha256/%s", m.config.digest + 7);
			json_gen_kv_str(g, "Config", cpath);
			json_gen_str(g, "RepoTags");
			yajl_gen_array_open(g);
			cleanup_free char *fam = v[i].name ? familiar_name(v[i].name) : NULL;
			if (fam)
				json_gen_str(g, fam);
			yajl_gen_array_close(g);
			json_gen_str(g, "Layers");
			yajl_gen_array_open(g);
			for (size_t k = 0; k < m.n_layers; k++) {
				cleanup_free char *lp =
					xasprintf("blobs/sha256/%s", m.layers[k].digest + 7);
				json_gen_str(g, lp);
			}
			yajl_gen_array_close(g);
			yajl_gen_map_close(g);
		}
		img_manifest_release(&m);
	}
	yajl_gen_array_close(g);
	size_t len = 0;
	char *text = json_gen_finish(g, &len);
	if (r < 0) {
		free(text);
		return r;
	}
	add_rec(ex, "manifest.json", false, text, len, NULL, 0);
	return 0;
}

static int export_oci(struct exporter *ex, const struct img_archive_image *v, size_t n,
		      struct wh_err **err)
{
	yajl_gen g = json_gen_new(false);
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "schemaVersion", 2);
	json_gen_kv_str(g, "mediaType", IMG_MT_OCI_INDEX);
	json_gen_str(g, "manifests");
	yajl_gen_array_open(g);
	int r = 0;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		cleanup_free char *what =
			xasprintf("image '%s'", v[i].name ? v[i].name : "(unnamed)");
		r = walk_export(ex, &v[i].target, what, 0, err);
		if (r < 0)
			break;
		struct img_desc d = {0};
		img_desc_copy(&d, &v[i].target);
		if (v[i].name) {
			char **kept = NULL;
			for (char **p = d.annotations; p && p[0] && p[1]; p += 2)
				if (!streq(p[0], IMAGE_NAME) && !streq(p[0], REF_NAME)) {
					strv_push(&kept, p[0]);
					strv_push(&kept, p[1]);
				}
			strv_free(d.annotations);
			d.annotations = kept;
			strv_push(&d.annotations, IMAGE_NAME);
			strv_push(&d.annotations, v[i].name);
			strv_push(&d.annotations, REF_NAME);
			strv_consume(&d.annotations, ref_name_of(v[i].name));
		}
		img_desc_gen(g, &d);
		img_desc_release(&d);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	size_t len = 0;
	char *text = json_gen_finish(g, &len);
	if (r < 0) {
		free(text);
		return r;
	}
	add_rec(ex, "index.json", false, text, len, NULL, 0);
	add_rec(ex, "oci-layout", false, xstrdup(LAYOUT_TEXT), strlen(LAYOUT_TEXT), NULL, 0);
	return 0;
}

static int write_rec(struct exporter *ex, struct archive *a, const struct exp_rec *rec,
		     struct wh_err **err)
{
	struct archive_entry *ae = archive_entry_new();
	archive_entry_set_pathname(ae, rec->name);
	archive_entry_set_mtime(ae, 0, 0);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	if (rec->dir) {
		archive_entry_set_filetype(ae, AE_IFDIR);
		archive_entry_set_perm(ae, 0755);
		archive_entry_set_size(ae, 0);
	} else {
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, rec->data ? 0644 : 0444);
		archive_entry_set_size(ae,
				       rec->data ? (la_int64_t)rec->len : (la_int64_t)rec->size);
	}
	int r = 0;
	if (archive_write_header(a, ae) != ARCHIVE_OK)
		r = wh_err_setx(err, EIO, "write '%s': %s", rec->name, archive_error_string(a));
	archive_entry_free(ae);
	if (r < 0 || rec->dir)
		return r;
	if (rec->data) {
		if (archive_write_data(a, rec->data, rec->len) != (la_ssize_t)rec->len)
			return wh_err_setx(err, EIO, "write '%s': %s", rec->name,
					   archive_error_string(a));
		return 0;
	}
	struct content_reader *rd = NULL;
	r = content_reader_open(ex->cs, rec->digest, &rd, err);
	if (r < 0)
		return r;
	cleanup_free char *buf = xmalloc(IO_CHUNK);
	struct digester *dg = digester_new();
	uint64_t off = 0;
	while (r >= 0 && off < rec->size) {
		ssize_t k = content_reader_read_at(
			rd, buf, (size_t)MIN((uint64_t)IO_CHUNK, rec->size - off), off, err);
		if (k < 0) {
			r = (int)k;
			break;
		}
		if (k == 0) {
			r = wh_err_setx(err, EIO, "blob %s: shorter than %" PRIu64 " bytes",
					rec->digest, rec->size);
			break;
		}
		digester_update(dg, buf, (size_t)k);
		if (archive_write_data(a, buf, (size_t)k) != k)
			r = wh_err_setx(err, EIO, "write '%s': %s", rec->name,
					archive_error_string(a));
		off += (uint64_t)k;
	}
	if (r >= 0) {
		char got[DIGEST_STR_LEN];
		digester_final(dg, got);
		if (!streq(got, rec->digest))
			r = wh_err_setx(err, EBADMSG, "blob %s in the store has digest %s",
					rec->digest, got);
	}
	digester_free(dg);
	content_reader_free(rd);
	return r;
}

static int cmp_rec(const void *a, const void *b)
{
	return strcmp(((const struct exp_rec *)a)->name, ((const struct exp_rec *)b)->name);
}

int img_archive_export(struct content_store *cs, const struct img_archive_image *v, size_t n,
		       const struct img_export_opts *o, int fd, struct wh_err **err)
{
	static const struct img_export_opts defaults = {.format = IMG_ARCHIVE_OCI};
	struct exporter ex = {.cs = cs, .o = o ? o : &defaults};
	if (ex.o->platform)
		img_platform_copy(&ex.platform, ex.o->platform);
	else
		img_platform_host(&ex.platform);
	int r = 0;
	if (n == 0)
		r = wh_err_setx(err, EINVAL, "no image to export");
	else if (ex.o->format == IMG_ARCHIVE_DOCKER)
		r = export_docker(&ex, v, n, err);
	else
		r = export_oci(&ex, v, n, err);
	if (r >= 0) {
		add_rec(&ex, "blobs", true, NULL, 0, NULL, 0);
		add_rec(&ex, "blobs/sha256", true, NULL, 0, NULL, 0);
		qsort(ex.v, ex.n, sizeof(*ex.v), cmp_rec);
		struct archive *a = archive_write_new();
		archive_write_set_format_pax_restricted(a);
		archive_write_add_filter_none(a);
		if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
			r = wh_err_setx(err, EIO, "open the output: %s", archive_error_string(a));
		for (size_t i = 0; r >= 0 && i < ex.n; i++)
			r = write_rec(&ex, a, &ex.v[i], err);
		if (r >= 0 && archive_write_close(a) != ARCHIVE_OK)
			r = wh_err_setx(err, EIO, "finish the archive: %s",
					archive_error_string(a));
		archive_write_free(a);
	}
	for (size_t i = 0; i < ex.n; i++) {
		free(ex.v[i].name);
		free(ex.v[i].data);
	}
	free(ex.v);
	img_platform_release(&ex.platform);
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image archives for Transfer/Import: an OCI-layout tar or a docker-archive (`docker save`) tar is
 * extracted (libarchive, refusing absolute paths, ".." and symlinked parents) into a private
 * temp dir; a docker-archive is then turned into an OCI layout in place (its configs and layers
 * become blobs, a Docker schema 2 manifest is written per image, index.json names each by its
 * first RepoTag), so the import path is the one of layouts.
 */
#include "supervisor/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "common/digest.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"
#include "images/images.h"

#define DOC_MAX (16u << 20)

static int extract(const char *tar, const char *dir, struct wh_err **err)
{
	struct archive *a = archive_read_new(), *w = archive_write_disk_new();
	struct archive_entry *e;
	/* Names are checked to be safe relative paths below, then made absolute under dir. */
	int r = 0, flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
			   ARCHIVE_EXTRACT_SECURE_SYMLINKS;

	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	archive_write_disk_set_options(w, flags);
	if (archive_read_open_filename(a, tar, 1 << 16) != ARCHIVE_OK) {
		r = wh_err_setx(err, EINVAL, "cannot read archive '%s': %s", tar,
				archive_error_string(a));
		goto out;
	}
	for (;;) {
		int s = archive_read_next_header(a, &e);
		cleanup_free char *dst = NULL;

		if (s == ARCHIVE_EOF)
			break;
		if (s != ARCHIVE_OK) {
			r = wh_err_setx(err, EINVAL, "archive '%s': %s", tar,
					archive_error_string(a));
			goto out;
		}
		if (AE_IFREG != archive_entry_filetype(e) && AE_IFDIR != archive_entry_filetype(e))
			continue; /* layouts hold only files and directories */
		{
			const char *name = archive_entry_pathname(e);
			cleanup_free char *clean = NULL;
			size_t l;

			while (name && str_startswith(name, "./"))
				name = name + 2;
			clean = xstrdup(name ? name : "");
			l = strlen(clean);
			while (l > 0 && clean[l - 1] == '/')
				clean[--l] = 0;
			if (!*clean)
				continue;
			if (!path_is_safe_relative(clean)) {
				r = wh_err_setx(err, EINVAL, "archive '%s': unsafe entry name '%s'",
						tar, archive_entry_pathname(e));
				goto out;
			}
			dst = path_join(dir, clean);
		}
		archive_entry_set_pathname(e, dst);
		archive_entry_set_perm(e, AE_IFDIR == archive_entry_filetype(e) ? 0700 : 0600);
		if (archive_write_header(w, e) != ARCHIVE_OK) {
			r = wh_err_setx(err, EINVAL, "archive '%s': entry refused: %s", tar,
					archive_error_string(w));
			goto out;
		}
		for (;;) {
			const void *buf;
			size_t len;
			la_int64_t off;

			s = archive_read_data_block(a, &buf, &len, &off);
			if (s == ARCHIVE_EOF)
				break;
			if (s != ARCHIVE_OK ||
			    archive_write_data_block(w, buf, len, off) != ARCHIVE_OK) {
				r = wh_err_setx(err, EIO, "archive '%s': %s", tar,
						archive_error_string(s != ARCHIVE_OK ? a : w));
				goto out;
			}
		}
		archive_write_finish_entry(w);
	}
out:
	archive_read_free(a);
	archive_write_free(w);
	return r;
}

/* Moves file (relative to dir) into dir/blobs/sha256/<hex>; d gets digest and size. */
static int to_blob(const char *dir, const char *file, struct img_desc *d, struct wh_err **err)
{
	cleanup_free char *src = NULL, *dst = NULL, *blobs = path_join(dir, "blobs/sha256");
	cleanup_close int fd = -EBADF;
	char digest[DIGEST_STR_LEN];
	uint64_t size;
	int r;

	if (!path_is_safe_relative(file))
		return wh_err_setx(err, EINVAL, "docker-archive: bad path '%s'", file);
	src = path_join(dir, file);
	fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return wh_err_set(err, errno, "docker-archive: '%s'", file);
	if ((r = digest_fd(fd, digest, &size)) < 0)
		return wh_err_set(err, r, "docker-archive: hash '%s'", file);
	if ((r = mkdir_p(blobs, 0700)) < 0)
		return wh_err_set(err, r, "mkdir '%s'", blobs);
	dst = path_join(blobs, digest + 7);
	if (link(src, dst) < 0 && errno != EEXIST)
		return wh_err_set(err, errno, "docker-archive: link '%s'", file);
	free(d->digest);
	d->digest = xstrdup(digest);
	d->size = size;
	return 0;
}

static int write_blob(const char *dir, const char *data, size_t len, struct img_desc *d,
		      struct wh_err **err)
{
	cleanup_free char *blobs = path_join(dir, "blobs/sha256"), *p = NULL;
	char digest[DIGEST_STR_LEN];
	int r;

	digest_buf(data, len, digest);
	if ((r = mkdir_p(blobs, 0700)) < 0)
		return wh_err_set(err, r, "mkdir '%s'", blobs);
	p = path_join(blobs, digest + 7);
	if ((r = write_file_atomic(p, data, len, 0600)) < 0)
		return wh_err_set(err, r, "write '%s'", p);
	free(d->digest);
	d->digest = xstrdup(digest);
	d->size = len;
	return 0;
}

static int docker_to_layout(const char *dir, struct wh_err **err)
{
	cleanup_free char *mpath = path_join(dir, "manifest.json");
	yajl_val m = NULL;
	yajl_gen idx = json_gen_new(false);
	cleanup_free char *index = NULL;
	size_t n, len;
	int r;

	if ((r = json_parse_file(mpath, DOC_MAX, &m, err)) < 0)
		goto out;
	if ((r = json_expect_array(m, "manifest.json", err)) < 0)
		goto out;
	n = YAJL_GET_ARRAY(m)->len;
	if (n == 0) {
		r = wh_err_setx(err, EINVAL, "docker-archive: manifest.json lists no image");
		goto out;
	}
	yajl_gen_map_open(idx);
	json_gen_kv_int(idx, "schemaVersion", 2);
	json_gen_str(idx, "manifests");
	yajl_gen_array_open(idx);
	for (size_t i = 0; i < n; i++) {
		yajl_val e = YAJL_GET_ARRAY(m)->values[i], layers;
		const char *config = NULL;
		cleanup_strv char **tags = NULL;
		struct img_desc cd = {0}, md = {0};
		yajl_gen g;
		char *doc;

		if ((r = json_get_string(e, "Config", "Config", &config, err)) < 0 ||
		    (r = json_get_strv_opt(e, "RepoTags", "RepoTags", &tags, err)) < 0)
			goto out;
		layers = json_get(e, "Layers");
		if (!layers) {
			r = wh_err_setx(err, EINVAL,
					"docker-archive: manifest.json entry without Layers");
			goto out;
		}
		if ((r = json_expect_array(layers, "Layers", err)) < 0)
			goto out;
		if ((r = to_blob(dir, config, &cd, err)) < 0)
			goto out;
		g = json_gen_new(false);
		yajl_gen_map_open(g);
		json_gen_kv_int(g, "schemaVersion", 2);
		json_gen_kv_str(g, "mediaType", IMG_MT_DOCKER_MANIFEST);
		json_gen_str(g, "config");
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "mediaType", IMG_MT_DOCKER_CONFIG);
		json_gen_kv_int(g, "size", (int64_t)cd.size);
		json_gen_kv_str(g, "digest", cd.digest);
		yajl_gen_map_close(g);
		json_gen_str(g, "layers");
		yajl_gen_array_open(g);
		for (size_t j = 0; j < YAJL_GET_ARRAY(layers)->len; j++) {
			const char *lp = NULL;
			struct img_desc ld = {0};

			r = json_string(YAJL_GET_ARRAY(layers)->values[j], "Layers[]", &lp, err);
			if (r >= 0)
				r = to_blob(dir, lp, &ld, err);
			if (r < 0) {
				img_desc_release(&ld);
				img_desc_release(&cd);
				free(json_gen_finish(g, NULL));
				goto out;
			}
			yajl_gen_map_open(g);
			json_gen_kv_str(g, "mediaType",
					"application/vnd.docker.image.rootfs.diff.tar");
			json_gen_kv_int(g, "size", (int64_t)ld.size);
			json_gen_kv_str(g, "digest", ld.digest);
			yajl_gen_map_close(g);
			img_desc_release(&ld);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		doc = json_gen_finish(g, &len);
		r = write_blob(dir, doc, len, &md, err);
		free(doc);
		img_desc_release(&cd);
		if (r < 0) {
			img_desc_release(&md);
			goto out;
		}
		yajl_gen_map_open(idx);
		json_gen_kv_str(idx, "mediaType", IMG_MT_DOCKER_MANIFEST);
		json_gen_kv_int(idx, "size", (int64_t)md.size);
		json_gen_kv_str(idx, "digest", md.digest);
		if (tags && tags[0]) {
			json_gen_str(idx, "annotations");
			yajl_gen_map_open(idx);
			json_gen_kv_str(idx, "org.opencontainers.image.ref.name", tags[0]);
			yajl_gen_map_close(idx);
		}
		yajl_gen_map_close(idx);
		img_desc_release(&md);
	}
	yajl_gen_array_close(idx);
	yajl_gen_map_close(idx);
	index = json_gen_finish(idx, &len);
	idx = NULL;
	{
		cleanup_free char *ip = path_join(dir, "index.json"),
				  *lp = path_join(dir, "oci-layout");
		static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

		if ((r = write_file_atomic(ip, index, len, 0600)) < 0 ||
		    (r = write_file_atomic(lp, layout, sizeof(layout) - 1, 0600)) < 0) {
			r = wh_err_set(err, r, "write layout in '%s'", dir);
			goto out;
		}
	}
	r = 0;
out:
	if (idx)
		free(json_gen_finish(idx, NULL));
	yajl_tree_free(m);
	return r;
}

int archive_to_layout(const char *tar, const char *tmp_parent, char **ret_dir, struct wh_err **err)
{
	cleanup_free char *dir = path_join(tmp_parent, "import-XXXXXX");
	cleanup_free char *index = NULL, *manifest = NULL;
	int r;

	if (!mkdtemp(dir))
		return wh_err_set(err, errno, "mkdtemp in '%s'", tmp_parent);
	r = extract(tar, dir, err);
	if (r >= 0) {
		index = path_join(dir, "index.json");
		manifest = path_join(dir, "manifest.json");
		if (access(index, F_OK) == 0)
			r = 0;
		else if (access(manifest, F_OK) == 0)
			r = docker_to_layout(dir, err);
		else
			r = wh_err_setx(err, EINVAL,
					"'%s' is neither an OCI-layout nor a docker-archive tar "
					"(no index.json, no manifest.json)",
					tar);
	}
	if (r < 0) {
		rm_rf(dir);
		return r;
	}
	*ret_dir = TAKE_PTR(dir);
	return 0;
}

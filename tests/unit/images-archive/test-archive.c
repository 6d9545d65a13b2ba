/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of images/archive.c over tars built in memory (memfd) with libarchive and a temp
 * content store: image names, the synthesized Docker manifest byte for byte, deterministic
 * export bytes, export/import round trips, hostile entries leaving nothing behind. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above. */
#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <stdlib.h>
#include <unistd.h>

#include <sys/mman.h>

#include "common/common.h"
#include "content/content.h"
#include "images/images.h"

struct ent {
	const char *name;
	const char *data; /* regular file; NULL with link for a symlink, with dir for a directory */
	const char *link;
	bool hard, dir;
	size_t len; /* 0: strlen(data) */
};

static char *tmp;
static struct content_store *cs;

static int setup(void **state)
{
	(void)state;
	char t[] = "/tmp/archive-unit-XXXXXX";
	assert_non_null(mkdtemp(t));
	tmp = xstrdup(t);
	assert_int_equal(content_store_open(tmp, &cs, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	content_store_free(cs);
	cs = NULL;
	assert_int_equal(rm_rf(tmp), 0);
	free(tmp);
	return 0;
}

/* A tar of the entries in a memfd, at offset 0. */
static int make_tar(const struct ent *v, size_t n)
{
	int fd = memfd_create("tar", MFD_CLOEXEC);
	assert_true(fd >= 0);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, v[i].name);
		archive_entry_set_perm(e, 0644);
		if (v[i].dir) {
			archive_entry_set_filetype(e, AE_IFDIR);
		} else if (v[i].link && v[i].hard) {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, v[i].link);
		} else if (v[i].link) {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, v[i].link);
		} else {
			size_t len = v[i].len ? v[i].len : strlen(v[i].data);
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)len);
			assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
			assert_int_equal(archive_write_data(a, v[i].data, len), (la_ssize_t)len);
			archive_entry_free(e);
			continue;
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static char *blob_name(const char *data)
{
	char d[DIGEST_STR_LEN];
	digest_buf(data, strlen(data), d);
	return xasprintf("blobs/sha256/%s", d + 7);
}

static char *digest_of(const char *data)
{
	char d[DIGEST_STR_LEN];
	digest_buf(data, strlen(data), d);
	return xstrdup(d);
}

static int count_blob(const struct content_info *info, void *userdata)
{
	(void)info;
	(*(size_t *)userdata)++;
	return 0;
}

static size_t n_blobs(void)
{
	size_t n = 0;
	assert_int_equal(content_walk(cs, NULL, count_blob, &n, NULL), 0);
	return n;
}

static size_t n_ingests(void)
{
	struct content_status *st = NULL;
	size_t n = 0;
	assert_int_equal(content_list_statuses(cs, NULL, &st, &n, NULL), 0);
	content_statuses_free(st, n);
	return n;
}

static char *read_blob(const char *digest)
{
	struct content_reader *r = NULL;
	assert_int_equal(content_reader_open(cs, digest, &r, NULL), 0);
	size_t size = (size_t)content_reader_size(r);
	char *buf = xmalloc(size + 1);
	assert_int_equal(content_reader_read_at(r, buf, size, 0, NULL), (ssize_t)size);
	buf[size] = 0;
	content_reader_free(r);
	return buf;
}

/* A small OCI image: its layer, config and manifest texts. */
struct oci_img {
	char *layer, *config, *manifest;
	char *dl, *dc, *dm;
};

static void oci_img_make(struct oci_img *im, const char *tag)
{
	im->layer = xasprintf("layer bytes of %s", tag);
	im->dl = digest_of(im->layer);
	im->config = xasprintf("{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\","
			       "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
			       im->dl);
	im->dc = digest_of(im->config);
	im->manifest = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\","
				 "\"config\":{\"mediaType\":\"" IMG_MT_OCI_CONFIG
				 "\",\"digest\":\"%s\",\"size\":%zu},"
				 "\"layers\":[{\"mediaType\":\"" IMG_MT_OCI_LAYER_GZIP
				 "\",\"digest\":\"%s\",\"size\":%zu}]}",
				 im->dc, strlen(im->config), im->dl, strlen(im->layer));
	im->dm = digest_of(im->manifest);
}

static void oci_img_free(struct oci_img *im)
{
	free(im->layer), free(im->config), free(im->manifest);
	free(im->dl), free(im->dc), free(im->dm);
}

/* index.json naming the manifest once per annotation set given ("" = none). */
static char *index_json(const struct oci_img *im, const char *const *annotations, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "{\"schemaVersion\":2,\"manifests\":[");
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&sb,
			    "%s{\"mediaType\":\"" IMG_MT_OCI_MANIFEST
			    "\",\"digest\":\"%s\",\"size\":%zu%s%s%s}",
			    i ? "," : "", im->dm, strlen(im->manifest),
			    *annotations[i] ? ",\"annotations\":{" : "", annotations[i],
			    *annotations[i] ? "}" : "");
	strbuf_adds(&sb, "]}");
	return strbuf_detach(&sb, NULL);
}

static int oci_tar(const struct oci_img *im, const char *index)
{
	cleanup_free char *bl = blob_name(im->layer), *bc = blob_name(im->config),
			  *bm = blob_name(im->manifest);
	struct ent v[] = {
		{.name = "oci-layout", .data = "{\"imageLayoutVersion\":\"1.0.0\"}"},
		{.name = "blobs", .dir = true},
		{.name = "blobs/sha256", .dir = true},
		{.name = bl, .data = im->layer},
		{.name = bc, .data = im->config},
		{.name = bm, .data = im->manifest},
		{.name = "./index.json", .data = index},
	};
	return make_tar(v, ARRAY_SIZE(v));
}

static void test_oci_names(void **state)
{
	(void)state;
	struct oci_img im;
	oci_img_make(&im, "a");
	const char *ann[] = {
		"\"org.opencontainers.image.ref.name\":\"latest\"",
		"\"org.opencontainers.image.ref.name\":\"busybox:1\"",
		"\"io.containerd.image.name\":\"foo\",\"org.opencontainers.image.ref.name\":\"x\"",
		"",
	};
	cleanup_free char *idx = index_json(&im, ann, ARRAY_SIZE(ann));
	struct img_import_opts o = {.base_name = "example.com/app"};
	for (int pass = 0; pass < 2; pass++) {
		cleanup_close int fd = oci_tar(&im, idx);
		struct img_archive_image *v = NULL;
		size_t n = 0;
		cleanup_err struct wh_err *err = NULL;
		assert_int_equal(img_archive_import(cs, fd, pass ? NULL : &o, &v, &n, &err), 0);
		assert_int_equal(n, 4);
		if (pass)
			assert_null(v[0].name);
		else
			assert_string_equal(v[0].name, "example.com/app:latest");
		assert_string_equal(v[1].name, "docker.io/library/busybox:1");
		assert_string_equal(v[2].name, "docker.io/library/foo:latest");
		assert_null(v[3].name);
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(v[i].target.digest, im.dm);
			assert_string_equal(v[i].target.media_type, IMG_MT_OCI_MANIFEST);
			assert_int_equal(v[i].target.size, strlen(im.manifest));
		}
		img_archive_images_free(v, n);
		assert_int_equal(n_blobs(), 3);
		assert_int_equal(n_ingests(), 0);
	}
	cleanup_free char *back = read_blob(im.dm);
	assert_string_equal(back, im.manifest);
	oci_img_free(&im);
}

static void test_docker_synthesized(void **state)
{
	(void)state;
	const char *config = "{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}";
	const char *plain = "plain";
	const char gz[] = "\x1f\x8b\x08\x00zz";
	const char *manifest = "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"busybox:latest\","
			       "\"example.com/x/y:2\"],\"Layers\":[\"l1/layer.tar\","
			       "\"l2/layer.tar\",\"l3/layer.tar\"]}]";
	struct ent v[] = {
		{.name = "l1", .dir = true},
		{.name = "l1/layer.tar", .data = plain},
		{.name = "l2/layer.tar", .link = "../l1/layer.tar"},
		{.name = "l3/layer.tar", .data = gz, .len = sizeof(gz) - 1},
		{.name = "l3/json", .data = "{}"},
		{.name = "cfg.json", .data = config},
		{.name = "manifest.json", .data = manifest},
		{.name = "repositories", .data = "{}"},
	};
	cleanup_close int fd = make_tar(v, ARRAY_SIZE(v));
	struct img_archive_image *imgs = NULL;
	size_t n = 0;
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(img_archive_import(cs, fd, NULL, &imgs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(imgs[0].name, "docker.io/library/busybox:latest");
	assert_string_equal(imgs[1].name, "example.com/x/y:2");
	assert_string_equal(imgs[0].target.media_type, IMG_MT_DOCKER_MANIFEST);
	assert_true(imgs[0].target.has_platform);
	assert_string_equal(imgs[0].target.platform.arch, "arm");
	assert_string_equal(imgs[0].target.platform.variant, "v7");
	char dgz[DIGEST_STR_LEN];
	digest_buf(gz, sizeof(gz) - 1, dgz);
	cleanup_free char *dc = digest_of(config), *dp = digest_of(plain);
	/* The bytes containerd's importer writes for the same archive (Go struct field order). */
	cleanup_free char *want = xasprintf(
		"{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\","
		"\"config\":{\"mediaType\":\"" IMG_MT_DOCKER_CONFIG
		"\",\"digest\":\"%s\",\"size\":%zu},"
		"\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar\","
		"\"digest\":\"%s\",\"size\":5},"
		"{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar\",\"digest\":\"%s\","
		"\"size\":5},"
		"{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
		"\"digest\":\"%s\",\"size\":%zu}]}",
		dc, strlen(config), dp, dp, dgz, sizeof(gz) - 1);
	cleanup_free char *got = read_blob(imgs[0].target.digest);
	assert_string_equal(got, want);
	cleanup_free char *dm = digest_of(want);
	assert_string_equal(imgs[0].target.digest, dm);
	/* config, two distinct layers, the manifest; not l3/json nor repositories */
	assert_int_equal(n_blobs(), 4);
	assert_int_equal(n_ingests(), 0);
	img_archive_images_free(imgs, n);
}

static int export_memfd(const struct img_archive_image *v, size_t n,
			const struct img_export_opts *o, struct wh_err **err)
{
	int fd = memfd_create("export", MFD_CLOEXEC);
	assert_true(fd >= 0);
	int r = img_archive_export(cs, v, n, o, fd, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static char *slurp(int fd, size_t *len)
{
	char *buf = NULL;
	assert_int_equal(read_fd(fd, 64 << 20, &buf, len), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return buf;
}

static void test_export_roundtrip(void **state)
{
	(void)state;
	struct oci_img a, b;
	oci_img_make(&a, "a");
	oci_img_make(&b, "b");
	const char *ann[] = {""};
	cleanup_free char *ia = index_json(&a, ann, 1), *ib = index_json(&b, ann, 1);
	struct img_archive_image *va = NULL, *vb = NULL;
	size_t na = 0, nb = 0;
	cleanup_close int fa = oci_tar(&a, ia), fb = oci_tar(&b, ib);
	assert_int_equal(img_archive_import(cs, fa, NULL, &va, &na, NULL), 0);
	assert_int_equal(img_archive_import(cs, fb, NULL, &vb, &nb, NULL), 0);
	struct img_archive_image two[2] = {
		{.name = (char *)"example.com/a:1", .target = va[0].target},
		{.name = (char *)"docker.io/library/b:latest", .target = vb[0].target},
	};
	/* arm64 is what the images are: no index, so no platform filter applies. */
	struct img_export_opts o = {.format = IMG_ARCHIVE_OCI};
	cleanup_close int e1 = export_memfd(two, 2, &o, NULL);
	cleanup_close int e2 = export_memfd(two, 2, &o, NULL);
	size_t l1 = 0, l2 = 0;
	cleanup_free char *b1 = slurp(e1, &l1), *b2 = slurp(e2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(b1, b2, l1);

	/* into a fresh store */
	content_store_free(cs);
	assert_int_equal(rm_rf(tmp), 0);
	assert_int_equal(content_store_open(tmp, &cs, NULL), 0);
	struct img_archive_image *v = NULL;
	size_t n = 0;
	assert_int_equal(img_archive_import(cs, e1, NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "example.com/a:1");
	assert_string_equal(v[0].target.digest, a.dm);
	assert_string_equal(v[1].name, "docker.io/library/b:latest");
	assert_string_equal(v[1].target.digest, b.dm);
	assert_int_equal(n_blobs(), 6);
	img_archive_images_free(v, n);

	/* docker-archive: config and layer digests survive, names come back normalized */
	o.format = IMG_ARCHIVE_DOCKER;
	cleanup_close int d1 = export_memfd(two, 2, &o, NULL);
	content_store_free(cs);
	assert_int_equal(rm_rf(tmp), 0);
	assert_int_equal(content_store_open(tmp, &cs, NULL), 0);
	assert_int_equal(img_archive_import(cs, d1, NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[1].name, "docker.io/library/b:latest");
	cleanup_free char *m = read_blob(v[0].target.digest);
	assert_non_null(strstr(m, a.dc));
	assert_non_null(strstr(m, a.dl));
	img_archive_images_free(v, n);

	/* a target missing from the store */
	struct img_archive_image missing = {
		.name = NULL,
		.target = {.media_type = (char *)IMG_MT_OCI_MANIFEST, .digest = a.dc, .size = 3}};
	cleanup_err struct wh_err *err = NULL;
	o.format = IMG_ARCHIVE_OCI;
	content_store_free(cs);
	assert_int_equal(rm_rf(tmp), 0);
	assert_int_equal(content_store_open(tmp, &cs, NULL), 0);
	assert_int_equal(export_memfd(&missing, 1, &o, &err), -ENOENT);
	assert_non_null(strstr(wh_err_msg(err), a.dc));

	img_archive_images_free(va, na);
	img_archive_images_free(vb, nb);
	oci_img_free(&a);
	oci_img_free(&b);
}

/* Imports a one-image OCI tar with one extra entry; it must fail naming what. */
static void hostile(const struct ent *extra, const char *want, int code)
{
	struct oci_img im;
	oci_img_make(&im, "h");
	const char *ann[] = {""};
	cleanup_free char *idx = index_json(&im, ann, 1);
	cleanup_free char *bl = blob_name(im.layer), *bc = blob_name(im.config),
			  *bm = blob_name(im.manifest);
	struct ent v[] = {
		{.name = "oci-layout", .data = "{\"imageLayoutVersion\":\"1.0.0\"}"},
		{.name = bl, .data = im.layer},
		{.name = bc, .data = im.config},
		{.name = bm, .data = im.manifest},
		*extra,
		{.name = "index.json", .data = idx},
	};
	cleanup_close int fd = make_tar(v, ARRAY_SIZE(v));
	struct img_archive_image *out = NULL;
	size_t n = 0;
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(img_archive_import(cs, fd, NULL, &out, &n, &err), -code);
	if (!strstr(wh_err_msg(err), want))
		fail_msg("error '%s' does not name '%s'", wh_err_msg(err), want);
	assert_int_equal(n_blobs(), 0);
	assert_int_equal(n_ingests(), 0);
	oci_img_free(&im);
}

static void test_hostile(void **state)
{
	(void)state;
	const char *hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	cleanup_free char *bad = xasprintf("blobs/sha256/%s", hex64);
	struct ent dotdot = {.name = "blobs/../../../etc/x", .data = "x"};
	hostile(&dotdot, "entry 'blobs/../../../etc/x': not a relative path", EINVAL);
	struct ent abs = {.name = "/etc/x", .data = "x"};
	hostile(&abs, "entry '/etc/x'", EINVAL);
	struct ent wrong = {.name = bad, .data = "not what the name says"};
	hostile(&wrong, "not the sha256:0123456789abcdef", EBADMSG);
	struct ent sym = {.name = bad, .link = "/etc/passwd"};
	hostile(&sym, "a symlink in blobs/ refused", EINVAL);
	struct ent hard = {.name = bad, .link = "oci-layout", .hard = true};
	hostile(&hard, "a hard link in blobs/ refused", EINVAL);
	struct ent out = {.name = "payload.sh", .data = "#!/bin/sh\n"};
	hostile(&out, "entry 'payload.sh' is outside blobs/", EINVAL);
	struct ent dup = {.name = "./oci-layout", .data = "{}"};
	hostile(&dup, "entry 'oci-layout' appears twice", EINVAL);
	struct ent dir = {.name = "blobs/sha256/sub", .dir = true};
	hostile(&dir, "unexpected directory in blobs/", EINVAL);
}

/* Imports the entries; returns the result, checking that a failure left nothing behind. */
static int import_ents(const struct ent *v, size_t n, struct img_archive_image **ret, size_t *ret_n,
		       char **ret_msg)
{
	cleanup_close int fd = make_tar(v, n);
	cleanup_err struct wh_err *err = NULL;
	size_t before = n_blobs();
	int r = img_archive_import(cs, fd, NULL, ret, ret_n, &err);
	if (r < 0) {
		assert_int_equal(n_blobs(), before);
		assert_int_equal(n_ingests(), 0);
		*ret_msg = xstrdup(wh_err_msg(err));
	}
	return r;
}

static void test_docker_edges(void **state)
{
	(void)state;
	const char *config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
	struct img_archive_image *v = NULL;
	size_t n = 0;
	cleanup_free char *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL;

	/* no RepoTags: one unnamed image */
	struct ent untagged[] = {
		{.name = "c.json", .data = config},
		{.name = "a/layer.tar", .data = "aaaa"},
		{.name = "manifest.json",
		 .data = "[{\"Config\":\"c.json\",\"Layers\":[\"a/layer.tar\"]}]"},
	};
	assert_int_equal(import_ents(untagged, ARRAY_SIZE(untagged), &v, &n, &m1), 0);
	assert_int_equal(n, 1);
	assert_null(v[0].name);
	assert_string_equal(v[0].target.platform.arch, "amd64");
	img_archive_images_free(v, n);

	/* an empty manifest.json */
	struct ent empty[] = {{.name = "manifest.json", .data = "[]"}};
	assert_int_equal(import_ents(empty, 1, &v, &n, &m2), -EBADMSG);
	assert_non_null(strstr(m2, "manifest.json': no images"));

	/* index.json without oci-layout */
	struct ent no_layout[] = {{.name = "index.json", .data = "{\"schemaVersion\":2}"}};
	assert_int_equal(import_ents(no_layout, 1, &v, &n, &m3), -EBADMSG);
	assert_non_null(strstr(m3, "index.json without oci-layout"));

	/* a symlink loop between two layers */
	struct ent loop[] = {
		{.name = "c.json", .data = config},
		{.name = "a/layer.tar", .link = "../b/layer.tar"},
		{.name = "b/layer.tar", .link = "../a/layer.tar"},
		{.name = "manifest.json",
		 .data = "[{\"Config\":\"c.json\",\"Layers\":[\"a/layer.tar\"]}]"},
	};
	assert_int_equal(import_ents(loop, ARRAY_SIZE(loop), &v, &n, &m4), -ELOOP);
	assert_non_null(strstr(m4, "too many links"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_oci_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_synthesized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_edges, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

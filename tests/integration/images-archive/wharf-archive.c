/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharf-archive: the test tool of images/archive.c. Imports a tar (OCI layout or
 * docker-archive) into a content store directory and exports images from it back to a tar.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <unistd.h>

#include "common/common.h"
#include "content/content.h"
#include "images/images.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: wharf-archive import [--base-name NAME] STORE TAR|-\n"
		"       wharf-archive export [--docker] [--all-platforms] [--platform P] STORE "
		"OUT|- NAME=DIGEST...\n"
		"  import prints one line per image: NAME|- DIGEST MEDIATYPE SIZE\n"
		"  export: NAME may be '-' for an unnamed image; the target is read from STORE\n");
}

static int cmd_import(struct content_store *cs, const char *path, const char *base,
		      struct wh_err **err)
{
	cleanup_close int fd =
		streq(path, "-") ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return wh_err_set(err, errno, "open '%s'", path);
	struct img_import_opts o = {.base_name = base};
	struct img_archive_image *v = NULL;
	size_t n = 0;
	int r = img_archive_import(cs, fd, &o, &v, &n, err);
	if (r < 0)
		return wh_err_wrap(err, r, "import '%s'", path);
	for (size_t i = 0; i < n; i++)
		printf("%s %s %s %" PRIu64 "\n", v[i].name ? v[i].name : "-", v[i].target.digest,
		       v[i].target.media_type ? v[i].target.media_type : "-", v[i].target.size);
	img_archive_images_free(v, n);
	return 0;
}

/* NAME=DIGEST: the target's media type and size come from the store. */
static int parse_image(struct content_store *cs, const char *arg, struct img_archive_image *ret,
		       struct wh_err **err)
{
	const char *eq = strrchr(arg, '=');
	if (!eq)
		return wh_err_setx(err, EINVAL, "'%s': expected NAME=DIGEST", arg);
	cleanup_free char *name = xstrndup(arg, (size_t)(eq - arg));
	const char *digest = eq + 1;
	struct content_reader *rd = NULL;
	int r = content_reader_open(cs, digest, &rd, err);
	if (r < 0)
		return r;
	uint64_t size = content_reader_size(rd);
	if (size > IMG_MAX_MANIFEST_SIZE) {
		content_reader_free(rd);
		return wh_err_setx(err, EFBIG, "%s: too large for a manifest", digest);
	}
	cleanup_free char *buf = xmalloc((size_t)size + 1);
	ssize_t k = content_reader_read_at(rd, buf, (size_t)size, 0, err);
	content_reader_free(rd);
	if (k < 0)
		return (int)k;
	struct img_manifest m = {0};
	r = img_manifest_parse(NULL, buf, (size_t)k, &m, err);
	if (r < 0)
		return wh_err_wrap(err, r, "%s", digest);
	ret->name = streq(name, "-") ? NULL : TAKE_PTR(name);
	ret->target.media_type = xstrdup(m.media_type);
	ret->target.digest = xstrdup(digest);
	ret->target.size = size;
	img_manifest_release(&m);
	return 0;
}

static int cmd_export(struct content_store *cs, const char *path, char **args, size_t n,
		      const struct img_export_opts *o, struct wh_err **err)
{
	struct img_archive_image *v = xnew0(struct img_archive_image, n ? n : 1);
	int r = 0;
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = parse_image(cs, args[i], &v[i], err);
	cleanup_close int fd = -EBADF;
	if (r >= 0) {
		fd = streq(path, "-") ? dup(STDOUT_FILENO)
				      : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			r = wh_err_set(err, errno, "open '%s'", path);
	}
	if (r >= 0)
		r = img_archive_export(cs, v, n, o, fd, err);
	if (r < 0 && fd >= 0 && !streq(path, "-"))
		unlink(path);
	img_archive_images_free(v, n);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"base-name", required_argument, NULL, 'b'},
		{"docker", no_argument, NULL, 'd'},
		{"all-platforms", no_argument, NULL, 'a'},
		{"platform", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *base = NULL, *platform = NULL;
	struct img_export_opts eo = {.format = IMG_ARCHIVE_OCI};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			base = optarg;
			break;
		case 'd':
			eo.format = IMG_ARCHIVE_DOCKER;
			break;
		case 'a':
			eo.all_platforms = true;
			break;
		case 'p':
			platform = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind < 3) {
		usage();
		return 2;
	}
	const char *cmd = argv[optind], *store = argv[optind + 1], *path = argv[optind + 2];
	cleanup_err struct wh_err *err = NULL;
	struct content_store *cs = NULL;
	struct img_platform p = {0};
	int r = 0;
	if (platform && (r = img_platform_parse(platform, &p, &err)) >= 0)
		eo.platform = &p;
	if (r >= 0)
		r = content_store_open(store, &cs, &err);
	if (r >= 0) {
		if (streq(cmd, "import") && argc - optind == 3)
			r = cmd_import(cs, path, base, &err);
		else if (streq(cmd, "export"))
			r = cmd_export(cs, path, argv + optind + 3, (size_t)(argc - optind - 3),
				       &eo, &err);
		else {
			usage();
			r = -EINVAL;
		}
	}
	content_store_free(cs);
	img_platform_release(&p);
	if (r < 0) {
		fprintf(stderr, "wharf-archive: %s\n", err ? wh_err_msg(err) : strerror(-r));
		return 1;
	}
	return 0;
}

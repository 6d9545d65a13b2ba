/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: image archive import (OCI layout tars and `docker save` archives, plain,
 * gzip or zstd), as `wharfctl import` reads them from a user. Each input is imported into a
 * fresh content store. A success names valid references and targets that are in the store; a
 * failure commits nothing and leaves no ingest behind. Nothing appears beside the store.
 *
 * As root the scratch root is a tmpfs mounted in a private mount namespace (unshare(CLONE_NEWNS)
 * at start), otherwise a temp dir. Use small inputs: -max_len=65536.
 */
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/mount.h>

#include "content/content.h"
#include "images/images.h"
#include "tests/fuzz/images/fuzz-common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static char scratch[] = "/tmp/fuzz-images-archive-XXXXXX";
static char *store_dir, *blobs_dir, *ingest_dir;

static void must(int r, const char *what)
{
	if (r < 0)
		fuzz_fail("%s: %s", what, strerror(r == -1 ? errno : -r));
}

static void cleanup_scratch(void)
{
	if (geteuid() == 0)
		(void)umount2(scratch, MNT_DETACH);
	else
		(void)rm_rf(scratch);
	(void)rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!mkdtemp(scratch))
		fuzz_fail("mkdtemp: %m");
	if (geteuid() == 0) {
		must(unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)");
		must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make / private");
		must(mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=0700"),
		     "mount tmpfs");
	}
	atexit(cleanup_scratch);
	store_dir = path_join(scratch, "content");
	blobs_dir = path_join(store_dir, "blobs/sha256");
	ingest_dir = path_join(store_dir, "ingest");
	return 0;
}

/* The number of entries in dir other than . and .. (-1 when it cannot be read). */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cleanup_close int fd = memfd_create("fuzz-archive", MFD_CLOEXEC);
	must(fd, "memfd_create");
	must(write_all(fd, data, size), "write memfd");
	must(lseek(fd, 0, SEEK_SET) < 0 ? -1 : 0, "lseek");

	struct content_store *cs = NULL;
	struct wh_err *err = NULL;
	if (content_store_open(store_dir, &cs, &err) < 0)
		fuzz_fail("content_store_open: %s", wh_err_msg(err));

	struct img_import_opts o = {.base_name = "wharf.test/fuzz"};
	struct img_archive_image *v = NULL;
	size_t n = 0;
	int r = img_archive_import(cs, fd, &o, &v, &n, &err);
	if (r < 0) {
		if (getenv("FUZZ_VERBOSE") && err)
			fprintf(stderr, "import: %s\n", wh_err_msg(err));
		fuzz_check_err(r, err);
		int blobs = count_entries(blobs_dir);
		if (blobs != 0)
			fuzz_fail("a failed import left %d blobs committed", blobs);
	} else {
		for (size_t i = 0; i < n; i++) {
			const struct img_desc *t = &v[i].target;
			if (getenv("FUZZ_VERBOSE"))
				fprintf(stderr, "import: %s %s\n", v[i].name ? v[i].name : "-",
					t->digest ? t->digest : "-");
			if (!t->digest || !digest_is_valid(t->digest) ||
			    !content_exists(cs, t->digest))
				fuzz_fail("image %zu: target '%s' not in the store", i,
					  t->digest ? t->digest : "(null)");
			if (v[i].name) {
				struct img_ref ref;
				struct wh_err *e2 = NULL;
				if (img_ref_parse(v[i].name, &ref, &e2) < 0)
					fuzz_fail("image %zu: name '%s' is not a reference: %s", i,
						  v[i].name, wh_err_msg(e2));
				img_ref_release(&ref);
			}
		}
		img_archive_images_free(v, n);
	}
	int ingests = count_entries(ingest_dir);
	if (ingests != 0)
		fuzz_fail("the import left %d entries in ingest/", ingests);
	content_store_free(cs);
	if (count_entries(scratch) != 1)
		fuzz_fail("the import wrote beside the content store");
	must(rm_rf(store_dir), "rm -rf content store");
	return 0;
}

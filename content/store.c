/* SPDX-License-Identifier: Apache-2.0 */
/* The blob side of the local content store: open, info, walk, delete and range readers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>

#include "common/common.h"
#include "common/filter.h"
#include "content/internal.h"

struct content_reader {
	int fd;
	uint64_t size;
};

static uint64_t stat_mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000ull + (uint64_t)st->st_mtim.tv_nsec;
}

struct content_store *content_store_free(struct content_store *cs)
{
	if (!cs)
		return NULL;
	wh_close(cs->root_fd);
	wh_close(cs->blobs_fd);
	wh_close(cs->ingest_fd);
	free(cs->root);
	free(cs);
	return NULL;
}

/* Ingests retired by a process that died before removing them (best effort). */
static void remove_trash(struct content_store *cs)
{
	int fd = openat(cs->ingest_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_closedir DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		wh_close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (str_startswith(de->d_name, ".trash-"))
			(void)rm_rf_at(cs->ingest_fd, de->d_name);
}

int content_store_open(const char *root, struct content_store **ret, struct wh_err **err)
{
	struct content_store *cs;
	int r;

	if (!root || !*root)
		return wh_err_setx(err, EINVAL, "open content store: empty root path");
	r = mkdir_p(root, 0711);
	if (r < 0)
		return wh_err_set(err, r, "open content store: create '%s'", root);
	cs = xnew0(struct content_store, 1);
	cs->root = xstrdup(root);
	cs->blobs_fd = cs->ingest_fd = -EBADF;
	cs->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cs->root_fd < 0) {
		r = wh_err_set(err, errno, "open content store '%s'", root);
		goto out_free;
	}
	r = mkdir_p_beneath(cs->root_fd, "blobs/sha256", 0711);
	if (r < 0) {
		r = wh_err_set(err, r, "open content store: create '%s/blobs/sha256'", root);
		goto out_free;
	}
	wh_close(r);
	/* a real fd, not O_PATH: commits fsync this directory */
	cs->blobs_fd = openat(cs->root_fd, "blobs/sha256",
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cs->blobs_fd < 0) {
		r = wh_err_set(err, errno, "open content store: open '%s/blobs/sha256'", root);
		goto out_free;
	}
	cs->ingest_fd = mkdir_p_beneath(cs->root_fd, "ingest", 0700);
	if (cs->ingest_fd < 0) {
		r = wh_err_set(err, cs->ingest_fd, "open content store: create '%s/ingest'", root);
		goto out_free;
	}
	remove_trash(cs);
	*ret = cs;
	return 0;
out_free:
	content_store_free(cs);
	return r;
}

const char *content_store_root(const struct content_store *cs)
{
	return cs->root;
}

static int check_digest(const char *digest, const char **ret_hex, struct wh_err **err)
{
	if (!digest || digest_parse(digest, ret_hex) < 0)
		return wh_err_setx(err, EINVAL,
				   "invalid digest '%s': want sha256: and 64 lowercase hex",
				   digest ? digest : "(null)");
	return 0;
}

int content_info(struct content_store *cs, const char *digest, struct content_info *ret,
		 struct wh_err **err)
{
	const char *hex;
	struct stat st;
	int r = check_digest(digest, &hex, err);

	if (r < 0)
		return r;
	if (fstatat(cs->blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return wh_err_setx(err, ENOENT, "content %s not found", digest);
		return wh_err_set(err, errno, "stat content %s", digest);
	}
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->digest, sizeof(ret->digest), "sha256:%s", hex);
	ret->size = (uint64_t)st.st_size;
	ret->created_ns = ret->updated_ns = stat_mtime_ns(&st);
	return 0;
}

bool content_exists(struct content_store *cs, const char *digest)
{
	const char *hex;
	struct stat st;

	if (!digest || digest_parse(digest, &hex) < 0)
		return false;
	return fstatat(cs->blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

struct info_lookup {
	const struct content_info *info;
	char size[32];
};

static bool info_field(void *userdata, const char *const *path, size_t n, const char **ret)
{
	struct info_lookup *l = userdata;

	if (n != 1)
		return false;
	if (streq(path[0], "digest")) {
		*ret = l->info->digest;
		return true;
	}
	if (streq(path[0], "size")) {
		*ret = l->size;
		return true;
	}
	return false;
}

static bool is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == DIGEST_HEX_LEN;
}

int content_walk(struct content_store *cs, const struct filter *f, content_walk_fn *fn,
		 void *userdata, struct wh_err **err)
{
	cleanup_closedir DIR *d = NULL;
	struct dirent *de;
	int fd, r;

	fd = openat(cs->blobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return wh_err_set(err, errno, "walk content: open blobs");
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		wh_close(fd);
		return wh_err_set(err, r, "walk content: open blobs");
	}
	while ((errno = 0, de = readdir(d))) {
		struct content_info info;
		struct info_lookup l = {.info = &info};
		char digest[DIGEST_STR_LEN];

		if (!is_hex64(de->d_name))
			continue;
		memcpy(digest, "sha256:", 7);
		memcpy(digest + 7, de->d_name, DIGEST_HEX_LEN + 1);
		r = content_info(cs, digest, &info, NULL);
		if (r == -ENOENT)
			continue; /* deleted while we walk */
		if (r < 0)
			return wh_err_set(err, r, "walk content: stat %s", digest);
		snprintf(l.size, sizeof(l.size), "%llu", (unsigned long long)info.size);
		if (!filter_match(f, info_field, &l))
			continue;
		r = fn(&info, userdata);
		if (r < 0)
			return r;
	}
	if (errno)
		return wh_err_set(err, errno, "walk content: read blobs");
	return 0;
}

int content_delete(struct content_store *cs, const char *digest, struct wh_err **err)
{
	const char *hex;
	int r = check_digest(digest, &hex, err);

	if (r < 0)
		return r;
	if (unlinkat(cs->blobs_fd, hex, 0) < 0) {
		if (errno == ENOENT)
			return wh_err_setx(err, ENOENT, "content %s not found", digest);
		return wh_err_set(err, errno, "delete content %s", digest);
	}
	return 0;
}

int content_reader_open(struct content_store *cs, const char *digest, struct content_reader **ret,
			struct wh_err **err)
{
	struct content_reader *rd;
	const char *hex;
	struct stat st;
	int fd, r = check_digest(digest, &hex, err);

	if (r < 0)
		return r;
	fd = openat(cs->blobs_fd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return wh_err_setx(err, ENOENT, "content %s not found", digest);
		return wh_err_set(err, errno, "open content %s", digest);
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		wh_close(fd);
		return wh_err_set(err, r, "stat content %s", digest);
	}
	rd = xnew0(struct content_reader, 1);
	rd->fd = fd;
	rd->size = (uint64_t)st.st_size;
	*ret = rd;
	return 0;
}

uint64_t content_reader_size(const struct content_reader *r)
{
	return r->size;
}

int content_reader_fd(const struct content_reader *r)
{
	return r->fd;
}

ssize_t content_reader_read_at(struct content_reader *r, void *buf, size_t len, uint64_t off,
			       struct wh_err **err)
{
	size_t done = 0;

	if (off >= r->size)
		return 0;
	len = (size_t)MIN((uint64_t)len, r->size - off);
	while (done < len) {
		ssize_t n = pread(r->fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return wh_err_set(err, errno, "read content at %llu",
					  (unsigned long long)(off + done));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

struct content_reader *content_reader_free(struct content_reader *r)
{
	if (r) {
		wh_close(r->fd);
		free(r);
	}
	return NULL;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers for snapshots: building layer tars with libarchive and canonical tree listings. */
#include "helpers.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "common/common.h"

struct tarb {
	struct archive *a;
	struct strbuf out;
};

static la_ssize_t tb_write(struct archive *a, void *ud, const void *buf, size_t n)
{
	struct tarb *t = ud;
	strbuf_add(&t->out, buf, n);
	return (la_ssize_t)n;
}

struct tarb *tarb_new(void)
{
	struct tarb *t = xnew0(struct tarb, 1);
	strbuf_init(&t->out, 0);
	t->a = archive_write_new();
	archive_write_set_format_pax(t->a);
	archive_write_set_bytes_in_last_block(t->a, 1);
	wh_assert(archive_write_open(t->a, t, NULL, tb_write, NULL) == ARCHIVE_OK);
	return t;
}

static struct archive_entry *entry(const char *name, mode_t type, mode_t perm)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_mtime(e, 1700000000, 0);
	return e;
}

static void put(struct tarb *t, struct archive_entry *e, const char *data)
{
	wh_assert(archive_write_header(t->a, e) == ARCHIVE_OK);
	if (data && *data)
		wh_assert(archive_write_data(t->a, data, strlen(data)) == (la_ssize_t)strlen(data));
	archive_entry_free(e);
}

void tarb_dir(struct tarb *t, const char *name, mode_t perm)
{
	put(t, entry(name, AE_IFDIR, perm), NULL);
}

void tarb_file_owned(struct tarb *t, const char *name, mode_t perm, unsigned uid, unsigned gid,
		     long mtime, const char *data)
{
	struct archive_entry *e = entry(name, AE_IFREG, perm);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	archive_entry_set_mtime(e, mtime, 123456789);
	archive_entry_set_size(e, (la_int64_t)strlen(data));
	put(t, e, data);
}

void tarb_file(struct tarb *t, const char *name, mode_t perm, const char *data)
{
	tarb_file_owned(t, name, perm, 0, 0, 1700000000, data);
}

void tarb_xattr_file(struct tarb *t, const char *name, const char *xname, const char *xvalue)
{
	struct archive_entry *e = entry(name, AE_IFREG, 0644);
	archive_entry_xattr_add_entry(e, xname, xvalue, strlen(xvalue));
	archive_entry_set_size(e, 0);
	put(t, e, NULL);
}

void tarb_symlink(struct tarb *t, const char *name, const char *target)
{
	struct archive_entry *e = entry(name, AE_IFLNK, 0777);
	archive_entry_set_symlink(e, target);
	put(t, e, NULL);
}

void tarb_hardlink(struct tarb *t, const char *name, const char *target)
{
	struct archive_entry *e = entry(name, AE_IFREG, 0644);
	archive_entry_set_hardlink(e, target);
	archive_entry_set_size(e, 0);
	put(t, e, NULL);
}

void tarb_chardev(struct tarb *t, const char *name, unsigned major, unsigned minor)
{
	struct archive_entry *e = entry(name, AE_IFCHR, 0600);
	archive_entry_set_rdevmajor(e, major);
	archive_entry_set_rdevminor(e, minor);
	put(t, e, NULL);
}

void tarb_fifo(struct tarb *t, const char *name)
{
	put(t, entry(name, AE_IFIFO, 0640), NULL);
}

char *tarb_finish(struct tarb *t, size_t *ret_len)
{
	wh_assert(archive_write_close(t->a) == ARCHIVE_OK);
	archive_write_free(t->a);
	char *b = strbuf_detach(&t->out, ret_len);
	free(t);
	return b;
}

char *compress_buf(const char *how, const char *buf, size_t len, size_t *ret_len)
{
	if (streq(how, "zstd")) {
		size_t cap = ZSTD_compressBound(len);
		char *out = xmalloc(cap);
		size_t n = ZSTD_compress(out, cap, buf, len, 3);
		wh_assert(!ZSTD_isError(n));
		*ret_len = n;
		return out;
	}
	if (streq(how, "gzip")) {
		z_stream z = {0};
		wh_assert(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
		size_t cap = deflateBound(&z, len) + 64;
		char *out = xmalloc(cap);
		z.next_in = (Bytef *)buf;
		z.avail_in = (uInt)len;
		z.next_out = (Bytef *)out;
		z.avail_out = (uInt)cap;
		wh_assert(deflate(&z, Z_FINISH) == Z_STREAM_END);
		*ret_len = cap - z.avail_out;
		deflateEnd(&z);
		return out;
	}
	*ret_len = len;
	return xmemdup(buf, len);
}

int buf_fd(const char *buf, size_t len)
{
	int fd = memfd_create("layer", MFD_CLOEXEC);
	wh_assert(fd >= 0);
	wh_assert(write_all(fd, buf, len) >= 0);
	wh_assert(lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct manifest {
	struct strbuf out;
	char **inodes; /* "ino=path" of hard-linked files */
};

static void manifest_dir(struct manifest *m, int dfd, const char *rel)
{
	DIR *d = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3));
	wh_assert(d);
	char **names = NULL;
	struct dirent *de;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			strv_push(&names, de->d_name);
	closedir(d);
	if (names)
		qsort(names, strv_length(names), sizeof(char *), cmp_str);
	strv_foreach(n, names) {
		cleanup_free char *path = *rel ? xasprintf("%s/%s", rel, *n) : xstrdup(*n);
		struct stat st;
		wh_assert(fstatat(dfd, *n, &st, AT_SYMLINK_NOFOLLOW) == 0);
		strbuf_addf(&m->out, "%s %o %u:%u", path, st.st_mode, st.st_uid, st.st_gid);
		if (S_ISREG(st.st_mode)) {
			int fd = openat(dfd, *n, O_RDONLY | O_CLOEXEC);
			wh_assert(fd >= 0);
			char dg[DIGEST_STR_LEN];
			uint64_t size;
			wh_assert(digest_fd(fd, dg, &size) >= 0);
			close(fd);
			strbuf_addf(&m->out, " size=%llu %s mtime=%lld.%09ld",
				    (unsigned long long)size, dg + 7, (long long)st.st_mtim.tv_sec,
				    st.st_mtim.tv_nsec);
			if (st.st_nlink > 1) {
				char key[32];
				snprintf(key, sizeof(key), "%lu=", (unsigned long)st.st_ino);
				const char *first = NULL;
				strv_foreach(x, m->inodes)
					if (str_startswith(*x, key))
						first = *x + strlen(key);
				if (first)
					strbuf_addf(&m->out, " link=%s", first);
				else
					strv_consume(&m->inodes, xasprintf("%s%s", key, path));
			}
		} else if (S_ISLNK(st.st_mode)) {
			cleanup_free char *t = xmalloc(PATH_MAX);
			ssize_t l = readlinkat(dfd, *n, t, PATH_MAX - 1);
			wh_assert(l >= 0);
			t[l] = 0;
			strbuf_addf(&m->out, " -> %s", t);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			strbuf_addf(&m->out, " dev=%u,%u", major(st.st_rdev), minor(st.st_rdev));
		}
		if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode) && !S_ISREG(st.st_mode))
			strbuf_addf(&m->out, " mtime=%lld", (long long)st.st_mtim.tv_sec);
		cleanup_free char *pp = xasprintf("/proc/self/fd/%d/%s", dfd, *n);
		cleanup_free char *names_buf = xmalloc(4096);
		ssize_t xl = llistxattr(pp, names_buf, 4096);
		char **xs = NULL;
		for (ssize_t i = 0; xl > 0 && i < xl; i += (ssize_t)strlen(names_buf + i) + 1)
			if (!str_startswith(names_buf + i, "trusted.overlay."))
				strv_push(&xs, names_buf + i);
		if (xs)
			qsort(xs, strv_length(xs), sizeof(char *), cmp_str);
		strv_foreach(x, xs) {
			char v[256];
			ssize_t vl = lgetxattr(pp, *x, v, sizeof(v) - 1);
			wh_assert(vl >= 0);
			v[vl] = 0;
			strbuf_addf(&m->out, " x:%s=%s", *x, v);
		}
		strv_free(xs);
		strbuf_addc(&m->out, '\n');
		if (S_ISDIR(st.st_mode)) {
			int c = openat(dfd, *n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			wh_assert(c >= 0);
			manifest_dir(m, c, path);
			close(c);
		}
	}
	strv_free(names);
}

char *tree_manifest(const char *dir)
{
	struct manifest m = {0};
	strbuf_init(&m.out, 0);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	wh_assert(fd >= 0);
	manifest_dir(&m, fd, "");
	close(fd);
	strv_free(m.inodes);
	return strbuf_detach(&m.out, NULL);
}

int run(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cleanup_free char *cmd = xvasprintf(fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st < 0 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

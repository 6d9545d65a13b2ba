/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers of the shim: the runtime's JSON log (last error), mounting the task's rootfs
 * (containerd.types.Mount: type, source, options) and unmounting everything below a path.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <sys/mount.h>

#include "shim/internal.h"

#define LOG_TAIL_MAX (1 << 20)

char *runtime_log_last_error(const char *path, off_t offset)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	off_t end = lseek(fd, 0, SEEK_END);
	if (end - offset > LOG_TAIL_MAX)
		offset = end - LOG_TAIL_MAX;
	if (offset < 0 || lseek(fd, offset, SEEK_SET) < 0)
		return NULL;
	cleanup_free char *text = NULL;
	size_t len;
	if (read_fd(fd, LOG_TAIL_MAX + 1, &text, &len) < 0)
		return NULL;
	char *last = NULL, *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		yajl_val v = NULL;
		if (json_parse(line, strlen(line), &v, NULL) < 0)
			continue;
		yajl_val level = json_get(v, "level"), msg = json_get(v, "msg");
		if (YAJL_IS_STRING(level) && streq(level->u.string, "error") &&
		    YAJL_IS_STRING(msg)) {
			free(last);
			last = xstrdup(msg->u.string);
		}
		yajl_tree_free(v);
	}
	return last;
}

struct mnt_flag {
	const char *name;
	bool clear;
	unsigned long flag;
};

static const struct mnt_flag mnt_flags[] = {
	{"ro", false, MS_RDONLY},	  {"rw", true, MS_RDONLY},
	{"nosuid", false, MS_NOSUID},	  {"suid", true, MS_NOSUID},
	{"nodev", false, MS_NODEV},	  {"dev", true, MS_NODEV},
	{"noexec", false, MS_NOEXEC},	  {"exec", true, MS_NOEXEC},
	{"sync", false, MS_SYNCHRONOUS},  {"async", true, MS_SYNCHRONOUS},
	{"noatime", false, MS_NOATIME},	  {"nodiratime", false, MS_NODIRATIME},
	{"relatime", false, MS_RELATIME}, {"strictatime", false, MS_STRICTATIME},
	{"bind", false, MS_BIND},	  {"rbind", false, MS_BIND | MS_REC},
	{"remount", false, MS_REMOUNT},
};

static int mount_one(const struct shim_mount *m, const char *target, struct wh_err **err)
{
	unsigned long flags = 0;
	struct strbuf data = STRBUF_INIT;
	for (size_t k = 0; k < m->n_options; k++) {
		char *const *o = &m->options[k];
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(mnt_flags); i++) {
			if (streq(*o, mnt_flags[i].name)) {
				known = true;
				if (mnt_flags[i].clear)
					flags &= ~mnt_flags[i].flag;
				else
					flags |= mnt_flags[i].flag;
			}
		}
		if (known)
			continue;
		if (data.len)
			strbuf_addc(&data, ',');
		strbuf_adds(&data, *o);
	}
	const char *type = m->type && *m->type ? m->type : NULL;
	int r = mount(m->source, target, (flags & MS_BIND) ? NULL : type,
		      flags & ~(unsigned long)MS_RDONLY, data.len ? data.buf : NULL);
	if (r == 0 && (flags & MS_BIND) && (flags & MS_RDONLY))
		r = mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
	else if (r == 0 && (flags & MS_RDONLY))
		r = mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY | flags,
			  data.len ? data.buf : NULL);
	int e = errno;
	strbuf_release(&data);
	if (r < 0)
		return wh_err_set(err, e, "mount %s '%s' on '%s'", m->type ? m->type : "",
				  m->source ? m->source : "", target);
	return 0;
}

int mount_rootfs(const struct shim_mount *m, size_t n, const char *target, struct wh_err **err)
{
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *t = m[i].target && *m[i].target ? path_join(target, m[i].target)
								   : xstrdup(target);
		int r = mount_one(&m[i], t, err);
		if (r < 0) {
			unmount_all(target, NULL);
			return r;
		}
	}
	return 0;
}

/* Unescapes the octal escapes of /proc/self/mountinfo in place. */
static void unescape(char *s)
{
	char *d = s;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*d++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = 0;
}

int unmount_all(const char *path, struct wh_err **err)
{
	size_t plen = strlen(path);
	for (int round = 0; round < 64; round++) {
		cleanup_free char *text = NULL;
		int r = read_file("/proc/self/mountinfo", 16 << 20, &text, NULL);
		if (r < 0)
			return wh_err_set(err, r, "read mountinfo");
		cleanup_free char *deepest = NULL;
		char *save = NULL;
		for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			char mp[4096];
			if (sscanf(l, "%*s %*s %*s %*s %4095s", mp) != 1)
				continue;
			unescape(mp);
			if (strncmp(mp, path, plen) != 0 || (mp[plen] && mp[plen] != '/'))
				continue;
			if (!deepest || strlen(mp) >= strlen(deepest)) {
				free(deepest);
				deepest = xstrdup(mp);
			}
		}
		if (!deepest)
			return 0;
		if (umount2(deepest, 0) < 0 && umount2(deepest, MNT_DETACH) < 0)
			return wh_err_set(err, errno, "unmount '%s'", deepest);
	}
	return wh_err_setx(err, EBUSY, "unmount '%s': too many mounts", path);
}

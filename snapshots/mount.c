/* SPDX-License-Identifier: Apache-2.0 */
/* Mount descriptions (containerd.types.Mount) and performing them: flags, binds, long overlays. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/common.h"
#include "snapshots/internal.h"

void wh_mount_list_done(struct wh_mount_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].type);
		free(l->v[i].source);
		free(l->v[i].target);
		strv_free(l->v[i].options);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void wh_mount_list_add(struct wh_mount_list *l, const char *type, const char *source,
		       const char *target, char *const *options)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	struct wh_mount *m = &l->v[l->n++];
	m->type = xstrdup(type ? type : "");
	m->source = xstrdup(source ? source : "");
	m->target = target ? xstrdup(target) : NULL;
	m->options = options ? strv_copy(options) : xnew0(char *, 1);
}

void wh_mount_list_copy(struct wh_mount_list *dst, const struct wh_mount_list *src)
{
	*dst = (struct wh_mount_list){0};
	for (size_t i = 0; i < src->n; i++)
		wh_mount_list_add(dst, src->v[i].type, src->v[i].source, src->v[i].target,
				  src->v[i].options);
}

static const struct {
	const char *name;
	bool clear;
	unsigned long flag;
} mount_flags[] = {
	{"async", true, MS_SYNCHRONOUS},
	{"atime", true, MS_NOATIME},
	{"bind", false, MS_BIND},
	{"defaults", false, 0},
	{"dev", true, MS_NODEV},
	{"diratime", true, MS_NODIRATIME},
	{"dirsync", false, MS_DIRSYNC},
	{"exec", true, MS_NOEXEC},
	{"mand", false, MS_MANDLOCK},
	{"noatime", false, MS_NOATIME},
	{"nodev", false, MS_NODEV},
	{"nodiratime", false, MS_NODIRATIME},
	{"noexec", false, MS_NOEXEC},
	{"nomand", true, MS_MANDLOCK},
	{"norelatime", true, MS_RELATIME},
	{"nostrictatime", true, MS_STRICTATIME},
	{"nosuid", false, MS_NOSUID},
	{"rbind", false, MS_BIND | MS_REC},
	{"relatime", false, MS_RELATIME},
	{"remount", false, MS_REMOUNT},
	{"ro", false, MS_RDONLY},
	{"rw", true, MS_RDONLY},
	{"strictatime", false, MS_STRICTATIME},
	{"suid", true, MS_NOSUID},
	{"sync", false, MS_SYNCHRONOUS},
};

static const struct {
	const char *name;
	unsigned long flag;
} propagation_flags[] = {
	{"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
	{"shared", MS_SHARED},	       {"rshared", MS_SHARED | MS_REC},
	{"slave", MS_SLAVE},	       {"rslave", MS_SLAVE | MS_REC},
	{"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

/* Splits options into flags, propagation flags and a comma-joined data string. */
static void parse_options(char *const *options, unsigned long *ret_flags, unsigned long *ret_prop,
			  struct strbuf *data)
{
	unsigned long flags = 0, prop = 0;
	strv_foreach(o, (char **)options) {
		bool found = false;
		for (size_t i = 0; i < ARRAY_SIZE(mount_flags) && !found; i++) {
			if (!streq(*o, mount_flags[i].name))
				continue;
			found = true;
			if (mount_flags[i].clear)
				flags &= ~mount_flags[i].flag;
			else
				flags |= mount_flags[i].flag;
		}
		for (size_t i = 0; i < ARRAY_SIZE(propagation_flags) && !found; i++) {
			if (streq(*o, propagation_flags[i].name)) {
				prop |= propagation_flags[i].flag;
				found = true;
			}
		}
		if (found)
			continue;
		if (data->len)
			strbuf_addc(data, ',');
		strbuf_adds(data, *o);
	}
	*ret_flags = flags;
	*ret_prop = prop;
}

/* The longest directory prefix shared by every layer path of an overlay data string. */
static char *overlay_common_dir(char **opts)
{
	char *common = NULL;
	strv_foreach(o, opts) {
		const char *v = NULL;
		if (str_startswith(*o, "lowerdir="))
			v = *o + 9;
		else if (str_startswith(*o, "upperdir="))
			v = *o + 9;
		else if (str_startswith(*o, "workdir="))
			v = *o + 8;
		if (!v)
			continue;
		cleanup_free char *copy = xstrdup(v);
		char *save = NULL;
		for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
			if (p[0] != '/') {
				free(common);
				return NULL;
			}
			if (!common) {
				common = xstrdup(p);
				char *s = strrchr(common, '/');
				s[s == common ? 1 : 0] = 0;
				continue;
			}
			size_t i = 0;
			while (common[i] && common[i] == p[i])
				i++;
			/* back off to a whole component */
			if (!(common[i] == 0 && (p[i] == '/' || p[i] == 0))) {
				while (i > 0 && common[i] != '/')
					i--;
			}
			common[i ? i : 1] = 0;
		}
	}
	return common;
}

static const char *rel_to(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (streq(dir, "/"))
		return path + 1;
	path += n;
	return *path == '/' ? path + 1 : path;
}

/* Rewrites lowerdir/upperdir/workdir values relative to dir. */
static void overlay_relative_data(char **opts, const char *dir, struct strbuf *out)
{
	strv_foreach(o, opts) {
		if (out->len)
			strbuf_addc(out, ',');
		const char *eq = strchr(*o, '=');
		bool layer = str_startswith(*o, "lowerdir=") || str_startswith(*o, "upperdir=") ||
			     str_startswith(*o, "workdir=");
		if (!layer || !eq) {
			strbuf_adds(out, *o);
			continue;
		}
		strbuf_add(out, *o, (size_t)(eq - *o) + 1);
		cleanup_free char *copy = xstrdup(eq + 1);
		char *save = NULL;
		bool first = true;
		for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
			if (!first)
				strbuf_addc(out, ':');
			first = false;
			const char *r = rel_to(p, dir);
			strbuf_adds(out, *r ? r : ".");
		}
	}
}

/* mount(2) from inside dir, in a child so the caller's cwd (shared by threads) stays. */
static int mount_from_dir(const char *dir, const char *source, const char *target, const char *type,
			  unsigned long flags, const char *data)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (chdir(dir) < 0)
			_exit(errno);
		if (mount(source, target, type, flags, data) < 0)
			_exit(errno);
		_exit(0);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (!WIFEXITED(status))
		return -EIO;
	return -WEXITSTATUS(status);
}

static int mount_one(const struct wh_mount *m, const char *target, struct wh_err **err)
{
	unsigned long flags, prop;
	cleanup_strbuf struct strbuf data = STRBUF_INIT;
	parse_options(m->options, &flags, &prop, &data);
	const char *type = m->type;
	if (streq(type, "bind") || streq(type, "rbind"))
		flags |= streq(type, "rbind") ? MS_BIND | MS_REC : MS_BIND;
	long page = sysconf(_SC_PAGESIZE);

	if ((flags & MS_BIND) != 0) {
		if (mount(m->source, target, NULL, flags & (MS_BIND | MS_REC), NULL) < 0)
			return wh_err_set(err, errno, "bind mount '%s' on '%s'", m->source, target);
		unsigned long rflags = flags & ~(MS_BIND | MS_REC);
		if (rflags != 0 &&
		    mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | rflags, NULL) < 0) {
			int e = errno;
			umount2(target, MNT_DETACH);
			return wh_err_set(err, e, "remount '%s' with the options of '%s'", target,
					  m->source);
		}
	} else if (streq(type, "overlay") && data.len >= (size_t)page) {
		cleanup_free char *dir = overlay_common_dir(m->options);
		if (!dir)
			return wh_err_setx(err, EINVAL,
					   "overlay options of '%s' do not fit a page and its "
					   "layers are not absolute paths",
					   target);
		cleanup_strbuf struct strbuf rel = STRBUF_INIT;
		char *const *o = m->options;
		/* keep only the data options, flags are passed separately */
		cleanup_strv char **dopts = NULL;
		strv_foreach(x, (char **)o) {
			unsigned long f1, p1;
			cleanup_strbuf struct strbuf d1 = STRBUF_INIT;
			char *one[2] = {*x, NULL};
			parse_options(one, &f1, &p1, &d1);
			if (d1.len)
				strv_push(&dopts, *x);
		}
		overlay_relative_data(dopts, dir, &rel);
		if (rel.len >= (size_t)page)
			return wh_err_setx(err, E2BIG,
					   "overlay options of '%s' are %zu bytes even relative to "
					   "'%s' (a page is %ld)",
					   target, rel.len, dir, page);
		cleanup_free char *abs_target = realpath(target, NULL);
		if (!abs_target)
			return wh_err_set(err, errno, "resolve '%s'", target);
		int r = mount_from_dir(dir, m->source, abs_target, "overlay", flags, rel.buf);
		if (r < 0)
			return wh_err_set(err, r, "mount overlay on '%s' from '%s'", target, dir);
	} else {
		if (mount(m->source, target, type, flags, data.len ? data.buf : NULL) < 0)
			return wh_err_set(err, errno, "mount '%s' (%s) on '%s'", m->source, type,
					  target);
	}
	if (prop && mount(NULL, target, NULL, prop, NULL) < 0) {
		int e = errno;
		umount2(target, MNT_DETACH);
		return wh_err_set(err, e, "set propagation of '%s'", target);
	}
	return 0;
}

int wh_mount_all(const struct wh_mount_list *l, const char *target, struct wh_err **err)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct wh_mount *m = &l->v[i];
		cleanup_free char *t = NULL;
		if (m->target && *m->target) {
			if (!path_is_safe_relative(m->target[0] == '/' ? m->target + 1
								       : m->target)) {
				wh_err_setx(err, EINVAL, "mount target '%s' is not a safe path",
					    m->target);
				goto undo;
			}
			t = path_join(target, m->target);
		} else {
			t = xstrdup(target);
		}
		int r = mount_one(m, t, err);
		if (r < 0) {
			wh_err_wrap(err, r, "mount %zu of %zu", i + 1, l->n);
			goto undo;
		}
		continue;
	undo:
		for (size_t j = i; j-- > 0;) {
			cleanup_free char *u = (l->v[j].target && *l->v[j].target)
						       ? path_join(target, l->v[j].target)
						       : xstrdup(target);
			umount2(u, MNT_DETACH);
		}
		return err && *err ? -(*err)->code : -EINVAL;
	}
	return 0;
}

int wh_unmount_all(const char *target, int flags, struct wh_err **err)
{
	for (int i = 0; i < 1000; i++) {
		if (umount2(target, flags | UMOUNT_NOFOLLOW) < 0) {
			if (errno == EINVAL || errno == ENOENT)
				return 0;
			return wh_err_set(err, errno, "unmount '%s'", target);
		}
	}
	return wh_err_setx(err, EBUSY, "unmount '%s': still mounted after 1000 unmounts", target);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container's filesystem view, built by the init in its new mount namespace: propagation,
 * the spec's mounts (resolved inside the rootfs, symlinks scoped to it), cgroup mounts, device
 * nodes and /dev symlinks, pivot_root (or MS_MOVE + chroot), masked and read-only paths, sysctl,
 * hostname and a read-only root.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "common/common.h"
#include "oci/internal.h"

/* Opens path (absolute, inside the rootfs) as O_PATH, creating missing directories on the way
 * and, when the leaf is missing, a directory (dir) or an empty file. Symlinks resolve inside the
 * rootfs. */
static int open_create_in_root(int rootfd, const char *path, bool dir, int *ret)
{
	cleanup_free char *p = xstrdup(path);
	cleanup_close int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -errno;
	char *save = NULL;
	struct strbuf prefix = STRBUF_INIT;
	char *c = strtok_r(p, "/", &save);
	int r = 0;
	while (c) {
		char *next_c = strtok_r(NULL, "/", &save);
		bool leaf = !next_c;
		if (prefix.len)
			strbuf_addc(&prefix, '/');
		strbuf_adds(&prefix, c);
		int fd = fs_open_in_root(rootfd, prefix.buf, O_PATH, 0);
		if (fd < 0 && fd == -ENOENT) {
			if (!leaf || dir) {
				if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
					r = -errno;
					break;
				}
			} else {
				int f = openat(cur, c, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
					       0644);
				if (f < 0 && errno != EEXIST) {
					r = -errno;
					break;
				}
				wh_close(f);
			}
			fd = fs_open_in_root(rootfd, prefix.buf, O_PATH, 0);
		}
		if (fd < 0) {
			r = fd;
			break;
		}
		wh_close(cur);
		cur = fd;
		c = next_c;
	}
	strbuf_release(&prefix);
	if (r < 0)
		return r;
	*ret = TAKE_FD(cur);
	return 0;
}

static char *fd_path(int fd)
{
	return xasprintf("/proc/self/fd/%d", fd);
}

static int reopen(int rootfd, const char *path, int *fd)
{
	int n = fs_open_in_root(rootfd, path, O_PATH, 0);
	if (n < 0)
		return n;
	wh_close(*fd);
	*fd = n;
	return 0;
}

/* Remount a bind mount with flags, keeping the flags the kernel locks (nodev... in a userns). */
static int remount_bind(const char *target, unsigned long flags)
{
	unsigned long f = MS_REMOUNT | MS_BIND | (flags & ~(MS_REC | MS_BIND | MS_REMOUNT));
	if (mount(NULL, target, NULL, f, NULL) == 0)
		return 0;
	if (errno != EPERM)
		return -errno;
	struct statvfs sv;
	if (statvfs(target, &sv) < 0)
		return -errno;
	unsigned long locked = 0;
	if (sv.f_flag & ST_NOSUID)
		locked |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		locked |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		locked |= MS_NOEXEC;
	if (sv.f_flag & ST_RDONLY)
		locked |= MS_RDONLY;
	if (mount(NULL, target, NULL, f | locked, NULL) < 0)
		return -errno;
	return 0;
}

/* Parses /proc/self/mountinfo for cgroup v1 hierarchies: mount point and super options. */
static int mount_cgroup_v1(int rootfd, const struct oci_mount *m, const char *own_cgroups,
			   bool cgroupns, struct wh_err **err)
{
	cleanup_free char *mi = NULL;
	int r = read_file("/proc/self/mountinfo", 4 << 20, &mi, NULL);
	if (r < 0)
		return wh_err_set(err, r, "read mountinfo");
	char *save = NULL;
	for (char *line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent maj:min root mountpoint opts ... - fstype source superopts */
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		char fstype[32], superopts[512];
		if (sscanf(sep + 3, "%31s %*s %511s", fstype, superopts) != 2)
			continue;
		if (!streq(fstype, "cgroup"))
			continue;
		char mp[PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		if (!str_startswith(mp, "/sys/fs/cgroup/"))
			continue;
		const char *name = mp + strlen("/sys/fs/cgroup/");
		/* the controllers of this hierarchy, as in /proc/self/cgroup */
		cleanup_strbuf struct strbuf ctrls = STRBUF_INIT;
		char *s2 = NULL;
		for (char *o = strtok_r(superopts, ",", &s2); o; o = strtok_r(NULL, ",", &s2)) {
			if (streq(o, "rw") || streq(o, "ro") ||
			    str_startswith(o, "release_agent") || streq(o, "clone_children") ||
			    streq(o, "noprefix") || streq(o, "xattr"))
				continue;
			if (ctrls.len)
				strbuf_addc(&ctrls, ',');
			strbuf_adds(&ctrls, o);
		}
		cleanup_free char *dest = xasprintf("%s/%s", m->destination, name);
		cleanup_close int fd = -EBADF;
		r = open_create_in_root(rootfd, dest, true, &fd);
		if (r < 0)
			return wh_err_set(err, r, "mounts: create '%s'", dest);
		cleanup_free char *target = fd_path(fd);
		unsigned long fl = m->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
		if (cgroupns) {
			if (mount("cgroup", target, "cgroup", fl, ctrls.buf) < 0)
				return wh_err_set(err, errno, "mounts: cgroup '%s' on '%s'",
						  ctrls.buf, dest);
			continue;
		}
		/* bind the container's own cgroup of this hierarchy */
		const char *sub = "/";
		char *own = strstr(own_cgroups, ctrls.buf);
		cleanup_free char *subp = NULL;
		for (char *l = own; l; l = strstr(l + 1, ctrls.buf)) {
			if (l[-1] == ':' && l[strlen(ctrls.buf)] == ':') {
				char *nl = strchr(l, '\n');
				const char *st = l + strlen(ctrls.buf) + 1;
				subp = nl ? xstrndup(st, (size_t)(nl - st)) : xstrdup(st);
				sub = subp;
				break;
			}
		}
		cleanup_free char *src = path_join(mp, sub);
		if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			return wh_err_set(err, errno, "mounts: bind '%s' on '%s'", src, dest);
		if (fl) {
			r = reopen(rootfd, dest, &fd);
			free(target);
			target = fd_path(fd);
			if (r == 0)
				r = remount_bind(target, fl);
			if (r < 0)
				return wh_err_set(err, r, "mounts: remount '%s'", dest);
		}
	}
	return 0;
}

static int do_mount(int rootfd, const struct oci_mount *m, bool userns, bool cgroupns,
		    const char *own_cgroups, struct wh_err **err)
{
	struct stat st;
	bool dir = true;
	int r;
	if (m->bind) {
		if (stat(m->source, &st) < 0)
			return wh_err_set(err, errno, "mounts: bind source '%s'", m->source);
		dir = S_ISDIR(st.st_mode);
	}
	cleanup_close int fd = -EBADF;
	r = open_create_in_root(rootfd, m->destination, dir, &fd);
	if (r < 0)
		return wh_err_set(err, r, "mounts: create mount point '%s'", m->destination);
	cleanup_free char *target = fd_path(fd);
	unsigned long fl = m->flags & ~(MS_REC | MS_REMOUNT);

	if (m->bind) {
		if (mount(m->source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
			return wh_err_set(err, errno, "mounts: bind '%s' on '%s'", m->source,
					  m->destination);
		if (fl) {
			r = reopen(rootfd, m->destination, &fd);
			free(target);
			target = fd_path(fd);
			if (r == 0)
				r = remount_bind(target, fl);
			if (r < 0)
				return wh_err_set(err, r, "mounts: remount '%s'", m->destination);
		}
	} else if (streq(m->type, "cgroup") || streq(m->type, "cgroup2")) {
		struct statfs_probe {
			int dummy;
		};
		bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
		if (v2 || streq(m->type, "cgroup2")) {
			if (mount("cgroup2", target, "cgroup2", fl, m->data) < 0) {
				if (cgroupns || errno != EPERM)
					return wh_err_set(err, errno, "mounts: cgroup2 on '%s'",
							  m->destination);
				if (mount("/sys/fs/cgroup", target, NULL, MS_BIND | MS_REC, NULL) <
				    0)
					return wh_err_set(err, errno,
							  "mounts: bind cgroup2 on '%s'",
							  m->destination);
			}
		} else {
			if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
				  "mode=755") < 0)
				return wh_err_set(err, errno, "mounts: tmpfs for cgroups on '%s'",
						  m->destination);
			r = mount_cgroup_v1(rootfd, m, own_cgroups, cgroupns, err);
			if (r < 0)
				return r;
			if (fl & MS_RDONLY) {
				r = reopen(rootfd, m->destination, &fd);
				free(target);
				target = fd_path(fd);
				if (r == 0 && mount(NULL, target, NULL,
						    MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
							    MS_NODEV | MS_NOEXEC,
						    NULL) < 0)
					r = -errno;
				if (r < 0)
					return wh_err_set(err, r, "mounts: read-only '%s'",
							  m->destination);
			}
		}
	} else {
		if (mount(m->source, target, m->type, fl, m->data) < 0) {
			r = -errno;
			/* sysfs needs a network namespace of our own in a user namespace: bind */
			if (streq(m->type, "sysfs") && userns && (r == -EPERM || r == -EACCES)) {
				if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) < 0)
					return wh_err_set(err, errno, "mounts: bind /sys on '%s'",
							  m->destination);
			} else if (streq(m->type, "mqueue") && userns && r == -EPERM) {
				if (mount("/dev/mqueue", target, NULL, MS_BIND | MS_REC, NULL) < 0)
					return wh_err_set(err, errno,
							  "mounts: bind /dev/mqueue on '%s'",
							  m->destination);
			} else {
				return wh_err_set(err, r, "mounts: %s '%s' on '%s'%s%s", m->type,
						  m->source, m->destination,
						  m->data ? " with " : "", m->data ? m->data : "");
			}
		}
	}
	if (m->rec.set || m->rec.clr) {
		/* rro and friends: this mount and every one below it (Linux 5.12) */
		struct mount_attr a = {.attr_set = m->rec.set, .attr_clr = m->rec.clr};

		r = reopen(rootfd, m->destination, &fd);
		if (r == 0 &&
		    mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
			r = -errno;
		if (r < 0)
			return wh_err_set(err, r, "mounts: recursive options of '%s'",
					  m->destination);
	}
	if (m->propagation) {
		r = reopen(rootfd, m->destination, &fd);
		free(target);
		target = fd_path(fd);
		if (r == 0 && mount(NULL, target, NULL, m->propagation, NULL) < 0)
			r = -errno;
		if (r < 0)
			return wh_err_set(err, r, "mounts: propagation of '%s'", m->destination);
	}
	return 0;
}

static const struct oci_device default_devices[] = {
	{(char *)"/dev/null", 'c', 1, 3, 0666, 0, 0},
	{(char *)"/dev/zero", 'c', 1, 5, 0666, 0, 0},
	{(char *)"/dev/full", 'c', 1, 7, 0666, 0, 0},
	{(char *)"/dev/random", 'c', 1, 8, 0666, 0, 0},
	{(char *)"/dev/urandom", 'c', 1, 9, 0666, 0, 0},
	{(char *)"/dev/tty", 'c', 5, 0, 0666, 0, 0},
};

static int make_device(int rootfd, const struct oci_device *d, bool userns, struct wh_err **err)
{
	cleanup_free char *dir = xstrdup(d->path);
	char *slash = strrchr(dir, '/');
	const char *base = slash + 1;
	*slash = 0;
	cleanup_close int dfd = -EBADF;
	int r = open_create_in_root(rootfd, *dir ? dir : "/", true, &dfd);
	if (r < 0)
		return wh_err_set(err, r, "linux.devices: create '%s'", dir);
	/* an O_PATH fd is no good for *at() creation: reopen the directory */
	cleanup_free char *dp = fd_path(dfd);
	cleanup_close int dirfd = open(dp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return wh_err_set(err, errno, "linux.devices: open '%s'", dir);
	unlinkat(dirfd, base, 0);
	if (userns) {
		/* no mknod in a user namespace: bind the host's node */
		int f = openat(dirfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (f < 0)
			return wh_err_set(err, errno, "linux.devices: create '%s'", d->path);
		wh_close(f);
		cleanup_free char *target = xasprintf("%s/%s", dp, base);
		if (mount(d->path, target, NULL, MS_BIND, NULL) < 0)
			return wh_err_set(err, errno, "linux.devices: bind '%s'", d->path);
		return 0;
	}
	mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
	if (mknodat(dirfd, base, type | (d->mode & 07777), makedev(d->major, d->minor)) < 0)
		return wh_err_set(err, errno, "linux.devices: mknod '%s'", d->path);
	if (fchmodat(dirfd, base, d->mode & 07777, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOTSUP)
		return wh_err_set(err, errno, "linux.devices: chmod '%s'", d->path);
	if (fchownat(dirfd, base, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return wh_err_set(err, errno, "linux.devices: chown '%s'", d->path);
	return 0;
}

static int make_devices(const struct oci_spec *s, int rootfd, bool userns, struct wh_err **err)
{
	int r;
	for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
		bool overridden = false;
		for (size_t j = 0; j < s->n_devices; j++)
			overridden |= streq(s->devices[j].path, default_devices[i].path);
		if (overridden)
			continue;
		r = make_device(rootfd, &default_devices[i], userns, err);
		if (r < 0)
			return r;
	}
	for (size_t j = 0; j < s->n_devices; j++) {
		r = make_device(rootfd, &s->devices[j], userns, err);
		if (r < 0)
			return r;
	}
	/* runc's /dev symlinks */
	static const char *const links[][2] = {
		{"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"},
	};
	cleanup_close int dfd = -EBADF;
	r = open_create_in_root(rootfd, "/dev", true, &dfd);
	if (r < 0)
		return wh_err_set(err, r, "create /dev");
	cleanup_free char *dp = fd_path(dfd);
	cleanup_close int dev = open(dp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dev < 0)
		return wh_err_set(err, errno, "open /dev");
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		if (streq(links[i][1], "ptmx"))
			unlinkat(dev, "ptmx", 0);
		if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST)
			return wh_err_set(err, errno, "symlink /dev/%s", links[i][1]);
	}
	if (access("/proc/kcore", F_OK) == 0 && symlinkat("/proc/kcore", dev, "core") < 0 &&
	    errno != EEXIST)
		return wh_err_set(err, errno, "symlink /dev/core");
	return 0;
}

int oci_rootfs_prepare(const struct oci_spec *s, bool userns, const char *cgroup_path,
		       struct wh_err **err)
{
	int r;
	unsigned long prop = MS_SLAVE | MS_REC;
	if (s->rootfs_propagation & (MS_PRIVATE))
		prop = MS_PRIVATE | MS_REC;
	if (mount(NULL, "/", NULL, prop, NULL) < 0)
		return wh_err_set(err, errno, "make / %s",
				  prop & MS_PRIVATE ? "rprivate" : "rslave");
	if (mount(s->root_path, s->root_path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return wh_err_set(err, errno, "root.path: bind '%s'", s->root_path);
	cleanup_close int rootfd = open(s->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return wh_err_set(err, errno, "root.path: open '%s'", s->root_path);

	bool cgroupns = oci_spec_ns(s, CLONE_NEWCGROUP) != NULL;
	cleanup_free char *own_cgroups = NULL;
	read_file("/proc/self/cgroup", 1 << 20, &own_cgroups, NULL);
	bool dev_bound = false;
	for (size_t i = 0; i < s->n_mounts; i++) {
		const struct oci_mount *m = &s->mounts[i];
		if (streq(m->destination, "/dev") && m->bind)
			dev_bound = true;
		r = do_mount(rootfd, m, userns, cgroupns, own_cgroups ? own_cgroups : "", err);
		if (r < 0)
			return r;
	}
	(void)cgroup_path;
	if (!dev_bound) {
		r = make_devices(s, rootfd, userns, err);
		if (r < 0)
			return r;
	}
	/* the process's cwd exists, as runc makes it */
	if (s->has_process) {
		cleanup_close int cfd = -EBADF;
		r = open_create_in_root(rootfd, s->process.cwd, true, &cfd);
		if (r < 0)
			return wh_err_set(err, r, "process.cwd: create '%s'", s->process.cwd);
	}
	return 0;
}

static int mask_path(const char *p, struct wh_err **err)
{
	struct stat st;
	if (lstat(p, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return wh_err_set(err, errno, "linux.maskedPaths: '%s'", p);
	}
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0") < 0)
			return wh_err_set(err, errno, "linux.maskedPaths: mask '%s'", p);
	} else if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) {
		return wh_err_set(err, errno, "linux.maskedPaths: mask '%s'", p);
	}
	return 0;
}

static int readonly_path(const char *p, struct wh_err **err)
{
	if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return 0;
		return wh_err_set(err, errno, "linux.readonlyPaths: bind '%s'", p);
	}
	int r = remount_bind(p, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
	if (r < 0)
		return wh_err_set(err, r, "linux.readonlyPaths: remount '%s'", p);
	return 0;
}

static int write_sysctl(const char *key, const char *value, struct wh_err **err)
{
	cleanup_free char *p = xasprintf("/proc/sys/%s", key);
	for (char *c = p + strlen("/proc/sys/"); *c; c++)
		if (*c == '.')
			*c = '/';
	cleanup_close int fd = open(p, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return wh_err_set(err, errno, "linux.sysctl: open '%s'", key);
	if (write_all(fd, value, strlen(value)) < 0)
		return wh_err_set(err, errno, "linux.sysctl: write '%s' = '%s'", key, value);
	return 0;
}

int oci_rootfs_finish(const struct oci_spec *s, bool no_pivot, struct wh_err **err)
{
	int r;
	if (no_pivot) {
		if (chdir(s->root_path) < 0)
			return wh_err_set(err, errno, "chdir '%s'", s->root_path);
		if (mount(s->root_path, "/", NULL, MS_MOVE, NULL) < 0)
			return wh_err_set(err, errno, "move '%s' to /", s->root_path);
		if (chroot(".") < 0)
			return wh_err_set(err, errno, "chroot '%s'", s->root_path);
	} else {
		cleanup_close int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		cleanup_close int newroot = open(s->root_path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		if (oldroot < 0 || newroot < 0)
			return wh_err_set(err, errno, "open roots for pivot_root");
		if (fchdir(newroot) < 0)
			return wh_err_set(err, errno, "chdir '%s'", s->root_path);
		if (syscall(SYS_pivot_root, ".", ".") < 0)
			return wh_err_set(err, errno, "pivot_root '%s'", s->root_path);
		if (fchdir(oldroot) < 0)
			return wh_err_set(err, errno, "chdir old root");
		if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
			return wh_err_set(err, errno, "make old root rslave");
		if (umount2(".", MNT_DETACH) < 0)
			return wh_err_set(err, errno, "unmount old root");
	}
	if (chdir("/") < 0)
		return wh_err_set(err, errno, "chdir /");
	if (s->rootfs_propagation && mount(NULL, "/", NULL, s->rootfs_propagation, NULL) < 0)
		return wh_err_set(err, errno, "linux.rootfsPropagation: apply to /");

	for (char **kv = s->sysctl; kv && kv[0] && kv[1]; kv += 2) {
		r = write_sysctl(kv[0], kv[1], err);
		if (r < 0)
			return r;
	}
	strv_foreach(p, s->readonly_paths) {
		r = readonly_path(*p, err);
		if (r < 0)
			return r;
	}
	strv_foreach(p, s->masked_paths) {
		r = mask_path(*p, err);
		if (r < 0)
			return r;
	}
	if (s->hostname && *s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
		return wh_err_set(err, errno, "hostname: set '%s'", s->hostname);
	if (s->domainname && *s->domainname &&
	    setdomainname(s->domainname, strlen(s->domainname)) < 0)
		return wh_err_set(err, errno, "domainname: set '%s'", s->domainname);
	if (s->root_readonly) {
		r = remount_bind("/", MS_RDONLY);
		if (r < 0)
			return wh_err_set(err, r, "root.readonly: remount / read-only");
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Named network namespaces (bind mounts under a shared directory, as `ip netns` makes them),
 * loopback bring-up and interface counters read from inside a namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/common.h"
#include "network/network.h"

static bool id_ok(const char *id)
{
	if (!id || !*id || strlen(id) > 200 || streq(id, ".") || streq(id, ".."))
		return false;
	return !strchr(id, '/');
}

/* Makes dir a shared mount point: first try, else bind it onto itself and retry. */
static int make_shared(const char *dir, struct wh_err **err)
{
	if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return wh_err_set(err, errno, "make '%s' shared", dir);
	if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0)
		return wh_err_set(err, errno, "bind '%s' onto itself", dir);
	if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) < 0)
		return wh_err_set(err, errno, "make '%s' shared", dir);
	return 0;
}

static int wait_child(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st))
		return WEXITSTATUS(st) == 0 ? 0 : -WEXITSTATUS(st);
	return -ECHILD;
}

int net_ns_create(const char *dir, const char *id, char **ret_path, struct wh_err **err)
{
	if (!id_ok(id))
		return wh_err_setx(err, EINVAL, "invalid network namespace id '%s'", id ? id : "");
	int r = mkdir_p(dir, 0755);
	if (r < 0)
		return wh_err_set(err, r, "create '%s'", dir);
	r = make_shared(dir, err);
	if (r < 0)
		return r;
	cleanup_free char *path = path_join(dir, id);
	int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return wh_err_set(err, errno, "create '%s'", path);
	wh_close(fd);

	/* The child only makes syscalls, so this is safe in a threaded process. */
	pid_t pid = fork();
	if (pid < 0) {
		r = wh_err_set(err, errno, "fork");
		unlink(path);
		return r;
	}
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(errno);
		if (mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0)
			_exit(errno);
		_exit(0);
	}
	r = wait_child(pid);
	if (r < 0) {
		unlink(path);
		return wh_err_set(err, r, "bind a new network namespace on '%s'", path);
	}
	if (ret_path)
		*ret_path = TAKE_PTR(path);
	return 0;
}

int net_ns_remove(const char *dir, const char *id, struct wh_err **err)
{
	if (!id_ok(id))
		return wh_err_setx(err, EINVAL, "invalid network namespace id '%s'", id ? id : "");
	cleanup_free char *path = path_join(dir, id);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return wh_err_set(err, errno, "unmount '%s'", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return wh_err_set(err, errno, "remove '%s'", path);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int net_ns_list(const char *dir, char ***ret_ids, struct wh_err **err)
{
	cleanup_strv char **ids = xnew0(char *, 1);
	cleanup_closedir DIR *d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			return wh_err_set(err, errno, "open '%s'", dir);
	} else {
		struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				strv_push(&ids, de->d_name);
	}
	qsort(ids, strv_length(ids), sizeof(char *), cmp_str);
	*ret_ids = TAKE_PTR(ids);
	return 0;
}

/* Runs fn(arg, out_fd) in a forked child that joined the namespace at netns_path; what the child
 * writes to out_fd is returned in *ret. The child makes only syscalls. */
typedef int (*ns_fn)(void *arg, int out_fd);

static int in_netns(const char *netns_path, ns_fn fn, void *arg, char **ret, size_t *ret_len,
		    struct wh_err **err)
{
	cleanup_close int nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return wh_err_set(err, errno, "open network namespace '%s'", netns_path);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return wh_err_set(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		wh_close(p[0]);
		wh_close(p[1]);
		return wh_err_set(err, e, "fork");
	}
	if (pid == 0) {
		close(p[0]);
		if (setns(nsfd, CLONE_NEWNET) < 0)
			_exit(errno);
		int r = fn(arg, p[1]);
		_exit(r < 0 ? -r : 0);
	}
	wh_close(p[1]);
	char *buf = NULL;
	size_t len = 0;
	int rr = read_fd(p[0], 1 << 20, &buf, &len);
	wh_close(p[0]);
	int r = wait_child(pid);
	if (r < 0) {
		free(buf);
		return wh_err_set(err, r, "in network namespace '%s'", netns_path);
	}
	if (rr < 0) {
		free(buf);
		return wh_err_set(err, rr, "read from child");
	}
	if (ret) {
		*ret = buf;
		if (ret_len)
			*ret_len = len;
	} else {
		free(buf);
	}
	return 0;
}

static int lo_up_fn(void *arg, int out_fd)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct ifreq ifr = {0};
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

int net_ns_loopback_up(const char *netns_path, struct wh_err **err)
{
	int r = in_netns(netns_path, lo_up_fn, NULL, NULL, NULL, err);
	if (r < 0)
		return wh_err_wrap(err, r, "set 'lo' up");
	return 0;
}

static int read_dev_fn(void *arg, int out_fd)
{
	/* /proc/self/net follows the calling thread's network namespace. */
	int fd = open("/proc/self/net/dev", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (write_all(out_fd, buf, (size_t)n) < 0)
			return -EIO;
	}
}

int net_dev_parse(const char *text, struct net_if_stats **ret, size_t *ret_n, struct wh_err **err)
{
	struct net_if_stats *v = NULL;
	size_t n = 0, cap = 0;
	const char *line = text;
	int lineno = 0;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		lineno++;
		cleanup_free char *l = xstrndup(line, ll);
		line = nl ? nl + 1 : NULL;
		if (lineno <= 2)
			continue; /* two header lines */
		char *colon = strchr(l, ':');
		if (!colon) {
			free(v);
			return wh_err_setx(err, EBADMSG, "net/dev line %d: no ':'", lineno);
		}
		*colon = '\0';
		char *name = l;
		while (*name == ' ')
			name++;
		if (!*name || strlen(name) >= sizeof(v->name)) {
			free(v);
			return wh_err_setx(err, EBADMSG, "net/dev line %d: bad interface name",
					   lineno);
		}
		unsigned long long f[16];
		int k = sscanf(colon + 1,
			       "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
			       "%llu %llu %llu",
			       &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9],
			       &f[10], &f[11], &f[12], &f[13], &f[14], &f[15]);
		if (k != 16) {
			free(v);
			return wh_err_setx(err, EBADMSG, "net/dev line %d: expected 16 counters",
					   lineno);
		}
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		struct net_if_stats *s = &v[n++];
		memset(s, 0, sizeof(*s));
		memcpy(s->name, name, strlen(name) + 1);
		s->rx_bytes = f[0];
		s->rx_packets = f[1];
		s->rx_errors = f[2];
		s->rx_dropped = f[3];
		s->tx_bytes = f[8];
		s->tx_packets = f[9];
		s->tx_errors = f[10];
		s->tx_dropped = f[11];
	}
	if (lineno < 2) {
		free(v);
		return wh_err_setx(err, EBADMSG, "net/dev: missing header");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int net_ns_if_stats(const char *netns_path, struct net_if_stats **ret, size_t *ret_n,
		    struct wh_err **err)
{
	cleanup_free char *text = NULL;
	int r = in_netns(netns_path, read_dev_fn, NULL, &text, NULL, err);
	if (r < 0)
		return wh_err_wrap(err, r, "read interface counters");
	return net_dev_parse(text, ret, ret_n, err);
}

int net_pid_if_stats(int pid, struct net_if_stats **ret, size_t *ret_n, struct wh_err **err)
{
	if (pid <= 0)
		return wh_err_setx(err, EINVAL, "invalid pid %d", pid);
	cleanup_free char *path = xasprintf("/proc/%d/net/dev", pid);
	cleanup_free char *text = NULL;
	int r = read_file(path, 1 << 20, &text, NULL);
	if (r < 0)
		return wh_err_set(err, r, "read '%s'", path);
	r = net_dev_parse(text, ret, ret_n, err);
	if (r < 0)
		return wh_err_wrap(err, r, "'%s'", path);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exec runtime driver: runs a runc-compatible binary (runc, crun, runsc, wharf-oci) with the
 * command lines of PROTOCOLS.md 4.1, waits for it synchronously (only its own pid, so container
 * exits stay with the reaper) and reports the last "error" line of its --log JSON on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include "shim/internal.h"

#define MAX_ARGS 24

struct argv {
	char *v[MAX_ARGS + 1];
	size_t n;
	char *owned[4];
	size_t n_owned;
};

static void argv_add(struct argv *a, const char *s)
{
	wh_assert(a->n < MAX_ARGS);
	a->v[a->n++] = (char *)s;
}

static const char *argv_own(struct argv *a, char *s)
{
	wh_assert(a->n_owned < ARRAY_SIZE(a->owned));
	a->owned[a->n_owned++] = s;
	return s;
}

static void argv_release(struct argv *a)
{
	for (size_t i = 0; i < a->n_owned; i++)
		free(a->owned[i]);
}

static void argv_prefix(struct argv *a, struct runtime *rt, struct container *c)
{
	argv_add(a, rt->binary);
	argv_add(a, "--root");
	argv_add(a, rt->state_root);
	argv_add(a, "--log");
	argv_add(a, argv_own(a, path_join(c->bundle, "log.json")));
	argv_add(a, "--log-format");
	argv_add(a, "json");
	if (rt->opts.systemd_cgroup)
		argv_add(a, "--systemd-cgroup");
	if (rt->opts.criu_path && *rt->opts.criu_path) {
		argv_add(a, "--criu");
		argv_add(a, rt->opts.criu_path);
	}
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : 0;
}

/*
 * Runs the runtime; a non-zero exit becomes "<what> failed: <last log error>" (errno from hint:
 * ENOENT when the log says the container does not exist).
 */
static int run(struct runtime *rt, struct container *c, struct argv *a, const int fds[3],
	       const char *what, struct wh_err **err)
{
	cleanup_free char *log = path_join(c->bundle, "log.json");
	off_t before = file_size(log);
	int st;
	uint64_t t0 = now_mono_ns();
	int r = reaper_run(a->v, fds, &st);
	log_debug("%s: %s %s took %lluus", c->id, rt->binary, what,
		  (unsigned long long)((now_mono_ns() - t0) / 1000));
	if (r < 0)
		return wh_err_set(err, r, "%s: run '%s'", what, rt->binary);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	cleanup_free char *msg = runtime_log_last_error(log, before);
	int code = SHIM_EUNKNOWN;
	if (msg && (strstr(msg, "does not exist") || strstr(msg, "not found") ||
		    strstr(msg, "No such file")))
		code = ENOENT;
	if (msg)
		return wh_err_setx(err, code, "OCI runtime %s failed: %s", what, msg);
	return wh_err_setx(err, code, "OCI runtime %s failed: '%s' exited with status %d", what,
			   rt->binary, wait_status_to_exit(st));
}

static int read_pid_file(const char *path, pid_t *ret, struct wh_err **err)
{
	cleanup_free char *text = NULL;
	int r = read_file(path, 64, &text, NULL);
	if (r < 0)
		return wh_err_set(err, r, "read pid file '%s'", path);
	int pid;
	text[strcspn(text, "\n")] = 0;
	if (parse_int(text, &pid) < 0 || pid <= 0)
		return wh_err_setx(err, EBADMSG, "pid file '%s': not a pid: '%s'", path, text);
	*ret = pid;
	return 0;
}

static int ex_create(struct runtime *rt, struct container *c, struct stdio_child *io,
		     pid_t *ret_pid, struct wh_err **err)
{
	struct argv a = {0};
	argv_prefix(&a, rt, c);
	cleanup_free char *pidfile = path_join(c->bundle, "init.pid");
	unlink(pidfile);
	argv_add(&a, "create");
	argv_add(&a, "--bundle");
	argv_add(&a, c->bundle);
	argv_add(&a, "--pid-file");
	argv_add(&a, pidfile);
	if (io->console_socket) {
		argv_add(&a, "--console-socket");
		argv_add(&a, io->console_socket);
	}
	if (rt->opts.no_pivot_root)
		argv_add(&a, "--no-pivot");
	if (rt->opts.no_new_keyring)
		argv_add(&a, "--no-new-keyring");
	argv_add(&a, c->id);
	int fds[3] = {io->in, io->out, io->err};
	int r = run(rt, c, &a, fds, "create", err);
	argv_release(&a);
	if (r < 0)
		return r;
	return read_pid_file(pidfile, ret_pid, err);
}

static int simple(struct runtime *rt, struct container *c, const char *verb, const char *flag,
		  const char *extra, struct wh_err **err)
{
	struct argv a = {0};
	argv_prefix(&a, rt, c);
	argv_add(&a, verb);
	if (flag)
		argv_add(&a, flag);
	argv_add(&a, c->id);
	if (extra)
		argv_add(&a, extra);
	int r = run(rt, c, &a, NULL, verb, err);
	argv_release(&a);
	return r;
}

static int ex_start(struct runtime *rt, struct container *c, struct wh_err **err)
{
	return simple(rt, c, "start", NULL, NULL, err);
}

static int ex_exec(struct runtime *rt, struct container *c, struct proc *p, struct stdio_child *io,
		   pid_t *ret_pid, struct wh_err **err)
{
	cleanup_free char *spec = xasprintf("%s/.exec-%s.json", c->bundle, p->exec_id);
	int r = write_file_atomic(spec, p->spec, p->spec_len, 0600);
	if (r < 0)
		return wh_err_set(err, r, "write '%s'", spec);
	cleanup_free char *pidfile = xasprintf("%s/%s.pid", c->bundle, p->exec_id);
	unlink(pidfile);
	struct argv a = {0};
	argv_prefix(&a, rt, c);
	argv_add(&a, "exec");
	argv_add(&a, "--process");
	argv_add(&a, spec);
	argv_add(&a, "--detach");
	argv_add(&a, "--pid-file");
	argv_add(&a, pidfile);
	if (io->console_socket) {
		argv_add(&a, "--console-socket");
		argv_add(&a, io->console_socket);
	}
	argv_add(&a, c->id);
	int fds[3] = {io->in, io->out, io->err};
	r = run(rt, c, &a, fds, "exec", err);
	argv_release(&a);
	unlink(spec);
	if (r < 0)
		return r;
	return read_pid_file(pidfile, ret_pid, err);
}

static int ex_kill(struct runtime *rt, struct container *c, int sig, bool all, struct wh_err **err)
{
	char num[16];
	snprintf(num, sizeof(num), "%d", sig);
	return simple(rt, c, "kill", all ? "--all" : NULL, num, err);
}

static int ex_delete(struct runtime *rt, struct container *c, bool force, struct wh_err **err)
{
	return simple(rt, c, "delete", force ? "--force" : NULL, NULL, err);
}

static int ex_pause(struct runtime *rt, struct container *c, struct wh_err **err)
{
	return simple(rt, c, "pause", NULL, NULL, err);
}

static int ex_resume(struct runtime *rt, struct container *c, struct wh_err **err)
{
	return simple(rt, c, "resume", NULL, NULL, err);
}

static int parse_pids(const char *text, size_t len, pid_t **ret, size_t *ret_n, struct wh_err **err)
{
	yajl_val v = NULL;
	int r = json_parse(text, len, &v, err);
	if (r < 0)
		return wh_err_wrap(err, r, "ps output");
	if (!YAJL_IS_ARRAY(v) && !YAJL_IS_NULL(v)) {
		yajl_tree_free(v);
		return wh_err_setx(err, EBADMSG, "ps output: expected an array");
	}
	size_t n = YAJL_IS_ARRAY(v) ? v->u.array.len : 0;
	pid_t *pids = xnew0(pid_t, n + 1);
	for (size_t i = 0; i < n; i++) {
		int64_t x;
		if (json_int64(v->u.array.values[i], "ps[]", &x, err) < 0) {
			free(pids);
			yajl_tree_free(v);
			return -EBADMSG;
		}
		pids[i] = (pid_t)x;
	}
	yajl_tree_free(v);
	*ret = pids;
	*ret_n = n;
	return 0;
}

static int ex_ps(struct runtime *rt, struct container *c, pid_t **ret, size_t *ret_n,
		 struct wh_err **err)
{
	cleanup_close int out = memfd_create("runtime-ps", MFD_CLOEXEC);
	if (out < 0)
		return wh_err_set(err, errno, "memfd");
	struct argv a = {0};
	argv_prefix(&a, rt, c);
	argv_add(&a, "ps");
	argv_add(&a, "--format");
	argv_add(&a, "json");
	argv_add(&a, c->id);
	int fds[3] = {-1, out, -1};
	int r = run(rt, c, &a, fds, "ps", err);
	argv_release(&a);
	if (r < 0)
		return r;
	cleanup_free char *text = NULL;
	size_t len;
	lseek(out, 0, SEEK_SET);
	if ((r = read_fd(out, 16 << 20, &text, &len)) < 0)
		return wh_err_set(err, r, "read ps output");
	return parse_pids(text, len, ret, ret_n, err);
}

static int ex_update(struct runtime *rt, struct container *c, const char *json, size_t len,
		     struct wh_err **err)
{
	cleanup_close int in = memfd_create("runtime-update", MFD_CLOEXEC);
	if (in < 0)
		return wh_err_set(err, errno, "memfd");
	int r = write_all(in, json, len);
	if (r < 0)
		return wh_err_set(err, r, "write resources");
	lseek(in, 0, SEEK_SET);
	struct argv a = {0};
	argv_prefix(&a, rt, c);
	argv_add(&a, "update");
	argv_add(&a, "--resources");
	argv_add(&a, "-");
	argv_add(&a, c->id);
	int fds[3] = {in, -1, -1};
	r = run(rt, c, &a, fds, "update", err);
	argv_release(&a);
	return r;
}

const struct runtime_ops runtime_exec_ops = {
	.name = "exec",
	.create = ex_create,
	.start = ex_start,
	.exec = ex_exec,
	.kill = ex_kill,
	.delete = ex_delete,
	.pause = ex_pause,
	.resume = ex_resume,
	.ps = ex_ps,
	.update = ex_update,
};

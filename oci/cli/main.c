/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharf-oci: the runc-compatible command line over liboci. It parses runc's global and command
 * flags, calls the library, prints runc's output formats and maps errors to runc's exit codes
 * (1 for a failure; run and exec return the container process's status).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "common/common.h"
#include "oci/cgroup.h"
#include "oci/internal.h"
#include "oci/oci.h"

#define VERSION "0.1.0"

static const char *arg_root = OCI_DEFAULT_ROOT;
static const char *arg_log;
static bool arg_debug;

/* ---- option parsing: runc (urfave/cli) style, flags stop at the first non-flag ---- */

struct opt {
	const char *name; /* long name */
	char short_name;  /* or 0 */
	bool has_arg;
	const char **value; /* set for has_arg (last wins) */
	bool *flag;	    /* set for !has_arg */
	char ***multi;	    /* appended for repeatable has_arg */
};

__attribute__((format(printf, 2, 3))) static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "wharf-oci%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

/* Parses flags from argv[*i]; leaves *i at the first positional argument. */
static int parse_opts(const char *cmd, int argc, char **argv, int *i, const struct opt *opts)
{
	while (*i < argc) {
		char *a = argv[*i];
		if (streq(a, "--")) {
			(*i)++;
			return 0;
		}
		if (a[0] != '-' || !a[1])
			return 0;
		const char *name = a + 1 + (a[1] == '-');
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const struct opt *o = NULL;
		for (const struct opt *p = opts; p && p->name; p++) {
			bool long_match =
				strlen(p->name) == nlen && strncmp(p->name, name, nlen) == 0;
			bool short_match = p->short_name && nlen == 1 && name[0] == p->short_name;
			if (long_match || short_match) {
				o = p;
				break;
			}
		}
		if (!o)
			return usage_error(cmd, "flag provided but not defined: %s", a);
		(*i)++;
		if (!o->has_arg) {
			if (eq && (streq(eq + 1, "false") || streq(eq + 1, "0")))
				*o->flag = false;
			else
				*o->flag = true;
			continue;
		}
		const char *v = eq ? eq + 1 : NULL;
		if (!v) {
			if (*i >= argc)
				return usage_error(cmd, "flag needs an argument: %s", a);
			v = argv[(*i)++];
		}
		if (o->multi)
			strv_push(o->multi, v);
		else
			*o->value = v;
	}
	return 0;
}

static int report(struct wh_err *e)
{
	const char *m = wh_err_msg(e);
	fprintf(stderr, "wharf-oci: %s\n", m);
	if (arg_log)
		log_error("%s", m);
	return 1;
}

static int need_id(const char *cmd, int argc, char **argv, int i, const char **id)
{
	if (i >= argc) {
		usage_error(cmd, "%s", "requires a container id");
		return -EINVAL;
	}
	*id = argv[i];
	return 0;
}

static int write_pid_file(const char *path, pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
	return write_file_atomic(path, buf, (size_t)n, 0644);
}

static int connect_console(const char *path, struct wh_err **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return wh_err_setx(err, ENAMETOOLONG, "console socket '%s': path too long", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return wh_err_set(err, errno, "console socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		wh_close(fd);
		return wh_err_set(err, e, "connect console socket '%s'", path);
	}
	return fd;
}

/* ---- waiting for a foreground process, forwarding signals and pty data ---- */

static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

static void copy_once(int from, int to, bool *open)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n <= 0) {
		*open = false;
		return;
	}
	write_all(to, buf, (size_t)n);
}

/* Waits for pid; forwards signals to it; with master >= 0 copies stdin -> master -> stdout. */
static int foreground(pid_t pid, int master, const sigset_t *mask)
{
	int sfd = signalfd(-1, mask, SFD_CLOEXEC);
	if (sfd < 0)
		return 1;
	struct termios saved;
	bool raw = false;
	if (master >= 0 && isatty(0) && tcgetattr(0, &saved) == 0) {
		struct termios t = saved;
		cfmakeraw(&t);
		raw = tcsetattr(0, TCSANOW, &t) == 0;
		struct winsize ws;
		if (ioctl(0, TIOCGWINSZ, &ws) == 0)
			ioctl(master, TIOCSWINSZ, &ws);
	}
	bool in_open = master >= 0, out_open = master >= 0;
	int code = -1;
	while (code < 0) {
		struct pollfd p[3] = {{.fd = sfd, .events = POLLIN},
				      {.fd = in_open ? 0 : -1, .events = POLLIN},
				      {.fd = out_open ? master : -1, .events = POLLIN}};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[2].revents)
			copy_once(master, 1, &out_open);
		if (p[1].revents)
			copy_once(0, master, &in_open);
		if (p[0].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGCHLD) {
				int st;
				pid_t w;
				while ((w = waitpid(-1, &st, WNOHANG)) > 0)
					if (w == pid)
						code = status_code(st);
			} else if (si.ssi_signo == SIGWINCH && master >= 0) {
				struct winsize ws;
				if (ioctl(0, TIOCGWINSZ, &ws) == 0)
					ioctl(master, TIOCSWINSZ, &ws);
			} else {
				kill(pid, (int)si.ssi_signo);
			}
		}
	}
	/* drain what the process wrote last */
	while (out_open) {
		struct pollfd p = {.fd = master, .events = POLLIN};
		if (poll(&p, 1, 0) <= 0)
			break;
		copy_once(master, 1, &out_open);
	}
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	wh_close(sfd);
	return code < 0 ? 1 : code;
}

static void block_signals(sigset_t *mask)
{
	sigfillset(mask);
	sigdelset(mask, SIGSEGV);
	sigdelset(mask, SIGBUS);
	sigdelset(mask, SIGILL);
	sigdelset(mask, SIGFPE);
	sigdelset(mask, SIGKILL);
	sigdelset(mask, SIGSTOP);
	sigdelset(mask, SIGTSTP);
	sigdelset(mask, SIGTTIN);
	sigdelset(mask, SIGTTOU);
	sigprocmask(SIG_BLOCK, mask, NULL);
}

/* ---- commands ---- */

static int cmd_create_run(bool run, int argc, char **argv, int i)
{
	const char *cmd = run ? "run" : "create";
	const char *bundle = ".", *pid_file = NULL, *console = NULL, *preserve = NULL;
	bool no_pivot = false, detach = false, no_keyring = false, no_subreaper = false,
	     keep = false;
	const struct opt opts[] = {
		{"bundle", 'b', true, &bundle, NULL, NULL},
		{"pid-file", 0, true, &pid_file, NULL, NULL},
		{"console-socket", 0, true, &console, NULL, NULL},
		{"no-pivot", 0, false, NULL, &no_pivot, NULL},
		{"no-new-keyring", 0, false, NULL, &no_keyring, NULL},
		{"preserve-fds", 0, true, &preserve, NULL, NULL},
		{"detach", 'd', false, NULL, &detach, NULL},
		{"no-subreaper", 0, false, NULL, &no_subreaper, NULL},
		{"keep", 0, false, NULL, &keep, NULL},
		{NULL, 0, false, NULL, NULL, NULL},
	};
	if (parse_opts(cmd, argc, argv, &i, opts) < 0)
		return 1;
	const char *id = NULL;
	if (need_id(cmd, argc, argv, i, &id) < 0)
		return 1;
	if (!run && (detach || keep))
		return usage_error(cmd, "%s", "flag provided but not defined: --detach"), 1;
	cleanup_err struct wh_err *e = NULL;
	struct oci_create_opts o = {
		.root = arg_root, .id = id, .bundle = bundle, .stdio = OCI_STDIO_INHERIT};
	o.no_pivot = no_pivot;
	o.no_new_keyring = no_keyring;
	if (preserve && parse_int(preserve, &o.preserve_fds) < 0) {
		usage_error(cmd, "invalid --preserve-fds '%s'", preserve);
		return 1;
	}
	cleanup_close int csock = -EBADF;
	if (console) {
		csock = connect_console(console, &e);
		if (csock < 0)
			return report(e);
		o.stdio.console_socket = csock;
	}
	sigset_t mask;
	if (run && !detach)
		block_signals(&mask);
	pid_t pid;
	int master = -1;
	bool fg = run && !detach;
	if (oci_create(&o, &pid, fg && !console ? &master : NULL, &e) < 0)
		return report(e);
	if (pid_file && write_pid_file(pid_file, pid) < 0) {
		wh_err_set(&e, errno, "write pid file '%s'", pid_file);
		oci_delete(arg_root, id, true, NULL);
		return report(e);
	}
	if (!run)
		return 0;
	if (oci_start(arg_root, id, &e) < 0) {
		report(e);
		oci_delete(arg_root, id, true, NULL);
		return 1;
	}
	if (detach)
		return 0;
	int code = foreground(pid, master, &mask);
	wh_close(master);
	cleanup_err struct wh_err *de = NULL;
	if (!keep && oci_delete(arg_root, id, true, &de) < 0)
		report(de);
	return code;
}

static int cmd_simple(const char *cmd, int argc, char **argv, int i)
{
	if (parse_opts(cmd, argc, argv, &i, NULL) < 0)
		return 1;
	const char *id = NULL;
	if (need_id(cmd, argc, argv, i, &id) < 0)
		return 1;
	cleanup_err struct wh_err *e = NULL;
	int r;
	if (streq(cmd, "start"))
		r = oci_start(arg_root, id, &e);
	else if (streq(cmd, "pause"))
		r = oci_pause(arg_root, id, &e);
	else
		r = oci_resume(arg_root, id, &e);
	return r < 0 ? report(e) : 0;
}

static int cmd_state(int argc, char **argv, int i)
{
	if (parse_opts("state", argc, argv, &i, NULL) < 0)
		return 1;
	const char *id = NULL;
	if (need_id("state", argc, argv, i, &id) < 0)
		return 1;
	cleanup_err struct wh_err *e = NULL;
	struct oci_state *s = NULL;
	if (oci_state_get(arg_root, id, &s, &e) < 0)
		return report(e);
	cleanup_free char *js = oci_state_json(s);
	oci_state_free(s);
	printf("%s\n", js);
	return 0;
}

static int cmd_kill(int argc, char **argv, int i)
{
	bool all = false;
	const struct opt opts[] = {
		{"all", 'a', false, NULL, &all, NULL},
		{NULL, 0, false, NULL, NULL, NULL},
	};
	if (parse_opts("kill", argc, argv, &i, opts) < 0)
		return 1;
	const char *id = NULL;
	if (need_id("kill", argc, argv, i, &id) < 0)
		return 1;
	const char *sname = i + 1 < argc ? argv[i + 1] : "SIGTERM";
	int sig = oci_parse_signal(sname);
	if (sig < 0) {
		fprintf(stderr, "wharf-oci: unknown signal '%s'\n", sname);
		return 1;
	}
	cleanup_err struct wh_err *e = NULL;
	if (oci_kill(arg_root, id, sig, all, &e) < 0)
		return report(e);
	return 0;
}

static int cmd_delete(int argc, char **argv, int i)
{
	bool force = false;
	const struct opt opts[] = {
		{"force", 'f', false, NULL, &force, NULL},
		{NULL, 0, false, NULL, NULL, NULL},
	};
	if (parse_opts("delete", argc, argv, &i, opts) < 0)
		return 1;
	const char *id = NULL;
	if (need_id("delete", argc, argv, i, &id) < 0)
		return 1;
	cleanup_err struct wh_err *e = NULL;
	if (oci_delete(arg_root, id, force, &e) < 0) {
		/* runc: deleting a missing container with --force is not an error */
		if (force && e && e->code == ENOENT)
			return 0;
		return report(e);
	}
	return 0;
}

static void gen_state(yajl_gen g, const struct oci_state *s)
{
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "ociVersion", s->oci_version);
	json_gen_kv_str(g, "id", s->id);
	json_gen_kv_int(g, "pid", s->pid);
	json_gen_kv_str(g, "status", oci_status_name(s->status));
	json_gen_kv_str(g, "bundle", s->bundle);
	json_gen_kv_str(g, "rootfs", s->rootfs);
	json_gen_kv_str(g, "created", s->created);
	json_gen_kv_str(g, "owner", s->owner);
	if (s->annotations_json) {
		yajl_val v = NULL;
		if (json_parse(s->annotations_json, strlen(s->annotations_json), &v, NULL) == 0) {
			json_gen_str(g, "annotations");
			json_gen_value(g, v);
			yajl_tree_free(v);
		}
	}
	yajl_gen_map_close(g);
}

static int cmd_list(int argc, char **argv, int i)
{
	const char *format = "table";
	bool quiet = false;
	const struct opt opts[] = {
		{"format", 'f', true, &format, NULL, NULL},
		{"quiet", 'q', false, NULL, &quiet, NULL},
		{NULL, 0, false, NULL, NULL, NULL},
	};
	if (parse_opts("list", argc, argv, &i, opts) < 0)
		return 1;
	if (!streq(format, "table") && !streq(format, "json")) {
		fprintf(stderr, "wharf-oci: invalid format option '%s'\n", format);
		return 1;
	}
	cleanup_err struct wh_err *e = NULL;
	cleanup_strv char **ids = NULL;
	if (oci_list(arg_root, &ids, &e) < 0)
		return report(e);
	yajl_gen g = NULL;
	if (streq(format, "json")) {
		g = json_gen_new(false);
		yajl_gen_array_open(g);
	} else if (!quiet) {
		printf("%-12s %-8s %-10s %-40s %-31s %s\n", "ID", "PID", "STATUS", "BUNDLE",
		       "CREATED", "OWNER");
	}
	strv_foreach(id, ids) {
		struct oci_state *s = NULL;
		cleanup_err struct wh_err *se = NULL;
		if (oci_state_get(arg_root, *id, &s, &se) < 0)
			continue;
		if (g)
			gen_state(g, s);
		else if (quiet)
			printf("%s\n", s->id);
		else
			printf("%-12s %-8d %-10s %-40s %-31s %s\n", s->id, (int)s->pid,
			       oci_status_name(s->status), s->bundle, s->created, s->owner);
		oci_state_free(s);
	}
	if (g) {
		yajl_gen_array_close(g);
		cleanup_free char *out = json_gen_finish(g, NULL);
		printf("%s\n", out);
	}
	return 0;
}

static int cmd_ps(int argc, char **argv, int i)
{
	const char *format = "table";
	const struct opt opts[] = {
		{"format", 'f', true, &format, NULL, NULL},
		{NULL, 0, false, NULL, NULL, NULL},
	};
	if (parse_opts("ps", argc, argv, &i, opts) < 0)
		return 1;
	const char *id = NULL;
	if (need_id("ps", argc, argv, i, &id) < 0)
		return 1;
	cleanup_err struct wh_err *e = NULL;
	cleanup_free pid_t *pids = NULL;
	size_t n = 0;
	if (oci_pids(arg_root, id, &pids, &n, &e) < 0)
		return report(e);
	if (streq(format, "json")) {
		printf("[");
		for (size_t k = 0; k < n; k++)
			printf("%s%d", k ? "," : "", (int)pids[k]);
		printf("]\n");
		return 0;
	}
	if (!streq(format, "table")) {
		fprintf(stderr, "wharf-oci: invalid format option '%s'\n", format);
		return 1;
	}
	/* runc: `ps <args or -ef>` filtered to the container's pids */
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		dup2(pfd[1], 1);
		char **pa = NULL;
		strv_push(&pa, "ps");
		if (i + 1 < argc)
			for (int k = i + 1; k < argc; k++)
				strv_push(&pa, argv[k]);
		else
			strv_push(&pa, "-ef");
		execvp("ps", pa);
		_exit(127);
	}
	wh_close(pfd[1]);
	FILE *f = fdopen(pfd[0], "r");
	char *line = NULL;
	size_t cap = 0;
	int pid_col = -1;
	bool first = true;
	while (f && getline(&line, &cap, f) > 0) {
		if (first) {
			first = false;
			cleanup_free char *hdr = xstrdup(line);
			char *save = NULL;
			int col = 0;
			for (char *t = strtok_r(hdr, " \t\n", &save); t;
			     t = strtok_r(NULL, " \t\n", &save), col++)
				if (streq(t, "PID"))
					pid_col = col;
			fputs(line, stdout);
			continue;
		}
		cleanup_free char *cp = xstrdup(line);
		char *save = NULL;
		int col = 0;
		for (char *t = strtok_r(cp, " \t\n", &save); t;
		     t = strtok_r(NULL, " \t\n", &save)) {
			if (col++ != pid_col)
				continue;
			int p;
			if (parse_int(t, &p) == 0)
				for (size_t k = 0; k < n; k++)
					if (pids[k] == p)
						fputs(line, stdout);
			break;
		}
	}
	free(line);
	if (f)
		fclose(f);
	int st;
	waitpid(child, &st, 0);
	return 0;
}

static int cmd_exec(int argc, char **argv, int i)
{
	const char *process = NULL, *cwd = NULL, *user = NULL, *pid_file = NULL, *console = NULL,
		   *preserve = NULL;
	cleanup_strv char **env = NULL;
	cleanup_strv char **gids = NULL;
	cleanup_strv char **caps = NULL;
	bool tty = false, detach = false, nnp = false;
	const struct opt opts[] = {
		{"process", 'p', true, &process, NULL, NULL},
		{"env", 'e', true, NULL, NULL, &env},
		{"cwd", 0, true, &cwd, NULL, NULL},
		{"user", 'u', true, &user, NULL, NULL},
		{"additional-gids", 'g', true, NULL, NULL, &gids},
		{"cap", 'c', true, NULL, NULL, &caps},
		{"tty", 't', false, NULL, &tty, NULL},
		{"detach", 'd', false, NULL, &detach, NULL},
		{"pid-file", 0, true, &pid_file, NULL, NULL},
		{"console-socket", 0, true, &console, NULL, NULL},
		{"preserve-fds", 0, true, &preserve, NULL, NULL},
		{"no-new-privs", 0, false, NULL, &nnp, NULL},
		{NULL, 0, false, NULL, NULL, NULL},
	};
	if (parse_opts("exec", argc, argv, &i, opts) < 0)
		return 1;
	const char *id = NULL;
	if (need_id("exec", argc, argv, i, &id) < 0)
		return 1;
	cleanup_err struct wh_err *e = NULL;
	struct oci_exec_opts o = {
		.root = arg_root, .id = id, .stdio = OCI_STDIO_INHERIT, .tty = -1};
	cleanup_free char *ptext = NULL;
	cleanup_free gid_t *gid_list = NULL;
	if (process) {
		int r = streq(process, "-") ? read_fd(0, 16 << 20, &ptext, NULL)
					    : read_file(process, 16 << 20, &ptext, NULL);
		if (r < 0) {
			wh_err_set(&e, r, "read process file '%s'", process);
			return report(e);
		}
		o.process_json = ptext;
	} else {
		if (i + 1 >= argc) {
			usage_error("exec", "%s", "requires a command to run");
			return 1;
		}
		o.args = argv + i + 1;
		o.env = env;
		o.cwd = cwd;
		if (tty)
			o.tty = 1;
		o.no_new_privileges = nnp;
		o.add_caps = caps;
		size_t ng = strv_length(gids);
		if (ng) {
			gid_list = xnew0(gid_t, ng);
			for (size_t k = 0; k < ng; k++) {
				int g;
				if (parse_int(gids[k], &g) < 0 || g < 0) {
					wh_err_setx(&e, EINVAL,
						    "exec --additional-gids '%s': not a gid",
						    gids[k]);
					return report(e);
				}
				gid_list[k] = (gid_t)g;
			}
			o.additional_gids = gid_list;
			o.n_additional_gids = ng;
		}
		if (user) {
			int u, g = 0;
			cleanup_free char *us = xstrdup(user);
			char *colon = strchr(us, ':');
			if (colon)
				*colon++ = 0;
			if (parse_int(us, &u) < 0 || u < 0 ||
			    (colon && (parse_int(colon, &g) < 0 || g < 0))) {
				wh_err_setx(&e, EINVAL, "exec --user '%s': expected UID[:GID]",
					    user);
				return report(e);
			}
			o.has_user = true;
			o.uid = (uid_t)u;
			o.gid = (gid_t)g;
		}
	}
	if (preserve && parse_int(preserve, &o.preserve_fds) < 0) {
		usage_error("exec", "invalid --preserve-fds '%s'", preserve);
		return 1;
	}
	cleanup_close int csock = -EBADF;
	if (console) {
		csock = connect_console(console, &e);
		if (csock < 0)
			return report(e);
		o.stdio.console_socket = csock;
	}
	sigset_t mask;
	if (!detach)
		block_signals(&mask);
	pid_t pid;
	int master = -1;
	if (oci_exec(&o, &pid, detach || console ? NULL : &master, &e) < 0)
		return report(e);
	if (pid_file && write_pid_file(pid_file, pid) < 0) {
		wh_err_set(&e, errno, "write pid file '%s'", pid_file);
		kill(pid, SIGKILL);
		return report(e);
	}
	if (detach)
		return 0;
	int code = foreground(pid, master, &mask);
	wh_close(master);
	return code;
}

static int cmd_update(int argc, char **argv, int i)
{
	static const char *const names[] = {
		"memory",	 "memory-reservation", "memory-swap",
		"kernel-memory", "kernel-memory-tcp",  "cpu-shares",
		"cpu-quota",	 "cpu-period",	       "cpu-rt-runtime",
		"cpu-rt-period", "cpuset-cpus",	       "cpuset-mems",
		"pids-limit",	 "blkio-weight",
	};
	const char *values[ARRAY_SIZE(names)] = {0};
	const char *resources = NULL;
	struct opt opts[ARRAY_SIZE(names) + 2];
	memset(opts, 0, sizeof(opts));
	for (size_t k = 0; k < ARRAY_SIZE(names); k++) {
		opts[k].name = names[k];
		opts[k].has_arg = true;
		opts[k].value = &values[k];
	}
	opts[ARRAY_SIZE(names)] = (struct opt){"resources", 'r', true, &resources, NULL, NULL};
	if (parse_opts("update", argc, argv, &i, opts) < 0)
		return 1;
	const char *id = NULL;
	if (need_id("update", argc, argv, i, &id) < 0)
		return 1;
	cleanup_err struct wh_err *e = NULL;
	cleanup_free char *text = NULL;
	if (resources) {
		int r = streq(resources, "-") ? read_fd(0, 16 << 20, &text, NULL)
					      : read_file(resources, 16 << 20, &text, NULL);
		if (r < 0) {
			wh_err_set(&e, r, "read resources '%s'", resources);
			return report(e);
		}
	} else {
		struct oci_resources res;
		oci_resources_init(&res);
		for (size_t k = 0; k < ARRAY_SIZE(names); k++) {
			if (values[k] &&
			    oci_resources_set_flag(&res, names[k], values[k], &e) < 0) {
				oci_resources_release(&res);
				return report(e);
			}
		}
		yajl_gen g = json_gen_new(false);
		oci_resources_gen_json(g, &res);
		text = json_gen_finish(g, NULL);
		oci_resources_release(&res);
	}
	if (oci_update(arg_root, id, text, &e) < 0)
		return report(e);
	return 0;
}

static int cmd_spec(int argc, char **argv, int i)
{
	const char *bundle = NULL;
	bool rootless = false;
	const struct opt opts[] = {
		{"bundle", 'b', true, &bundle, NULL, NULL},
		{"rootless", 0, false, NULL, &rootless, NULL},
		{NULL, 0, false, NULL, NULL, NULL},
	};
	if (parse_opts("spec", argc, argv, &i, opts) < 0)
		return 1;
	cleanup_err struct wh_err *e = NULL;
	if (rootless) {
		wh_err_setx(&e, EOPNOTSUPP,
			    "spec --rootless: rootless containers are not supported "
			    "by this runtime");
		return report(e);
	}
	cleanup_free char *path = path_join(bundle ? bundle : ".", "config.json");
	if (access(path, F_OK) == 0) {
		wh_err_setx(&e, EEXIST, "file '%s' exists; remove it first", path);
		return report(e);
	}
	cleanup_free char *js = oci_default_spec_json();
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 || write_all(fd, js, strlen(js)) < 0) {
		wh_err_set(&e, errno, "write '%s'", path);
		wh_close(fd);
		return report(e);
	}
	wh_close(fd);
	return 0;
}

static void usage(void)
{
	printf("wharf-oci: an OCI runtime with runc's command line\n\n"
	       "usage: wharf-oci [global options] command [command options] [arguments...]\n\n"
	       "commands: create, start, run, state, kill, delete, list, ps, exec, pause, resume,\n"
	       "          update, spec, features\n\n"
	       "global options: --root DIR (default %s), --log FILE, --log-format text|json,\n"
	       "                --debug, --version\n",
	       OCI_DEFAULT_ROOT);
}

int main(int argc, char **argv)
{
	const char *log_format = "text", *criu = NULL, *rootless = NULL;
	bool systemd = false, version = false, help = false;
	const struct opt gopts[] = {
		{"root", 0, true, &arg_root, NULL, NULL},
		{"log", 0, true, &arg_log, NULL, NULL},
		{"log-format", 0, true, &log_format, NULL, NULL},
		{"debug", 0, false, NULL, &arg_debug, NULL},
		{"systemd-cgroup", 0, false, NULL, &systemd, NULL},
		{"criu", 0, true, &criu, NULL, NULL},
		{"rootless", 0, true, &rootless, NULL, NULL},
		{"version", 'v', false, NULL, &version, NULL},
		{"help", 'h', false, NULL, &help, NULL},
		{NULL, 0, false, NULL, NULL, NULL},
	};
	int i = 1;
	if (parse_opts(NULL, argc, argv, &i, gopts) < 0)
		return 1;
	if (version || (i < argc && streq(argv[i], "version"))) {
		printf("wharf-oci version %s\nspec: 1.0.2\n", VERSION);
		return 0;
	}
	if (help || i >= argc || streq(argv[i], "help")) {
		usage();
		return help || i < argc ? 0 : 1;
	}
	log_set_ident("wharf-oci");
	log_set_level(arg_debug ? LOG_DEBUG : LOG_INFO);
	if (streq(log_format, "json"))
		log_set_format(LOG_FORMAT_JSON);
	else if (!streq(log_format, "text")) {
		fprintf(stderr, "wharf-oci: unknown log-format '%s'\n", log_format);
		return 1;
	}
	if (arg_log && log_open_file(arg_log) < 0) {
		fprintf(stderr, "wharf-oci: open log '%s': %s\n", arg_log, strerror(errno));
		return 1;
	}
	if (systemd) {
		cleanup_err struct wh_err *e = NULL;
		wh_err_setx(&e, EOPNOTSUPP,
			    "--systemd-cgroup: the systemd cgroup driver is not "
			    "supported; use cgroupfs paths");
		return report(e);
	}
	if (rootless && !streq(rootless, "false") && !streq(rootless, "auto")) {
		cleanup_err struct wh_err *e = NULL;
		wh_err_setx(&e, EOPNOTSUPP, "--rootless: rootless mode is not supported");
		return report(e);
	}
	const char *cmd = argv[i++];
	log_debug("wharf-oci %s: command '%s', root '%s'", VERSION, cmd, arg_root);
	if (streq(cmd, "create") || streq(cmd, "run") || streq(cmd, "exec")) {
		/* the binary a container could reach through /proc/self/exe must be a sealed copy
		 */
		int r = oci_ensure_cloned_binary(argv, environ);
		if (r < 0) {
			fprintf(stderr, "wharf-oci: clone the runtime binary: %s\n", strerror(-r));
			return 1;
		}
	}
	if (streq(cmd, "create"))
		return cmd_create_run(false, argc, argv, i);
	if (streq(cmd, "run"))
		return cmd_create_run(true, argc, argv, i);
	if (streq(cmd, "start") || streq(cmd, "pause") || streq(cmd, "resume"))
		return cmd_simple(cmd, argc, argv, i);
	if (streq(cmd, "state"))
		return cmd_state(argc, argv, i);
	if (streq(cmd, "kill"))
		return cmd_kill(argc, argv, i);
	if (streq(cmd, "delete"))
		return cmd_delete(argc, argv, i);
	if (streq(cmd, "list"))
		return cmd_list(argc, argv, i);
	if (streq(cmd, "ps"))
		return cmd_ps(argc, argv, i);
	if (streq(cmd, "exec"))
		return cmd_exec(argc, argv, i);
	if (streq(cmd, "update"))
		return cmd_update(argc, argv, i);
	if (streq(cmd, "spec"))
		return cmd_spec(argc, argv, i);
	if (streq(cmd, "features")) {
		cleanup_free char *js = oci_features_json();
		printf("%s\n", js);
		return 0;
	}
	fprintf(stderr, "wharf-oci: no such command '%s'\n", cmd);
	return 1;
}

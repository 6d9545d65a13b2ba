/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharfctl's argument parsing that commands share: the global flags, durations, --mount specs
 * and the flags of `run` / `containers create`. getopt_long with opterr off: errors come back
 * as messages, nothing is printed here.
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "common/common.h"
#include "ctl/ctl.h"

static int bad_option(int argc, char **argv, const char *cmd, struct wh_err **err)
{
	const char *arg = optind - 1 < argc && optind >= 1 ? argv[optind - 1] : "?";

	if (optopt && optopt < 256 && !str_startswith(arg, "--"))
		return wh_err_setx(err, EINVAL, "%s: unknown flag or missing value: -%c", cmd,
				   optopt);
	return wh_err_setx(err, EINVAL, "%s: unknown flag or missing value: %s", cmd, arg);
}

int ctl_parse_duration(const char *s, uint64_t *ret_ns)
{
	static const struct {
		const char *suffix;
		uint64_t mul;
	} units[] = {
		{"ns", 1ULL},	      {"us", 1000ULL},	     {"ms", 1000000ULL},
		{"s", 1000000000ULL}, {"m", 60000000000ULL}, {"h", 3600000000000ULL},
	};
	uint64_t v;
	size_t n;

	if (!s || !*s)
		return -EINVAL;
	n = strspn(s, "0123456789");
	if (n == 0)
		return -EINVAL;
	cleanup_free char *num = xstrndup(s, n);
	if (parse_u64(num, &v) < 0)
		return -EINVAL;
	if (!s[n]) {
		if (v > UINT64_MAX / 1000000000ULL)
			return -ERANGE;
		*ret_ns = v * 1000000000ULL;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (!streq(s + n, units[i].suffix))
			continue;
		if (v > UINT64_MAX / units[i].mul)
			return -ERANGE;
		*ret_ns = v * units[i].mul;
		return 0;
	}
	return -EINVAL;
}

int ctl_parse_global(int argc, char **argv, char *(*env)(const char *), struct ctl_global *ret,
		     int *ret_next, struct wh_err **err)
{
	static const struct option opts[] = {
		{"address", required_argument, NULL, 'a'},
		{"namespace", required_argument, NULL, 'n'},
		{"timeout", required_argument, NULL, 't'},
		{"debug", no_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};
	struct ctl_global g = {.address = CTL_DEFAULT_ADDRESS, .ns = CTL_DEFAULT_NAMESPACE};
	const char *e;
	int c;

	if (env && (e = env("WHARF_ADDRESS")) && *e)
		g.address = e;
	if (env && (e = env("WHARF_NAMESPACE")) && *e)
		g.ns = e;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+a:n:hv", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (!*optarg)
				return wh_err_setx(err, EINVAL, "--address: empty");
			g.address = optarg;
			break;
		case 'n':
			if (!*optarg)
				return wh_err_setx(err, EINVAL, "--namespace: empty");
			g.ns = optarg;
			break;
		case 't':
			if (ctl_parse_duration(optarg, &g.timeout_ns) < 0)
				return wh_err_setx(
					err, EINVAL,
					"--timeout: invalid duration '%s' (e.g. 10s, 500ms)",
					optarg);
			break;
		case 'h':
			g.help = true;
			break;
		case 'v':
			g.version = true;
			break;
		default:
			return bad_option(argc, argv, "wharfctl", err);
		}
	}
	*ret = g;
	*ret_next = optind;
	return 0;
}

void ctl_mount_release(struct ctl_mount *m)
{
	free(m->type);
	free(m->source);
	free(m->destination);
	strv_free(m->options);
	*m = (struct ctl_mount){0};
}

static int mount_kv(struct ctl_mount *m, const char *kv, struct wh_err **err)
{
	const char *eq = strchr(kv, '=');
	cleanup_free char *key = NULL;
	const char *val;

	if (!eq)
		return wh_err_setx(err, EINVAL, "--mount: '%s' is not key=value", kv);
	key = xstrndup(kv, eq - kv);
	val = eq + 1;
	if (streq(key, "type")) {
		free(m->type), m->type = xstrdup(val);
	} else if (streq(key, "src") || streq(key, "source")) {
		free(m->source), m->source = xstrdup(val);
	} else if (streq(key, "dst") || streq(key, "destination") || streq(key, "target")) {
		free(m->destination), m->destination = xstrdup(val);
	} else if (streq(key, "options")) {
		cleanup_free char *copy = xstrdup(val);
		char *save = NULL;

		for (char *o = strtok_r(copy, ":", &save); o; o = strtok_r(NULL, ":", &save))
			strv_push(&m->options, o);
	} else {
		return wh_err_setx(err, EINVAL,
				   "--mount: unknown key '%s' (type, src, dst, options)", key);
	}
	return 0;
}

int ctl_parse_mount(const char *spec, struct ctl_mount *ret, struct wh_err **err)
{
	struct ctl_mount m = {0};
	cleanup_free char *copy = xstrdup(spec);
	char *save = NULL;
	int r;

	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		if ((r = mount_kv(&m, kv, err)) < 0) {
			ctl_mount_release(&m);
			return r;
		}
	}
	if (!m.destination || m.destination[0] != '/') {
		r = wh_err_setx(err, EINVAL, "--mount '%s': dst must be an absolute path", spec);
		ctl_mount_release(&m);
		return r;
	}
	if (!m.type)
		m.type = xstrdup("bind");
	if (!m.source) {
		if (streq(m.type, "bind")) {
			r = wh_err_setx(err, EINVAL, "--mount '%s': a bind mount needs src", spec);
			ctl_mount_release(&m);
			return r;
		}
		m.source = xstrdup(m.type);
	}
	if (streq(m.type, "bind") && !m.options) {
		strv_push(&m.options, "rbind");
		strv_push(&m.options, "rw");
	}
	*ret = m;
	return 0;
}

void ctl_run_opts_release(struct ctl_run_opts *o)
{
	strv_free(o->env);
	strv_free(o->labels);
	for (size_t i = 0; i < o->n_mounts; i++)
		ctl_mount_release(&o->mounts[i]);
	free(o->mounts);
	*o = (struct ctl_run_opts){0};
}

static int run_flag(struct ctl_run_opts *o, int c, const char *cmd, struct wh_err **err)
{
	struct ctl_mount m;
	int r;

	switch (c) {
	case 'r':
		o->rm = true;
		break;
	case 't':
		o->tty = true;
		break;
	case 'd':
		o->detach = true;
		break;
	case 'e':
		if (!strchr(optarg, '=') || optarg[0] == '=')
			return wh_err_setx(err, EINVAL, "%s: --env '%s': expected K=V", cmd,
					   optarg);
		strv_push(&o->env, optarg);
		break;
	case 'l':
		if (!strchr(optarg, '=') || optarg[0] == '=')
			return wh_err_setx(err, EINVAL, "%s: --label '%s': expected K=V", cmd,
					   optarg);
		strv_push(&o->labels, optarg);
		break;
	case 'm':
		if ((r = ctl_parse_mount(optarg, &m, err)) < 0)
			return r;
		xgrow((void **)&o->mounts, &(size_t){o->n_mounts}, o->n_mounts + 1,
		      sizeof(*o->mounts));
		o->mounts[o->n_mounts++] = m;
		break;
	case 'R':
		o->runtime = optarg;
		break;
	case 'u':
		if ((r = ctl_parse_user(optarg, &(uint32_t){0}, &(uint32_t){0}, err)) < 0)
			return r;
		o->user = optarg;
		break;
	case 'w':
		if (optarg[0] != '/')
			return wh_err_setx(err, EINVAL, "%s: --cwd '%s': must be absolute", cmd,
					   optarg);
		o->cwd = optarg;
		break;
	case 's':
		o->snapshotter = optarg;
		break;
	case 'B':
		if (!*optarg)
			return wh_err_setx(err, EINVAL, "%s: --runtime-binary: empty", cmd);
		o->runtime_binary = optarg;
		break;
	default:
		return -ENOENT;
	}
	return 0;
}

int ctl_parse_run(int argc, char **argv, enum ctl_run_mode mode, struct ctl_run_opts *ret,
		  struct wh_err **err)
{
	static const struct option opts[] = {
		{"rm", no_argument, NULL, 'r'},
		{"tty", no_argument, NULL, 't'},
		{"detach", no_argument, NULL, 'd'},
		{"env", required_argument, NULL, 'e'},
		{"mount", required_argument, NULL, 'm'},
		{"runtime", required_argument, NULL, 'R'},
		{"user", required_argument, NULL, 'u'},
		{"cwd", required_argument, NULL, 'w'},
		{"snapshotter", required_argument, NULL, 's'},
		{"label", required_argument, NULL, 'l'},
		{"runtime-binary", required_argument, NULL, 'B'},
		{"runc-binary", required_argument, NULL, 'B'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = mode == CTL_RUN_MODE_RUN ? "run" : "containers create";
	struct ctl_run_opts o = {.runtime = CTL_DEFAULT_RUNTIME};
	int c, r = 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+tde:m:u:w:l:", opts, NULL)) != -1) {
		if ((c == 'r' || c == 'd') && mode == CTL_RUN_MODE_CREATE) {
			r = wh_err_setx(err, EINVAL, "%s: --%s is a flag of run", cmd,
					c == 'r' ? "rm" : "detach");
			break;
		}
		r = run_flag(&o, c, cmd, err);
		if (r == -ENOENT)
			r = bad_option(argc, argv, cmd, err);
		if (r < 0)
			break;
	}
	if (r >= 0 && argc - optind < 2)
		r = wh_err_setx(err, EINVAL, "%s: usage: %s [FLAGS] IMAGE ID [ARGS...]", cmd, cmd);
	if (r >= 0 && o.tty && o.detach)
		r = wh_err_setx(err, EINVAL, "%s: --tty with --detach is not supported", cmd);
	if (r >= 0 && o.rm && o.detach)
		r = wh_err_setx(err, EINVAL, "%s: --rm and --detach exclude each other", cmd);
	if (r < 0) {
		ctl_run_opts_release(&o);
		return r;
	}
	o.image = argv[optind];
	o.id = argv[optind + 1];
	o.args = argv + optind + 2;
	if (!*o.image || !*o.id) {
		ctl_run_opts_release(&o);
		return wh_err_setx(err, EINVAL, "%s: IMAGE and ID must not be empty", cmd);
	}
	*ret = o;
	return 0;
}

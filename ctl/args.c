/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wharfctl's argument parsing that commands share: the global flags, durations, --mount specs
 * and the flags of `run` / `containers create`. getopt_long with opterr off: errors come back
 * as messages, nothing is printed here.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include <sys/random.h>

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

/* "64m", "1g", "4096", "512k", "2MiB", "1GB": bytes; -EINVAL / -ERANGE. */
int ctl_parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		char c;
		unsigned shift;
	} units[] = {{'k', 10}, {'m', 20}, {'g', 30}, {'t', 40}};
	size_t n = s ? strspn(s, "0123456789") : 0;
	const char *suf = s ? s + n : NULL;
	unsigned shift = 0;
	uint64_t v;

	if (n == 0 || n > 20)
		return -EINVAL;
	cleanup_free char *num = xstrndup(s, n);
	if (parse_u64(num, &v) < 0)
		return -ERANGE;
	if (*suf) {
		char c = (char)(*suf | 0x20);
		bool found = false;

		for (size_t i = 0; i < ARRAY_SIZE(units); i++)
			if (units[i].c == c) {
				shift = units[i].shift;
				found = true;
			}
		if (!found && c != 'b')
			return -EINVAL;
		suf += found;
		/* An optional unit word after the multiplier: b, B, iB. */
		if (*suf && !streq(suf, "b") && !streq(suf, "B") && !(found && streq(suf, "iB")))
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = v << shift;
	return 0;
}

/* "ro" alone, or =true/false/1/0. */
static int parse_flag_value(const char *val, bool *ret)
{
	if (!val || streq(val, "true") || streq(val, "1")) {
		*ret = true;
	} else if (streq(val, "false") || streq(val, "0")) {
		*ret = false;
	} else {
		return -EINVAL;
	}
	return 0;
}

/* What the keys said before they are turned into a mount. */
struct mount_keys {
	char *who; /* "--mount 'SPEC'" or "--volume 'SPEC'": what errors name */
	char *type, *source, *destination, *size, *mode, *propagation;
	char **options;
	bool have_options;
	int ro, nocopy, nonrecursive; /* -1: not given */
};

static void mount_keys_release(struct mount_keys *k)
{
	free(k->who);
	free(k->type);
	free(k->source);
	free(k->destination);
	free(k->size);
	free(k->mode);
	free(k->propagation);
	strv_free(k->options);
}

static void set_str(char **p, const char *v)
{
	free(*p);
	*p = xstrdup(v);
}

static int mount_kv(struct mount_keys *k, const char *kv, struct wh_err **err)
{
	const char *eq = strchr(kv, '=');
	cleanup_free char *key = eq ? xstrndup(kv, eq - kv) : xstrdup(kv);
	const char *val = eq ? eq + 1 : NULL;
	bool b;

	if (streq(key, "ro") || streq(key, "readonly") || streq(key, "volume-nocopy") ||
	    streq(key, "nocopy") || streq(key, "bind-nonrecursive")) {
		if (parse_flag_value(val, &b) < 0)
			return wh_err_setx(err, EINVAL, "%s: %s='%s': expected true or false",
					   k->who, key, val);
		if (key[0] == 'r')
			k->ro = b;
		else if (key[0] == 'b')
			k->nonrecursive = b;
		else
			k->nocopy = b;
		return 0;
	}
	if (!eq)
		return wh_err_setx(err, EINVAL, "%s: '%s' is not key=value", k->who, kv);
	if (streq(key, "type")) {
		set_str(&k->type, val);
	} else if (streq(key, "src") || streq(key, "source")) {
		set_str(&k->source, val);
	} else if (streq(key, "dst") || streq(key, "destination") || streq(key, "target")) {
		set_str(&k->destination, val);
	} else if (streq(key, "size") || streq(key, "tmpfs-size")) {
		set_str(&k->size, val);
	} else if (streq(key, "mode") || streq(key, "tmpfs-mode")) {
		set_str(&k->mode, val);
	} else if (streq(key, "bind-propagation")) {
		set_str(&k->propagation, val);
	} else if (streq(key, "options")) {
		cleanup_free char *copy = xstrdup(val);
		char *save = NULL;

		k->have_options = true;
		for (char *o = strtok_r(copy, ":", &save); o; o = strtok_r(NULL, ":", &save))
			strv_push(&k->options, o);
	} else {
		return wh_err_setx(err, EINVAL,
				   "%s: unknown key '%s' (type, src, dst, ro, size, mode, "
				   "volume-nocopy, bind-propagation, bind-nonrecursive, options)",
				   k->who, key);
	}
	return 0;
}

static const char *const propagations[] = {"private", "rprivate", "shared", "rshared",
					   "slave",   "rslave",	  NULL};

/* The checks that need the type (bind, tmpfs or volume). */
static int mount_check(struct mount_keys *k, struct wh_err **err)
{
	const char *s = k->who;
	bool bind = streq(k->type, "bind"), tmpfs = streq(k->type, "tmpfs");
	uint64_t size;

	if (!bind && !tmpfs && !streq(k->type, "volume"))
		return wh_err_setx(err, EINVAL, "%s: unknown type '%s' (bind, tmpfs, volume)", s,
				   k->type);
	if (!k->destination || !*k->destination)
		return wh_err_setx(err, EINVAL, "%s: missing dst (dst must be an absolute path)",
				   s);
	if (k->destination[0] != '/')
		return wh_err_setx(err, EINVAL, "%s: dst must be an absolute path, not '%s'", s,
				   k->destination);
	if (streq(k->destination, "/"))
		return wh_err_setx(err, EINVAL, "%s: dst cannot be '/'", s);
	if (bind && (!k->source || !*k->source))
		return wh_err_setx(err, EINVAL, "%s: a bind mount needs src", s);
	if (bind && k->source[0] != '/')
		return wh_err_setx(err, EINVAL, "%s: bind src must be an absolute path, not '%s'",
				   s, k->source);
	if (tmpfs && k->source && *k->source)
		return wh_err_setx(err, EINVAL, "%s: a tmpfs mount takes no src", s);
	if (!tmpfs && (k->size || k->mode))
		return wh_err_setx(err, EINVAL, "%s: %s is only valid with type=tmpfs", s,
				   k->size ? "size" : "mode");
	if ((k->propagation || k->nonrecursive >= 0) && !streq(k->type, "bind"))
		return wh_err_setx(err, EINVAL, "%s: %s is only valid with type=bind", s,
				   k->propagation ? "bind-propagation" : "bind-nonrecursive");
	if (k->propagation && !strv_contains((char *const *)propagations, k->propagation))
		return wh_err_setx(err, EINVAL,
				   "%s: bind-propagation '%s' is not one of [r]private, [r]shared, "
				   "[r]slave",
				   s, k->propagation);
	if (k->nocopy >= 0 && !streq(k->type, "volume"))
		return wh_err_setx(err, EINVAL, "%s: volume-nocopy is only valid with type=volume",
				   s);
	if (k->size && ctl_parse_size(k->size, &size) < 0)
		return wh_err_setx(err, EINVAL, "%s: size '%s' is not a size (e.g. 64m, 1g, 4096)",
				   s, k->size);
	if (k->mode &&
	    (strspn(k->mode, "01234567") != strlen(k->mode) || !*k->mode || strlen(k->mode) > 4))
		return wh_err_setx(err, EINVAL, "%s: mode '%s' is not an octal mode", s, k->mode);
	if (streq(k->type, "volume") && k->source && *k->source &&
	    !ctl_volume_name_valid(k->source))
		return wh_err_setx(err, EINVAL,
				   "%s: volume name '%s' is invalid: it must match "
				   "[a-zA-Z0-9][a-zA-Z0-9_.-]*",
				   s, k->source);
	return 0;
}

bool ctl_volume_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || !strchr("_.-", c)))
			return false;
	}
	return true;
}

/* A name for an anonymous volume: 64 hex digits, as docker's. */
static char *anonymous_name(void)
{
	struct strbuf sb = STRBUF_INIT;
	uint8_t rnd[32];
	size_t got = 0;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (errno != EINTR)
			abort(); /* the kernel's entropy is always there after boot */
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		strbuf_addf(&sb, "%02x", rnd[i]);
	return strbuf_detach(&sb, NULL);
}

/* Options from the keys: explicit options= as given, else the type's defaults. */
static char **mount_options(const struct mount_keys *k)
{
	char **o = NULL;
	bool ro = k->ro > 0;

	if (k->have_options)
		o = strv_copy(k->options);
	else if (streq(k->type, "tmpfs"))
		o = strv_copy(
			(char *const[]){(char *)"nosuid", (char *)"nodev", (char *)"noexec", NULL});
	else
		strv_push(&o, k->nonrecursive > 0 ? "bind" : "rbind");
	if (k->propagation)
		strv_push(&o, k->propagation);
	if (k->ro >= 0 || !k->have_options) {
		/* One of rw/ro, at the end; a read-only bind also asks for recursion (rro). */
		char **keep = NULL;

		strv_foreach(x, o)
			if (!streq(*x, "rw") && !streq(*x, "ro") && !streq(*x, "rro"))
				strv_push(&keep, *x);
		strv_free(o);
		o = keep;
		strv_push(&o, ro ? "ro" : "rw");
		if (ro && !streq(k->type, "tmpfs") && k->nonrecursive <= 0)
			strv_push(&o, "rro");
	}
	if (k->size) {
		uint64_t size = 0;

		ctl_parse_size(k->size, &size);
		strv_consume(&o, xasprintf("size=%llu", (unsigned long long)size));
	}
	if (k->mode)
		strv_consume(&o, xasprintf("mode=%s", k->mode));
	if (k->nocopy > 0)
		strv_push(&o, "nocopy");
	return o;
}

/* Checks the keys and makes the mount (k is released). */
static int mount_finish(struct mount_keys *k, struct ctl_mount *ret, struct wh_err **err)
{
	struct ctl_mount m = {0};
	int r;

	if (!k->type)
		k->type = xstrdup("bind"); /* ctr's default */
	if ((r = mount_check(k, err)) < 0) {
		mount_keys_release(k);
		return r;
	}
	m.type = xstrdup(k->type);
	m.destination = xstrdup(k->destination);
	if (streq(k->type, "volume") && (!k->source || !*k->source)) {
		m.source = anonymous_name();
		m.anonymous = true;
	} else {
		m.source = xstrdup(k->source && *k->source ? k->source : k->type);
	}
	m.options = mount_options(k);
	mount_keys_release(k);
	*ret = m;
	return 0;
}

int ctl_parse_mount(const char *spec, struct ctl_mount *ret, struct wh_err **err)
{
	struct mount_keys k = {
		.who = xasprintf("--mount '%s'", spec), .ro = -1, .nocopy = -1, .nonrecursive = -1};
	cleanup_free char *copy = xstrdup(spec);
	char *save = NULL;
	int r = 0;

	for (char *kv = strtok_r(copy, ",", &save); kv && r >= 0; kv = strtok_r(NULL, ",", &save))
		r = mount_kv(&k, kv, err);
	if (r < 0) {
		mount_keys_release(&k);
		return r;
	}
	return mount_finish(&k, ret, err);
}

/* One option of -v's third part. */
static int volume_flag_option(struct mount_keys *k, const char *o, struct wh_err **err)
{
	if (streq(o, "ro") || streq(o, "rw")) {
		k->ro = streq(o, "ro");
	} else if (streq(o, "nocopy")) {
		k->nocopy = true;
	} else if (strv_contains((char *const *)propagations, o)) {
		if (!k->options)
			strv_push(&k->options, "rbind");
		k->have_options = true;
		strv_push(&k->options, o);
	} else {
		return wh_err_setx(
			err, EINVAL,
			"%s: unknown option '%s' (ro, rw, nocopy, [r]private, [r]shared, "
			"[r]slave)",
			k->who, o);
	}
	return 0;
}

int ctl_parse_volume_flag(const char *spec, struct ctl_mount *ret, struct wh_err **err)
{
	struct mount_keys k = {.who = xasprintf("--volume '%s'", spec),
			       .ro = -1,
			       .nocopy = -1,
			       .nonrecursive = -1};
	cleanup_strv char **parts = NULL;
	cleanup_free char *copy = xstrdup(spec);
	char *save = NULL;
	size_t n;
	int r = 0;

	/* strtok would merge empty fields: split by hand. */
	for (char *p = copy, *c; p; p = c ? c + 1 : NULL) {
		c = strchr(p, ':');
		if (c)
			*c = '\0';
		strv_push(&parts, p);
	}
	n = strv_length(parts);
	if (n > 3 || (n >= 2 && !*parts[0])) {
		r = wh_err_setx(err, EINVAL, "%s: expected [SRC:]DST[:OPTIONS]", k.who);
		mount_keys_release(&k);
		return r;
	}
	if (n == 1) {
		k.destination = xstrdup(parts[0]); /* an anonymous volume */
	} else {
		k.source = xstrdup(parts[0]);
		k.destination = xstrdup(parts[1]);
	}
	/* A host path binds, anything else names a volume (docker). */
	k.type = xstrdup(n >= 2 && parts[0][0] == '/' ? "bind" : "volume");
	if (n == 3)
		for (char *o = strtok_r(parts[2], ",", &save); o && r >= 0;
		     o = strtok_r(NULL, ",", &save))
			r = volume_flag_option(&k, o, err);
	if (r < 0) {
		mount_keys_release(&k);
		return r;
	}
	if (k.options) {
		/* propagation given: the base options with it, rw/ro decided below */
		k.ro = k.ro < 0 ? 0 : k.ro;
	}
	return mount_finish(&k, ret, err);
}
void ctl_run_opts_release(struct ctl_run_opts *o)
{
	strv_free(o->env);
	strv_free(o->labels);
	strv_free(o->networks);
	strv_free(o->ports);
	strv_free(o->dns);
	strv_free(o->add_hosts);
	free(o->hostname);
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
	case 'v':
		r = c == 'm' ? ctl_parse_mount(optarg, &m, err)
			     : ctl_parse_volume_flag(optarg, &m, err);
		if (r < 0)
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

/* ---- networking flags ---- */

enum {
	NET_OPT_NET = 0x100,
	NET_OPT_DNS,
	NET_OPT_ADD_HOST,
	NET_OPT_HOSTNAME,
};

static bool ip_valid(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool hostname_valid(const char *h)
{
	size_t label = 0;

	if (!*h || strlen(h) > 253 || *h == '.' || *h == '-')
		return false;
	for (const char *p = h; *p; p++) {
		if (*p == '.' && label == 0)
			return false;
		label = *p == '.' ? 0 : label + 1;
		if (label > 63 || !(isalnum((unsigned char)*p) || strchr("-_.", *p)))
			return false;
	}
	return label > 0;
}

/* -p [IP:]HOSTPORT:CONTAINERPORT[/PROTO] as the JSON object of the wharf/ports label. */
static int parse_publish(const char *s, char **ret, struct wh_err **err)
{
	cleanup_free char *copy = xstrdup(s), *ip = NULL;
	const char *proto = "tcp";
	char *slash = strrchr(copy, '/'), *c1, *c2;
	uint64_t hp, cp;

	if (slash) {
		*slash = 0;
		proto = slash + 1;
	}
	if (!streq(proto, "tcp") && !streq(proto, "udp") && !streq(proto, "sctp"))
		return wh_err_setx(err, EINVAL, "--publish '%s': protocol '%s' (tcp, udp or sctp)",
				   s, proto);
	c2 = strrchr(copy, ':');
	if (!c2)
		return wh_err_setx(err, EINVAL,
				   "--publish '%s': want [IP:]HOSTPORT:CONTAINERPORT[/PROTO]", s);
	*c2 = 0;
	c1 = strrchr(copy, ':');
	if (c1) {
		*c1 = 0;
		ip = xstrdup(copy[0] == '[' ? copy + 1 : copy);
		if (*ip && ip[strlen(ip) - 1] == ']')
			ip[strlen(ip) - 1] = 0;
		if (!ip_valid(ip))
			return wh_err_setx(err, EINVAL, "--publish '%s': '%s' is not an IP address",
					   s, ip);
	}
	if (parse_u64(c1 ? c1 + 1 : copy, &hp) < 0 || hp < 1 || hp > 65535 ||
	    parse_u64(c2 + 1, &cp) < 0 || cp < 1 || cp > 65535)
		return wh_err_setx(err, EINVAL, "--publish '%s': ports must be 1..65535", s);
	if (ip)
		*ret = xasprintf("{\"hostPort\":%llu,\"containerPort\":%llu,\"protocol\":\"%s\","
				 "\"hostIP\":\"%s\"}",
				 (unsigned long long)hp, (unsigned long long)cp, proto, ip);
	else
		*ret = xasprintf("{\"hostPort\":%llu,\"containerPort\":%llu,\"protocol\":\"%s\"}",
				 (unsigned long long)hp, (unsigned long long)cp, proto);
	return 0;
}

static int net_flag(struct ctl_run_opts *o, int c, const char *cmd, struct wh_err **err)
{
	char *port = NULL;
	const char *colon;
	int r;

	switch (c) {
	case NET_OPT_NET:
		if (!*optarg || strchr(optarg, '"') || strchr(optarg, '\\'))
			return wh_err_setx(err, EINVAL, "%s: --net '%s': invalid network name", cmd,
					   optarg);
		strv_push(&o->networks, optarg);
		break;
	case 'p':
		if ((r = parse_publish(optarg, &port, err)) < 0)
			return wh_err_wrap(err, r, "%s", cmd);
		strv_consume(&o->ports, port);
		break;
	case NET_OPT_DNS:
		if (!ip_valid(optarg))
			return wh_err_setx(err, EINVAL, "%s: --dns '%s': not an IP address", cmd,
					   optarg);
		strv_push(&o->dns, optarg);
		break;
	case NET_OPT_ADD_HOST:
		colon = strchr(optarg, ':');
		if (!colon || colon == optarg || !ip_valid(colon + 1))
			return wh_err_setx(err, EINVAL, "%s: --add-host '%s': want NAME:IP", cmd,
					   optarg);
		strv_push(&o->add_hosts, optarg);
		break;
	case NET_OPT_HOSTNAME:
		if (!hostname_valid(optarg))
			return wh_err_setx(err, EINVAL,
					   "%s: --hostname '%s': not a valid host name", cmd,
					   optarg);
		free(o->hostname);
		o->hostname = xstrdup(optarg);
		break;
	default:
		return -ENOENT;
	}
	return 0;
}

/* "key=" and a JSON list of v's strings (raw: v holds JSON texts already) as a label. */
static void push_list_label(char ***labels, const char *key, char *const *v, bool raw)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addf(&sb, "%s=[", key);
	strv_foreach(s, (char **)v) {
		if (s != v)
			strbuf_addc(&sb, ',');
		if (raw) {
			strbuf_adds(&sb, *s);
		} else {
			yajl_gen g = json_gen_new(false);
			char *q;

			json_gen_str(g, *s);
			q = json_gen_finish(g, NULL);
			strbuf_adds(&sb, q);
			free(q);
		}
	}
	strbuf_addc(&sb, ']');
	strv_consume(labels, strbuf_detach(&sb, NULL));
}

/* The wharf/ labels of the networking flags (wharfd does the work at task creation). */
static int net_labels(struct ctl_run_opts *o, const char *cmd, struct wh_err **err)
{
	static const char *const keys[] = {"wharf/networks", "wharf/ports", "wharf/dns",
					   "wharf/add-hosts", "wharf/hostname"};
	bool special;

	strv_foreach(l, o->labels)
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
			if (str_startswith(*l, keys[i]) && (*l)[strlen(keys[i])] == '=')
				return wh_err_setx(err, EINVAL,
						   "%s: --label '%s': the key is reserved", cmd,
						   *l);
	if (!o->networks)
		strv_push(&o->networks, CTL_DEFAULT_NETWORK);
	special = strv_contains(o->networks, "none") || strv_contains(o->networks, "host");
	if (special && strv_length(o->networks) > 1)
		return wh_err_setx(err, EINVAL, "%s: --net none or host excludes other networks",
				   cmd);
	if (special && o->ports)
		return wh_err_setx(err, EINVAL, "%s: --publish needs a network, not --net %s", cmd,
				   o->networks[0]);
	push_list_label(&o->labels, "wharf/networks", o->networks, false);
	if (o->ports)
		push_list_label(&o->labels, "wharf/ports", o->ports, true);
	if (o->dns)
		push_list_label(&o->labels, "wharf/dns", o->dns, false);
	if (o->add_hosts)
		push_list_label(&o->labels, "wharf/add-hosts", o->add_hosts, false);
	if (o->hostname)
		strv_consume(&o->labels, xasprintf("wharf/hostname=%s", o->hostname));
	return 0;
}

/*
 * Two mounts on one destination are refused; the volumes of the mounts are recorded in the
 * labels wharfd reads (a user label of those names is refused: it would lie about the uses).
 */
static int check_mounts(struct ctl_run_opts *o, const char *cmd, struct wh_err **err)
{
	struct strbuf names = STRBUF_INIT, anon = STRBUF_INIT;

	strv_foreach(l, o->labels)
		if (str_startswith(*l, CTL_LABEL_VOLUMES "=") ||
		    str_startswith(*l, CTL_LABEL_VOLUMES_ANONYMOUS "="))
			return wh_err_setx(err, EINVAL, "%s: --label '%s': the key is reserved",
					   cmd, *l);
	for (size_t i = 0; i < o->n_mounts; i++) {
		const struct ctl_mount *m = &o->mounts[i];

		for (size_t j = 0; j < i; j++)
			if (streq(o->mounts[j].destination, m->destination)) {
				strbuf_release(&names);
				strbuf_release(&anon);
				return wh_err_setx(err, EINVAL, "%s: two --mount on '%s'", cmd,
						   m->destination);
			}
		if (!streq(m->type, "volume"))
			continue;
		strbuf_addf(&names, "%s%s", names.len ? "," : "", m->source);
		if (m->anonymous)
			strbuf_addf(&anon, "%s%s", anon.len ? "," : "", m->source);
	}
	if (names.len)
		strv_consume(&o->labels, xasprintf("%s=%s", CTL_LABEL_VOLUMES, names.buf));
	if (anon.len)
		strv_consume(&o->labels, xasprintf("%s=%s", CTL_LABEL_VOLUMES_ANONYMOUS, anon.buf));
	strbuf_release(&names);
	strbuf_release(&anon);
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
		{"volume", required_argument, NULL, 'v'},
		{"runtime", required_argument, NULL, 'R'},
		{"user", required_argument, NULL, 'u'},
		{"cwd", required_argument, NULL, 'w'},
		{"snapshotter", required_argument, NULL, 's'},
		{"label", required_argument, NULL, 'l'},
		{"runtime-binary", required_argument, NULL, 'B'},
		{"runc-binary", required_argument, NULL, 'B'},
		{"net", required_argument, NULL, NET_OPT_NET},
		{"network", required_argument, NULL, NET_OPT_NET},
		{"publish", required_argument, NULL, 'p'},
		{"dns", required_argument, NULL, NET_OPT_DNS},
		{"add-host", required_argument, NULL, NET_OPT_ADD_HOST},
		{"hostname", required_argument, NULL, NET_OPT_HOSTNAME},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = mode == CTL_RUN_MODE_RUN ? "run" : "containers create";
	struct ctl_run_opts o = {.runtime = CTL_DEFAULT_RUNTIME};
	int c, r = 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+tde:m:u:w:l:p:v:", opts, NULL)) != -1) {
		if ((c == 'r' || c == 'd') && mode == CTL_RUN_MODE_CREATE) {
			r = wh_err_setx(err, EINVAL, "%s: --%s is a flag of run", cmd,
					c == 'r' ? "rm" : "detach");
			break;
		}
		r = run_flag(&o, c, cmd, err);
		if (r == -ENOENT)
			r = net_flag(&o, c, cmd, err);
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
	if (r >= 0)
		r = check_mounts(&o, cmd, err);
	if (r >= 0)
		r = net_labels(&o, cmd, err);
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

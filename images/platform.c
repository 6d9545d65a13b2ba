/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Platforms: parsing "os/arch/variant" strings, normalizing architecture aliases the way
 * containerd's platforms package does, this host's platform, and matching with a preference
 * for exact variants.
 */
#include <errno.h>

#include <sys/utsname.h>

#include "common/common.h"
#include "images/images.h"

struct alias {
	const char *in;
	const char *arch;
	const char *variant; /* forced variant, or NULL to keep the given one */
};

static const struct alias arch_aliases[] = {
	{"x86_64", "amd64", NULL},    {"x86-64", "amd64", NULL},    {"amd64", "amd64", NULL},
	{"i386", "386", NULL},	      {"i686", "386", NULL},	    {"386", "386", NULL},
	{"aarch64", "arm64", NULL},   {"arm64", "arm64", NULL},	    {"armhf", "arm", "v7"},
	{"armel", "arm", "v6"},	      {"arm", "arm", NULL},	    {"ppc64le", "ppc64le", NULL},
	{"s390x", "s390x", NULL},     {"riscv64", "riscv64", NULL}, {"mips64le", "mips64le", NULL},
	{"loong64", "loong64", NULL},
};

static char *lower(const char *s)
{
	char *r = xstrdup(s);
	for (char *p = r; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return r;
}

/* Normalizes arch and variant in place (both owned strings; variant may be NULL). */
static void normalize(struct img_platform *p)
{
	if (p->os) {
		char *o = lower(p->os);
		free(p->os);
		p->os = o;
		if (streq(p->os, "macos")) {
			free(p->os);
			p->os = xstrdup("darwin");
		}
	}
	if (!p->arch)
		return;
	char *a = lower(p->arch);
	for (size_t i = 0; i < ARRAY_SIZE(arch_aliases); i++) {
		if (!streq(a, arch_aliases[i].in))
			continue;
		free(a);
		a = xstrdup(arch_aliases[i].arch);
		if (arch_aliases[i].variant) {
			free(p->variant);
			p->variant = xstrdup(arch_aliases[i].variant);
		}
		break;
	}
	free(p->arch);
	p->arch = a;
	if (p->variant) {
		char *v = lower(p->variant);
		free(p->variant);
		p->variant = v;
	}
	/* arm64 is v8 unless said otherwise; amd64's variants (v2, v3) are kept as given. */
	if (streq(p->arch, "arm64") && (!p->variant || streq(p->variant, "8"))) {
		free(p->variant);
		p->variant = xstrdup("v8");
	}
	if (streq(p->arch, "arm") && p->variant && p->variant[0] >= '5' && p->variant[0] <= '8' &&
	    !p->variant[1]) {
		char *v = xasprintf("v%s", p->variant);
		free(p->variant);
		p->variant = v;
	}
	if (p->variant && !*p->variant) {
		free(p->variant);
		p->variant = NULL;
	}
}

static bool part_is_valid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

static bool is_known_os(const char *s)
{
	static const char *const oses[] = {"linux",	"windows", "darwin",  "freebsd",
					   "netbsd",	"openbsd", "solaris", "illumos",
					   "android",	"ios",	   "plan9",   "aix",
					   "dragonfly", "js",	   "wasip1",  "macos"};
	for (size_t i = 0; i < ARRAY_SIZE(oses); i++)
		if (strcasecmp(s, oses[i]) == 0)
			return true;
	return false;
}

int img_platform_parse(const char *s, struct img_platform *ret, struct wh_err **err)
{
	cleanup_strv char **parts = NULL;
	const char *p = s;
	for (;;) {
		const char *slash = strchr(p, '/');
		strv_consume(&parts, slash ? xstrndup(p, (size_t)(slash - p)) : xstrdup(p));
		if (!slash)
			break;
		p = slash + 1;
	}
	size_t n = strv_length(parts);
	if (n > 3)
		return wh_err_setx(err, EINVAL,
				   "invalid platform '%s': too many parts (want os/arch/variant)",
				   s);
	strv_foreach(q, parts) {
		if (!part_is_valid(*q))
			return wh_err_setx(err, EINVAL, "invalid platform '%s': invalid part '%s'",
					   s, *q);
	}
	struct img_platform r = {0};
	if (n == 1) {
		/* A lone word is an OS when it names one, else an architecture for linux. */
		if (is_known_os(parts[0])) {
			struct img_platform host;
			img_platform_host(&host);
			r.os = xstrdup(parts[0]);
			r.arch = xstrdup(host.arch);
			r.variant = host.variant ? xstrdup(host.variant) : NULL;
			img_platform_release(&host);
		} else {
			r.os = xstrdup("linux");
			r.arch = xstrdup(parts[0]);
		}
	} else {
		r.os = xstrdup(parts[0]);
		r.arch = xstrdup(parts[1]);
		r.variant = n == 3 ? xstrdup(parts[2]) : NULL;
	}
	if (!is_known_os(r.os)) {
		int rc =
			wh_err_setx(err, EINVAL, "invalid platform '%s': unknown os '%s'", s, r.os);
		img_platform_release(&r);
		return rc;
	}
	normalize(&r);
	*ret = r;
	return 0;
}

static char *host_arm_variant(void)
{
	cleanup_free char *cpuinfo = NULL;
	size_t len = 0;
	if (read_file("/proc/cpuinfo", 1 << 20, &cpuinfo, &len) < 0)
		return NULL;
	const char *p = strstr(cpuinfo, "CPU architecture");
	if (!p)
		return NULL;
	p = strchr(p, ':');
	if (!p)
		return NULL;
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p >= '5' && *p <= '8')
		return xasprintf("v%c", *p);
	return NULL;
}

void img_platform_host(struct img_platform *ret)
{
	struct utsname u;
	struct img_platform p = {.os = xstrdup("linux")};
	if (uname(&u) < 0)
		p.arch = xstrdup("amd64");
	else
		p.arch = xstrdup(u.machine);
	normalize(&p);
	if (streq(p.arch, "arm") && !p.variant)
		p.variant = host_arm_variant();
	*ret = p;
}

void img_platform_release(struct img_platform *p)
{
	if (!p)
		return;
	free(p->os);
	free(p->arch);
	free(p->variant);
	free(p->os_version);
	*p = (struct img_platform){0};
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void img_platform_copy(struct img_platform *dst, const struct img_platform *src)
{
	dst->os = dup_or_null(src->os);
	dst->arch = dup_or_null(src->arch);
	dst->variant = dup_or_null(src->variant);
	dst->os_version = dup_or_null(src->os_version);
}

char *img_platform_string(const struct img_platform *p)
{
	return xasprintf("%s/%s%s%s", p->os ? p->os : "unknown", p->arch ? p->arch : "unknown",
			 p->variant ? "/" : "", p->variant ? p->variant : "");
}

int img_platform_match(const struct img_platform *want, const struct img_platform *have_in)
{
	if (!want->os || !want->arch || !have_in->os || !have_in->arch)
		return 0;
	struct img_platform have = {0};
	img_platform_copy(&have, have_in);
	normalize(&have);
	int score = 0;
	if (!streq(want->os, have.os) || !streq(want->arch, have.arch))
		goto out;
	if (!want->variant || !have.variant) {
		/* Unspecified on either side: acceptable, below an exact variant. */
		score = want->variant == have.variant ? 100 : 50;
	} else if (streq(want->variant, have.variant)) {
		score = 100;
	} else if (streq(want->arch, "arm") && want->variant[0] == 'v' && have.variant[0] == 'v' &&
		   have.variant[1] < want->variant[1] && !want->variant[2] && !have.variant[2]) {
		/* An older arm variant runs on a newer CPU (v6 on v7); the newest one wins. */
		score = 10 + (have.variant[1] - '0');
	}
out:
	img_platform_release(&have);
	return score;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of wharfctl's --mount parser (Docker/nerdctl syntax: bind, tmpfs, volume), sizes,
 * volume names, the labels `run` records for volumes, and the volume mounts in the spec.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "ctl/ctl.h"

#define ARGV(...) ((char **)(const char *[]){__VA_ARGS__, NULL})
#define ARGC(v) ((int)strv_length(v))

/* The options of m joined with ',' (for compact comparisons). */
static char *opts(const struct ctl_mount *m)
{
	struct strbuf sb = STRBUF_INIT;

	strv_foreach(o, m->options)
		strbuf_addf(&sb, "%s%s", sb.len ? "," : "", *o);
	return strbuf_detach(&sb, NULL);
}

static void expect_mount(const char *spec, const char *type, const char *src, const char *dst,
			 const char *options)
{
	struct ctl_mount m;
	struct wh_err *e = NULL;

	if (ctl_parse_mount(spec, &m, &e) < 0)
		fail_msg("'%s': %s", spec, wh_err_msg(e));
	assert_string_equal(m.type, type);
	if (src)
		assert_string_equal(m.source, src);
	assert_string_equal(m.destination, dst);
	cleanup_free char *o = opts(&m);
	if (!streq(o, options))
		fail_msg("'%s': options '%s', expected '%s'", spec, o, options);
	ctl_mount_release(&m);
}

static void expect_error(const char *spec, const char *msg)
{
	struct ctl_mount m = {0};
	struct wh_err *e = NULL;

	assert_int_equal(ctl_parse_mount(spec, &m, &e), -EINVAL);
	assert_non_null(e);
	if (!strstr(e->msg, msg))
		fail_msg("'%s': error '%s' lacks '%s'", spec, e->msg, msg);
	/* The spec is named so the user can find which of several --mount is wrong. */
	if (!strstr(e->msg, spec))
		fail_msg("'%s': error '%s' does not name the spec", spec, e->msg);
	assert_null(m.type);
	wh_err_free(e);
}

static void test_bind(void **state)
{
	(void)state;
	expect_mount("type=bind,src=/a,dst=/b", "bind", "/a", "/b", "rbind,rw");
	expect_mount("type=bind,source=/a,target=/b,ro", "bind", "/a", "/b", "rbind,ro,rro");
	expect_mount("type=bind,src=/a,destination=/b,readonly", "bind", "/a", "/b",
		     "rbind,ro,rro");
	expect_mount("type=bind,src=/a,dst=/b,readonly=true", "bind", "/a", "/b", "rbind,ro,rro");
	expect_mount("type=bind,src=/a,dst=/b,ro=1", "bind", "/a", "/b", "rbind,ro,rro");
	expect_mount("type=bind,src=/a,dst=/b,ro=false", "bind", "/a", "/b", "rbind,rw");
	expect_mount("type=bind,src=/a,dst=/b,readonly=0", "bind", "/a", "/b", "rbind,rw");
	/* ctr's default type and explicit options, taken literally. */
	expect_mount("src=/a,dst=/b", "bind", "/a", "/b", "rbind,rw");
	expect_mount("src=/a,dst=/b,options=bind:ro", "bind", "/a", "/b", "bind,ro");
	/* ro with explicit options replaces their rw/ro. */
	expect_mount("src=/a,dst=/b,options=rbind:rw:nosuid,ro", "bind", "/a", "/b",
		     "rbind,nosuid,ro,rro");
	/* docker's bind-propagation and bind-nonrecursive. */
	expect_mount("type=bind,src=/a,dst=/b,bind-propagation=rslave", "bind", "/a", "/b",
		     "rbind,rslave,rw");
	expect_mount("type=bind,src=/a,dst=/b,bind-nonrecursive,ro", "bind", "/a", "/b", "bind,ro");
	expect_mount("type=bind,src=/a,dst=/b,bind-nonrecursive=false", "bind", "/a", "/b",
		     "rbind,rw");
	/* The last of a repeated key wins (docker). */
	expect_mount("type=bind,src=/a,src=/c,dst=/b,dst=/d", "bind", "/c", "/d", "rbind,rw");
}

static void test_tmpfs(void **state)
{
	(void)state;
	expect_mount("type=tmpfs,dst=/t", "tmpfs", "tmpfs", "/t", "nosuid,nodev,noexec,rw");
	expect_mount("type=tmpfs,dst=/t,size=64m", "tmpfs", "tmpfs", "/t",
		     "nosuid,nodev,noexec,rw,size=67108864");
	expect_mount("type=tmpfs,dst=/t,tmpfs-size=1g,tmpfs-mode=1777", "tmpfs", "tmpfs", "/t",
		     "nosuid,nodev,noexec,rw,size=1073741824,mode=1777");
	expect_mount("type=tmpfs,dst=/t,ro,size=4096", "tmpfs", "tmpfs", "/t",
		     "nosuid,nodev,noexec,ro,size=4096");
	expect_mount("type=tmpfs,dst=/t,options=exec", "tmpfs", "tmpfs", "/t", "exec");
	expect_mount("type=tmpfs,dst=/t,options=exec,size=1k", "tmpfs", "tmpfs", "/t",
		     "exec,size=1024");
}

static void test_volume(void **state)
{
	struct ctl_mount m;

	(void)state;
	expect_mount("type=volume,src=data,dst=/data", "volume", "data", "/data", "rbind,rw");
	expect_mount("type=volume,src=d.1_x-y,dst=/d,ro", "volume", "d.1_x-y", "/d",
		     "rbind,ro,rro");
	expect_mount("type=volume,src=data,dst=/data,volume-nocopy", "volume", "data", "/data",
		     "rbind,rw,nocopy");
	expect_mount("type=volume,src=data,dst=/data,volume-nocopy=false", "volume", "data",
		     "/data", "rbind,rw");
	/* No src: a generated 64-hex name, anonymous. */
	assert_int_equal(ctl_parse_mount("type=volume,dst=/anon", &m, NULL), 0);
	assert_true(m.anonymous);
	assert_int_equal(strlen(m.source), 64);
	assert_int_equal(strspn(m.source, "0123456789abcdef"), 64);
	assert_true(ctl_volume_name_valid(m.source));
	ctl_mount_release(&m);
	assert_int_equal(ctl_parse_mount("type=volume,src=,dst=/anon", &m, NULL), 0);
	assert_true(m.anonymous);
	ctl_mount_release(&m);
	assert_int_equal(ctl_parse_mount("type=volume,src=named,dst=/n", &m, NULL), 0);
	assert_false(m.anonymous);
	ctl_mount_release(&m);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("type=bind,src=/a", "missing dst");
	expect_error("type=tmpfs,dst=", "missing dst");
	expect_error("type=tmpfs", "missing dst");
	expect_error("type=tmpfs,dst=t", "dst must be an absolute path, not 't'");
	expect_error("type=volume,src=v,dst=../x", "dst must be an absolute path, not '../x'");
	expect_error("type=tmpfs,dst=/", "dst cannot be '/'");
	expect_error("type=bind,dst=/x", "a bind mount needs src");
	expect_error("type=bind,src=,dst=/x", "a bind mount needs src");
	expect_error("type=bind,src=rel,dst=/x", "bind src must be an absolute path, not 'rel'");
	expect_error("type=bind,src=/a,dst=/b,colour=red", "unknown key 'colour'");
	expect_error("type=bind,src=/a,dst=/b,junk", "'junk' is not key=value");
	expect_error("type=nfs,dst=/x", "unknown type 'nfs' (bind, tmpfs, volume)");
	expect_error("type=,dst=/x", "unknown type ''");
	expect_error("type=bind,src=/a,dst=/b,size=1m", "size is only valid with type=tmpfs");
	expect_error("type=volume,src=v,dst=/b,mode=700", "mode is only valid with type=tmpfs");
	expect_error("type=tmpfs,dst=/b,size=lots", "size 'lots' is not a size");
	expect_error("type=tmpfs,dst=/b,size=", "size '' is not a size");
	expect_error("type=tmpfs,dst=/b,size=1.5g", "size '1.5g' is not a size");
	expect_error("type=tmpfs,dst=/b,size=20000000t", "size '20000000t' is not a size");
	expect_error("type=tmpfs,dst=/b,mode=rwx", "mode 'rwx' is not an octal mode");
	expect_error("type=tmpfs,dst=/b,mode=17777", "mode '17777' is not an octal mode");
	expect_error("type=tmpfs,src=x,dst=/b", "a tmpfs mount takes no src");
	expect_error("type=tmpfs,dst=/b,ro=yes", "ro='yes': expected true or false");
	expect_error("type=tmpfs,dst=/b,volume-nocopy", "only valid with type=volume");
	expect_error("type=bind,src=/a,dst=/b,bind-propagation=up",
		     "bind-propagation 'up' is not one of [r]private, [r]shared, [r]slave");
	expect_error("type=volume,src=v,dst=/b,bind-propagation=shared",
		     "bind-propagation is only valid with type=bind");
	expect_error("type=tmpfs,dst=/b,bind-nonrecursive",
		     "bind-nonrecursive is only valid with type=bind");
	expect_error("type=volume,src=_x,dst=/b", "volume name '_x' is invalid");
	expect_error("type=volume,src=a/b,dst=/b", "volume name 'a/b' is invalid");
	expect_error("type=volume,src=..,dst=/b", "volume name '..' is invalid");
}

static void expect_vflag(const char *spec, const char *type, const char *src, const char *dst,
			 const char *options)
{
	struct ctl_mount m;
	struct wh_err *e = NULL;

	if (ctl_parse_volume_flag(spec, &m, &e) < 0)
		fail_msg("-v '%s': %s", spec, wh_err_msg(e));
	assert_string_equal(m.type, type);
	if (src)
		assert_string_equal(m.source, src);
	else
		assert_true(m.anonymous);
	assert_string_equal(m.destination, dst);
	cleanup_free char *o = opts(&m);
	if (!streq(o, options))
		fail_msg("-v '%s': options '%s', expected '%s'", spec, o, options);
	ctl_mount_release(&m);
}

static void expect_vflag_error(const char *spec, const char *msg)
{
	struct ctl_mount m = {0};
	struct wh_err *e = NULL;

	assert_int_equal(ctl_parse_volume_flag(spec, &m, &e), -EINVAL);
	if (!strstr(e->msg, msg) || !strstr(e->msg, "--volume '"))
		fail_msg("-v '%s': error '%s' lacks '%s'", spec, e->msg, msg);
	wh_err_free(e);
}

/* docker's -v: a host path binds, a name is a volume, a lone path an anonymous volume. */
static void test_volume_flag(void **state)
{
	(void)state;
	expect_vflag("/host:/c", "bind", "/host", "/c", "rbind,rw");
	expect_vflag("/host:/c:ro", "bind", "/host", "/c", "rbind,ro,rro");
	expect_vflag("/host:/c:rw,rslave", "bind", "/host", "/c", "rbind,rslave,rw");
	expect_vflag("data:/c", "volume", "data", "/c", "rbind,rw");
	expect_vflag("data:/c:ro,nocopy", "volume", "data", "/c", "rbind,ro,rro,nocopy");
	expect_vflag("/c", "volume", NULL, "/c", "rbind,rw");
	expect_vflag_error("/host:/c:z", "unknown option 'z'");
	expect_vflag_error("./rel:/c", "volume name './rel' is invalid");
	expect_vflag_error(":/c", "expected [SRC:]DST[:OPTIONS]");
	expect_vflag_error("a:/b:ro:x", "expected [SRC:]DST[:OPTIONS]");
	expect_vflag_error("data:rel", "dst must be an absolute path, not 'rel'");
	expect_vflag_error("rel", "dst must be an absolute path, not 'rel'");
	expect_vflag_error("/h:", "missing dst");
	expect_vflag_error("/h:/c:nocopy", "volume-nocopy is only valid with type=volume");
}

static void test_size(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(ctl_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(ctl_parse_size("512k", &v), 0);
	assert_int_equal(v, 512 * 1024);
	assert_int_equal(ctl_parse_size("64M", &v), 0);
	assert_int_equal(v, 64ULL << 20);
	assert_int_equal(ctl_parse_size("2g", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(ctl_parse_size("1t", &v), 0);
	assert_int_equal(v, 1ULL << 40);
	assert_int_equal(ctl_parse_size("2MiB", &v), 0);
	assert_int_equal(v, 2ULL << 20);
	assert_int_equal(ctl_parse_size("3mb", &v), 0);
	assert_int_equal(v, 3ULL << 20);
	assert_int_equal(ctl_parse_size("100b", &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(ctl_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ctl_parse_size("", &v), -EINVAL);
	assert_int_equal(ctl_parse_size("k", &v), -EINVAL);
	assert_int_equal(ctl_parse_size("-1", &v), -EINVAL);
	assert_int_equal(ctl_parse_size("1x", &v), -EINVAL);
	assert_int_equal(ctl_parse_size("1kk", &v), -EINVAL);
	assert_int_equal(ctl_parse_size("1 k", &v), -EINVAL);
	assert_int_equal(ctl_parse_size("1biB", &v), -EINVAL);
	assert_int_equal(ctl_parse_size("18446744073709551615", &v), 0);
	assert_int_equal(ctl_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(ctl_parse_size("16777216t", &v), -ERANGE);
	assert_int_equal(ctl_parse_size("16777215t", &v), 0);
}

static void test_volume_names(void **state)
{
	char longest[256], too_long[257];

	(void)state;
	memset(longest, 'a', 255);
	longest[255] = 0;
	memset(too_long, 'a', 256);
	too_long[256] = 0;
	assert_true(ctl_volume_name_valid("a"));
	assert_true(ctl_volume_name_valid("0"));
	assert_true(ctl_volume_name_valid("my_vol.1-x"));
	assert_true(ctl_volume_name_valid(longest));
	assert_false(ctl_volume_name_valid(too_long));
	assert_false(ctl_volume_name_valid(""));
	assert_false(ctl_volume_name_valid(NULL));
	assert_false(ctl_volume_name_valid(".a"));
	assert_false(ctl_volume_name_valid("-a"));
	assert_false(ctl_volume_name_valid("a b"));
	assert_false(ctl_volume_name_valid("a,b"));
	assert_false(ctl_volume_name_valid("a=b"));
	assert_false(ctl_volume_name_valid("é"));
}

static const char *label(char **labels, const char *key)
{
	size_t n = strlen(key);

	strv_foreach(l, labels)
		if (strncmp(*l, key, n) == 0 && (*l)[n] == '=')
			return *l + n + 1;
	return NULL;
}

static void test_run_labels(void **state)
{
	char **argv = ARGV("run", "--mount", "type=volume,src=a,dst=/a", "--mount",
			   "type=tmpfs,dst=/t", "--mount", "type=volume,dst=/anon", "--mount",
			   "type=volume,src=b,dst=/b,ro", "--label", "k=v", "img", "id");
	char **none = ARGV("run", "--mount", "type=tmpfs,dst=/t", "img", "id");
	char **dup = ARGV("run", "--mount", "type=tmpfs,dst=/t", "--mount",
			  "type=volume,src=x,dst=/t", "img", "id");
	char **reserved = ARGV("run", "--label", "wharf/volumes.anonymous=x", "img", "id");
	struct ctl_run_opts o;
	struct wh_err *e = NULL;
	const char *uses, *anon;

	(void)state;
	assert_int_equal(ctl_parse_run(ARGC(argv), argv, CTL_RUN_MODE_RUN, &o, NULL), 0);
	assert_int_equal(o.n_mounts, 4);
	uses = label(o.labels, CTL_LABEL_VOLUMES);
	anon = label(o.labels, CTL_LABEL_VOLUMES_ANONYMOUS);
	assert_non_null(uses);
	assert_non_null(anon);
	cleanup_free char *want = xasprintf("a,%s,b", o.mounts[2].source);
	assert_string_equal(uses, want);
	assert_string_equal(anon, o.mounts[2].source);
	assert_string_equal(label(o.labels, "k"), "v");
	ctl_run_opts_release(&o);

	assert_int_equal(ctl_parse_run(ARGC(none), none, CTL_RUN_MODE_RUN, &o, NULL), 0);
	assert_null(label(o.labels, CTL_LABEL_VOLUMES));
	ctl_run_opts_release(&o);

	assert_int_equal(ctl_parse_run(ARGC(dup), dup, CTL_RUN_MODE_CREATE, &o, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "two --mount on '/t'"));
	e = wh_err_free(e);
	assert_int_equal(ctl_parse_run(ARGC(reserved), reserved, CTL_RUN_MODE_RUN, &o, &e),
			 -EINVAL);
	assert_non_null(strstr(e->msg, "the key is reserved"));
	e = wh_err_free(e);
}

/* The spec keeps a volume as a "volume" mount for wharfd to resolve; a tmpfs replaces /run. */
static void test_spec(void **state)
{
	struct ctl_mount m[3];
	struct ctl_spec_opts o = {
		.id = "c1", .args = (char *const[]){(char *)"true", NULL}, .no_seccomp = true};
	char *json = NULL;
	size_t len;
	yajl_val v, mounts;
	size_t found = 0;

	(void)state;
	assert_int_equal(ctl_parse_mount("type=volume,src=data,dst=/data,ro", &m[0], NULL), 0);
	assert_int_equal(ctl_parse_mount("type=tmpfs,dst=/run,size=1m", &m[1], NULL), 0);
	assert_int_equal(ctl_parse_mount("type=bind,src=/h,dst=/h", &m[2], NULL), 0);
	o.mounts = m;
	o.n_mounts = 3;
	assert_int_equal(ctl_spec_generate(&o, NULL, &json, &len, NULL), 0);
	assert_int_equal(json_parse(json, len, &v, NULL), 0);
	mounts = json_get(v, "mounts");
	assert_true(YAJL_IS_ARRAY(mounts));
	for (size_t i = 0; i < mounts->u.array.len; i++) {
		yajl_val x = mounts->u.array.values[i];
		const char *dst = YAJL_GET_STRING(json_get(x, "destination"));
		const char *type = YAJL_GET_STRING(json_get(x, "type"));
		const char *src = YAJL_GET_STRING(json_get(x, "source"));

		if (streq(dst, "/data")) {
			assert_string_equal(type, "volume");
			assert_string_equal(src, "data");
			found++;
		} else if (streq(dst, "/run")) {
			assert_string_equal(type, "tmpfs");
			assert_string_equal(
				YAJL_GET_STRING(json_get(x, "options")->u.array.values[4]),
				"size=1048576");
			found++;
		} else if (streq(dst, "/h")) {
			assert_string_equal(type, "bind");
			found++;
		}
	}
	assert_int_equal(found, 3);
	yajl_tree_free(v);
	free(json);
	for (size_t i = 0; i < 3; i++)
		ctl_mount_release(&m[i]);
}

/*
 * Specs assembled at random from the grammar's pieces (a fixed seed: the run is the same every
 * time): every result is either a mount that satisfies the invariants or one -EINVAL message
 * naming the flag and the spec; nothing crashes or leaks (ASan).
 */
static void test_random_specs(void **state)
{
	static const char *const pieces[] = {
		"type=", "bind", "tmpfs",  "volume",  "src=",	 "dst=",	  "/a",	  "/",
		"rel",	 ",",	 "=",	   "ro",      "rw",	 "readonly",	  "true", "false",
		"size=", "64m",	 "1x",	   "mode=",   "1777",	 "options=",	  ":",	  "rbind",
		"name",	 "_bad", "nocopy", "target=", "source=", "volume-nocopy", "",
	};
	uint64_t seed = 42;
	int good = 0, bad = 0;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		struct strbuf sb = STRBUF_INIT;
		struct ctl_mount m = {0};
		struct wh_err *e = NULL;
		int n, r;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		n = (int)(seed >> 60) + 1;
		for (int j = 0; j < n; j++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			strbuf_adds(&sb, pieces[(seed >> 33) % ARRAY_SIZE(pieces)]);
		}
		r = (seed >> 20) & 1 ? ctl_parse_mount(sb.buf, &m, &e)
				     : ctl_parse_volume_flag(sb.buf, &m, &e);
		if (r == 0) {
			assert_null(e);
			assert_true(streq(m.type, "bind") || streq(m.type, "tmpfs") ||
				    streq(m.type, "volume"));
			assert_true(m.destination[0] == '/' && m.destination[1] != '\0');
			assert_non_null(m.source);
			assert_non_null(m.options);
			if (streq(m.type, "volume"))
				assert_true(ctl_volume_name_valid(m.source));
			ctl_mount_release(&m);
			good++;
		} else {
			assert_int_equal(r, -EINVAL);
			assert_non_null(e);
			assert_true(str_startswith(e->msg, "--mount '") ||
				    str_startswith(e->msg, "--volume '"));
			assert_null(strchr(e->msg, '\n'));
			wh_err_free(e);
			bad++;
		}
		strbuf_release(&sb);
	}
	/* Both outcomes were exercised, not one of them only. */
	print_message("random specs: %d parsed, %d refused\n", good, bad);
	assert_true(good > 100 && bad > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bind),	    cmocka_unit_test(test_tmpfs),
		cmocka_unit_test(test_volume),	    cmocka_unit_test(test_errors),
		cmocka_unit_test(test_size),	    cmocka_unit_test(test_volume_names),
		cmocka_unit_test(test_run_labels),  cmocka_unit_test(test_spec),
		cmocka_unit_test(test_volume_flag), cmocka_unit_test(test_random_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

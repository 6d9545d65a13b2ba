/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of images/ references: docker-style normalization, accessors and clear errors for
 * invalid references. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "images/images.h"

struct norm {
	const char *in, *domain, *path, *tag, *digest, *full;
};

#define D1 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct norm norms[] = {
	{"busybox", "docker.io", "library/busybox", "latest", NULL,
	 "docker.io/library/busybox:latest"},
	{"busybox:1.36", "docker.io", "library/busybox", "1.36", NULL,
	 "docker.io/library/busybox:1.36"},
	{"library/busybox", "docker.io", "library/busybox", "latest", NULL, NULL},
	{"docker.io/busybox", "docker.io", "library/busybox", "latest", NULL, NULL},
	{"index.docker.io/user/app:v1", "docker.io", "user/app", "v1", NULL, NULL},
	{"user/app", "docker.io", "user/app", "latest", NULL, NULL},
	{"localhost/app", "localhost", "app", "latest", NULL, NULL},
	{"localhost:5000/a/b/c:t", "localhost:5000", "a/b/c", "t", NULL, NULL},
	{"127.0.0.1:5000/test/busybox:1", "127.0.0.1:5000", "test/busybox", "1", NULL,
	 "127.0.0.1:5000/test/busybox:1"},
	{"[::1]:5000/x", "[::1]:5000", "x", "latest", NULL, NULL},
	{"quay.io/a/b@" D1, "quay.io", "a/b", NULL, D1, "quay.io/a/b@" D1},
	{"quay.io/a/b:tag@" D1, "quay.io", "a/b", "tag", D1, "quay.io/a/b:tag@" D1},
	{"busybox@" D1, "docker.io", "library/busybox", NULL, D1, NULL},
	{"a.b-c/d__e.f_g--h:T_a-g.1", "a.b-c", "d__e.f_g--h", "T_a-g.1", NULL, NULL},
	{"Example.COM/x", "Example.COM", "x", "latest", NULL, NULL},
	{"localhost:5000", "docker.io", "library/localhost", "5000", NULL, NULL},
};

static void test_normalize(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(norms); i++) {
		const struct norm *n = &norms[i];
		struct img_ref r;
		cleanup_err struct wh_err *err = NULL;
		int rc = img_ref_parse(n->in, &r, &err);
		if (rc < 0)
			fail_msg("%s: %s", n->in, wh_err_msg(err));
		assert_string_equal(r.domain, n->domain);
		assert_string_equal(r.path, n->path);
		if (n->tag)
			assert_string_equal(r.tag, n->tag);
		else
			assert_null(r.tag);
		if (n->digest)
			assert_string_equal(r.digest, n->digest);
		else
			assert_null(r.digest);
		assert_string_equal(img_ref_object(&r), n->digest ? n->digest : n->tag);
		cleanup_free char *full = img_ref_string(&r);
		if (n->full)
			assert_string_equal(full, n->full);
		/* The canonical form parses back to itself. */
		struct img_ref again;
		assert_int_equal(img_ref_parse(full, &again, NULL), 0);
		cleanup_free char *full2 = img_ref_string(&again);
		assert_string_equal(full, full2);
		cleanup_free char *name = img_ref_name(&r);
		cleanup_free char *want = xasprintf("%s/%s", n->domain, n->path);
		assert_string_equal(name, want);
		img_ref_release(&again);
		img_ref_release(&r);
	}
}

struct bad {
	const char *in, *why;
};

static const struct bad bads[] = {
	{"", "empty"},
	{"Busybox", "repository name must be lowercase"},
	{"docker.io/Library/busybox", "repository name must be lowercase"},
	{"busybox:", "invalid tag ''"},
	{"busybox:-x", "invalid tag '-x'"},
	{"busybox:a/b", "invalid domain 'busybox:a'"},
	{"a_b.io/x", "invalid domain 'a_b.io'"},
	{"busybox@sha256:abc", "invalid digest 'sha256:abc'"},
	{"busybox@sha512:" D1, "unsupported digest algorithm 'sha512'"},
	{"busybox@", "invalid digest ''"},
	{"@" D1, "missing repository name"},
	{":tag", "missing repository name"},
	{"a//b", "empty path component"},
	{"a/b/", "empty path component"},
	{"host:port/x", "invalid domain 'host:port'"},
	{"-host.io/x", "invalid domain '-host.io'"},
	{"host-.io/x", "invalid domain 'host-.io'"},
	{"host.io:/x", "invalid domain 'host.io:'"},
	{"[zz]:5/x", "invalid domain '[zz]:5'"},
	{"a b", "whitespace"},
	{"a\tb", "whitespace"},
	{"caf\xc3\xa9", "non-ASCII"},
	{"a..b", "invalid path component 'a..b'"},
	{"_a", "invalid path component '_a'"},
	{"a___b", "invalid path component 'a___b'"},
	{"a.", "invalid path component 'a.'"},
};

static void test_invalid(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
		struct img_ref r = {0};
		cleanup_err struct wh_err *err = NULL;
		int rc = img_ref_parse(bads[i].in, &r, &err);
		if (rc >= 0)
			fail_msg("'%s' parsed", bads[i].in);
		assert_int_equal(rc, -EINVAL);
		const char *m = wh_err_msg(err);
		if (!strstr(m, bads[i].why) || !str_startswith(m, "invalid reference '"))
			fail_msg("'%s': message '%s' lacks '%s'", bads[i].in, m, bads[i].why);
		assert_null(r.domain);
	}
}

static void test_long_name(void **state)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 300; i++)
		strbuf_addc(&sb, 'a');
	struct img_ref r;
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(img_ref_parse(sb.buf, &r, &err), -EINVAL);
	assert_non_null(strstr(wh_err_msg(err), "longer than 255"));
	strbuf_setlen(&sb, 5);
	strbuf_adds(&sb, ":");
	for (int i = 0; i < 129; i++)
		strbuf_addc(&sb, 't');
	cleanup_err struct wh_err *err2 = NULL;
	assert_int_equal(img_ref_parse(sb.buf, &r, &err2), -EINVAL);
	assert_non_null(strstr(wh_err_msg(err2), "invalid tag"));
}

/* The bound holds for the normalized name, so that the canonical form parses back. */
static void test_long_normalized(void **state)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 250; i++)
		strbuf_addc(&sb, 'a');
	struct img_ref r;
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(img_ref_parse(sb.buf, &r, &err), -EINVAL);
	assert_non_null(strstr(wh_err_msg(err), "longer than 255"));
	strbuf_setlen(&sb, 255 - strlen("docker.io/library/"));
	assert_int_equal(img_ref_parse(sb.buf, &r, NULL), 0);
	cleanup_free char *full = img_ref_string(&r);
	struct img_ref again;
	assert_int_equal(img_ref_parse(full, &again, NULL), 0);
	img_ref_release(&again);
	img_ref_release(&r);
}

static void test_tags(void **state)
{
	assert_true(img_tag_is_valid("latest"));
	assert_true(img_tag_is_valid("_x"));
	assert_true(img_tag_is_valid("1.0-rc.1_a"));
	assert_false(img_tag_is_valid(""));
	assert_false(img_tag_is_valid(".x"));
	assert_false(img_tag_is_valid("a:b"));
	assert_false(img_tag_is_valid("a/b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize), cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_long_name), cmocka_unit_test(test_long_normalized),
		cmocka_unit_test(test_tags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

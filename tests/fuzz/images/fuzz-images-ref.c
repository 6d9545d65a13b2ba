/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: image references, platforms and tags as users type them (wharfctl, the API).
 * What parses must print back to a string that parses to the same thing (normalization is
 * idempotent), and a parsed platform must satisfy itself.
 */
#include <stdint.h>

#include "images/images.h"
#include "tests/fuzz/images/fuzz-common.h"

static bool str_eq_null(const char *a, const char *b)
{
	return (!a && !b) || (a && b && streq(a, b));
}

static void check_ref(const char *s)
{
	struct img_ref r, r2;
	struct wh_err *err = NULL;

	int rc = img_ref_parse(s, &r, &err);
	if (rc < 0) {
		fuzz_check_err(rc, err);
		return;
	}
	wh_assert(r.domain && r.path && (r.tag || r.digest));
	wh_assert(!r.tag || img_tag_is_valid(r.tag));
	wh_assert(img_ref_object(&r));
	cleanup_free char *str = img_ref_string(&r);
	cleanup_free char *name = img_ref_name(&r);
	wh_assert(str_startswith(str, name));
	/* The normalized form parses back to itself. */
	rc = img_ref_parse(str, &r2, &err);
	if (rc < 0)
		fuzz_fail("'%s' normalized to '%s', which does not parse: %s", s, str,
			  wh_err_msg(err));
	wh_assert(streq(r.domain, r2.domain) && streq(r.path, r2.path));
	wh_assert(str_eq_null(r.tag, r2.tag) && str_eq_null(r.digest, r2.digest));
	cleanup_free char *str2 = img_ref_string(&r2);
	wh_assert(streq(str, str2));
	img_ref_release(&r2);
	img_ref_release(&r);
}

static void check_platform(const char *s)
{
	struct img_platform p, p2;
	struct wh_err *err = NULL;

	int rc = img_platform_parse(s, &p, &err);
	if (rc < 0) {
		fuzz_check_err(rc, err);
		return;
	}
	wh_assert(p.os && p.arch);
	wh_assert(img_platform_match(&p, &p) > 0);
	cleanup_free char *str = img_platform_string(&p);
	rc = img_platform_parse(str, &p2, &err);
	if (rc < 0)
		fuzz_fail("platform '%s' printed as '%s', which does not parse: %s", s, str,
			  wh_err_msg(err));
	wh_assert(streq(p.os, p2.os) && streq(p.arch, p2.arch));
	wh_assert(str_eq_null(p.variant, p2.variant));
	wh_assert(img_platform_match(&p, &p2) > 0 && img_platform_match(&p2, &p) > 0);
	img_platform_release(&p2);

	struct img_platform c;
	img_platform_copy(&c, &p);
	wh_assert(img_platform_match(&c, &p) > 0);
	img_platform_release(&c);
	img_platform_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cleanup_free char *s = fuzz_cstr(data, size);

	if (!s)
		return 0;
	check_ref(s);
	check_platform(s);
	(void)img_tag_is_valid(s);
	return 0;
}

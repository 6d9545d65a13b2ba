/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of images/ manifests, indexes and platforms: OCI and Docker documents, type
 * detection, schema 1 refusal, malformed input naming the field, platform parsing,
 * normalization, matching and index selection. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "images/images.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static const char oci_manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\","
	"\"config\":{\"mediaType\":\"" IMG_MT_OCI_CONFIG "\",\"digest\":\"" DA "\",\"size\":12},"
	"\"layers\":[{\"mediaType\":\"" IMG_MT_OCI_LAYER_GZIP "\",\"digest\":\"" DB "\","
	"\"size\":100,\"urls\":[\"https://x/y\"],\"annotations\":{\"k\":\"v\"}},"
	"{\"mediaType\":\"" IMG_MT_OCI_LAYER_GZIP "\",\"digest\":\"" DC "\",\"size\":0}]}";

static const char docker_list[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_DOCKER_LIST "\",\"manifests\":["
	"{\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\",\"digest\":\"" DA "\",\"size\":1,"
	"\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"}},"
	"{\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\",\"digest\":\"" DB "\",\"size\":2,"
	"\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},"
	"{\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\",\"digest\":\"" DC "\",\"size\":3,"
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\",\"digest\":\"" DC "\",\"size\":3,"
	"\"platform\":{\"architecture\":\"aarch64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\",\"digest\":\"" DA "\",\"size\":3,"
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0\"}}]}";

static void test_oci_manifest(void **state)
{
	struct img_manifest m;
	assert_int_equal(img_manifest_parse(NULL, oci_manifest, strlen(oci_manifest), &m, NULL), 0);
	assert_int_equal(m.kind, IMG_KIND_MANIFEST);
	assert_string_equal(m.media_type, IMG_MT_OCI_MANIFEST);
	assert_string_equal(m.config.digest, DA);
	assert_int_equal(m.config.size, 12);
	assert_int_equal(m.n_layers, 2);
	assert_string_equal(m.layers[0].urls[0], "https://x/y");
	assert_string_equal(img_desc_annotation(&m.layers[0], "k"), "v");
	assert_null(img_desc_annotation(&m.layers[0], "nope"));
	assert_int_equal(m.layers[1].size, 0);
	img_manifest_release(&m);
	/* Announced with a matching type, or with a generic one. */
	assert_int_equal(img_manifest_parse(IMG_MT_OCI_MANIFEST, oci_manifest, strlen(oci_manifest),
					    &m, NULL),
			 0);
	img_manifest_release(&m);
	assert_int_equal(img_manifest_parse("application/json", oci_manifest, strlen(oci_manifest),
					    &m, NULL),
			 0);
	img_manifest_release(&m);
	/* Announced as something else: refused. */
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(
		img_manifest_parse(IMG_MT_OCI_INDEX, oci_manifest, strlen(oci_manifest), &m, &err),
		-EBADMSG);
	assert_non_null(strstr(wh_err_msg(err), "does not match the announced type"));
}

static void test_shape_detection(void **state)
{
	const char *idx = "{\"schemaVersion\":2,\"manifests\":[]}";
	const char *man = "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":1},"
			  "\"layers\":[]}";
	struct img_manifest m;
	assert_int_equal(img_manifest_parse(NULL, idx, strlen(idx), &m, NULL), 0);
	assert_int_equal(m.kind, IMG_KIND_INDEX);
	assert_int_equal(m.n_manifests, 0);
	img_manifest_release(&m);
	assert_int_equal(img_manifest_parse(IMG_MT_DOCKER_MANIFEST, man, strlen(man), &m, NULL), 0);
	assert_int_equal(m.kind, IMG_KIND_MANIFEST);
	assert_string_equal(m.media_type, IMG_MT_DOCKER_MANIFEST);
	img_manifest_release(&m);
}

static void test_schema1(void **state)
{
	const char *s1 = "{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}";
	struct img_manifest m;
	cleanup_err struct wh_err *e1 = NULL, *e2 = NULL;
	assert_int_equal(img_manifest_parse(NULL, s1, strlen(s1), &m, &e1), -ENOTSUP);
	assert_non_null(strstr(wh_err_msg(e1), "schema 1 manifests are not supported"));
	const char *js = "{\"schemaVersion\":2,\"manifests\":[]}";
	assert_int_equal(img_manifest_parse(IMG_MT_DOCKER_SCHEMA1_SIGNED, js, strlen(js), &m, &e2),
			 -ENOTSUP);
}

static void test_malformed(void **state)
{
	static const struct {
		const char *json, *why;
	} bad[] = {
		{"", "invalid JSON"},
		{"[]", "expected a JSON object"},
		{"{\"schemaVersion\":3,\"manifests\":[]}", "unsupported version 3"},
		{"{\"schemaVersion\":2}", "unsupported manifest media type '(none)'"},
		{"{\"mediaType\":\"text/plain\",\"layers\":[]}", "unsupported manifest media type"},
		{"{\"manifests\":{}}", "manifests: expected an array"},
		{"{\"manifests\":[1]}", "manifests[0]: expected an object"},
		{"{\"manifests\":[{\"size\":1}]}", "manifests[0].digest: missing"},
		{"{\"manifests\":[{\"digest\":\"sha256:xyz\",\"size\":1}]}",
		 "manifests[0].digest: invalid digest"},
		{"{\"manifests\":[{\"digest\":\"" DA "\"}]}", "manifests[0].size: missing"},
		{"{\"manifests\":[{\"digest\":\"" DA "\",\"size\":-1}]}", "manifests[0].size"},
		{"{\"manifests\":[{\"digest\":\"" DA "\",\"size\":\"1\"}]}", "manifests[0].size"},
		/* found by fuzz-images-manifest: sizes are int64 in OCI and containerd */
		{"{\"manifests\":[{\"digest\":\"" DA "\",\"size\":9223372036854775808}]}",
		 "manifests[0].size: 9223372036854775808 is out of range"},
		{"{\"manifests\":[{\"digest\":\"" DA
		 "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]}",
		 "manifests[0].platform.architecture: missing"},
		{"{\"manifests\":[{\"digest\":\"" DA "\",\"size\":1,\"annotations\":{\"a\":1}}]}",
		 "manifests[0].annotations.a"},
		{"{\"config\":{\"digest\":\"" DA "\",\"size\":1}}", "layers: missing"},
		{"{\"layers\":[]}", "config: missing"},
		{"{\"config\":{\"digest\":\"" DA
		 "\",\"size\":1},\"layers\":[{\"digest\":5,\"size\":1}]}",
		 "layers[0]"},
		{"{\"mediaType\":5,\"layers\":[]}", "mediaType"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct img_manifest m = {0};
		cleanup_err struct wh_err *err = NULL;
		int rc = img_manifest_parse(NULL, bad[i].json, strlen(bad[i].json), &m, &err);
		if (rc >= 0)
			fail_msg("'%s' parsed", bad[i].json);
		if (!strstr(wh_err_msg(err), bad[i].why))
			fail_msg("'%s': '%s' lacks '%s'", bad[i].json, wh_err_msg(err), bad[i].why);
		assert_null(m.media_type);
	}
}

static void test_limits(void **state)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, "{\"manifests\":[");
	for (int i = 0; i <= IMG_MAX_ENTRIES; i++)
		strbuf_addf(&sb, "%s{\"digest\":\"" DA "\",\"size\":1}", i ? "," : "");
	strbuf_adds(&sb, "]}");
	struct img_manifest m;
	cleanup_err struct wh_err *err = NULL;
	assert_int_equal(img_manifest_parse(NULL, sb.buf, sb.len, &m, &err), -E2BIG);
	cleanup_err struct wh_err *err2 = NULL;
	assert_int_equal(img_manifest_parse(NULL, sb.buf, IMG_MAX_MANIFEST_SIZE + 1, &m, &err2),
			 -EFBIG);
	cleanup_strbuf struct strbuf deep = STRBUF_INIT;
	for (int i = 0; i < 100; i++)
		strbuf_adds(&deep, "{\"a\":");
	cleanup_err struct wh_err *err3 = NULL;
	assert_true(img_manifest_parse(NULL, deep.buf, deep.len, &m, &err3) < 0);
}

static void test_platform_parse(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{"linux/amd64", "linux/amd64"},	      {"linux/x86_64", "linux/amd64"},
		{"linux/arm64", "linux/arm64/v8"},    {"linux/aarch64", "linux/arm64/v8"},
		{"linux/arm64/v8", "linux/arm64/v8"}, {"linux/arm/7", "linux/arm/v7"},
		{"linux/armhf", "linux/arm/v7"},      {"Linux/AMD64", "linux/amd64"},
		{"arm64", "linux/arm64/v8"},	      {"windows/amd64", "windows/amd64"},
		{"linux/386", "linux/386"},	      {"linux/i686", "linux/386"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		struct img_platform p;
		cleanup_err struct wh_err *err = NULL;
		if (img_platform_parse(ok[i].in, &p, &err) < 0)
			fail_msg("%s: %s", ok[i].in, wh_err_msg(err));
		cleanup_free char *s = img_platform_string(&p);
		assert_string_equal(s, ok[i].out);
		img_platform_release(&p);
	}
	static const struct {
		const char *in, *why;
	} bad[] = {
		{"", "invalid part ''"},
		{"linux/", "invalid part ''"},
		{"linux/arm64/v8/x", "too many parts"},
		{"plan10/amd64", "unknown os 'plan10'"},
		{"linux/am d64", "invalid part 'am d64'"},
		{"/amd64", "invalid part ''"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct img_platform p = {0};
		cleanup_err struct wh_err *err = NULL;
		if (img_platform_parse(bad[i].in, &p, &err) >= 0)
			fail_msg("'%s' parsed", bad[i].in);
		if (!strstr(wh_err_msg(err), bad[i].why))
			fail_msg("'%s': '%s' lacks '%s'", bad[i].in, wh_err_msg(err), bad[i].why);
	}
	struct img_platform host;
	img_platform_host(&host);
	assert_string_equal(host.os, "linux");
	assert_non_null(host.arch);
	/* A lone OS takes the host's architecture. */
	struct img_platform p;
	assert_int_equal(img_platform_parse("linux", &p, NULL), 0);
	assert_string_equal(p.arch, host.arch);
	img_platform_release(&p);
	img_platform_release(&host);
}

static int select_one(const struct img_manifest *m, const char *want, size_t *ret)
{
	struct img_platform p;
	assert_int_equal(img_platform_parse(want, &p, NULL), 0);
	size_t *v = NULL, n = 0;
	cleanup_err struct wh_err *err = NULL;
	int rc = img_index_select(m, &p, &v, &n, &err);
	if (rc >= 0) {
		assert_int_equal(n, 1);
		*ret = v[0];
	} else {
		assert_non_null(strstr(wh_err_msg(err), "no manifest for platform"));
		assert_non_null(strstr(wh_err_msg(err), "linux/arm/v6, linux/arm/v7"));
	}
	free(v);
	img_platform_release(&p);
	return rc;
}

static void test_select(void **state)
{
	struct img_manifest m;
	size_t i = 99;
	assert_int_equal(img_manifest_parse(NULL, docker_list, strlen(docker_list), &m, NULL), 0);
	assert_int_equal(m.kind, IMG_KIND_INDEX);
	assert_int_equal(select_one(&m, "linux/amd64", &i), 0);
	assert_int_equal(i, 2);
	/* exact variant beats a compatible older one, both ways round */
	assert_int_equal(select_one(&m, "linux/arm/v7", &i), 0);
	assert_int_equal(i, 1);
	assert_int_equal(select_one(&m, "linux/arm/v6", &i), 0);
	assert_int_equal(i, 0);
	/* v8 CPUs run v7 code when no v8 image exists */
	assert_int_equal(select_one(&m, "linux/arm/v8", &i), 0);
	assert_int_equal(i, 1);
	/* aarch64 in the list is normalized to arm64/v8 */
	assert_int_equal(select_one(&m, "linux/arm64", &i), 0);
	assert_int_equal(i, 3);
	assert_int_equal(select_one(&m, "windows/amd64", &i), 0);
	assert_int_equal(i, 4);
	assert_int_equal(select_one(&m, "linux/arm/v5", &i), -ENOENT);
	assert_int_equal(select_one(&m, "linux/s390x", &i), -ENOENT);
	size_t *v = NULL, n = 0;
	assert_int_equal(img_index_select(&m, NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 5);
	free(v);
	img_manifest_release(&m);
}

static void test_match(void **state)
{
	struct img_platform want = {.os = (char *)"linux", .arch = (char *)"amd64"};
	struct img_platform have = {.os = (char *)"linux", .arch = (char *)"x86_64"};
	assert_true(img_platform_match(&want, &have) > 0);
	have.os = (char *)"windows";
	assert_int_equal(img_platform_match(&want, &have), 0);
	have.os = NULL;
	assert_int_equal(img_platform_match(&want, &have), 0);
}

static void test_desc_copy(void **state)
{
	struct img_manifest m;
	assert_int_equal(img_manifest_parse(NULL, docker_list, strlen(docker_list), &m, NULL), 0);
	struct img_desc d;
	img_desc_copy(&d, &m.manifests[4]);
	assert_string_equal(d.platform.os_version, "10.0");
	assert_string_equal(d.digest, DA);
	img_manifest_release(&m);
	yajl_gen g = json_gen_new(false);
	img_desc_gen(g, &d);
	size_t len = 0;
	cleanup_free char *text = json_gen_finish(g, &len);
	assert_non_null(strstr(text, "\"os.version\":\"10.0\""));
	assert_null(strstr(text, "urls"));
	img_desc_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oci_manifest), cmocka_unit_test(test_shape_detection),
		cmocka_unit_test(test_schema1),	     cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),	     cmocka_unit_test(test_platform_parse),
		cmocka_unit_test(test_select),	     cmocka_unit_test(test_match),
		cmocka_unit_test(test_desc_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

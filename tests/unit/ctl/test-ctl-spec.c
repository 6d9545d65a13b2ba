/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of wharfctl's default spec (containerd's default + the image config), the image
 * config parser, chain IDs, index platform selection and the exec process derivation.
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
#include "oci/caps.h"

static const char image_config[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
	"\"Env\":[\"PATH=/opt/bin:/bin\",\"FOO=image\"],\"Entrypoint\":[\"/entry\"],"
	"\"Cmd\":[\"default-arg\"],\"WorkingDir\":\"/srv\",\"User\":\"7:8\"},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"sha256:"
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"]}}";

static yajl_val gen(const struct ctl_spec_opts *o, const struct ctl_image_config *ic)
{
	char *json = NULL;
	size_t len;
	yajl_val v = NULL;

	assert_int_equal(ctl_spec_generate(o, ic, &json, &len, NULL), 0);
	assert_int_equal(strlen(json), len);
	assert_int_equal(json_parse(json, len, &v, NULL), 0);
	free(json);
	return v;
}

static yajl_val path(yajl_val v, const char *const *keys)
{
	for (size_t i = 0; keys[i]; i++)
		v = json_get(v, keys[i]);
	return v;
}
#define PATH(v, ...) path((v), (const char *const[]){__VA_ARGS__, NULL})

static bool strv_array_has(yajl_val arr, const char *s)
{
	for (size_t i = 0; YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++) {
		const char *x = YAJL_IS_STRING(arr->u.array.values[i])
					? arr->u.array.values[i]->u.string
					: NULL;

		if (x && streq(x, s))
			return true;
	}
	return false;
}

static void test_image_config(void **state)
{
	struct ctl_image_config c;
	struct wh_err *e = NULL;

	assert_int_equal(ctl_image_config_parse(image_config, strlen(image_config), &c, NULL), 0);
	assert_int_equal(strv_length(c.env), 2);
	assert_string_equal(c.entrypoint[0], "/entry");
	assert_string_equal(c.cmd[0], "default-arg");
	assert_string_equal(c.working_dir, "/srv");
	assert_string_equal(c.user, "7:8");
	assert_int_equal(strv_length(c.diff_ids), 2);
	ctl_image_config_release(&c);

	assert_int_equal(ctl_image_config_parse("{}", 2, &c, NULL), 0);
	assert_null(c.env);
	assert_null(c.working_dir);
	ctl_image_config_release(&c);

	assert_int_equal(ctl_image_config_parse("{\"config\":{\"Cmd\":\"sh\"}}", 23, &c, &e),
			 -EINVAL);
	assert_non_null(strstr(e->msg, "config.Cmd"));
	e = wh_err_free(e);
	assert_true(ctl_image_config_parse("[1", 2, &c, &e) < 0);
	e = wh_err_free(e);
}

static void test_chain_id(void **state)
{
	char *ids[] = {
		(char *)"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		(char *)"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		(char *)"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
		NULL};
	char out[DIGEST_STR_LEN];
	struct wh_err *e = NULL;

	/* One layer: the chain ID is its diff ID. */
	char *one[] = {ids[0], NULL};
	assert_int_equal(ctl_chain_id(one, out, NULL), 0);
	assert_string_equal(out, ids[0]);
	/* Expected values computed independently (sha256 of "<parent> <diffid>"). */
	char *two[] = {ids[0], ids[1], NULL};
	assert_int_equal(ctl_chain_id(two, out, NULL), 0);
	assert_string_equal(
		out, "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c");
	assert_int_equal(ctl_chain_id(ids, out, NULL), 0);
	assert_string_equal(
		out, "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588");
	char *none[] = {NULL};
	assert_int_equal(ctl_chain_id(none, out, &e), -EINVAL);
	e = wh_err_free(e);
	char *bad[] = {ids[0], (char *)"sha256:XYZ", NULL};
	assert_int_equal(ctl_chain_id(bad, out, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "rootfs.diff_ids[1]"));
	e = wh_err_free(e);
}

static void test_default_spec(void **state)
{
	struct ctl_spec_opts o = {.id = "c1",
				  .ns = "testns",
				  .args = (char *const[]){(char *)"echo", (char *)"hi", NULL}};
	yajl_val v = gen(&o, NULL), caps, mounts, a;
	const char *const *names = oci_caps_default_names();

	assert_string_equal(YAJL_GET_STRING(PATH(v, "ociVersion")), "1.0.2-dev");
	assert_string_equal(YAJL_GET_STRING(PATH(v, "root", "path")), "rootfs");
	a = PATH(v, "process", "args");
	assert_int_equal(a->u.array.len, 2);
	assert_string_equal(YAJL_GET_STRING(a->u.array.values[1]), "hi");
	assert_true(YAJL_IS_FALSE(PATH(v, "process", "terminal")));
	assert_string_equal(YAJL_GET_STRING(PATH(v, "process", "cwd")), "/");
	assert_int_equal(YAJL_GET_INTEGER(PATH(v, "process", "user", "uid")), 0);
	assert_true(strv_array_has(
		PATH(v, "process", "env"),
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	/* containerd's 14 default capabilities in bounding, effective and permitted. */
	caps = PATH(v, "process", "capabilities");
	assert_int_equal(strv_length((char **)names), 14);
	for (size_t i = 0; names[i]; i++) {
		assert_true(strv_array_has(json_get(caps, "bounding"), names[i]));
		assert_true(strv_array_has(json_get(caps, "effective"), names[i]));
		assert_true(strv_array_has(json_get(caps, "permitted"), names[i]));
	}
	assert_int_equal(json_get(caps, "bounding")->u.array.len, 14);
	assert_null(json_get(caps, "ambient"));
	assert_false(strv_array_has(json_get(caps, "bounding"), "CAP_SYS_ADMIN"));
	a = PATH(v, "process", "rlimits");
	assert_string_equal(YAJL_GET_STRING(json_get(a->u.array.values[0], "type")),
			    "RLIMIT_NOFILE");
	assert_int_equal(YAJL_GET_INTEGER(json_get(a->u.array.values[0], "hard")), 1024);
	/* Mounts, masked and read-only paths, namespaces, devices, cgroups path, seccomp. */
	mounts = PATH(v, "mounts");
	assert_int_equal(mounts->u.array.len, 7);
	assert_string_equal(YAJL_GET_STRING(json_get(mounts->u.array.values[0], "destination")),
			    "/proc");
	assert_string_equal(YAJL_GET_STRING(json_get(mounts->u.array.values[2], "type")), "devpts");
	assert_true(strv_array_has(PATH(v, "linux", "maskedPaths"), "/proc/kcore"));
	assert_true(strv_array_has(PATH(v, "linux", "maskedPaths"), "/sys/firmware"));
	assert_int_equal(PATH(v, "linux", "maskedPaths")->u.array.len, 10);
	assert_true(strv_array_has(PATH(v, "linux", "readonlyPaths"), "/proc/sysrq-trigger"));
	assert_int_equal(PATH(v, "linux", "readonlyPaths")->u.array.len, 5);
	assert_int_equal(PATH(v, "linux", "namespaces")->u.array.len, 5);
	assert_string_equal(YAJL_GET_STRING(PATH(v, "linux", "cgroupsPath")), "/testns/c1");
	a = PATH(v, "linux", "resources", "devices");
	assert_int_equal(a->u.array.len, 11);
	assert_true(YAJL_IS_FALSE(json_get(a->u.array.values[0], "allow")));
	assert_int_equal(YAJL_GET_INTEGER(json_get(a->u.array.values[1], "major")), 1);
	assert_int_equal(YAJL_GET_INTEGER(json_get(a->u.array.values[1], "minor")), 3);
	assert_string_equal(YAJL_GET_STRING(PATH(v, "linux", "seccomp", "defaultAction")),
			    "SCMP_ACT_ERRNO");
	assert_true(PATH(v, "linux", "seccomp", "syscalls")->u.array.len > 0);
	yajl_tree_free(v);
}

static void test_image_applied(void **state)
{
	struct ctl_image_config ic;
	struct ctl_spec_opts o = {.id = "c2"};
	yajl_val v, env;

	assert_int_equal(ctl_image_config_parse(image_config, strlen(image_config), &ic, NULL), 0);
	/* No args: Entrypoint + Cmd; the image's PATH replaces the default; its cwd and user. */
	v = gen(&o, &ic);
	env = PATH(v, "process", "env");
	assert_int_equal(env->u.array.len, 2);
	assert_string_equal(YAJL_GET_STRING(env->u.array.values[0]), "PATH=/opt/bin:/bin");
	assert_string_equal(YAJL_GET_STRING(env->u.array.values[1]), "FOO=image");
	assert_string_equal(YAJL_GET_STRING(PATH(v, "process", "args")->u.array.values[0]),
			    "/entry");
	assert_string_equal(YAJL_GET_STRING(PATH(v, "process", "args")->u.array.values[1]),
			    "default-arg");
	assert_string_equal(YAJL_GET_STRING(PATH(v, "process", "cwd")), "/srv");
	assert_int_equal(YAJL_GET_INTEGER(PATH(v, "process", "user", "uid")), 7);
	assert_int_equal(YAJL_GET_INTEGER(PATH(v, "process", "user", "gid")), 8);
	assert_string_equal(YAJL_GET_STRING(PATH(v, "linux", "cgroupsPath")), "/default/c2");
	yajl_tree_free(v);

	/* Command-line overrides: args replace Entrypoint+Cmd (ctr), env, user, cwd, tty. */
	o.args = (char *const[]){(char *)"sh", NULL};
	o.env = (char *const[]){(char *)"FOO=cli", (char *)"BAR=1", NULL};
	o.user = "0:0";
	o.cwd = "/tmp";
	o.tty = true;
	v = gen(&o, &ic);
	env = PATH(v, "process", "env");
	assert_true(strv_array_has(env, "FOO=cli"));
	assert_false(strv_array_has(env, "FOO=image"));
	assert_true(strv_array_has(env, "BAR=1"));
	assert_true(strv_array_has(env, "TERM=xterm"));
	assert_int_equal(PATH(v, "process", "args")->u.array.len, 1);
	assert_string_equal(YAJL_GET_STRING(PATH(v, "process", "args")->u.array.values[0]), "sh");
	assert_string_equal(YAJL_GET_STRING(PATH(v, "process", "cwd")), "/tmp");
	assert_int_equal(YAJL_GET_INTEGER(PATH(v, "process", "user", "uid")), 0);
	assert_true(YAJL_IS_TRUE(PATH(v, "process", "terminal")));
	yajl_tree_free(v);
	ctl_image_config_release(&ic);
}

static void test_spec_mounts_and_errors(void **state)
{
	struct ctl_mount m[2];
	struct ctl_spec_opts o = {
		.id = "c3", .args = (char *const[]){(char *)"true", NULL}, .no_seccomp = true};
	struct ctl_image_config ic = {0};
	struct wh_err *e = NULL;
	char *json = NULL;
	size_t len;
	yajl_val v, mounts;

	assert_int_equal(ctl_parse_mount("src=/host,dst=/data,options=rbind:ro", &m[0], NULL), 0);
	assert_int_equal(ctl_parse_mount("type=tmpfs,dst=/run", &m[1], NULL), 0);
	o.mounts = m;
	o.n_mounts = 2;
	v = gen(&o, NULL);
	mounts = PATH(v, "mounts");
	/* /run from the command line replaces the default /run: 6 defaults + 2. */
	assert_int_equal(mounts->u.array.len, 8);
	assert_string_equal(YAJL_GET_STRING(json_get(mounts->u.array.values[6], "destination")),
			    "/data");
	assert_string_equal(YAJL_GET_STRING(json_get(mounts->u.array.values[7], "type")), "tmpfs");
	assert_null(PATH(v, "linux", "seccomp"));
	yajl_tree_free(v);
	ctl_mount_release(&m[0]);
	ctl_mount_release(&m[1]);

	/* No command anywhere. */
	o = (struct ctl_spec_opts){.id = "c4"};
	assert_int_equal(ctl_spec_generate(&o, &ic, &json, &len, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "no command"));
	e = wh_err_free(e);
	/* A user name in the image cannot be resolved here. */
	ic.user = (char *)"nobody";
	ic.cmd = (char *[]){(char *)"sh", NULL};
	assert_int_equal(ctl_spec_generate(&o, &ic, &json, &len, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "user 'nobody'"));
	e = wh_err_free(e);
	/* ... but --user overrides it. */
	o.user = "5";
	assert_int_equal(ctl_spec_generate(&o, &ic, &json, &len, NULL), 0);
	free(json);
	o.id = "";
	assert_int_equal(ctl_spec_generate(&o, &ic, &json, &len, &e), -EINVAL);
	e = wh_err_free(e);
}

static void test_process_from_spec(void **state)
{
	struct ctl_spec_opts o = {.id = "c5",
				  .args = (char *const[]){(char *)"sleep", NULL},
				  .env = (char *const[]){(char *)"X=1", NULL}};
	char *spec = NULL, *proc = NULL;
	size_t len, plen;
	yajl_val v;
	struct wh_err *e = NULL;

	assert_int_equal(ctl_spec_generate(&o, NULL, &spec, &len, NULL), 0);
	assert_int_equal(ctl_process_from_spec(spec, len,
					       (char *const[]){(char *)"ls", (char *)"-l", NULL},
					       true, "/etc", &proc, &plen, NULL),
			 0);
	assert_int_equal(json_parse(proc, plen, &v, NULL), 0);
	assert_int_equal(json_get(v, "args")->u.array.len, 2);
	assert_true(YAJL_IS_TRUE(json_get(v, "terminal")));
	assert_string_equal(YAJL_GET_STRING(json_get(v, "cwd")), "/etc");
	/* Inherited from the container's process. */
	assert_true(strv_array_has(json_get(v, "env"), "X=1"));
	assert_non_null(json_get(v, "capabilities"));
	yajl_tree_free(v);
	free(proc);
	assert_int_equal(ctl_process_from_spec(spec, len, (char *const[]){NULL}, false, NULL, &proc,
					       &plen, &e),
			 -EINVAL);
	e = wh_err_free(e);
	assert_int_equal(ctl_process_from_spec("{}", 2, (char *const[]){(char *)"x", NULL}, false,
					       NULL, &proc, &plen, &e),
			 -EINVAL);
	assert_non_null(strstr(e->msg, "no process"));
	e = wh_err_free(e);
	free(spec);
}

static void test_index_pick(void **state)
{
	static const char idx[] =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:"
		"1111111111111111111111111111111111111111111111111111111111111111\",\"size\":1,"
		"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:"
		"2222222222222222222222222222222222222222222222222222222222222222\",\"size\":1,"
		"\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:"
		"3333333333333333333333333333333333333333333333333333333333333333\",\"size\":1,"
		"\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
	char *d = NULL, *mt = NULL;
	struct wh_err *e = NULL;

	assert_int_equal(ctl_index_pick(idx, strlen(idx), "amd64", &d, &mt, NULL), 0);
	assert_non_null(strstr(d, "3333"));
	assert_string_equal(mt, "application/vnd.oci.image.manifest.v1+json");
	free(d);
	free(mt);
	assert_int_equal(ctl_index_pick(idx, strlen(idx), "arm64", &d, &mt, NULL), 0);
	assert_non_null(strstr(d, "1111"));
	free(d);
	free(mt);
	assert_int_equal(ctl_index_pick(idx, strlen(idx), "s390x", &d, &mt, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "linux/s390x"));
	e = wh_err_free(e);
	assert_int_equal(ctl_index_pick("{}", 2, "amd64", &d, &mt, &e), -EINVAL);
	e = wh_err_free(e);
	assert_non_null(ctl_host_arch());
}

static void test_normalize(void **state)
{
	static const char *const cases[][2] = {
		{"busybox", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"me/tool", "docker.io/me/tool:latest"},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest"},
		{"127.0.0.1:5000/t/busybox", "127.0.0.1:5000/t/busybox:latest"},
		{"localhost/x:2", "localhost/x:2"},
		{"wharf.test/busybox:latest", "wharf.test/busybox:latest"},
		{"busybox@sha256:0123", "docker.io/library/busybox@sha256:0123"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *n = ctl_normalize_ref(cases[i][0]);

		assert_string_equal(n, cases[i][1]);
		free(n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_config),
		cmocka_unit_test(test_chain_id),
		cmocka_unit_test(test_default_spec),
		cmocka_unit_test(test_image_applied),
		cmocka_unit_test(test_spec_mounts_and_errors),
		cmocka_unit_test(test_process_from_spec),
		cmocka_unit_test(test_index_pick),
		cmocka_unit_test(test_normalize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

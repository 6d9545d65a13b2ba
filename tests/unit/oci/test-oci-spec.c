/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of config.json parsing and validation: fields land where they should and every
 * bad input fails with an error that names its field. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <sys/mount.h>
#include <sys/resource.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "common/common.h"
#include "oci/internal.h"

static const char good[] =
	"{\"ociVersion\":\"1.0.2\","
	"\"process\":{\"terminal\":true,\"user\":{\"uid\":1000,\"gid\":1001,"
	"\"additionalGids\":[5,6],\"umask\":18},\"args\":[\"sh\",\"-c\",\"true\"],"
	"\"env\":[\"PATH=/bin\",\"A=b\"],\"cwd\":\"/work\","
	"\"capabilities\":{\"bounding\":[\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"]},"
	"\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":10,\"hard\":20}],"
	"\"noNewPrivileges\":true,\"oomScoreAdj\":100},"
	"\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
	"\"hostname\":\"h\",\"domainname\":\"d\","
	"\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	"{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"data\","
	"\"options\":[\"rbind\",\"ro\",\"nosuid\",\"rslave\"]},"
	"{\"destination\":\"/t\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
	"\"options\":[\"nodev\",\"size=1m\",\"mode=755\"]}],"
	"\"hooks\":{\"prestart\":[{\"path\":\"/bin/a\",\"args\":[\"a\",\"1\"],\"timeout\":3}],"
	"\"poststop\":[{\"path\":\"/bin/b\"}]},"
	"\"annotations\":{\"k\":\"v\"},"
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"},{\"type\":\"uts\"},"
	"{\"type\":\"network\",\"path\":\"/run/netns/x\"},{\"type\":\"user\"}],"
	"\"uidMappings\":[{\"containerID\":0,\"hostID\":1000,\"size\":10}],"
	"\"gidMappings\":[{\"containerID\":0,\"hostID\":2000,\"size\":20}],"
	"\"devices\":[{\"path\":\"/dev/fuse\",\"type\":\"c\",\"major\":10,\"minor\":229,"
	"\"fileMode\":438,\"uid\":1,\"gid\":2}],"
	"\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"},"
	"\"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\"],"
	"\"rootfsPropagation\":\"rshared\",\"cgroupsPath\":\"/a/b\","
	"\"resources\":{\"pids\":{\"limit\":5}}}}";

static struct oci_spec *parse_ok(const char *text)
{
	struct oci_spec *s = NULL;
	struct wh_err *e = NULL;
	int r = oci_spec_parse(text, strlen(text), "/bundle", &s, &e);
	if (r < 0)
		fail_msg("unexpected error: %s", wh_err_msg(e));
	wh_err_free(e);
	return s;
}

static void test_good(void **state)
{
	struct oci_spec *s = parse_ok(good);
	assert_string_equal(s->oci_version, "1.0.2");
	assert_string_equal(s->root_path, "/bundle/rootfs");
	assert_true(s->root_readonly);
	assert_true(s->process.terminal);
	assert_int_equal(s->process.uid, 1000);
	assert_int_equal(s->process.gid, 1001);
	assert_int_equal(s->process.n_additional_gids, 2);
	assert_int_equal(s->process.additional_gids[1], 6);
	assert_true(s->process.has_umask);
	assert_int_equal(s->process.umask, 022);
	assert_string_equal(s->process.args[2], "true");
	assert_string_equal(s->process.env[1], "A=b");
	assert_string_equal(s->process.cwd, "/work");
	assert_true(s->process.caps.present);
	assert_int_equal(s->process.caps.bounding, 1ULL << 5);
	assert_int_equal(s->process.n_rlimits, 1);
	assert_int_equal(s->process.rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(s->process.rlimits[0].hard, 20);
	assert_true(s->process.no_new_privileges);
	assert_int_equal(s->process.oom_score_adj, 100);
	assert_string_equal(s->hostname, "h");
	assert_string_equal(s->domainname, "d");
	assert_int_equal(s->n_mounts, 3);
	assert_true(s->mounts[1].bind);
	assert_string_equal(s->mounts[1].source, "/bundle/data");
	assert_int_equal(s->mounts[1].flags, MS_REC | MS_RDONLY | MS_NOSUID);
	assert_int_equal(s->mounts[1].propagation, MS_SLAVE | MS_REC);
	assert_false(s->mounts[2].bind);
	assert_int_equal(s->mounts[2].flags, MS_NODEV);
	assert_string_equal(s->mounts[2].data, "size=1m,mode=755");
	assert_int_equal(s->hooks.n[OCI_HOOK_PRESTART], 1);
	assert_int_equal(s->hooks.v[OCI_HOOK_PRESTART][0].timeout, 3);
	assert_string_equal(s->hooks.v[OCI_HOOK_PRESTART][0].args[1], "1");
	assert_int_equal(s->hooks.n[OCI_HOOK_POSTSTOP], 1);
	assert_int_equal(s->hooks.n[OCI_HOOK_POSTSTART], 0);
	assert_non_null(s->annotations);
	assert_int_equal(s->n_namespaces, 5);
	assert_non_null(oci_spec_ns(s, CLONE_NEWUSER));
	assert_string_equal(oci_spec_ns(s, CLONE_NEWNET)->path, "/run/netns/x");
	assert_null(oci_spec_ns(s, CLONE_NEWIPC));
	assert_int_equal(s->uid_mappings[0].host_id, 1000);
	assert_int_equal(s->gid_mappings[0].size, 20);
	assert_int_equal(s->n_devices, 1);
	assert_int_equal(s->devices[0].major, 10);
	assert_int_equal(s->devices[0].mode, 0666);
	assert_int_equal(s->devices[0].gid, 2);
	assert_string_equal(s->sysctl[0], "net.ipv4.ip_forward");
	assert_string_equal(s->sysctl[1], "1");
	assert_string_equal(s->masked_paths[0], "/proc/kcore");
	assert_int_equal(s->rootfs_propagation, MS_SHARED | MS_REC);
	assert_string_equal(s->cgroups_path, "/a/b");
	assert_true(s->resources.pids.has_limit);
	assert_int_equal(s->resources.pids.limit, 5);
	oci_spec_free(s);
}

/* A base that parses; each bad case replaces one fragment of it. */
static const char base[] =
	"{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},"
	"\"root\":{\"path\":\"/r\"},\"mounts\":[],"
	"\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"uts\"}]}}";

static void expect_bad(const char *from, const char *to, int code, const char *field)
{
	const char *at = strstr(base, from);
	assert_non_null(at);
	struct strbuf sb = STRBUF_INIT;
	strbuf_add(&sb, base, (size_t)(at - base));
	strbuf_adds(&sb, to);
	strbuf_adds(&sb, at + strlen(from));
	struct oci_spec *s = NULL;
	struct wh_err *e = NULL;
	int r = oci_spec_parse(sb.buf, sb.len, "/b", &s, &e);
	if (r >= 0)
		fail_msg("'%s' parsed, expected an error naming '%s'", sb.buf, field);
	assert_int_equal(r, -code);
	assert_non_null(e);
	if (!strstr(wh_err_msg(e), field))
		fail_msg("error '%s' does not name '%s'", wh_err_msg(e), field);
	assert_null(s);
	wh_err_free(e);
	strbuf_release(&sb);
}

static void test_base_parses(void **state)
{
	oci_spec_free(parse_ok(base));
}

static void test_bad(void **state)
{
	expect_bad("{\"ociVersion\"", "[", EBADMSG, "config.json");
	expect_bad("\"1.0.2\"", "\"2.0\"", EINVAL, "ociVersion");
	expect_bad("\"ociVersion\":\"1.0.2\",", "", EINVAL, "ociVersion");
	expect_bad("\"args\":[\"sh\"]", "\"args\":[]", EINVAL, "process.args");
	expect_bad("\"args\":[\"sh\"]", "\"args\":[1]", EINVAL, "process.args[0]");
	expect_bad("\"cwd\":\"/\"", "\"cwd\":\"rel\"", EINVAL, "process.cwd");
	expect_bad("\"cwd\":\"/\"", "\"cwd\":\"/\",\"env\":[\"NOEQUALS\"]", EINVAL, "process.env");
	expect_bad("\"cwd\":\"/\"", "\"cwd\":\"/\",\"user\":{\"uid\":-1}", EINVAL,
		   "process.user.uid");
	expect_bad("\"cwd\":\"/\"", "\"cwd\":\"/\",\"user\":{\"umask\":4096}", EINVAL,
		   "process.user.umask");
	expect_bad("\"cwd\":\"/\"",
		   "\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_FOO\",\"soft\":1,\"hard\":1}]",
		   EINVAL, "process.rlimits[0].type");
	expect_bad("\"cwd\":\"/\"",
		   "\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_CORE\",\"soft\":2,\"hard\":1}]",
		   EINVAL, "process.rlimits[0]");
	expect_bad("\"cwd\":\"/\"", "\"cwd\":\"/\",\"oomScoreAdj\":2000", EINVAL,
		   "process.oomScoreAdj");
	expect_bad("\"cwd\":\"/\"", "\"cwd\":\"/\",\"apparmorProfile\":\"p\"", EOPNOTSUPP,
		   "process.apparmorProfile");
	expect_bad("\"cwd\":\"/\"", "\"cwd\":\"/\",\"selinuxLabel\":\"l\"", EOPNOTSUPP,
		   "process.selinuxLabel");
	expect_bad("\"cwd\":\"/\"", "\"cwd\":\"/\",\"capabilities\":{\"bounding\":[\"CAP_NOPE\"]}",
		   EINVAL, "process.capabilities.bounding[0]");
	expect_bad("\"path\":\"/r\"", "\"path\":\"\"", EINVAL, "root.path");
	expect_bad("\"path\":\"/r\"", "\"path\":7", EINVAL, "root.path");
	expect_bad("\"mounts\":[]", "\"mounts\":[{\"destination\":\"rel\",\"type\":\"tmpfs\"}]",
		   EINVAL, "mounts[0].destination");
	expect_bad("\"mounts\":[]", "\"mounts\":[{\"destination\":\"/a/../b\",\"type\":\"tmpfs\"}]",
		   EINVAL, "mounts[0].destination");
	expect_bad("\"mounts\":[]", "\"mounts\":[{\"destination\":\"/a\",\"options\":[\"bind\"]}]",
		   EINVAL, "mounts[0].source");
	expect_bad("\"mounts\":[]", "\"mounts\":[{\"destination\":\"/a\"}]", EINVAL,
		   "mounts[0].type");
	expect_bad("{\"type\":\"uts\"}", "{\"type\":\"bogus\"}", EINVAL,
		   "linux.namespaces[1].type");
	expect_bad("{\"type\":\"uts\"}", "{\"type\":\"mount\"}", EINVAL,
		   "linux.namespaces[1].type");
	expect_bad("{\"type\":\"uts\"}", "{\"type\":\"uts\",\"path\":\"rel\"}", EINVAL,
		   "linux.namespaces[1].path");
	expect_bad("{\"type\":\"uts\"}", "{\"type\":\"user\"}", EINVAL, "linux.uidMappings");
	expect_bad("{\"type\":\"mount\"},", "", EINVAL, "linux.namespaces");
	expect_bad("{\"type\":\"uts\"}]",
		   "{\"type\":\"uts\"}],\"devices\":[{\"path\":\"/dev/x\","
		   "\"type\":\"q\",\"major\":1,\"minor\":1}]",
		   EINVAL, "linux.devices[0].type");
	expect_bad("{\"type\":\"uts\"}]",
		   "{\"type\":\"uts\"}],\"devices\":[{\"path\":\"/dev/x\","
		   "\"type\":\"c\",\"minor\":1}]",
		   EINVAL, "linux.devices[0].major");
	expect_bad("{\"type\":\"uts\"}]", "{\"type\":\"uts\"}],\"sysctl\":{\"a\":1}", EINVAL,
		   "linux.sysctl.a");
	expect_bad("{\"type\":\"uts\"}]",
		   "{\"type\":\"uts\"}],\"sysctl\":{\"vm.swappiness\":\"1\"}", EINVAL,
		   "linux.sysctl.vm.swappiness: not a namespaced sysctl");
	expect_bad("{\"type\":\"uts\"}]",
		   "{\"type\":\"uts\"}],\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"}", EINVAL,
		   "linux.sysctl.net.ipv4.ip_forward: needs the container's own network namespace");
	expect_bad("{\"type\":\"uts\"}]",
		   "{\"type\":\"uts\"}],\"sysctl\":{\"kernel.shmmax\":\"1\"}", EINVAL,
		   "ipc namespace");
	expect_bad("{\"type\":\"uts\"}]", "{\"type\":\"uts\"}],\"rootfsPropagation\":\"weird\"",
		   EINVAL, "linux.rootfsPropagation");
	expect_bad("{\"type\":\"uts\"}]", "{\"type\":\"uts\"}],\"maskedPaths\":[\"rel\"]", EINVAL,
		   "linux.maskedPaths");
	expect_bad("{\"type\":\"uts\"}]",
		   "{\"type\":\"uts\"}],\"resources\":{\"memory\":{\"limit\":\"x\"}}", EINVAL,
		   "linux.resources.memory.limit");
	expect_bad("{\"type\":\"uts\"}]",
		   "{\"type\":\"uts\"}],\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOPE\"}", EINVAL,
		   "linux.seccomp");
	expect_bad("{\"type\":\"uts\"}]", "{\"type\":\"uts\"}],\"mountLabel\":\"x\"", EOPNOTSUPP,
		   "linux.mountLabel");
	expect_bad("\"mounts\":[]", "\"hooks\":{\"prestart\":[{\"path\":\"rel\"}]}", EINVAL,
		   "hooks.prestart[0].path");
	expect_bad("\"mounts\":[]", "\"hooks\":{\"poststop\":[{\"path\":\"/x\",\"timeout\":0}]}",
		   EINVAL, "hooks.poststop[0].timeout");
	expect_bad("{\"type\":\"mount\"},{\"type\":\"uts\"}]}",
		   "{\"type\":\"mount\"}]},\"hostname\":\"h\"", EINVAL, "hostname");
	expect_bad("\"mounts\":[]", "\"annotations\":{\"a\":1}", EINVAL, "annotations.a");
}

static void test_process_parse(void **state)
{
	yajl_val v = NULL;
	const char *t = "{\"args\":[\"ls\"],\"env\":[\"A=1\"],\"terminal\":false}";
	assert_int_equal(json_parse(t, strlen(t), &v, NULL), 0);
	struct oci_process p;
	assert_int_equal(oci_process_parse(v, "process", &p, NULL), 0);
	assert_string_equal(p.cwd, "/");
	assert_false(p.caps.present);
	assert_false(p.has_oom_score_adj);
	oci_process_release(&p);
	yajl_tree_free(v);
}

static void test_default_spec_parses(void **state)
{
	char *js = oci_default_spec_json();
	struct oci_spec *s = parse_ok(js);
	assert_true(s->process.terminal);
	assert_int_equal(s->n_mounts, 7);
	assert_int_equal(s->n_namespaces, 5);
	assert_true(s->root_readonly);
	assert_string_equal(s->hostname, "runc");
	oci_spec_free(s);
	free(js);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_base_parses),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_process_parse),
		cmocka_unit_test(test_default_spec_parses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

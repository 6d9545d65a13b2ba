/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parity with the reference: Debian's runc runs a busybox container with a linux.resources
 * block, liboci applies the same block to a cgroup of its own holding a real child, and every
 * cgroup file runc wrote (memory, swap, cpu, cpuset, pids, devices.list, blkio throttle) and
 * the set of hierarchies joined must read the same. Then `runc update` flags and
 * oci_resources_set_flag() must agree too. v1/hybrid hosts as root; skips (77) otherwise or
 * without runc and busybox.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>

#include <sys/mount.h>
#include <sys/stat.h>

#include "helpers.h"
#include "oci/caps.h"
#include "oci/cgroup.h"

#define ROOT "/sys/fs/cgroup"
#define RUNC "/usr/sbin/runc"

static char tmp[64];  /* tmpfs: bundle and runc state */
static char base[80]; /* "/ocires-parity-<pid>" in every hierarchy */
static char disk[32]; /* "maj:min" of a real disk for the throttle rule */
static bool runc_started;

/* process.capabilities of both containers: distinct sets, ambient included. */
#define CAPS_JSON                                                                             \
	"{\"bounding\":[\"CAP_CHOWN\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\",\"CAP_SETPCAP\"," \
	"\"CAP_SYS_CHROOT\"],\"effective\":[\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"          \
	"\"permitted\":[\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\",\"CAP_CHOWN\"],"                \
	"\"inheritable\":[\"CAP_NET_BIND_SERVICE\"],\"ambient\":[\"CAP_NET_BIND_SERVICE\"]}"

static char *resources_json(void)
{
	unsigned maj = 0, min = 0;

	assert_int_equal(sscanf(disk, "%u:%u", &maj, &min), 2);
	/* The spec's own rules deny all, allow /dev/zero read-only, deny /dev/net/tun. */
	return xasprintf(
		"{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\","
		"\"major\":1,\"minor\":5,\"access\":\"r\"},{\"allow\":false,\"type\":\"c\",\"major\":10,"
		"\"minor\":200,\"access\":\"rwm\"}],"
		"\"memory\":{\"limit\":67108864,\"reservation\":33554432,\"swap\":134217728,"
		"\"swappiness\":30},"
		"\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0\",\"mems\":\"0\"},"
		"\"pids\":{\"limit\":42},"
		"\"blockIO\":{\"throttleReadBpsDevice\":[{\"major\":%u,\"minor\":%u,\"rate\":1048576}],"
		"\"throttleWriteIOPSDevice\":[{\"major\":%u,\"minor\":%u,\"rate\":77}]}}",
		maj, min, maj, min);
}

/* Runs runc with args (NULL-terminated after "--root <state>"), stdio on /dev/null. */
static int runc(const char *arg, ...)
{
	const char *argv[16];
	size_t n = 0;
	va_list ap;
	pid_t p;
	int st = 0;
	cleanup_free char *state = xasprintf("%s/state", tmp);

	argv[n++] = RUNC;
	argv[n++] = "--root";
	argv[n++] = state;
	va_start(ap, arg);
	for (const char *a = arg; a && n < ARRAY_SIZE(argv) - 1; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		int fd = open("/dev/null", O_RDWR);

		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(RUNC, (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(p, &st, 0), p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static bool find_disk(void)
{
	cleanup_closedir DIR *d = opendir("/sys/block");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		cleanup_free char *dir = NULL, *dev = NULL, *sz = NULL;

		if (de->d_name[0] == '.' || str_startswith(de->d_name, "loop") ||
		    str_startswith(de->d_name, "ram") || str_startswith(de->d_name, "zram"))
			continue;
		dir = xasprintf("/sys/block/%s", de->d_name);
		dev = read_text(dir, "dev");
		sz = read_text(dir, "size");
		if (!streq(sz, "0")) {
			snprintf(disk, sizeof(disk), "%s", dev);
			return true;
		}
	}
	return false;
}

static void write_bundle(void)
{
	cleanup_free char *b = xasprintf("%s/b", tmp), *rootfs = xasprintf("%s/b/rootfs/bin", tmp);
	cleanup_free char *bb = xasprintf("%s/busybox", rootfs), *res = resources_json();
	cleanup_free char *cfg = NULL, *src = NULL;
	size_t len = 0;

	assert_int_equal(mkdir_p(rootfs, 0755), 0);
	assert_int_equal(read_file("/bin/busybox", 64 << 20, &src, &len), 0);
	assert_int_equal(write_file_atomic(bb, src, len, 0755), 0);
	cfg = xasprintf(
		"{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,"
		"\"gid\":0},\"args\":[\"/bin/busybox\",\"sleep\",\"1000\"],\"env\":[\"PATH=/bin\"],"
		"\"cwd\":\"/\",\"capabilities\":%s},\"root\":{\"path\":\"rootfs\"},"
		"\"hostname\":\"parity\","
		"\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}],"
		"\"linux\":{\"cgroupsPath\":\"%s/runc\",\"resources\":%s,\"namespaces\":["
		"{\"type\":\"pid\"},{\"type\":\"mount\"},{\"type\":\"ipc\"},{\"type\":\"uts\"}]}}",
		CAPS_JSON, base, res);
	{
		cleanup_free char *p = xasprintf("%s/config.json", b);

		assert_int_equal(write_file_atomic(p, cfg, strlen(cfg), 0644), 0);
	}
}

static int setup(void **state)
{
	enum oci_cgroup_mode m;

	if (geteuid() != 0 || access(RUNC, X_OK) < 0 || access("/bin/busybox", X_OK) < 0 ||
	    oci_cgroup_detect_mode(ROOT, &m, NULL) < 0 || m == OCI_CGROUP_MODE_V2 || !find_disk()) {
		fprintf(stderr, "skip: needs root, runc, busybox, a disk and a cgroup v1 host\n");
		exit(77);
	}
	snprintf(tmp, sizeof(tmp), "/tmp/ocires-parity-XXXXXX");
	assert_non_null(mkdtemp(tmp));
	assert_int_equal(mount("tmpfs", tmp, "tmpfs", 0, "mode=0755"), 0);
	snprintf(base, sizeof(base), "/ocires-parity-%d", (int)getpid());
	write_bundle();
	return 0;
}

static int teardown(void **state)
{
	cleanup_closedir DIR *d = opendir(ROOT);
	struct oci_cgroup *cg = NULL;
	struct dirent *de;

	if (runc_started)
		(void)runc("delete", "--force", "ref", NULL);
	if (oci_cgroup_open(base, NULL, &cg, NULL) == 0) {
		(void)oci_cgroup_destroy(cg, NULL);
		oci_cgroup_free(cg);
	}
	while (d && (de = readdir(d))) {
		cleanup_free char *p = NULL;

		if (de->d_name[0] == '.')
			continue;
		p = xasprintf(ROOT "/%s%s", de->d_name, base);
		rmdir_r(p);
	}
	umount2(tmp, MNT_DETACH);
	rmdir(tmp);
	return 0;
}

static const char *const files[][2] = {
	{"memory", "memory.limit_in_bytes"},
	{"memory", "memory.soft_limit_in_bytes"},
	{"memory", "memory.memsw.limit_in_bytes"},
	{"memory", "memory.swappiness"},
	{"cpu", "cpu.shares"},
	{"cpu", "cpu.cfs_quota_us"},
	{"cpu", "cpu.cfs_period_us"},
	{"cpuset", "cpuset.cpus"},
	{"cpuset", "cpuset.mems"},
	{"pids", "pids.max"},
	{"devices", "devices.list"},
	{"blkio", "blkio.throttle.read_bps_device"},
	{"blkio", "blkio.throttle.write_iops_device"},
};

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The lines of s sorted: devices.list keeps insertion order, and runc writes its rules in a
 * different (computed) order; the set of rules is what must match. */
static char *sorted_lines(const char *s)
{
	cleanup_strv char **v = NULL;
	cleanup_free char *copy = xstrdup(s);
	struct strbuf sb = STRBUF_INIT;
	char *save = NULL;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		strv_push(&v, l);
	qsort(v, strv_length(v), sizeof(*v), cmp_str);
	strv_foreach(l, v)
		strbuf_addf(&sb, "%s\n", *l);
	return strbuf_detach(&sb, NULL);
}

static void compare(const char *ctrl, const char *file)
{
	cleanup_free char *rd = xasprintf(ROOT "/%s%s/runc", ctrl, base);
	cleanup_free char *od = xasprintf(ROOT "/%s%s/ours", ctrl, base);
	cleanup_free char *ra = read_text(rd, file), *rb = read_text(od, file);
	cleanup_free char *a = sorted_lines(ra), *b = sorted_lines(rb);

	if (!streq(a, b))
		fail_msg("%s/%s: runc wrote '%s', liboci '%s'", ctrl, file, a, b);
}

/* The hierarchy names of /proc/<pid>/cgroup, with the path part dropped. */
static char *joined(pid_t pid)
{
	cleanup_free char *dir = xasprintf("/proc/%d", (int)pid), *s = read_text(dir, "cgroup");
	struct strbuf sb = STRBUF_INIT;
	char *save = NULL;

	for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *last = strrchr(l, ':');
		const char *leaf = last ? strrchr(last, '/') : NULL;

		if (!last || !leaf)
			continue;
		*last = 0;
		/* Only the hierarchies under base count; the leaf names differ. */
		if (strstr(last + 1, base))
			strbuf_addf(&sb, "%s;", l);
	}
	return strbuf_detach(&sb, NULL);
}

static pid_t runc_pid(void)
{
	cleanup_free char *dir = xasprintf(ROOT "/pids%s/runc", base),
			  *s = read_text(dir, "cgroup.procs");
	int pid = 0;

	assert_int_equal(parse_int(s, &pid), 0);
	return pid;
}

/* The Cap* lines of /proc/<pid>/status. */
static char *cap_lines(pid_t pid)
{
	cleanup_free char *dir = xasprintf("/proc/%d", (int)pid), *s = read_text(dir, "status");
	struct strbuf sb = STRBUF_INIT;
	char *save = NULL;

	for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (str_startswith(l, "Cap"))
			strbuf_addf(&sb, "%s\n", l);
	return strbuf_detach(&sb, NULL);
}

static int apply_caps_child(void *arg)
{
	struct oci_caps *c = arg;

	if (oci_caps_apply_bounding(c, NULL) < 0 || oci_caps_apply(c, NULL) < 0)
		return 1;
	/* runc's process is looked at after its execve (which recomputes the sets): so is ours. */
	execl("/bin/busybox", "busybox", "sleep", "1000", (char *)NULL);
	return 2;
}

/* The same process.capabilities applied by liboci in a child: /proc/<pid>/status must match
 * runc's container process line for line. */
static void compare_caps(pid_t runc_init)
{
	cleanup_err struct wh_err *err = NULL;
	cleanup_free char *a = NULL, *b = NULL;
	struct oci_caps caps;
	yajl_val v = parse_json(CAPS_JSON);
	struct child c;

	assert_ok(oci_caps_parse(v, "process.capabilities", &caps, &err), err);
	yajl_tree_free(v);
	c = child_start(apply_caps_child, &caps);
	child_go(&c);
	/* Wait until the child has applied them and exec'd. */
	for (int i = 0; i < 500; i++) {
		cleanup_free char *dir = xasprintf("/proc/%d", (int)c.pid),
				  *comm = read_text(dir, "comm");

		if (streq(comm, "busybox"))
			break;
		sleep_ms(10);
	}
	b = cap_lines(c.pid);
	a = cap_lines(runc_init);
	child_kill(&c);
	if (!streq(a, b))
		fail_msg("capabilities: runc '%s', liboci '%s'", a, b);
}

static void test_parity(void **state)
{
	cleanup_err struct wh_err *err = NULL;
	cleanup_free char *bundle = xasprintf("%s/b", tmp), *res_json = resources_json();
	cleanup_free char *ours_path = xasprintf("%s/ours", base);
	cleanup_free char *j_runc = NULL, *j_ours = NULL;
	const struct oci_device_rule *defs;
	struct oci_resources spec, res, upd;
	struct oci_cgroup *cg = NULL;
	struct child c = child_start(NULL, NULL);
	yajl_val v = parse_json(res_json);
	size_t nd;

	assert_int_equal(runc("run", "--detach", "--bundle", bundle, "ref", NULL), 0);
	runc_started = true;

	/* liboci the way wharf-oci does it: the spec's rules, then runc's defaults. */
	oci_resources_init(&spec);
	assert_ok(oci_resources_parse(v, "linux.resources", &spec, &err), err);
	res = spec;
	defs = oci_cgroup_default_device_rules(&nd);
	res.devices = xnew0(struct oci_device_rule, spec.n_devices + nd);
	memcpy(res.devices, spec.devices, spec.n_devices * sizeof(*defs));
	memcpy(res.devices + spec.n_devices, defs, nd * sizeof(*defs));
	res.n_devices = spec.n_devices + nd;
	assert_ok(oci_cgroup_create(ours_path, "x", NULL, &cg, &err), err);
	assert_ok(oci_cgroup_apply(cg, &res, &err), err);
	free(res.devices);
	assert_ok(oci_cgroup_enter(cg, c.pid, &err), err);

	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		compare(files[i][0], files[i][1]);
	j_runc = joined(runc_pid());
	j_ours = joined(c.pid);
	assert_string_equal(j_runc, j_ours);

	compare_caps(runc_pid());

	/* runc update flags vs oci_resources_set_flag + merge. */
	assert_int_equal(runc("update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit",
			      "50", "--cpu-share", "300", "--cpu-quota", "-1", "ref", NULL),
			 0);
	oci_resources_init(&upd);
	assert_ok(oci_resources_set_flag(&upd, "memory", "128m", &err), err);
	assert_ok(oci_resources_set_flag(&upd, "memory-swap", "256m", &err), err);
	assert_ok(oci_resources_set_flag(&upd, "pids-limit", "50", &err), err);
	assert_ok(oci_resources_set_flag(&upd, "cpu-share", "300", &err), err);
	assert_ok(oci_resources_set_flag(&upd, "cpu-quota", "-1", &err), err);
	oci_resources_merge(&spec, &upd);
	/* Device rules are not part of an update (runc leaves them alone too). */
	free(spec.devices);
	spec.devices = NULL;
	spec.n_devices = 0;
	assert_ok(oci_cgroup_apply(cg, &spec, &err), err);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		compare(files[i][0], files[i][1]);

	assert_int_equal(runc("delete", "--force", "ref", NULL), 0);
	runc_started = false;
	assert_ok(oci_cgroup_destroy(cg, &err), err);
	assert_int_equal(WTERMSIG(child_wait(&c)), SIGKILL);
	oci_cgroup_free(cg);
	oci_resources_release(&spec);
	oci_resources_release(&upd);
	yajl_tree_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parity),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

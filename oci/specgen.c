/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Documents this runtime writes rather than reads: the default config.json of `spec` (the same
 * content runc writes) and the `features` JSON (what the runtime supports).
 */
#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "oci/internal.h"

/* The default spec: a busybox-style shell with a read-only rootfs, runc's mounts, masked and
 * read-only /proc paths and the three capabilities runc keeps. */
static const char default_spec[] =
	"{\"ociVersion\":\"1.0.2-dev\","
	"\"process\":{\"terminal\":true,\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"sh\"],"
	"\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\","
	"\"TERM=xterm\"],\"cwd\":\"/\","
	"\"capabilities\":{"
	"\"bounding\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
	"\"effective\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
	"\"permitted\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
	"\"ambient\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"]},"
	"\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}],"
	"\"noNewPrivileges\":true},"
	"\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
	"\"hostname\":\"runc\","
	"\"mounts\":["
	"{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	"{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
	"\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
	"{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
	"\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\","
	"\"gid=5\"]},"
	"{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
	"{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
	"{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]},"
	"{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"relatime\",\"ro\"]}],"
	"\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},"
	"\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},"
	"{\"type\":\"uts\"},{\"type\":\"mount\"}],"
	"\"maskedPaths\":[\"/proc/acpi\",\"/proc/asound\",\"/proc/kcore\",\"/proc/keys\","
	"\"/proc/latency_stats\",\"/proc/timer_list\",\"/proc/timer_stats\",\"/proc/sched_debug\","
	"\"/sys/firmware\",\"/proc/scsi\"],"
	"\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\","
	"\"/proc/sysrq-trigger\"]}}";

char *oci_default_spec_json(void)
{
	yajl_val v = NULL;
	if (json_parse(default_spec, strlen(default_spec), &v, NULL) < 0)
		BUG("default spec does not parse");
	yajl_gen g = json_gen_new(true);
	json_gen_value(g, v);
	yajl_tree_free(v);
	return json_gen_finish(g, NULL);
}

static void gen_strs(yajl_gen g, const char *key, const char *const *v, size_t n)
{
	json_gen_str(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++)
		json_gen_str(g, v[i]);
	yajl_gen_array_close(g);
}

char *oci_features_json(void)
{
	static const char *const hooks[] = {"prestart",	      "createRuntime", "createContainer",
					    "startContainer", "poststart",     "poststop"};
	static const char *const mount_opts[] = {
		"async",	 "atime",      "bind",	     "defaults", "dev",
		"diratime",	 "dirsync",    "exec",	     "mand",	 "noatime",
		"nodev",	 "nodiratime", "noexec",     "nomand",	 "norelatime",
		"nostrictatime", "nosuid",     "private",    "rbind",	 "relatime",
		"remount",	 "ro",	       "rprivate",   "rshared",	 "rslave",
		"runbindable",	 "rw",	       "shared",     "slave",	 "strictatime",
		"suid",		 "sync",       "unbindable",
	};
	static const char *const namespaces[] = {"cgroup", "ipc",  "mount", "network",
						 "pid",	   "user", "uts"};
	static const char *const actions[] = {
		"SCMP_ACT_ALLOW",	"SCMP_ACT_ERRNO", "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS",
		"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",	  "SCMP_ACT_TRACE", "SCMP_ACT_TRAP",
	};
	static const char *const ops[] = {
		"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",	    "SCMP_CMP_LE",
		"SCMP_CMP_LT", "SCMP_CMP_NE", "SCMP_CMP_MASKED_EQ",
	};
	yajl_gen g = json_gen_new(true);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "ociVersionMin", "1.0.0");
	json_gen_kv_str(g, "ociVersionMax", "1.0.2");
	gen_strs(g, "hooks", hooks, ARRAY_SIZE(hooks));
	gen_strs(g, "mountOptions", mount_opts, ARRAY_SIZE(mount_opts));
	json_gen_str(g, "linux");
	yajl_gen_map_open(g);
	gen_strs(g, "namespaces", namespaces, ARRAY_SIZE(namespaces));
	json_gen_str(g, "capabilities");
	yajl_gen_array_open(g);
	for (int c = 0; c <= oci_cap_last(); c++) {
		const char *n = oci_cap_to_name(c);
		if (n)
			json_gen_str(g, n);
	}
	yajl_gen_array_close(g);
	json_gen_str(g, "cgroup");
	yajl_gen_map_open(g);
	json_gen_kv_bool(g, "v1", true);
	json_gen_kv_bool(g, "v2", true);
	json_gen_kv_bool(g, "systemd", false);
	json_gen_kv_bool(g, "systemdUser", false);
	yajl_gen_map_close(g);
	json_gen_str(g, "seccomp");
	yajl_gen_map_open(g);
	json_gen_kv_bool(g, "enabled", true);
	gen_strs(g, "actions", actions, ARRAY_SIZE(actions));
	gen_strs(g, "operators", ops, ARRAY_SIZE(ops));
	yajl_gen_map_close(g);
	json_gen_str(g, "apparmor");
	yajl_gen_map_open(g);
	json_gen_kv_bool(g, "enabled", false);
	yajl_gen_map_close(g);
	json_gen_str(g, "selinux");
	yajl_gen_map_open(g);
	json_gen_kv_bool(g, "enabled", false);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	return json_gen_finish(g, NULL);
}

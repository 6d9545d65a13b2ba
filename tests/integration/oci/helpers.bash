# SPDX-License-Identifier: Apache-2.0
# Helpers of the runtime suite: a busybox bundle on a tmpfs, a config.json built with jq from one
# base spec (the same for every runtime), and `rt` = "$RUNTIME --root <state>".

: "${RUNTIME:?set RUNTIME to the runtime binary (wharf-oci, runc or crun)}"

rt() {
	"$RUNTIME" --root "$T/state" "$@"
}

# For commands that leave a container running: its stdio must not be the caller's pipes (bats
# would wait for them), so they go to a file.
rt_bg() {
	rt "$@" </dev/null >>"$B/ctr.out" 2>&1 || { cat "$B/ctr.out" >&2; return 1; }
}

base_config() {
	cat <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["true"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "$T/rootfs", "readonly": false},
  "hostname": "oci-it",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "cgroupsPath": "/$CGPARENT/$ID",
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON
}

# cfg 'jq filter' [jq args...]: writes $B/config.json from the base spec.
cfg() {
	local filter=$1
	shift
	base_config | jq "$@" "$filter" >"$B/config.json"
}

# args 'shell command': sets process.args to sh -c command.
args_sh() {
	cfg '.process.args = ["sh", "-c", $c]' --arg c "$1"
}

is_v2() {
	[ -f /sys/fs/cgroup/cgroup.controllers ]
}

# cgroup_file CONTROLLER FILE: the host path of a file of the test container's cgroup.
cgroup_file() {
	if is_v2; then
		echo "/sys/fs/cgroup/$CGPARENT/$ID/$2"
	else
		echo "/sys/fs/cgroup/$1/$CGPARENT/$ID/$2"
	fi
}

v2_has() {
	grep -qw "$1" /sys/fs/cgroup/cgroup.controllers
}

status_of() {
	rt state "$1" | jq -r .status
}

wait_status() {
	local want=$1 id=$2 i
	for i in $(seq 100); do
		[ "$(status_of "$id" 2>/dev/null)" = "$want" ] && return 0
		sleep 0.05
	done
	echo "container $id did not become $want (is $(status_of "$id" 2>&1))" >&2
	return 1
}

suite_setup() {
	T=$(mktemp -d /tmp/oci-it-XXXXXX)
	mount -t tmpfs -o mode=755 tmpfs "$T"
	mkdir -p "$T/rootfs/bin" "$T/rootfs/etc" "$T/rootfs/tmp" "$T/state"
	cp /bin/busybox "$T/rootfs/bin/busybox"
	chroot "$T/rootfs" /bin/busybox --install -s /bin
	echo 'root:x:0:0:root:/root:/bin/sh' >"$T/rootfs/etc/passwd"
	echo 'user:x:1000:1000:user:/home/user:/bin/sh' >>"$T/rootfs/etc/passwd"
	echo 'root:x:0:' >"$T/rootfs/etc/group"
	chmod 1777 "$T/rootfs/tmp"
	CGPARENT=$(basename "$T")
	export T CGPARENT
}

suite_teardown() {
	local id
	for id in $(rt list -q 2>/dev/null); do
		rt delete -f "$id" >/dev/null 2>&1 || true
	done
	local d
	for d in /sys/fs/cgroup/*/"$CGPARENT" /sys/fs/cgroup/"$CGPARENT"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	umount -R "$T" 2>/dev/null || umount -l "$T"
	rmdir "$T"
}

test_setup() {
	ID=c$BATS_TEST_NUMBER
	B=$T/b$BATS_TEST_NUMBER
	mkdir -p "$B"
	export ID B
}

test_teardown() {
	rt delete -f "$ID" >/dev/null 2>&1 || true
	[ -n "${ID2:-}" ] && { rt delete -f "$ID2" >/dev/null 2>&1 || true; }
	return 0
}

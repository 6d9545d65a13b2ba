#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Interop: real containerd 1.6 (Debian) runs containers through wharf-shim as the runtime
# io.containerd.wharf.v2: `ctr run` output and exit code, `ctr task exec`, `ctr task kill`,
# `ctr task ls`, pause/resume, and a containerd restart (kill -9, start again) after which
# containerd still sees and controls the task.
#
# Usage: containerd-run.sh SHIM_DIR [builtin|runc|crun]
#   SHIM_DIR holds containerd-shim-wharf-v2. Runs in a private mount namespace (re-executes itself
#   under `unshare -m`), with containerd's root, state and socket in a temp dir; the host's
#   /run and /var/lib/containerd are never touched.
set -euo pipefail

shim_dir=$(cd "$1" && pwd)
runtime=${2:-runc}
if [[ $(id -u) != 0 ]]; then
	echo "needs root"
	exit 77
fi
for b in containerd ctr; do
	command -v $b >/dev/null || { echo "$b missing"; exit 77; }
done
if [[ -z ${SHIM_INTEROP_UNSHARED:-} ]]; then
	export SHIM_INTEROP_UNSHARED=1
	exec unshare -m --propagation private "$0" "$@"
fi
if [[ $runtime == crun ]]; then
	# Debian's crun refuses hybrid cgroups; only in this private mount namespace.
	umount /sys/fs/cgroup/unified 2>/dev/null || true
fi

# A private /run: the runc shim hard-codes /run/containerd/{s,runc}; the host's stays untouched.
mount -t tmpfs -o mode=0755 tmpfs /run
T=$(mktemp -d /tmp/shim-interop-XXXXXX)
mount -t tmpfs -o mode=0700 tmpfs "$T"
ctrd_pid=
fails=0
cleanup() {
	set +e
	if [[ -S $T/c.sock ]]; then
		for id in $(ctr_ task ls -q 2>/dev/null); do
			ctr_ task kill -s KILL "$id" >/dev/null 2>&1
		done
		sleep 0.5
		for id in $(ctr_ task ls -q 2>/dev/null); do
			ctr_ task rm -f "$id" >/dev/null 2>&1
		done
		for id in $(ctr_ c ls -q 2>/dev/null); do
			ctr_ c rm "$id" >/dev/null 2>&1
		done
	fi
	[[ -n $ctrd_pid ]] && kill -9 "$ctrd_pid" 2>/dev/null
	# shims of this run (cwd inside our state dir), by pid
	for p in /proc/[0-9]*; do
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		[[ $cwd == "$T"/* ]] && kill -9 "${p#/proc/}" 2>/dev/null
	done
	sleep 0.2
	# runc leaves the namespace's parent cgroup (/<ns>) behind: remove it when empty.
	for c in /sys/fs/cgroup/*/shim-interop; do [[ -d $c ]] && rmdir "$c" 2>/dev/null; done
	grep -o " $T[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	[[ -n ${SHIM_TEST_KEEP:-} ]] || rm -rf "$T"
}
trap cleanup EXIT

ctr_() { ctr -a "$T/c.sock" -n shim-interop "$@"; }
check() { # check NAME COND-EXIT-STATUS
	if [[ $2 == 0 ]]; then echo "ok $1"; else echo "FAIL $1 ${3:-}"; fails=$((fails + 1)); fi
}

# A busybox rootfs (Debian's busybox-static), for `ctr run --rootfs`.
mkdir -p "$T/rootfs/bin" "$T/rootfs/proc" "$T/rootfs/dev" "$T/rootfs/sys" "$T/rootfs/tmp" \
	"$T/rootfs/etc" "$T/fifo"
cp /bin/busybox "$T/rootfs/bin/"
chroot "$T/rootfs" /bin/busybox --install -s /bin
echo 'root:x:0:0:root:/:/bin/sh' >"$T/rootfs/etc/passwd"

cat >"$T/config.toml" <<EOF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$T/c.sock"
EOF

start_containerd() {
	# The shim inherits containerd's environment: WHARF_SHIM_RUNTIME picks the exec driver.
	PATH="$shim_dir:$PATH" WHARF_SHIM_RUNTIME=$rt_env \
		containerd --config "$T/config.toml" >>"$T/containerd.log" 2>&1 &
	ctrd_pid=$!
	disown "$ctrd_pid"
	for _ in $(seq 100); do
		[[ -S $T/c.sock ]] && ctr_ version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "containerd did not start"; tail -20 "$T/containerd.log"; exit 1
}
rt_env=$runtime
[[ $runtime == builtin ]] && rt_env=builtin
start_containerd

# --rootfs gives a spec without env: PATH must be set.
run_opts=(--fifo-dir "$T/fifo" --runtime io.containerd.wharf.v2 --env PATH=/bin --rootfs "$T/rootfs")

# The checks below run without -e: every one reports.
set +e
# Task events reach containerd through Events/Forward: watch them with `ctr events`.
ctr_ events >"$T/events.txt" 2>&1 &
events_pid=$!
sleep 0.3

# 1. output and exit code
out=$(ctr_ run --rm "${run_opts[@]}" t1 sh -c 'echo hello-from-wharf; echo err >&2; exit 3' 2>&1)
rc=$?
[[ $out == *hello-from-wharf* ]]; check "run output" $? "got '$out'"
[[ $rc == 3 ]]; check "run exit code" $? "got $rc"
[[ -z $(ctr_ c ls -q) ]]; check "run --rm removed the container" $?
for _ in $(seq 100); do
	grep -q '/tasks/delete.*"t1"' "$T/events.txt" && break
	sleep 0.05
done
kill "$events_pid" 2>/dev/null
wait "$events_pid" 2>/dev/null
evs=$(grep -o '/tasks/[a-z-]* {"container_id":"t1"' "$T/events.txt" | awk '{print $1}' | tr '\n' ' ')
[[ $evs == "/tasks/create /tasks/start /tasks/exit /tasks/delete " ]]
check "containerd saw the task events in order" $? "got '$evs'"

# 1a. a terminal (ctr -t needs one itself: script(1) gives it a pty); ctr sends ResizePty.
# ctr sends ResizePty after Start: the container polls (bounded) until the size lands.
cat >"$T/rootfs/bin/ttycheck" <<'EOS'
#!/bin/sh
test -t 0 && echo tty-yes
for i in $(seq 100); do
	s=$(stty size 2>&1)
	case $s in [1-9]*" "[1-9]*) break ;; esac
	sleep 0.05
done
echo "size:$s"
EOS
chmod +x "$T/rootfs/bin/ttycheck"
out=$(script -qec "stty rows 27 cols 91; ctr -a $T/c.sock -n shim-interop run -t --rm ${run_opts[*]} tt ttycheck" /dev/null 2>&1 </dev/null)
[[ $out == *tty-yes* ]]; check "run -t: a terminal" $? "got '$out'"
[[ $out == *"size:27 91"* ]]; check "run -t: the size ctr sent with ResizePty" $? "got '$out'"

# 1b. an image (busybox docker-archive from tests/fixtures): the rootfs comes as an overlay
# mount in Create, which the shim mounts on bundle/rootfs.
fixtures=$(cd "$(dirname "$0")/../../fixtures" && pwd)
if "$fixtures/build-image.sh" "$T/img" >/dev/null 2>&1 &&
	ctr_ images import "$T/img/busybox.tar" >/dev/null 2>&1; then
	out=$(ctr_ run --rm --fifo-dir "$T/fifo" --runtime io.containerd.wharf.v2 \
		wharf.test/busybox:latest t0 sh -c 'echo from-image; cat /proc/self/mountinfo' 2>&1)
	[[ $out == *from-image* ]]; check "run from an image" $? "got '$out'"
	[[ $out == *" / "*overlay* ]]; check "image rootfs is the overlay mount" $?
	[[ -z $(ctr_ c ls -q) ]]; check "image run --rm removed the container" $?
else
	echo "FAIL image fixture: build or import failed"
	fails=$((fails + 1))
fi

# 2. a long-running task: ls, exec, pause/resume, ps
ctr_ run -d "${run_opts[@]}" t2 sh -c 'trap "exit 0" TERM; while :; do sleep 0.2; done' >/dev/null
sleep 0.3
ctr_ task ls | grep -Eq '^t2 +[0-9]+ +RUNNING'; check "task ls running" $?
shim_pid=$(pgrep -f "containerd-shim-wharf-v2 -namespace shim-interop -id t2" | head -1 || true)
[[ -n $shim_pid ]]; check "shim process is containerd-shim-wharf-v2" $?
out=$(ctr_ task exec --fifo-dir "$T/fifo" --exec-id e1 t2 sh -c 'echo in-exec; exit 5' 2>&1)
rc=$?
[[ $out == *in-exec* ]]; check "exec output" $? "got '$out'"
ctr_ task exec --fifo-dir "$T/fifo" --exec-id e2 t2 sh -c 'exit 5' >/dev/null 2>&1
rc=$?
[[ $rc == 5 ]]; check "exec exit code" $? "got $rc"
ctr_ task pause t2
ctr_ task ls | grep -Eq '^t2 +[0-9]+ +PAUSED'; check "task ls paused" $?
ctr_ task resume t2
ctr_ task ls | grep -Eq '^t2 +[0-9]+ +RUNNING'; check "task ls resumed" $?
[[ $(ctr_ task ps t2 | tail -n +2 | wc -l) -ge 1 ]]; check "task ps" $?

# 3. containerd restart: kill -9, start again; the task is still seen and controlled.
kill -9 "$ctrd_pid"
while kill -0 "$ctrd_pid" 2>/dev/null; do sleep 0.05; done
rm -f "$T/c.sock"
start_containerd
ctr_ task ls | grep -Eq '^t2 +[0-9]+ +RUNNING'; check "task ls after containerd restart" $?
[[ $(pgrep -f "containerd-shim-wharf-v2 -namespace shim-interop -id t2" | head -1) == "$shim_pid" ]]
check "same shim after restart" $?
out=$(ctr_ task exec --fifo-dir "$T/fifo" --exec-id e3 t2 echo after-restart 2>&1)
[[ $out == *after-restart* ]]; check "exec after restart" $? "got '$out'"
ctr_ task kill t2
for _ in $(seq 50); do
	ctr_ task ls | grep -Eq '^t2 +[0-9]+ +STOPPED' && break
	sleep 0.1
done
ctr_ task ls | grep -Eq '^t2 +[0-9]+ +STOPPED'; check "task kill (SIGTERM) stops it" $?
ctr_ task rm t2 >/dev/null
ctr_ c rm t2
for _ in $(seq 50); do
	kill -0 "$shim_pid" 2>/dev/null || break
	sleep 0.1
done
! kill -0 "$shim_pid" 2>/dev/null; check "shim exited after delete" $?
[[ -z $(ls "$T/state/io.containerd.runtime.v2.task/shim-interop/" 2>/dev/null) ]]
check "bundle removed" $?

if [[ $fails != 0 ]]; then
	echo "--- containerd log (tail)"
	tail -40 "$T/containerd.log"
fi
echo "$fails failed ($runtime)"
[[ $fails == 0 ]]

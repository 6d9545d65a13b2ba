#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# wharf-shim vs containerd-shim-runc-v2 under the same containerd 1.6, side by side in one run:
#   1. N idle containers through each shim: RSS and PSS per shim process (smaps_rollup);
#   2. `ctr run --rm ... true` latency through each shim (alternating, R runs each).
# Both shims drive the same runc (wharf-shim's exec driver: WHARF_SHIM_RUNTIME=runc), and with
# DRIVER=builtin wharf-shim uses its in-process liboci instead.
#
# Usage: shim-bench.sh SHIM_DIR [N=20] [R=20]     (root; private mount namespace, temp dirs)
set -euo pipefail

shim_dir=$(cd "$1" && pwd)
N=${2:-20}
R=${3:-20}
driver=${DRIVER:-runc}
[[ $(id -u) == 0 ]] || { echo "needs root"; exit 77; }
if [[ -z ${SHIM_BENCH_UNSHARED:-} ]]; then
	export SHIM_BENCH_UNSHARED=1
	exec unshare -m --propagation private "$0" "$@"
fi

# A private /run: the runc shim hard-codes /run/containerd/{s,runc}; the host's stays untouched.
mount -t tmpfs -o mode=0755 tmpfs /run
T=$(mktemp -d /tmp/shim-bench-XXXXXX)
# Everything on tmpfs (as /run/containerd is), for both shims alike.
mount -t tmpfs -o mode=0700 tmpfs "$T"
ctrd_pid=
cleanup() {
	set +e
	for id in $(ctr_ task ls -q 2>/dev/null); do ctr_ task kill -s KILL "$id" >/dev/null 2>&1; done
	sleep 1
	for id in $(ctr_ task ls -q 2>/dev/null); do ctr_ task rm -f "$id" >/dev/null 2>&1; done
	for id in $(ctr_ c ls -q 2>/dev/null); do ctr_ c rm "$id" >/dev/null 2>&1; done
	[[ -n $ctrd_pid ]] && kill -9 "$ctrd_pid" 2>/dev/null
	for p in /proc/[0-9]*; do
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		[[ $cwd == "$T"/* ]] && kill -9 "${p#/proc/}" 2>/dev/null
	done
	sleep 0.3
	# runc leaves the namespace's parent cgroup (/<ns>) behind: remove it when empty.
	for c in /sys/fs/cgroup/*/shim-bench; do [[ -d $c ]] && rmdir "$c" 2>/dev/null; done
	grep -o " $T[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$T"
}
trap cleanup EXIT
ctr_() { ctr -a "$T/c.sock" -n shim-bench "$@"; }

mkdir -p "$T/rootfs/bin" "$T/rootfs/proc" "$T/rootfs/dev" "$T/rootfs/sys" "$T/rootfs/tmp" "$T/fifo"
cp /bin/busybox "$T/rootfs/bin/"
chroot "$T/rootfs" /bin/busybox --install -s /bin
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
PATH="$shim_dir:$PATH" WHARF_SHIM_RUNTIME=$driver containerd --config "$T/config.toml" \
	>"$T/containerd.log" 2>&1 &
ctrd_pid=$!
disown "$ctrd_pid"
for _ in $(seq 100); do
	[[ -S $T/c.sock ]] && ctr_ version >/dev/null 2>&1 && break
	sleep 0.1
done

opts=(--fifo-dir "$T/fifo" --env PATH=/bin --rootfs "$T/rootfs")
declare -A RT=([wharf]=io.containerd.wharf.v2 [runc]=io.containerd.runc.v2)
# The runc shim's state root would be the host's /run/containerd/runc: keep it in $T too.
declare -A XOPT=([wharf]="" [runc]="--runc-root=$T/runc-root")
declare -A BIN=([wharf]=containerd-shim-wharf-v2 [runc]=containerd-shim-runc-v2)

# ---- 1. memory of idle shims ----
for k in wharf runc; do
	for i in $(seq "$N"); do
		ctr_ run -d --runtime "${RT[$k]}" ${XOPT[$k]} "${opts[@]}" "$k-idle-$i" sleep 100000 >/dev/null
	done
done
sleep 2
mem() { # mem BINARY -> "count rss_kb_avg pss_kb_avg"
	local n=0 rss=0 pss=0
	for p in $(pgrep -f "^([^ ]*/)?$1 -namespace shim-bench"); do
		local r s
		r=$(awk '/^Rss:/{print $2}' "/proc/$p/smaps_rollup")
		s=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup")
		n=$((n + 1)); rss=$((rss + r)); pss=$((pss + s))
	done
	echo "$n $((rss / (n ? n : 1))) $((pss / (n ? n : 1)))"
}
read -r wn wrss wpss <<<"$(mem "${BIN[wharf]}")"
read -r rn rrss rpss <<<"$(mem "${BIN[runc]}")"
for id in $(ctr_ task ls -q); do ctr_ task kill -s KILL "$id"; done
sleep 1
for id in $(ctr_ task ls -q); do ctr_ task rm "$id" >/dev/null; done
for id in $(ctr_ c ls -q); do ctr_ c rm "$id"; done

# ---- 2. ctr run --rm true latency, alternating ----
declare -A TOTAL=([wharf]=0 [runc]=0)
declare -A SAMPLES=([wharf]="" [runc]="")
for i in $(seq "$R"); do
	for k in wharf runc; do
		t0=$(date +%s%N)
		ctr_ run --rm --runtime "${RT[$k]}" ${XOPT[$k]} "${opts[@]}" "$k-run-$i" true
		t1=$(date +%s%N)
		d=$(((t1 - t0) / 1000))
		TOTAL[$k]=$((TOTAL[$k] + d))
		SAMPLES[$k]+="$d "
	done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
wmed=$(echo "${SAMPLES[wharf]}" | median)
rmed=$(echo "${SAMPLES[runc]}" | median)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "n/a"; else printf "%.3f", a / b }'; }
echo "shim benchmark: containerd $(containerd --version | awk '{print $3}'), wharf driver=$driver, N=$N idle, R=$R runs"
printf "%-28s %10s %10s %10s\n" "" "wharf" "runc-v2" "wharf/runc"
printf "%-28s %10s %10s %10s\n" "shims counted" "$wn" "$rn" ""
printf "%-28s %10s %10s %10s\n" "RSS per shim (KiB)" "$wrss" "$rrss" "$(ratio "$wrss" "$rrss")"
printf "%-28s %10s %10s %10s\n" "PSS per shim (KiB)" "$wpss" "$rpss" "$(ratio "$wpss" "$rpss")"
printf "%-28s %10s %10s %10s\n" "ctr run --rm true, mean ms" \
	"$(awk -v t="${TOTAL[wharf]}" -v r="$R" 'BEGIN{printf "%.1f", t/r/1000}')" \
	"$(awk -v t="${TOTAL[runc]}" -v r="$R" 'BEGIN{printf "%.1f", t/r/1000}')" \
	"$(ratio "${TOTAL[wharf]}" "${TOTAL[runc]}")"
printf "%-28s %10s %10s %10s\n" "ctr run --rm true, median ms" \
	"$(awk -v t="$wmed" 'BEGIN{printf "%.1f", t/1000}')" \
	"$(awk -v t="$rmed" 'BEGIN{printf "%.1f", t/1000}')" "$(ratio "$wmed" "$rmed")"
[[ $wn == "$N" && $rn == "$N" ]] || { echo "expected $N shims of each kind"; exit 1; }

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# wharfd + wharf shim vs Debian's containerd 1.6 + runc, side by side in one run:
#   1. daemon idle memory (VmRSS, smaps_rollup Pss) once the image is imported;
#   2. `wharfctl run --rm IMAGE ID true` vs `ctr run --rm IMAGE ID true` latency (hyperfine, one
#      invocation, warmup), and ctr through containerd with the wharf shim (io.containerd.wharf.v2);
#   3. N detached containers (`run -d ... sleep`), one after another: time until all are RUNNING,
#      shim RSS/PSS per container averaged over the N, and the daemon's growth per container.
# Both daemons get their root and state on the same tmpfs; containerd runs with its CRI plugin and
# the snapshotters that cannot work here disabled (it serves the same API surface as wharfd then).
#
# Usage: bench/supervisor/run.sh [BUILD_DIR=/work/main/build/bench] [N=50] [R=30]
# (root; re-executes itself in a private mount namespace with a tmpfs over /run; everything it
# creates lives under /tmp/bench-supervisor-XXXXXX and is removed at exit.)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
B=$(cd "${1:-$src/build/bench}" && pwd)
N=${2:-50}
R=${3:-30}
[[ $(id -u) == 0 ]] || { echo "needs root"; exit 77; }
for b in "$B/supervisor/wharfd" "$B/ctl/wharfctl" "$B/shim/containerd-shim-wharf-v2"; do
	[[ -x $b ]] || { echo "missing $b: build wharfd wharfctl wharf-shim in $B"; exit 1; }
done
for b in containerd ctr runc containerd-shim-runc-v2 hyperfine python3; do
	command -v "$b" >/dev/null || { echo "missing $b (Debian: containerd runc hyperfine)"; exit 1; }
done
if [[ -z ${WHARF_BENCH_UNSHARED:-} ]]; then
	export WHARF_BENCH_UNSHARED=1
	# Other work on the machine (builds, fuzzers) skews the figures: everything this run starts
	# (daemons, shims, clients, containers, on both sides alike) runs at nice -10 when allowed.
	nice=()
	nice -n -10 true 2>/dev/null && nice=(nice -n -10)
	exec "${nice[@]}" unshare -m --propagation private "$0" "$B" "$N" "$R"
fi

# A private /run: containerd, ctr and the runc shim default to /run/containerd/...; the host's
# /run stays untouched.
mount -t tmpfs -o mode=0755 tmpfs /run
T=$(mktemp -d /tmp/bench-supervisor-XXXXXX)
mount -t tmpfs -o mode=0700 tmpfs "$T"
mkdir -p "$T/w/root" "$T/w/state" "$T/c/root" "$T/c/state" "$T/fifo" "$T/img" "$T/out"
NS=bench-supervisor-$$ # also the cgroup parent both daemons create: unique per run
IMG=wharf.test/busybox:latest
WSOCK=$T/w/state/wharfd.sock
CSOCK=$T/c/c.sock
wharfd_pid=
ctrd_pid=

w_() { "$B/ctl/wharfctl" --address "$WSOCK" -n "$NS" "$@"; }
c_() { ctr -a "$CSOCK" -n "$NS" "$@"; }

alive() { # alive PID: a live process, not a zombie
	[[ -r /proc/$1/stat ]] || return 1
	local st
	st=$(sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f1)
	[[ $st != Z && $st != X ]]
}

# the container ids of the namespace
w_ids() { w_ containers ls -q 2>/dev/null || true; }
c_ids() { c_ containers ls -q 2>/dev/null || true; }

w_clear() {
	local id
	for id in $(w_ids); do w_ tasks kill -s KILL "$id" >/dev/null 2>&1 || true; done
	for id in $(w_ids); do
		for _ in $(seq 50); do
			w_ tasks delete "$id" >/dev/null 2>&1 && break
			w_ tasks ls 2>/dev/null | grep -q "^$id " || break
			sleep 0.1
		done
		w_ containers rm "$id" >/dev/null 2>&1 || echo "bench: wharfctl containers rm $id failed" >&2
	done
}
c_clear() {
	local id
	for id in $(c_ task ls -q 2>/dev/null); do c_ task kill -s KILL "$id" >/dev/null 2>&1 || true; done
	for id in $(c_ids); do
		for _ in $(seq 50); do
			c_ task rm "$id" >/dev/null 2>&1 && break
			c_ task ls -q 2>/dev/null | grep -qx "$id" || break
			sleep 0.1
		done
		c_ containers rm "$id" >/dev/null 2>&1 || echo "bench: ctr containers rm $id failed" >&2
	done
}

cleanup() {
	set +e
	trap - EXIT INT TERM
	[[ -S $WSOCK ]] && w_clear
	[[ -S $CSOCK ]] && c_clear
	[[ -n $wharfd_pid ]] && kill -TERM "$wharfd_pid" 2>/dev/null
	[[ -n $ctrd_pid ]] && kill -TERM "$ctrd_pid" 2>/dev/null
	sleep 0.5
	[[ -n $wharfd_pid ]] && kill -9 "$wharfd_pid" 2>/dev/null
	[[ -n $ctrd_pid ]] && kill -9 "$ctrd_pid" 2>/dev/null
	# Anything still running from our tree (shims, containers): by PID, never by name.
	local p exe cmd
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)
		if [[ $exe == "$T"/* || $cmd == *"$T"/* ]]; then
			kill -9 "${p#/proc/}" 2>/dev/null
		fi
	done
	sleep 0.3
	# runc and the wharf shim leave the namespace's parent cgroup (/<ns>): remove it when empty.
	for c in /sys/fs/cgroup/*/"$NS"; do
		[[ -d $c ]] || continue
		find "$c" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
		rmdir "$c" 2>/dev/null
	done
	grep -o " ${T}[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- daemons and the image ----
"$src/tests/fixtures/build-image.sh" "$T/img" >/dev/null

PATH="$B/shim:$PATH" "$B/supervisor/wharfd" --config /dev/null --root "$T/w/root" \
	--state "$T/w/state" --log-level warn >"$T/wharfd.log" 2>&1 &
wharfd_pid=$!
disown "$wharfd_pid"

cat >"$T/containerd.toml" <<EOF
version = 2
root = "$T/c/root"
state = "$T/c/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$CSOCK"
[ttrpc]
  address = "$CSOCK.ttrpc"
EOF
PATH="$B/shim:$PATH" containerd --config "$T/containerd.toml" >"$T/containerd.log" 2>&1 &
ctrd_pid=$!
disown "$ctrd_pid"

for _ in $(seq 100); do
	[[ -S $WSOCK ]] && w_ version >/dev/null 2>&1 && break
	alive "$wharfd_pid" || { echo "wharfd died:"; cat "$T/wharfd.log"; exit 1; }
	sleep 0.1
done
w_ version >/dev/null || { echo "wharfd does not answer:"; cat "$T/wharfd.log"; exit 1; }
for _ in $(seq 100); do
	[[ -S $CSOCK ]] && c_ version >/dev/null 2>&1 && break
	sleep 0.1
done
c_ version >/dev/null || { echo "containerd does not answer:"; cat "$T/containerd.log"; exit 1; }

w_ images import "$T/img/busybox.tar" >/dev/null
c_ images import "$T/img/busybox.tar" >/dev/null
# ctr unpacks on import; a first run of each warms the snapshot caches equally (hyperfine warmup).

# ---- 1. idle daemons ----
sleep 3
kb() { awk -v k="$2:" '$1 == k {print $2}' "$1"; }
w_rss0=$(kb "/proc/$wharfd_pid/status" VmRSS)
w_pss0=$(kb "/proc/$wharfd_pid/smaps_rollup" Pss)
c_rss0=$(kb "/proc/$ctrd_pid/status" VmRSS)
c_pss0=$(kb "/proc/$ctrd_pid/smaps_rollup" Pss)
# Where wharfd's idle Rss sits: summed per mapped file ([heap], [anon], libraries), top 10.
awk '/^[0-9a-f]+-[0-9a-f]+ / { n = ($6 == "") ? "[anon]" : $6; sub(/.*\//, "", n) }
	/^Rss:/ { rss[n] += $2 } /^Pss:/ { pss[n] += $2 }
	END { for (k in rss) printf "%8d %8d  %s\n", rss[k], pss[k], k }' "/proc/$wharfd_pid/smaps" |
	sort -rn | head -10 >"$T/out/wharfd-smaps.txt"

# ---- 2. run --rm true latency ----
export XDG_RUNTIME_DIR=$T/fifo # wharfctl's fifos on tmpfs, as ctr's are (/run/containerd/fifo)
# --net none: a namespace with lo only, as ctr's default spec gives (no CNI on either side).
wr=("$B/ctl/wharfctl" --address "$WSOCK" -n "$NS" run --rm --net none "$IMG")
cr=(ctr -a "$CSOCK" -n "$NS" run --rm)
# hyperfine runs each command's samples in one block; other load on the machine drifts, so the R
# runs are split over K rounds (one hyperfine invocation each, all commands) and merged.
# --show-output: a failing command's error lands in hyperfine.txt (`true` prints nothing).
K=$((R >= 10 ? 5 : 1))
for k in $(seq "$K"); do
	hyperfine -N --show-output --warmup $((k == 1 ? 3 : 1)) --runs $((R / K)) \
		--export-json "$T/out/lat-$k.json" \
		-n wharfctl "${wr[*]} lat-w true" \
		-n ctr-runc "${cr[*]} --runtime io.containerd.runc.v2 $IMG lat-c true" \
		-n ctr-wharf-shim "${cr[*]} --runtime io.containerd.wharf.v2 $IMG lat-s true" \
		-n wharfctl-version "$B/ctl/wharfctl --address $WSOCK version" \
		-n ctr-version "ctr -a $CSOCK version" \
		>>"$T/out/hyperfine.txt" 2>&1 && continue
	grep -v '^ *$' "$T/out/hyperfine.txt" | tail -20
	echo "--- wharfd log"; tail -20 "$T/wharfd.log"
	echo "--- containerd log"; grep -v 'level=info' "$T/containerd.log" | tail -20
	exit 1
done
read -r lw lc ls_ sw sc ss mw mc ms vw vc < <(python3 - "$T"/out/lat-*.json <<'EOF'
import json, statistics, sys
t = {}
for f in sys.argv[1:]:
    for x in json.load(open(f))["results"]:
        t.setdefault(x["command"], []).extend(x["times"])
k = ["wharfctl", "ctr-runc", "ctr-wharf-shim"]
ms = lambda v: f"{v * 1000:.1f}"
print(*[ms(statistics.mean(t[c])) for c in k], *[ms(statistics.stdev(t[c])) for c in k],
      *[ms(statistics.median(t[c])) for c in k],
      *[ms(statistics.mean(t[c])) for c in ["wharfctl-version", "ctr-version"]])
EOF
)

# ---- 3. N detached containers ----
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# shim_mem ADDRESS_SUBSTRING SHIM_EXE -> "count rss_avg pss_avg" (KiB), shims whose
# command line names that daemon's address
shim_mem() {
	local n=0 rss=0 pss=0 p exe cmd
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[[ $exe == "$2" ]] || continue
		cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
		[[ $cmd == *"$1"* ]] || continue
		alive "${p#/proc/}" || continue
		n=$((n + 1))
		rss=$((rss + $(kb "$p/smaps_rollup" Rss)))
		pss=$((pss + $(kb "$p/smaps_rollup" Pss)))
	done
	echo "$n $((rss / (n ? n : 1))) $((pss / (n ? n : 1)))"
}
wait_running() { # wait_running w|c -> waits until N tasks are RUNNING (60 s at most)
	local k=$1 n
	for _ in $(seq 6000); do
		if [[ $k == w ]]; then
			n=$(w_ tasks ls 2>/dev/null | grep -c RUNNING || true)
		else
			n=$(c_ task ls 2>/dev/null | grep -c RUNNING || true)
		fi
		[[ $n -ge $N ]] && return 0
		sleep 0.01
	done
	echo "bench: only $n of $N tasks RUNNING after 60 s ($k)" >&2
	return 1
}
many() { # many w|c-runc|c-wharf -> "ms count shim_rss shim_pss daemon_rss_delta daemon_pss_delta"
	local k=$1 i t0 t1 pid sock exe
	case $k in
	w) pid=$wharfd_pid sock=$T/w/state exe=$(readlink -f "$B/shim/containerd-shim-wharf-v2") ;;
	c-runc) pid=$ctrd_pid sock=$CSOCK exe=$(readlink -f "$(command -v containerd-shim-runc-v2)") ;;
	c-wharf) pid=$ctrd_pid sock=$CSOCK exe=$(readlink -f "$B/shim/containerd-shim-wharf-v2") ;;
	esac
	local rss0 pss0
	rss0=$(kb "/proc/$pid/status" VmRSS)
	pss0=$(kb "/proc/$pid/smaps_rollup" Pss)
	t0=$(now_ms)
	for i in $(seq "$N"); do
		case $k in
		w) w_ run -d --net none "$IMG" "many-$i" sleep 1000000 >/dev/null ;;
		c-runc) c_ run -d --runtime io.containerd.runc.v2 "$IMG" "many-$i" sleep 1000000 >/dev/null ;;
		c-wharf) c_ run -d --runtime io.containerd.wharf.v2 "$IMG" "many-$i" sleep 1000000 >/dev/null ;;
		esac
	done
	wait_running "${k%%-*}"
	t1=$(now_ms)
	sleep 2
	local m
	m=$(shim_mem "$sock" "$exe")
	local rss1 pss1
	rss1=$(kb "/proc/$pid/status" VmRSS)
	pss1=$(kb "/proc/$pid/smaps_rollup" Pss)
	if [[ $k == w ]]; then w_clear; else c_clear; fi
	echo "$((t1 - t0)) $m $(((rss1 - rss0) / N)) $(((pss1 - pss0) / N))"
}
many w >"$T/out/many-w"
many c-runc >"$T/out/many-c-runc"
many c-wharf >"$T/out/many-c-wharf"
read -r tw nw rw pw drw dpw <"$T/out/many-w"
read -r tc nc rc pc drc dpc <"$T/out/many-c-runc"
read -r ts ns rs ps drs dps <"$T/out/many-c-wharf"

# ---- the table ----
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "n/a"; else printf "%.3f", a / b }'; }
row() { printf "%-40s %12s %12s %14s %10s\n" "$@"; }
echo "wharf vs containerd $(containerd --version | awk '{print $3}') + runc $(runc --version | awk 'NR==1{print $3}'); $(nproc) CPUs, kernel $(uname -r); R=$R runs, N=$N containers; loadavg $(cut -d' ' -f1-3 /proc/loadavg), nice $(nice)"
echo "columns: wharfd (wharfctl, wharf shim) | containerd (ctr, runc shim + runc) | containerd (ctr, wharf shim); ratio = wharf / containerd+runc"
row "" "wharfd" "ctrd+runc" "ctrd+wharfshim" "ratio"
row "run --rm true, mean ms" "$lw" "$lc" "$ls_" "$(ratio "$lw" "$lc")"
row "run --rm true, stddev ms" "$sw" "$sc" "$ss" ""
row "run --rm true, median ms" "$mw" "$mc" "$ms" "$(ratio "$mw" "$mc")"
row "client floor: version RPC, mean ms" "$vw" "$vc" "$vc" "$(ratio "$vw" "$vc")"
row "$N x run -d, until all RUNNING, ms" "$tw" "$tc" "$ts" "$(ratio "$tw" "$tc")"
row "daemon idle VmRSS KiB" "$w_rss0" "$c_rss0" "$c_rss0" "$(ratio "$w_rss0" "$c_rss0")"
row "daemon idle Pss KiB" "$w_pss0" "$c_pss0" "$c_pss0" "$(ratio "$w_pss0" "$c_pss0")"
row "shims counted" "$nw" "$nc" "$ns" ""
row "shim Rss per container KiB" "$rw" "$rc" "$rs" "$(ratio "$rw" "$rc")"
row "shim Pss per container KiB" "$pw" "$pc" "$ps" "$(ratio "$pw" "$pc")"
row "daemon VmRSS growth per container KiB" "$drw" "$drc" "$drs" ""
row "daemon Pss growth per container KiB" "$dpw" "$dpc" "$dps" ""
echo "goals: run latency ratio <= 0.333 ($(ratio "$lw" "$lc")), daemon RSS ratio <= 0.200 ($(ratio "$w_rss0" "$c_rss0"))"
echo "wharfd idle memory by mapping (Rss KiB, Pss KiB, mapping; top 10):"
cat "$T/out/wharfd-smaps.txt"
status=0
[[ $nw == "$N" && $nc == "$N" && $ns == "$N" ]] || { echo "expected $N shims of each kind"; status=1; }
exit $status

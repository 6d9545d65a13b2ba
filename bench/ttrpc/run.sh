#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ttrpc benchmark (not a test): round-trip latency and requests/s of unary Task.Connect calls on
# 1 connection and on 16 (one call in flight per connection), wharf's C client+server against
# Go ttrpc 1.1 client+server (Debian's sources, built now in a temp dir), same machine, same run.
# Cross pairs (C client -> Go server, Go client -> C server) are printed too.
# Each pair runs BENCH_REPEAT times, interleaved, and the medians are compared: the machine is
# shared, so single runs are noisy.
# Usage: bench/ttrpc/run.sh [BUILD_DIR]   env: BENCH_SECONDS (default 5), BENCH_REPEAT (default 3)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build/release}
secs=${BENCH_SECONDS:-5}
repeat=${BENCH_REPEAT:-3}

if [[ ! -f $build/CMakeCache.txt ]]; then
	cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cpeer=$build/tests/interop/ttrpc/ttrpc-peer
if ! cmake --build "$build" -j"$(nproc)" --target ttrpc-peer >"$build/bench-ttrpc-build.log" 2>&1; then
	# The shared tree may be mid-edit elsewhere: an already built peer will do.
	[[ -x $cpeer ]] || { cat "$build/bench-ttrpc-build.log" >&2; exit 1; }
	echo "warning: rebuilding ttrpc-peer failed, using the existing binary" >&2
fi

tmp=$(mktemp -d /tmp/ttrpc-bench-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

GO111MODULE=off GOPATH=$tmp/gopath:/usr/share/gocode GOCACHE=$tmp/gocache GOFLAGS= \
	go build -o "$tmp/gopeer" "$top/tests/interop/ttrpc/gopeer/main.go"
gopeer=$tmp/gopeer

start_server() { # name binary
	"$2" serve "$tmp/$1.sock" >"$tmp/$1.ready" &
	pids+=($!)
	for _ in $(seq 1 100); do
		grep -q ready "$tmp/$1.ready" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "server $1 did not start" >&2
	exit 1
}
start_server c "$cpeer"
start_server go "$gopeer"

declare -A rps lat p99
run() { # label client server conns
	local out
	out=$("$2" bench "$tmp/$3.sock" "$4" "$secs")
	rps[$1/$4]+="$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$out") "
	lat[$1/$4]+="$(sed -n 's/.*mean_us=\([0-9.]*\).*/\1/p' <<<"$out") "
	p99[$1/$4]+="$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$out") "
	printf '%-22s conns=%-3s %s\n' "$1" "$4" "$out"
}
median() {
	tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

labels=("C client -> C server" "Go client -> Go server" "C client -> Go server" "Go client -> C server")
echo "ttrpc unary Task.Connect, ${secs}s per run, ${repeat} rounds, $(nproc) cores, Go $(go version | awk '{print $3}')"
for round in $(seq 1 "$repeat"); do
	for conns in 1 16; do
		run "${labels[0]}" "$cpeer" c $conns
		run "${labels[1]}" "$gopeer" go $conns
		run "${labels[2]}" "$cpeer" go $conns
		run "${labels[3]}" "$gopeer" c $conns
	done
done

echo
echo "medians:"
for conns in 1 16; do
	for l in "${labels[@]}"; do
		printf '  %-22s conns=%-3s rps=%-8s mean_us=%-8s p99_us=%s\n' "$l" "$conns" \
			"$(median "${rps[$l/$conns]}")" "$(median "${lat[$l/$conns]}")" \
			"$(median "${p99[$l/$conns]}")"
	done
done
echo
echo "ratios of medians, wharf C (client+server) vs Go ttrpc (client+server):"
for conns in 1 16; do
	c="${labels[0]}/$conns"
	g="${labels[1]}/$conns"
	awk -v cr="$(median "${rps[$c]}")" -v gr="$(median "${rps[$g]}")" \
		-v cl="$(median "${lat[$c]}")" -v gl="$(median "${lat[$g]}")" \
		-v cp="$(median "${p99[$c]}")" -v gp="$(median "${p99[$g]}")" -v n="$conns" 'BEGIN {
		printf "  conns=%-3d requests/s C/Go = %.2fx   mean latency Go/C = %.2fx   p99 latency Go/C = %.2fx\n",
			n, cr / gr, gl / cl, gp / cp }'
done

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cold pull of a ~250 MB image of 4 gzip layers from a local docker-registry, side by side in one
# run, in two parts. Download + verify: wharf (wharf-img pull --content: resolve, parallel
# download, digest verification, commit into the content store) against `ctr content fetch` and
# the floor (curl of the manifest and the blobs, 4 at a time, no verification). Download + verify
# + unpack into overlayfs snapshots: wharf (pull --content --snapshots, unpacking while it
# downloads) against `ctr images pull` and the floor (curl, then tar -xzf of each layer in order).
# And the push of the image's OCI layout to a new repository: wharf against skopeo.
# Every run starts from empty stores (a fresh containerd root per run). All state lives on tmpfs
# (/dev/shm) so the disk does not dominate. Prints medians and ratios.
# Usage: bench/images/pull.sh [WHARF_IMG] [RUNS]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
WHARF_IMG=${1:-$top/build/release/tests/integration/images/wharf-img}
RUNS=${2:-5}
[[ -x $WHARF_IMG ]] || { echo "no wharf-img at $WHARF_IMG (build the wharf-img target)" >&2; exit 1; }
T=$(mktemp -d /dev/shm/images-bench-XXXXXX)
cpid=
cleanup() {
	[[ -n $cpid ]] && { kill "$cpid" 2>/dev/null || true; wait "$cpid" 2>/dev/null || true; }
	"$top/tests/fixtures/registry.sh" stop "$T/reg" >/dev/null 2>&1 || true
	"$top/tests/fixtures/registry.sh" stop "$T/preg" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT

python3 "$top/bench/images/mkbig.py" "$T/img" >/dev/null
addr=$("$top/tests/fixtures/registry.sh" start "$T/reg")
"$WHARF_IMG" push "$T/img:latest" "$addr/bench/big:1" >/dev/null
ref=$addr/bench/big:1
size=$(du -sm "$T/img/blobs" | cut -f1)

now() { date +%s%N; }
declare -A times

run_wharf() { # [extra wharf-img options]
	rm -rf "$T/w"
	local t0=$(now)
	"$WHARF_IMG" --content "$T/w/content" "$@" pull "$ref" >/dev/null
	echo $(($(now) - t0))
}

start_ctrd() {
	rm -rf "$T/c"
	mkdir -p "$T/c"
	printf 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  disable_cgroup = true\n' >"$T/c/config.toml"
	containerd --config "$T/c/config.toml" --root "$T/c/root" --state "$T/c/state" \
		--address "$T/c/sock" </dev/null >"$T/c/log" 2>&1 &
	cpid=$!
	for _ in $(seq 1 200); do
		ctr --address "$T/c/sock" version >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "containerd did not start" >&2
	exit 1
}

stop_ctrd() {
	kill "$cpid"
	wait "$cpid" 2>/dev/null || true
	cpid=
}

run_ctr() { # ctr subcommand...
	start_ctrd
	local t0=$(now)
	ctr --address "$T/c/sock" -n bench "$@" --plain-http "$ref" >/dev/null 2>>"$T/ctr.err"
	local dt=$(($(now) - t0))
	stop_ctrd
	echo $dt
}

run_floor() { # [unpack]
	rm -rf "$T/f"
	mkdir -p "$T/f/rootfs"
	local t0=$(now)
	curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" -o "$T/f/manifest" \
		"http://$addr/v2/bench/big/manifests/1"
	python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
for d in [m["config"]] + m["layers"]: print(d["digest"])' "$T/f/manifest" >"$T/f/blobs"
	xargs -P 4 -I{} curl -sf -o "$T/f/{}" "http://$addr/v2/bench/big/blobs/{}" <"$T/f/blobs"
	if [[ ${1:-} == unpack ]]; then
		tail -n +2 "$T/f/blobs" | while read -r d; do tar -xzf "$T/f/$d" -C "$T/f/rootfs"; done
	fi
	echo $(($(now) - t0))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for i in $(seq 1 "$RUNS"); do
	times[wharf_fetch]+="$(run_wharf) "
	times[ctr_fetch]+="$(run_ctr content fetch) "
	times[floor_fetch]+="$(run_floor) "
	times[wharf_pull]+="$(run_wharf --snapshots "$T/w/snapshots") "
	times[ctr_pull]+="$(run_ctr images pull) "
	times[floor_pull]+="$(run_floor unpack) "
done

# Push of the same layout, each run to a fresh registry: skopeo's blob-info cache (for root in
# /var/lib/containers/cache) would otherwise mount blobs from repositories it saw before.
push_reg() {
	"$top/tests/fixtures/registry.sh" stop "$T/preg" >/dev/null 2>&1 || true
	rm -rf "$T/preg"
	"$top/tests/fixtures/registry.sh" start "$T/preg"
}
for i in $(seq 1 "$RUNS"); do
	paddr=$(push_reg)
	t0=$(now)
	"$WHARF_IMG" push "$T/img:latest" "$paddr/push/wharf:1" >/dev/null
	times[wharf_push]+="$(($(now) - t0)) "
	paddr=$(push_reg)
	t0=$(now)
	skopeo copy -q --dest-tls-verify=false "oci:$T/img:latest" "docker://$paddr/push/skopeo:1"
	times[skopeo_push]+="$(($(now) - t0)) "
done
"$top/tests/fixtures/registry.sh" stop "$T/preg" >/dev/null 2>&1 || true

med() { echo "${times[$1]}" | tr ' ' '\n' | grep . | median; }
row() { # label key base-key
	awk -v l="$1" -v m="$(med "$2")" -v w="$(med "$3")" \
		'BEGIN {printf "%-50s %9.3f %10.2fx\n", l, m / 1e9, m / w}'
}
echo "cold pull of $size MB (4 gzip layers, ~2x unpacked) from docker-registry on 127.0.0.1,"
echo "all state on tmpfs, median of $RUNS runs; the last column is time relative to wharf"
printf '%-50s %9s %11s\n' "download + verify" "seconds" "vs wharf"
row "wharf-img pull --content" wharf_fetch wharf_fetch
row "containerd 1.6: ctr content fetch" ctr_fetch wharf_fetch
row "floor: curl x4 (no verification)" floor_fetch wharf_fetch
printf '%-50s %9s %11s\n' "download + verify + unpack (overlayfs)" "seconds" "vs wharf"
row "wharf-img pull --content --snapshots" wharf_pull wharf_pull
row "containerd 1.6: ctr images pull" ctr_pull wharf_pull
row "floor: curl x4, then tar -xzf in order" floor_pull wharf_pull
printf '%-50s %9s %11s\n' "push of the OCI layout" "seconds" "vs wharf"
row "wharf-img push" wharf_push wharf_push
row "skopeo copy oci: docker://" skopeo_push wharf_push

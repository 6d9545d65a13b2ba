#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Layer apply benchmark: wharf's layer apply vs the floor `tar -xzf` of the same gzip layers,
# side by side in one run, on tmpfs and on a loop-mounted journaled ext4.
# Usage: bench/snapshots/run.sh [BUILD_DIR] [TOTAL_MB] [ROUNDS]   (as root)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build/release}
total=${2:-250}
rounds=${3:-3}
work=$(mktemp -d /tmp/snapshots-bench-XXXXXX)
cleanup() {
	for m in "$work/tmpfs" "$work/ext4"; do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

cmake --build "$build" --target snapshots common >/dev/null
cc -O2 -D_GNU_SOURCE -I"$top" -I"$build" -o "$work/bench-apply" "$top/bench/snapshots/bench-apply.c" \
	"$build/snapshots/libsnapshots.a" "$build/common/libcommon.a" \
	$(pkg-config --libs libarchive sqlite3 zlib libzstd yajl libcrypto) -lpthread

echo "generating ~${total} MB of layers..." >&2
python3 "$top/bench/snapshots/gen-layers.py" "$work/layers" "$total" 5 >&2
layers=("$work"/layers/layer*.tar.gz)
raw=0
for l in "${layers[@]}"; do raw=$((raw + $(gzip -dc "$l" | wc -c))); done
comp=$(cat "${layers[@]}" | wc -c)
echo "layers: ${#layers[@]}, uncompressed $((raw / 1048576)) MiB, gzip $((comp / 1048576)) MiB"

mkdir -p "$work/tmpfs" "$work/ext4"
mount -t tmpfs -o size=3g tmpfs "$work/tmpfs"
truncate -s 3G "$work/ext4.img"
mkfs.ext4 -q -F -O has_journal "$work/ext4.img"
mount -o loop "$work/ext4.img" "$work/ext4"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "$e - $s" | bc; }

for fs in tmpfs ext4; do
	d="$work/$fs"
	tar_times=() dir_times=() ovl_times=()
	for ((i = 0; i < rounds; i++)); do
		rm -rf "$d/x"; mkdir "$d/x"; sync
		tar_times+=("$(t bash -c "for l in ${layers[*]}; do tar -xzf \$l -C $d/x; done")")
		rm -rf "$d/x"; mkdir "$d/x"; sync
		dir_times+=("$("$work/bench-apply" dir "$d/x" application/vnd.oci.image.layer.v1.tar+gzip "${layers[@]}")")
		rm -rf "$d/x"; sync
		ovl_times+=("$("$work/bench-apply" overlay "$d/x" application/vnd.oci.image.layer.v1.tar+gzip "${layers[@]}")")
		rm -rf "$d/x"; sync
	done
	tt=$(printf '%s\n' "${tar_times[@]}" | median)
	dt=$(printf '%s\n' "${dir_times[@]}" | median)
	ot=$(printf '%s\n' "${ovl_times[@]}" | median)
	printf '%-6s tar -xzf %6.3fs | wharf apply (one dir) %6.3fs = %.2fx the floor | wharf overlay chain %6.3fs = %.2fx\n' \
		"$fs" "$tt" "$dt" "$(echo "$tt / $dt" | bc -l)" "$ot" "$(echo "$tt / $ot" | bc -l)"
	echo "  rounds: tar ${tar_times[*]} | apply ${dir_times[*]} | overlay ${ovl_times[*]}"
done

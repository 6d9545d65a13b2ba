#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An image pushed by wharf is pulled (and unpacked) by real containerd: a private containerd
# (temp root, state and socket) runs `ctr pull --plain-http` of wharf's push of the fixture
# images (a single manifest and a two-platform index) from docker-registry, and reports the
# digests wharf pushed. Skips (77) when containerd or ctr is missing.
source "$(dirname "$0")/lib.sh"
command -v containerd >/dev/null && command -v ctr >/dev/null || {
	echo "containerd/ctr not installed: skipping" >&2
	exit 77
}
W=("$WHARF_IMG" --stats)

build_images "$T/img"
start_registry "$T/reg"
addr=$ADDR
want_ml=$(awk '$1 == "multilayer" {print $2}' "$T/img.digests")
want_multi=$(awk '$1 == "multiplatform" {print $2}' "$T/img.digests")
check "wharf pushes the multilayer image" "${W[@]}" push "$T/img/multilayer:latest" "$addr/wharf/ml:1"
check "wharf pushes the two-platform index" "${W[@]}" push "$T/img/multiplatform:latest" "$addr/wharf/multi:1"

mkdir -p "$T/ctrd/root" "$T/ctrd/state"
sock=$T/ctrd/containerd.sock
cat >"$T/ctrd/config.toml" <<CFG
version = 2
root = "$T/ctrd/root"
state = "$T/ctrd/state"
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.grpc.v1.cri"]
  disable_cgroup = true
CFG
containerd --config "$T/ctrd/config.toml" \
	--root "$T/ctrd/root" --state "$T/ctrd/state" --address "$sock" \
	</dev/null >"$T/ctrd/log" 2>&1 &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 200); do
	ctr --address "$sock" version >/dev/null 2>&1 && break
	sleep 0.05
done
ctr --address "$sock" version >/dev/null 2>&1 || { echo "containerd did not start: $(tail -5 "$T/ctrd/log")" >&2; exit 1; }
C=(ctr --address "$sock" -n wharf-test)

check "ctr pull --plain-http of wharf's push" "${C[@]}" images pull --plain-http "$addr/wharf/ml:1"
got=$("${C[@]}" images ls -q >/dev/null; "${C[@]}" images ls | awk -v r="$addr/wharf/ml:1" '$1 == r {print $3}')
eq "containerd records wharf's digest" "$got" "$want_ml"
check "containerd unpacked it" "${C[@]}" images check
grep -q "complete" "$T/out" && ok "ctr images check: complete" || fail "images check: $(cat "$T/out")"
check "ctr pull --all-platforms of wharf's index" "${C[@]}" images pull --plain-http --all-platforms "$addr/wharf/multi:1"
got=$("${C[@]}" images ls | awk -v r="$addr/wharf/multi:1" '$1 == r {print $3}')
eq "containerd records the index digest" "$got" "$want_multi"
# And back: what containerd pushes, wharf pulls.
check "ctr push of the pulled image" "${C[@]}" images push --plain-http "$addr/ctr/ml:2" "$addr/wharf/ml:1"
check "wharf pulls containerd's push" "${W[@]}" pull "$addr/ctr/ml:2" "$T/back"
eq "same digest" "$(cut -d' ' -f1 "$T/out")" "$want_ml"
check "layout verifies" verify_layout "$T/back"
"${C[@]}" images rm "$addr/wharf/ml:1" "$addr/wharf/multi:1" >/dev/null 2>&1 || true
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pull with unpack into real snapshots (snapshots/: overlayfs and native) while downloading,
# checked against real containerd: the chain IDs equal containerd's snapshot names and the
# unpacked trees (contents, types, modes, owners, sizes, links, file mtimes; whiteouts applied)
# equal containerd's native unpack of the same image. Snapshots already there are reused; a
# config whose diff IDs do not match its layers fails with a clear error and commits nothing;
# unpack of an image already in the content store works offline.
source "$(dirname "$0")/lib.sh"
command -v containerd >/dev/null && command -v ctr >/dev/null || {
	echo "containerd/ctr not installed: skipping" >&2
	exit 77
}
W=("$WHARF_IMG" --stats)

build_images "$T/img"
start_registry "$T/reg"
addr=$ADDR
"$FIXTURES/registry.sh" push "$T/reg" "$T/img/multilayer:latest" test/ml:1
"$FIXTURES/registry.sh" push "$T/reg" "$T/img/multiplatform:latest" test/multi:1
want_ml=$(awk '$1 == "multilayer" {print $2}' "$T/img.digests")

log "wharf: pull + unpack"
check "pull+unpack into overlayfs" "${W[@]}" --content "$T/cs" --snapshots "$T/ov" pull "$addr/test/ml:1"
chain=$(awk '$1 == "chain" {print $2}' "$T/out")
grep -q "^chain sha256:[0-9a-f]\{64\} layers=3 applied=3 reused=0$" "$T/out" && ok "3 layers applied" ||
	fail "unpack result: $(cat "$T/out")"
check "pull+unpack again reuses every snapshot" "${W[@]}" --content "$T/cs" --snapshots "$T/ov" pull "$addr/test/ml:1"
grep -q "^chain $chain layers=3 applied=0 reused=3$" "$T/out" && ok "reused 3 layers, nothing downloaded ($(stat_of bytes) bytes)" ||
	fail "second unpack: $(cat "$T/out")"
eq "no blob downloaded again" "$(stat_of bytes)" 0
check "unpack from the content store into native (offline)" "${W[@]}" --content "$T/cs" \
	--snapshots "$T/na" --snapshotter native unpack "$want_ml"
grep -q "^chain $chain layers=3 applied=3 reused=0$" "$T/out" && ok "same chain ID from native" ||
	fail "native unpack: $(cat "$T/out")"
check "pull+unpack of a multi-platform image (host platform)" "${W[@]}" --content "$T/cs" \
	--snapshots "$T/ov" pull "$addr/test/multi:1"
expect_fail "unpack refuses all platforms" "one platform only" \
	"${W[@]}" --all-platforms --content "$T/cs" --snapshots "$T/ov" pull "$addr/test/multi:1"

log "containerd: the same image"
mkdir -p "$T/ctrd"
sock=$T/ctrd/sock
printf 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  disable_cgroup = true\n' >"$T/ctrd/config.toml"
containerd --config "$T/ctrd/config.toml" --root "$T/ctrd/root" --state "$T/ctrd/state" \
	--address "$sock" </dev/null >"$T/ctrd/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do
	ctr --address "$sock" version >/dev/null 2>&1 && break
	sleep 0.05
done
C=(ctr --address "$sock" -n wharf-test)
check "ctr pull --snapshotter native" "${C[@]}" images pull --snapshotter native --plain-http "$addr/test/ml:1"
"${C[@]}" snapshots --snapshotter native ls >"$T/ctr-snaps"
grep -q "^$chain .*Committed" "$T/ctr-snaps" && ok "containerd's top snapshot is named $chain" ||
	fail "chain $chain not among containerd's snapshots: $(cat "$T/ctr-snaps")"
"${C[@]}" snapshots --snapshotter native prepare --mounts cmp "$chain" >"$T/ctr-mounts"
ctr_tree=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Source"])' "$T/ctr-mounts")

# Directories: type, mode, owner. Everything else also size, link target and mtime.
listing() {
	(cd "$1" && find . \( -type d -printf '%p %y %m %U %G\n' \) -o \
		\( ! -type d -printf '%p %y %m %U %G %s %l %T@\n' \) | sort)
}
listing "$ctr_tree" >"$T/ctr.lst"

check "native view" "${W[@]}" --snapshots "$T/na" --snapshotter native view v "$chain"
na_tree=$(awk '{print $2}' "$T/out")
listing "$na_tree" >"$T/na.lst"
if diff -u "$T/ctr.lst" "$T/na.lst" >"$T/d1" && diff -r --no-dereference "$ctr_tree" "$na_tree" >>"$T/d1"; then
	ok "native tree equals containerd's ($(wc -l <"$T/na.lst") entries)"
else
	fail "native tree differs: $(head -20 "$T/d1")"
fi
check "overlay view" "${W[@]}" --snapshots "$T/ov" view v "$chain"
opts=$(awk '{print $3}' "$T/out")
mkdir -p "$T/mnt"
if unshare -m sh -c 'mount -t overlay overlay -o "$1" "$2" && cd "$2" &&
	find . \( -type d -printf "%p %y %m %U %G\n" \) -o \( ! -type d -printf "%p %y %m %U %G %s %l %T@\n" \) |
	sort >"$3" && diff -r --no-dereference "$2" "$4" >"$5"' sh "$opts" "$T/mnt" "$T/ov.lst" "$ctr_tree" "$T/d2"; then
	diff -u "$T/ctr.lst" "$T/ov.lst" >>"$T/d2" && ok "overlay tree equals containerd's" ||
		fail "overlay listing differs: $(head -20 "$T/d2")"
else
	fail "overlay tree differs: $(head -20 "$T/d2")"
fi
grep -q '\.wh\.' "$T/ov.lst" && fail "whiteout files visible in the overlay" || ok "no whiteout files visible"

log "a config that lies about its layers"
python3 - "$T/img/multilayer" "$T/bad" <<'PY'
import hashlib, json, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
shutil.copytree(src, dst)
b = lambda d: os.path.join(dst, "blobs", "sha256", d[7:])
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    open(b(d), "wb").write(data)
    return d
idx = json.load(open(os.path.join(dst, "index.json")))
m = json.load(open(b(idx["manifests"][0]["digest"])))
cfg = json.load(open(b(m["config"]["digest"])))
cfg["rootfs"]["diff_ids"][1] = "sha256:" + "0" * 64
cdata = json.dumps(cfg).encode()
m["config"]["digest"], m["config"]["size"] = put(cdata), len(cdata)
mdata = json.dumps(m).encode()
idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = put(mdata), len(mdata)
json.dump(idx, open(os.path.join(dst, "index.json"), "w"))
PY
"$FIXTURES/registry.sh" push "$T/reg" "$T/bad:latest" test/bad:1
expect_fail "diff ID mismatch" "layer 1 .*diff ID sha256:[0-9a-f]+, the config says sha256:0000" \
	"${W[@]}" --content "$T/cs" --snapshots "$T/ov2" pull "$addr/test/bad:1"
check "list the snapshots left" "${W[@]}" --snapshots "$T/ov2" ls
# containerd's snapshot without a parent is the first layer's (its chain ID is its diff ID).
first=$(awk 'NF == 2 && $2 == "Committed" {print $1}' "$T/ctr-snaps")
eq "only the good first layer is committed" "$(cat "$T/out")" "$first committed -"
finish

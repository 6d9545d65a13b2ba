#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# images/ against Debian's docker-registry in plain http and skopeo: skopeo pushes, wharf pulls
# with the right digests (one platform, an explicit one, all); wharf pushes (monolithic,
# chunked, cross-repository mount, skip of existing blobs, an index) and skopeo pulls back the
# same digests; remote tagging; connection reuse; clear errors for missing images and platforms.
source "$(dirname "$0")/lib.sh"
W=("$WHARF_IMG" --stats)

build_images "$T/img"
start_registry "$T/reg"
addr=$ADDR
"$FIXTURES/registry.sh" push "$T/reg" "$T/img/oci:latest" test/busybox:1
"$FIXTURES/registry.sh" push "$T/reg" "$T/img/multiplatform:latest" test/multi:1
"$FIXTURES/registry.sh" push "$T/reg" "$T/img/multilayer:latest" test/multilayer:1
want_busybox=$(awk '$1 == "busybox" {print $2}' "$T/img.digests")
want_multi=$(awk '$1 == "multiplatform" {print $2}' "$T/img.digests")
want_ml=$(awk '$1 == "multilayer" {print $2}' "$T/img.digests")
sk() { skopeo "$@" 2>&1; }

log "skopeo -> wharf"
check "pull busybox (skopeo-pushed)" "${W[@]}" pull "$addr/test/busybox:1" "$T/p1"
eq "pulled manifest digest" "$(cut -d' ' -f1 "$T/out")" "$want_busybox"
check "pulled layout verifies" verify_layout "$T/p1"
eq "all blobs of the image" "$(ls "$T/p1/blobs/sha256" | sort | tr '\n' ' ')" \
	"$(ls "$T/img/oci/blobs/sha256" | sort | tr '\n' ' ')"
check "pull multilayer" "${W[@]}" --progress pull "$addr/test/multilayer:1" "$T/p2"
mf="$T/img/multilayer/blobs/sha256/${want_ml#sha256:}"
n=0
while read -r d s; do
	grep -q "^progress $d $s $s\$" "$T/err" || fail "no final progress for $d"
	n=$((n + 1))
done < <(python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
for d in [m["config"]] + m["layers"]: print(d["digest"], d["size"])' "$mf")
((n >= 4)) && ok "progress checked for $n blobs" || fail "only $n blobs in the manifest"
eq "multilayer digest" "$(cut -d' ' -f1 "$T/out")" "$want_ml"
check "multilayer verifies" verify_layout "$T/p2"
conns=$(stat_of connects)
reqs=$(stat_of requests)
if ((conns < reqs)); then ok "connections reused ($conns connects for $reqs requests)"; else
	fail "no connection reuse: $conns connects for $reqs requests"
fi
check "pull one transfer at a time" "${W[@]}" --parallel 1 pull "$addr/test/multilayer:1" "$T/p3"
# One failed TLS probe (the registry speaks plain http), then one kept-alive connection.
eq "one connection for $(stat_of requests) requests" "$(stat_of connects)" 2
check "pull twice is a no-op for blobs" "${W[@]}" pull "$addr/test/multilayer:1" "$T/p2"
eq "no blob bytes fetched again" "$(stat_of bytes)" 0

log "platforms"
host_arch=$(dpkg --print-architecture)
check "pull multi-platform index, host platform" "${W[@]}" pull "$addr/test/multi:1" "$T/m1"
eq "index digest" "$(cut -d' ' -f1 "$T/out")" "$want_multi"
idx="$T/m1/blobs/sha256/${want_multi#sha256:}"
pick() { # the manifest digest for ARCH in the index file $1
	python3 -c 'import json,sys
for m in json.load(open(sys.argv[1]))["manifests"]:
    if m["platform"]["architecture"] == sys.argv[2]: print(m["digest"])' "$1" "$2"
}
amd=$(pick "$idx" "$host_arch")
arm=$(pick "$idx" arm64)
[[ -f $T/m1/blobs/sha256/${amd#sha256:} ]] && ok "host manifest fetched" || fail "host manifest missing"
[[ ! -f $T/m1/blobs/sha256/${arm#sha256:} ]] && ok "other platform not fetched" || fail "arm64 manifest fetched"
check "pull --platform linux/arm64/v8" "${W[@]}" --platform linux/arm64/v8 pull "$addr/test/multi:1" "$T/m2"
[[ -f $T/m2/blobs/sha256/${arm#sha256:} && ! -f $T/m2/blobs/sha256/${amd#sha256:} ]] &&
	ok "arm64 manifest only" || fail "wrong manifests for linux/arm64/v8"
check "pull --all-platforms" "${W[@]}" --all-platforms pull "$addr/test/multi:1" "$T/m3"
[[ -f $T/m3/blobs/sha256/${arm#sha256:} && -f $T/m3/blobs/sha256/${amd#sha256:} ]] &&
	ok "both manifests" || fail "not every platform pulled"
check "all-platform layout verifies" verify_layout "$T/m3"
expect_fail "unknown platform" "no manifest for platform 'linux/s390x'.*linux/arm64/v8" \
	"${W[@]}" --platform linux/s390x pull "$addr/test/multi:1" "$T/m4"
expect_fail "bad platform string" "invalid platform 'linux/arm64/v8/x'" \
	"${W[@]}" --platform linux/arm64/v8/x pull "$addr/test/multi:1" "$T/m4"
expect_fail "missing image" "not found .*no manifest 'nope'" \
	"${W[@]}" pull "$addr/test/busybox:nope" "$T/m4"
expect_fail "invalid reference" "invalid reference .*repository name must be lowercase" \
	"${W[@]}" pull "$addr/Test/busybox:1" "$T/m4"
check "pull by digest" "${W[@]}" pull "$addr/test/busybox@$want_busybox" "$T/d1" x
check "pull by tag and digest" "${W[@]}" pull "$addr/test/busybox:1@$want_busybox" "$T/d2" x
expect_fail "digest pinned to other content" "not found|digest mismatch" \
	"${W[@]}" pull "$addr/test/busybox@$want_ml" "$T/d3" x

log "wharf -> skopeo"
check "push monolithic" "${W[@]}" push "$T/p1:1" "$addr/wharf/busybox:a"
eq "uploaded 2 blobs" "$(stat_of uploaded)" 2
check "push again skips blobs" "${W[@]}" push "$T/p1:1" "$addr/wharf/busybox:a"
eq "skipped 2 blobs" "$(stat_of skipped)" 2
check "push with cross-repository mount" "${W[@]}" --mount-from wharf/busybox push "$T/p1:1" "$addr/wharf/mounted:b"
eq "mounted 2 blobs" "$(stat_of mounted)" 2
check "push chunked" "${W[@]}" --chunk 65536 push "$T/p2:1" "$addr/wharf/chunked:c"
chunks=$(stat_of chunks)
((chunks > 3)) && ok "chunked upload used $chunks PATCH requests" || fail "chunks=$chunks"
check "push an index (all platforms)" "${W[@]}" push "$T/m3:1" "$addr/wharf/multi:all"
check "tag remotely" "${W[@]}" tag "$addr/wharf/busybox:a" again
for pair in "wharf/busybox:a $want_busybox" "wharf/mounted:b $want_busybox" \
	"wharf/chunked:c $want_ml" "wharf/multi:all $want_multi" "wharf/busybox:again $want_busybox"; do
	set -- $pair
	got=$(skopeo inspect --raw --tls-verify=false "docker://$addr/$1" | sha256sum | cut -d' ' -f1)
	eq "skopeo sees $1 with the right digest" "sha256:$got" "$2"
	rm -rf "$T/sk"
	if skopeo copy -q --all --src-tls-verify=false "docker://$addr/$1" "oci:$T/sk:x" 2>"$T/skerr"; then
		ok "skopeo pulls $1 (verifying every blob)"
	else
		fail "skopeo copy $1: $(cat "$T/skerr")"
	fi
done
check "wharf pulls its own push" "${W[@]}" pull "$addr/wharf/chunked:c" "$T/back"
eq "round trip digest" "$(cut -d' ' -f1 "$T/out")" "$want_ml"
finish

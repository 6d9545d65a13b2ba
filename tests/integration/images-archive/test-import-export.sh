#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Imports the fixture archives (OCI layout tars and docker-archives, multi-layer, multi-platform,
# several images in one tar) and checks digests against the builder's; exports and re-imports
# (OCI and docker-archive, one and several images, platform filter) and checks that digests
# round-trip and that the same input gives the same bytes.
. "$(dirname "$0")/lib.sh"

build_images
BB=$(digest_of busybox)
ML=$(digest_of multilayer)
MP=$(digest_of multiplatform)
blob() { echo "$T/img/oci/blobs/sha256/${1#sha256:}"; }

# the config digest and layer digests of an OCI manifest in a layout dir
bb_config=$(json_field "$(blob "$BB")" 'd["config"]["digest"]')
bb_layer=$(json_field "$(blob "$BB")" 'd["layers"][0]["digest"]')
bb_diffid=$(json_field "$T/img/oci/blobs/sha256/${bb_config#sha256:}" 'd["rootfs"]["diff_ids"][0]')

log "OCI layout tar, tag joined to a base name"
check "import busybox-oci.tar" "$A" import --base-name wharf.test/busybox "$T/cs" "$T/img/busybox-oci.tar"
same "busybox-oci.tar: name and digest" "$(cut -d' ' -f1,2 "$T/out")" "wharf.test/busybox:latest $BB"
for d in "$BB" "$bb_config" "$bb_layer"; do
	[ -f "$T/cs/blobs/sha256/${d#sha256:}" ] && ok "blob $d in the store" || fail "blob $d missing"
done
same "no ingest left" "$(ingests_of "$T/cs")" ""

log "OCI layout tar without a base name: the image is unnamed"
check "import busybox-oci.tar again" "$A" import "$T/cs" "$T/img/busybox-oci.tar"
same "unnamed image" "$(cut -d' ' -f1,2 "$T/out")" "- $BB"

log "docker-archive: a Docker schema 2 manifest is synthesized"
check "import busybox.tar" "$A" import "$T/cs" "$T/img/busybox.tar"
read -r name dman mt size <"$T/out"
same "busybox.tar: name" "$name" "wharf.test/busybox:latest"
same "busybox.tar: media type" "$mt" "application/vnd.docker.distribution.manifest.v2+json"
M="$T/cs/blobs/sha256/${dman#sha256:}"
same "synthesized manifest size" "$(stat -c %s "$M")" "$size"
same "synthesized manifest digest" "sha256:$(sha256sum "$M" | cut -d' ' -f1)" "$dman"
same "docker config = OCI config" "$(json_field "$M" 'd["config"]["digest"]')" "$bb_config"
same "docker layer = diff ID (uncompressed)" "$(json_field "$M" 'd["layers"][0]["digest"]')" "$bb_diffid"
same "docker layer media type" "$(json_field "$M" 'd["layers"][0]["mediaType"]')" \
	"application/vnd.docker.image.rootfs.diff.tar"
echo "$dman" >"$T/busybox-docker.digest"

log "multi-layer docker-archive"
check "import multilayer.tar" "$A" import "$T/cs" "$T/img/multilayer.tar"
read -r name mlman _ _ <"$T/out"
same "multilayer.tar: name" "$name" "wharf.test/multilayer:latest"
ml_oci_config=$(json_field "$T/img/multilayer/blobs/sha256/${ML#sha256:}" 'd["config"]["digest"]')
M="$T/cs/blobs/sha256/${mlman#sha256:}"
same "multilayer: config" "$(json_field "$M" 'd["config"]["digest"]')" "$ml_oci_config"
same "multilayer: layers = diff IDs" "$(json_field "$M" '" ".join(l["digest"] for l in d["layers"])')" \
	"$(json_field "$T/img/multilayer/blobs/sha256/${ml_oci_config#sha256:}" '" ".join(d["rootfs"]["diff_ids"])')"

log "multi-platform index and several tags in one OCI tar"
tar -C "$T/img/multiplatform" -cf "$T/multiplatform.tar" .
check "import multiplatform.tar" "$A" import --base-name wharf.test/mp "$T/cs" "$T/multiplatform.tar"
same "multiplatform: index digest" "$(cut -d' ' -f1,2,3 "$T/out")" "wharf.test/mp:latest $MP application/vnd.oci.image.index.v1+json"
for m in $(json_field "$T/img/multiplatform/blobs/sha256/${MP#sha256:}" '" ".join(x["digest"] for x in d["manifests"])'); do
	[ -f "$T/cs/blobs/sha256/${m#sha256:}" ] && ok "platform manifest $m" || fail "platform manifest $m missing"
done
tar -C "$T/img/compression" -cf "$T/compression.tar" .
check "import compression.tar" "$A" import --base-name wharf.test/c "$T/cs" "$T/compression.tar"
for t in gzip zstd uncompressed; do
	same "compression:$t" "$(awk -v n="wharf.test/c:$t" '$1 == n { print $2 }' "$T/out")" "$(digest_of "compression:$t")"
done

log "gzip-compressed docker-archive stream"
gzip -c "$T/img/busybox.tar" >"$T/busybox.tar.gz"
check "import busybox.tar.gz" "$A" import "$T/cs2" "$T/busybox.tar.gz"
same "busybox.tar.gz: digest" "$(cut -d' ' -f2 "$T/out")" "$dman"

log "streams: import from a pipe, export into a pipe"
pipe_roundtrip() {
	cat "$T/img/busybox.tar" | "$A" import "$T/cs-pipe" - >/dev/null &&
		"$A" export "$T/cs-pipe" - "wharf.test/busybox:latest=$dman" | "$A" import "$T/cs-pipe2" -
}
check "docker-archive through pipes" pipe_roundtrip
same "pipes: name and digest" "$(cut -d' ' -f1,2 "$T/out")" "wharf.test/busybox:latest $dman"

log "OCI export round-trips digests and names"
check "export busybox" "$A" export "$T/cs" "$T/e1.tar" "wharf.test/busybox:latest=$BB"
check "export busybox again" "$A" export "$T/cs" "$T/e2.tar" "wharf.test/busybox:latest=$BB"
cmp -s "$T/e1.tar" "$T/e2.tar" && ok "same bytes for the same input" || fail "exports differ"
same "entries sorted, fixed mtime and owner" "$(tar -tvf "$T/e1.tar" | awk '{print $2, $4, $5}' | sort -u)" "0/0 1970-01-01 00:00"
same "entry names sorted" "$(tar -tf "$T/e1.tar")" "$(tar -tf "$T/e1.tar" | LC_ALL=C sort)"
check "re-import busybox" "$A" import "$T/cs-rt" "$T/e1.tar"
same "round trip: name and digest" "$(cut -d' ' -f1,2 "$T/out")" "wharf.test/busybox:latest $BB"
same "round trip: same blobs" "$(blobs_of "$T/cs-rt")" "$(printf '%s\n' "${BB#sha256:}" "${bb_config#sha256:}" "${bb_layer#sha256:}" | sort)"

log "OCI export of several images, names preserved"
check "export three images" "$A" export "$T/cs" "$T/multi.tar" "wharf.test/busybox:latest=$BB" \
	"wharf.test/multilayer:latest=$mlman" "docker.io/library/busybox:v1=$dman"
check "re-import three images" "$A" import "$T/cs-multi" "$T/multi.tar"
same "three images" "$(cut -d' ' -f1,2 "$T/out")" "wharf.test/busybox:latest $BB
wharf.test/multilayer:latest $mlman
docker.io/library/busybox:v1 $dman"
same "ref.name is the tag" "$(tar -xOf "$T/multi.tar" index.json | python3 -c 'import json,sys; print(" ".join(m["annotations"]["org.opencontainers.image.ref.name"] for m in json.load(sys.stdin)["manifests"]))')" "latest latest v1"

log "platform filter: host only by default, all on request"
check "export multiplatform (host)" "$A" export "$T/cs" "$T/mp-host.tar" "wharf.test/mp:latest=$MP"
check "export multiplatform (all)" "$A" export --all-platforms "$T/cs" "$T/mp-all.tar" "wharf.test/mp:latest=$MP"
n_host=$(tar -tf "$T/mp-host.tar" | grep -c '^blobs/sha256/.')
n_all=$(tar -tf "$T/mp-all.tar" | grep -c '^blobs/sha256/.')
[ "$n_all" -gt "$n_host" ] && ok "all platforms export more blobs ($n_all > $n_host)" || fail "all: $n_all, host: $n_host"
other=$(json_field "$T/img/multiplatform/blobs/sha256/${MP#sha256:}" '[x["digest"] for x in d["manifests"]][1]')
hostm=$(json_field "$T/img/multiplatform/blobs/sha256/${MP#sha256:}" '[x["digest"] for x in d["manifests"]][0]')
has_entry "$T/mp-host.tar" "${hostm#sha256:}" && ok "host manifest exported" || fail "host manifest not exported"
has_entry "$T/mp-host.tar" "${other#sha256:}" && fail "other platform exported" || ok "other platform left out"
has_entry "$T/mp-all.tar" "${other#sha256:}" && ok "all: other platform exported" || fail "all: other platform missing"
check "re-import host-only export" "$A" import "$T/cs-mp" "$T/mp-host.tar"
same "host-only round trip: index digest" "$(cut -d' ' -f2 "$T/out")" "$MP"
check "re-import all-platform export" "$A" import "$T/cs-mp2" "$T/mp-all.tar"
same "all-platform round trip: index digest" "$(cut -d' ' -f2 "$T/out")" "$MP"
[ -f "$T/cs-mp2/blobs/sha256/${other#sha256:}" ] && ok "other platform manifest imported" || fail "other platform manifest missing"
case $(uname -m) in x86_64) op=linux/arm64 ;; *) op=linux/amd64 ;; esac
check "export multiplatform --platform $op" "$A" export --platform "$op" "$T/cs" "$T/mp-other.tar" "wharf.test/mp:latest=$MP"
has_entry "$T/mp-other.tar" "${other#sha256:}" && ok "--platform picks the other manifest" || fail "--platform: other manifest not exported"

log "docker-archive export round-trips"
check "docker export busybox (docker manifest)" "$A" export --docker "$T/cs" "$T/d1.tar" "wharf.test/busybox:latest=$dman"
check "docker export again" "$A" export --docker "$T/cs" "$T/d2.tar" "wharf.test/busybox:latest=$dman"
cmp -s "$T/d1.tar" "$T/d2.tar" && ok "docker export: same bytes" || fail "docker exports differ"
same "docker export: RepoTags familiar" "$(tar -xOf "$T/d1.tar" manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RepoTags"])')" "['wharf.test/busybox:latest']"
check "re-import docker export" "$A" import "$T/cs-d" "$T/d1.tar"
same "docker round trip: name and manifest digest" "$(cut -d' ' -f1,2 "$T/out")" "wharf.test/busybox:latest $dman"
check "docker export of an OCI image (gzip layer) and a multi-platform index" "$A" export --docker "$T/cs" "$T/d3.tar" \
	"docker.io/library/busybox:latest=$BB" "wharf.test/mp:latest=$MP"
check "re-import it" "$A" import "$T/cs-d3" "$T/d3.tar"
read -r n1 m1 _ <"$T/out"
same "docker: familiar name normalized back" "$n1" "docker.io/library/busybox:latest"
M="$T/cs-d3/blobs/sha256/${m1#sha256:}"
same "docker: config kept" "$(json_field "$M" 'd["config"]["digest"]')" "$bb_config"
same "docker: gzip layer kept" "$(json_field "$M" 'd["layers"][0]["digest"]+" "+d["layers"][0]["mediaType"]')" \
	"$bb_layer application/vnd.docker.image.rootfs.diff.tar.gzip"
same "docker: two images" "$(wc -l <"$T/out")" "2"
expect_fail "docker export refuses all platforms" "one platform per image" \
	"$A" export --docker --all-platforms "$T/cs" "$T/d4.tar" "wharf.test/mp:latest=$MP"
[ -e "$T/d4.tar" ] && fail "failed export left its output" || ok "failed export left no output"
expect_fail "export of a missing image" "not found" \
	"$A" export "$T/cs" "$T/d5.tar" "x=sha256:$(printf '%064d' 0)"

log "export from a damaged store fails naming the blob"
cp -a "$T/cs-rt" "$T/cs-bad"
rm -f "$T/cs-bad/blobs/sha256/${bb_layer#sha256:}"
expect_fail "export with a layer missing" "image 'wharf.test/busybox:latest'.*${bb_layer}.*not found" \
	"$A" export "$T/cs-bad" "$T/bad1.tar" "wharf.test/busybox:latest=$BB"
cp -a "$T/cs-rt" "$T/cs-bad2"
f="$T/cs-bad2/blobs/sha256/${bb_config#sha256:}"
chmod u+w "$f"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[0]^=1; open(p,"wb").write(b)' "$f"
expect_fail "export with a corrupted config" "blob ${bb_config} in the store has digest sha256:" \
	"$A" export "$T/cs-bad2" "$T/bad2.tar" "wharf.test/busybox:latest=$BB"

finish

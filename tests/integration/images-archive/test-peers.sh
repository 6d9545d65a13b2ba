#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Our exports read by real peers, and theirs by us: skopeo inspects and copies our OCI tar and
# inspects our docker-archive; a private containerd (temp root and socket, own mount namespace)
# imports our exports with `ctr images import` and records the same digests, its import of the
# fixture docker-archive gives the manifest digest ours gives, and what `ctr images export`
# writes we import with the same digests. Skips (77) when skopeo or containerd is missing.
. "$(dirname "$0")/lib.sh"

for b in skopeo containerd ctr unshare; do
	command -v "$b" >/dev/null || {
		echo "$b not installed: skipping" >&2
		exit 77
	}
done

build_images
BB=$(digest_of busybox)
ML=$(digest_of multilayer)
MP=$(digest_of multiplatform)
bb_config=$(json_field "$T/img/oci/blobs/sha256/${BB#sha256:}" 'd["config"]["digest"]')
bb_diffid=$(json_field "$T/img/oci/blobs/sha256/${bb_config#sha256:}" 'd["rootfs"]["diff_ids"][0]')

check "import busybox-oci.tar" "$A" import --base-name wharf.test/busybox "$T/cs" "$T/img/busybox-oci.tar"
check "import busybox.tar" "$A" import "$T/cs" "$T/img/busybox.tar"
read -r _ dman _ <"$T/out"
tar -C "$T/img/multilayer" -cf "$T/ml-oci.tar" .
check "import multilayer layout" "$A" import --base-name wharf.test/multilayer "$T/cs" "$T/ml-oci.tar"
tar -C "$T/img/multiplatform" -cf "$T/mp-oci.tar" .
check "import multiplatform layout" "$A" import --base-name wharf.test/mp "$T/cs" "$T/mp-oci.tar"

check "export busybox (OCI)" "$A" export "$T/cs" "$T/bb.tar" "wharf.test/busybox:latest=$BB"
check "export three images (OCI)" "$A" export --all-platforms "$T/cs" "$T/multi.tar" \
	"wharf.test/busybox:latest=$BB" "wharf.test/multilayer:latest=$ML" "wharf.test/mp:v2=$MP"
check "export busybox (docker)" "$A" export --docker "$T/cs" "$T/bb-docker.tar" "wharf.test/busybox:latest=$dman"
check "export two images (docker)" "$A" export --docker "$T/cs" "$T/two-docker.tar" \
	"docker.io/library/busybox:1=$BB" "wharf.test/multilayer:latest=$ML"

log "skopeo"
check "skopeo inspect oci-archive" skopeo inspect "oci-archive:$T/bb.tar:latest"
same "skopeo sees our manifest digest" "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])' <"$T/out")" "$BB"
check "skopeo inspect oci-archive of the index (v2)" skopeo inspect --raw "oci-archive:$T/multi.tar:v2"
same "skopeo reads our index" "sha256:$(sha256sum <"$T/out" | cut -d' ' -f1)" "$MP"
check "skopeo copy oci-archive to a dir" skopeo copy "oci-archive:$T/bb.tar:latest" "dir:$T/skdir"
same "skopeo copy: manifest digest" "sha256:$(sha256sum <"$T/skdir/manifest.json" | cut -d' ' -f1)" "$BB"
[ -f "$T/skdir/${bb_config#sha256:}" ] && ok "skopeo copy: config blob" || fail "skopeo copy: no config blob"
check "skopeo inspect docker-archive" skopeo inspect "docker-archive:$T/bb-docker.tar"
same "skopeo: docker-archive layer" "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Layers"])' <"$T/out")" "['$bb_diffid']"
check "skopeo copy docker-archive to a dir" skopeo copy "docker-archive:$T/bb-docker.tar" "dir:$T/skdir2"
same "skopeo: docker-archive config bytes" "$(ls "$T/skdir2" | grep -c "^${bb_config#sha256:}\$")" "1"
check "skopeo inspect the second image of a docker-archive" skopeo inspect "docker-archive:$T/two-docker.tar:wharf.test/multilayer:latest"
same "skopeo: multilayer has three layers" "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))' <"$T/out")" "3"
check "skopeo copy docker-archive to an OCI layout" skopeo copy "docker-archive:$T/two-docker.tar:busybox:1" "oci:$T/skoci:x"

log "archives written by skopeo, imported by us"
check "skopeo copy to oci-archive" skopeo copy "oci:$T/img/multilayer:latest" "oci-archive:$T/sk-oci.tar:wharf.test/sk:1"
check "import skopeo's oci-archive" "$A" import "$T/cs-sk" "$T/sk-oci.tar"
same "skopeo oci-archive: name and digest" "$(cut -d' ' -f1,2 "$T/out")" "wharf.test/sk:1 $ML"
check "skopeo copy to docker-archive" skopeo copy "oci:$T/img/multilayer:latest" "docker-archive:$T/sk-docker.tar:wharf.test/sk:2"
check "import skopeo's docker-archive" "$A" import "$T/cs-sk" "$T/sk-docker.tar"
read -r skname skman _ <"$T/out"
same "skopeo docker-archive: name" "$skname" "wharf.test/sk:2"
ml_config=$(json_field "$T/img/multilayer/blobs/sha256/${ML#sha256:}" 'd["config"]["digest"]')
same "skopeo docker-archive: config kept" "$(json_field "$T/cs-sk/blobs/sha256/${skman#sha256:}" 'd["config"]["digest"]')" "$ml_config"
same "skopeo docker-archive: layers are the diff IDs" \
	"$(json_field "$T/cs-sk/blobs/sha256/${skman#sha256:}" '" ".join(l["digest"] for l in d["layers"])')" \
	"$(json_field "$T/img/multilayer/blobs/sha256/${ml_config#sha256:}" '" ".join(d["rootfs"]["diff_ids"])')"

log "containerd"
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
# A private mount namespace: what containerd mounts while unpacking stays there.
unshare -m --propagation private containerd --config "$T/ctrd/config.toml" \
	--root "$T/ctrd/root" --state "$T/ctrd/state" --address "$sock" \
	</dev/null >"$T/ctrd/log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 200); do
	ctr --address "$sock" version >/dev/null 2>&1 && break
	sleep 0.05
done
ctr --address "$sock" version >/dev/null 2>&1 || {
	echo "containerd did not start: $(tail -5 "$T/ctrd/log")" >&2
	exit 1
}
C=(ctr --address "$sock" -n archive-test)
ctr_digest() { "${C[@]}" images ls | awk -v n="$1" '$1 == n { print $3 }'; }

check "ctr import of our OCI export (three images)" "${C[@]}" images import --all-platforms --snapshotter native "$T/multi.tar"
same "containerd: busybox digest" "$(ctr_digest wharf.test/busybox:latest)" "$BB"
same "containerd: multilayer digest" "$(ctr_digest wharf.test/multilayer:latest)" "$ML"
same "containerd: index digest" "$(ctr_digest wharf.test/mp:v2)" "$MP"
check "ctr images check" "${C[@]}" images check
grep -q "wharf.test/multilayer:latest.*complete" "$T/out" && ok "ctr: multilayer complete" || fail "ctr images check: $(cat "$T/out")"

check "ctr import of our docker export" "${C[@]}" images import --snapshotter native "$T/two-docker.tar"
check "we import the same docker export" "$A" import "$T/cs-d" "$T/two-docker.tar"
ml_docker=$(awk '$1 == "wharf.test/multilayer:latest" { print $2 }' "$T/out")
same "containerd and wharf synthesize the same manifests (docker export)" \
	"$(ctr_digest docker.io/library/busybox:1) $(ctr_digest wharf.test/multilayer:latest)" \
	"$(awk '{print $2}' "$T/out" | tr '\n' ' ' | sed 's/ $//')"

# A fresh namespace: containerd reuses compressed blobs it already knows for a layer's diff ID.
C2=(ctr --address "$sock" -n archive-test-2)
check "ctr import of the fixture docker-archive" "${C2[@]}" images import --snapshotter native "$T/img/busybox.tar"
same "containerd and wharf synthesize the same manifest (busybox.tar)" \
	"$("${C2[@]}" images ls | awk '$1 == "wharf.test/busybox:latest" { print $3 }')" "$dman"

log "containerd's export, imported by us"
check "ctr export of two images" "${C[@]}" images export --all-platforms "$T/ctr-export.tar" wharf.test/mp:v2 wharf.test/multilayer:latest
check "import containerd's export" "$A" import "$T/cs-c" "$T/ctr-export.tar"
same "containerd's export: names and digests" "$(cut -d' ' -f1,2 "$T/out" | sort)" \
	"$(printf '%s\n' "wharf.test/mp:v2 $MP" "wharf.test/multilayer:latest $ml_docker" | sort)"

finish

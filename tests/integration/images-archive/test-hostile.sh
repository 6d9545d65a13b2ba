#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hostile and broken archives (made by make_corpus.py with python3's tarfile): wrong digests,
# truncation, missing index or blobs, "../" and absolute names, symlinks and hard links in
# blobs/, entries outside blobs/, huge JSON, bad docker-archives. Each must fail with an error
# naming what was wrong, leave no new blob and no ingest in the store, and write nothing
# outside it. Controls repacked the same way must import.
. "$(dirname "$0")/lib.sh"

build_images
mkdir -p "$T/corpus"
python3 "$HERE/make_corpus.py" "$T/img/busybox-oci.tar" "$T/img/busybox.tar" "$T/corpus"
rm -f /tmp/archive-escape /tmp/archive-escape-abs

# A store that already holds the docker-archive's blobs (its config is the OCI image's too, its
# layer is the uncompressed one): nothing may be added to it.
check "seed the store" "$A" import "$T/cs" "$T/img/busybox.tar"
before=$(blobs_of "$T/cs")

hostile() {
	local file=$1 pat=$2
	expect_fail "$file" "$pat" "$A" import "$T/cs" "$T/corpus/$file"
	same "$file: no new blob" "$(comm -13 <(echo "$before") <(blobs_of "$T/cs"))" ""
	same "$file: no ingest left" "$(ingests_of "$T/cs")" ""
}

hostile wrong-digest.tar "entry 'blobs/sha256/[0-9a-f]{64}': content digest is sha256:[0-9a-f]{64}, not the sha256:[0-9a-f]{64} its name says"
hostile truncated.tar "entry 'blobs/sha256/[0-9a-f]{64}'.*([Tt]runcated|truncated)"
hostile no-index.tar "OCI layout without index.json"
hostile missing-layer.tar "blob sha256:[0-9a-f]{64} \(application/vnd.oci.image.layer.v1.tar\+gzip\) referenced by manifest sha256:[0-9a-f]{64} is missing"
hostile dotdot.tar "entry '../archive-escape': not a relative path inside the archive"
hostile dotdot-blobs.tar "entry 'blobs/../../archive-escape': not a relative path inside the archive"
hostile absolute.tar "entry '/tmp/archive-escape-abs': not a relative path inside the archive"
hostile symlink-blob.tar "entry 'blobs/sha256/[0-9a-f]{64}': a symlink in blobs/ refused"
hostile hardlink-blob.tar "entry 'blobs/sha256/e{64}': a hard link in blobs/ refused"
hostile outside-blobs.tar "entry 'evil.sh' is outside blobs/ in an OCI layout"
hostile bad-blob-name.tar "entry 'blobs/sha256/abc': not a blob name"
hostile sha512.tar "entry 'blobs/sha512/a{128}': not a blob name"
hostile huge-manifest-json.tar "entry 'manifest.json' is [0-9]+ bytes, more than the [0-9]+ allowed"
hostile huge-index-json.tar "entry 'index.json' is [0-9]+ bytes, more than the [0-9]+ allowed"
hostile docker-symlink-out.tar "entry '[0-9a-f]{64}/layer.tar': link target '../../../etc/passwd' leaves the archive"
hostile docker-missing-layer.tar "manifest.json\[0\].Layers\[0\]: '[0-9a-f]{64}/layer.tar' is not in the archive"
hostile docker-bad-json.tar "manifest.json\[0\]: Config"
hostile docker-bad-tag.tar "manifest.json\[0\].RepoTags\[0\]: invalid reference 'UPPER/Case:x'"
hostile device.tar "entry 'blobs/sha256/d{64}': unsupported file type"
hostile duplicate.tar "entry 'index.json' appears twice"
hostile not-a-tar.tar "not a tar archive"
hostile empty.tar "neither an OCI layout .* nor a docker-archive"
hostile size-mismatch.tar "blob sha256:[0-9a-f]{64}: index.json says [0-9]+ bytes, the archive holds [0-9]+"
hostile big-truncated.tar "entry '[0-9a-f]{64}/layer.tar'.*[Tt]runcated"
hostile big-wrong-digest.tar "entry 'blobs/sha256/f{64}': content digest is sha256:[0-9a-f]{64}, not the sha256:f{64} its name says"
hostile bad-layout.tar "unsupported imageLayoutVersion '9.9'"
[ -e /tmp/archive-escape ] || [ -e /tmp/archive-escape-abs ] || [ -e "$T/archive-escape" ] &&
	fail "something was written outside the store" || ok "nothing written outside the store"

log "controls: the same repacking, without the fault, imports"
BB=$(digest_of busybox)
check "good-oci.tar" "$A" import "$T/cs" "$T/corpus/good-oci.tar"
same "good-oci.tar: digest" "$(cut -d' ' -f2 "$T/out")" "$BB"
check "good-docker.tar" "$A" import "$T/cs" "$T/corpus/good-docker.tar"
dman=$(cut -d' ' -f2 "$T/out")
check "good-docker-symlink.tar (layer symlinked inside the archive)" "$A" import "$T/cs" "$T/corpus/good-docker-symlink.tar"
same "symlinked layer: same manifest" "$(cut -d' ' -f2 "$T/out")" "$dman"

check "good-big.tar (a layer staged in an ingest)" "$A" import "$T/cs" "$T/corpus/good-big.tar"
big=$(cat "$T/corpus/big.sha256")
[ -f "$T/cs/blobs/sha256/$big" ] && ok "big layer committed under its digest" || fail "big layer $big missing"
same "no ingest left after the big import" "$(ingests_of "$T/cs")" ""

log "a failed import leaves a store where the same archive then imports"
check "truncated, then whole" "$A" import "$T/cs3" "$T/img/busybox-oci.tar"
same "no ingest left after success" "$(ingests_of "$T/cs3")" ""

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# images/ against docker-registry with TLS (a self-made CA) and htpasswd Basic auth: the CA
# file, skip-verify, an untrusted certificate refused, credentials from a flag and from a
# Docker config.json (base64 "auth"), missing and wrong credentials refused with clear errors,
# HTTP/2 multiplexing on one connection, push with credentials and pull back by skopeo.
source "$(dirname "$0")/lib.sh"
W=("$WHARF_IMG" --stats)

build_images "$T/img"
start_registry "$T/reg" --tls --htpasswd alice:s3cret
addr=$ADDR
"$FIXTURES/registry.sh" push "$T/reg" "$T/img/multilayer:latest" test/ml:1
want_ml=$(awk '$1 == "multilayer" {print $2}' "$T/img.digests")
ca=$T/reg/ca.crt

expect_fail "untrusted certificate" "SSL certificate problem|certificate" \
	"${W[@]}" --user alice:s3cret pull "$addr/test/ml:1" "$T/x"
expect_fail "no credentials" "requires authentication \(Basic\) and no credentials" \
	"${W[@]}" --docker-config "" --ca "$ca" pull "$addr/test/ml:1" "$T/x"
expect_fail "wrong password" "refused the credentials of user 'alice'" \
	"${W[@]}" --ca "$ca" --user alice:wrong pull "$addr/test/ml:1" "$T/x"
[[ ! -d $T/x/blobs/sha256 || -z $(ls -A "$T/x/blobs/sha256") ]] && ok "nothing stored after refusals" ||
	fail "blobs stored after refused auth"

check "pull with CA file and --user" "${W[@]}" --ca "$ca" --user alice:s3cret pull "$addr/test/ml:1" "$T/p1"
eq "digest" "$(cut -d' ' -f1 "$T/out")" "$want_ml"
check "layout verifies" verify_layout "$T/p1"
eq "HTTP/2 for every request" "$(stat_of http2)" "$(stat_of requests)"
eq "one multiplexed connection" "$(stat_of connects)" 1

check "pull with skip-verify" "${W[@]}" --skip-verify --user alice:s3cret pull "$addr/test/ml:1" "$T/p2"

mkdir -p "$T/dc"
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$addr" "$(printf alice:s3cret | base64)" >"$T/dc/config.json"
check "credentials from config.json (DOCKER_CONFIG)" env DOCKER_CONFIG="$T/dc" "${W[@]}" --ca "$ca" pull "$addr/test/ml:1" "$T/p3"
printf '{"auths":{"https://%s/v1/":{"username":"alice","password":"s3cret"}}}\n' "$addr" >"$T/dc/other.json"
check "credentials from an explicit config.json (URL key, username/password)" \
	"${W[@]}" --docker-config "$T/dc/other.json" --ca "$ca" pull "$addr/test/ml:1" "$T/p4"
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$addr" "$(printf alice:bad | base64)" >"$T/dc/bad.json"
expect_fail "wrong credentials from config.json" "refused the credentials of user 'alice'" \
	"${W[@]}" --docker-config "$T/dc/bad.json" --ca "$ca" pull "$addr/test/ml:1" "$T/x"
printf '{"auths":{"%s":{"auth":"!!notbase64"}}}\n' "$addr" >"$T/dc/broken.json"
expect_fail "malformed config.json auth" "auth: invalid base64" \
	"${W[@]}" --docker-config "$T/dc/broken.json" --ca "$ca" pull "$addr/test/ml:1" "$T/x"

check "push with credentials" "${W[@]}" --ca "$ca" --user alice:s3cret push "$T/p1:1" "$addr/wharf/ml:2"
expect_fail "push without credentials" "requires authentication" \
	"${W[@]}" --docker-config "" --ca "$ca" push "$T/p1:1" "$addr/wharf/ml:3"
got=$(skopeo inspect --raw --cert-dir "$T/reg/certs" --creds alice:s3cret "docker://$addr/wharf/ml:2" | sha256sum | cut -d' ' -f1)
eq "skopeo reads wharf's push over TLS" "sha256:$got" "$want_ml"
if skopeo copy -q --src-cert-dir "$T/reg/certs" --src-creds alice:s3cret "docker://$addr/wharf/ml:2" "oci:$T/sk:x" 2>"$T/skerr"; then
	ok "skopeo copies wharf's push (every blob verified)"
else
	fail "skopeo copy: $(cat "$T/skerr")"
fi
finish

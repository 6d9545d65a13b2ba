#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# images/ against fake_registry.py (a python3 OCI distribution server written for these tests):
# the Bearer token flow (realm, service, scope; token and access_token answers; tokens cached
# per scope; Basic credentials sent to the realm), refused tokens, Basic auth, redirects of blob
# downloads to a storage host without leaking credentials, and faults: wrong digests, bodies
# truncated mid-way (resumed with Range, or left resumable for a later pull), ignored Range,
# 500s then success, 500s for ever, schema 1. No fault may leave a blob reported complete.
source "$(dirname "$0")/lib.sh"
W=("$WHARF_IMG" --stats --backoff-ms 20)

build_images "$T/img"
# The fixture layout tags its image "latest"; serve the multilayer image (4 layers, >1 MB).
src=$T/img/multilayer
want=$(awk '$1 == "multilayer" {print $2}' "$T/img.digests")
n=0

start_fake() { # sets ADDR (host:port) and LOG; args go to fake_registry.py
	n=$((n + 1))
	local pf=$T/fake$n.port
	python3 "$HERE/fake_registry.py" --layout "$src" --port-file "$pf" --log "$T/fake$n.log" "$@" \
		</dev/null >"$T/fake$n.out" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1 100); do
		[[ -f $pf ]] && break
		sleep 0.05
	done
	[[ -f $pf ]] || { echo "fake registry did not start: $(cat "$T/fake$n.out")" >&2; exit 1; }
	LOG=$T/fake$n.log
	ADDR="127.0.0.1:$(cat "$pf")"
}

no_blobs() { # the layout holds no complete blob other than manifests fetched before the fault
	local dir=$1 f
	for f in "$dir"/blobs/sha256/*; do
		[[ -e $f ]] || continue
		[[ $(sha256sum "$f" | cut -d' ' -f1) == "$(basename "$f")" ]] || return 1
	done
	# the root is only recorded when the pull succeeded
	! grep -q '"digest"' "$dir/index.json" 2>/dev/null
}

log "bearer token flow"
start_fake --auth bearer --user bob:pw
a=$ADDR
blog=$LOG
check "pull with bearer tokens" "${W[@]}" --user bob:pw pull "$a/test/ml:latest" "$T/b1"
eq "digest" "$(cut -d' ' -f1 "$T/out")" "$want"
check "layout verifies" verify_layout "$T/b1"
eq "one token for the repository scope, cached" "$(stat_of tokens)" 1
accept="application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*"
eq "manifest Accept header as containerd sends it" "$(grep -m1 '^ACCEPT ' "$blog" | cut -d' ' -f2-)" "$accept"
grep -q "^TOKEN service=fake-registry scope=repository:test/ml:pull auth=basic" "$blog" &&
	ok "token request carries service, scope and Basic credentials" || fail "token request: $(grep TOKEN "$blog")"
if grep -E '^GET /v2/test/ml/blobs/.* auth=none' "$blog" >/dev/null; then
	fail "a blob request went out without the token"
else
	ok "every blob request carried the token"
fi
expect_fail "token refused for wrong credentials" "token server 'http://127.0.0.1:[0-9]+/token' refused the credentials of user 'bob'" \
	"${W[@]}" --user bob:nope pull "$a/test/ml:latest" "$T/b2"
expect_fail "anonymous token refused" "refused anonymous access" \
	"${W[@]}" --docker-config "" pull "$a/test/ml:latest" "$T/b3"
start_fake --auth bearer
a=$ADDR
check "anonymous bearer flow (token server without credentials)" "${W[@]}" --docker-config "" pull "$a/test/ml:latest" "$T/b4"
start_fake --auth bearer --fault token-refuse
a=$ADDR
expect_fail "token server refusing everyone" "token server .* refused" \
	"${W[@]}" --docker-config "" pull "$a/test/ml:latest" "$T/b5"

log "push with bearer tokens (pull,push scopes)"
start_fake --auth bearer --user bob:pw --store "$T/pushed"
a=$ADDR
check "push with bearer tokens" "${W[@]}" --user bob:pw push "$src:latest" "$a/wharf/ml:1"
eq "uploaded config and layers" "$(stat_of uploaded)" $(($(ls "$src/blobs/sha256" | wc -l) - 1))
grep -q "^TOKEN service=fake-registry scope=repository:wharf/ml:pull,push auth=basic" "$LOG" &&
	ok "token asked for pull,push" || fail "push token scope: $(grep TOKEN "$LOG")"
for f in "$src"/blobs/sha256/*; do
	cmp -s "$f" "$T/pushed/blobs/sha256/$(basename "$f")" || fail "blob $(basename "$f") not pushed intact"
done
ok "every blob arrived intact"
grep -q "^wharf/ml 1 $want application/vnd.oci.image.manifest.v1+json\$" "$T/pushed/tags" &&
	ok "manifest tagged with its media type" || fail "tags: $(cat "$T/pushed/tags")"
check "chunked push with a mount request the registry declines" "${W[@]}" --user bob:pw --chunk 100000 \
	--mount-from wharf/ml push "$src:latest" "$a/wharf/m2:2"
grep -q "^TOKEN service=fake-registry scope=repository:wharf/m2:pull,push|repository:wharf/ml:pull auth=basic" "$LOG" &&
	ok "mount token carries both scopes" || fail "mount scopes: $(grep TOKEN "$LOG")"
grep -q "^POST /v2/wharf/m2/blobs/uploads/?mount=sha256:.*&from=wharf/ml" "$LOG" && ok "mount asked" || fail "no mount POST"
eq "fell back to uploads" "$(stat_of mounted)" 0
((($(stat_of chunks)) > 4)) && ok "chunked PATCH uploads" || fail "chunks=$(stat_of chunks)"
expect_fail "push without credentials" "refused anonymous access to 'repository:wharf/x:pull,push'" \
	"${W[@]}" --docker-config "" push "$src:latest" "$a/wharf/x:1"

log "basic auth"
start_fake --auth basic --user bob:pw
a=$ADDR
check "pull with Basic" "${W[@]}" --user bob:pw pull "$a/test/ml:latest" "$T/c1"
expect_fail "Basic refused" "refused the credentials of user 'bob'" \
	"${W[@]}" --user bob:x pull "$a/test/ml:latest" "$T/c2"

log "redirects to blob storage"
start_fake --auth bearer --redirect
a=$ADDR
check "pull through redirects" "${W[@]}" --docker-config "" pull "$a/test/ml:latest" "$T/r1"
check "redirected layout verifies" verify_layout "$T/r1"
grep -q '^GET /storage/sha256:' "$LOG" && ok "blobs came from the storage host" || fail "no storage request"
grep -E '^GET /storage/.* auth=bearer' "$LOG" >/dev/null && fail "token leaked to storage" || ok "no credentials sent to storage"

log "faults"
start_fake --fault wrong-digest
a=$ADDR
expect_fail "wrong digest" "digest mismatch" "${W[@]}" pull "$a/test/ml:latest" "$T/f1"
check "nothing complete after a wrong digest" no_blobs "$T/f1"
[[ -z $(ls -A "$T/f1/.ingest" 2>/dev/null) ]] && ok "bad data not kept for resume" || fail "bad data left in .ingest"

start_fake --fault truncate-once
a=$ADDR
check "truncated once: resumed with Range" "${W[@]}" pull "$a/test/ml:latest" "$T/f2"
eq "digest after resume" "$(cut -d' ' -f1 "$T/out")" "$want"
check "resumed layout verifies" verify_layout "$T/f2"
r=$(stat_of resumed)
((r >= 1)) && ok "$r transfers resumed" || fail "no resume counted"
grep -Eq '^GET /v2/test/ml/blobs/sha256:[0-9a-f]+ range=bytes=[1-9][0-9]*- ' "$LOG" &&
	ok "Range request sent with the held offset" || fail "no Range request in $(cat "$LOG")"

start_fake --fault truncate-always
a=$ADDR
expect_fail "truncated always: bounded retries, clear error" "GET http://.*/blobs/sha256:.*(transfer closed|Recv failure|partial)" \
	"${W[@]}" --retries 2 pull "$a/test/ml:latest" "$T/f3"
check "nothing complete after truncation" no_blobs "$T/f3"
held=$(find "$T/f3/.ingest" -type f -size +0 | wc -l)
((held >= 1)) && ok "$held partial blobs kept for resume" || fail "no partial blob kept"
start_fake
good=$ADDR
check "later pull resumes the partial blobs" "${W[@]}" pull "$good/test/ml:latest" "$T/f3"
eq "digest" "$(cut -d' ' -f1 "$T/out")" "$want"
check "resumed layout verifies" verify_layout "$T/f3"
grep -Eq 'range=bytes=[1-9][0-9]*-' "$LOG" && ok "the good server saw Range requests" || fail "no Range"

log "complete ingests left by a crash before commit"
start_fake
a=$ADDR
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"])' \
	"$src/blobs/sha256/${want#sha256:}")
layer2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][1]["digest"])' \
	"$src/blobs/sha256/${want#sha256:}")
mkdir -p "$T/k1/.ingest"
cp "$src/blobs/sha256/${layer#sha256:}" "$T/k1/.ingest/${layer#sha256:}"
cp "$src/blobs/sha256/${layer2#sha256:}" "$T/k1/.ingest/${layer2#sha256:}"
printf 'X' | dd of="$T/k1/.ingest/${layer2#sha256:}" bs=1 seek=100 conv=notrunc status=none
: >"$LOG"
check "pull over complete ingests (one intact, one corrupt)" "${W[@]}" pull "$a/test/ml:latest" "$T/k1"
check "layout verifies" verify_layout "$T/k1"
grep -q "^GET /v2/test/ml/blobs/$layer " "$LOG" && fail "intact complete ingest downloaded again" ||
	ok "intact complete ingest committed without a request"
grep -q "^GET /v2/test/ml/blobs/$layer2 range=- " "$LOG" && ok "corrupt complete ingest downloaded from the start" ||
	fail "corrupt ingest: $(grep "$layer2" "$LOG")"

start_fake --fault no-range
a=$ADDR
check "server ignoring Range: start over" "${W[@]}" pull "$a/test/ml:latest" "$T/f4"
check "layout verifies" verify_layout "$T/f4"
grep -Eq 'range=bytes=[1-9][0-9]*-' "$LOG" && ok "resume was asked for and refused by the server" ||
	fail "no Range request against the no-range server"

start_fake --fault 500 --fail-count 2
a=$ADDR
check "500s then success" "${W[@]}" --retries 3 pull "$a/test/ml:latest" "$T/f5"
check "layout verifies" verify_layout "$T/f5"
r=$(stat_of retries)
((r >= 2)) && ok "$r retries" || fail "retries=$r"
start_fake --fault 500
a=$ADDR
expect_fail "500 for ever: bounded" "HTTP 500: UNKNOWN: injected failure 4" \
	"${W[@]}" --retries 3 pull "$a/test/ml:latest" "$T/f6"
check "nothing complete after 500s" no_blobs "$T/f6"

start_fake --fault reset-once
check "connection resets, then success" "${W[@]}" --retries 2 pull "$ADDR/test/ml:latest" "$T/f10"
check "layout verifies" verify_layout "$T/f10"
# curl itself retries once on a reused connection that died; a fresh one is ours to retry.
r=$(stat_of retries)
((r >= 1)) && ok "$r retries after resets" || fail "retries=$r after resets"

start_fake --fault 429 --fail-count 1
check "429 with Retry-After, then success" "${W[@]}" --retries 2 pull "$ADDR/test/ml:latest" "$T/f8"
check "layout verifies" verify_layout "$T/f8"
start_fake --fault 429
expect_fail "429 for ever: bounded" "HTTP 429: TOOMANYREQUESTS: slow down 2" \
	"${W[@]}" --retries 1 pull "$ADDR/test/ml:latest" "$T/f9"

start_fake --fault schema1
a=$ADDR
expect_fail "schema 1 refused" "Docker schema 1 manifests are not supported" \
	"${W[@]}" pull "$a/test/ml:latest" "$T/f7"

log "peer limits"
start_fake --fault huge-manifest
expect_fail "manifest over 4 MiB refused" "response larger than 4393216 bytes" \
	"${W[@]}" pull "$ADDR/test/ml:latest" "$T/l1"
start_fake --fault long-blob
expect_fail "blob longer than its descriptor refused" "sent more than the [0-9]+ bytes of its descriptor" \
	"${W[@]}" pull "$ADDR/test/ml:latest" "$T/l2"
check "nothing complete after an overlong blob" no_blobs "$T/l2"

log "pull into the content store (resumable ingests keyed by ref)"
start_fake --fault truncate-always
a=$ADDR
expect_fail "truncated pull into the content store" "transfer closed|Recv failure|partial" \
	"${W[@]}" --retries 1 --content "$T/cs" pull "$a/test/ml:latest"
layers=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(len(m["layers"]))' \
	"$src/blobs/sha256/${want#sha256:}")
held=$(find "$T/cs/ingest" -name data -size +0 | wc -l)
((held >= 1)) && ok "$held ingests hold partial data" || fail "no partial ingest in the content store"
grep -rqx "layer-sha256:[0-9a-f]*" "$T/cs/ingest"/*/ref && ok "ingests keyed by containerd ref keys" ||
	fail "ingest refs: $(cat "$T/cs/ingest"/*/ref)"
complete=$(find "$T/cs/blobs/sha256" -type f | wc -l)
((complete <= 1)) && ok "no layer committed ($complete blobs: the manifest at most)" || fail "$complete blobs committed"
start_fake
a=$ADDR
check "pull resumes the ingests" "${W[@]}" --content "$T/cs" pull "$a/test/ml:latest"
eq "root digest" "$(cut -d' ' -f1 "$T/out")" "$want"
r=$(stat_of resumed)
((r >= held)) && ok "$r resumed with Range" || fail "resumed=$r, held=$held"
grep -Eq 'range=bytes=[1-9][0-9]*-' "$LOG" && ok "Range requests seen" || fail "no Range request"
for f in "$T/cs/blobs/sha256"/*; do
	[[ $(sha256sum "$f" | cut -d' ' -f1) == "$(basename "$f")" ]] || fail "corrupt blob $f"
done
eq "manifest, config and every layer committed" "$(find "$T/cs/blobs/sha256" -type f | wc -l)" $((layers + 2))
eq "no ingest left" "$(find "$T/cs/ingest" -mindepth 1 -maxdepth 1 | wc -l)" 0
start_fake --fault wrong-digest
a=$ADDR
rm -rf "$T/cs2"
expect_fail "wrong digest into the content store" "digest mismatch" \
	"${W[@]}" --content "$T/cs2" pull "$a/test/ml:latest"
eq "no layer committed after a wrong digest" "$(find "$T/cs2/blobs/sha256" -type f | wc -l)" 1
eq "no bad data kept in ingests" "$(find "$T/cs2/ingest" -name data -size +0 | wc -l)" 0

log "mirrors"
start_fake
good=$ADDR
mlog=$LOG
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
check "pull through a mirror" "${W[@]}" --mirror "upstream.invalid=http://$good" \
	pull "upstream.invalid/test/ml:latest" "$T/g1"
grep -q 'ns=upstream.invalid' "$mlog" && ok "mirror asked with ns=" || fail "no ns= on mirror requests"
check "dead mirror falls back to the registry" "${W[@]}" --retries 1 \
	--mirror "$good=http://127.0.0.1:$dead" --plain-http "$good" pull "$good/test/ml:latest" "$T/g2"
check "layout verifies" verify_layout "$T/g2"

log "hosts.toml (containerd config_path)"
mkdir -p "$T/hosts/upstream.invalid" "$T/hosts/broken.invalid" "$T/hosts/_default"
cat >"$T/hosts/upstream.invalid/hosts.toml" <<TOML
server = "https://upstream.invalid"

[host."http://127.0.0.1:$dead"]
  capabilities = ["pull", "resolve"]

[host."http://$good"]
  capabilities = ["pull", "resolve"]
TOML
check "pull through hosts.toml mirrors (first one dead)" "${W[@]}" --retries 1 --hosts-dir "$T/hosts" \
	pull "upstream.invalid/test/ml:latest" "$T/h1"
check "layout verifies" verify_layout "$T/h1"
printf 'server = "http://%s"\n' "$good" >"$T/hosts/_default/hosts.toml"
check "_default hosts.toml" "${W[@]}" --hosts-dir "$T/hosts" pull "other.invalid/test/ml:latest" "$T/h2"
printf '[host."http://%s"]\n  capabilities = ["pull"]\n  header = { x = "y" }\n' "$good" \
	>"$T/hosts/broken.invalid/hosts.toml"
expect_fail "unsupported key in hosts.toml" "hosts.toml:3:[0-9]+: .*unsupported key 'header'" \
	"${W[@]}" --hosts-dir "$T/hosts" pull "broken.invalid/test/ml:latest" "$T/h3"
printf 'server = "http://%s"\ncapabilities = [\n' "$good" >"$T/hosts/broken.invalid/hosts.toml"
expect_fail "malformed hosts.toml" "broken.invalid/hosts.toml:[0-9]+:[0-9]+: " \
	"${W[@]}" --hosts-dir "$T/hosts" pull "broken.invalid/test/ml:latest" "$T/h3"
finish

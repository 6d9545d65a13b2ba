#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Bearer token flow against Debian's docker-registry configured for token auth: the realm is
# token_server.py (a python3 token server written for this test) signing RS256 JWTs with a
# self-made key and certificate that the registry trusts (rootcertbundle). wharf pulls what
# skopeo pushed and pushes for skopeo to read back, with tokens scoped pull / pull,push (and the
# mount's source repository), cached per scope; wrong credentials and a registry that rejects
# the token server's signature (another key) fail with clear errors.
source "$(dirname "$0")/lib.sh"
W=("$WHARF_IMG" --stats)

build_images "$T/img"
want_ml=$(awk '$1 == "multilayer" {print $2}' "$T/img.digests")
mkdir -p "$T/tok"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tok/key.pem" -out "$T/tok/cert.pem" \
	-days 30 -subj "/CN=wharf test token issuer" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tok/other-key.pem" -out "$T/tok/other.pem" \
	-days 30 -subj "/CN=someone else" 2>/dev/null

start_token() { # KEY: sets TADDR; the server demands alice:s3cret
	local pf=$T/tok/port.$1
	python3 "$HERE/token_server.py" --key "$T/tok/$1" --cert "$T/tok/${2:-cert.pem}" \
		--issuer wharf-test-issuer --service wharf-test-registry --port-file "$pf" \
		--log "$T/tok/log" --user alice:s3cret </dev/null >"$T/tok/out" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1 100); do
		[[ -f $pf ]] && break
		sleep 0.05
	done
	[[ -f $pf ]] || { echo "token server did not start: $(cat "$T/tok/out")" >&2; exit 1; }
	TADDR=127.0.0.1:$(cat "$pf")
}

start_token_registry() { # DIR REALM: sets RADDR
	local dir=$1 realm=$2 port
	mkdir -p "$dir/storage"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$port
  secret: wharf-token-test
auth:
  token:
    realm: http://$realm/token
    service: wharf-test-registry
    issuer: wharf-test-issuer
    rootcertbundle: $T/tok/cert.pem
YML
	docker-registry serve "$dir/config.yml" </dev/null >"$dir/log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1 200); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
		[[ $code == 401 ]] && break
		sleep 0.05
	done
	[[ $code == 401 ]] || { echo "registry did not start: $(tail -5 "$dir/log")" >&2; exit 1; }
	RADDR=127.0.0.1:$port
}

start_token key.pem
start_token_registry "$T/reg" "$TADDR"
log "registry $RADDR, realm $TADDR"

check "skopeo pushes with a token" skopeo copy -q --dest-tls-verify=false --dest-creds alice:s3cret \
	"oci:$T/img/multilayer:latest" "docker://$RADDR/test/ml:1"
: >"$T/tok/log"
check "wharf pulls with a registry token" "${W[@]}" --user alice:s3cret pull "$RADDR/test/ml:1" "$T/p1"
eq "digest" "$(cut -d' ' -f1 "$T/out")" "$want_ml"
check "layout verifies" verify_layout "$T/p1"
eq "one token, cached for every blob" "$(stat_of tokens)" 1
grep -q "^TOKEN service=wharf-test-registry scope=repository:test/ml:pull auth=basic" "$T/tok/log" &&
	ok "token asked with service, scope and Basic" || fail "token requests: $(cat "$T/tok/log")"

check "wharf pushes with a pull,push token" "${W[@]}" --user alice:s3cret push "$T/p1:1" "$RADDR/wharf/ml:2"
grep -q "scope=repository:wharf/ml:pull,push auth=basic" "$T/tok/log" && ok "push scope asked" ||
	fail "push token requests: $(cat "$T/tok/log")"
check "wharf mounts across repositories with both scopes" "${W[@]}" --user alice:s3cret \
	--mount-from wharf/ml push "$T/p1:1" "$RADDR/wharf/mounted:3"
eq "every blob mounted" "$(stat_of mounted)" "$(($(ls "$T/p1/blobs/sha256" | wc -l) - 1))"
grep -q "scope=repository:wharf/mounted:pull,push|repository:wharf/ml:pull auth=basic" "$T/tok/log" &&
	ok "mount token covers both repositories" || fail "mount token requests: $(cat "$T/tok/log")"
got=$(skopeo inspect --raw --tls-verify=false --creds alice:s3cret "docker://$RADDR/wharf/mounted:3" | sha256sum | cut -d' ' -f1)
eq "skopeo reads wharf's push" "sha256:$got" "$want_ml"

expect_fail "wrong password at the token server" "token server 'http://$TADDR/token' refused the credentials of user 'alice'" \
	"${W[@]}" --user alice:nope pull "$RADDR/test/ml:1" "$T/x"
expect_fail "no credentials" "refused anonymous access to 'repository:test/ml:pull'" \
	"${W[@]}" --docker-config "" pull "$RADDR/test/ml:1" "$T/x"

log "a realm whose signature the registry does not trust"
start_token other-key.pem other.pem
start_token_registry "$T/reg2" "$TADDR"
expect_fail "registry rejects the token" "rejected the token from 'http://$TADDR/token' \(user 'alice'\)" \
	"${W[@]}" --user alice:s3cret pull "$RADDR/test/ml:1" "$T/y"
finish

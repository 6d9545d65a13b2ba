#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Interop with Go ttrpc: (b) a real Go ttrpc client (gopeer, built now, offline, in GOPATH mode
# against Debian's packaged sources) calls our server (ttrpc-peer serve) and checks every answer;
# then our client (ttrpc-peer check-go) calls the Go server (gopeer serve) and checks Go's answers.
# Usage: go-client.sh PEER_BINARY GOPEER_SRC_DIR. Exit 77 when Go or the sources are missing.
set -euo pipefail
peer=$1
src=$2
gocode=/usr/share/gocode/src/github.com/containerd
if ! command -v go >/dev/null || [[ ! -d $gocode/ttrpc || ! -d $gocode/containerd ]]; then
	echo "skip: needs golang-go and Debian's containerd/ttrpc Go sources" >&2
	exit 77
fi
tmp=$(mktemp -d /tmp/ttrpc-interop-go-XXXXXX)
pid=
gopid=
cleanup() {
	for p in $pid $gopid; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" || true
			wait "$p" || true
		fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

GO111MODULE=off GOPATH=$tmp/gopath:/usr/share/gocode GOCACHE=$tmp/gocache GOFLAGS= \
	go build -o "$tmp/gopeer" "$src/main.go"

"$peer" serve "$tmp/s.sock" >"$tmp/ready" &
pid=$!
for _ in $(seq 1 100); do
	grep -q ready "$tmp/ready" 2>/dev/null && break
	kill -0 "$pid" || { echo "ttrpc-peer died" >&2; exit 1; }
	sleep 0.1
done
grep -q ready "$tmp/ready"

"$tmp/gopeer" check "$tmp/s.sock" "$pid"

# A clean shutdown on SIGTERM removes the socket.
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
if [[ $rc -ne 0 ]]; then
	echo "ttrpc-peer exited with $rc" >&2
	exit 1
fi
if [[ -e $tmp/s.sock ]]; then
	echo "socket left behind" >&2
	exit 1
fi
# The other direction: our client, the Go server.
"$tmp/gopeer" serve "$tmp/go.sock" >"$tmp/goready" &
gopid=$!
for _ in $(seq 1 100); do
	grep -q ready "$tmp/goready" 2>/dev/null && break
	kill -0 "$gopid" || { echo "gopeer died" >&2; exit 1; }
	sleep 0.1
done
"$peer" check-go "$tmp/go.sock"
echo PASS

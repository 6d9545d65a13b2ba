#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the images-archive integration tests: a temp dir under /tmp/archive-*,
# cleanup of what the tests start (by pid), the fixture image builder and assertions.
set -euo pipefail

A=${WHARF_ARCHIVE:?set WHARF_ARCHIVE to the wharf-archive binary}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIXTURES=$(cd "$HERE/../../fixtures" && pwd)
T=$(mktemp -d /tmp/archive-test-XXXXXX)
PIDS=()
FAILS=0
CHECKS=0
CLEANUP_HOOKS=()

cleanup() {
	local rc=$?
	for h in "${CLEANUP_HOOKS[@]}"; do
		"$h" || true
	done
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

log() { echo "--- $*" >&2; }
fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}
ok() {
	CHECKS=$((CHECKS + 1))
	echo "ok: $*" >&2
}

# check DESC CMD...: CMD must succeed (stdout in $T/out).
check() {
	local desc=$1
	shift
	if "$@" >"$T/out" 2>"$T/err"; then
		ok "$desc"
	else
		fail "$desc: $(cat "$T/err")"
	fi
}

# expect_fail DESC PATTERN CMD...: CMD must fail with stderr matching PATTERN (grep -E).
expect_fail() {
	local desc=$1 pat=$2
	shift 2
	if "$@" >"$T/out" 2>"$T/err"; then
		fail "$desc: succeeded, expected failure"
	elif grep -Eq -- "$pat" "$T/err"; then
		ok "$desc: $(cat "$T/err")"
	else
		fail "$desc: error '$(cat "$T/err")' does not match '$pat'"
	fi
}

# same DESC GOT WANT
same() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}

# The digests the fixture builder printed: digest_of NAME
digest_of() { awk -v n="$1" '$1 == n { print $2 }' "$T/img.digests"; }

build_images() {
	"$FIXTURES/build-image.sh" --extra "$T/img" >"$T/img.digests"
}

# Lists a content store's blobs (hex names), one a line, sorted.
blobs_of() { (ls "$1/blobs/sha256" 2>/dev/null || true) | sort; }
# Ingest directories left in a content store.
ingests_of() { (ls -A "$1/ingest" 2>/dev/null || true) | grep -v '^\.trash' || true; }

# A blob's JSON field with python: json_field FILE EXPR (EXPR on d).
json_field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

finish() {
	echo "$CHECKS checks, $FAILS failures" >&2
	[ "$FAILS" -eq 0 ]
}

# has_entry TAR PATTERN: an entry of TAR matches PATTERN (no early-closed pipe under pipefail).
has_entry() {
	tar -tf "$1" >"$T/list"
	grep -q -- "$2" "$T/list"
}

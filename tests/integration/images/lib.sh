#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the images/ integration tests: a temp dir under /tmp/images-*, cleanup of
# every process started (by pid), the fixture registry and image builder, and assertions.
set -euo pipefail

WHARF_IMG=${WHARF_IMG:?set WHARF_IMG to the wharf-img binary}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIXTURES=$(cd "$HERE/../../fixtures" && pwd)
T=$(mktemp -d /tmp/images-test-XXXXXX)
PIDS=()
REGS=()
FAILS=0
CHECKS=0

cleanup() {
	local rc=$?
	for d in "${REGS[@]}"; do
		"$FIXTURES/registry.sh" stop "$d" >/dev/null 2>&1 || true
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

# check DESC CMD...: CMD must succeed.
check() {
	local desc=$1
	shift
	if "$@" >"$T/out" 2>"$T/err"; then
		grep '^stats ' "$T/err" >>"$T/stats" || true
		ok "$desc"
	else
		fail "$desc: $(cat "$T/err")"
	fi
}

# expect_fail DESC PATTERN CMD...: CMD must fail and its stderr must match PATTERN (grep -E).
expect_fail() {
	local desc=$1 pat=$2
	shift 2
	if "$@" >"$T/out" 2>"$T/err"; then
		grep '^stats ' "$T/err" >>"$T/stats" || true
		fail "$desc: succeeded, expected failure"
		return
	fi
	grep '^stats ' "$T/err" >>"$T/stats" || true
	if grep -Eq 'Sanitizer|runtime error:' "$T/err"; then
		fail "$desc: sanitizer report: $(cat "$T/err")"
		return
	fi
	if grep -Eq -- "$pat" "$T/err"; then
		ok "$desc ($(grep -m1 'error' "$T/err" | cut -c1-160))"
	else
		fail "$desc: stderr does not match '$pat': $(cat "$T/err")"
	fi
}

# stat_of NAME: a counter from the last --stats line seen by check or expect_fail.
stat_of() {
	tail -n 1 "$T/stats" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# eq DESC A B
eq() {
	if [[ $2 == "$3" ]]; then ok "$1"; else fail "$1: '$2' != '$3'"; fi
}

# start_registry DIR [args]: sets ADDR. Not in $(...): the cleanup must learn of DIR.
start_registry() {
	local d=$1
	shift
	REGS+=("$d")
	ADDR=$("$FIXTURES/registry.sh" start "$d" "$@")
}

build_images() { # OUTDIR
	"$FIXTURES/build-image.sh" --extra "$1" >"$1.digests"
}

# Every blob of an OCI layout must hash to its name.
verify_layout() {
	local dir=$1 f
	for f in "$dir"/blobs/sha256/*; do
		[[ $(sha256sum "$f" | cut -d' ' -f1) == "$(basename "$f")" ]] || return 1
	done
	[[ ! -d $dir/.ingest ]] || [[ -z $(ls -A "$dir/.ingest") ]]
}

finish() {
	echo "$CHECKS checks passed, $FAILS failed" >&2
	((FAILS == 0))
}

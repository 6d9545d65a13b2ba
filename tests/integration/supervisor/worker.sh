#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# wharfd-worker (supervisor/worker.c): Transfer and Diff run out of process. wharfd links none of
# the libraries that parse registries and archives; a worker that crashes fails its call with a
# clear error and leaves the daemon serving and no image half-made; with the real worker beside
# wharfd the same import works and its events reach the daemon's subscribers.
# Usage: worker.sh WHARFD WHARFD_WORKER WHARFCTL FIXTURE_SCRIPT   (root)
set -u
WHARFD=$1
WORKER=$2
W0=$3
FIXTURE=$4
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
fails=0
checks=0
fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}
check() { # check WHAT CMD...: the command must succeed
	local what=$1
	shift
	checks=$((checks + 1))
	"$@" || fail "$what"
}
T=$(mktemp -d /tmp/sup-worker-XXXXXX)
DPID=
EPID=
cleanup() {
	[ -n "$EPID" ] && kill "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	umount "$T" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
mount -t tmpfs -o mode=0700 tmpfs "$T" || exit 1
W() { "$W0" --address "$T/wharfd.sock" "$@"; }

# 1. What wharfd loads: none of libcurl, libarchive, libxml2, gnutls (they stay in the worker).
needed=$(readelf -d "$WHARFD" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
checks=$((checks + 1))
case " $needed" in
*libcurl* | *libarchive* | *libxml2* | *gnutls* | *libzstd*) fail "wharfd loads: $needed" ;;
esac
wneeded=$(readelf -d "$WORKER" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
checks=$((checks + 1))
case " $wneeded" in
*libcurl*libarchive* | *libarchive*libcurl*) ;;
*) fail "wharfd-worker does not load libcurl and libarchive: $wneeded" ;;
esac

"$FIXTURE" "$T/fx" >/dev/null || { echo "fixture build failed" >&2; exit 1; }
# wharfd from a directory of its own, beside a worker that dies of SIGSEGV.
mkdir -p "$T/bin"
cp "$WHARFD" "$T/bin/wharfd"
printf '#!/bin/sh\nkill -SEGV $$\n' >"$T/bin/wharfd-worker"
chmod +x "$T/bin/wharfd-worker"
# No --config: the defaults and these flags.
start() {
	"$T/bin/wharfd" --root "$T/root" --state "$T/state" --address "$T/wharfd.sock" \
		--log-level debug >>"$T/wharfd.log" 2>&1 &
	DPID=$!
	for _ in $(seq 1 200); do
		W version >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	echo "wharfd did not come up:" >&2
	tail -20 "$T/wharfd.log" >&2
	return 1
}
start || exit 1

# 2. A crashing worker: one clear error, the daemon serves on, nothing recorded.
out=$(W images import "$T/fx/busybox.tar" 2>&1)
rc=$?
checks=$((checks + 1))
[ $rc -ne 0 ] && [[ $out == *"wharfd-worker for wharf.services.images.v1.Transfer/Import died of signal 11"* ]] ||
	fail "import with a crashing worker: rc $rc, '$out'"
check "daemon alive after the worker crashed" kill -0 "$DPID"
check "daemon answers after the worker crashed" W version
checks=$((checks + 1))
[ -z "$(W images ls -q)" ] || fail "an image was recorded by a crashed import: $(W images ls -q)"

# 3. The real worker: the import works; its image create event reaches a subscriber of wharfd.
ln -sf "$(readlink -f "$WORKER")" "$T/bin/wharfd-worker"
W events >"$T/events.txt" 2>&1 &
EPID=$!
sleep 0.3
out=$(W images import "$T/fx/busybox.tar" 2>&1)
checks=$((checks + 1))
[[ $out == *sha256:* ]] || fail "import with the real worker: '$out'"
checks=$((checks + 1))
[ "$(W images ls -q)" = "wharf.test/busybox:latest" ] || fail "images after import: $(W images ls -q)"
for _ in $(seq 1 100); do
	grep -q "/images/create" "$T/events.txt" && break
	sleep 0.05
done
checks=$((checks + 1))
grep -q "/images/create" "$T/events.txt" || fail "no /images/create event from the worker: $(cat "$T/events.txt")"
# The unpacked layers are the daemon's to use: a snapshot exists for the image's chain.
checks=$((checks + 1))
[ -n "$(W snapshots ls -q)" ] || fail "no snapshot after the worker unpacked the image"
check "daemon alive at the end" kill -0 "$DPID"

# 4. A stopping wharfd does not wait for a worker: one that hangs (as on a dead registry) is
# stopped, and wharfd exits within its 5 s grace for pending calls, not when the worker would.
kill "$EPID" 2>/dev/null
wait "$EPID" 2>/dev/null
EPID=
rm -f "$T/bin/wharfd-worker"
printf '#!/bin/sh\necho $$ >"%s"\nexec sleep 1000\n' "$T/worker.pid" >"$T/bin/wharfd-worker"
chmod +x "$T/bin/wharfd-worker"
W images import "$T/fx/busybox.tar" >"$T/import.out" 2>&1 &
IPID=$!
for _ in $(seq 1 100); do
	[ -s "$T/worker.pid" ] && break
	sleep 0.05
done
wpid=$(cat "$T/worker.pid" 2>/dev/null)
checks=$((checks + 1))
[ -n "$wpid" ] && kill -0 "$wpid" 2>/dev/null || fail "the hanging worker did not start"
kill -TERM "$DPID"
stopped=
for _ in $(seq 1 200); do # 10 s: the grace is 5 s
	if ! kill -0 "$DPID" 2>/dev/null; then
		stopped=1
		break
	fi
	sleep 0.05
done
checks=$((checks + 1))
[ -n "$stopped" ] || fail "wharfd still running 10 s after SIGTERM with a hanging worker"
wait "$DPID" 2>/dev/null
DPID=
wait "$IPID" 2>/dev/null
# the worker is gone, not a zombie left running (PID 1 reaps late: look at its state)
state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$wpid/status" 2>/dev/null)
checks=$((checks + 1))
[ -z "$state" ] || [ "$state" = Z ] || fail "the worker ($wpid) outlived wharfd: state $state"
kill -KILL "$wpid" 2>/dev/null

if [ $fails -ne 0 ]; then
	echo "$fails of $checks checks failed; wharfd log tail:" >&2
	tail -20 "$T/wharfd.log" >&2
	exit 1
fi
echo "all $checks checks passed"

#!/usr/bin/env bash
# The main job: install what wharf needs, build it, start the daemon wharfd, import the bundled
# demo image (made from Debian's busybox-static) and run a container from it with wharfctl.
# The daemon runs on a temp root, state dir and socket, and everything is removed at the end.
# Run as root on Debian 12.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
build=$("$top/scripts/build.sh" | tail -n 1)
export PATH=$build/shim:$PATH # containerd-shim-wharf-v2, the runtime io.containerd.wharf.v2

work=$(mktemp -d /tmp/wharf-demo-XXXXXX)
sock=$work/state/wharfd.sock
ctl() { "$build/ctl/wharfctl" --address "$sock" "$@"; }
daemon=
cleanup() {
	if [[ -n $daemon ]]; then
		kill -TERM "$daemon" 2>/dev/null || true
		wait "$daemon" 2>/dev/null || true
	fi
	grep -o " $work[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building the demo image from busybox-static"
"$top/tests/fixtures/build-image.sh" "$work/img"

echo "== starting wharfd (root $work/root, state $work/state)"
"$build/supervisor/wharfd" --config /dev/null --root "$work/root" --state "$work/state" \
	--log-level warn 2>"$work/wharfd.log" &
daemon=$!
for _ in $(seq 100); do
	[[ -S $sock ]] && ctl version >/dev/null 2>&1 && break
	kill -0 "$daemon" 2>/dev/null || { cat "$work/wharfd.log" >&2; exit 1; }
	sleep 0.1
done
ctl version

echo "== importing the image"
ctl images import "$work/img/busybox.tar"
ctl images ls

echo "== running a container"
ctl run --rm wharf.test/busybox:latest demo \
	sh -c 'echo "hello from wharf: pid $$ in its own namespaces, $(ls /bin | wc -l) programs in /bin"'

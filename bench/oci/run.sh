#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark: `run` of /bin/true in a busybox bundle with wharf-oci, crun and runc, side by side in
# one hyperfine run, and the ratios against crun and runc.
# Usage: [OCI_BENCH_RUNS=n] bench/oci/run.sh [path/to/wharf-oci] [hyperfine args...]
# Everything runs in one private mount namespace without the hybrid cgroup2 (crun refuses it),
# with the bundle and every runtime's state root on a tmpfs.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
wharf=${1:-$top/build/release/oci/wharf-oci}
shift || true
[ -x "$wharf" ] || { echo "no wharf-oci at '$wharf' (build it or pass its path)" >&2; exit 1; }
wharf=$(realpath "$wharf")

if [ "${OCI_BENCH_INNER:-}" != 1 ]; then
	exec env OCI_BENCH_INNER=1 unshare -m "$0" "$wharf" "$@"
fi
umount /sys/fs/cgroup/unified 2>/dev/null || true
T=$(mktemp -d /tmp/oci-bench-XXXXXX)
mount -t tmpfs tmpfs "$T"
cleanup() {
	umount -R "$T" 2>/dev/null || umount -l "$T"
	rmdir "$T"
}
trap cleanup EXIT
mkdir -p "$T/b/rootfs/bin" "$T/b/rootfs/proc" "$T/b/rootfs/dev" "$T/b/rootfs/sys" "$T/b/rootfs/tmp"
cp /bin/busybox "$T/b/rootfs/bin/"
chroot "$T/b/rootfs" /bin/busybox --install -s /bin
(cd "$T/b" && "$wharf" spec)
jq '.process.terminal = false | .process.args = ["/bin/true"]' "$T/b/config.json" >"$T/b/c.json"
mv "$T/b/c.json" "$T/b/config.json"
cd "$T/b"
hyperfine -N --warmup 5 ${OCI_BENCH_RUNS:+--runs $OCI_BENCH_RUNS} "$@" --export-json "$T/result.json" \
	-n wharf-oci "$wharf --root $T/s-wharf run bench" \
	-n crun "crun --root $T/s-crun run bench" \
	-n runc "runc --root $T/s-runc run bench"
for stat in mean median; do
	jq -r --arg s "$stat" '.results | (map({(.command): .[$s]}) | add) as $m |
	def ms(x): x * 100000 | round / 100;
	def r(x): x * 100 | round / 100;
	"\($s): wharf-oci \(ms($m["wharf-oci"])) ms, crun \(ms($m.crun)) ms, runc \(ms($m.runc)) ms; wharf-oci/crun \(r($m["wharf-oci"] / $m.crun)), wharf-oci/runc \(r($m["wharf-oci"] / $m.runc))"' "$T/result.json"
done

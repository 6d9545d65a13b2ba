#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SHA-256 throughput of common/digest (our SHA-NI and portable code) beside OpenSSL's EVP and
# coreutils' sha256sum, side by side in one run: over a buffer in memory and over a file on a
# fresh tmpfs (through digest_fd for ours). Prints a table with MB/s and ratios to OpenSSL EVP.
#
# usage: bench/digest/run.sh [SIZE_MIB] [REPEAT]   (as root for the tmpfs; else on /dev/shm)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
size_mib=${1:-256}
repeat=${2:-3}

work=$(mktemp -d /tmp/sha-bench-XXXXXX)
cleanup() {
	set +e
	mountpoint -q "$work/mnt" && umount "$work/mnt"
	rm -rf "$work"
}
trap cleanup EXIT

# Built from the sources with the release flags (-O2), independent of any build tree.
bench=$work/digest-bench
cc -O2 -g -std=gnu17 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I"$top" \
	"$top"/common/*.c "$top/bench/digest/digest-bench.c" \
	$(pkg-config --cflags --libs yajl libpcre2-8 libcrypto) -o "$bench"

mkdir "$work/mnt"
if [[ $(id -u) == 0 ]]; then
	mount -t tmpfs -o size=$((size_mib + 16))m tmpfs "$work/mnt"
	file=$work/mnt/data
else
	file=/dev/shm/sha-bench-$$
	trap 'rm -f "$file"; cleanup' EXIT
fi

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)," \
	"sha_ni: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)," \
	"openssl $(openssl version 2>/dev/null | cut -d' ' -f2 || echo '?')," \
	"$(sha256sum --version | head -1)"
"$bench" "$file" "$size_mib" "$repeat"

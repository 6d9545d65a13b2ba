#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Content ingest throughput against the floor of the same bytes through `sha256sum` plus a plain
# write (`dd ... conv=fsync`: our commit fsyncs too), in one run, on a fresh tmpfs and on a
# loop-mounted ext4 with a journal (the root fs here has none). Reports the ratio
# floor_seconds / ingest_seconds (>= 1 means faster than the floor; the goal is >= 0.8).
#
# Beside them, containerd 1.6's own local store: `ctr content ingest` into a containerd started on
# the same filesystem (this one crosses gRPC, ours is in-process: an upper bound for containerd).
#
# usage: bench/content/run.sh [SIZE_MIB] [REPEAT]   (as root, for the mounts)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
size_mib=${1:-1024}
repeat=${2:-3}

[[ $(id -u) == 0 ]] || { echo "run.sh: needs root (mounts)" >&2; exit 1; }
work=$(mktemp -d /tmp/content-bench-XXXXXX)
loopdev=
ctd_pid=
cleanup() {
	set +e
	stop_containerd
	for m in "$work"/mnt-*; do mountpoint -q "$m" && umount "$m"; done
	[[ -n $loopdev ]] && losetup -d "$loopdev"
	rm -rf "$work"
}
trap cleanup EXIT

# Built from the sources with the release flags (-O2), independent of any build tree.
bench=$work/content-bench
cc -O2 -g -std=gnu17 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I"$top" \
	"$top"/common/*.c "$top"/content/*.c "$top"/metadata/*.c "$top/bench/content/content-bench.c" \
	$(pkg-config --cflags --libs sqlite3 yajl libcrypto) -o "$bench"

# The source stream lives on its own tmpfs so that reading it costs the same for everyone.
mkdir "$work/mnt-src"
mount -t tmpfs -o size=$((size_mib + 64))m tmpfs "$work/mnt-src"
src=$work/mnt-src/stream
head -c $((size_mib << 20)) /dev/urandom >"$src"
want=sha256:$(sha256sum "$src" | cut -d' ' -f1)

secs() { # runs "$@", prints its wall time in seconds
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}

ingest() { # $1 = store|meta, $2 = root; prints seconds, checks the digest
	local out
	out=$("$bench" "$1" "$2" "$src")
	[[ ${out#* } == "$want" ]] || { echo "$1 digest ${out#* } != $want" >&2; exit 1; }
	sync
	echo "${out%% *}"
}

run_fs() { # $1 = label, $2 = dir to bench in
	local label=$1 dir=$2 best_floor= best_floor2= best_store= best_meta= best_ctd=
	for ((i = 0; i < repeat; i++)); do
		rm -rf "${dir:?}"/*
		sync
		local h h2 w f f2 s m c
		h=$(secs sha256sum "$src")
		h2=$(secs openssl dgst -sha256 "$src")
		w=$(secs dd if="$src" of="$dir/plain" bs=1M conv=fsync)
		f=$(echo "$h + $w" | bc -l)
		f2=$(echo "$h2 + $w" | bc -l)
		rm -f "$dir/plain"
		sync
		# alternate the order: writeback of one run must not always land on the same one
		if ((i % 2)); then
			m=$(ingest meta "$dir/meta")
			s=$(ingest store "$dir/store")
		else
			s=$(ingest store "$dir/store")
			m=$(ingest meta "$dir/meta")
		fi
		start_containerd "$dir/ctd-root"
		c=$(secs ctr_ingest "run-$i")
		[[ -e $dir/ctd-root/io.containerd.content.v1.content/blobs/sha256/${want#sha256:} ]] ||
			{ echo "containerd did not commit the blob" >&2; exit 1; }
		stop_containerd
		rm -rf "${dir:?}/ctd-root"
		sync
		printf '%-12s run %d: sha256sum %.3fs (openssl %.3fs) + dd %.3fs = floor %.3fs (%.3fs); store %.3fs; meta %.3fs; containerd %.3fs\n' \
			"$label" "$i" "$h" "$h2" "$w" "$f" "$f2" "$s" "$m" "$c"
		best_floor=$(min "$best_floor" "$f")
		best_floor2=$(min "$best_floor2" "$f2")
		best_store=$(min "$best_store" "$s")
		best_meta=$(min "$best_meta" "$m")
		best_ctd=$(min "$best_ctd" "$c")
	done
	printf '%-12s %d MiB best of %d: floor %.3fs (%.0f MiB/s), store %.3fs (%.0f MiB/s, %.2fx floor), meta %.3fs (%.0f MiB/s, %.2fx floor)\n' \
		"$label" "$size_mib" "$repeat" "$best_floor" "$(echo "$size_mib / $best_floor" | bc -l)" \
		"$best_store" "$(echo "$size_mib / $best_store" | bc -l)" "$(echo "$best_floor / $best_store" | bc -l)" \
		"$best_meta" "$(echo "$size_mib / $best_meta" | bc -l)" "$(echo "$best_floor / $best_meta" | bc -l)"
	printf '%-12s against the openssl floor %.3fs (%.0f MiB/s): store %.2fx, meta %.2fx, containerd %.2fx\n' \
		"$label" "$best_floor2" "$(echo "$size_mib / $best_floor2" | bc -l)" \
		"$(echo "$best_floor2 / $best_store" | bc -l)" "$(echo "$best_floor2 / $best_meta" | bc -l)" \
		"$(echo "$best_floor2 / $best_ctd" | bc -l)"
	printf '%-12s containerd (ctr content ingest) %.3fs (%.0f MiB/s): wharf meta is %.2fx as fast\n' \
		"$label" "$best_ctd" "$(echo "$size_mib / $best_ctd" | bc -l)" "$(echo "$best_ctd / $best_meta" | bc -l)"
}

start_containerd() { # $1 = root dir on the filesystem under test
	mkdir -p "$1" "$work/ctd-state"
	cat >"$work/ctd.toml" <<-EOT
		version = 2
		root = "$1"
		state = "$work/ctd-state"
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
		  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
		  "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.opt",
		  "io.containerd.tracing.processor.v1.otlp"]
		[grpc]
		  address = "$work/ctd.sock"
		[ttrpc]
		  address = "$work/ctd.ttrpc.sock"
	EOT
	containerd --config "$work/ctd.toml" >"$work/ctd.log" 2>&1 &
	ctd_pid=$!
	for ((t = 0; t < 100; t++)); do
		ctr -a "$work/ctd.sock" version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "containerd did not start: $(tail -5 "$work/ctd.log")" >&2
	exit 1
}

stop_containerd() {
	[[ -n $ctd_pid ]] || return 0
	kill "$ctd_pid" 2>/dev/null
	wait "$ctd_pid" 2>/dev/null
	ctd_pid=
	rm -rf "$work/ctd-state"
}

ctr_ingest() { # $1 = ref; ingests $src into containerd
	ctr -a "$work/ctd.sock" -n bench content ingest --expected-size $((size_mib << 20)) \
		--expected-digest "$want" "$1" <"$src"
}

min() { if [[ -z $1 ]] || (($(echo "$2 < $1" | bc -l))); then echo "$2"; else echo "$1"; fi; }

mkdir "$work/mnt-tmpfs"
mount -t tmpfs -o size=$((3 * size_mib + 256))m tmpfs "$work/mnt-tmpfs"
run_fs tmpfs "$work/mnt-tmpfs"
umount "$work/mnt-tmpfs"

img=$work/ext4.img
truncate -s $((3 * size_mib + 512))M "$img"
mkfs.ext4 -q -O has_journal "$img"
loopdev=$(losetup --find --show "$img")
mkdir "$work/mnt-ext4"
mount -o data=ordered "$loopdev" "$work/mnt-ext4"
run_fs ext4-journal "$work/mnt-ext4"

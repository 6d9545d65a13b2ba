#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a suite against one runtime: run.sh RUNTIME [v1|v2] [SUITE.bats] (default runtime.bats).
# v1: this host's cgroup hierarchy (crun gets a private mount namespace without the hybrid
# cgroup2, which it refuses). v2: a private mount namespace with a cgroup2 mounted at
# /sys/fs/cgroup, so that every runtime sees a pure cgroup v2 host.
set -euo pipefail
runtime=$1
mode=${2:-v1}
suite=${3:-runtime.bats}
here=$(cd "$(dirname "$0")" && pwd)
export RUNTIME=$runtime
command -v "$runtime" >/dev/null || { echo "runtime '$runtime' not found" >&2; exit 1; }
case $mode in
v1)
	if [ "$(basename "$runtime")" = crun ]; then
		exec unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec bats --print-output-on-failure "$0"' "$here/$suite"
	fi
	exec bats --print-output-on-failure "$here/$suite"
	;;
v2)
	exec unshare -m sh -c 'umount -R /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec bats --print-output-on-failure "$0"' "$here/$suite"
	;;
*)
	echo "usage: run.sh RUNTIME [v1|v2] [SUITE.bats]" >&2
	exit 2
	;;
esac

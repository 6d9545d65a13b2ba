#!/usr/bin/env bash
# Installs what wharf needs, builds it and runs every test (unit, integration, interop).
# Usage: scripts/test.sh [--sanitize] [ctest args...]
#   --sanitize  build with ASan+UBSan into build/asan and run the tests there.
# Run as root on Debian 12: integration tests create namespaces, mounts and cgroups.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"

build_args=()
if [[ ${1:-} == --sanitize ]]; then
	build_args=(--sanitize)
	shift
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
fi

"$top/scripts/check-format.sh"
dir=$("$top/scripts/build.sh" "${build_args[@]}" | tail -n 1)
cd "$dir"
ctest --output-on-failure -j"$(nproc)" "$@"

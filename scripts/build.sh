#!/usr/bin/env bash
# Configures and builds wharf. Usage: scripts/build.sh [--sanitize] [--fuzz] [BUILD_DIR]
# Default build dirs: build/release, build/asan (--sanitize), build/fuzz (--fuzz).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mode=release
args=()
dir=
for a in "$@"; do
	case $a in
	--sanitize) mode=asan ;;
	--fuzz) mode=fuzz ;;
	*) dir=$a ;;
	esac
done
case $mode in
release) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
asan) args=(-DCMAKE_BUILD_TYPE=Debug -DWHARF_SANITIZE=ON) ;;
fuzz) args=(-DCMAKE_BUILD_TYPE=Debug -DWHARF_FUZZ=ON -DCMAKE_C_COMPILER=clang-14) ;;
esac
dir=${dir:-$top/build/$mode}
cmake -S "$top" -B "$dir" "${args[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
echo "$dir"

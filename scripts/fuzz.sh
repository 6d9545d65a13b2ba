#!/usr/bin/env bash
# Builds the fuzz build dir (scripts/build.sh --fuzz, clang-14 + libFuzzer) and runs every fuzz
# target (tests/fuzz/<module>/fuzz-*) for a bounded time each. Seeds come from
# tests/fuzz/<module>/corpus/ when present; the working corpus lives in a temp dir.
# Usage: scripts/fuzz.sh [BUILD_DIR]   env: FUZZ_SECONDS (default 30), FUZZ_JOBS (default 1),
#   FUZZ_SEED (libFuzzer's -seed; unset: a random one, printed). CI passes a fixed seed so that a
#   red run can be repeated; longer campaigns with random seeds run before changes land.
# Exits non-zero when a target crashes, leaks or times out (the reproducer is kept and named).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build/fuzz}
secs=${FUZZ_SECONDS:-30}
seed=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "fuzz: seed $seed, ${secs}s per target"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if ! "$top/scripts/build.sh" --fuzz "$dir" >"$dir/fuzz-build.log" 2>&1; then
	# Another part of the tree may not build with clang yet: build just the fuzz targets.
	echo "fuzz.sh: full fuzz build failed (see $dir/fuzz-build.log), building fuzz targets only" >&2
	mapfile -t targets < <(cmake --build "$dir" --target help | sed -n 's/^\.\.\. \(fuzz-[A-Za-z0-9_-]*\).*/\1/p')
	if [[ ${#targets[@]} -eq 0 ]]; then
		echo "fuzz.sh: no fuzz targets" >&2
		exit 1
	fi
	cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}"
fi

mapfile -t bins < <(find "$dir/tests/fuzz" -type f -name 'fuzz-*' -perm -u+x | sort)
if [[ ${#bins[@]} -eq 0 ]]; then
	echo "fuzz.sh: no fuzz targets built under $dir/tests/fuzz" >&2
	exit 1
fi
work=$(mktemp -d /tmp/ttrpc-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=0
for bin in "${bins[@]}"; do
	name=$(basename "$bin")
	module=$(basename "$(dirname "$bin")")
	corpus=$work/$name
	mkdir -p "$corpus"
	if [[ -d $top/tests/fuzz/$module/corpus ]]; then
		cp "$top/tests/fuzz/$module/corpus/"* "$corpus/" 2>/dev/null || true
	fi
	echo "== $name: ${secs}s"
	if ! (cd "$work" && "$bin" -seed="$seed" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$top/build/fuzz-artifacts-$name-" \
		"$corpus" 2>"$work/$name.log"); then
		tail -n 60 "$work/$name.log" >&2
		echo "FAIL $name (reproducer: $top/build/fuzz-artifacts-$name-*)" >&2
		failed=$((failed + 1))
	else
		grep -E '^stat::number_of_executed_units|^Done' "$work/$name.log" || true
		echo "ok $name"
	fi
done
echo "fuzz: $((${#bins[@]} - failed)) passed, $failed failed"
[[ $failed -eq 0 ]]

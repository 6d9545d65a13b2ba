#!/usr/bin/env bash
# Fails when a tracked C source or header is not clang-format clean.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
fmt=$(command -v clang-format-14 || command -v clang-format)
bad=0
while IFS= read -r -d '' f; do
	if ! "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "check-format: $f is not clang-format clean (run: $fmt -i $f)" >&2
		bad=1
	fi
done < <(git ls-files -z -- '*.c' '*.h' 2>/dev/null; git ls-files -z -o --exclude-standard -- '*.c' '*.h' 2>/dev/null)
exit $bad

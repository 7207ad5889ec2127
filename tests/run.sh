#!/bin/bash
# Run every test and print one summary.  Each test (a unit binary, a fuzz
# replay, an integration script) prints "ok - ...", "not ok - ..." and
# "skip - ..." lines; a test that exits non-zero without a "not ok" line
# counts as one failure.  The last line is "N passed, N failed".
#   tests/run.sh BUILD_DIR [SANITIZER_BUILD_DIR]
set -u
build=${1:-build}
asan=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)
export XARCH="$top/$build/xarch"
export XARCH_TOP="$top"
passed=0 failed=0 skipped=0
failures=()
log=$(mktemp -d /tmp/xarch-tests.XXXXXX)
trap 'rm -rf "$log"' EXIT

run() { # name cmd...
	local name=$1; shift
	local out="$log/out"
	# a hung test fails instead of hanging CI
	# the board example bootstraps, builds and boots a whole distro: it gets longer
	local limit=${TEST_TIMEOUT:-900}
	[ "$name" = examples ] && limit=${TEST_TIMEOUT_SLOW:-3000}
	timeout --kill-after=10 "$limit" "$@" >"$out" 2>&1 </dev/null
	local rc=$?
	[ "$rc" -eq 124 ] && echo "not ok - $name timed out after ${limit}s" >>"$out"
	local p f s
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	s=$(grep -c '^skip ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$out"
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	if [ "$f" -gt 0 ]; then
		failures+=("$name")
		printf 'FAIL %-40s %d passed, %d failed\n' "$name" "$p" "$f"
		grep -E '^(not ok|#)|Sanitizer|runtime error' "$out" | head -40 | sed 's/^/     /'
	else
		printf 'PASS %-40s %d passed%s\n' "$name" "$p" "$([ "$s" -gt 0 ] && echo ", $s skipped")"
	fi
	grep '^skip ' "$out" | sed 's/^/     /'
	[ -n "${VERBOSE:-}" ] && cat "$out"
	return 0
}

unit_and_fuzz() { # build-dir label
	local b=$1 label=$2
	for t in "$top/$b"/tests/test-*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		run "$label$(basename "$t")" "$t"
	done
	for t in "$top/$b"/tests/fuzz-*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		local name=${t##*/fuzz-}
		run "${label}fuzz-$name replay" "$t" "$top/tests/fuzz/corpus/$name"
	done
}

unit_and_fuzz "$build" ""
if [ -n "$asan" ] && [ -d "$top/$asan" ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	unit_and_fuzz "$asan" "asan+ubsan: "
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi
for t in "$top"/tests/integration/*.sh; do
	[ -f "$t" ] && [ "${t##*/}" != lib.sh ] || continue
	run "$(basename "$t" .sh)" bash "$t"
done

echo
[ "${#failures[@]}" -gt 0 ] && echo "failed: ${failures[*]}"
echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

# Shared helpers for integration tests (sourced, bash).
# Output protocol: "ok - ...", "not ok - ...", "skip - ..." (see tests/run.sh).
set -u
XARCH=${XARCH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/xarch}
XARCH_TOP=${XARCH_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TMP=$(mktemp -d /tmp/xarch-it.XXXXXX)
chmod 755 "$TMP"
_cleanups=()
cleanup() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
on_exit() { _cleanups+=("$*"); }

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
skip() { echo "skip - $*"; }
# check DESC CMD...: ok when CMD succeeds
check() {
	local d=$1; shift
	if "$@" >"$TMP/.out" 2>&1; then ok "$d"; else not_ok "$d"; sed 's/^/#   /' "$TMP/.out" | head -20; fi
}
# check_out DESC WANT CMD...: ok when CMD's stdout+stderr contains WANT
check_out() {
	local d=$1 want=$2; shift 2
	"$@" >"$TMP/.out" 2>&1
	if grep -qF -- "$want" "$TMP/.out"; then ok "$d"; else
		not_ok "$d (want '$want')"; sed 's/^/#   /' "$TMP/.out" | head -20; fi
}
# check_rc DESC WANT_RC CMD...
check_rc() {
	local d=$1 want=$2; shift 2
	"$@" >"$TMP/.out" 2>&1
	local rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$d"; else
		not_ok "$d (exit $rc, want $want)"; sed 's/^/#   /' "$TMP/.out" | head -20; fi
}

# Cross-compiled hello fixtures: $FIXTURES/hello-<arch>-{static,dynamic}
FIXTURES=${XARCH_FIXTURES:-/tmp/xarch-fixtures}
# triplet for each test arch with a Debian cross compiler
declare -A CROSS=([riscv64]=riscv64-linux-gnu [aarch64]=aarch64-linux-gnu
	[arm]=arm-linux-gnueabihf [mips]=mips-linux-gnu)
# build_hello ARCH: prints nothing, returns 1 when the compiler is missing
build_hello() {
	local a=$1 t=${CROSS[$1]}
	command -v "$t-gcc" >/dev/null 2>&1 || return 1
	mkdir -p "$FIXTURES"
	local src="$XARCH_TOP/examples/hello/hello.c"
	[ "$FIXTURES/hello-$a-static" -nt "$src" ] ||
		"$t-gcc" -O2 -static -o "$FIXTURES/hello-$a-static" "$src" || return 1
	[ "$FIXTURES/hello-$a-dynamic" -nt "$src" ] ||
		"$t-gcc" -O2 -o "$FIXTURES/hello-$a-dynamic" "$src" || return 1
}

# Is the host's global binfmt table mounted?
host_binfmt_mounted() { [ -e /proc/sys/fs/binfmt_misc/register ]; }
# Names of xarch-* entries in the host table (must be none after a test).
host_xarch_entries() { ls /proc/sys/fs/binfmt_misc 2>/dev/null | grep '^xarch-' || true; }

# An unprivileged account for rootless tests: prints its name or fails.
unpriv_user() {
	[ "$(id -u)" -ne 0 ] && { id -un; return 0; }
	id xarch-test >/dev/null 2>&1 ||
		useradd --system --no-create-home --shell /bin/sh xarch-test >/dev/null 2>&1 || return 1
	echo xarch-test
}
# as_user USER CMD...: run as an unprivileged user with a clean-ish env
as_user() {
	local u=$1; shift
	setpriv --reuid="$u" --regid="$u" --init-groups --reset-env -- "$@"
}

# require_tools NAME TOOL...: skip the whole test NAME unless every TOOL is installed
require_tools() {
	local name=$1 t; shift
	for t in "$@"; do
		command -v "$t" >/dev/null || { skip "$name: $t is not installed"; exit 0; }
	done
}

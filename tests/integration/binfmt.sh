#!/bin/bash
# xarch binfmt against the host kernel's real binfmt_misc table (root only).
# Only xarch-* entries this test creates are touched; binfmt_misc is
# unmounted again at the end if it was not mounted before.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "binfmt.sh: needs root to change the kernel's binfmt_misc table"
	exit 0
fi
B=/proc/sys/fs/binfmt_misc
was_mounted=0
host_binfmt_mounted && was_mounted=1
before=$(host_xarch_entries)
if [ -n "$before" ]; then
	skip "binfmt.sh: the host already has xarch entries ($before); not touching them"
	exit 0
fi
ours="xarch-riscv64 xarch-aarch64 xarch-arm xarch-test-conflict"
cleanup_binfmt() {
	local e
	# every xarch-* entry now exists only because this test made it
	for e in $(host_xarch_entries); do echo -1 >"$B/$e"; done
	[ "$was_mounted" = 1 ] || umount "$B" 2>/dev/null
}
on_exit cleanup_binfmt
# last_has DESC WANT: the previous check's output contains WANT
last_has() {
	if grep -qF -- "$2" "$TMP/.out"; then ok "$1"; else
		not_ok "$1 (want '$2')"; sed 's/^/#   /' "$TMP/.out" | head -20; fi
}

# fixtures: hello (static, dynamic) and an argv printer per arch
cat >"$TMP/argv.c" <<'EOF'
#include <stdio.h>
int main(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		printf("[%d]=%s\n", i, argv[i]);
	return argc;
}
EOF
arches=()
for a in riscv64 aarch64 arm; do
	if build_hello "$a" && "${CROSS[$a]}-gcc" -static -O2 -o "$TMP/argv-$a" "$TMP/argv.c"; then
		arches+=("$a")
	else
		skip "no cross compiler for $a"
	fi
done
[ "${#arches[@]}" -gt 0 ] || { skip "binfmt.sh: no cross compilers"; exit 0; }

check_out "install ${arches[*]}" "registered and verified" "$XARCH" binfmt install "${arches[@]}"
n=$(grep -c "registered and verified" "$TMP/.out")
[ "$n" -eq "${#arches[@]}" ] && ok "every arch verified ($n)" || not_ok "verified $n of ${#arches[@]}"
check "binfmt_misc is mounted" test -e "$B/register"

for a in "${arches[@]}"; do
	e="$B/xarch-$a"
	check "entry xarch-$a exists and is enabled" grep -qx enabled "$e"
	check_out "xarch-$a has flags POF" "flags: POF" cat "$e"
	check "xarch-$a interpreter is a -binfmt-P name" grep -q '^interpreter .*/'"$a"'-binfmt-P$' "$e"
	check_out "$a static hello runs through the kernel" "hello world" "$FIXTURES/hello-$a-static"
	check_out "$a dynamic hello runs (QEMU_LD_PREFIX)" "hello world" \
		env QEMU_LD_PREFIX="/usr/${CROSS[$a]}" "$FIXTURES/hello-$a-dynamic"
	(exec -a MYNAME "$TMP/argv-$a" one 'two words') >"$TMP/argv.out" 2>&1
	rc=$?
	if [ "$rc" -eq 3 ] && [ "$(cat "$TMP/argv.out")" = "$(printf '[0]=MYNAME\n[1]=one\n[2]=two words')" ]; then
		ok "$a: P flag keeps argv[0] and the arguments"
	else
		not_ok "$a: argv wrong (exit $rc)"; sed 's/^/#   /' "$TMP/argv.out"
	fi
done

check_out "reinstall replaces the entry" "(replaced)" "$XARCH" binfmt install "${arches[0]}"

# status: text and json
check_out "status lists xarch-${arches[0]}" "xarch-${arches[0]}" "$XARCH" binfmt status
"$XARCH" binfmt status --json >"$TMP/status.json" 2>&1
for a in "${arches[@]}"; do
	if command -v jq >/dev/null; then
		got=$(jq -r --arg a "$a" '.runnable[] | select(.arch == $a) | .entry' "$TMP/status.json")
		[ "$got" = "xarch-$a" ] && ok "status --json: $a runnable via xarch-$a" ||
			not_ok "status --json: $a runs via '$got'"
	else
		check "status --json names xarch-$a" grep -q "\"xarch-$a\"" "$TMP/status.json"
	fi
done
check_out "status --json says native x86_64/host" '"native": true' cat "$TMP/status.json"

# conflicts: an overlapping entry under another name (ours, made for the test)
a=${arches[0]}
magic=$(sed -n 's/^magic //p' "$B/xarch-$a" | sed 's/../\\x&/g')
mask=$(sed -n 's/^mask //p' "$B/xarch-$a" | sed 's/../\\x&/g')
if printf ':xarch-test-conflict:M::%s:%s:/usr/bin/qemu-%s-static:F' "$magic" "$mask" "$a" >"$B/register"; then
	check_rc "install with a conflicting entry fails" 1 "$XARCH" binfmt install "$a"
	last_has "the conflict is named" "xarch-test-conflict"
	check_out "--force registers anyway and says who wins" "wins" "$XARCH" binfmt install --force "$a"
	last_has "--force: ours verified" "registered and verified"
	echo -1 >"$B/xarch-test-conflict"
	check "conflict entry removed" test ! -e "$B/xarch-test-conflict"
else
	not_ok "could not register the conflict fixture"
fi

# credentials
check_out "--credential=aarch64 adds C" "POCF" "$XARCH" binfmt install --credential=aarch64 aarch64
check_out "entry has POCF" "flags: POCF" cat "$B/xarch-aarch64"
check_out "--credential on riscv64 only where asked" "[POF]" "$XARCH" binfmt install --credential=aarch64 riscv64
check_out "--flags F --credential gives OCF" "[OCF]" "$XARCH" binfmt install --flags F --credential riscv64
check_out "plain qemu without P" "interpreter /usr/bin/qemu-riscv64-static" cat "$B/xarch-riscv64"

# --persist with --root
root="$TMP/root"
check "install --persist --root" "$XARCH" binfmt install --persist --root "$root" riscv64
check_out "binfmt.d file holds the rule" ":xarch-riscv64:M::" cat "$root/etc/binfmt.d/xarch-riscv64.conf"
check "remove --persist deletes it" "$XARCH" binfmt remove --persist --root "$root" riscv64
check "conf gone" test ! -e "$root/etc/binfmt.d/xarch-riscv64.conf"
check "entry gone" test ! -e "$B/xarch-riscv64"

# errors are one line with a fix
check_rc "unknown flag is refused" 2 "$XARCH" binfmt install --flags PZ riscv64
last_has "... saying why" "bad --flags 'PZ'"
check_rc "missing qemu" 1 "$XARCH" binfmt install --qemu-dir "$TMP/none" riscv64
last_has "... with a fix" "install qemu-user-static (apt-get install qemu-user-static)"
check_rc "non-xarch entries need --force" 1 "$XARCH" binfmt remove qemu-riscv64
check_rc "unknown arch" 1 "$XARCH" binfmt install vax
mkdir -p "$TMP/dyn" && cp /bin/true "$TMP/dyn/qemu-riscv64-static"
"$XARCH" binfmt install --qemu-dir "$TMP/dyn" --no-verify riscv64 >"$TMP/.out" 2>&1
if grep -q "dynamically linked" "$TMP/.out"; then
	ok "dynamic qemu with F is refused"
	check "... and nothing registered" test ! -e "$B/xarch-riscv64"
	check "--allow-dynamic accepts it" "$XARCH" binfmt install --allow-dynamic --no-verify --qemu-dir "$TMP/dyn" riscv64
	check_out "status reports the dynamic interpreter" "dynamically linked" "$XARCH" binfmt status
else
	skip "static check unavailable (ELF parser): $(head -1 "$TMP/.out")"
fi
"$XARCH" binfmt remove riscv64 >/dev/null 2>&1

# every arch at once, native ones skipped; container entrypoint mode
check_out "install (all)" "architectures registered" "$XARCH" binfmt install --no-verify
check "x86_64 is not registered on an x86_64 host" test ! -e "$B/xarch-x86_64"
check "i386 is not registered when the kernel runs it" test ! -e "$B/xarch-i386"
check_out "entrypoint mode prints a summary" "architectures registered" "$XARCH" binfmt install --entrypoint
check "remove --all" "$XARCH" binfmt remove --all
left=$(host_xarch_entries)
[ -z "$left" ] && ok "no xarch-* entries remain" || not_ok "left behind: $left"
check_out "status after removal" "runnable:" "$XARCH" binfmt status
check_out "--help" "usage: xarch binfmt install" "$XARCH" binfmt install --help
check_out "remove --help" "usage: xarch binfmt remove" "$XARCH" binfmt remove --help
check_out "status --help" "usage: xarch binfmt status" "$XARCH" binfmt status --help

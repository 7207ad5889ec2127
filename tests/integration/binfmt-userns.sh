#!/bin/bash
# xarch binfmt install --userns: a private binfmt_misc in a user namespace
# (Linux >= 6.7).  An unprivileged user runs foreign binaries; the host's
# table must be byte-for-byte the same before and after.
. "$(dirname "$0")/lib.sh"

B=/proc/sys/fs/binfmt_misc
# last_has DESC WANT: the previous check's output contains WANT
last_has() {
	if grep -qF -- "$2" "$TMP/.out"; then ok "$1"; else
		not_ok "$1 (want '$2')"; sed 's/^/#   /' "$TMP/.out" | head -20; fi
}
# snapshot of the host table: names and contents (or "not mounted")
host_table() {
	if [ -e "$B/register" ]; then
		for f in "$B"/*; do [ "${f##*/}" = register ] || { echo "== $f"; cat "$f"; }; done
	else
		echo "not mounted"
	fi
}

arches=()
for a in riscv64 aarch64 arm; do
	build_hello "$a" && arches+=("$a") || skip "no cross compiler for $a"
done
[ "${#arches[@]}" -gt 0 ] || { skip "binfmt-userns.sh: no cross compilers"; exit 0; }
chmod 755 "$FIXTURES" && chmod 755 "$FIXTURES"/hello-* 2>/dev/null
# the user must be able to run xarch itself
cp "$XARCH" "$TMP/xarch" && chmod 755 "$TMP/xarch"
X="$TMP/xarch"
a=${arches[0]}

if [ "$(id -u)" -eq 0 ]; then
	user=$(unpriv_user) || { skip "binfmt-userns.sh: cannot create an unprivileged user"; exit 0; }
	run_user() { as_user "$user" "$@"; }
else
	user=$(id -un)
	run_user() { "$@"; }
fi

# Does this kernel give user namespaces their own binfmt_misc?
run_user "$X" binfmt install --userns --no-verify "$a" -- true >"$TMP/probe.out" 2>&1
if [ $? -ne 0 ]; then
	if grep -q "per-user-namespace binfmt_misc\|cannot create a user namespace" "$TMP/probe.out"; then
		ok "unsupported kernel/userns is explained: $(head -1 "$TMP/probe.out")"
		skip "binfmt-userns.sh: $(head -1 "$TMP/probe.out")"
		exit 0
	fi
	not_ok "probe run failed"; sed 's/^/#   /' "$TMP/probe.out"
	exit 1
fi

before=$(host_table)
want=$(printf '%s\n' "${arches[@]}" | head -2 | tr '\n' ' ')
check_out "as $user: install --userns $want-- hello-$a-static" "hello world" \
	run_user "$X" binfmt install --userns $want -- "$FIXTURES/hello-$a-static"
last_has "... verified inside" "registered and verified"
for b in "${arches[@]}"; do
	check_out "as $user: $b static hello in the namespace" "hello world" \
		run_user "$X" binfmt install --userns "$b" -- "$FIXTURES/hello-$b-static"
done
check_out "as $user: dynamic hello with QEMU_LD_PREFIX" "hello world" \
	run_user "$X" binfmt install --userns "$a" -- \
	env QEMU_LD_PREFIX="/usr/${CROSS[$a]}" "$FIXTURES/hello-$a-dynamic"
check_out "the private table has xarch-$a" "flags: POF" \
	run_user "$X" binfmt install --userns "$a" -- cat "$B/xarch-$a"
check_out "status inside lists it as runnable" "$a (xarch-$a)" \
	run_user "$X" binfmt install --userns "$a" -- "$X" binfmt status
check_rc "exit status of CMD is passed on" 7 run_user "$X" binfmt install --userns "$a" -- sh -c 'exit 7'
check_rc "death by signal gives 128+N" 143 run_user "$X" binfmt install --userns "$a" -- sh -c 'kill -TERM $$'
check_rc "a missing CMD gives 127" 127 run_user "$X" binfmt install --userns "$a" -- /nonexistent
after=$(host_table)
[ "$before" = "$after" ] && ok "host table unchanged by the user's namespaces" ||
	not_ok "host table changed"

if [ "$user" = "$(id -un)" ]; then
	check_out "without --userns an unprivileged install explains the fix" "use --userns" \
		"$X" binfmt install "$a"
	skip "binfmt-userns.sh: host entry copying needs root"
	exit 0
fi
check_rc "as $user without --userns: refused" 1 run_user "$X" binfmt install --no-verify "$a"
last_has "... with the fix" "use --userns"

# Root: host entries are copied into the private table.  Register one
# xarch-* entry on the host (ours; removed by the trap).
was_mounted=0
host_binfmt_mounted && was_mounted=1
if [ -n "$(host_xarch_entries)" ]; then
	skip "host already has xarch entries; not touching them"
	exit 0
fi
last=${arches[${#arches[@]}-1]}
host_cleanup() {
	[ -e "$B/xarch-$last" ] && echo -1 >"$B/xarch-$last"
	[ "$was_mounted" = 1 ] || umount "$B" 2>/dev/null
}
on_exit host_cleanup
check "root: host entry xarch-$last" "$XARCH" binfmt install "$last"
before=$(host_table)
check_out "host entry is copied into the namespace" "interpreter " \
	run_user "$X" binfmt install --userns "$a" -- cat "$B/xarch-$last"
check_out "... and runs $last there" "hello world" \
	run_user "$X" binfmt install --userns "$a" -- "$FIXTURES/hello-$last-static"
check_out "as root with --userns" "hello world" \
	"$X" binfmt install --userns "$a" -- "$FIXTURES/hello-$a-static"
check_out "root --userns also sees the copy" "hello world" \
	"$X" binfmt install --userns "$a" -- "$FIXTURES/hello-$last-static"
check_out "root --userns: all arches, probes pass" "registered and verified" \
	"$X" binfmt install --userns -- true
if grep -q "P flag not honoured\|did not run" "$TMP/.out"; then
	not_ok "a probe failed in the namespace"; grep "not honoured\|did not run" "$TMP/.out" | sed 's/^/#   /'
else
	ok "no probe failed in the namespace"
fi
after=$(host_table)
[ "$before" = "$after" ] && ok "host table unchanged by root's namespaces" || not_ok "host table changed"

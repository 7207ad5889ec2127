#!/bin/bash
# xarch exec: foreign programs run through qemu-user, with the kernel and the
# cross toolchains' own output as the oracle.
source "$(dirname "$0")/lib.sh"

[ -x "$XARCH" ] || { not_ok "no xarch binary at $XARCH"; exit 1; }
# qemu writes qemu_*.core files for guests killed by a signal; not here
ulimit -c 0
cd "$TMP" || exit 1

cat >"$TMP/args.c" <<'EOF'
#include <stdio.h>
int main(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		printf("[%s]\n", argv[i]);
	return 0;
}
EOF
cat >"$TMP/exit42.c" <<'EOF'
int main(void) { return 42; }
EOF
cat >"$TMP/segv.c" <<'EOF'
#include <signal.h>
int main(void) { raise(SIGSEGV); return 0; }
EOF
cat >"$TMP/abort.c" <<'EOF'
#include <stdlib.h>
int main(void) { abort(); }
EOF
cat >"$TMP/wait.c" <<'EOF'
#include <stdio.h>
#include <unistd.h>
int main(void) { puts("waiting"); fflush(stdout); for (;;) pause(); }
EOF
echo "just text" >"$TMP/notelf"

any=0
for a in riscv64 aarch64 arm mips; do
	t=${CROSS[$a]}
	if ! build_hello "$a"; then
		skip "$a: no $t-gcc cross compiler (apt-get install gcc-$t)"
		continue
	fi
	if ! command -v "qemu-$a-static" >/dev/null 2>&1; then
		skip "$a: no qemu-$a-static (apt-get install qemu-user-static)"
		continue
	fi
	any=1
	check_out "$a: static hello" "hello world" "$XARCH" exec "$FIXTURES/hello-$a-static"
	if [ -d "/usr/$t" ]; then
		check_out "$a: dynamic hello, sysroot found" "hello world" \
			"$XARCH" exec "$FIXTURES/hello-$a-dynamic"
		check_out "$a: dynamic hello, --sysroot /usr/$t" "hello world" \
			"$XARCH" exec --sysroot "/usr/$t" "$FIXTURES/hello-$a-dynamic"
	else
		skip "$a: no /usr/$t sysroot (apt-get install libc6-*-cross)"
	fi
	check_out "$a: -v shows the qemu command" "qemu-$a-static" \
		"$XARCH" exec -v "$FIXTURES/hello-$a-static"

	"$t-gcc" -static -o "$TMP/exit42-$a" "$TMP/exit42.c" &&
		check_rc "$a: exit status 42 propagates" 42 "$XARCH" exec "$TMP/exit42-$a"
	"$t-gcc" -static -o "$TMP/segv-$a" "$TMP/segv.c" &&
		check_rc "$a: SIGSEGV in the guest -> 139" 139 "$XARCH" exec "$TMP/segv-$a"
	"$t-gcc" -static -o "$TMP/abort-$a" "$TMP/abort.c" &&
		check_rc "$a: abort() in the guest -> 134" 134 "$XARCH" exec "$TMP/abort-$a"

	# argv passes through exactly: spaces, empty, quotes, leading dashes
	if "$t-gcc" -o "$TMP/args-$a" "$TMP/args.c"; then
		"$XARCH" exec "$TMP/args-$a" "a b" "" "it's" '"q"' --help -v >"$TMP/out" 2>&1
		printf '[%s]\n' "$TMP/args-$a" "a b" "" "it's" '"q"' --help -v >"$TMP/want"
		if cmp -s "$TMP/out" "$TMP/want"; then ok "$a: argv passed through exactly"; else
			not_ok "$a: argv passed through exactly"; diff "$TMP/want" "$TMP/out" | sed 's/^/#   /'; fi
		# argv[0] is the name as given (qemu -0), here a relative one
		check_out "$a: argv[0] as given" "[./args-$a]" "$XARCH" exec "./args-$a"
	fi
done
[ "$any" -eq 1 ] || { skip "no cross compiler with qemu: nothing to run"; exit 0; }

# the rest uses riscv64 (or the first arch built)
A=riscv64
[ -x "$FIXTURES/hello-$A-dynamic" ] || A=aarch64
T=${CROSS[$A]}
interp=$(readelf -l "$FIXTURES/hello-$A-dynamic" | sed -n 's/.*interpreter: \(.*\)\]/\1/p')

mkdir -p "$TMP/empty"
"$XARCH" exec --sysroot "$TMP/empty" "$FIXTURES/hello-$A-dynamic" >"$TMP/out" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && [ "$(wc -l <"$TMP/out")" -eq 1 ] && grep -qF "'$interp' not found" "$TMP/out"; then
	ok "empty --sysroot: one line naming $interp, exit 1"
else
	not_ok "empty --sysroot: one line naming $interp, exit 1 (exit $rc)"; sed 's/^/#   /' "$TMP/out"
fi
check_rc "missing --sysroot dir: exit 1" 1 "$XARCH" exec --sysroot "$TMP/nonexistent" "$FIXTURES/hello-$A-dynamic"
check_out "missing --sysroot dir: named" "cannot use sysroot '$TMP/nonexistent'" \
	"$XARCH" exec --sysroot "$TMP/nonexistent" "$FIXTURES/hello-$A-dynamic"
check_out "static program runs with an empty --sysroot" "hello world" \
	"$XARCH" exec --sysroot "$TMP/empty" "$FIXTURES/hello-$A-static"

# an interpreter no sysroot has: the error lists where it looked and the package
"$T-gcc" -Wl,--dynamic-linker=/lib/ld-xarch-missing.so.1 -o "$TMP/nointerp" "$XARCH_TOP/examples/hello/hello.c"
check_rc "no sysroot has the interpreter: exit 1" 1 "$XARCH" exec "$TMP/nointerp"
check_out "no sysroot: names the interpreter" "'/lib/ld-xarch-missing.so.1' not found in /usr/$T" \
	"$XARCH" exec "$TMP/nointerp"
check_out "no sysroot: says how to install one" "or pass --sysroot DIR" "$XARCH" exec "$TMP/nointerp"

# prefix-style sysroot: interpreter under /lib64 in the ELF, only /usr/<triplet>/lib has it
if [ -d "/usr/$T/lib" ]; then
	base=${interp##*/}
	"$T-gcc" -Wl,--dynamic-linker=/lib64/$base -o "$TMP/lib64" "$XARCH_TOP/examples/hello/hello.c"
	check_out "interpreter found in the prefix layout /usr/$T/lib" "hello world" "$XARCH" exec "$TMP/lib64"
fi

check_rc "non-ELF file: exit 1" 1 "$XARCH" exec "$TMP/notelf"
check_out "non-ELF file: clear error" "'$TMP/notelf' is not an ELF file" "$XARCH" exec "$TMP/notelf"
check_out "missing program" "cannot run '$TMP/nope': No such file or directory" "$XARCH" exec "$TMP/nope"
check_out "name without / is searched in PATH" "not found in PATH" "$XARCH" exec xarch-no-such-prog
check_rc "missing qemu: exit 1" 1 "$XARCH" exec --qemu-dir /nonexistent "$FIXTURES/hello-$A-static"
check_out "missing qemu: install hint" "install qemu-user-static (apt-get install qemu-user-static) or pass --qemu-dir" \
	"$XARCH" exec --qemu-dir /nonexistent "$FIXTURES/hello-$A-static"
check_out "--qemu-dir with qemu in it" "hello world" \
	"$XARCH" exec --qemu-dir "$(dirname "$(command -v qemu-$A-static)")" "$FIXTURES/hello-$A-static"
check_out "--arch with an unknown name" "unknown architecture 'nonsense'" \
	"$XARCH" exec --arch nonsense "$FIXTURES/hello-$A-static"
check_rc "no program: usage error" 2 "$XARCH" exec
check_out "--help" "usage: xarch exec" "$XARCH" exec --help

# host programs run natively, exit status and all
check_rc "host program runs natively" 5 "$XARCH" exec /bin/sh -c 'exit 5'
check_out "host program: no qemu in -v" "native" "$XARCH" exec -v /bin/true

# a signal sent to xarch reaches the emulated program
"$T-gcc" -static -o "$TMP/wait" "$TMP/wait.c"
"$XARCH" exec "$TMP/wait" >"$TMP/wait.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q waiting "$TMP/wait.out" && break; sleep 0.05; done
kill -TERM "$pid"
wait "$pid"
rc=$?
if [ "$rc" -eq 143 ]; then ok "SIGTERM to xarch reaches the guest: exit 143"; else
	not_ok "SIGTERM to xarch reaches the guest: exit $rc, want 143"; kill -KILL "$pid" 2>/dev/null; fi
"$XARCH" exec "$TMP/wait" >"$TMP/wait.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q waiting "$TMP/wait.out" && break; sleep 0.05; done
kill -USR1 "$pid"
wait "$pid"
rc=$?
if [ "$rc" -eq 138 ]; then ok "SIGUSR1 to xarch reaches the guest: exit 138"; else
	not_ok "SIGUSR1 to xarch reaches the guest: exit $rc, want 138"; kill -KILL "$pid" 2>/dev/null; fi
exit 0

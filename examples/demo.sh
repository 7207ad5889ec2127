#!/bin/bash
# xarch's main job, for now: make riscv64 and aarch64 programs run on this
# machine without touching the host's binfmt_misc table, and explain them.
#   examples/demo.sh [PATH/TO/xarch]
set -u
XARCH=${1:-build/xarch}
XARCH=$(cd "$(dirname "$XARCH")" && pwd)/$(basename "$XARCH")
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/xarch-demo.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
declare -A triplet=([riscv64]=riscv64-linux-gnu [aarch64]=aarch64-linux-gnu)
report=()
status=0

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
row() { report+=("$(printf '%-8s %-8s %-44s %s' "$@")"); }

say "xarch doctor (what this host can do)"
"$XARCH" doctor || true

for a in riscv64 aarch64; do
	t=${triplet[$a]}
	if ! command -v "$t-gcc" >/dev/null; then
		row "$a" "-" "cross compiler $t-gcc missing" "SKIP"
		continue
	fi
	"$t-gcc" -O2 -static -o "$work/hello-$a-static" "$top/examples/hello/hello.c"
	"$t-gcc" -O2 -o "$work/hello-$a-dynamic" "$top/examples/hello/hello.c"
done

say "xarch inspect (the seed's hello, static and dynamic)"
for f in "$work"/hello-*; do
	"$XARCH" inspect "$f"
	echo
done
say "xarch inspect --sysroot: what the dynamic riscv64 hello needs"
[ -e "$work/hello-riscv64-dynamic" ] &&
	"$XARCH" inspect --sysroot /usr/riscv64-linux-gnu "$work/hello-riscv64-dynamic"

say "register riscv64 + aarch64 in a private user namespace and run"
# Inside the namespace the kernel's own binfmt_misc (private copy) runs the
# foreign binaries; the host table is untouched.  Dynamic binaries find
# their libraries through QEMU_LD_PREFIX (qemu's -L).
cat >"$work/inside.sh" <<'IN'
#!/bin/sh
w=$1
for f in "$w"/hello-*; do
	a=${f##*/hello-}; a=${a%-*}
	case $a in riscv64) t=riscv64-linux-gnu ;; aarch64) t=aarch64-linux-gnu ;; esac
	if out=$(QEMU_LD_PREFIX=/usr/$t "$f" 2>&1) && [ "$out" = "hello world" ]; then
		echo "ran $f: $out"
		touch "$f.ran-binfmt"
	else
		echo "FAILED $f: $out"
	fi
done
IN
chmod +x "$work/inside.sh"
before=$(ls /proc/sys/fs/binfmt_misc 2>/dev/null | sort)
"$XARCH" binfmt install --userns riscv64 aarch64 -- "$work/inside.sh" "$work" || status=1
after=$(ls /proc/sys/fs/binfmt_misc 2>/dev/null | sort)

say "xarch exec (no binfmt at all: qemu + the cross sysroot found automatically)"
for f in "$work"/hello-*-static "$work"/hello-*-dynamic; do
	[ -e "$f" ] || continue
	if out=$("$XARCH" exec "$f" 2>&1) && [ "$out" = "hello world" ]; then
		echo "ran $f: $out"
		touch "$f.ran-exec"
	else
		echo "FAILED $f: $out"
	fi
done

say "report"
for f in "$work"/hello-*-static "$work"/hello-*-dynamic; do
	[ -e "$f" ] || continue
	n=${f##*/hello-}; a=${n%-*}; k=${n#*-}
	desc=$("$XARCH" inspect --json "$f" 2>/dev/null | python3 -c '
import json,sys
i=json.load(sys.stdin)[0]
print("%s %s %s, %s" % (i.get("arch"), i.get("class"), i.get("type"), i.get("abi") or "-"))' 2>/dev/null)
	res=""
	[ -e "$f.ran-binfmt" ] && res="binfmt(userns):ok" || { res="binfmt(userns):FAIL"; status=1; }
	[ -e "$f.ran-exec" ] && res="$res exec:ok" || { res="$res exec:FAIL"; status=1; }
	row "$a" "$k" "${desc:-?}" "$res"
done
printf '%-8s %-8s %-44s %s\n' ARCH LINK "INSPECT" RESULT
printf '%s\n' "${report[@]}"
if [ "$before" = "$after" ]; then
	echo "host binfmt_misc table: unchanged"
else
	echo "host binfmt_misc table CHANGED: before [$before] after [$after]"
	status=1
fi
[ "$status" -eq 0 ] && echo "demo: all good" || echo "demo: something failed (see above)"
exit "$status"

#!/bin/bash
# Startup overhead of running a foreign binary, xarch vs the peers it
# replaces, measured in the same run:
#   qemu    qemu-riscv64-static -L SYSROOT ./hello      (the talk's manual way)
#   xarch   xarch exec ./hello                           (sysroot found for you)
#   binfmt  ./hello via a private binfmt_misc (xarch binfmt install --userns)
# Prints mean milliseconds per run and the ratio to bare qemu.
#   bench/exec.sh [XARCH] [RUNS]
set -eu
XARCH=${1:-build/xarch}
RUNS=${2:-200}
top=$(cd "$(dirname "$0")/.." && pwd)
w=$(mktemp -d /tmp/xarch-bench.XXXXXX)
chmod 755 "$w"
trap 'rm -rf "$w"' EXIT
riscv64-linux-gnu-gcc -O2 -o "$w/hello" "$top/examples/hello/hello.c"
sysroot=/usr/riscv64-linux-gnu

now() { date +%s%N; }
# time_loop NAME CMD...: run CMD $RUNS times, print mean ms
time_loop() {
	local name=$1; shift
	"$@" >/dev/null # warm up
	local t0 t1
	t0=$(now)
	for ((i = 0; i < RUNS; i++)); do "$@" >/dev/null; done
	t1=$(now)
	echo "$name $(( (t1 - t0) / RUNS / 1000 ))"
}

q=$(time_loop qemu qemu-riscv64-static -L "$sysroot" "$w/hello" | awk '{print $2}')
x=$(time_loop xarch "$XARCH" exec "$w/hello" | awk '{print $2}')
cat >"$w/loop.sh" <<IN
#!/bin/bash
export QEMU_LD_PREFIX=$sysroot
"$w/hello" >/dev/null
t0=\$(date +%s%N)
for ((i = 0; i < $RUNS; i++)); do "$w/hello" >/dev/null; done
t1=\$(date +%s%N)
echo \$(( (t1 - t0) / $RUNS / 1000 ))
IN
chmod +x "$w/loop.sh"
b=$("$XARCH" binfmt install --userns riscv64 -- "$w/loop.sh" 2>/dev/null | tail -1) || b=""

printf '%-8s %10s %8s\n' route "us/run" "vs qemu"
printf '%-8s %10d %8s\n' qemu "$q" "1.00x"
printf '%-8s %10d %8s\n' xarch "$x" "$(awk -v a="$x" -v b="$q" 'BEGIN{printf "%.2fx", a/b}')"
if [ -n "$b" ]; then
	printf '%-8s %10d %8s\n' binfmt "$b" "$(awk -v a="$b" -v b="$q" 'BEGIN{printf "%.2fx", a/b}')"
else
	echo "binfmt   (skipped: private binfmt_misc not available)"
fi

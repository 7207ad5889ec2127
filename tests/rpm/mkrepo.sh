#!/bin/bash
# mkrepo.sh OUT SPEC...: an rpm repository for tests in OUT (createrepo_c),
# the SPECs built with `rpmbuild --target riscv64` (BuildArch: noarch ones
# stay noarch).  Sources the specs can use (Source0: NAME):
#   xt-post   static riscv64 scriptlet interpreter (xt-post.c): records
#             uname -m, argc and the script in /var/lib/xt-post-ran
#   toolbox   static riscv64 multi-call test program (../rootfs/toolbox.c)
# Prints the reason and fails when a tool is missing or a build fails.
set -eu
out=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
for t in rpmbuild createrepo_c riscv64-linux-gnu-gcc; do
	command -v "$t" >/dev/null || { echo "$t is not installed"; exit 1; }
done
w=$(mktemp -d "${TMPDIR:-/tmp}/xarch-mkrepo.XXXXXX")
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/top/SOURCES" "$out"
cc() { riscv64-linux-gnu-gcc -O2 -static -o "$w/top/SOURCES/$1" "$2" >"$w/cc.log" 2>&1 ||
	{ echo "cannot build $1: $(tail -3 "$w/cc.log")"; exit 1; }; }
cc xt-post "$here/xt-post.c"
cc toolbox "$here/../rootfs/toolbox.c"
for s in "$@"; do
	HOME=$w rpmbuild --define "_topdir $w/top" --target riscv64 -bb "$s" >"$w/rpmbuild.log" 2>&1 ||
		{ echo "rpmbuild $(basename "$s") failed: $(tail -5 "$w/rpmbuild.log" | tr '\n' ' ')"; exit 1; }
done
cp "$w"/top/RPMS/*/*.rpm "$out/"
createrepo_c -q "$out" >"$w/cr.log" 2>&1 || { echo "createrepo_c failed: $(cat "$w/cr.log")"; exit 1; }

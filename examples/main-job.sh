#!/bin/bash
# xarch's main job, end to end: a Debian riscv64 board image built from its recipe files
# (examples/debian-riscv64-virt: Dockerfile, board.cfg, genimage.cfg) and booted under
# qemu-system-riscv64 to the login prompt — no Docker engine, no loop device, no mount.
#
#   examples/main-job.sh [XARCH] [BOARD]      (root; BOARD default debian-riscv64-virt)
#
# Stages: the base rootfs (xarch bootstrap, once), xarch board build (Dockerfile under
# emulation, board steps, grub-mkconfig inside the target, genimage, qcow2, start_vm.sh),
# xarch boot --expect 'login:'.  Each stage's time is printed at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
X=$(readlink -f "${1:-$top/build/xarch}")
board=${2:-debian-riscv64-virt}
B=$top/examples/$board
case $board in
debian-riscv64-virt) arch=riscv64 suite=forky extra=--no-check-valid-until ;;
debian-arm64-virt) arch=arm64 suite=bookworm extra= ;;
*) echo "main-job: unknown board '$board'" >&2; exit 2 ;;
esac
base=$B/debian-$arch-$suite.tar
times=()
stage() { # NAME CMD...
	local t0=$SECONDS
	echo "==> $1" >&2
	"${@:2}"
	times+=("$(printf '%-10s %4d s' "$1" $((SECONDS - t0)))")
}

if [ ! -f "$base" ]; then
	stage bootstrap "$X" bootstrap -q --arch "$arch" --suite "$suite" --variant minbase $extra "$base"
fi
stage board "$X" board build "$B"
img=$B/output/$board.img.qcow2
stage boot "$X" boot --snapshot --expect 'login:' --timeout 1200 "$img"
echo
echo "main job: $board booted to its login prompt"
printf '  %s\n' "${times[@]}"
echo "  the image: $img (start it with $B/output/start_vm.sh; root's password: $arch)"

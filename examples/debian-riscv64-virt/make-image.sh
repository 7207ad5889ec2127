#!/bin/bash
# The whole board path with the tools that exist today, as root, no Docker engine, no loop
# device, no mount on the host:
#
#   base      the Dockerfile's FROM: a minbase tarball (-b FILE, else the test cache, else made
#             here with mmdebstrap under a temporary host binfmt_misc entry)
#   rootfs    base unpacked, then the Dockerfile's RUN lines run inside it with `xarch run`
#             (emulated; what `xarch build` will do)
#   hooks     board.sh: fstab, hostname, grub.cfg by grub-mkconfig inside the rootfs, ESP
#   genimage  `xarch genimage` with genimage.cfg (in place, sparse, no root needed)
#   qcow2     qemu-img convert, plus start_vm.sh next to it
#   boot      start_vm.sh on the serial console until "login:" (-n skips it)
#
#   make-image.sh [-b BASE.tar | -r ROOTFS] [-o OUTDIR] [-w WORKDIR] [-t BOOT_TIMEOUT] [-n] [-k]
#   make-image.sh -p        print the Dockerfile's RUN commands as they will run, one per line
#
# -r ROOTFS starts from a rootfs directory that already is the Dockerfile's result (base and
# RUN lines skipped); board.sh then changes it in place.
# OUTDIR (default ./out) gets the qcow2, start_vm.sh, boot.log and timings.txt.  WORKDIR
# (default a new /var/tmp/xarch-board.XXXXXX) holds the rootfs and the raw disk; it is removed
# at the end unless -k.  Environment: XARCH (the xarch binary; default: in PATH, else the
# build directory of this tree), MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

# --- board settings ----------------------------------------------------------------------
NAME=debian-riscv64-virt                # genimage.cfg's disk: $NAME.img
DEB_ARCH=riscv64
XARCH_ARCH=riscv64
SUITE=forky                             # trixie's riscv64 index on the mirror can lag its pool
BASE_NAME=debian-riscv64-forky.tar      # the Dockerfile's FROM tar:...
MMDEBSTRAP_OPTS=(--aptopt='Acquire::Check-Valid-Until "false"')
# start_vm.sh: OpenSBI (M-mode) -> U-Boot (S-mode, EFI) -> EFI/BOOT/BOOTRISCV64.EFI (GRUB) ->
# /boot/grub/grub.cfg -> Linux.  virtio-mmio devices, which U-Boot's qemu board scans.
write_start_vm() {
	cat <<'EOF'
#!/bin/sh
# Boot the Debian riscv64 image on QEMU's virt board, console on this terminal (Ctrl-A X quits).
# Needs qemu-system-misc, opensbi, u-boot-qemu.
here=$(dirname "$0")
exec qemu-system-riscv64 -M virt -m 2G -smp 2 -nographic \
	-bios /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin \
	-kernel /usr/lib/u-boot/qemu-riscv64_smode/uboot.elf \
	-drive file="$here/debian-riscv64-virt.qcow2",format=qcow2,if=none,id=hd0 \
	-device virtio-blk-device,drive=hd0 \
	-netdev user,id=net0 -device virtio-net-device,netdev=net0 \
	-object rng-random,filename=/dev/urandom,id=rng0 -device virtio-rng-device,rng=rng0 \
	"$@"
EOF
}
VM_TOOLS="qemu-system-riscv64:qemu-system-misc /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin:opensbi /usr/lib/u-boot/qemu-riscv64_smode/uboot.elf:u-boot-qemu"
# -----------------------------------------------------------------------------------------

BOARD=$(cd "$(dirname "$0")" && pwd)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE=${XARCH_TEST_CACHE:-/var/cache/xarch-tests}
# dockerfile_runs: the Dockerfile's RUN commands (shell form), continuations joined and comment
# lines dropped as Docker does; the other instructions are this script's own stages
dockerfile_runs() {
	awk '
		/^[[:space:]]*#/ { next }
		{ buf = cont ? buf " " $0 : $0 }
		sub(/\\[[:space:]]*$/, "", buf) { cont = 1; next }
		{ cont = 0; print buf }' "$BOARD/Dockerfile" |
		sed -n 's/^[[:space:]]*RUN[[:space:]]\{1,\}//p'
}
base= given_rootfs= out=$PWD/out work= timeout=900 boot=1 keep=0
usage() { sed -n '/^#   make-image.sh/p' "$0" | sed 's/^#   /usage: /'; exit 2; }
while getopts "b:r:o:w:t:nkph" o; do
	case $o in
	b) base=$OPTARG ;;
	r) given_rootfs=$OPTARG ;;
	o) out=$OPTARG ;;
	w) work=$OPTARG ;;
	t) timeout=$OPTARG ;;
	n) boot=0 ;;
	k) keep=1 ;;
	p) dockerfile_runs; exit 0 ;;
	*) usage ;;
	esac
done
die() { echo "make-image.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the rootfs keeps its owners; try sudo)"
if [ -z "${XARCH:-}" ]; then
	XARCH=$(command -v xarch || true)
	for b in "$BOARD"/../../build*/xarch; do
		[ -n "$XARCH" ] || ! [ -x "$b" ] || XARCH=$(cd "$(dirname "$b")" && pwd)/xarch
	done
	[ -n "$XARCH" ] || die "no xarch in PATH: build it (make) or set XARCH=/path/to/xarch"
fi
export XARCH
need() { command -v "$1" >/dev/null 2>&1 || [ -e "$1" ] || die "'$1' not found: apt-get install $2"; }
[ -n "$given_rootfs" ] || need mmdebstrap mmdebstrap
need qemu-img qemu-utils
need mkfs.vfat dosfstools
need mcopy mtools
[ "$boot" = 0 ] || for t in $VM_TOOLS; do need "${t%%:*}" "${t#*:}"; done

mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -z "$work" ]; then
	work=$(mktemp -d /var/tmp/xarch-board.XXXXXX)
else
	mkdir -p "$work"
	[ -z "$(ls -A "$work")" ] || die "'$work' is not empty"
fi
chmod 755 "$work"
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
: >"$out/timings.txt"
now() { date +%s.%N; }
stage() { # stage NAME START: record the time since START
	local s
	s=$(echo "$(now) - $2" | bc)
	printf '%-9s %8.1f s\n' "$1" "$s" | tee -a "$out/timings.txt"
}

if [ -n "$given_rootfs" ]; then
	[ -d "$given_rootfs/etc" ] || die "'$given_rootfs' is not a rootfs directory"
	rootfs=$(cd "$given_rootfs" && pwd)
fi

# --- base ------------------------------------------------------------------------------
[ -z "$given_rootfs" ] || base=-
t=$(now)
if [ -z "$base" ] && [ -s "$CACHE/$BASE_NAME" ]; then
	base=$CACHE/$BASE_NAME
fi
if [ -z "$base" ]; then
	# mmdebstrap runs the foreign maintainer scripts through the host's binfmt_misc (xarch run
	# brings its own private entry, mmdebstrap cannot): add one for the bootstrap only
	base=$work/$BASE_NAME
	B=/proc/sys/fs/binfmt_misc added=0 mounted=0
	[ -e "$B/register" ] && mounted=1
	if ! [ -e "$B/xarch-$XARCH_ARCH" ] && ! [ -e "$B/qemu-$XARCH_ARCH" ]; then
		"$XARCH" binfmt install "$XARCH_ARCH" && added=1
	fi
	rc=0
	mmdebstrap --format=tar --variant=minbase --arch="$DEB_ARCH" --include=ca-certificates \
		"${MMDEBSTRAP_OPTS[@]}" "$SUITE" "$base" "$MIRROR" || rc=$?
	[ "$added" = 0 ] || "$XARCH" binfmt remove "$XARCH_ARCH" >/dev/null
	[ "$mounted" = 1 ] || ! [ -e "$B/register" ] || umount "$B"
	[ "$rc" = 0 ] || die "mmdebstrap failed (exit $rc)"
	stage base "$t"
fi

# --- rootfs: FROM + RUN ----------------------------------------------------------------
if [ -z "$given_rootfs" ]; then
	echo "make-image.sh: base $base"
	t=$(now)
	rootfs=$work/rootfs
	mkdir "$rootfs"
	tar --numeric-owner -xpf "$base" -C "$rootfs"
	mapfile -t runs < <(dockerfile_runs)
	for r in "${runs[@]}"; do
		echo "+ RUN $r"
		"$XARCH" run "$rootfs" /bin/sh -c "$r" || die "RUN failed: $r"
	done
	stage rootfs "$t"
fi

# --- hooks -------------------------------------------------------------------------------
t=$(now)
ROOTFS=$rootfs ESP=$work/efi bash "$BOARD/board.sh"
stage hooks "$t"

# --- genimage ------------------------------------------------------------------------------
t=$(now)
"$XARCH" genimage --config "$BOARD/genimage.cfg" --rootpath "$rootfs" --inputpath "$work" \
	--outputpath "$work/images" --tmppath "$work/tmp"
stage genimage "$t"

# --- qcow2 + start_vm.sh -----------------------------------------------------------------
t=$(now)
rm -f "$out/$NAME.qcow2" "$out/AAVMF_VARS.fd"
qemu-img convert -f raw -O qcow2 "$work/images/$NAME.img" "$out/$NAME.qcow2.tmp"
mv "$out/$NAME.qcow2.tmp" "$out/$NAME.qcow2"
write_start_vm >"$out/start_vm.sh"
chmod 755 "$out/start_vm.sh"
stage qcow2 "$t"
give_back() { # outputs belong to the user who ran sudo
	[ -z "${SUDO_UID:-}" ] || [ -z "${SUDO_GID:-}" ] || chown "$SUDO_UID:$SUDO_GID" "$out" "$out"/*
}
give_back

# --- boot to "login:" ----------------------------------------------------------------------
[ "$boot" = 1 ] || exit 0
t=$(now)
log=$out/boot.log
"$out/start_vm.sh" </dev/null >"$log" 2>&1 &
vm=$!
end=$(($(date +%s) + timeout)) ok=0
while [ "$(date +%s)" -lt "$end" ] && kill -0 "$vm" 2>/dev/null; do
	if grep -aq "login:" "$log"; then ok=1; break; fi
	sleep 0.5
done
kill "$vm" 2>/dev/null || true
wait "$vm" 2>/dev/null || true
[ "$ok" = 1 ] || die "no 'login:' on the serial console within ${timeout}s; see $log"
stage boot "$t"
give_back
echo "make-image.sh: $out/$NAME.qcow2 boots to a login prompt ($out/start_vm.sh)"

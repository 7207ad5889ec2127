#!/bin/bash
# The board examples: scripts parse, every genimage.cfg is accepted, the RK3568-style layout
# puts its raw blobs and partitions where Debian's genimage 16 puts them, and the Dockerfiles'
# RUN lines come out of make-image.sh's extractor whole.
#
# Slow, opt-in (XARCH_TEST_BOOT=1, root, the mirror, qemu-system-misc/opensbi/u-boot-qemu):
# examples/debian-riscv64-virt/make-image.sh from the cached forky minbase all the way to a
# "login:" on the serial console (about 6 minutes on 2 cores).
. "$(dirname "$0")/lib.sh"
EX=$XARCH_TOP/examples

for s in "$EX"/*/board.sh "$EX"/*/make-image.sh; do
	check "bash -n ${s#"$EX"/}" bash -n "$s"
done

# the Dockerfile's RUN lines as make-image.sh will run them
runs=$(bash "$EX/debian-riscv64-virt/make-image.sh" -p)
n=$(printf '%s\n' "$runs" | grep -c .)
if [ "$n" = 2 ] && printf '%s\n' "$runs" | head -1 | grep -q "apt-get update &&.*linux-image-riscv64.*rm -rf /var/lib/apt/lists/\*$"; then
	ok "Dockerfile RUN lines extracted whole (2, continuations joined)"
else
	not_ok "Dockerfile RUN lines extracted whole (got $n)"
	printf '%s\n' "$runs" | sed 's/^/#   /'
fi

# --- RK3568-style layout, against genimage 16 ------------------------------------------------
mkdir -p "$TMP/rk/in/extlinux" "$TMP/rk/root/etc"
cd "$TMP/rk" || exit 1
head -c 200K /dev/urandom >in/idbloader.img
head -c 1M /dev/urandom >in/u-boot.itb
head -c 3M /dev/urandom >in/Image
head -c 60K /dev/urandom >in/rk3568-rock-3a.dtb
echo "label linux" >in/extlinux/extlinux.conf
head -c 100K /dev/urandom >in/grubaa64.efi
echo rock3a >root/etc/hostname
cfg=$EX/rk3568-style/genimage.cfg
check "rk3568-style: xarch genimage" "$XARCH" genimage --config "$cfg" --rootpath root \
	--inputpath in --outputpath out --tmppath tmp
img=out/rk3568.img
check "rk3568-style: idbloader.img at 32 KiB" \
	cmp <(dd if="$img" bs=1K skip=32 count=200 status=none) in/idbloader.img
check "rk3568-style: u-boot.itb at 8 MiB" \
	cmp <(dd if="$img" bs=1M skip=8 count=1 status=none) in/u-boot.itb
check_out "rk3568-style: boot at 16 MiB, rootfs at 512 MiB" \
	"start=     1048576, size=     8388608" sh -c "sfdisk --dump $img | grep -F 'start=       32768, size=      524288' && sfdisk --dump $img"
check_out "rk3568-style: the boot FAT holds the kernel and the EFI loader" "BOOTAA64 EFI" \
	mdir -i "$img@@16M" ::EFI/BOOT
check "rk3568-style: the rootfs ext4 is clean" \
	sh -c "dd if=$img bs=1M skip=512 status=none of=root.ext4 conv=sparse && e2fsck -fn root.ext4"
if command -v genimage >/dev/null; then
	genimage --config "$cfg" --rootpath root --inputpath in --outputpath gout \
		--tmppath gtmp >/dev/null 2>&1
	dump() { sfdisk --dump "$1" | grep -v -e "^label-id" -e "^device" | sed -e "s/uuid=[^,]*,//" -e "s/^[^ ]*\.img//"; }
	check "rk3568-style: partition table as genimage 16 makes it" \
		diff <(dump gout/rk3568.img) <(dump "$img")
else
	skip "rk3568-style vs genimage 16: genimage is not installed"
fi
cd / || exit 1

# --- the slow one: Debian riscv64 to a login prompt -------------------------------------------
if [ "${XARCH_TEST_BOOT:-0}" != 1 ]; then
	skip "debian-riscv64-virt boot to login: set XARCH_TEST_BOOT=1 (root, mirror, ~6 min)"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	skip "debian-riscv64-virt boot to login: needs root"
	exit 0
fi
for t in qemu-system-riscv64 mmdebstrap qemu-img; do
	command -v "$t" >/dev/null || { skip "debian-riscv64-virt boot: $t is not installed"; exit 0; }
done
w=$(mktemp -d /var/tmp/xarch-it-board.XXXXXX)
on_exit "rm -rf '$w'"
if XARCH=$XARCH bash "$EX/debian-riscv64-virt/make-image.sh" -o "$w/out" -w "$w/work" \
	>"$TMP/board.out" 2>&1; then
	ok "debian-riscv64-virt: make-image.sh to login: ($(tr '\n' ' ' <"$w/out/timings.txt"))"
else
	if grep -qE '^(E|Err):' "$TMP/board.out"; then
		skip "debian-riscv64-virt: the mirror failed: $(grep -E '^(E|Err):' "$TMP/board.out" | head -1)"
	else
		not_ok "debian-riscv64-virt: make-image.sh to login:"
		tail -20 "$TMP/board.out" | sed 's/^/#   /'
	fi
fi

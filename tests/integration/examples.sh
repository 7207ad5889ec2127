#!/bin/bash
# The board examples: hooks parse, the RK3568-style layout puts its raw blobs and partitions
# where Debian's genimage 16 puts them, and — the main job — examples/debian-riscv64-virt is
# built by `xarch board build` from its recipe files and boots to "login:" under
# qemu-system-riscv64 (about 10 minutes on 2 cores; skipped with the reason when the Debian
# mirror, root or qemu-system-riscv64/opensbi/u-boot-qemu are missing; XARCH_TEST_SKIP_SLOW=1
# skips it too).  The base rootfs is cached in /var/cache/xarch-tests.
. "$(dirname "$0")/lib.sh"
EX=$XARCH_TOP/examples

for s in "$EX"/lib/*.sh "$EX"/main-job.sh; do
	check "bash -n ${s#"$EX"/}" bash -n "$s"
done

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
# --- the main job: debian-riscv64-virt from its recipe to "login:" --------------------------
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${XARCH_TEST_CACHE:-/var/cache/xarch-tests}
if [ "${XARCH_TEST_SKIP_SLOW:-0}" = 1 ]; then
	skip "debian-riscv64-virt boot to login: XARCH_TEST_SKIP_SLOW=1"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	skip "debian-riscv64-virt boot to login: needs root (the rootfs keeps its owners)"
	exit 0
fi
for t in qemu-system-riscv64 qemu-img mmdebstrap; do
	command -v "$t" >/dev/null || { skip "debian-riscv64-virt boot: $t is not installed"; exit 0; }
done
head=$(curl -sSI --max-time 10 "$MIRROR/dists/forky/Release" 2>&1 | head -1)
case $head in
HTTP/*\ 200*) ;;
*) skip "debian-riscv64-virt boot: mirror unreachable: $MIRROR/dists/forky/Release: ${head:-no answer}"; exit 0 ;;
esac
w=$(mktemp -d /var/tmp/xarch-it-board.XXXXXX)
on_exit "rm -rf '$w'"
mkdir -p "$w/examples" "$CACHE"
cp -r "$EX/lib" "$EX/debian-riscv64-virt" "$w/examples/"
base=$CACHE/debian-riscv64-forky.tar
if [ ! -s "$base" ]; then
	check "bootstrap the forky riscv64 base (once, cached)" timeout 1800 "$XARCH" bootstrap -q \
		--arch riscv64 --suite forky --variant minbase --include ca-certificates \
		--no-check-valid-until "$base"
fi
if [ ! -s "$base" ]; then
	skip "debian-riscv64-virt boot: no base rootfs ($base)"
	exit 0
fi
ln -s "$base" "$w/examples/debian-riscv64-virt/debian-riscv64-forky.tar"
B=$w/examples/debian-riscv64-virt
t0=$SECONDS
check "debian-riscv64-virt: xarch board build" timeout 2400 "$XARCH" board build "$B"
t1=$SECONDS
img=$B/output/debian-riscv64-virt.img.qcow2
check "debian-riscv64-virt: disk, qcow2 and start_vm.sh written" test -s "$B/output/debian-riscv64-virt.img" -a -s "$img" -a -x "$B/output/start_vm.sh"
check "debian-riscv64-virt: boots to login: (build $((t1 - t0)) s)" timeout 1500 "$XARCH" boot --snapshot \
	--expect 'login:' --timeout 1200 --log "$TMP/console.log" "$img"
check_out "debian-riscv64-virt: root found by its UUID" "root=UUID=78662d6f-706f-6570-6f72-742d726f6f74" cat "$TMP/console.log"

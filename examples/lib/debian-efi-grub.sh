#!/bin/bash
# Board hook (board.cfg: hooks = { "../lib/debian-efi-grub.sh" }) for Debian on QEMU virt
# with GRUB on EFI.  `xarch board build` runs it on the host after its own steps (fstab,
# hostname, /boot/efi moved out to $ESP), with ROOTFS, ESP, ARCH and XARCH set:
#
#   1. /etc/hosts for the hostname board.cfg wrote; the serial console for GRUB and the
#      kernel; DHCP with systemd-networkd;
#   2. /boot/grub/grub.cfg by the rootfs's own grub-mkconfig, run under emulation with
#      `xarch run`.  Inside a container grub-mkconfig would describe the build host's disk,
#      so for that one run stand-ins are bound over grub-probe (it answers for the board's
#      disk: /dev/vda2, ext2, GPT, the fixed root UUID) and grub-mkrelpath (the rootfs is a
#      bind mount, so the real one returns host paths), and an empty file stands for
#      /dev/disk/by-uuid/UUID (else 10_linux writes root=/dev/vda2, not root=UUID=...).
#      The rootfs keeps its real tools;
#   3. the ESP: Debian's prebuilt monolithic GRUB as the removable-media loader
#      EFI/BOOT/BOOT<ARCH>.EFI (grub-install would probe the host too), and the small
#      EFI/debian/grub.cfg it reads first: find the root by UUID, load its grub.cfg.
set -euo pipefail
: "${ROOTFS:?}" "${ESP:?}" "${ARCH:?}"
XARCH=${XARCH:-xarch}
ROOT_UUID=${ROOT_UUID:-78662d6f-706f-6570-6f72-742d726f6f74} # genimage.cfg: ext4 -U
ROOT_DEV=/dev/vda2 # the virtio disk's second partition, as the kernel names it
ROOT_GRUB=hd0,gpt2 # and as GRUB does
case $ARCH in
riscv64) CONSOLE=ttyS0 TARGET=riscv64-efi IMAGE=grubriscv64.efi LOADER=BOOTRISCV64.EFI ;;
aarch64 | arm64) CONSOLE=ttyAMA0 TARGET=arm64-efi IMAGE=grubaa64.efi LOADER=BOOTAA64.EFI ;;
x86_64 | amd64) CONSOLE=ttyS0 TARGET=x86_64-efi IMAGE=grubx64.efi LOADER=BOOTX64.EFI ;;
*) echo "debian-efi-grub.sh: no settings for arch '$ARCH'" >&2; exit 1 ;;
esac
die() { echo "debian-efi-grub.sh: $*" >&2; exit 1; }
for f in "$ROOTFS/etc/hosts" "$ROOTFS/etc/default/grub.d" "$ROOTFS/etc/systemd/network"; do
	[ ! -L "$f" ] || rm -f "$f" # the rootfs is input: never write through its symlinks
done

# 1. hosts, console, network
host=$(cat "$ROOTFS/etc/hostname" 2>/dev/null || echo debian)
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
	"$host" >"$ROOTFS/etc/hosts"
mkdir -p "$ROOTFS/etc/default/grub.d" "$ROOTFS/etc/systemd/network"
cat >"$ROOTFS/etc/default/grub.d/50-board.cfg" <<CFG
GRUB_TIMEOUT=1
GRUB_TERMINAL=console
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=$CONSOLE"
GRUB_DISABLE_OS_PROBER=true
CFG
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' >"$ROOTFS/etc/systemd/network/50-wired.network"

# 2. grub.cfg from the rootfs's grub-mkconfig, describing the board's disk
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/grub-probe" <<SH
#!/bin/sh
target=
while [ \$# -gt 0 ]; do
	case \$1 in
	-t|--target) target=\$2; shift ;;
	--target=*) target=\${1#--target=} ;;
	esac
	shift
done
case \$target in
device) echo $ROOT_DEV ;;
fs) echo ext2 ;;
fs_uuid) echo $ROOT_UUID ;;
fs_label) echo rootfs ;;
partmap) echo gpt ;;
drive) echo "($ROOT_GRUB)" ;;
compatibility_hint) echo $ROOT_GRUB ;;
abstraction|cryptodisk_uuid|hints_string) ;;
*) exit 1 ;;
esac
SH
printf '#!/bin/sh\necho "$1"\n' >"$work/grub-mkrelpath"
chmod 755 "$work/grub-probe" "$work/grub-mkrelpath"
: >"$work/dev-node"
"$XARCH" run --network none \
	-v "$work/grub-probe:/usr/sbin/grub-probe:ro" \
	-v "$work/grub-mkrelpath:/usr/bin/grub-mkrelpath:ro" \
	-v "$work/dev-node:/dev/disk/by-uuid/$ROOT_UUID:ro" \
	"$ROOTFS" grub-mkconfig -o /boot/grub/grub.cfg
grep -q "^[[:space:]]*linux[[:space:]]*/boot/.*root=UUID=$ROOT_UUID" "$ROOTFS/boot/grub/grub.cfg" ||
	die "grub-mkconfig wrote no 'linux /boot/... root=UUID=$ROOT_UUID' entry (no kernel in /boot?)"

# 3. the removable-media loader and the stub config it reads
mono=$ROOTFS/usr/lib/grub/$TARGET/monolithic/$IMAGE
[ -f "$mono" ] || die "no $mono: install grub-efi-${TARGET%-efi}-bin in the rootfs"
mkdir -p "$ESP/EFI/BOOT" "$ESP/EFI/debian"
cp "$mono" "$ESP/EFI/BOOT/$LOADER"
cp "$mono" "$ESP/EFI/debian/"
for d in debian BOOT; do
	cat >"$ESP/EFI/$d/grub.cfg" <<CFG
search.fs_uuid $ROOT_UUID root $ROOT_GRUB
set prefix=(\$root)'/boot/grub'
configfile \$prefix/grub.cfg
CFG
done
echo "debian-efi-grub.sh: grub.cfg written, ESP has EFI/BOOT/$LOADER"

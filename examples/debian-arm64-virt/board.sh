#!/bin/bash
# Board steps for a Debian rootfs on QEMU virt: the seed's mkimage.sh, done on the rootfs
# directory BEFORE the filesystems are made, so nothing is loop-mounted.
#
#   ROOTFS=DIR ESP=DIR [XARCH=xarch] board.sh
#
# ROOTFS  the rootfs tree (changed in place; run as root so owners stay right)
# ESP     a directory to create: the ESP's content (genimage.cfg takes "efi/EFI" from it)
#
# What it does, in the order mkimage.sh did it:
#   1. removes /.dockerenv and /etc/resolv.conf (the build host's), writes /etc/fstab with the
#      fixed UUIDs genimage.cfg gives the filesystems, /etc/hostname and /etc/hosts;
#   2. serial console and networkd settings the board needs;
#   3. /boot/grub/grub.cfg generated INSIDE the rootfs by the distro's own grub-mkconfig, run
#      under emulation with `xarch run`; grub-mkconfig asks grub-probe which device holds / and
#      /boot, which inside a container is the build host's disk, so a stand-in grub-probe is
#      bound over /usr/sbin/grub-probe for that one run (the rootfs keeps the real one) and
#      answers with the board's disk: /dev/vda2, ext2 driver, GPT, the fixed root UUID; and
#      grub-mkrelpath, which reads /proc/self/mountinfo and so sees the rootfs as a
#      subdirectory of the host's filesystem (/var/tmp/.../boot/vmlinux-...), is replaced the
#      same way by one that answers "/" is the filesystem root;
#   4. moves /boot/efi out to ESP (leaving the empty mount point), copies Debian's prebuilt
#      monolithic GRUB EFI image as the removable-media loader EFI/BOOT/BOOT<ARCH>.EFI and
#      writes the small EFI/debian/grub.cfg it reads first, which finds the root filesystem by
#      its UUID and loads /boot/grub/grub.cfg from it.
set -euo pipefail

# --- board settings ----------------------------------------------------------------------
HOSTNAME=debian-arm64
CONSOLE=ttyAMA0                 # arm64 virt: PL011 UART
GRUB_TARGET=arm64-efi           # Debian's prebuilt image: /usr/lib/grub/$GRUB_TARGET/monolithic/
GRUB_EFI_IMAGE=grubaa64.efi
EFI_LOADER=BOOTAA64.EFI
ESP_UUID=0045-5350              # genimage.cfg: vfat extraargs "-i 00455350"
ROOT_UUID=78662d6f-706f-6570-6f72-742d726f6f74 # genimage.cfg: ext4 extraargs "-U ..."
ROOT_DEV=/dev/vda2              # what the kernel calls it: virtio-blk-pci disk, partition 2
ROOT_GRUB=hd0,gpt2              # what GRUB calls it
# -----------------------------------------------------------------------------------------

: "${ROOTFS:?set ROOTFS to the rootfs directory}" "${ESP:?set ESP to the ESP directory to create}"
XARCH=${XARCH:-xarch}
die() { echo "board.sh: $*" >&2; exit 1; }
[ -d "$ROOTFS/etc" ] || die "'$ROOTFS' is not a rootfs (no etc/)"
[ ! -e "$ESP" ] || die "'$ESP' exists; remove it first"
for f in "$ROOTFS/etc/fstab" "$ROOTFS/etc/hostname" "$ROOTFS/etc/hosts" \
	"$ROOTFS/etc/default/grub.d" "$ROOTFS/etc/systemd/network" "$ROOTFS/boot/efi"; do
	# the rootfs is untrusted input: never write through a symlink it contains
	[ ! -L "$f" ] || rm -f "$f"
done

# 1. files the seed's mkimage.sh wrote
rm -f "$ROOTFS/.dockerenv" "$ROOTFS/etc/resolv.conf"
cat >"$ROOTFS/etc/fstab" <<EOF
UUID=$ROOT_UUID / ext4 defaults 0 1
UUID=$ESP_UUID /boot/efi vfat umask=0077 0 2
EOF
echo "$HOSTNAME" >"$ROOTFS/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
	"$HOSTNAME" >"$ROOTFS/etc/hosts"

# 2. serial console for GRUB and the kernel (systemd starts serial-getty@$CONSOLE from the
#    console= argument), a short menu timeout, DHCP on the virtio NIC
mkdir -p "$ROOTFS/etc/default/grub.d" "$ROOTFS/etc/systemd/network"
cat >"$ROOTFS/etc/default/grub.d/50-board.cfg" <<EOF
GRUB_TIMEOUT=1
GRUB_TERMINAL=console
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=$CONSOLE"
GRUB_DISABLE_OS_PROBER=true
EOF
cat >"$ROOTFS/etc/systemd/network/50-wired.network" <<EOF
[Match]
Name=en* eth*

[Network]
DHCP=yes
EOF

# 3. grub.cfg by the rootfs's own grub-mkconfig, with a grub-probe that describes the board
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/grub-probe" <<EOF
#!/bin/sh
# stand-in for grub-probe while the rootfs is not on its disk: answers for $ROOT_DEV
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
EOF
cat >"$work/grub-mkrelpath" <<'EOF'
#!/bin/sh
# stand-in for grub-mkrelpath: on the board / is the root of its filesystem
echo "$1"
EOF
chmod 755 "$work/grub-probe" "$work/grub-mkrelpath"
: >"$work/dev-node"
# 10_linux writes root=UUID=... only when /dev/disk/by-uuid/UUID exists: give it one
"$XARCH" run --network none \
	-v "$work/grub-probe:/usr/sbin/grub-probe:ro" \
	-v "$work/grub-mkrelpath:/usr/bin/grub-mkrelpath:ro" \
	-v "$work/dev-node:/dev/disk/by-uuid/$ROOT_UUID:ro" \
	"$ROOTFS" grub-mkconfig -o /boot/grub/grub.cfg
grep -q "^[[:space:]]*linux[[:space:]]*/boot/.*root=UUID=$ROOT_UUID" "$ROOTFS/boot/grub/grub.cfg" ||
	die "grub-mkconfig wrote no 'linux /boot/... root=UUID=$ROOT_UUID' entry (is a kernel installed in /boot?)"

# 4. the ESP: /boot/efi moved out, removable-media loader, the stub config it reads
mkdir -p "$ROOTFS/boot/efi"
mv "$ROOTFS/boot/efi" "$ESP"
mkdir -m 700 "$ROOTFS/boot/efi"
mono=$ROOTFS/usr/lib/grub/$GRUB_TARGET/monolithic/$GRUB_EFI_IMAGE
[ -f "$mono" ] || die "no $mono: install grub-efi-${GRUB_TARGET%-efi}-bin in the rootfs"
mkdir -p "$ESP/EFI/BOOT" "$ESP/EFI/debian"
cp "$mono" "$ESP/EFI/BOOT/$EFI_LOADER"
cp "$mono" "$ESP/EFI/debian/"
# Debian's monolithic image has prefix /EFI/debian: it reads EFI/debian/grub.cfg from the
# ESP it was loaded from (EFI/BOOT/grub.cfg is a fallback for other builds)
for d in debian BOOT; do
	cat >"$ESP/EFI/$d/grub.cfg" <<EOF
search.fs_uuid $ROOT_UUID root $ROOT_GRUB
set prefix=(\$root)'/boot/grub'
configfile \$prefix/grub.cfg
EOF
done
echo "board.sh: rootfs prepared, ESP in $ESP (loader EFI/BOOT/$EFI_LOADER, root UUID $ROOT_UUID)"

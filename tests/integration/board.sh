#!/bin/bash
# xarch board build on a hermetic riscv64 rootfs: the board steps, a command
# run inside the target under emulation with the ESP mounted, host hooks,
# genimage; the input rootfs is never changed.
. "$(dirname "$0")/lib.sh"
require_tools "board" mke2fs mkfs.vfat mcopy mdir sfdisk e2fsck debugfs riscv64-linux-gnu-gcc
export MTOOLS_SKIP_CHECK=1

RV=$TMP/rv
if ! bash "$XARCH_TOP/tests/rootfs/mkrootfs.sh" riscv64 "$RV" >"$TMP/mk.log" 2>&1; then
	skip "board: cannot build the riscv64 test rootfs ($(tail -1 "$TMP/mk.log"))"
	exit 0
fi
cp "$RV/bin/toolbox" "$RV/bin/sh"
mkdir -p "$RV/boot/efi/EFI/debian"
echo grub-efi >"$RV/boot/efi/EFI/debian/grubriscv64.efi"
touch "$RV/.dockerenv"
ln -s /etc/shadow "$RV/etc/fstab" # a hostile link: must be replaced, not followed
(cd "$RV" && find . -printf '%p %m %s\n' | sort) >"$TMP/before"

B=$TMP/board
mkdir -p "$B/hooks" "$B/input"
echo blob >"$B/input/extra.bin"
cat >"$B/board.cfg" <<'CFG'
board {
	arch = "riscv64"
	hostname = "rv-board"
	fstab = { "UUID=78662d6f-706f-6570-6f72-742d726f6f74 / ext4 defaults 0 1",
		  "UUID=0045-5350 /boot/efi vfat defaults 0 2" }
	run = { "write /boot/efi/from-target.txt written-inside" }
	hooks = { "hooks/post.sh" }
}
CFG
cat >"$B/hooks/post.sh" <<'SH'
echo "$ARCH" >"$ROOTFS/etc/hook-arch"
test -f "$ESP/EFI/BOOT/BOOTRISCV64.EFI" && echo seen >"$ROOTFS/etc/hook-esp"
SH
cat >"$B/genimage.cfg" <<'CFG'
image esp.vfat {
	vfat { label = "ESP" extraargs = "-i 00455350" files = { "efi/EFI", "efi/from-target.txt", "extra.bin" } }
	size = 16M
}
image rootfs.ext4 {
	ext4 { label = "rootfs" extraargs = "-U 78662d6f-706f-6570-6f72-742d726f6f74" }
	size = 32M
}
image disk.img {
	hdimage { partition-table-type = "gpt" }
	partition esp { image = "esp.vfat" partition-type-uuid = U offset = 1M }
	partition rootfs { image = "rootfs.ext4" partition-type-uuid = root-riscv64 }
}
CFG

OUT=$TMP/out
check "board build runs" sh -c "'$XARCH' board build --rootfs '$RV' -o '$OUT' --json '$B' >'$TMP/b.json'"
D=$OUT/disk.img
check "the disk exists" test -s "$D"
check "no work directory left" test -z "$(ls -A "$OUT" | grep '^\.work')"
check_out "json names the stages" '"genimage"' cat "$TMP/b.json"
check "--json output is JSON only (tools and hooks print to stderr)" python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); assert "rootfs" in d["stages"] and d["files"]' "$TMP/b.json"
ESP=$((1 << 20))
ROOTOFF=$(($(sfdisk -d "$D" | awk -F'[=,]' '/disk.img2/ {print $2}') * 512))
dd if="$D" of="$TMP/r.ext4" iflag=skip_bytes,count_bytes skip=$ROOTOFF count=$((32 << 20)) status=none
check "rootfs clean" e2fsck -fn "$TMP/r.ext4"
dcat() { debugfs -R "cat $1" "$TMP/r.ext4" 2>/dev/null; }
check_out "fstab written" "UUID=0045-5350 /boot/efi vfat defaults 0 2" dcat /etc/fstab
check_out "hostname written" "rv-board" dcat /etc/hostname
check "/.dockerenv removed" sh -c "! debugfs -R 'stat /.dockerenv' '$TMP/r.ext4' 2>&1 | grep -q 'Inode:'"
check "/etc/resolv.conf removed" sh -c "! debugfs -R 'stat /etc/resolv.conf' '$TMP/r.ext4' 2>&1 | grep -q 'Inode:'"
check_out "host hook saw the arch" "riscv64" dcat /etc/hook-arch
check_out "host hook saw the removable loader" "seen" dcat /etc/hook-esp
check "/boot/efi is an empty mount point" test "$(debugfs -R 'ls -p /boot/efi' "$TMP/r.ext4" 2>/dev/null | awk -F/ 'NF > 5 && $6 != "." && $6 != ".."' | wc -l)" = 0
check_out "ESP has the removable loader" "grub-efi" mtype -i "$D@@$ESP" ::/EFI/BOOT/BOOTRISCV64.EFI
check_out "ESP keeps the vendor loader" "grub-efi" mtype -i "$D@@$ESP" ::/EFI/debian/grubriscv64.efi
check_out "the emulated command wrote into the mounted ESP" "written-inside" mtype -i "$D@@$ESP" ::/from-target.txt
check_out "board input files reach genimage" "blob" mtype -i "$D@@$ESP" ::/extra.bin
check "the input rootfs is unchanged" diff "$TMP/before" <(cd "$RV" && find . -printf '%p %m %s\n' | sort)
check "the fstab symlink's target on the host is untouched" sh -c "test -L '$RV/etc/fstab'"

# failures: a failing command inside stops the build, nothing is left
sed 's|write /boot/efi/from-target.txt written-inside|exit 7|' "$B/board.cfg" >"$TMP/bad.cfg"
cp -r "$B" "$TMP/board2" && cp "$TMP/bad.cfg" "$TMP/board2/board.cfg"
check_rc "a failing run command fails the build" 1 "$XARCH" board build --rootfs "$RV" -o "$TMP/out2" "$TMP/board2"
check_out "the error names the command" "run 'exit 7' failed with exit 7" sh -c "'$XARCH' board build --rootfs '$RV' -o '$TMP/out2' '$TMP/board2' 2>&1"
check "no disk and no work dir after the failure" test -z "$(ls -A "$TMP/out2")"
check_out "a missing rootfs and Dockerfile is explained" "--rootfs" sh -c "'$XARCH' board build -o '$TMP/out3' '$B' 2>&1"

# the board's Dockerfile builds the rootfs (no --rootfs)
tar -C "$RV" -cf "$TMP/rv.tar" .
B3=$TMP/board3
cp -r "$B" "$B3"
cat >"$B3/Dockerfile" <<DF
FROM tar:$TMP/rv.tar
RUN write /etc/built-by-dockerfile yes
COPY input/extra.bin /opt/extra.bin
DF
check "board build from the Dockerfile" "$XARCH" board build -o "$TMP/out3" "$B3"
D3=$TMP/out3/disk.img
ROOTOFF3=$(($(sfdisk -d "$D3" | awk -F'[=,]' '/disk.img2/ {print $2}') * 512))
dd if="$D3" of="$TMP/r3.ext4" iflag=skip_bytes,count_bytes skip=$ROOTOFF3 count=$((32 << 20)) status=none
check_out "the Dockerfile's RUN ran (emulated)" "yes" debugfs -R "cat /etc/built-by-dockerfile" "$TMP/r3.ext4"
check_out "the Dockerfile's COPY landed" "blob" debugfs -R "cat /opt/extra.bin" "$TMP/r3.ext4"
check_out "and the board steps still apply" "rv-board" debugfs -R "cat /etc/hostname" "$TMP/r3.ext4"

# start_vm.sh beside the disk, as xarch boot would run it
check "start_vm.sh is written and executable" test -x "$OUT/start_vm.sh"
check_out "start_vm.sh runs qemu-system-riscv64 on the disk" "disk.img" grep -E "qemu-system-riscv64.*|disk.img" "$OUT/start_vm.sh"
if command -v qemu-system-riscv64 >/dev/null && [ -e /usr/lib/u-boot/qemu-riscv64_smode/uboot.elf ]; then
	check_out "start_vm.sh boots the firmware" "OpenSBI" sh -c "timeout 15 '$OUT/start_vm.sh' -snapshot </dev/null 2>&1 | head -c 20000"
else
	skip "board: qemu-system-riscv64 or u-boot-qemu missing (apt-get install qemu-system-misc u-boot-qemu opensbi)"
fi

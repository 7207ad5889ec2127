#!/bin/bash
# xarch genimage against genimage 16: same tables, clean filesystems, same files.
. "$(dirname "$0")/lib.sh"

for t in genimage mke2fs mkfs.vfat mcopy mdir sfdisk e2fsck debugfs fsck.vfat; do
	if ! command -v "$t" >/dev/null 2>&1; then
		skip "genimage: $t is not installed (apt-get install genimage e2fsprogs dosfstools mtools fdisk)"
		exit 0
	fi
done
export MTOOLS_SKIP_CHECK=1

W=$TMP/w
mkdir -p "$W/input/efi/EFI/BOOT" "$W/root/etc" "$W/root/usr/bin"
echo efi >"$W/input/efi/EFI/BOOT/BOOTAA64.EFI"
echo host >"$W/root/etc/hostname"
head -c 200000 /dev/urandom >"$W/root/usr/bin/tool"
head -c 40000 /dev/urandom >"$W/input/idbloader.img"
head -c 100000 /dev/urandom >"$W/input/u-boot.itb"
echo kernel >"$W/input/Image"

cat >"$W/seed.cfg" <<'CFG'
image esp.vfat {
	vfat {
		label = "ESP"
		extraargs = "-i 00455350"
		files = { "efi/EFI" }
	}
	size = 32M
}
image rootfs.ext4 {
	ext4 {
		label = "rootfs"
		use-mke2fs = true
		extraargs = "-U 78662d6f-706f-6570-6f72-742d726f6f74"
	}
	size = 64M
}
image disk.img {
	hdimage {
		partition-table-type = "gpt"
		disk-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00001"
	}
	partition esp {
		offset = 1M
		image = "esp.vfat"
		partition-type-uuid = U
		partition-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00002"
		bootable = true
	}
	partition rootfs {
		image = "rootfs.ext4"
		partition-type-uuid = L
		partition-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00003"
	}
}
CFG

cat >"$W/rk.cfg" <<'CFG'
image boot.vfat {
	vfat {
		label = "BOOT"
		files = { "Image" }
		file "EFI/BOOT/BOOTAA64.EFI" { image = "efi/EFI/BOOT/BOOTAA64.EFI" }
	}
	size = 16M
}
image rootfs.ext4 {
	ext4 { label = "rootfs" use-mke2fs = true }
	size = 32M
}
image rk.img {
	hdimage {
		partition-table-type = "gpt"
		disk-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00010"
	}
	partition idbloader { in-partition-table = false offset = 32K image = "idbloader.img" }
	partition u-boot { in-partition-table = false offset = 8M image = "u-boot.itb" }
	partition boot {
		offset = 16M
		image = "boot.vfat"
		partition-type-uuid = U
		partition-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00011"
		bootable = true
	}
	partition rootfs {
		offset = 64M
		image = "rootfs.ext4"
		partition-type-uuid = L
		partition-uuid = "b921b045-1df0-41c3-af44-4c6f280d3fae"
	}
}
CFG

# gen TOOL OUTDIR CFG: genimage or xarch genimage into OUTDIR
gen() {
	local out=$2 cfg=$3
	rm -rf "$W/tmp-$out"
	(cd "$W" && if [ "$1" = genimage ]; then
		genimage --config "$cfg" --outputpath "$out" --tmppath "tmp-$out" \
			--rootpath root --inputpath input
	else
		"$XARCH" genimage --config "$cfg" --outputpath "$out" --tmppath "tmp-$out" \
			--rootpath root --inputpath input
	fi)
}
dump() { sfdisk --dump "$1" | grep -v '^device:' | sed 's|^[^ ]*\.img\([0-9]\)|P\1|'; }
# extract DISK OFFSET SIZE FILE
extract() { dd if="$1" of="$4" iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none; }
ext_names() { debugfs -R "ls -p $2" "$1" 2>/dev/null | awk -F/ 'NF>5 {print $6}' | sort; }
vfat_names() { mdir -i "$1@@$2" -/ -b :: | sort; }

check "genimage runs on the seed layout" gen genimage gi seed.cfg
check "xarch genimage runs on the seed layout" gen xarch xa seed.cfg
G=$W/gi/disk.img X=$W/xa/disk.img
check "same partition table (sfdisk --dump)" diff <(dump "$G") <(dump "$X")
check "same disk size" test "$(stat -c %s "$G")" = "$(stat -c %s "$X")"
ESP=$((1 << 20)) ROOT=$((33 << 20))
extract "$X" $ROOT $((64 << 20)) "$TMP/x.ext4"
extract "$G" $ROOT $((64 << 20)) "$TMP/g.ext4"
extract "$X" $ESP $((32 << 20)) "$TMP/x.vfat"
check "rootfs made in place is clean (e2fsck -fn)" e2fsck -fn "$TMP/x.ext4"
check "esp made in place is clean (fsck.vfat -n)" fsck.vfat -n "$TMP/x.vfat"
check "rootfs has the same names as genimage's (/)" diff <(ext_names "$TMP/g.ext4" /) <(ext_names "$TMP/x.ext4" /)
check "rootfs has the same names as genimage's (/usr/bin)" \
	diff <(ext_names "$TMP/g.ext4" /usr/bin) <(ext_names "$TMP/x.ext4" /usr/bin)
check "rootfs file content" cmp <(debugfs -R 'cat /usr/bin/tool' "$TMP/x.ext4" 2>/dev/null) \
	"$W/root/usr/bin/tool"
check "esp has the same files as genimage's" diff <(vfat_names "$G" $ESP) <(vfat_names "$X" $ESP)
check_out "esp has EFI/BOOT/BOOTAA64.EFI" "::/EFI/BOOT/BOOTAA64.EFI" vfat_names "$X" $ESP
check "ext4 uuid from extraargs" sh -c "dumpe2fs -h '$TMP/x.ext4' 2>/dev/null | grep -q 78662d6f-706f-6570-6f72-742d726f6f74"
check "disk is sparse (allocated < apparent)" \
	test $(($(stat -c %b "$X") * 512)) -lt "$(stat -c %s "$X")"
check "no temp files left" test -z "$(ls "$W/xa" | grep -v '^disk.img$')"

check "genimage runs on the rk3568 layout" gen genimage gr rk.cfg
check "xarch genimage runs on the rk3568 layout" gen xarch xr rk.cfg
R=$W/xr/rk.img
check "rk3568: same partition table as genimage" diff <(dump "$W/gr/rk.img") <(dump "$R")
check_out "rk3568: boot at 16M" "start=       32768" dump "$R"
check_out "rk3568: rootfs at 64M" "start=      131072" dump "$R"
check "rk3568: idbloader at 32K" cmp <(dd if="$R" iflag=skip_bytes,count_bytes skip=32768 \
	count=40000 status=none) "$W/input/idbloader.img"
check "rk3568: u-boot at 8M" cmp <(dd if="$R" iflag=skip_bytes,count_bytes skip=$((8 << 20)) \
	count=100000 status=none) "$W/input/u-boot.itb"
check "rk3568: boot has the same files as genimage's" \
	diff <(vfat_names "$W/gr/rk.img" $((16 << 20))) <(vfat_names "$R" $((16 << 20)))
extract "$R" $((64 << 20)) $((32 << 20)) "$TMP/r.ext4"
check "rk3568: rootfs clean" e2fsck -fn "$TMP/r.ext4"

printf 'image bad.img {\n\thdimage {\n\t\tbogus = 1\n\t}\n}\n' >"$W/bad.cfg"
check_rc "broken config fails" 1 gen xarch xb bad.cfg
check_out "broken config names file:line" "bad.cfg:3" gen xarch xb bad.cfg
check "broken config: one line" test "$(gen xarch xb bad.cfg 2>&1 | wc -l)" -eq 1
check "broken config: no output" test ! -e "$W/xb/bad.img"

# images shared by several disks are built once, independent ones in parallel
cat >"$W/par.cfg" <<'CFG'
image a.ext4 { ext4 { label = "a" } size = 16M }
image b.vfat { vfat { files = { "Image" } } size = 8M }
image c.ext4 { ext4 { label = "c" } size = 16M }
image d.img { hdimage { partition-table-type = "gpt" } partition a { image = "a.ext4" } partition b { image = "b.vfat" } }
image e.img { hdimage { } partition a { image = "a.ext4" } partition c { image = "c.ext4" } }
image f.img { hdimage { } partition b { image = "b.vfat" } }
CFG
par() { (cd "$W" && "$XARCH" genimage --config par.cfg --outputpath "$1" --rootpath root \
	--inputpath input --json "${@:2}") >"$W/$1.json"; }
check "parallel build of shared and independent images" par xp
check "parallel build with --jobs 1" par x1 --jobs 1
names() { python3 -c 'import json,sys; print(" ".join(sorted(i["name"] for i in json.load(open(sys.argv[1]))["images"])))' "$1"; }
check_out "--json lists every written file" "a.ext4 b.vfat d.img e.img f.img" names "$W/xp.json"
check "--json sizes are the files' sizes" env -C "$W" python3 -c 'import json,os,sys
for i in json.load(open(sys.argv[1]))["images"]:
    assert i["size"] == os.stat(i["path"]).st_size, i
    assert 0 < i["allocated"] <= i["size"] + 4096, i' "$W/xp.json"
check "the shared image is copied into both disks" cmp <(extract "$W/xp/d.img" 17408 $((16 << 20)) /dev/stdout) \
	"$W/xp/a.ext4"
check "inline c.ext4 has no file of its own" test ! -e "$W/xp/c.ext4"
extract "$W/xp/e.img" $(((16 << 20) + 512)) $((16 << 20)) "$TMP/c.ext4"
check "inline c.ext4 is clean" e2fsck -fn "$TMP/c.ext4"
check "same tables with 1 and N jobs" diff <(dump "$W/xp/e.img") <(dump "$W/x1/e.img")

# a failing job stops the build and leaves no output or temp file
sed 's/label = "c"/label = "c" extraargs = "-O no_such_feature"/' "$W/par.cfg" >"$W/parbad.cfg"
check_rc "a failing partition build fails the run" 1 sh -c "cd '$W' && '$XARCH' genimage -c parbad.cfg --outputpath xpb --rootpath root --inputpath input"
check_out "the error names the image and the tool's reason" "image 'c.ext4'" sh -c "cd '$W' && '$XARCH' genimage -c parbad.cfg --outputpath xpb --rootpath root --inputpath input 2>&1"
check "no e.img and no temp file after the failure" test -z "$(ls "$W/xpb" | grep -e '^e.img' -e tmp)"

# side files: bmap, Android sparse, qcow2 — each read back by its own tool
if ! command -v bmaptool >/dev/null || ! command -v simg2img >/dev/null || ! command -v qemu-img >/dev/null; then
	skip "genimage side files: bmaptool, simg2img or qemu-img missing (apt-get install bmap-tools android-sdk-libsparse-utils qemu-utils)"
else
	check "--bmap --android-sparse --qcow2" par xs --bmap --android-sparse --qcow2
	D=$W/xs/e.img
	check "bmaptool copy --bmap gives the disk back" sh -c "bmaptool -q copy --bmap '$D.bmap' '$D' '$TMP/bm.img' && cmp '$D' '$TMP/bm.img'"
	check "simg2img gives the disk back" sh -c "simg2img '$D.simg' '$TMP/s.img' && cmp -n $(stat -c %s "$D") '$D' '$TMP/s.img'"
	check "qemu-img compare: qcow2 = disk" qemu-img compare -q -f raw -F qcow2 "$D" "$D.qcow2"
	check_out "--json lists the side files" "e.img.bmap" env -C "$W" python3 -c 'import json
print(" ".join(i["name"] + (".bmap" if i["type"] == "bmap" else "") for i in json.load(open("xs.json"))["images"]))'
	check "the bmap maps less than the disk" env -C "$W" python3 -c 'import json
i = [x for x in json.load(open("xs.json"))["images"] if x["path"].endswith("e.img")][0]
assert 0 < i["mapped"] < i["size"], i'
fi

# reproducible: the same inputs and SOURCE_DATE_EPOCH give the same disk,
# with every UUID left to xarch (the seed's config pins none but the ext4's)
repro() { (cd "$W" && SOURCE_DATE_EPOCH=1700000000 "$XARCH" genimage -q \
	--config "$XARCH_TOP/tests/fixtures/genimage/seed.cfg" --outputpath "$1" --rootpath root \
	--inputpath input "${@:2}"); }
mkdir -p "$W/input/efi/EFI/BOOT" && echo grub >"$W/input/efi/EFI/BOOT/BOOTRISCV64.EFI"
check "seed layout with SOURCE_DATE_EPOCH (1)" repro rp1
sleep 1.1
check "seed layout with SOURCE_DATE_EPOCH (2, one job)" repro rp2 --jobs 1
check "byte-identical disks" cmp "$W/rp1/oe2403lts-rv64-qemu.img" "$W/rp2/oe2403lts-rv64-qemu.img"
check "GUIDs derived, not zero" sh -c "sfdisk -d '$W/rp1/oe2403lts-rv64-qemu.img' | grep -q 'label-id: [0-9A-F-]\{36\}'"
check_rc "without SOURCE_DATE_EPOCH the GUIDs differ" 1 sh -c "cd '$W' && '$XARCH' genimage -q --config '$XARCH_TOP/tests/fixtures/genimage/seed.cfg' --outputpath rp3 --rootpath root --inputpath input && cmp -s rp1/oe2403lts-rv64-qemu.img rp3/oe2403lts-rv64-qemu.img"

# the ext4 root directory as genimage makes it: root_owner 0:0 and 0755,
# whatever the rootpath's own owner and mode
chown 1000:1000 "$W/root" && chmod 750 "$W/root"
check "genimage with a user-owned rootpath" gen genimage go seed.cfg
check "xarch with a user-owned rootpath" gen xarch xo seed.cfg
rootattrs() { extract "$1" $ROOT $((64 << 20)) "$TMP/ra.ext4"; debugfs -R "stat /" "$TMP/ra.ext4" 2>/dev/null | grep -E -o "Mode: +[0-7]+|User: +[0-9]+ +Group: +[0-9]+"; }
check "ext4 root owner and mode as genimage's" diff <(rootattrs "$W/go/disk.img") <(rootattrs "$W/xo/disk.img")
chown 0:0 "$W/root" && chmod 755 "$W/root"

# ext options: root-owner, usage-type, fs-timestamp, as genimage applies them
cat >"$W/extopt.cfg" <<'CFG'
image o.ext4 {
	ext4 {
		use-mke2fs = true
		root-owner = "1000:100"
		usage-type = "small"
		fs-timestamp = "20200102030405"
		extraargs = "-U 5f0e2a9c-1b43-4b0e-9a8e-0c3f2d1b0a99"
	}
	size = 32M
}
CFG
check "genimage: ext4 options" gen genimage geo extopt.cfg
check "xarch: ext4 options" gen xarch xeo extopt.cfg
sb() { dumpe2fs -h "$1" 2>/dev/null | grep -E '^(Block size|Inode size|Inode count|Filesystem created|Filesystem UUID):'; debugfs -R "stat /" "$1" 2>/dev/null | grep -E -o "User: +[0-9]+ +Group: +[0-9]+"; }
check "ext4 options give the same superblock fields and root owner" diff <(sb "$W/geo/o.ext4") <(sb "$W/xeo/o.ext4")
check_out "fs-timestamp is the creation time" "Thu Jan  2 03:04:05 2020" sh -c "TZ=UTC dumpe2fs -h '$W/xeo/o.ext4' 2>/dev/null | grep created"
printf 'image b.ext4 {\n\text4 { root-owner = "x" }\n\tsize = 8M\n}\n' >"$W/badown.cfg"
check_out "a bad root-owner is named" "root-owner 'x' is not UID:GID" sh -c "cd '$W' && '$XARCH' genimage -c badown.cfg --outputpath bo 2>&1"

# a small vfat made in place in a big disk gets the FAT type and cluster
# size mkfs.fat picks for the partition alone (as genimage's separate image)
cat >"$W/smallfat.cfg" <<'CFG'
image esp.vfat { vfat { files = { "Image" } } size = 128M }
image root.ext4 { ext4 { use-mke2fs = true } size = 2G }
image sf.img {
	hdimage { partition-table-type = "gpt" disk-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00020" }
	partition esp { image = "esp.vfat" partition-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00021" }
	partition root { image = "root.ext4" partition-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00022" }
}
CFG
check "genimage: 128M vfat in a 2G disk" gen genimage gsf smallfat.cfg
check "xarch: 128M vfat in place in a 2G disk" gen xarch xsf smallfat.cfg
# BPB: bytes/sector .. sectors/FAT (11-27), total sectors (32-35), type string (54-61)
bpb() { dd if="$1" iflag=skip_bytes,count_bytes skip=$((17408)) count=62 status=none | od -An -tx1 -j11 | tr -d ' \n' | cut -c1-34,43-50,87-102; }
check "same FAT geometry as genimage's" test "$(bpb "$W/gsf/sf.img")" = "$(bpb "$W/xsf/sf.img")"
check "the small vfat is clean" sh -c "dd if='$W/xsf/sf.img' of='$TMP/sf.vfat' iflag=skip_bytes,count_bytes skip=17408 count=$((128 << 20)) status=none && fsck.vfat -n '$TMP/sf.vfat'"
printf 'image t.vfat {\n\tvfat { }\n\tsize = 8K\n}\n' >"$W/tiny.cfg"
check_out "a tool's error is its reason, not its version banner" "too small" sh -c "cd '$W' && '$XARCH' genimage -c tiny.cfg --outputpath tf 2>&1"

# temporary = true: an intermediate image goes to tmppath, not among the outputs
cat >"$W/tmpimg.cfg" <<'CFG'
image shared.vfat { vfat { files = { "Image" } } size = 8M temporary = true }
image t1.img { hdimage { } partition a { image = "shared.vfat" } }
image t2.img { hdimage { } partition a { image = "shared.vfat" } }
CFG
check "temporary image build" sh -c "cd '$W' && '$XARCH' genimage -q -c tmpimg.cfg --outputpath to --tmppath tt --inputpath input --rootpath root"
check "the temporary image is in tmppath" test -s "$W/tt/shared.vfat"
check "and not in outputpath" test ! -e "$W/to/shared.vfat"
check "both disks carry it" sh -c "mdir -i '$W/to/t1.img@@512' :: | grep -q Image && mdir -i '$W/to/t2.img@@512' :: | grep -q Image"

#!/bin/bash
# xarch genimage's hdimage against genimage 16 on layouts beyond the simple
# ones: extended partitions, hybrid, moved GPT, no backup, autoresize, fill,
# align, disk-signature, type shortcuts, holes, attribute bits, no table.
# Partition contents are raw `file` images, so no mkfs tool is involved; all
# UUIDs are pinned, so the whole disks must be byte-identical.
. "$(dirname "$0")/lib.sh"

require_tools genimage-hd sfdisk cmp
FIX=$XARCH_TOP/tests/fixtures/genimage
W=$TMP/w
mkdir -p "$W/input" "$W/root"
head -c 300000 /dev/urandom >"$W/input/p1.img"
head -c 70000 /dev/urandom >"$W/input/p2.img"
head -c 71680 /dev/urandom >"$W/input/blob.img"
head -c 40000 /dev/urandom >"$W/input/idbloader.img"
head -c 100000 /dev/urandom >"$W/input/u-boot.itb"

FILES='image p1.img { file {} }
image p2.img { file {} }
image idbloader.img { file {} }
image u-boot.itb { file {} }'
U=3d9f3b0e-52a1-4c5b-9a55-1c0ffee000 # + two digits

# gen TOOL NAME: build $W/NAME.cfg into $W/TOOL-NAME
gen() {
	local out=$W/$1-$2
	rm -rf "$out" "$W/tmp-$1-$2"
	if [ "$1" = genimage ]; then
		genimage --config "$W/$2.cfg" --rootpath "$W/root" --tmppath "$W/tmp-$1-$2" \
			--inputpath "$W/input" --outputpath "$out"
	else
		"$XARCH" genimage --config "$W/$2.cfg" --rootpath "$W/root" --tmppath "$W/tmp-$1-$2" \
			--inputpath "$W/input" --outputpath "$out"
	fi
}
dump() { sfdisk --dump "$1" 2>&1 | grep -v '^device:' | sed 's|^[^ ]*disk\.img|P|; s|^sfdisk: .*disk\.img:|sfdisk: disk.img:|'; }
# the table areas: the first MiB and the last 33 sectors
head_tail() {
	local n
	n=$(stat -c %s "$1")
	head -c $((1 << 20)) "$1"
	[ "$n" -gt $((33 * 512)) ] && tail -c $((33 * 512)) "$1"
}
# same NAME: genimage and xarch make the same disk.img from NAME.cfg
same() {
	local n=$1 g=$W/genimage-$1/disk.img x=$W/xarch-$1/disk.img
	if ! gen genimage "$n" >"$W/$n.glog" 2>&1; then
		not_ok "$n: genimage 16 fails on it"
		sed 's/^/#   /' "$W/$n.glog" | grep -v 'INFO\|DEBUG' | tail -5
		return
	fi
	check "$n: xarch genimage runs" gen xarch "$n"
	check "$n: same sfdisk --dump" diff <(dump "$g") <(dump "$x")
	check "$n: same file size" test "$(stat -c %s "$g")" = "$(stat -c %s "$x")"
	check "$n: same table sectors (first MiB, last 33 sectors)" \
		cmp <(head_tail "$g") <(head_tail "$x")
	check "$n: byte-identical disk" cmp "$g" "$x"
}
cfg() { { echo "$FILES"; echo "image disk.img {"; cat; echo "}"; } >"$W/$1.cfg"; }

cfg mbr6 <<EOF
	hdimage { align = 1M disk-signature = 0x12345678 }
	partition part1 { image = "p1.img" size = 1M partition-type = 0x83 }
	partition part2 { image = "p2.img" size = 1M partition-type = 0x83 }
	partition part3 { image = "p1.img" size = 1M partition-type = 0x83 }
	partition part4 { image = "p2.img" size = 1M partition-type = 0x83 }
	partition part5 { image = "p1.img" size = 1M partition-type = 0x83 }
	partition part6 { image = "p2.img" partition-type = 0x82 }
EOF
same mbr6
check_out "mbr6: partition 4 is the extended one" "P4 : start=        8192, size=       12288, type=f" \
	dump "$W/xarch-mbr6/disk.img"
check_out "mbr6: the last logical partition after its EBR" "P7 : start=       18432, size=        2048, type=82" \
	dump "$W/xarch-mbr6/disk.img"

cfg ext2 <<EOF
	hdimage { extended-partition = 2 disk-signature = 0xdeadbeef }
	partition boot { image = "p1.img" partition-type = 0xc bootable = true }
	partition l1 { image = "p2.img" partition-type = 0x83 }
	partition l2 { image = "p1.img" partition-type = 0x83 }
	partition l3 { image = "p2.img" partition-type = 0x83 }
EOF
same ext2

cfg hybrid <<EOF
	size = 16M
	hdimage {
		partition-table-type = "hybrid"
		align = 1M
		disk-signature = 0xabcdef01
		disk-uuid = "${U}01"
	}
	partition boot { image = "p1.img" partition-type = 0xc bootable = true partition-uuid = "${U}02" }
	partition swap { image = "p2.img" partition-type-uuid = S partition-uuid = "${U}03" }
	partition root { image = "p2.img" partition-type = 0x83 autoresize = true size = 2M partition-uuid = "${U}04" }
EOF
same hybrid

cfg gptloc <<EOF
	hdimage { partition-table-type = "gpt" gpt-location = 2M disk-uuid = "${U}10" }
	partition idbloader { in-partition-table = false offset = 32K image = "idbloader.img" }
	partition u-boot { in-partition-table = false offset = 1M image = "u-boot.itb" }
	partition boot { image = "p1.img" partition-type-uuid = U partition-uuid = "${U}11" }
	partition root { image = "p2.img" partition-uuid = "${U}12" }
EOF
same gptloc
check_out "gptloc: first partition right after the moved array" "P1 : start=        4128" \
	dump "$W/xarch-gptloc/disk.img"

cfg nobackup <<EOF
	size = 8M
	hdimage { partition-table-type = "gpt" gpt-no-backup = true disk-uuid = "${U}20" }
	partition a { image = "p1.img" partition-uuid = "${U}21" }
	partition b { image = "p2.img" partition-uuid = "${U}22" }
EOF
same nobackup

cfg autoresize <<EOF
	size = 32M
	hdimage { partition-table-type = "gpt" align = 1M disk-uuid = "${U}30" }
	partition a { image = "p1.img" partition-uuid = "${U}31" }
	partition b { image = "p2.img" autoresize = true partition-uuid = "${U}32" }
EOF
same autoresize
check_out "autoresize: b fills the disk up to the backup, in whole MiB" \
	"P2 : start=        4096, size=       59392" dump "$W/xarch-autoresize/disk.img"

cfg fill <<EOF
	size = 8M
	hdimage { fill = true disk-signature = 0x01020304 }
	partition a { image = "p1.img" partition-type = 0x83 }
	partition b { image = "p2.img" partition-type = 0x83 size = 1M }
EOF
same fill
cfg nofill <<EOF
	hdimage { disk-signature = random }
	partition a { image = "p1.img" partition-type = 0x83 }
	partition b { image = "p2.img" partition-type = 0x83 size = 1M }
EOF
gen xarch nofill >/dev/null 2>&1
check "no fill: the file ends with the last data, as genimage's" \
	test "$(stat -c %s "$W/xarch-nofill/disk.img")" -eq $((512 + 300032 + 70000))

cfg align <<EOF
	hdimage { partition-table-type = "gpt" align = 1M disk-uuid = "${U}40" }
	partition a { image = "p1.img" partition-uuid = "${U}41" }
	partition b { image = "p2.img" align = 4M partition-uuid = "${U}42" }
EOF
same align

cfg types <<EOF
	hdimage { partition-table-type = "gpt" disk-uuid = "${U}50" }
	partition l { image = "p2.img" partition-type-uuid = L partition-uuid = "${U}51" }
	partition u { image = "p2.img" partition-type-uuid = U partition-uuid = "${U}52" }
	partition s { image = "p2.img" partition-type-uuid = S partition-uuid = "${U}53" }
	partition h { image = "p2.img" partition-type-uuid = H partition-uuid = "${U}54" }
	partition r { image = "p2.img" partition-type-uuid = R partition-uuid = "${U}55" }
	partition v { image = "p2.img" partition-type-uuid = V partition-uuid = "${U}56" }
	partition f { image = "p2.img" partition-type-uuid = F partition-uuid = "${U}57" }
	partition x { image = "p2.img" partition-type-uuid = "b921b045-1df0-41c3-af44-4c6f280d3fae" partition-uuid = "${U}58" }
EOF
same types

cfg attrs <<EOF
	hdimage { partition-table-type = "gpt" disk-uuid = "${U}60" }
	partition ro { image = "p2.img" read-only = true partition-uuid = "${U}61" }
	partition hid { image = "p2.img" hidden = true bootable = true partition-uuid = "${U}62" }
	partition noauto { image = "p2.img" no-automount = true partition-uuid = "${U}63" }
EOF
same attrs

# a loader at 0 whose holes cover the MBR table and the GPT header and array
cat >"$W/hole.cfg" <<EOF
$FILES
image blob.img { file { holes = {"(440; 17K)"} } }
image disk.img {
	hdimage { partition-table-type = "gpt" disk-uuid = "${U}70" }
	partition loader { in-partition-table = false offset = 0 image = "blob.img" }
	partition root { offset = 1M image = "p1.img" partition-uuid = "${U}71" }
}
EOF
same hole

cfg none <<EOF
	hdimage { partition-table-type = "none" align = 4K }
	partition a { image = "p2.img" }
	partition b { image = "p1.img" }
	partition c { offset = 1M image = "p2.img" }
EOF
same none

# forced-primary is newer than genimage 16: genimage's own expected table
# (its test/hdimage-forced-primary.fdisk) is the oracle
cfg forced <<EOF
	hdimage { align = 1M disk-signature = 0x12345678 extended-partition = 2 }
	partition part1 { image = "p1.img" partition-type = 0xc bootable = true }
	partition part5 { image = "p1.img" partition-type = 0x83 }
	partition part6 { image = "p2.img" partition-type = 0x83 }
	partition part7 { image = "p1.img" partition-type = 0x83 }
	partition part8 { image = "p2.img" partition-type = 0x83 }
	partition part9 { image = "p1.img" partition-type = 0x83 }
	partition part3 { image = "p1.img" partition-type = 0x83 forced-primary = true }
	partition part4 { image = "p2.img" partition-type = 0x82 forced-primary = true }
EOF
check "forced-primary: xarch genimage runs" gen xarch forced
check "forced-primary: the table genimage's test expects" diff <(
	sfdisk --dump "$W/xarch-forced/disk.img" | sed -n 's|^[^ ]*disk\.img\([0-9]*\) : start= *\([0-9]*\), size= *\([0-9]*\), type=\([0-9a-f]*\)\(, bootable\)\?|\1:\2,\3,\4\5|p') - <<'EOF'
1:2048,2048,c, bootable
2:4096,20480,f
3:24576,2048,83
4:26624,2048,82
5:6144,2048,83
6:10240,2048,83
7:14336,2048,83
8:18432,2048,83
9:22528,2048,83
EOF
check "forced-primary: sfdisk --verify is clean" sfdisk --verify "$W/xarch-forced/disk.img"

# malformed configs: one line naming file:line and the thing, exit 1, no output
# (the line is the one libconfuse records for the partition section)
head -c 102400 /dev/urandom >"$W/input/rootfs.img"
head -c 3072 /dev/urandom >"$W/input/spl.img"
head -c 1024 /dev/urandom >"$W/input/boot.img"
bad() {
	local f=$1 want=$2 out=$W/bad-$1
	rm -rf "$out"
	mkdir -p "$out"
	"$XARCH" genimage --config "$FIX/$f" --rootpath "$W/root" --tmppath "$W/tmp-bad" \
		--inputpath "$W/input" --outputpath "$out" >"$W/bad.log" 2>&1
	local rc=$?
	if [ "$rc" -eq 1 ] && grep -qF -- "$want" "$W/bad.log" && [ "$(wc -l <"$W/bad.log")" -eq 1 ] &&
		grep -qE "${f//./\\.}:[0-9]+: " "$W/bad.log" &&
		[ -z "$(ls -A "$out")" ]; then
		ok "$f: exit 1, one line with $f:LINE and '$want', no output left"
	else
		not_ok "$f: exit $rc, want 1 and one line with '$want' and an empty outputpath"
		sed 's/^/#   /' "$W/bad.log"
		ls -A "$out" | sed 's/^/#   left: /'
	fi
}
bad overlap.cfg "partition 'rootfs' (16 MiB..80 MiB) overlaps partition 'boot' (8 MiB..24 MiB)"
bad nofit.cfg "partition 'rootfs': image 'rootfs.img' (100 KiB) does not fit the partition (32 KiB)"
bad toosmall.cfg "partition 'rootfs' (512 KiB..1536 KiB) does not fit in the disk (1 MiB)"
bad bad-uuid.cfg "partition 'rootfs': invalid partition-uuid '1234-not-a-uuid'"
bad gpt-overlap.cfg "partition 'spl' (1 KiB..25 KiB) overlaps the gpt entry array (1 KiB..17 KiB)"
bad bad-option.cfg "lable"
bad loop-a.cfg "include"

#!/bin/bash
# xa_ext4fill (lib/ext4fill.c) through tests/ext4fill-run: a tree with every
# file type filled into ext2/3/4 filesystems made by mke2fs at an offset in
# a bigger file, read back with e2fsck -fn and debugfs
# (ext4fill-check.py: every entry's type, mode, owner, size, links, times
# with nanoseconds, device numbers, xattrs, contents), next to mke2fs -d.
. "$(dirname "$0")/lib.sh"
require_tools ext4fill.sh mke2fs e2fsck debugfs python3
RUN=$(dirname "$XARCH")/tests/ext4fill-run
[ -x "$RUN" ] || { skip "ext4fill.sh: $RUN is not built"; exit 0; }
CHECKPY=$XARCH_TOP/tests/integration/ext4fill-check.py
OFF=1048576
T=$TMP/t

# pyset PATH NAME HEXVALUE: set an xattr without the attr tools
pyset() { python3 -c 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), follow_symlinks=False)' "$@"; }

mktree() {
	local t=$1 i
	mkdir -p "$t"/{etc,usr/bin,usr/lib,big-dir,deep/a/b/c/d/e/f/g/h,home/user/.cache,boot/efi/EFI,boot/grub}
	printf 'hello\n' >"$t/etc/hostname"
	: >"$t/etc/empty"
	head -c 4096 /dev/urandom >"$t/etc/oneblock"
	head -c 70000 /dev/urandom >"$t/usr/bin/medium"
	head -c 3000000 /dev/urandom >"$t/usr/bin/large" # past the one-pread copy size
	ln "$t/usr/bin/large" "$t/usr/bin/large-link"
	ln "$t/usr/bin/large" "$t/etc/large-link2"
	ln "$t/etc/hostname" "$t/home/user/hostname-link" # one link in the excluded /home
	ln -s hostname "$t/etc/fast-link"
	ln -s "/$(printf 'long/%.0s' {1..30})target" "$t/etc/slow-link"
	ln -s nowhere "$t/etc/dangling"
	mkdir "$t/lost+found" # replaces the filesystem's own, keeping its size
	printf 'orphan\n' >"$t/lost+found/#12"
	mkfifo "$t/etc/fifo"
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$t/etc/sock"
	mknod "$t/etc/null" c 1 3
	mknod "$t/etc/sda" b 8 0
	mknod "$t/etc/bigdev" c 300 70000
	# sparse: holes first, between and last; and one with 500 extents
	# (an extent tree with index blocks; double-indirect blocks on ext2)
	python3 - "$t/usr" <<-'EOF'
		import os, sys
		with open(sys.argv[1] + "/sparse", "wb") as f:
		    f.truncate(20 << 20)
		    for i in (1, 5, 9, 13):
		        f.seek(i << 20); f.write(b"data%d" % i)
		with open(sys.argv[1] + "/many-extents", "wb") as f:
		    f.truncate(4 << 20)
		    for i in range(500):
		        f.seek(i * 8192); f.write(b"x" * 100)
	EOF
	printf 'name\n' >"$t/usr/lib/$(printf 'n%.0s' {1..255})"
	python3 -c 'import sys
for i in range(5000): open("%s/entry-%05d-%s" % (sys.argv[1], i, "x" * (i % 40)), "w").write(str(i))' "$t/big-dir"
	for i in $(seq 1 200); do mkdir "$t/deep/a/sub$i"; done
	printf 'x\n' >"$t/etc/mode0"
	chmod 0 "$t/etc/mode0"
	chmod 4755 "$t/usr/bin/medium"
	chmod 2711 "$t/usr/bin/large"
	chmod 1777 "$t/deep/a/b"
	chmod 0640 "$t/etc/oneblock"
	chmod 0700 "$t/home/user"
	chown 1234:5678 "$t/etc/hostname" "$t/home/user"
	chown -h 100000:200000 "$t/etc/fast-link" "$t/usr/bin/medium"
	pyset "$t/usr/bin/medium" security.capability 0100000200200000000000000000000000000000
	pyset "$t/etc/hostname" user.comment 68656c6c6f
	pyset "$t/deep" user.dir 6469727873
	touch -h -d '2001-02-03 04:05:06.123456789' "$t/etc/fast-link" "$t/etc/empty"
	touch -d '1960-05-06 07:08:09.5' "$t/etc/oneblock"
	chmod 0750 "$t"
	chown 0:4 "$t"
	touch -d '2020-01-01 00:00:00.25' "$t"
}

# image FILE FSSIZE_KIB MKE2FS_ARGS...: a file of FSSIZE + 2 MiB with the
# filesystem at $OFF and markers before and after it
image() {
	local f=$1 kib=$2
	shift 2
	rm -f "$f"
	truncate -s $((kib * 1024 + 2 * OFF)) "$f"
	printf 'BEFORE' | dd of="$f" conv=notrunc status=none
	printf 'AFTER!' | dd of="$f" bs=1 seek=$((kib * 1024 + OFF)) conv=notrunc status=none
	mke2fs -q -F -E "offset=$OFF,root_owner=0:0" "$@" "$f" "${kib}k"
}
markers_ok() {
	local f=$1 kib=$2
	[ "$(head -c 6 "$f")" = BEFORE ] &&
		[ "$(dd if="$f" bs=1 skip=$((kib * 1024 + OFF)) count=6 status=none)" = 'AFTER!' ]
}
fsck_ok() { e2fsck -fn "$1?offset=$OFF"; }
check_tree() { # DESC IMAGE [checker args...]
	local d=$1 img=$2
	shift 2
	rm -rf "$TMP/chk"
	mkdir -p "$TMP/chk"
	check "$d" python3 "$CHECKPY" "$@" "${SRC:-$T}" "$img?offset=$OFF" "$TMP/chk"
}

mktree "$T"

# the oracle against mke2fs -d: same listing (it keeps times to the second
# and does not copy the root's attributes)
image "$TMP/ref" 131072 -t ext4 -d "$T"
check_tree "mke2fs -d image matches the tree (oracle self-test)" "$TMP/ref" --loose
rm -f "$TMP/ref"
# past 2038 (mke2fs -d 1.47.0 stores these wrapped)
: >"$T/etc/y2100"
touch -d '2100-01-01 00:00:00.75' "$T/etc/y2100"

# ext4 (extents, metadata_csum, 256-byte inodes), 4 KiB blocks
image "$TMP/d4" 131072 -t ext4 -b 4096
check "ext4: fill" "$RUN" "$TMP/d4" "$OFF" "$T"
check "ext4: e2fsck -fn is clean" fsck_ok "$TMP/d4"
check_tree "ext4: every entry matches the tree" "$TMP/d4"
check "ext4: bytes outside the filesystem untouched" markers_ok "$TMP/d4" 131072
check_out "ext4: hard links share one inode with 3 links" "Links: 3" \
	debugfs -R "stat /etc/large-link2" "$TMP/d4?offset=$OFF"
check_out "ext4: 500 extents need an index block" "Level Entries" \
	debugfs -R "ex /usr/many-extents" "$TMP/d4?offset=$OFF"
check_out "ext4: the large file is one contiguous extent" "(0-732):" \
	debugfs -R "stat /usr/bin/large" "$TMP/d4?offset=$OFF"
rm -f "$TMP/d4"

# ext2, 1 KiB blocks: indirect and double-indirect block maps, no checksums
image "$TMP/d2" 131072 -t ext2 -b 1024
check "ext2 (1 KiB blocks): fill" "$RUN" "$TMP/d2" "$OFF" "$T"
check "ext2: e2fsck -fn is clean" fsck_ok "$TMP/d2"
check_tree "ext2: every entry matches the tree" "$TMP/d2"
rm -f "$TMP/d2"

# ext3 with 128-byte inodes (times to the second, 32 bits) and ext4 without
# metadata_csum (group descriptor checksums only)
image "$TMP/d3" 131072 -t ext3 -I 128 >/dev/null 2>&1
check "ext3 (128-byte inodes): fill" "$RUN" "$TMP/d3" "$OFF" "$T"
check "ext3: e2fsck -fn is clean" fsck_ok "$TMP/d3"
check_tree "ext3: every entry matches the tree" "$TMP/d3"
rm -f "$TMP/d3"
image "$TMP/d5" 131072 -t ext4 -O ^metadata_csum,^64bit
check "ext4 without metadata_csum: fill" "$RUN" "$TMP/d5" "$OFF" "$T"
check "ext4 without metadata_csum: e2fsck -fn is clean" fsck_ok "$TMP/d5"
check_tree "ext4 without metadata_csum: every entry matches the tree" "$TMP/d5"
rm -f "$TMP/d5"

# 64 KiB blocks (rec_len 65536 is stored as 0), inline_data on (unused
# here) and no file types in directory entries
image "$TMP/d6" 131072 -t ext4 -b 65536 -O inline_data,^filetype >/dev/null 2>&1
check "ext4 (64 KiB blocks, no filetype): fill /etc" "$RUN" "$TMP/d6" "$OFF" "$T/etc"
check "ext4 (64 KiB blocks, no filetype): e2fsck -fn is clean" fsck_ok "$TMP/d6"
SRC=$T/etc check_tree "ext4 (64 KiB blocks, no filetype): every entry matches /etc" "$TMP/d6"
rm -f "$TMP/d6"

# mount points owned by other images: stored empty, same attributes
image "$TMP/dx" 131072 -t ext4
check "exclude: fill without home and boot/efi" "$RUN" -x home -x /boot/efi/ "$TMP/dx" "$OFF" "$T"
check "exclude: e2fsck -fn is clean" fsck_ok "$TMP/dx"
check_tree "exclude: empty home and boot/efi, the rest intact" "$TMP/dx" \
	--exclude home --exclude boot/efi
check_out "exclude: a link into home no longer counts" "Links: 1" \
	debugfs -R "stat /etc/hostname" "$TMP/dx?offset=$OFF"
rm -f "$TMP/dx"

# the same inputs and time give the same bytes
image "$TMP/r1" 131072 -t ext4
cp --sparse=always "$TMP/r1" "$TMP/r2"
"$RUN" -t 1700000000 "$TMP/r1" "$OFF" "$T" && "$RUN" -t 1700000000 "$TMP/r2" "$OFF" "$T"
check "reproducible: two fills of one empty filesystem are identical" cmp "$TMP/r1" "$TMP/r2"
rm -f "$TMP/r1" "$TMP/r2"

# files past 4 GiB (sparse) and past one extent's 128 MiB (dense)
H=$TMP/huge
mkdir -p "$H"
python3 - "$H" <<-'EOF'
	import os, sys
	with open(sys.argv[1] + "/huge", "wb") as f:
	    f.truncate(5 << 30)
	    f.seek(9 << 29); f.write(b"past four gigabytes")
	    f.seek((5 << 30) - 1); f.write(b"!")
	with open(sys.argv[1] + "/dense", "wb") as f:
	    for i in range(150):
	        f.write(bytes([i]) * (1 << 20))
EOF
image "$TMP/dh" 262144 -t ext4 -b 4096
check "5 GiB sparse + 150 MiB dense: fill" "$RUN" "$TMP/dh" "$OFF" "$H"
check "5 GiB sparse + 150 MiB dense: e2fsck -fn is clean" fsck_ok "$TMP/dh"
check_out "5 GiB sparse: size kept" "Size: 5368709120" \
	debugfs -R "stat /huge" "$TMP/dh?offset=$OFF"
blk_data() { # IMAGE PATH LBLK: the 4 KiB block behind a file's logical block
	local p
	p=$(debugfs -R "bmap $2 $3" "$1?offset=$OFF" 2>/dev/null)
	dd if="$1" bs=4096 skip=$((OFF / 4096 + p)) count=1 status=none
}
export -f blk_data
export OFF
check "5 GiB sparse: the data past 4 GiB is where the map says" \
	bash -c '[ "$(blk_data "$1" /huge $(((9 << 29) / 4096)) | head -c 19)" = "past four gigabytes" ]' \
	_ "$TMP/dh"
check "150 MiB dense: contents" bash -c \
	'cmp <(debugfs -R "cat /dense" "$1?offset=$2" 2>/dev/null) "$3"' _ "$TMP/dh" "$OFF" "$H/dense"
rm -rf "$TMP/dh" "$H"

# errors
image "$TMP/de" 131072 -t ext4
check_out "error: a missing root is named" "cannot open the root '$TMP/nope'" \
	"$RUN" "$TMP/de" "$OFF" "$TMP/nope"
check_out "error: no filesystem at the offset" "cannot open the ext2/3/4 filesystem at offset 4096" \
	"$RUN" "$TMP/de" 4096 "$T"
image "$TMP/small" 4096 -t ext4
check_out "error: too small says how much is needed" "needs about" "$RUN" "$TMP/small" "$OFF" "$T"
check_rc "error: too small fails" 1 "$RUN" "$TMP/small" "$OFF" "$T"
image "$TMP/few" 131072 -t ext4 -N 64
check_out "error: too few inodes says so" "give it more inodes" "$RUN" "$TMP/few" "$OFF" "$T"
if [ "$(id -u)" -eq 0 ] && user=$(unpriv_user); then
	U=$TMP/u
	mkdir -p "$U/tree/sub"
	printf 'secret\n' >"$U/tree/sub/secret"
	chmod 0 "$U/tree/sub/secret"
	image "$U/disk" 8192 -t ext4
	chown -R "$user" "$U"
	check_out "error: an unreadable file is named" \
		"cannot open '$U/tree/sub/secret': Permission denied" \
		as_user "$user" "$RUN" "$U/disk" "$OFF" "$U/tree"
else
	skip "error: unreadable file: needs root to make an unprivileged user"
fi

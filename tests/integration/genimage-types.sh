#!/bin/bash
# xarch genimage's tar, cpio, squashfs, erofs, qemu and vfat-from-rootfs images:
# the same listings as genimage 16 (which has no erofs), the mountpoint split,
# byte-identical output with SOURCE_DATE_EPOCH, exec-pre/exec-post.
. "$(dirname "$0")/lib.sh"

require_tools genimage-types genimage tar cpio mksquashfs unsquashfs mkfs.erofs fsck.erofs \
	qemu-img mkfs.vfat mcopy mdir
export MTOOLS_SKIP_CHECK=1

W=$TMP/w
R=$W/root
mkdir -p "$W/input" "$R/etc/private" "$R/usr/bin" "$R/home/u/docs" "$R/boot/efi" "$R/dev"
echo host >"$R/etc/hostname"
echo secret >"$R/etc/private/key"
chmod 700 "$R/etc/private"
chmod 600 "$R/etc/private/key"
head -c 200000 /dev/urandom >"$R/usr/bin/tool"
chmod 755 "$R/usr/bin/tool"
ln -s ../../etc/hostname "$R/usr/bin/link"
mkfifo "$R/dev/fifo"
echo u >"$R/home/u/docs/f"
echo dot >"$R/home/u/.profile"
echo kernel >"$R/boot/Image"
echo efi >"$R/boot/efi/BOOTAA64.EFI"
echo hidden >"$R/boot/.hidden" # genimage's `mcopy DIR/*` leaves it out of the vfat
mknod "$R/dev/null" c 1 3 2>/dev/null || true
touch -d '2001-02-03 04:05:06' "$R/etc/hostname" "$R/home/u/docs"
chown 1000:1000 "$R/home/u" "$R/home/u/docs/f" 2>/dev/null || true
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.kind", b"host")' "$R/etc/hostname" \
	2>/dev/null || true
head -c 1000000 /dev/urandom >"$W/input/blob.img"

cat >"$W/types.cfg" <<'CFG'
image root.tar { tar {} }
image home.tar.gz { tar {} mountpoint = "/home" }
image root.cpio { cpio {} }
image root.sqfs { squashfs {} }
image boot.vfat { vfat { label = "BOOT" } size = 8M mountpoint = "/boot" }
image disk.img {
	hdimage { partition-table-type = "gpt" disk-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00020" }
	partition boot { image = "boot.vfat" partition-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00021" }
	partition root { image = "root.sqfs" size = 4M partition-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00022" }
	partition blob { image = "blob.img" partition-uuid = "3d9f3b0e-52a1-4c5b-9a55-1c0ffee00023" }
}
image blob.img { file {} }
image disk.qcow2 { qemu {} partition disk { image = "disk.img" } }
CFG
# genimage 16 has no erofs: checked against the tree itself
cat >"$W/erofs.cfg" <<'CFG'
image root.erofs { erofs {} }
image home.tar { tar {} mountpoint = "/home" }
image boot.tar { tar {} mountpoint = "/boot" }
CFG

(cd "$W" && genimage --config types.cfg --rootpath root --tmppath gtmp --inputpath input \
	--outputpath gi) >"$TMP/gi.log" 2>&1 || { not_ok "genimage 16 runs"; sed 's/^/#   /' "$TMP/gi.log" | tail -20; }
check "xarch genimage builds tar, tar.gz, cpio, squashfs, vfat, hdimage, qcow2" \
	"$XARCH" genimage --config "$W/types.cfg" --rootpath "$R" --inputpath "$W/input" \
	--outputpath "$W/xa"

# same LIST A B: A lists something and B lists the same (genimage walks in readdir order: sorted)
tarls() { tar --numeric-owner -tvf "$1" | sort -k6; }
cpiols() { cpio -itv --numeric-uid-gid <"$1" | sort -k9; }
sqls() { unsquashfs -lls -n "$1" | grep '^[-dlcbps]' | sort -k6; }
same() {
	local ls=$1 a=$2 b=$3
	"$ls" "$a" >"$TMP/a.ls" && "$ls" "$b" >"$TMP/b.ls" &&
		test -s "$TMP/a.ls" && diff "$TMP/a.ls" "$TMP/b.ls"
}
check "tar listing equals genimage's" same tarls "$W/gi/root.tar" "$W/xa/root.tar"
check "tar.gz (mountpoint /home) listing equals genimage's" \
	same tarls "$W/gi/home.tar.gz" "$W/xa/home.tar.gz"
check "tar.gz is gzip" sh -c "file -b '$W/xa/home.tar.gz' | grep -q gzip || gzip -t '$W/xa/home.tar.gz'"
check "cpio (newc) listing equals genimage's" same cpiols "$W/gi/root.cpio" "$W/xa/root.cpio"
check "cpio is newc" sh -c "head -c 6 '$W/xa/root.cpio' | grep -q 070701"
check "squashfs listing equals genimage's" same sqls "$W/gi/root.sqfs" "$W/xa/root.sqfs"
# boot.vfat was made in place in disk.img: read it there
mdirls() { mdir -/ -b -i "$1" :: | sed 's|^::||' | sort; }
boot=$(sfdisk -d "$W/xa/disk.img" 2>/dev/null | sed -n '/name="boot"/s/.*start= *\([0-9]*\).*/\1/p')
check "vfat from rootpath/mountpoint has genimage's files" \
	same mdirls "$W/gi/boot.vfat" "$W/xa/disk.img@@$((${boot:-0} * 512))"
check "the vfat's file content" sh -c "mtype -i '$W/xa/disk.img@@$((${boot:-0} * 512))' \
	::/efi/BOOTAA64.EFI | grep -qx efi"
check "qcow2 has the raw disk's content" qemu-img compare -f qcow2 -F raw \
	"$W/xa/disk.qcow2" "$W/xa/disk.img"

# mountpoint split: the root image keeps /home and /boot as empty directories
check "root tar keeps ./home/ and ./boot/" sh -c "tar -tf '$W/xa/root.tar' | grep -qx './home/' && tar -tf '$W/xa/root.tar' | grep -qx './boot/'"
check "root tar lacks /home's and /boot's files" sh -c "! tar -tf '$W/xa/root.tar' | grep -E '^./(home|boot)/.'"
check "home tar has /home's files" sh -c "tar -tf '$W/xa/home.tar.gz' | grep -qx './u/docs/f' && tar -tf '$W/xa/home.tar.gz' | grep -qx './u/.profile'"
check "root squashfs lacks /home's files" sh -c "! unsquashfs -l -n '$W/xa/root.sqfs' | grep -E 'squashfs-root/home/.'"
check "tar keeps xattrs (pax)" sh -c "mkdir '$TMP/x' && tar --xattrs --xattrs-include='*' -xf '$W/xa/root.tar' -C '$TMP/x' && \
	{ ! getfattr --version >/dev/null 2>&1 || true; } && \
	python3 -c 'import os,sys; v=os.getxattr(sys.argv[1], \"user.kind\") if os.listxattr(sys.argv[2]) else b\"host\"; sys.exit(v != b\"host\")' '$TMP/x/etc/hostname' '$R/etc/hostname'"

check "xarch genimage builds erofs" "$XARCH" genimage --config "$W/erofs.cfg" --rootpath "$R" \
	--inputpath "$W/input" --outputpath "$W/xe"
check "erofs is clean" fsck.erofs "$W/xe/root.erofs"
rm -rf "$TMP/want" "$TMP/got"
cp -a "$R" "$TMP/want" && find "$TMP/want/home" "$TMP/want/boot" -mindepth 1 -delete &&
	touch -r "$R/home" "$TMP/want/home" && touch -r "$R/boot" "$TMP/want/boot"
treels() { (cd "$1" && find . -printf '%M %U %G %s %TY-%Tm-%Td %TT %p %l\n' | sed 's/\.[0-9]* / /' | sort -k7); }
check "erofs extracts to the tree minus /home's and /boot's files" sh -c \
	"fsck.erofs --extract='$TMP/got' '$W/xe/root.erofs' >/dev/null && \
	diff -r --no-dereference -x fifo '$TMP/want' '$TMP/got'"
check "erofs keeps modes, owners, mtimes" same treels "$TMP/want" "$TMP/got"

# reproducible: same inputs and SOURCE_DATE_EPOCH, same bytes
for run in 1 2; do
	SOURCE_DATE_EPOCH=1700000000 "$XARCH" genimage --config "$W/types.cfg" --rootpath "$R" \
		--inputpath "$W/input" --outputpath "$W/r$run" >/dev/null 2>&1
	SOURCE_DATE_EPOCH=1700000000 "$XARCH" genimage --config "$W/erofs.cfg" --rootpath "$R" \
		--inputpath "$W/input" --outputpath "$W/r$run" >/dev/null 2>&1
	sleep 1
done
for f in root.tar home.tar.gz root.cpio root.sqfs root.erofs disk.qcow2; do
	check "$f is byte-identical with SOURCE_DATE_EPOCH" cmp "$W/r1/$f" "$W/r2/$f"
done
check "SOURCE_DATE_EPOCH clamps tar mtimes" sh -c \
	"! tar --full-time -tvf '$W/r1/root.tar' | awk '{print \$4}' | grep -v -e 2023-11-14 -e 2001-02-03"

# hard links (not compared with genimage above: which name carries the data
# depends on the walk order), cpio formats and compressors
mkdir -p "$W/hl/d"
echo data >"$W/hl/d/a" && ln "$W/hl/d/a" "$W/hl/d/b"
cat >"$W/hl.cfg" <<'CFG'
image hl.tar { tar {} srcpath = "hl" }
image hl.cpio { cpio {} srcpath = "hl" }
image hl.odc.gz { cpio { format = "odc" compress = "gzip" extraargs = "-R 0:0 --reproducible" } srcpath = "hl" }
image hl.cpio.xz { cpio { compress = "xz --check=crc32" } srcpath = "hl" }
image hl.tar.xz { tar {} srcpath = "hl" }
CFG
check "hard links, cpio formats and compressors build" sh -c "cd '$W' && '$XARCH' genimage \
	--config hl.cfg --rootpath '$R' --inputpath input --outputpath hlo"
check "tar keeps the hard link" sh -c "tar -tvf '$W/hlo/hl.tar' | grep -q '^h.* ./d/b link to ./d/a'"
for f in hl.cpio hl.odc.gz hl.cpio.xz; do
	rm -rf "$TMP/hx" && mkdir "$TMP/hx"
	check "$f extracts with the hard link" sh -c "cd '$TMP/hx' && \
		{ case $f in *.gz) gzip -dc ;; *.xz) xz -dc ;; *) cat ;; esac; } <'$W/hlo/$f' | cpio -idm 2>/dev/null && \
		test \"\$(stat -c %h:%i d/a)\" = \"\$(stat -c %h:%i d/b)\" && grep -qx data d/b"
done
check "cpio format odc" sh -c "gzip -dc '$W/hlo/hl.odc.gz' | head -c 6 | grep -qx 070707"
check "compress with arguments runs the command (xz --check=crc32)" sh -c \
	"xz --robot --list '$W/hlo/hl.cpio.xz' | grep -q CRC32"
check "tar.xz is xz" sh -c "xz -t '$W/hlo/hl.tar.xz'"
cat >"$W/bad.cfg" <<'CFG'
image x.cpio { cpio { extraargs = "--no-such-option" } srcpath = "hl" }
CFG
check_out "an unknown cpio extraargs is refused by name" "cpio extraargs '--no-such-option' is not supported" \
	sh -c "cd '$W' && '$XARCH' genimage --config bad.cfg --rootpath '$R' --inputpath input --outputpath bo"

# exec-pre / exec-post: genimage's variables, failures stop the build
cat >"$W/exec.cfg" <<'CFG'
image home.tar {
	tar {}
	mountpoint = "/home"
	name = "homefs"
	exec-pre = "env > \"$OUTPUTPATH/pre.env\"; test ! -e \"$IMAGEOUTFILE\""
	exec-post = "test -s \"$IMAGEOUTFILE\" && echo post >\"$OUTPUTPATH/post.ok\""
}
CFG
check "exec-pre and exec-post run" "$XARCH" genimage --config "$W/exec.cfg" --rootpath "$R" \
	--inputpath "$W/input" --outputpath "$W/ex" --tmppath "$W/extmp"
for v in "IMAGE=home.tar" "IMAGEOUTFILE=$W/ex/home.tar" "IMAGENAME=homefs" \
	"IMAGEMOUNTPOINT=home" "IMAGEMOUNTPATH=$R/home" "ROOTPATH=$R" "INPUTPATH=$W/input" \
	"OUTPUTPATH=$W/ex" "TMPPATH=$W/extmp"; do
	check "exec-pre sees $v" grep -qxF "$v" "$W/ex/pre.env"
done
check "exec-post ran after the image was written" test -f "$W/ex/post.ok"

cat >"$W/fail.cfg" <<'CFG'
image good.tar { tar {} mountpoint = "/boot" }
image bad.tar { tar {} exec-pre = "echo no luck >&2; exit 3" }
CFG
check_out "a failing exec-pre stops the build and says so" "image 'bad.tar': exec-pre failed with exit 3: no luck" \
	"$XARCH" genimage --config "$W/fail.cfg" --rootpath "$R" --inputpath "$W/input" --outputpath "$W/fl"
check "a failing exec-pre leaves no output and no temp file" sh -c \
	"test ! -e '$W/fl/bad.tar' && ! ls '$W/fl' | grep -q tmp"
cat >"$W/failpost.cfg" <<'CFG'
image bad.tar { tar {} exec-post = "exit 4" }
CFG
check_rc "a failing exec-post fails" 1 "$XARCH" genimage --config "$W/failpost.cfg" --rootpath "$R" \
	--inputpath "$W/input" --outputpath "$W/fp"
check "a failing exec-post leaves no output" test ! -e "$W/fp/bad.tar"

# values from the config never reach a shell: names and paths with $(...) and ;
mkdir -p "$W/evil"
evil='$(touch pwned1);touch pwned2;`touch pwned3`'
mkdir -p "$W/evil/src$evil" && echo e >"$W/evil/src$evil/f"
cat >"$W/evil/evil.cfg" <<CFG
image 'x$evil.tar' {
	tar {}
	srcpath = 'src$evil'
	exec-post = "test -f \"\$IMAGEOUTFILE\" && test -d \"\$IMAGEMOUNTPATH\""
}
image 'y$evil.sqfs' { squashfs {} srcpath = 'src$evil' }
image 'z$evil.erofs' { erofs {} srcpath = 'src$evil' }
CFG
check "names and srcpaths with shell syntax are built" sh -c "cd '$W/evil' && '$XARCH' genimage \
	--config evil.cfg --rootpath '$R' --inputpath '$W/input' --outputpath out"
check "nothing in them was executed" sh -c "cd '$W/evil' && ! ls | grep -qx 'pwned[123]' && ! ls out | grep -qx 'pwned[123]'"
check "the tar from the odd srcpath has its file" sh -c "tar -tf \"\$(ls -d '$W/evil/out/x'*.tar)\" | grep -qx ./f"

# ext4 split by mountpoint: the root image keeps /home empty, home gets its files
cat >"$W/ext.cfg" <<'CFG'
image root.ext4 { ext4 {} size = 16M }
image home.ext4 { ext4 {} size = 8M mountpoint = "/home" }
CFG
check "ext4 images split by mountpoint" "$XARCH" genimage --config "$W/ext.cfg" --rootpath "$R" \
	--inputpath "$W/input" --outputpath "$W/et"
check "root.ext4 is clean" e2fsck -fn "$W/et/root.ext4"
check "home.ext4 is clean" e2fsck -fn "$W/et/home.ext4"
check_out "root.ext4 has /etc/hostname" "hostname" debugfs -R "ls -p /etc" "$W/et/root.ext4"
check "root.ext4's /home is empty" test "$(debugfs -R 'ls -p /home' "$W/et/root.ext4" 2>/dev/null | awk -F/ 'NF > 5 && $6 != "." && $6 != ".." {print $6}')" = ""
check "home.ext4 has u/docs/f" cmp <(debugfs -R 'cat /u/docs/f' "$W/et/home.ext4" 2>/dev/null) "$R/home/u/docs/f"

#!/bin/bash
# xarch pull tar:FILE DIR against GNU tar: the tree unpacked by xarch is
# compared with the source tree (diff -r, and a find listing of modes,
# owners and link targets); an existing DIR, a corrupt tarball and a
# tarball with an escaping entry are errors that leave no DIR.
. "$(dirname "$0")/lib.sh"

command -v tar >/dev/null || { skip "layer: GNU tar is not installed"; exit 0; }

src=$TMP/src
mkdir -p "$src/etc" "$src/usr/bin" "$src/var/empty" "$src/ro"
echo "root:x:0:0:root:/root:/bin/sh" >"$src/etc/passwd"
printf '#!/bin/sh\necho hi\n' >"$src/usr/bin/tool"
chmod 4755 "$src/usr/bin/tool"
chmod 2750 "$src/var/empty"
ln "$src/usr/bin/tool" "$src/usr/bin/tool-hard"
ln -s /usr/bin/tool "$src/usr/bin/tool-abs"
ln -s ../../etc/passwd "$src/usr/bin/rel"
echo "readonly" >"$src/ro/file"
chmod 0555 "$src/ro"
mkfifo "$src/fifo"
printf '.wh.kept\n' >"$src/etc/.wh.kept" # plain tars: an ordinary file
xattrs=false
if python3 -c "import os,sys; os.setxattr(sys.argv[1], 'user.xarch', b'v')" "$src/etc/passwd" 2>/dev/null; then
	xattrs=true
fi
if [ "$(id -u)" -eq 0 ]; then
	chown -h 123:456 "$src/usr/bin/rel"
	chown 1000:1000 "$src/etc/passwd"
	chown 0:50 "$src/usr/bin/tool" # setuid must survive this chown
	chmod 4755 "$src/usr/bin/tool"
fi
touch -h -d '2001-02-03 04:05:06' "$src/usr/bin/rel" "$src/etc/passwd"
touch -d '2002-03-04 05:06:07' "$src/usr/bin" "$src/etc" "$src/ro"

listing() { # DIR: one line per entry, stable
	(cd "$1" && find . -printf '%p %m %U %G %l %T@\n' | sed 's/\.0*$//' | sort)
}

for z in gz xz zst; do
	case $z in
	gz) flag=-z ;;
	xz) flag=-J ;;
	zst) flag=--zstd ;;
	esac
	if [ $z = zst ] && ! command -v zstd >/dev/null; then
		skip "pull tar:.tar.zst: zstd is not installed"
		continue
	fi
	tarball=$TMP/rootfs.tar.$z
	tar --xattrs --xattrs-include='user.*' --numeric-owner $flag -cf "$tarball" -C "$src" .
	dest=$TMP/out-$z
	check "pull tar:rootfs.tar.$z" "$XARCH" pull tar:"$tarball" "$dest"
	# diff -r cannot compare fifos: the listing below checks that one
	check "tar.$z: diff -r of contents" diff -r --no-dereference -x fifo "$src" "$dest"
	if [ "$(id -u)" -eq 0 ]; then
		if diff <(listing "$src") <(listing "$dest") >"$TMP/.diff"; then
			ok "tar.$z: modes, owners, link targets, mtimes equal"
		else
			not_ok "tar.$z: modes, owners, link targets, mtimes differ"
			sed 's/^/#   /' "$TMP/.diff" | head -20
		fi
	else
		# unprivileged: owners are the caller's; compare the rest
		if diff <(listing "$src" | awk '{print $1,$2,$5,$6}') \
			<(listing "$dest" | awk '{print $1,$2,$5,$6}') >"$TMP/.diff"; then
			ok "tar.$z: modes, link targets, mtimes equal"
		else
			not_ok "tar.$z: modes, link targets, mtimes differ"
			sed 's/^/#   /' "$TMP/.diff" | head -20
		fi
	fi
	a=$(stat -c %i "$dest/usr/bin/tool") b=$(stat -c %i "$dest/usr/bin/tool-hard")
	if [ "$a" = "$b" ]; then ok "tar.$z: hard link kept"; else not_ok "tar.$z: hard link kept"; fi
	if $xattrs; then
		v=$(python3 -c "import os,sys; print(os.getxattr(sys.argv[1], 'user.xarch').decode())" \
			"$dest/etc/passwd" 2>&1)
		if [ "$v" = v ]; then ok "tar.$z: user.* xattr kept"; else
			not_ok "tar.$z: user.* xattr kept (got '$v')"; fi
	else
		skip "tar.$z: user.* xattrs: not supported by the filesystem of $TMP"
	fi
	chmod -R u+w "$dest"
done

tar -czf "$TMP/small.tar.gz" -C "$src" etc usr
mkdir "$TMP/exists"
check_rc "existing DIR is an error" 1 "$XARCH" pull tar:"$TMP/small.tar.gz" "$TMP/exists"
check_out "existing DIR: one-line error" "already exists" "$XARCH" pull tar:"$TMP/small.tar.gz" "$TMP/exists"

head -c $(($(stat -c %s "$TMP/small.tar.gz") / 2)) "$TMP/small.tar.gz" >"$TMP/corrupt.tar.gz"
check_rc "corrupt tarball is an error" 1 "$XARCH" pull tar:"$TMP/corrupt.tar.gz" "$TMP/corrupt"
if [ ! -e "$TMP/corrupt" ] && ! ls "$TMP" | grep -q xarch-tmp; then ok "corrupt tarball: no DIR, no temp dir"
else not_ok "corrupt tarball: no DIR, no temp dir"; fi

check_rc "escaping entry is an error" 1 "$XARCH" pull \
	tar:"$XARCH_TOP/tests/fixtures/malicious/dotdot.tar" "$TMP/escape"
check_out "escaping entry: error names it" "'../escape'" "$XARCH" pull \
	tar:"$XARCH_TOP/tests/fixtures/malicious/dotdot.tar" "$TMP/escape"
if [ ! -e "$TMP/escape" ] && [ ! -e "$TMP/../escape" ] && ! ls "$TMP" | grep -q xarch-tmp; then
	ok "escaping entry: no DIR, nothing outside"
else not_ok "escaping entry: no DIR, nothing outside"; fi

check_rc "unknown source is a usage error" 2 "$XARCH" pull nosuch:x "$TMP/x"
check_out "pull --help names tar:" "tar:" "$XARCH" pull --help
chmod -R u+w "$src"

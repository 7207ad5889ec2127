#!/bin/bash
# xarch export DIR DEST: each format checked by skopeo and umoci, a
# round trip through xarch pull, reproducibility, no output on failure.
. "$(dirname "$0")/lib.sh"

require_tools export umoci skopeo python3
cd "$TMP" || exit 1
root=false
[ "$(id -u)" -eq 0 ] && root=true
unpack_flags=()
$root || unpack_flags=(--rootless)

# The test tree: modes, owners, setuid, symlinks, hard links, an xattr, a fifo
mk_tree() {
	local r=$1
	mkdir -p $r/etc $r/bin $r/srv/data $r/home/u $r/empty && echo hello >$r/etc/hello &&
		chmod 640 $r/etc/hello && ln -s ../etc/hello $r/bin/link &&
		ln -s /nonexistent $r/bin/dangling && ln $r/etc/hello $r/etc/hard &&
		printf '#!/bin/sh\n' >$r/bin/su && chmod 4755 $r/bin/su &&
		echo d >$r/srv/data/file && chmod 750 $r/srv/data && mkfifo $r/srv/fifo &&
		chmod 1777 $r/empty || return 1
	python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.x", b"42")' $r/etc/hello ||
		return 1
	if $root; then chown -R 1000:100 $r/home/u && chown 0:42 $r/etc/hello || return 1; fi
}
if ! mk_tree T >"$TMP/mk.log" 2>&1; then
	not_ok "build the test tree"
	sed 's/^/#   /' "$TMP/mk.log"
	exit 1
fi
have_rv=false
if bash "$XARCH_TOP/tests/rootfs/mkrootfs.sh" riscv64 RV >"$TMP/mkrv.log" 2>&1; then
	ln -s toolbox RV/bin/sh && have_rv=true
else
	skip "export: no riscv64 cross compiler for the hermetic rootfs"
fi

# diff -r without its notes on fifos (which it cannot compare)
diff_r() { diff -r --no-dereference "$1" "$2" 2>&1 | grep -v ' is a fifo while file '; }
listing() {
	(cd "$1" && find . -mindepth 1 -printf '%p %y %m %U %G %l %n %s\n' | sort)
}
# same_tree NAME A B: same listing and contents
same_tree() {
	diff <(listing "$2") <(listing "$3") >"$TMP/diff"
	diff_r "$2" "$3" >>"$TMP/diff"
	if [ ! -s "$TMP/diff" ]; then
		ok "$1"
	else
		not_ok "$1"
		sed 's/^/#   /' "$TMP/diff" | head -20
	fi
}

export SOURCE_DATE_EPOCH=1700000000
check "export to oci:" "$XARCH" export --platform linux/arm64 T oci:L:t
check "export to oci-archive:" "$XARCH" export --platform arm64 T oci-archive:O.tar:t
check "export to docker-archive:" "$XARCH" export --platform arm64 T docker-archive:D.tar:xarch/t:1
check "export to tar: (gzip)" "$XARCH" export T tar:T.tar.gz
check "export to tar: (zstd)" "$XARCH" export T tar:T.tar.zst
check "export to tar: (plain)" "$XARCH" export T tar:T.tar

check_out "skopeo inspect oci:" '"Architecture": "arm64"' skopeo inspect oci:L:t
check_out "skopeo inspect oci-archive:" '"Architecture": "arm64"' skopeo inspect oci-archive:O.tar:t
check_out "skopeo inspect docker-archive:" '"Architecture": "arm64"' \
	skopeo inspect docker-archive:D.tar
check "skopeo copy oci: -> docker-archive:" skopeo copy oci:L:t docker-archive:C.tar:c:t
check_out "docker-archive: has its RepoTags" '"RepoTags":["xarch/t:1"]' tar -xOf D.tar manifest.json
check_out "--json summary" '"diff_id": "sha256:' \
	"$XARCH" export --json --platform riscv64 T oci:J

# umoci's unpack must give back the source tree
if umoci unpack "${unpack_flags[@]}" --image L:t U >"$TMP/umoci.log" 2>&1; then
	same_tree "umoci unpack of oci: equals the source" T U/rootfs
	if $root; then
		check_out "xattr user.x survives" "42" python3 -c \
			'import os; print(os.getxattr("U/rootfs/etc/hello", "user.x").decode())'
	fi
else
	not_ok "umoci unpack oci:"
	sed 's/^/#   /' "$TMP/umoci.log" | head
fi

# xarch pull round trip of each format
for src in oci:L:t oci-archive:O.tar:t docker-archive:D.tar tar:T.tar.gz tar:T.tar.zst; do
	d=P-${src%%:*}-$RANDOM
	if "$XARCH" pull -q "$src" "$d" >"$TMP/pull.log" 2>&1; then
		if $root; then
			same_tree "xarch pull $src round-trips" T "$d"
		else # unprivileged pull: owners become ours
			diff_r T "$d" >"$TMP/diff"
			if [ ! -s "$TMP/diff" ]; then ok "xarch pull $src round-trips"; else
				not_ok "xarch pull $src round-trips"; fi
		fi
	else
		not_ok "xarch pull $src"
		sed 's/^/#   /' "$TMP/pull.log" | head
	fi
done

# a foreign rootfs: the platform comes from its /bin/sh
if $have_rv; then
	check "export the riscv64 rootfs" "$XARCH" export RV oci:RVL:t
	check_out "its platform is riscv64" '"Architecture": "riscv64"' skopeo inspect oci:RVL:t
	check "export it as docker-archive:" "$XARCH" export RV docker-archive:RV.tar:rv:1
	check_out "docker-archive: riscv64" '"Architecture": "riscv64"' \
		skopeo inspect docker-archive:RV.tar
	if umoci unpack "${unpack_flags[@]}" --image RVL:t RVU >/dev/null 2>&1; then
		same_tree "umoci unpack of the riscv64 export equals it" RV RVU/rootfs
	else
		not_ok "umoci unpack of the riscv64 export"
	fi
fi

# reproducible: twice, with a touched file in between (mtimes clamp)
for fmt in tar:R%s.tar.gz oci-archive:R%s-o.tar:t docker-archive:R%s-d.tar:a:b; do
	f1=$(printf "$fmt" 1) f2=$(printf "$fmt" 2)
	"$XARCH" export --platform arm64 T "$f1" && touch T/etc/hello &&
		"$XARCH" export --platform arm64 T "$f2"
	a=${f1#*:} b=${f2#*:}
	check "${fmt%%:*} byte-identical with SOURCE_DATE_EPOCH" cmp "${a%%:*}" "${b%%:*}"
done
unset SOURCE_DATE_EPOCH

# failures leave nothing behind
mkdir F
check_rc "missing destination directory fails" 1 "$XARCH" export T tar:F/no/x.tar
check_rc "existing oci: directory is refused" 1 "$XARCH" export --platform arm64 T oci:L
check_rc "unknown destination is refused" 1 "$XARCH" export T zip:F/x
if user=$(unpriv_user); then
	chmod 755 "$TMP" F
	mkdir -p S/sub && echo secret >S/sub/f && chmod 600 S/sub/f && chown -R 0:0 S
	chown "$user" F
	check_rc "unreadable file fails (as $user)" 1 \
		as_user "$user" "$XARCH" export --platform arm64 S "oci-archive:$TMP/F/x.tar"
	chown root F && chmod 555 F
	check_rc "read-only destination dir fails" 1 \
		as_user "$user" "$XARCH" export --platform arm64 T "tar:$TMP/F/y.tar"
	chmod 755 F
else
	skip "export: no unprivileged user for the permission tests"
fi
if [ -z "$(ls -A F)" ]; then ok "failed exports left no output"; else
	not_ok "failed exports left: $(ls -A F)"; fi

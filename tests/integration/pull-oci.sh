#!/bin/bash
# xarch pull from local image transports (oci:, oci-archive:, docker-archive:)
# against umoci's own unpack of the same image; skopeo converts between
# the formats.
. "$(dirname "$0")/lib.sh"

require_tools pull-oci umoci skopeo python3
cd "$TMP" || exit 1
root=false
[ "$(id -u)" -eq 0 ] && root=true
unpack_flags=()
$root || unpack_flags=(--rootless)

# Three layers: files with modes and owners, a symlink, a hard link, a
# setuid binary; then a deletion (whiteout) and a mode change; then a
# directory replaced by a file.
mk_image() {
	umoci init --layout L &&
		umoci new --image L:t &&
		umoci unpack "${unpack_flags[@]}" --image L:t B1 >/dev/null || return 1
	local r=B1/rootfs
	mkdir -p $r/etc $r/bin $r/srv/data $r/home/u && echo hello >$r/etc/hello &&
		chmod 640 $r/etc/hello && ln -s ../etc/hello $r/bin/link &&
		ln $r/etc/hello $r/etc/hard && echo gone >$r/etc/gone &&
		printf '#!/bin/sh\n' >$r/bin/su && chmod 4755 $r/bin/su &&
		echo d >$r/srv/data/file && chmod 750 $r/srv/data || return 1
	if $root; then chown -R 1000:100 $r/home/u && chown 0:42 $r/etc/hello || return 1; fi
	umoci repack --image L:t B1 >/dev/null &&
		umoci unpack "${unpack_flags[@]}" --image L:t B2 >/dev/null || return 1
	r=B2/rootfs
	rm $r/etc/gone && echo two >$r/etc/two && chmod 600 $r/etc/hello || return 1
	umoci repack --image L:t B2 >/dev/null &&
		umoci unpack "${unpack_flags[@]}" --image L:t B3 >/dev/null || return 1
	r=B3/rootfs
	rm -r $r/srv/data && echo now-a-file >$r/srv/data || return 1
	umoci repack --image L:t B3 >/dev/null &&
		umoci unpack "${unpack_flags[@]}" --image L:t REF >/dev/null
}
if ! mk_image >"$TMP/mk.log" 2>&1; then
	not_ok "build the source image with umoci"
	sed 's/^/#   /' "$TMP/mk.log" | head -20
	exit 1
fi
ok "source image built with umoci ($(python3 -c 'import json,sys
m=json.load(open("L/index.json"))["manifests"][0]["digest"].split(":")[1]
print(len(json.load(open("L/blobs/sha256/"+m))["layers"]))') layers)"

check "skopeo copy oci: -> docker-archive:" skopeo copy oci:L:t docker-archive:A.tar:t
check "skopeo copy oci: -> oci-archive:" skopeo copy oci:L:t oci-archive:O.tar:t
check "skopeo copy oci: -> oci:" skopeo copy oci:L:t oci:L2:t

# Docker >= 25 writes an OCI layout and a manifest.json naming its blobs
python3 - <<'EOF'
import json, os, shutil
shutil.copytree("L", "D25")
idx = json.load(open("D25/index.json"))
m = json.load(open("D25/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
b = lambda d: "blobs/sha256/" + d["digest"][7:]
json.dump([{"Config": b(m["config"]), "RepoTags": ["t:latest"],
	    "Layers": [b(l) for l in m["layers"]]}], open("D25/manifest.json", "w"))
EOF
check "docker 25 style archive" tar -C D25 -cf A25.tar .

# listing of what matters: type, mode, owner, link target, link count
listing() {
	(cd "$1" && find . -mindepth 1 -printf '%p %y %m %U:%G %l %n %s\n' | sort)
}
compare() { # name dir
	if diff <(listing REF/rootfs) <(listing "$2") >"$TMP/diff" &&
		diff -r --no-dereference REF/rootfs "$2" >>"$TMP/diff"; then
		ok "$1 equals umoci's unpack"
	else
		not_ok "$1 differs from umoci's unpack"
		sed 's/^/#   /' "$TMP/diff" | head -20
	fi
}
for src in oci:L:t oci:L oci:L2:t oci-archive:O.tar docker-archive:A.tar \
	docker-archive:A.tar:t docker-archive:A25.tar; do
	d=D-$(echo "$src" | tr ':/' '__')
	check "xarch pull $src" "$XARCH" pull "$src" "$d"
	[ -d "$d" ] && compare "$src" "$d"
done
[ -z "$(ls -A | grep '^\.xarch-image')" ] && ok "no temporary directories left" ||
	not_ok "temporary directories left: $(ls -A | grep '^\.xarch-image')"

# a flipped byte in the last layer: an error naming the blob, no DEST
cp -r L T
last=$(python3 -c 'import json
m=json.load(open("T/index.json"))["manifests"][0]["digest"][7:]
print(json.load(open("T/blobs/sha256/"+m))["layers"][-1]["digest"])')
printf '\x00' | dd of="T/blobs/sha256/${last#sha256:}" bs=1 seek=40 conv=notrunc 2>/dev/null
check_out "tampered blob is named" "blob $last" "$XARCH" pull oci:T:t DT
[ ! -e DT ] && ok "no destination after a tampered blob" || not_ok "DT exists"

# a digest that is a path is refused before it is used
cp -r L P
sed -i 's|"digest":"sha256:[0-9a-f]*"|"digest":"sha256:../../../etc/passwd"|' P/index.json
check_out "path-like digest refused" "not sha256:<64 hex digits>" "$XARCH" pull oci:P:t DP
[ ! -e DP ] && ok "no destination after a bad digest" || not_ok "DP exists"

# an index for two platforms: a third is refused with the list
cp -r L M
python3 - <<'EOF'
import json
i = json.load(open("M/index.json"))
e = i["manifests"][0]
a = dict(e, platform={"os": "linux", "architecture": "amd64"})
b = dict(e, platform={"os": "linux", "architecture": "arm64", "variant": "v8"})
i["manifests"] = [a, b]
json.dump(i, open("M/index.json", "w"))
EOF
check_out "missing platform lists the index" \
	"no linux/riscv64 image in index; it has linux/amd64, linux/arm64/v8" \
	"$XARCH" pull --platform linux/riscv64 oci:M:t DM
[ ! -e DM ] && ok "no destination for a missing platform" || not_ok "DM exists"
check_out "a config for another arch is refused" "not linux/arm64" \
	"$XARCH" pull --platform linux/arm64 oci:M:t DM
check_out "unknown tag lists the tags" "no image tagged 'nope'" "$XARCH" pull oci:L:nope DN
check_rc "existing destination refused" 1 "$XARCH" pull oci:L:t D-oci_L_t

#!/bin/bash
# The local image store: `xarch run oci:L:t` pulls the image into
# $XARCH_STORE once, keyed by digest, and reuses it; `xarch images --json`
# lists it (python3 reads the JSON), `xarch rmi` removes it.  The image is
# made by umoci around a hermetic riscv64/aarch64 toolbox rootfs, so the
# command really runs under emulation; the stored tree is checked against
# umoci's own unpack and must be untouched by the runs (implied --ephemeral).
. "$(dirname "$0")/lib.sh"

require_tools store umoci python3
if [ "$(id -u)" -ne 0 ]; then
	skip "store: needs root (xarch run with a root-owned image tree)"
	exit 0
fi
"$XARCH" images --help >/dev/null 2>&1 || { not_ok "xarch has no 'images' command"; exit 1; }
MK="$XARCH_TOP/tests/rootfs/mkrootfs.sh"
cd "$TMP" || exit 1
a=""
for arch in riscv64 aarch64; do
	if bash "$MK" "$arch" R >"$TMP/mk.out" 2>&1; then a=$arch; break; fi
	rm -rf R
done
[ -n "$a" ] || { skip "store: no cross compiler for a toolbox rootfs"; exit 0; }
oci_arch=$a
[ "$a" = aarch64 ] && oci_arch=arm64

export XARCH_STORE=$TMP/store
entries() { find "$XARCH_STORE/rootfs" -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' | wc -l; }
digest_of() { # the manifest digest index.json names for tag t
	python3 -c 'import json,sys
for m in json.load(open(sys.argv[1]+"/index.json"))["manifests"]:
    if m.get("annotations",{}).get("org.opencontainers.image.ref.name") == "t": print(m["digest"])' "$1"
}

if ! { umoci init --layout L && umoci new --image L:t &&
	umoci unpack --image L:t B >/dev/null && rm -rf B/rootfs && cp -a R B/rootfs &&
	umoci repack --image L:t B >/dev/null &&
	umoci config --image L:t --architecture "$oci_arch"; } >"$TMP/umoci.log" 2>&1; then
	not_ok "build the $a image with umoci"
	sed 's/^/#   /' "$TMP/umoci.log" | head -20
	exit 1
fi
ok "$a toolbox image built with umoci"
d1=$(digest_of L)

check_out "first run pulls and runs the $a toolbox" "pid=2 ppid=1" \
	"$XARCH" run oci:L:t /bin/toolbox pid
[ "$(entries)" -eq 1 ] && ok "the store has one entry" || not_ok "store has $(entries) entries"
[ -d "$XARCH_STORE/rootfs/${d1#sha256:}" ] && ok "the entry is named by the manifest digest" ||
	not_ok "no $XARCH_STORE/rootfs/${d1#sha256:}"
check_out "--verbose says the first pull is reused on the second run" "reused 'oci:L:t'" \
	"$XARCH" run --verbose oci:L:t /bin/toolbox pid
check_out "the second run still runs the toolbox" "pid=2 ppid=1" \
	"$XARCH" run oci:L:t /bin/toolbox pid
[ "$(entries)" -eq 1 ] && ok "still one entry after the second run" ||
	not_ok "store has $(entries) entries after the second run"

# the same image by another path: same digest, same tree, one more ref
cp -a L L2
check_out "a copy of the same image is reused" "reused" \
	"$XARCH" run --verbose oci:L2:t /bin/toolbox pid
[ "$(entries)" -eq 1 ] && ok "one entry for two names" || not_ok "$(entries) entries"

# the tree equals umoci's unpack and was not written by the runs
tree() { (cd "$1" && find . -mindepth 1 -printf '%p %y %m %U:%G %l %s\n' | sort); }
umoci unpack --image L:t U >/dev/null 2>&1
stored=$XARCH_STORE/rootfs/${d1#sha256:}
if diff <(tree U/rootfs) <(tree "$stored") >"$TMP/diff" && diff -r --no-dereference U/rootfs "$stored" >>"$TMP/diff"; then
	ok "the stored tree equals umoci's unpack"
else
	not_ok "the stored tree differs from umoci's unpack"
	sed 's/^/#   /' "$TMP/diff" | head -20
fi
"$XARCH" run oci:L:t /bin/toolbox write /srv/x hello >/dev/null 2>&1
[ ! -e "$stored/srv/x" ] && ok "writes of a run do not reach the stored tree (ephemeral)" ||
	not_ok "a run wrote into the stored tree"

# images --json
"$XARCH" images --json >"$TMP/images.json" 2>&1
if python3 - "$TMP/images.json" "$d1" "$TMP/L" "linux/$oci_arch" <<'EOF'; then
import json, sys
v = json.load(open(sys.argv[1]))
assert len(v) == 1, v
e = v[0]
assert e["digest"] == sys.argv[2], e
assert "oci:%s:t" % sys.argv[3] in e["refs"], e["refs"]
assert len(e["refs"]) == 2, e["refs"]
assert e["platform"] == sys.argv[4], e
assert e["size"] > 100000 and e["created"] > 0, e
EOF
	ok "images --json lists the entry with refs, platform, size, created"
else
	not_ok "images --json"
	sed 's/^/#   /' "$TMP/images.json" | head -20
fi
check_out "images lists the short digest" "${d1:7:12}" "$XARCH" images
check_out "--platform of another arch is refused" "not linux/s390x" \
	"$XARCH" run --platform linux/s390x oci:L:t /bin/toolbox pid

# new content under the same tag: a new entry, the ref moves to it
rm -rf B2 && umoci unpack --image L:t B2 >/dev/null 2>&1 && echo v2 >B2/rootfs/etc/version &&
	umoci repack --image L:t B2 >/dev/null 2>&1
d2=$(digest_of L)
[ "$d1" != "$d2" ] || not_ok "umoci repack did not change the digest"
check_out "a changed image is pulled again" "pulled 'oci:L:t'" \
	"$XARCH" run --verbose oci:L:t /bin/toolbox cat /etc/version
check_out "... and runs the new content" "v2" "$XARCH" run oci:L:t /bin/toolbox cat /etc/version
[ "$(entries)" -eq 2 ] && ok "a changed image gets a new entry" || not_ok "$(entries) entries"

# rmi by ref, by digest prefix; unknown names fail
check_out "rmi by ref" "removed $d2" "$XARCH" rmi oci:L:t
check_rc "rmi of an unknown image fails" 1 "$XARCH" rmi oci:L:t
check_out "rmi by digest prefix" "removed $d1" "$XARCH" rmi "${d1:7:12}"
[ "$(entries)" -eq 0 ] && ok "the store is empty after rmi" || not_ok "$(entries) entries left"
[ "$("$XARCH" images --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ] &&
	ok "images --json is empty" || not_ok "images --json is not empty"
[ -z "$(ls -A "$XARCH_STORE" | grep -v -e '^rootfs$' -e '^refs.json$' -e '^\.lock$')" ] &&
	[ -z "$(ls -A "$XARCH_STORE/rootfs")" ] && ok "no leftovers in the store" ||
	not_ok "leftovers: $(ls -A "$XARCH_STORE" "$XARCH_STORE/rootfs")"

# a plain directory is still a directory
check_out "a directory ROOTFS is not a source" "pid=2 ppid=1" "$XARCH" run R /bin/toolbox pid

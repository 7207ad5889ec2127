#!/bin/bash
# examples/openeuler-riscv64: the seed's base image recipe (base/Dockerfile)
# through `xarch build`, up to the repository access.  openEuler's repos and
# Docker Hub are not reachable here, so two things are stood in for:
#  - the repository: a local one made by createrepo_c (tests/rpm/mkrepo.sh)
#    with tiny packages named as the seed's (coreutils rpm dnf yum bash
#    findutils procps tar); bash is riscv64 with /bin/sh a static riscv64
#    program, coreutils riscv64 with a %post that /bin/sh runs, so the
#    install needs riscv64 emulation inside the native stage;
#  - the openeuler/openeuler image: Debian bookworm amd64 minbase with dnf
#    and rpm (made by `xarch bootstrap`, cached in /var/cache/xarch-tests;
#    skipped with the reason when the mirror does not answer), rpm's
#    database set to /var/lib/rpm as openEuler's rpm has it.
# The RUN line differs from the seed's only in the repository options
# (--repofrompath/--repo/--nogpgcheck); the riscv64 stage is as written.
# See examples/openeuler-riscv64/README.md.
. "$(dirname "$0")/lib.sh"
require_tools openeuler rpmbuild createrepo_c riscv64-linux-gnu-gcc qemu-riscv64-static skopeo readelf
[ "$(id -u)" -eq 0 ] || { skip "openeuler: needs root (RUN as a container with owners kept)"; exit 0; }
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${XARCH_TEST_CACHE:-/var/cache/xarch-tests}
export XARCH_BUILD_DIR=$TMP/state XARCH_STORE=$TMP/store
B=/proc/sys/fs/binfmt_misc
host_table() { if [ -e "$B/register" ]; then ls "$B"; else echo "not mounted"; fi; }
before=$(host_table)

# ---- the stand-in base: Debian bookworm amd64 + dnf + rpm, cached ----------------------------
base=$CACHE/debian-amd64-bookworm-dnf.tar
mkdir -p "$CACHE"
(
	flock 9
	[ -s "$base" ] && exit 0
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$MIRROR/dists/bookworm/Release")
	if [ "$code" != 200 ]; then
		echo "mirror unreachable ($MIRROR answered '${code:-nothing}' within 5 s)" >"$TMP/base.why"
		exit 1
	fi
	timeout 1200 "$XARCH" bootstrap -q --mirror "$MIRROR" --arch amd64 --suite bookworm \
		--variant minbase --include dnf,rpm "$base" >"$TMP/base.why" 2>&1
) 9>"$CACHE/.lock"
if [ ! -s "$base" ]; then
	skip "openeuler: no stand-in base $base: $(tail -3 "$TMP/base.why" | tr '\n' ' ')"
	exit 0
fi

# ---- the local repository --------------------------------------------------------------------
C=$TMP/ctx
mkdir -p "$C"
if ! bash "$XARCH_TOP/tests/rpm/mkrepo.sh" "$C/repo" "$XARCH_TOP/tests/rpm/seed/seed.spec" >"$TMP/repo.out" 2>&1; then
	not_ok "openeuler: local repository: $(cat "$TMP/repo.out")"
	exit 0
fi
ok "openeuler: local repository (createrepo_c): $(cd "$C/repo" && echo *.rpm)"

# ---- the Dockerfile: the seed's, with the base image and the repository changed --------------
seed=$XARCH_TOP/examples/openeuler-riscv64/base/Dockerfile
{
	cat <<EOF
# stand-in for openeuler/openeuler:24.03-lts
FROM tar:$base AS openeuler
RUN mkdir -p /etc/rpm && echo '%_dbpath /var/lib/rpm' > /etc/rpm/macros.dbpath
COPY repo /repo

EOF
	sed -e 's|^FROM openeuler/openeuler:24.03-lts AS build|FROM openeuler AS build|' \
		-e 's|--installroot /target \\$|--installroot /target \\\n    --repofrompath local,file:///repo --repo local --nogpgcheck \\|' "$seed"
} >"$C/Dockerfile"
# the seed's lines are all there, in order, untouched
check "openeuler: the build's Dockerfile holds every line of the seed's but FROM" \
	bash -c "diff <(grep -v '^FROM openeuler/' '$seed') <(sed -n '/^FROM openeuler AS build/,\$p' '$C/Dockerfile' | grep -v -e '^FROM openeuler AS' -e '--repofrompath')"
check_out "openeuler: ... and only the repository options added to the RUN" \
	"    --repofrompath local,file:///repo --repo local --nogpgcheck \\" cat "$C/Dockerfile"

# ---- build: riscv64 scriptlets in the native stage need riscv64 emulation there ----------------
# The build targets riscv64 (the last stage's FROM --platform), so its native stage's RUNs get
# a private riscv64 binfmt entry in their user namespace (xarch run --emulate); the host's table
# is not touched.  Plain `xarch build`, as Docker users run the seed's recipe.
X=("$XARCH" build --no-cache -o "oci:$TMP/oci" -o "dir:$TMP/out" -t oe-riscv64 "$C")
how="plain xarch build"
t0=$SECONDS
check "openeuler: xarch build of the seed's two stages ($how)" timeout 600 "${X[@]}"
cp "$TMP/.out" "$TMP/build.log"
echo "# openeuler: built in $((SECONDS - t0)) s"
check_out "openeuler: dnf installed the seed's package list" "Complete!" cat "$TMP/build.log"
check_out "openeuler: the result is linux/riscv64" '"architecture": "riscv64"' skopeo inspect --config "oci:$TMP/oci"
check_out "openeuler: ... with the seed's CMD" '"/bin/bash"' skopeo inspect --config "oci:$TMP/oci"
rpm -qa --root "$TMP/out" --dbpath /var/lib/rpm --qf '%{NAME}.%{ARCH}\n' 2>&1 | sort >"$TMP/qa"
check "openeuler: rpm -qa --root lists the 8 packages (from /var/lib/rpm)" \
	diff <(printf '%s\n' bash.riscv64 coreutils.riscv64 dnf.noarch findutils.noarch procps.noarch \
		rpm.noarch tar.noarch yum.noarch) "$TMP/qa"
check "openeuler: install_weak_deps=False left coreutils' Recommends out" test ! -e "$TMP/out/etc/xt/xt-weak"
check_out "openeuler: the coreutils %post ran under riscv64 emulation" "machine=riscv64 argc=3" \
	cat "$TMP/out/var/lib/xt-post-ran"
check_out "openeuler: ... with the scriptlet's body" "coreutils post scriptlet" cat "$TMP/out/var/lib/xt-post-ran"
check_out "openeuler: /bin/bash is a riscv64 program" "RISC-V" readelf -h "$TMP/out/bin/bash"
check "openeuler: the RUN's cleanup: no dnf cache, logs or history journals" bash -c \
	"[ -z \"\$(ls -A '$TMP/out/var/log')\" ] && [ ! -e '$TMP/out/var/cache/yum' ] &&
	 ! ls '$TMP/out/var/lib/dnf/' | grep -q 'history.sqlite-' &&
	 [ -z \"\$(find '$TMP/out/var/cache' -name '*.rpm' 2>/dev/null)\" ]"
check "openeuler: nothing of the native stage in the image (no /repo, no /usr/bin/dnf)" \
	test ! -e "$TMP/out/repo" -a ! -e "$TMP/out/usr/bin/dnf"
check_out "openeuler: xarch run of the image runs its riscv64 /bin/bash" "uid=0 gid=0" \
	"$XARCH" run --platform linux/riscv64 oe-riscv64 /bin/bash -c id
check_out "openeuler: ... emulated" "riscv64 rootfs:" \
	"$XARCH" run --verbose oe-riscv64 /bin/bash -c id
[ "$(host_table)" = "$before" ] && ok "openeuler: host binfmt_misc table unchanged" ||
	not_ok "openeuler: host binfmt_misc table changed"

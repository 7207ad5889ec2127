#!/bin/bash
# xarch bootstrap.
#  - argument errors, and the mirror check against a local HTTP server
#    serving made-up Release files (arch missing, expired Valid-Until, 404);
#  - the RPM path end to end and hermetic: two rpms built here with
#    rpmbuild (a noarch one, and a riscv64 one whose %post runs a static
#    riscv64 interpreter, so the scriptlet needs emulation), a repository
#    made by createrepo_c, `dnf --forcearch riscv64 --installroot` through
#    xarch, checked with rpm, tar and the file the scriptlet wrote;
#  - slow: Debian bookworm arm64 minbase from the real mirror (skipped with
#    the reason when the mirror does not answer within 5 s, or with
#    XARCH_TEST_SKIP_SLOW=1).
# Every case also checks that the host's binfmt_misc table is unchanged.
. "$(dirname "$0")/lib.sh"

if ! "$XARCH" bootstrap --help >/dev/null 2>&1; then
	skip "bootstrap.sh: this xarch has no 'bootstrap' command"
	exit 0
fi
B=/proc/sys/fs/binfmt_misc
host_table() { if [ -e "$B/register" ]; then ls "$B"; else echo "not mounted"; fi; }
before=$(host_table)
table_same() { [ "$(host_table)" = "$before" ]; }
# no_leftovers DIR: no work directory of a bootstrap left in DIR
no_leftovers() { ! ls -a "$1" | grep -q '^\.xarch-bootstrap-'; }

# ---- argument errors -------------------------------------------------------
check_rc "unknown distro is a usage error" 2 "$XARCH" bootstrap --distro nosuch --arch riscv64 "$TMP/x"
check_out "unknown distro names the choices" "unknown distribution 'nosuch' (debian, ubuntu" \
	"$XARCH" bootstrap --distro nosuch --arch riscv64 "$TMP/x"
check_rc "unknown arch is a usage error" 2 "$XARCH" bootstrap --arch riscv65 "$TMP/x"
check_out "unknown arch points at xarch arch" "unknown architecture 'riscv65'" \
	"$XARCH" bootstrap --arch riscv65 "$TMP/x"
check_rc "missing OUT is a usage error" 2 "$XARCH" bootstrap --arch riscv64
check_out "missing OUT says what to give" "no output given" "$XARCH" bootstrap --arch riscv64
check_rc "two outputs are a usage error" 2 "$XARCH" bootstrap --arch riscv64 "$TMP/a" "$TMP/b"
mkdir -p "$TMP/full" && touch "$TMP/full/f"
check_out "a non-empty OUT is refused" "already exists" \
	"$XARCH" bootstrap --distro rpm --arch riscv64 --releasever 1 --repo file:///nonexistent \
	--include x "$TMP/full"
check_out "rpm without --repo asks for it" "rpm needs --repo" \
	"$XARCH" bootstrap --distro rpm --arch riscv64 --releasever 1 "$TMP/x"
check_out "deb options on an rpm distro are refused" "are for Debian/Ubuntu" \
	"$XARCH" bootstrap --distro openeuler --arch riscv64 --variant minbase "$TMP/x"
check_out "--mirror on an rpm distro points at --repo" "use --repo URL" \
	"$XARCH" bootstrap --distro fedora --arch aarch64 --mirror http://x/ "$TMP/x"

# ---- the mirror check, against made-up Release files -------------------------
if command -v python3 >/dev/null; then
	m=$TMP/mirror
	mkdir -p "$m/dists/oldie" "$m/dists/frozen"
	printf 'Origin: Debian\nSuite: oldstable\nCodename: oldie\nDate: Sat, 11 Jul 2026 10:16:37 UTC\nArchitectures: all amd64 arm64 armhf\nComponents: main contrib\n' >"$m/dists/oldie/Release"
	printf 'Suite: testing\nCodename: frozen\nDate: Fri, 30 Oct 2020 08:08:01 UTC\nValid-Until: Fri, 06 Nov 2020 08:08:01 UTC\nArchitectures: all amd64 arm64 riscv64\nComponents: main\n' >"$m/dists/frozen/Release"
	port=$((20000 + RANDOM % 20000))
	(cd "$m" && exec python3 -m http.server --bind 127.0.0.1 "$port") >/dev/null 2>&1 &
	srv=$!
	on_exit "kill $srv"
	for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
	M=http://127.0.0.1:$port
	check_out "a suite without the arch is refused, naming the suite's arches" \
		"debian 'oldie' has no riscv64 packages (its architectures: all amd64 arm64 armhf); riscv64 is a release architecture from trixie on" \
		"$XARCH" bootstrap --arch riscv64 --suite oldie --mirror "$M" "$TMP/x"
	check_out "an expired index is refused with the fix" \
		"expired on 2020-11-06 08:08 UTC (Valid-Until" \
		"$XARCH" bootstrap --arch riscv64 --suite frozen --mirror "$M" "$TMP/x"
	check_out "a missing suite is a 404 with the URL" "has no suite 'nosuch'" \
		"$XARCH" bootstrap --arch arm64 --suite nosuch --mirror "$M" "$TMP/x"
	check_out "an unknown component is refused" "has no component 'non-free'" \
		"$XARCH" bootstrap --arch arm64 --suite oldie --components main,non-free --mirror "$M" "$TMP/x"
	[ -e "$TMP/x" ] && not_ok "refused bootstraps left '$TMP/x'" || ok "refused bootstraps leave no output"
	no_leftovers "$TMP" && ok "... and no work directory" || not_ok "work directory left in $TMP"
else
	skip "mirror check: python3 is not installed"
fi

# ---- RPM path, hermetic ---------------------------------------------------
rpm_path() {
	local need
	for need in dnf rpm rpmbuild createrepo_c riscv64-linux-gnu-gcc qemu-riscv64-static; do
		command -v "$need" >/dev/null || { skip "rpm path: $need is not installed"; return; }
	done
	local w=$TMP/rpm
	mkdir -p "$w/top/SPECS"
	cat >"$w/top/SPECS/xt-base.spec" <<'EOF'
Name: xt-base
Version: 1.0
Release: 1
Summary: xarch bootstrap test base
License: MIT
BuildArch: noarch
%description
test
%install
mkdir -p %{buildroot}/etc
echo "xarch test 1.0" > %{buildroot}/etc/xt-release
%files
/etc/xt-release
EOF
	cat >"$w/top/SPECS/xt-post.spec" <<'EOF'
%global debug_package %{nil}
%global __strip /bin/true
%global _build_id_links none
Name: xt-post
Version: 1.0
Release: 1
Summary: xarch bootstrap test scriptlet
License: MIT
Requires: xt-base
Source0: xt-post
%description
test
%install
mkdir -p %{buildroot}/usr/bin
install -m 755 %{SOURCE0} %{buildroot}/usr/bin/xt-post
%files
/usr/bin/xt-post
%post -p /usr/bin/xt-post
hello from post
EOF
	# the riscv64 scriptlet interpreter (xt-post) and the repo: tests/rpm/mkrepo.sh
	local why
	why=$(bash "$XARCH_TOP/tests/rpm/mkrepo.sh" "$w/repo" "$w/top/SPECS/xt-base.spec" \
		"$w/top/SPECS/xt-post.spec" 2>&1) || { not_ok "rpm path: fixtures: $why"; return; }
	ok "rpm path: fixtures built (noarch + riscv64 rpm, createrepo_c)"

	local out=$TMP/out/oe
	mkdir -p "$TMP/out"
	local args=(--distro rpm --arch riscv64 --releasever 1 --repo "file://$w/repo" --no-gpgcheck)
	check "rpm path: bootstrap a riscv64 rootfs directory" \
		"$XARCH" bootstrap "${args[@]}" --include xt-post "$out"
	check_out "rpm path: dependency installed (noarch)" "xarch test 1.0" cat "$out/etc/xt-release"
	check_out "rpm path: the riscv64 %post ran, emulated" "machine=riscv64 argc=3" \
		cat "$out/var/lib/xt-post-ran"
	check_out "rpm path: ... with the scriptlet's body" "hello from post" cat "$out/var/lib/xt-post-ran"
	check_out "rpm path: the rpm database is where the target's rpm looks (/var/lib/rpm)" \
		"xt-post-1.0-1.riscv64" rpm --root "$out" --dbpath /var/lib/rpm -qa
	check_out "rpm path: the binary is riscv64" "RISC-V" readelf -h "$out/usr/bin/xt-post"
	check "rpm path: dnf's cache was cleaned" test -z "$(find "$out/var/cache/dnf" -name '*.rpm' 2>/dev/null)"
	check_out "rpm path: the summary names the Dockerfile line" "FROM dir:$out" \
		"$XARCH" bootstrap "${args[@]}" --include xt-post "$TMP/out/oe2"

	# tar output, --json, -q, owned by the sudo user
	SUDO_UID=65534 SUDO_GID=65534 "$XARCH" bootstrap -q --json "${args[@]}" --include xt-post \
		"$TMP/out/oe.tar.gz" >"$TMP/json" 2>"$TMP/err"
	check "rpm path: tarball output" test -s "$TMP/out/oe.tar.gz"
	check "rpm path: -q prints no tool output" test ! -s "$TMP/err"
	check_out "rpm path: --json counts the packages" '"packages": 2' cat "$TMP/json"
	check_out "rpm path: --json names arch and distro" '"arch": "riscv64"' cat "$TMP/json"
	check_out "rpm path: --json has the Dockerfile line" "\"dockerfile\": \"FROM tar:$TMP/out/oe.tar.gz\"" cat "$TMP/json"
	check_out "rpm path: --json size is the tarball's" "\"size\": $(stat -c %s "$TMP/out/oe.tar.gz")," cat "$TMP/json"
	check_out "rpm path: the tar holds the riscv64 binary owned by root" "-rwxr-xr-x 0/0" \
		sh -c "tar -tvzf '$TMP/out/oe.tar.gz' --numeric-owner ./usr/bin/xt-post"
	if [ "$(id -u)" -eq 0 ]; then
		check_out "rpm path: the tarball belongs to SUDO_UID:SUDO_GID" "65534:65534" \
			stat -c %u:%g "$TMP/out/oe.tar.gz"
	fi

	# failure: nothing half-written, and the tool's output shown under -q
	check_rc "rpm path: a missing package fails" 1 \
		"$XARCH" bootstrap -q "${args[@]}" --include no-such-package "$TMP/out/bad"
	cp "$TMP/.out" "$TMP/bad.out"
	check_out "rpm path: -q shows the tool's output on failure" "no-such-package" cat "$TMP/bad.out"
	check "rpm path: ... and leaves no output" test ! -e "$TMP/out/bad"
	no_leftovers "$TMP/out" && ok "rpm path: ... and no work directory" ||
		not_ok "rpm path: work directory left in $TMP/out"
	table_same && ok "rpm path: host binfmt_misc table unchanged" ||
		not_ok "rpm path: host binfmt_misc table changed"

	# rootless: dnf runs as root of a user namespace, the scriptlet emulated
	local u
	if [ "$(id -u)" -eq 0 ] && u=$(unpriv_user); then
		mkdir -p "$TMP/rl" && chown "$u" "$TMP/rl"
		check "rpm path, rootless ($u): bootstrap" as_user "$u" env PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			"$XARCH" bootstrap -q "${args[@]}" --include xt-post "$TMP/rl/oe"
		check_out "rpm path, rootless: the %post ran emulated" "machine=riscv64" \
			cat "$TMP/rl/oe/var/lib/xt-post-ran"
		check_out "rpm path, rootless: the tree is the user's" "$u" stat -c %U "$TMP/rl/oe/usr/bin/xt-post"
	fi
}
rpm_path

# ---- Debian, slow, from the mirror -------------------------------------------
deb_path() {
	if [ -n "${XARCH_TEST_SKIP_SLOW:-}" ]; then
		skip "debian path: XARCH_TEST_SKIP_SLOW is set"
		return
	fi
	command -v mmdebstrap >/dev/null || { skip "debian path: mmdebstrap is not installed"; return; }
	local mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian} code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$mirror/dists/bookworm/Release")
	if [ "$code" != 200 ]; then
		skip "debian path: mirror unreachable ($mirror answered '${code:-nothing}' within 5 s)"
		return
	fi
	local out=$TMP/deb/arm64.tar
	mkdir -p "$TMP/deb"
	local t0=$SECONDS
	timeout --kill-after=10 800 "$XARCH" bootstrap -q --json --mirror "$mirror" --arch arm64 \
		--suite bookworm --variant minbase "$out" >"$TMP/deb.json" 2>"$TMP/deb.err"
	local rc=$?
	if [ $rc -ne 0 ]; then
		not_ok "debian path: bookworm arm64 minbase (exit $rc)"
		sed 's/^/#   /' "$TMP/deb.err" | tail -20
		return
	fi
	ok "debian path: bookworm arm64 minbase tarball ($((SECONDS - t0)) s)"
	check_out "debian path: it is Debian 12" "VERSION_CODENAME=bookworm" \
		tar -xOf "$out" ./usr/lib/os-release
	check_out "debian path: an arm64 dpkg" "arm64" tar -xOf "$out" ./var/lib/dpkg/arch
	tar -xOf "$out" ./usr/bin/dpkg >"$TMP/dpkg" 2>/dev/null
	check_out "debian path: binaries are aarch64" "AArch64" readelf -h "$TMP/dpkg"
	check "debian path: no qemu left inside" sh -c "! tar -tf '$out' | grep qemu-"
	local n
	n=$(sed -n 's/.*"packages": \([0-9]*\).*/\1/p' "$TMP/deb.json")
	[ "${n:-0}" -gt 50 ] && ok "debian path: --json counts $n packages" ||
		not_ok "debian path: package count '${n:-}'"
	check_out "debian path: --json codename" '"codename": "bookworm"' cat "$TMP/deb.json"
	table_same && ok "debian path: host binfmt_misc table unchanged" ||
		not_ok "debian path: host binfmt_misc table changed"

	# SIGTERM in the middle: mmdebstrap is stopped, nothing is left
	"$XARCH" bootstrap -q --mirror "$mirror" --arch arm64 --suite bookworm --variant minbase \
		"$TMP/deb/int.tar" >"$TMP/int.out" 2>&1 &
	local p=$!
	sleep 10
	kill -TERM $p
	wait $p
	rc=$?
	[ $rc -ne 0 ] && ok "debian path: SIGTERM stops the bootstrap (exit $rc)" ||
		not_ok "debian path: SIGTERM did not stop it"
	check_out "debian path: ... and says so" "interrupted (Terminated)" cat "$TMP/int.out"
	check "debian path: ... no output" test ! -e "$TMP/deb/int.tar"
	no_leftovers "$TMP/deb" && ok "debian path: ... no work directory" ||
		not_ok "debian path: work directory left"
	check "debian path: ... no mmdebstrap left running" sh -c "! pgrep -f '[m]mdebstrap.*$TMP/deb/int'"
}
deb_path

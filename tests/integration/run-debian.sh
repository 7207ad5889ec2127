#!/bin/bash
# xarch run with a real Debian arm64 root filesystem: apt-get installs and
# runs a package under emulation, as root, rootless through /etc/subuid
# ranges, and with --ephemeral (which must leave the tree as it was).
#
# The rootfs is a Debian bookworm arm64 minbase tarball cached in
# $XARCH_TEST_CACHE (default /var/cache/xarch-tests), made once with
# mmdebstrap (about 2.5 minutes; the host binfmt_misc entry xarch-aarch64 is
# added for that and removed again).  apt needs the Debian mirror; when it
# is unreachable the test prints "skip - mirror unreachable: ..." and passes.
# Every unpacked tree lives under /var/tmp and is removed at the end.
#
# Optional (XARCH_TEST_RISCV64=1): the same apt test with a riscv64 rootfs
# from Debian forky, cached the same way; skipped with the reason when the
# mirror or mmdebstrap fails.
#
# Root only (it unpacks rootfs tarballs with their owners and edits
# /etc/subuid and /etc/subgid, restored afterwards).
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "run-debian.sh: needs root (unpacks rootfs tarballs with their owners)"
	exit 0
fi
if ! "$XARCH" run --help >/dev/null 2>&1; then
	skip "run-debian.sh: this xarch has no working 'run' command ($XARCH)"
	exit 0
fi
CACHE=${XARCH_TEST_CACHE:-/var/cache/xarch-tests}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
B=/proc/sys/fs/binfmt_misc
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
APT_HELLO='apt-get update && apt-get install -y hello && hello'
t_start=$(date +%s)

# last_has DESC WANT: the previous check's output contains WANT
last_has() {
	if grep -qF -- "$2" "$TMP/.out"; then ok "$1"; else
		not_ok "$1 (want '$2')"; sed 's/^/#   /' "$TMP/.out" | tail -20; fi
}
# xrun ARGS...: xarch run as root with a time limit, output in $TMP/.out
xrun() { timeout --kill-after=10 "$RUN_TIMEOUT" "$XARCH" run "$@" >"$TMP/.out" 2>&1; }
# took SECONDS-SINCE: "(Ns)"
took() { echo "($(($(date +%s) - $1))s)"; }
# snapshot of the host binfmt_misc table: "not mounted" or names + contents
host_table() {
	if [ -e "$B/register" ]; then
		for f in "$B"/*; do [ "${f##*/}" = register ] || { echo "== $f"; cat "$f"; }; done
	else
		echo "not mounted"
	fi
}
# listing DIR: every path with type, mode, owner, size, mtime, link target
listing() { (cd "$1" && find . -printf '%p %y %m %U:%G %s %T@ %l\n' | LC_ALL=C sort); }

# mirror_ok SUITE: the mirror answers for SUITE, else prints why
mirror_ok() {
	local out
	out=$(curl -sSI --max-time 10 "$MIRROR/dists/$1/Release" 2>&1 | head -1)
	case $out in
	HTTP/*\ 200*) return 0 ;;
	*) echo "${out:-no answer}"; return 1 ;;
	esac
}

# make_tarball FILE DEBARCH XARCH-ARCH SUITE [MMDEBSTRAP-OPTIONS...]: build
# the cached minbase tarball (under a lock, atomically); prints the reason on
# failure
make_tarball() {
	local file=$1 darch=$2 xa=$3 suite=$4 added=0 mounted=0 rc
	shift 4
	mkdir -p "$CACHE" || return 1
	(
		flock 9
		[ -s "$file" ] && exit 0
		[ -e "$B/register" ] && mounted=1
		# mmdebstrap runs the foreign maintainer scripts through binfmt_misc
		if ! [ -e "$B/xarch-$xa" ]; then
			"$XARCH" binfmt install "$xa" >"$TMP/binfmt.out" 2>&1 && added=1
		fi
		mmdebstrap --quiet --format=tar --variant=minbase --arch="$darch" --include=ca-certificates \
			"$@" "$suite" "$file.tmp" "$MIRROR" >"$TMP/mmdebstrap.out" 2>&1
		rc=$?
		[ "$added" = 1 ] && "$XARCH" binfmt remove "$xa" >/dev/null 2>&1
		[ "$mounted" = 1 ] || ! [ -e "$B/register" ] || umount "$B"
		if [ "$rc" -ne 0 ]; then
			rm -f "$file.tmp"
			echo "mmdebstrap failed: $(grep -v '^$' "$TMP/mmdebstrap.out" | tail -2 | tr '\n' ' ')"
			exit 1
		fi
		mv "$file.tmp" "$file"
	) 9>"$CACHE/.lock"
}

# unpack TARBALL: a fresh tree under /var/tmp (removed at exit) in $R
unpack() {
	local d
	d=$(mktemp -d /var/tmp/xarch-run-debian.XXXXXX) || return 1
	on_exit "rm -rf '$d'"
	chmod 755 "$d"
	R=$d/root
	mkdir "$R" && tar --numeric-owner -xpf "$1" -C "$R"
}

if ! why=$(mirror_ok bookworm); then
	skip "mirror unreachable: $MIRROR/dists/bookworm/Release: $why"
	exit 0
fi
tarball=$CACHE/debian-arm64-bookworm.tar
if ! [ -s "$tarball" ]; then
	t=$(date +%s)
	if ! command -v mmdebstrap >/dev/null 2>&1; then
		skip "run-debian.sh: no $tarball and no mmdebstrap (apt-get install mmdebstrap)"
		exit 0
	fi
	if why=$(make_tarball "$tarball" arm64 aarch64 bookworm); then
		ok "made the cached Debian arm64 rootfs $tarball $(took "$t")"
	else
		# the mirror answered a moment ago: a download failure is still the mirror's
		skip "mirror unreachable or failing: could not make $tarball: $why"
		exit 0
	fi
fi
table_before=$(host_table)

# --- (c) --ephemeral: apt-get install leaves the tree unchanged ---------------
unpack "$tarball" || { not_ok "unpack $tarball"; exit 1; }
ok "unpacked $tarball into $R"
listing "$R" >"$TMP/before.lst"
sum_resolv=$(sha256sum <"$R/etc/resolv.conf")
stat_resolv=$(stat -c '%F %a %u:%g %s %Y' "$R/etc/resolv.conf")
t=$(date +%s)
xrun --ephemeral "$R" -- sh -c "$APT_HELLO"
rc=$?
if [ "$rc" -eq 0 ] && grep -qx 'Hello, world!' "$TMP/.out"; then
	ok "--ephemeral: apt-get install hello && hello prints 'Hello, world!' $(took "$t")"
else
	not_ok "--ephemeral: apt-get install hello (exit $rc) $(took "$t")"
	sed 's/^/#   /' "$TMP/.out" | tail -20
fi
listing "$R" >"$TMP/after.lst"
if cmp -s "$TMP/before.lst" "$TMP/after.lst"; then
	ok "--ephemeral: the rootfs is unchanged ($(wc -l <"$TMP/before.lst") paths compared)"
else
	not_ok "--ephemeral: the rootfs changed"
	diff "$TMP/before.lst" "$TMP/after.lst" | head -20 | sed 's/^/#   /'
fi
check "--ephemeral: hello is not installed afterwards" test ! -e "$R/usr/bin/hello"

# --- (a) as root: apt-get install persists ------------------------------------
check_out "uname -m inside is aarch64" "aarch64" xrun "$R" -- uname -m
[ "$(tr -d '\n' <"$TMP/.out")" = aarch64 ] && ok "uname -m prints exactly 'aarch64'" ||
	{ not_ok "uname -m prints '$(head -c 200 "$TMP/.out")'"; }
xrun "$R" -- cat /etc/os-release
last_has "/etc/os-release inside is bookworm" "VERSION_CODENAME=bookworm"
t=$(date +%s)
xrun "$R" -- sh -c "$APT_HELLO"
rc=$?
if [ "$rc" -eq 0 ] && grep -qx 'Hello, world!' "$TMP/.out"; then
	ok "root: apt-get update && apt-get install -y hello && hello prints 'Hello, world!' $(took "$t")"
else
	not_ok "root: apt-get install hello (exit $rc) $(took "$t")"
	sed 's/^/#   /' "$TMP/.out" | tail -20
fi
check "root: hello stays installed in the rootfs" test -x "$R/usr/bin/hello"
check_out "root: hello runs again from the rootfs" "Hello, world!" xrun "$R" -- hello
if [ "$(sha256sum <"$R/etc/resolv.conf")" = "$sum_resolv" ] &&
	[ "$(stat -c '%F %a %u:%g %s %Y' "$R/etc/resolv.conf")" = "$stat_resolv" ]; then
	ok "root: the rootfs's /etc/resolv.conf on disk is unchanged"
else
	not_ok "root: the rootfs's /etc/resolv.conf changed ($stat_resolv -> $(stat -c '%F %a %u:%g %s %Y' "$R/etc/resolv.conf"))"
fi
check_rc "root: the command's exit status comes back" 7 xrun "$R" -- sh -c 'exit 7'
rm -rf "${R%/root}"

# --- (b) rootless, with /etc/subuid and /etc/subgid ranges --------------------
# The tree is unpacked as root and then shifted to the ids the container's
# user namespace maps: xarch maps the caller as container root and the
# subordinate range from container id 1 on, so host id = START + id - 1 for
# container ids >= 1 and the user's own uid/gid for 0.  chown clears setuid
# and setgid bits, so the mode is set again afterwards.
if ! user=$(unpriv_user); then
	skip "rootless: cannot create an unprivileged user"
elif ! command -v newuidmap >/dev/null 2>&1 || ! command -v newgidmap >/dev/null 2>&1; then
	skip "rootless: newuidmap/newgidmap missing (apt-get install uidmap)"
elif ! command -v python3 >/dev/null 2>&1; then
	skip "rootless: python3 missing (shifts the rootfs's owners)"
else
	uid=$(id -u "$user") gid=$(id -g "$user")
	# Other tests (run-rootless.sh) edit these files too, maybe at the same
	# time: a range the user already has in both files is used as it is;
	# otherwise one line is appended, above every existing range, and at
	# exit exactly that line is deleted again (restoring a whole backup
	# would undo the other test's edits).  The backups stay in $TMP while
	# the test runs, for the record.
	for f in /etc/subuid /etc/subgid; do [ -e "$f" ] && cp -p "$f" "$TMP/${f##*/}.orig"; done
	first_range() { awk -F: -v u="$user" -v id="$2" '($1 == u || $1 == id) && NF >= 3 {print $2, $3; exit}' "$1" 2>/dev/null; }
	read -r su nu <<<"$(first_range /etc/subuid "$uid")"
	read -r sg ng <<<"$(first_range /etc/subgid "$gid")"
	if [ -n "${su:-}" ] && [ "$su" = "${sg:-}" ] && [ "${nu:-0}" -ge 65536 ] && [ "${ng:-0}" -ge 65536 ]; then
		start=$su
		ok "rootless: using $user's existing range $start:$nu"
	elif [ -n "${su:-}${sg:-}" ]; then
		skip "rootless: $user already has subordinate ids that this test cannot use (uid ${su:-none}:${nu:-}, gid ${sg:-none}:${ng:-})"
		start=""
	else
		start=$(cat /etc/subuid /etc/subgid 2>/dev/null |
			awk -F: 'NF >= 3 {e = $2 + $3; if (e > m) m = e} END {m = (m < 400000) ? 400000 : m;
				print int((m + 65535) / 65536) * 65536}')
		line="$user:$start:65536"
		for f in /etc/subuid /etc/subgid; do
			[ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ] && echo >>"$f"
			echo "$line" >>"$f" && on_exit "sed -i '\\|^$line\$|d' $f"
		done
	fi
fi
if [ -n "${start:-}" ]; then
	unpack "$tarball" || { not_ok "unpack $tarball"; exit 1; }
	python3 - "$R" "$uid" "$gid" "$start" <<'EOF'
import os, stat, sys
root, uid, gid, start = sys.argv[1], *map(int, sys.argv[2:])
shift = lambda i, own: own if i == 0 else start + i - 1
def fix(p):
    st = os.lstat(p)
    os.lchown(p, shift(st.st_uid, uid), shift(st.st_gid, gid))
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(p, stat.S_IMODE(st.st_mode))
fix(root)
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        fix(os.path.join(d, n))
EOF
	[ $? -eq 0 ] && ok "rootless: rootfs shifted to $user's ids (0 -> $uid, 1.. -> $start..)" ||
		not_ok "rootless: shifting the rootfs's owners"
	cp "$XARCH" "$TMP/xarch" && chmod 755 "$TMP/xarch"
	urun() {
		(cd / && timeout --kill-after=10 "$RUN_TIMEOUT" \
			setpriv --reuid="$user" --regid="$user" --init-groups --reset-env -- \
			"$TMP/xarch" run "$@") >"$TMP/.out" 2>&1
	}
	urun "$R" -- id
	last_has "rootless: $user is root in the container" "uid=0(root) gid=0(root)"
	urun "$R" -- sh -c 'stat -c %u:%g /usr/bin/apt-get /var/cache/apt/archives/partial; cat /proc/self/uid_map'
	last_has "rootless: the rootfs's files appear owned by root" "0:0"
	last_has "rootless: _apt's files keep their owner (subordinate ids mapped)" "42:0"
	t=$(date +%s)
	urun "$R" -- sh -c "$APT_HELLO"
	rc=$?
	if [ "$rc" -eq 0 ] && grep -qx 'Hello, world!' "$TMP/.out"; then
		ok "rootless: apt-get update && apt-get install -y hello && hello prints 'Hello, world!' $(took "$t")"
	else
		not_ok "rootless: apt-get install hello (exit $rc) $(took "$t")"
		sed 's/^/#   /' "$TMP/.out" | tail -20
	fi
	if [ "$(stat -c %u "$R/usr/bin/hello" 2>/dev/null)" = "$uid" ]; then
		ok "rootless: /usr/bin/hello on disk belongs to $user (container root)"
	else
		not_ok "rootless: /usr/bin/hello on disk: $(stat -c '%u:%g' "$R/usr/bin/hello" 2>&1)"
	fi
	rm -rf "${R%/root}"
fi

# --- optional: riscv64 from forky ---------------------------------------------
if [ "${XARCH_TEST_RISCV64:-0}" = 1 ]; then
	rv=$CACHE/debian-riscv64-forky.tar
	if ! why=$(mirror_ok forky); then
		skip "riscv64: mirror unreachable for forky: $why"
	elif ! [ -s "$rv" ] &&
		! why=$(make_tarball "$rv" riscv64 riscv64 forky --aptopt='Acquire::Check-Valid-Until "false"'); then
		skip "riscv64: could not make the forky rootfs: $why"
	else
		unpack "$rv" || { not_ok "unpack $rv"; exit 1; }
		t=$(date +%s)
		xrun "$R" -- sh -c "uname -m && $APT_HELLO"
		rc=$?
		if [ "$rc" -eq 0 ] && grep -qx riscv64 "$TMP/.out" && grep -qx 'Hello, world!' "$TMP/.out"; then
			ok "riscv64 forky: apt-get install hello && hello $(took "$t")"
		elif grep -qE '^(E|Err):.*(Release|Hash Sum|Size mismatch|not valid yet|expired)' "$TMP/.out"; then
			skip "riscv64: the forky mirror is out of sync: $(grep -E '^(E|Err):' "$TMP/.out" | head -1)"
		else
			not_ok "riscv64 forky: apt-get install hello (exit $rc) $(took "$t")"
			sed 's/^/#   /' "$TMP/.out" | tail -20
		fi
		rm -rf "${R%/root}"
	fi
fi

# --- the host binfmt_misc table is as it was ----------------------------------
if [ "$(host_table)" = "$table_before" ]; then
	ok "the host's binfmt_misc table is as before"
else
	not_ok "the host's binfmt_misc table changed"
	diff <(echo "$table_before") <(host_table) | head -10 | sed 's/^/#   /'
fi
echo "# run-debian.sh took $(($(date +%s) - t_start))s"

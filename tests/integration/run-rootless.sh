#!/bin/bash
# xarch run as an unprivileged user: root inside a user namespace, with the
# /etc/subuid ranges (through newuidmap/newgidmap) and without them (one
# id, one warning).  The same hermetic rootfs as run.sh, owned by the user.
# As root the test uses the xarch-test account and adds a subuid/subgid
# line for it when it has none, removing exactly that line afterwards.
. "$(dirname "$0")/lib.sh"

MK="$XARCH_TOP/tests/rootfs/mkrootfs.sh"
B=/proc/sys/fs/binfmt_misc
if [ "$(id -u)" -eq 0 ]; then
	user=$(unpriv_user) || { skip "run-rootless.sh: cannot create an unprivileged user"; exit 0; }
	U() { as_user "$user" "$@"; }
	# in the background with $! the pid of xarch itself (setpriv execs it)
	U_bg() { setpriv --reuid="$user" --regid="$user" --init-groups --reset-env -- "$@" & }
else
	user=$(id -un)
	U() { "$@"; }
	U_bg() { "$@" & }
fi
"$XARCH" run --help >/dev/null 2>&1 || { not_ok "xarch has no 'run' command"; exit 1; }
cp "$XARCH" "$TMP/xarch" && chmod 755 "$TMP/xarch"
X=$TMP/xarch
a=
for c in riscv64 aarch64; do
	"$MK" "$c" "$TMP/root" >"$TMP/mk.out" 2>&1 && { a=$c; break; }
	rm -rf "$TMP/root"
done
[ -n "$a" ] || { skip "run-rootless.sh: no cross compiler ($(tail -1 "$TMP/mk.out"))"; exit 0; }
R=$TMP/root
mkdir -p "$TMP/vol" && echo host-data >"$TMP/vol/in"
[ "$(id -u)" -eq 0 ] && chown -R "$user:" "$R" "$TMP/vol"
# the user's home may not exist: keep tools off it
export HOME=$TMP

host_table() {
	if [ -e "$B/register" ]; then
		for f in "$B"/*; do [ "${f##*/}" = register ] || { echo "== $f"; cat "$f"; }; done
	else echo "not mounted"; fi
}
our_mounts() { grep -F -e "$TMP" -e binfmt_misc /proc/self/mountinfo | cut -d' ' -f4- | sort; }
tree_sum() { (cd "$1" && find . -printf '%p %y %m %U %G %s %l\n' | sort && find . -type f -exec md5sum {} + | sort); }
mounts0=$(our_mounts)
table0=$(host_table)

# Does this kernel/config let the user make namespaces at all?
if ! U "$X" run "$R" /bin/toolbox pid >"$TMP/probe.out" 2>&1; then
	if grep -q "cannot create a user namespace" "$TMP/probe.out"; then
		ok "no user namespaces is explained: $(head -1 "$TMP/probe.out")"
		skip "run-rootless.sh: $(head -1 "$TMP/probe.out")"
		exit 0
	fi
fi

# core checks, $1 names the mode
core() {
	local m=$1; shift
	check_out "$m: PID 2 under the init" "pid=2 ppid=1" U "$@" "$R" /bin/toolbox pid
	check_out "$m: --no-init: PID 1" "pid=1 ppid=0" U "$@" --no-init "$R" /bin/toolbox pid
	check_out "$m: root inside" "uid=0 gid=0 euid=0" U "$@" "$R" /bin/toolbox id
	check_out "$m: dynamic binary" "uid=0" U "$@" "$R" /bin/toolbox-dyn id
	check_rc "$m: exit status" 5 U "$@" "$R" /bin/toolbox exit 5
	check_rc "$m: missing command 127" 127 U "$@" "$R" /bin/missing
	check_out "$m: -e and HOME" "HOME=/root" U "$@" -e X=1 "$R" /bin/toolbox env HOME
	check_out "$m: -w" "cwd=/srv" U "$@" -w /srv "$R" /bin/toolbox cwd
	check_out "$m: hostname" "hostname=rl" U "$@" --hostname rl "$R" /bin/toolbox hostname
	check_out "$m: /dev/null" "/dev/null chr mode=666" U "$@" "$R" /bin/toolbox stat /dev/null
	check "$m: write /dev/null" U "$@" "$R" /bin/toolbox write /dev/null x
	check_out "$m: /dev/pts" "ptmx" U "$@" "$R" /bin/toolbox ls /dev/pts
	check_out "$m: fresh /proc" "$(printf 'NSpid:\t1')" U "$@" "$R" /bin/toolbox cat /proc/1/status
	check_out "$m: volume" "host-data" U "$@" -v "$TMP/vol:/mnt/v" "$R" /bin/toolbox cat /mnt/v/in
	check_rc "$m: ro volume" 1 U "$@" -v "$TMP/vol:/mnt/v:ro" "$R" /bin/toolbox write /mnt/v/o x
	check "$m: rw volume" U "$@" -v "$TMP/vol:/mnt/v" "$R" /bin/toolbox write /mnt/v/o-$m x
	[ -e "$TMP/vol/o-$m" ] && ok "$m: ... on the host" || not_ok "$m: rw volume write missing"
	local s0; s0=$(tree_sum "$R")
	check "$m: --ephemeral write" U "$@" --ephemeral "$R" /bin/toolbox write /etc/passwd x
	[ "$s0" = "$(tree_sum "$R")" ] && ok "$m: --ephemeral left the tree byte-identical" ||
		not_ok "$m: --ephemeral changed the tree"
	check_rc "$m: --readonly" 1 U "$@" --readonly "$R" /bin/toolbox write /etc/x y
	check_out "$m: --network none" "lo" U "$@" --network none "$R" /bin/toolbox ls /sys/class/net
	U_bg "$@" "$R" /bin/toolbox sleep 30 >/dev/null 2>&1; local p=$!
	sleep 0.5; kill -TERM $p; wait $p; local rc=$?
	[ $rc -eq 143 ] && ok "$m: SIGTERM tears down (143)" || not_ok "$m: SIGTERM exit $rc"
	U_bg "$@" "$R" /bin/toolbox sleep 1 >/dev/null 2>&1; local p1=$!
	U "$@" "$R" /bin/toolbox pid >"$TMP/c.out" 2>&1
	wait $p1 && grep -q pid=1 "$TMP/c.out" && ok "$m: two concurrent runs" || not_ok "$m: concurrent"
}

# --- with subordinate ids ---------------------------------------------------------
added=
if [ "$(id -u)" -eq 0 ]; then
	uid=$(id -u "$user")
	if ! grep -q "^$user:" /etc/subuid 2>/dev/null || ! grep -q "^$user:" /etc/subgid 2>/dev/null; then
		line="$user:1410065408:65536"
		for f in /etc/subuid /etc/subgid; do grep -q "^$user:" "$f" 2>/dev/null || { echo "$line" >>"$f"; added="$added $f"; }; done
		# remove exactly our line (other tests may edit the files meanwhile)
		on_exit "for f in $added; do sed -i '\\|^$line\$|d' \$f; done"
	fi
fi
if grep -q "^$user:" /etc/subuid 2>/dev/null && command -v newuidmap >/dev/null; then
	U "$X" run --verbose "$R" /bin/toolbox pid >"$TMP/v.out" 2>&1
	check_out "ranges: verbose names the mapping" "subordinate ids from" cat "$TMP/v.out"
	! grep -q "warning" "$TMP/v.out" && ok "ranges: no warning" || not_ok "ranges: unexpected warning"
	core ranges "$X" run
	check_out "ranges: -u alice" "uid=1000 gid=1000 euid=1000 groups=50,1000" U "$X" run -u alice "$R" /bin/toolbox id
	check "ranges: chown to another id works (package managers)" \
		U "$X" run "$R" /bin/toolbox chown /tmp 100 100
	check_out "ranges: files of the user are root's inside" "/bin/toolbox reg mode=755 uid=0" \
		U "$X" run "$R" /bin/toolbox stat /bin/toolbox
else
	skip "rootless with ranges: no /etc/subuid entry for $user or no newuidmap"
fi

# --- without: no newuidmap on PATH, so a single id -----------------------------------
S=(env PATH=/nonexistent "$X")
U "${S[@]}" run --qemu-dir /usr/bin "$R" /bin/toolbox pid >"$TMP/s.out" 2>&1
check_out "single id: one warning line says what will not work" "package managers that chown" cat "$TMP/s.out"
[ "$(grep -c warning "$TMP/s.out")" -eq 1 ] && ok "single id: exactly one warning line" ||
	{ not_ok "single id: warning lines"; cat "$TMP/s.out"; }
check_out "single id: runs" "pid=1" cat "$TMP/s.out"
core single "${S[@]}" run --qemu-dir /usr/bin
check_rc "single id: chown to an unmapped id fails" 1 U "${S[@]}" run --qemu-dir /usr/bin "$R" /bin/toolbox chown /tmp 100 100
check_out "single id: -u alice explains" "only root is mapped" U "${S[@]}" run --qemu-dir /usr/bin -u alice "$R" /bin/toolbox id

[ "$mounts0" = "$(our_mounts)" ] && ok "no mounts left in the host namespace" || not_ok "mounts left behind"
[ "$table0" = "$(host_table)" ] && ok "host binfmt_misc table unchanged" || not_ok "host table changed"
sleep 0.3
pgrep -u "$user" -f "$TMP.* /bin/toolbox sleep" >/dev/null && { not_ok "processes left"; pgrep -a -u "$user" -f "toolbox sleep"; } ||
	ok "no container processes left"

#!/bin/bash
# xarch run as root with hermetic, shell-less rootfs trees (tests/rootfs/
# mkrootfs.sh: a static and a dynamic toolbox cross-compiled for riscv64 and
# aarch64, the toolchain's ld.so and libc, passwd and group).  The kernel is
# the oracle: the guest reports its pid, ids, cwd, hostname and files; the
# host's mountinfo, binfmt_misc table and file tree must be unchanged.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip "run.sh: needs root (run-rootless.sh covers unprivileged users)"
	exit 0
fi
"$XARCH" run --help >/dev/null 2>&1 || { not_ok "xarch has no 'run' command"; exit 1; }
MK="$XARCH_TOP/tests/rootfs/mkrootfs.sh"
X=$XARCH
B=/proc/sys/fs/binfmt_misc

arches=()
for a in riscv64 aarch64; do
	if "$MK" "$a" "$TMP/root-$a" >"$TMP/mk.out" 2>&1; then arches+=("$a"); else
		skip "no $a rootfs: $(tail -1 "$TMP/mk.out")"; fi
done
[ "${#arches[@]}" -gt 0 ] || { skip "run.sh: no cross compilers"; exit 0; }
a=${arches[0]}
R=$TMP/root-$a

host_table() {
	if [ -e "$B/register" ]; then
		for f in "$B"/*; do [ "${f##*/}" = register ] || { echo "== $f"; cat "$f"; }; done
	else echo "not mounted"; fi
}
# our mounts would be on paths under $TMP or a binfmt_misc instance
our_mounts() { grep -F -e "$TMP" -e binfmt_misc /proc/self/mountinfo | cut -d' ' -f4- | sort; }
tree_sum() { (cd "$1" && find . -printf '%p %y %m %U %G %s %l\n' | sort && find . -type f -exec md5sum {} + | sort); }
mounts0=$(our_mounts)
table0=$(host_table)

# --- basics ------------------------------------------------------------------
for b in "${arches[@]}"; do
	# emulated: xarch's minimal init is PID 1 and the command PID 2
	check_out "$b: static toolbox runs as PID 2 under the init" "pid=2 ppid=1" \
		"$X" run "$TMP/root-$b" /bin/toolbox pid
	check_out "$b: --no-init: the command is PID 1" "pid=1 ppid=0" \
		"$X" run --no-init "$TMP/root-$b" /bin/toolbox pid
	# qemu re-raises a guest's fatal signal on itself, which a PID 1 ignores
	check_rc "$b: a command killed by its own SIGSEGV gives 139" 139 \
		timeout 20 "$X" run "$TMP/root-$b" /bin/toolbox kill 11
	check_rc "$b: ... and by SIGABRT 134" 134 timeout 20 "$X" run "$TMP/root-$b" /bin/toolbox kill 6
	check_out "$b: dynamic toolbox (rootfs ld.so + libc)" "uid=0 gid=0" \
		"$X" run "$TMP/root-$b" /bin/toolbox-dyn id
done
check_rc "exit status is passed on" 7 "$X" run "$R" /bin/toolbox exit 7
check_rc "a child killed by SIGKILL: 128+9 through PID 1" 137 "$X" run "$R" /bin/toolbox spawn-kill 9
check_out "PATH lookup inside the rootfs" "cwd=/root" "$X" run "$R" toolbox cwd
check_rc "a missing command gives 127" 127 "$X" run "$R" /bin/nothing-here
check_out "... with a message" "cannot run '/bin/nothing-here'" "$X" run "$R" /bin/nothing-here
check_rc "-- before the command" 3 "$X" run "$R" -- /bin/toolbox exit 3

# --- environment ---------------------------------------------------------------
"$X" run "$R" /bin/toolbox env >"$TMP/env.out" 2>&1
for want in "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME=/root \
	HOSTNAME=xarch container=xarch; do
	grep -qxF "$want" "$TMP/env.out" && ok "default env $want" || { not_ok "default env $want"; cat "$TMP/env.out"; }
done
! grep -q '^TERM=' "$TMP/env.out" && ok "no TERM without -t" || not_ok "TERM set without -t"
check_out "-e KEY=VALUE" "FOO=bar baz" "$X" run -e "FOO=bar baz" "$R" /bin/toolbox env FOO
check_out "-e KEY takes the caller's value" "XT_HOSTVAR=from-host" \
	env XT_HOSTVAR=from-host "$X" run -e XT_HOSTVAR "$R" /bin/toolbox env XT_HOSTVAR
check_out "-e overrides PATH" "PATH=/bin" "$X" run -e PATH=/bin "$R" /bin/toolbox env PATH
printf '# comment\n\nA1=one\nA2=two=2\n' >"$TMP/envfile"
check_out "--env-file" "A2=two=2" "$X" run --env-file "$TMP/envfile" "$R" /bin/toolbox env A2
check_out "-e after --env-file wins" "A1=cli" \
	"$X" run --env-file "$TMP/envfile" -e A1=cli "$R" /bin/toolbox env A1

# --- user, workdir, hostname ---------------------------------------------------
check_out "-w DIR" "cwd=/srv" "$X" run -w /srv "$R" /bin/toolbox cwd
check_out "-u name: ids and groups from the rootfs" "uid=1000 gid=1000 euid=1000 groups=50,1000" \
	"$X" run -u alice "$R" /bin/toolbox id
check_out "-u name: home is the default workdir" "cwd=/home/alice" "$X" run -u alice "$R" /bin/toolbox cwd
check_out "-u name: HOME from passwd" "HOME=/home/alice" "$X" run -u alice "$R" /bin/toolbox env HOME
check_out "-u uid:gid" "uid=1000 gid=50" "$X" run -u 1000:50 "$R" /bin/toolbox id
check_out "-u numeric uid not in passwd" "uid=4242" "$X" run -u 4242 "$R" /bin/toolbox id
check_rc "-u unknown name fails" 1 "$X" run -u nosuchuser "$R" /bin/toolbox id
check_out "-u unknown name says so" "nosuchuser" "$X" run -u nosuchuser "$R" /bin/toolbox id
check_out "default hostname" "hostname=xarch" "$X" run "$R" /bin/toolbox hostname
check_out "--hostname" "hostname=box1" "$X" run --hostname box1 "$R" /bin/toolbox hostname

# --- what the guest sees -------------------------------------------------------
"$X" run "$R" /bin/toolbox ls /dev >"$TMP/dev.out" 2>&1
for n in null zero full random urandom tty ptmx pts shm fd stdin stdout stderr; do
	grep -qx "$n" "$TMP/dev.out" || { not_ok "/dev/$n present"; cat "$TMP/dev.out"; continue; }
	ok "/dev/$n present"
done
check_out "/dev/null is a char device" "/dev/null chr mode=666" "$X" run "$R" /bin/toolbox stat /dev/null
check "writing /dev/null works" "$X" run "$R" /bin/toolbox write /dev/null x
check_out "/dev/ptmx -> pts/ptmx" "pts/ptmx" "$X" run "$R" /bin/toolbox readlink /dev/ptmx
check_out "fresh /proc: only the container's processes" "1" "$X" run "$R" /bin/toolbox ls /proc/
n=$("$X" run "$R" /bin/toolbox ls /proc | grep -c '^[0-9]*$')
[ "$n" -le 2 ] && ok "fresh /proc lists $n pids" || not_ok "/proc lists $n pids (host's?)"
check_rc "/sys is read-only" 1 "$X" run "$R" /bin/toolbox write /sys/kernel/xarch-test x
check "/tmp is writable" "$X" run "$R" /bin/toolbox write /tmp/x y
"$X" run "$R" /bin/toolbox cat /proc/self/mountinfo >"$TMP/mi.out" 2>&1
grep -q ' /tmp .* - tmpfs ' "$TMP/mi.out" && ok "/tmp is a tmpfs" || not_ok "/tmp is a tmpfs"
grep -q ' /dev/pts .* - devpts ' "$TMP/mi.out" && ok "/dev/pts is a devpts" || not_ok "/dev/pts"
check_out "/etc/resolv.conf is the host's" "$(head -1 /etc/resolv.conf)" \
	"$X" run "$R" /bin/toolbox cat /etc/resolv.conf
grep -q 192.0.2.53 "$R/etc/resolv.conf" && ok "... the rootfs's own file is untouched" ||
	not_ok "rootfs resolv.conf changed"
check_rc "/etc/resolv.conf is read-only in the container" 1 \
	"$X" run "$R" /bin/toolbox write /etc/resolv.conf x
check_out "--network none: only lo" "lo" "$X" run --network none "$R" /bin/toolbox ls /sys/class/net
n=$("$X" run --network none "$R" /bin/toolbox ls /sys/class/net | wc -l)
[ "$n" -eq 1 ] && ok "--network none: one interface" || not_ok "--network none: $n interfaces"
check_out "--tmpfs with options" "/srv dir mode=700" "$X" run --tmpfs /srv:size=1m,mode=700 "$R" /bin/toolbox stat /srv

# --- volumes ---------------------------------------------------------------------
mkdir -p "$TMP/vol" && echo host-data >"$TMP/vol/in"
check_out "-v SRC:DST shows host files" "host-data" "$X" run -v "$TMP/vol:/mnt/v" "$R" /bin/toolbox cat /mnt/v/in
check "-v rw: guest writes" "$X" run -v "$TMP/vol:/mnt/v" "$R" /bin/toolbox write /mnt/v/out guest-data
[ "$(cat "$TMP/vol/out" 2>/dev/null)" = guest-data ] && ok "... visible on the host" || not_ok "rw volume write not on host"
check_rc "-v :ro: writes fail" 1 "$X" run -v "$TMP/vol:/mnt/v:ro" "$R" /bin/toolbox write /mnt/v/out2 x
[ ! -e "$TMP/vol/out2" ] && ok "... nothing on the host" || not_ok "ro volume written"
echo file-vol >"$TMP/vfile"
check_out "a file volume" "file-vol" "$X" run -v "$TMP/vfile:/etc/motd:ro" "$R" /bin/toolbox cat /etc/motd
check_out "missing volume source is an error" "volume source '$TMP/nope'" \
	"$X" run -v "$TMP/nope:/mnt/x" "$R" /bin/toolbox pid

# --- --ephemeral and --readonly --------------------------------------------------
sum0=$(tree_sum "$R")
check "--ephemeral: writes succeed" "$X" run --ephemeral "$R" /bin/toolbox write /etc/passwd changed
check "--ephemeral: new file" "$X" run --ephemeral -w /new/dir "$R" /bin/toolbox write /bin/newfile x
check_out "--ephemeral: the rootfs is the lower layer" "alice" "$X" run --ephemeral "$R" /bin/toolbox cat /etc/passwd
[ "$sum0" = "$(tree_sum "$R")" ] && ok "--ephemeral: rootfs tree byte-identical" ||
	{ not_ok "--ephemeral changed the rootfs"; diff <(echo "$sum0") <(tree_sum "$R") | head; }
check_rc "--readonly: rootfs writes fail" 1 "$X" run --readonly "$R" /bin/toolbox write /etc/x y
check "--readonly: /tmp still writable" "$X" run --readonly "$R" /bin/toolbox write /tmp/x y
# a bare tree without mount points or /etc files stays bare under --ephemeral
mkdir -p "$TMP/bare/bin" && cp "$R/bin/toolbox" "$TMP/bare/bin/"
bsum=$(tree_sum "$TMP/bare")
check_out "--ephemeral on a tree without /proc /dev /etc" "pid=1" "$X" run --ephemeral "$TMP/bare" /bin/toolbox pid
check_out "... resolv.conf created in the upper layer" "$(head -1 /etc/resolv.conf)" \
	"$X" run --ephemeral "$TMP/bare" /bin/toolbox cat /etc/resolv.conf
[ "$bsum" = "$(tree_sum "$TMP/bare")" ] && ok "... and the tree is unchanged" || not_ok "bare tree changed"

# --- symlinks must not reach the host ----------------------------------------------
E=$TMP/root-esc
cp -a "$R" "$E"
rm -f /tmp/xarch-escape-target /tmp/xarch-escape-hosts && rm -rf /tmp/xarch-escape-dir
echo host-secret >/tmp/xarch-escape-hosts
on_exit rm -rf /tmp/xarch-escape-target /tmp/xarch-escape-hosts /tmp/xarch-escape-dir
ln -sfn /tmp/xarch-escape-target "$E/etc/resolv.conf"
ln -sfn ../../../../../../tmp/xarch-escape-hosts "$E/etc/hosts"
ln -sfn /tmp/xarch-escape-dir "$E/mnt/esc"
esc0=$(our_mounts)
check_out "absolute-symlink resolv.conf / volume target: run works" "host-data" \
	"$X" run -v "$TMP/vol:/mnt/esc" "$E" /bin/toolbox cat /tmp/xarch-escape-dir/in
check "... also with --ephemeral" "$X" run --ephemeral -v "$TMP/vol:/mnt/esc" "$E" /bin/toolbox pid
check_out "... the volume lands on the guest's /tmp" "host-data" \
	"$X" run -v "$TMP/vol:/mnt/esc" "$E" /bin/toolbox cat /mnt/esc/in
[ ! -e /tmp/xarch-escape-target ] && ok "symlinked resolv.conf: nothing created on the host" ||
	not_ok "/tmp/xarch-escape-target created on the host"
[ ! -e /tmp/xarch-escape-dir ] && ok "symlinked volume target: no host dir created" ||
	not_ok "/tmp/xarch-escape-dir created on the host"
[ "$(cat /tmp/xarch-escape-hosts)" = host-secret ] && ok "relative ../ symlink: host file untouched" ||
	not_ok "host file changed"
check_out "... and not shown to the guest" "$(head -1 /etc/hosts)" \
	"$X" run --ephemeral "$E" /bin/toolbox cat /etc/hosts
[ "$esc0" = "$(our_mounts)" ] && ok "symlinks: no mounts on the host" || not_ok "host mounts changed"

# --- arch checks, errors ---------------------------------------------------------------
other=$([ "$a" = riscv64 ] && echo aarch64 || echo riscv64)
check_out "--arch mismatch is an error" "is a $a rootfs, not $other" "$X" run --arch "$other" "$R" /bin/toolbox pid
check_out "--platform linux/... form accepted" "pid=1" "$X" run --platform "$a" "$R" /bin/toolbox pid
check_out "--force-arch runs anyway" "pid=1" "$X" run --arch "$other" --force-arch "$R" /bin/toolbox pid
check_out "missing rootfs" "$TMP/missing" "$X" run "$TMP/missing" /bin/true
check_rc "... exit 1" 1 "$X" run "$TMP/missing" /bin/true
check_out "no /bin/sh and no command" "has no /bin/sh" "$X" run "$TMP/bare"
check_out "default command: the user's shell from passwd" "usage: toolbox" "$X" run "$R"
check_rc "bad --network is a usage error" 2 "$X" run --network bridge "$R" /bin/toolbox pid
check_rc "bad volume spec is a usage error" 2 "$X" run -v nocolon "$R" /bin/toolbox pid

# --- binfmt paths, setuid and the C flag ----------------------------------------------
# empty-binfmt-ns.py: root of a user namespace with an empty binfmt_misc,
# i.e. a host without registrations, whatever the real host table holds
EB="$XARCH_TOP/tests/rootfs/empty-binfmt-ns.py"
if "$EB" true >"$TMP/eb.out" 2>&1; then
	"$EB" "$X" run --verbose "$R" /bin/toolbox pid >"$TMP/v.out" 2>&1
	check_out "no host entry: private xarch-$a registered in the container's user namespace" \
		"registering 'xarch-$a' (flags POF)" cat "$TMP/v.out"
	check_out "... and the command runs" "pid=1" cat "$TMP/v.out"
	check_out "... the private table is the guest's /proc/sys/fs/binfmt_misc" "xarch-$a" \
		"$EB" "$X" run "$R" /bin/toolbox ls "$B"
	check_out "... -u works with the identity maps" "uid=1000 gid=1000 euid=1000" \
		"$EB" "$X" run -u alice "$R" /bin/toolbox-dyn id
	check_out "... --ephemeral too" "pid=1" "$EB" "$X" run --ephemeral "$R" /bin/toolbox pid
	cp "$R/bin/toolbox" "$R/bin/suid-toolbox" && chown 0:0 "$R/bin/suid-toolbox" &&
		chmod 4755 "$R/bin/suid-toolbox"
	check_out "setuid without C names the flag" \
		"'/bin/suid-toolbox' is setuid but binfmt entry 'xarch-$a' lacks the C flag: rerun with --credential" \
		"$EB" "$X" run -u alice "$R" /bin/suid-toolbox id
	check_rc "... exit 126" 126 "$EB" "$X" run -u alice "$R" /bin/suid-toolbox id
	check_out "--credential: setuid works (euid 0)" "uid=1000 gid=1000 euid=0" \
		"$EB" "$X" run --credential -u alice "$R" /bin/suid-toolbox id
	check_out "--credential: registered with C" "flags POCF" \
		"$EB" "$X" run --verbose --credential "$R" /bin/toolbox pid
	rm -f "$R/bin/suid-toolbox"
	# a "host" entry with F (in that namespace's table) is used as it is
	check_out "a host entry with F is used, no private registration" "host binfmt entry 'xarch-$a'" \
		"$EB" sh -c "'$X' binfmt install --no-verify $a >/dev/null && '$X' run --verbose '$R' /bin/toolbox pid"
	check_out "a host entry without F is not used" "host entry lacks the F flag" \
		"$EB" sh -c "'$X' binfmt install --no-verify --flags PO $a >/dev/null && '$X' run --verbose '$R' /bin/toolbox pid"
else
	skip "private binfmt checks: $(tail -1 "$TMP/eb.out")"
fi
[ "$table0" = "$(host_table)" ] && ok "host binfmt_misc table unchanged ($(echo "$table0" | head -1))" ||
	not_ok "host binfmt_misc table changed"

# --- tty ---------------------------------------------------------------------------
if command -v script >/dev/null; then
	script -qec "stty rows 33 cols 101; stty -g; $X run -t $R /bin/toolbox tty; stty -g" /dev/null \
		>"$TMP/tty.out" 2>&1
	grep -q "tty=1 name=/dev/pts/0 rows=33 cols=101" "$TMP/tty.out" && ok "-t: a pty with the window size" ||
		{ not_ok "-t pty"; sed 's/^/#   /' "$TMP/tty.out"; }
	[ "$(grep -c ':' "$TMP/tty.out")" -ge 2 ] && [ "$(grep ':' "$TMP/tty.out" | sort -u | wc -l)" -eq 1 ] &&
		ok "-t: terminal mode restored" || { not_ok "-t: terminal mode restored"; cat -A "$TMP/tty.out"; }
	check_out "-t sets TERM" "TERM=" script -qec "$X run -t $R /bin/toolbox env TERM" /dev/null
	printf 'typed\n' | script -qec "$X run -it $R /bin/toolbox read" /dev/null >"$TMP/it.out" 2>&1
	grep -q "got=typed" "$TMP/it.out" && ok "-it: input reaches the guest" || { not_ok "-it input"; cat -A "$TMP/it.out"; }
else
	skip "-t: no script(1)"
fi
check_out "-i passes stdin" "got=piped" sh -c "echo piped | '$X' run -i '$R' /bin/toolbox read"
check_rc "without -i stdin is empty" 1 sh -c "echo piped | '$X' run '$R' /bin/toolbox read"

# --- concurrency and teardown --------------------------------------------------------
"$X" run "$R" /bin/toolbox sleep 1 >"$TMP/c1.out" 2>&1 & p1=$!
"$X" run --ephemeral "$R" /bin/toolbox sleep 1 >"$TMP/c2.out" 2>&1 & p2=$!
"$X" run "$R" /bin/toolbox pid >"$TMP/c3.out" 2>&1
wait $p1; r1=$?; wait $p2; r2=$?
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && grep -q pid=1 "$TMP/c3.out" && ok "three concurrent runs on one rootfs" ||
	not_ok "concurrent runs ($r1 $r2 $(cat "$TMP/c3.out"))"

"$X" run "$R" /bin/toolbox sleep 30 & p=$!
sleep 0.5; t0=$(date +%s%N); kill -TERM $p; wait $p; rc=$?; t=$((($(date +%s%N) - t0) / 1000000))
[ $rc -eq 143 ] && ok "SIGTERM to xarch: PID 1 without handler is killed, exit 143" || not_ok "SIGTERM exit $rc"
[ $t -lt 4000 ] && ok "... within ${t}ms" || not_ok "SIGTERM took ${t}ms"
"$X" run "$R" /bin/toolbox trap >"$TMP/trap.out" 2>&1 & p=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q ready "$TMP/trap.out" && break; sleep 0.2; done
kill -TERM $p; wait $p; rc=$?
[ $rc -eq 42 ] && ok "SIGTERM is forwarded to a PID 1 that handles it (exit 42)" || not_ok "trap exit $rc"
"$X" run "$R" /bin/toolbox sleep 30 & p=$!
sleep 0.5; kill -HUP $p; sleep 0.1; kill -HUP $p; wait $p; rc=$?
[ $rc -eq 129 ] && ok "a second signal kills at once (exit 129)" || not_ok "second signal exit $rc"
sleep 0.2
pgrep -f "$TMP.* /bin/toolbox sleep 30" >/dev/null && not_ok "container processes left behind" || ok "no container processes left"
# --emulate: a native rootfs starting a foreign binary (what dnf --forcearch and
# rpm --root scriptlets do in a native build stage), with no host binfmt entry used
N=$TMP/native
mkdir -p "$N/bin" "$N/target/bin" "$N/proc" "$N/dev" "$N/sys" "$N/tmp" "$N/out"
if gcc -O2 -static -o "$N/bin/toolbox" "$XARCH_TOP/tests/rootfs/toolbox.c" 2>"$TMP/gcc.out"; then
	cp "$R/bin/toolbox" "$N/target/bin/toolbox"
	"$X" run --emulate riscv64 "$N" /bin/toolbox exec /target/bin/toolbox write /out/rv ran >"$TMP/emu.out" 2>&1
	rc=$?
	[ $rc -eq 0 ] && [ "$(cat "$N/out/rv" 2>/dev/null)" = ran ] &&
		ok "--emulate riscv64: a native rootfs runs a riscv64 program" ||
		{ not_ok "--emulate riscv64 (exit $rc)"; sed 's/^/#   /' "$TMP/emu.out"; }
	"$X" run "$N" /bin/toolbox exec /target/bin/toolbox write /out/rv2 ran >"$TMP/emu2.out" 2>&1
	if ! echo "$table0" | grep -q riscv; then
		[ ! -e "$N/out/rv2" ] && grep -q "Exec format error" "$TMP/emu2.out" &&
			ok "without --emulate (and no host entry) it does not run: Exec format error" ||
			{ not_ok "without --emulate"; sed 's/^/#   /' "$TMP/emu2.out"; }
	fi
	"$X" run --emulate vax "$N" /bin/toolbox pid >"$TMP/emu3.out" 2>&1
	grep -q "unknown arch 'vax'" "$TMP/emu3.out" && ok "--emulate of an unknown arch is named" ||
		{ not_ok "--emulate vax"; sed 's/^/#   /' "$TMP/emu3.out"; }
else
	skip "--emulate: no static host gcc ($(tail -1 "$TMP/gcc.out"))"
fi
[ "$mounts0" = "$(our_mounts)" ] && ok "no mounts left in the host namespace" ||
	{ not_ok "mounts left behind"; diff <(echo "$mounts0") <(our_mounts) | head; }
[ "$table0" = "$(host_table)" ] && ok "host binfmt_misc table unchanged at the end" || not_ok "host table changed"

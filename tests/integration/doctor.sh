#!/bin/bash
# xarch doctor: runs, reports every check in text and JSON, tells the fix
# for the binfmt_misc state this host is in, and changes nothing.
source "$(dirname "$0")/lib.sh"

[ -x "$XARCH" ] || { not_ok "no xarch binary at $XARCH"; exit 1; }

host_state() {
	ls -a /proc/sys/fs/binfmt_misc 2>&1
	grep -E ' /proc/sys/fs/binfmt_misc | - binfmt_misc ' /proc/self/mountinfo | cut -d' ' -f4-
}
host_state >"$TMP/before"
xarch_before=$(host_xarch_entries)

"$XARCH" doctor >"$TMP/text" 2>&1
text_rc=$?
"$XARCH" doctor --json >"$TMP/json" 2>"$TMP/json.err"
json_rc=$?

if grep -q '^FAIL ' "$TMP/text"; then want_rc=1; else want_rc=0; fi
[ "$text_rc" -eq "$want_rc" ] && ok "exit $text_rc matches the FAIL lines" ||
	{ not_ok "doctor exit $text_rc, want $want_rc"; sed 's/^/#   /' "$TMP/text"; }
[ "$json_rc" -eq "$text_rc" ] && ok "--json exits like text ($json_rc)" ||
	not_ok "--json exit $json_rc, text $text_rc"

check "--json is valid JSON" python3 -m json.tool "$TMP/json"

# ids, levels and fixes, checked with python
cat >"$TMP/check.py" <<'EOF'
import json, sys
checks = json.load(open(sys.argv[1]))
want = ["kernel.version", "binfmt.kernel", "binfmt.mounted", "binfmt.status",
        "binfmt.riscv64", "binfmt.aarch64", "binfmt.arm", "qemu.user",
        "userns.allowed", "userns.binfmt", "loop.control", "subid.ranges",
        "subid.tools", "tool.mke2fs", "tool.mkfs.vfat", "tool.mcopy", "tool.sfdisk",
        "tool.qemu-img", "tool.qemu-system-riscv64", "tool.qemu-system-aarch64"]
ids = [c["id"] for c in checks]
bad = []
for w in want:
    if w not in ids:
        bad.append("missing id " + w)
if len(set(ids)) != len(ids):
    bad.append("duplicate ids")
for c in checks:
    if set(c) != {"id", "level", "summary", "fix"}:
        bad.append("%s: keys %s" % (c.get("id"), sorted(c)))
    if c["level"] not in ("ok", "info", "warn", "FAIL"):
        bad.append("%s: level %s" % (c["id"], c["level"]))
    if c["level"] in ("warn", "FAIL") and not c["fix"]:
        bad.append("%s: a problem without a fix" % c["id"])
    if not c["summary"]:
        bad.append("%s: empty summary" % c["id"])
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
check "--json: every expected id, levels valid, each problem has a fix" python3 "$TMP/check.py" "$TMP/json"

jlevel() { python3 -c 'import json,sys
for c in json.load(open(sys.argv[1])):
    if c["id"] == sys.argv[2]: print(c["level"])' "$1" "$2"; }
n_text=$(grep -cE '^(ok|info|warn|FAIL) ' "$TMP/text")
n_json=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/json")
[ "$n_text" -eq "$n_json" ] && ok "text and JSON have the same $n_json checks" ||
	not_ok "text has $n_text checks, JSON $n_json"
awk '/^(warn|FAIL) /{p=1; next} p && !/^      fix: /{bad=1} {p=0} END{exit bad}' "$TMP/text" &&
	ok "warn/FAIL lines carry an indented 'fix:' line" ||
	{ not_ok "a warn/FAIL line without its fix"; sed 's/^/#   /' "$TMP/text"; }

# the binfmt_misc state of this host, asserted whichever it is
if grep -q ' - binfmt_misc ' <(grep ' /proc/sys/fs/binfmt_misc ' /proc/self/mountinfo); then
	[ "$(jlevel "$TMP/json" binfmt.mounted)" = ok ] && ok "host binfmt_misc mounted: binfmt.mounted ok" ||
		not_ok "host binfmt_misc mounted, but binfmt.mounted is $(jlevel "$TMP/json" binfmt.mounted)"
elif grep -q ' /proc/sys/fs/binfmt_misc .* - autofs ' /proc/self/mountinfo; then
	[ "$(jlevel "$TMP/json" binfmt.mounted)" = info ] && ok "host binfmt_misc is an automount: info" ||
		not_ok "automount, but binfmt.mounted is $(jlevel "$TMP/json" binfmt.mounted)"
else
	check_out "host binfmt_misc unmounted: the mount command is the fix" \
		"fix: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc" cat "$TMP/text"
	check_out "unmounted: per-arch fix is 'xarch binfmt install'" \
		"fix: xarch binfmt install riscv64" cat "$TMP/text"
	[ "$(jlevel "$TMP/json" binfmt.mounted)" = warn ] && ok "unmounted is a warning, not a failure" ||
		not_ok "unmounted: binfmt.mounted is $(jlevel "$TMP/json" binfmt.mounted)"
fi

# qemu-user-static is what this test machine has
if command -v qemu-riscv64-static >/dev/null; then
	v=$(qemu-riscv64-static --version | sed -n '1s/.* version \([^ ]*\).*/\1/p')
	check_out "qemu.user reports the version $v" "qemu-user-static $v" cat "$TMP/text"
fi

# subordinate ids of the invoking user (SUDO_USER when root)
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 && ! grep -q '^nobody:' /etc/subuid 2>/dev/null; then
	check_out "SUDO_USER without subuids: usermod fix" "usermod --add-subuids" \
		env SUDO_USER=nobody "$XARCH" doctor
	check_out "SUDO_USER is the user checked" "nobody has 0 subordinate uids" \
		env SUDO_USER=nobody "$XARCH" doctor
else
	skip "subuid fix: needs root and a 'nobody' without subuids"
fi

# entries in a private binfmt_misc (own user + mount namespace, kernel >= 6.7):
# the host table is never touched
priv() {
	unshare --user --map-root-user --mount bash -c '
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 99
		for l in "$@"; do printf "%s" "$l" >/proc/sys/fs/binfmt_misc/register || exit 98; done
		[ -n "${DISABLE:-}" ] && echo 0 >/proc/sys/fs/binfmt_misc/status
		exec "$XARCH" doctor' bash "$@"
}
rule() { # ARCH INTERPRETER FLAGS
	local l
	l=$("$XARCH" arch --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["binfmt"])')
	printf '%s%s:%s' "${l%::}:" "$2" "$3"
}
export XARCH
if priv >/dev/null 2>&1 || [ $? -ne 99 ]; then
	qr=$(command -v qemu-riscv64-static)
	priv "$(rule riscv64 "$qr" F)" "$(rule aarch64 /nonexistent/qemu-aarch64 '')" >"$TMP/priv" 2>&1
	check_out "private table: mounted is ok" "binfmt.mounted" grep -E '^ok +binfmt.mounted' "$TMP/priv"
	check_out "private table: static qemu with F is ok" "riscv64 runs through 'xarch-riscv64'" cat "$TMP/priv"
	check_out "private table: missing interpreter is named" "'/nonexistent/qemu-aarch64', which is missing" cat "$TMP/priv"
	check_out "private table: missing interpreter fix" "fix: apt-get install qemu-user-static && xarch binfmt install --force aarch64" cat "$TMP/priv"
	priv "$(rule riscv64 "$qr" '')" >"$TMP/priv" 2>&1
	check_out "private table: no F flag is a warning" "has no F flag" cat "$TMP/priv"
	DISABLE=1 priv "$(rule riscv64 "$qr" F)" >"$TMP/priv" 2>&1
	check_out "private table: disabled status" "fix: echo 1 > /proc/sys/fs/binfmt_misc/status" cat "$TMP/priv"
else
	skip "no private binfmt_misc in a user namespace (needs Linux >= 6.7 and userns)"
fi

host_state >"$TMP/after"
if cmp -s "$TMP/before" "$TMP/after"; then ok "doctor changed nothing (binfmt_misc dir and mounts)"; else
	not_ok "doctor changed the host"; diff "$TMP/before" "$TMP/after" | sed 's/^/#   /'; fi
[ "$(host_xarch_entries)" = "$xarch_before" ] && ok "no xarch-* entries added to the host table" ||
	not_ok "xarch entries left on the host: $(host_xarch_entries)"
exit 0

#!/bin/bash
# xarch inspect on cross-compiled hello programs, with readelf as the oracle.
source "$(dirname "$0")/lib.sh"

# readelf's name for each test arch's e_machine
declare -A MACHINE=([riscv64]="RISC-V" [aarch64]="AArch64" [arm]="ARM" [mips]="MIPS R3000")

# jfield JSON_FILE EXPR: a python expression on `o`, the first object
jfield() {
	python3 -c 'import json,sys; o=json.load(open(sys.argv[1]))[0]; v=eval(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}

# oracle values from readelf
re_class() { readelf -h "$1" | sed -n 's/^ *Class: *//p'; }
re_machine() { readelf -h "$1" | sed -n 's/^ *Machine: *//p'; }
re_interp() { readelf -lW "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p'; }
re_needed() { readelf -dW "$1" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]$/\1/p' | paste -sd' '; }

if ! command -v readelf >/dev/null; then
	skip "readelf not installed: no oracle for inspect"
fi
if ! command -v python3 >/dev/null; then
	skip "python3 not installed: cannot read --json output"
	exit 0
fi

check_rc "inspect --help exits 0" 0 "$XARCH" inspect --help
check_rc "inspect without FILE is a usage error" 2 "$XARCH" inspect
check_out "a host binary runs natively" '"runs": "native"' "$XARCH" inspect --json /bin/true

for a in riscv64 aarch64 arm mips; do
	t=${CROSS[$a]}
	if ! build_hello "$a"; then
		skip "$a: no $t-gcc, no fixtures"
		continue
	fi
	for kind in static dynamic; do
		f=$FIXTURES/hello-$a-$kind
		j=$TMP/$a-$kind.json
		if ! "$XARCH" inspect --json "$f" >"$j" 2>"$TMP/err"; then
			not_ok "$a $kind: inspect exits 0"
			sed 's/^/#   /' "$TMP/err"
			continue
		fi
		ok "$a $kind: inspect exits 0"
		check "$a $kind: --json is valid JSON" python3 -m json.tool "$j"
		[ "$(jfield "$j" 'o["arch"]')" = "$a" ] && ok "$a $kind: arch row $a" ||
			not_ok "$a $kind: arch row (got '$(jfield "$j" 'o["arch"]')')"
		if ! command -v readelf >/dev/null || [ -z "$(re_machine "$f")" ] ||
			re_machine "$f" | grep -q '<unknown>'; then
			skip "$a $kind: readelf does not know this machine"
			continue
		fi
		want=$(re_class "$f") got=$(jfield "$j" 'o["class"]')
		[ "$got" = "$want" ] && ok "$a $kind: class $got matches readelf" ||
			not_ok "$a $kind: class '$got', readelf says '$want'"
		want=$(re_machine "$f")
		[ "$want" = "${MACHINE[$a]}" ] && ok "$a $kind: readelf machine '$want' is $a's" ||
			not_ok "$a $kind: readelf machine '$want', want '${MACHINE[$a]}'"
		want=$(readelf -h "$f" | sed -n 's/^ *Data: *2.s complement, \([a-z]*\) endian/\1/p')
		got=$(jfield "$j" 'o["endian"]')
		[ "$got" = "$want" ] && ok "$a $kind: $got endian matches readelf" ||
			not_ok "$a $kind: endian '$got', readelf says '$want'"
		want=$(re_interp "$f") got=$(jfield "$j" 'o["interp"]')
		[ "$got" = "$want" ] && ok "$a $kind: interpreter '$got' matches readelf" ||
			not_ok "$a $kind: interpreter '$got', readelf says '$want'"
		want=$(re_needed "$f") got=$(jfield "$j" '" ".join(o["needed"])')
		[ "$got" = "$want" ] && ok "$a $kind: needed '$got' matches readelf" ||
			not_ok "$a $kind: needed '$got', readelf says '$want'"
		want=$([ "$kind" = static ] && echo True || echo False)
		got=$(jfield "$j" 'o["static"]')
		[ "$got" = "$want" ] && ok "$a $kind: static=$got" || not_ok "$a $kind: static=$got"
		# readelf -h Type: EXEC or DYN; DYN with an interpreter is PIE
		rt=$(readelf -h "$f" | sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p')
		got=$(jfield "$j" 'o["type"]')
		case "$rt:$got" in
		EXEC:EXEC | DYN:PIE | DYN:DYN) ok "$a $kind: type $got agrees with readelf $rt" ;;
		*) not_ok "$a $kind: type $got, readelf says $rt" ;;
		esac
		got=$(jfield "$j" 'o["runs"]')
		case "$got" in
		binfmt) [ -n "$(jfield "$j" 'o["binfmt"]["entry"]')" ] &&
			ok "$a $kind: runs through binfmt entry $(jfield "$j" 'o["binfmt"]["entry"]')" ||
			not_ok "$a $kind: runs=binfmt without an entry" ;;
		no) check_out "$a $kind: says how to fix 'runs: no'" "xarch binfmt install $a" \
			"$XARCH" inspect "$f" ;;
		native) ok "$a $kind: runs natively (host family)" ;;
		*) not_ok "$a $kind: runs='$got'" ;;
		esac
	done

	f=$FIXTURES/hello-$a-dynamic
	if [ -d "/usr/$t/lib" ]; then
		j=$TMP/$a-sysroot.json
		check_rc "$a: --sysroot /usr/$t resolves everything (exit 0)" 0 \
			"$XARCH" inspect --sysroot "/usr/$t" "$f"
		"$XARCH" inspect --json --sysroot "/usr/$t" "$f" >"$j" 2>/dev/null
		got=$(jfield "$j" 'sum(1 for d in o["deps"] if d["found"] and __import__("os").path.isfile(d["path"]))')
		all=$(jfield "$j" 'len(o["deps"])')
		[ "$all" -ge 2 ] && [ "$got" = "$all" ] &&
			ok "$a: all $all dependencies found as files in /usr/$t" ||
			not_ok "$a: $got of $all dependencies found in /usr/$t"
		want=$(re_interp "$f")
		got=$(jfield "$j" 'o["deps"][0]["name"] if o["deps"][0]["interp"] else ""')
		[ "$got" = "$want" ] && ok "$a: the interpreter is the first dependency" ||
			not_ok "$a: first dependency '$got', want interpreter '$want'"
	else
		skip "$a: no /usr/$t sysroot"
	fi
	mkdir -p "$TMP/empty"
	check_rc "$a: empty sysroot exits 1" 1 "$XARCH" inspect --rootfs "$TMP/empty" "$f"
	"$XARCH" inspect --rootfs "$TMP/empty" "$f" >"$TMP/out" 2>&1
	if grep -q "$(re_interp "$f") => not found" "$TMP/out" &&
		grep -q "libc.so.6 => not found" "$TMP/out"; then
		ok "$a: empty sysroot reports interpreter and libc.so.6 missing"
	else
		not_ok "$a: empty sysroot report"
		sed 's/^/#   /' "$TMP/out"
	fi
done

# Corrupt input: one line on stderr, exit 1, no crash
f=$(ls "$FIXTURES"/hello-*-dynamic 2>/dev/null | head -1)
corrupt=()
if [ -n "$f" ]; then
	head -c 40 "$f" >"$TMP/trunc-header"
	head -c 200 "$f" >"$TMP/trunc-phdrs"
	corrupt+=("$TMP/trunc-header" "$TMP/trunc-phdrs")
fi
head -c 4096 /dev/urandom >"$TMP/random"
printf '\177ELF' | cat - <(head -c 2000 /dev/urandom) >"$TMP/random-elf"
printf 'just some text\n' >"$TMP/text"
: >"$TMP/empty-file"
corrupt+=("$TMP/random" "$TMP/random-elf" "$TMP/text" "$TMP/empty-file")
for c in "${corrupt[@]}"; do
	n=$(basename "$c")
	"$XARCH" inspect "$c" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	lines=$(wc -l <"$TMP/err")
	if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && grep -q "^xarch: '$c'" "$TMP/err"; then
		ok "$n: one-line error, exit 1 ($(cut -c1-90 "$TMP/err"))"
	elif [ "$n" = random-elf ] && [ "$rc" -eq 0 ]; then
		ok "$n: random bytes after the magic happened to parse"
	else
		not_ok "$n: exit $rc, $lines stderr lines"
		sed 's/^/#   /' "$TMP/err" | head -5
	fi
done
check_out "truncated header message" "truncated ELF" "$XARCH" inspect "$TMP/random-elf" \
	"${corrupt[0]}"
check_out "text file message" "is not an ELF file (starts with \"just some text\")" \
	"$XARCH" inspect "$TMP/text"

# several files, one failing: all reported, exit 1, JSON still valid
if [ -n "$f" ]; then
	"$XARCH" inspect --json "$f" "$TMP/text" >"$TMP/multi.json" 2>/dev/null
	rc=$?
	[ "$rc" -eq 1 ] && python3 -m json.tool "$TMP/multi.json" >/dev/null &&
		[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/multi.json")" = 2 ] &&
		ok "mixed good and bad files: JSON array of 2, exit 1" ||
		not_ok "mixed good and bad files (exit $rc)"
fi

#!/bin/bash
# xarch boot with the real qemu-system and firmware: banners of OpenSBI,
# U-Boot and EDK2, a tiny EFI application on the ESP started by each
# firmware (tests/fixtures/efi-hello), arch inference from GPT types, from
# the ESP's loader name (GPT and MBR, raw and qcow2), --expect timeouts,
# --print-cmd and a start_vm.sh run from elsewhere.
. "$(dirname "$0")/lib.sh"

require_tools boot mcopy mdir
W=$TMP/w
mkdir -p "$W/in" "$W/root-rv/EFI/BOOT" "$W/root-aa/EFI/BOOT" "$W/root-none/EFI/BOOT"

# The EFI loaders: the hello application when a cross compiler makes it,
# else random bytes (the firmware still names the file it found).
HELLO=$XARCH_TOP/tests/fixtures/efi-hello
hello() { # ARCH OUT
	"$HELLO/build.sh" "$1" "$2" 2>/dev/null && return 0
	head -c 8192 /dev/urandom >"$2"
	return 1
}
HELLO_RV=0 HELLO_AA=0
hello riscv64 "$W/root-rv/EFI/BOOT/BOOTRISCV64.EFI" && HELLO_RV=1
hello aarch64 "$W/root-aa/EFI/BOOT/BOOTAA64.EFI" && HELLO_AA=1

# disk NAME ROOT TABLE PARTS...: genimage.cfg with an ESP from ROOT
disk() {
	local name=$1 root=$2 table=$3; shift 3
	{
		echo "image $name.vfat { vfat { label = \"ESP\" } size = 16M }"
		echo "image $name.img { hdimage { partition-table-type = \"$table\" }"
		echo "  partition esp { image = \"$name.vfat\" $1 }"
		shift
		for p in "$@"; do echo "  $p"; done
		echo "}"
	} >"$W/$name.cfg"
	"$XARCH" genimage --config "$W/$name.cfg" --rootpath "$W/$root" --inputpath "$W/in" \
		--outputpath "$W/out" --tmppath "$W/tmp-$name" -q
}
check "genimage: riscv64 disk (ESP + root-riscv64)" \
	disk rv root-rv gpt 'partition-type-uuid = "esp"' \
	'partition root { size = 4M partition-type-uuid = "root-riscv64" }'
check "genimage: arm64 disk with only an ESP" disk aa root-aa gpt 'partition-type-uuid = "esp"'
check "genimage: MBR disk, riscv64 loader on a 0xef partition" \
	disk mbr root-rv mbr 'partition-type = 0xef'
check "genimage: disk with an empty ESP" disk none root-none gpt 'partition-type-uuid = "esp"'
check "genimage: disk for two arches" disk two root-rv gpt 'partition-type-uuid = "esp"' \
	'partition a { size = 1M partition-type-uuid = "root-riscv64" }' \
	'partition b { size = 1M partition-type-uuid = "usr-arm64" }'
O=$W/out

# --- without running qemu ---
check_rc "missing image: exit 1" 1 "$XARCH" boot --print-cmd "$W/nope.img"
check_out "missing image: names it" "cannot open image '$W/nope.img'" \
	"$XARCH" boot --print-cmd "$W/nope.img"
check_out "arch from the GPT type root-riscv64" "qemu-system-riscv64 -M virt" \
	"$XARCH" boot --print-cmd "$O/rv.img"
check_out "the reason is shown" "riscv64, partition type root-riscv64" \
	"$XARCH" boot --timeout 1 "$O/rv.img" -- -S
check_out "arch from the ESP loader EFI/BOOT/BOOTAA64.EFI (GPT)" "qemu-system-aarch64 -M virt" \
	"$XARCH" boot --print-cmd "$O/aa.img"
check_out "arch from the ESP loader on an MBR 0xef partition" "qemu-system-riscv64" \
	"$XARCH" boot --print-cmd "$O/mbr.img"
check_rc "no hint: exit 1" 1 "$XARCH" boot --print-cmd "$O/none.img"
check_out "no hint: says to pass --arch" "pass --arch" "$XARCH" boot --print-cmd "$O/none.img"
check_out "--arch wins" "qemu-system-aarch64" "$XARCH" boot --arch arm64 --print-cmd "$O/none.img"
check_out "two arches: error" "two architectures" "$XARCH" boot --print-cmd "$O/two.img"
check_out "unknown --arch lists the known ones" "xarch boots riscv64, aarch64" \
	"$XARCH" boot --arch mips --print-cmd "$O/rv.img"
check_out "--memory, --cpus, --snapshot, --ssh-port, extra args" \
	"-m 512M -smp 1 -nographic" \
	"$XARCH" boot --memory 512M --cpus 1 --print-cmd "$O/rv.img"
check_out "--snapshot, --ssh-port and qemu args after --" \
	"hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-device,netdev=net0 -device virtio-rng-device -snapshot -name t" \
	"$XARCH" boot --snapshot --ssh-port 2222 --print-cmd "$O/rv.img" -- -name t
check_rc "bad --memory: usage error" 2 "$XARCH" boot --memory lots --print-cmd "$O/rv.img"
check_rc "--interactive with --expect: usage error" 2 \
	"$XARCH" boot --interactive --expect x "$O/rv.img"
if command -v qemu-img >/dev/null; then
	qemu-img convert -O qcow2 "$O/aa.img" "$W/aa.qcow2"
	check_out "qcow2: format detected" "format=qcow2" "$XARCH" boot --print-cmd "$W/aa.qcow2"
	check_out "qcow2: arch from the loader read through the qcow2 clusters" \
		"qemu-system-aarch64" "$XARCH" boot --print-cmd "$W/aa.qcow2"
fi
check_out "paths with commas are escaped for -drive" "file=$W/a,,b.img,format=raw" \
	bash -c "cp '$O/rv.img' '$W/a,b.img' && '$XARCH' boot --print-cmd '$W/a,b.img'"

# --- riscv64 ---
# run SECS CMD...: ok when CMD exits 0 within SECS seconds
fast() {
	local d=$1 secs=$2; shift 2
	local t0=$SECONDS
	if "$@" >"$TMP/.out" 2>&1 && [ $((SECONDS - t0)) -le "$secs" ]; then
		ok "$d ($((SECONDS - t0)) s)"
	else
		not_ok "$d (exit $?, $((SECONDS - t0)) s)"
		tr -d '\r' <"$TMP/.out" | tail -5 | sed 's/^/#   /'
	fi
}
if ! command -v qemu-system-riscv64 >/dev/null; then
	skip "riscv64 boots: qemu-system-riscv64 is not installed (apt-get install qemu-system-misc)"
elif [ ! -e /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin ] ||
	[ ! -e /usr/lib/u-boot/qemu-riscv64_smode/uboot.elf ]; then
	skip "riscv64 boots: opensbi or u-boot-qemu is not installed"
else
	fast "riscv64: --expect OpenSBI" 30 "$XARCH" boot --snapshot --expect OpenSBI "$O/rv.img"
	fast "riscv64: --expect U-Boot" 30 "$XARCH" boot --snapshot --expect 'U-Boot 20[0-9]+' "$O/rv.img"
	fast "riscv64: U-Boot finds the ESP loader" 60 "$XARCH" boot --snapshot \
		--expect 'Found EFI removable media binary efi/boot/bootriscv64.efi' "$O/rv.img"
	if [ $HELLO_RV = 1 ]; then
		fast "riscv64: the ESP's EFI application runs" 60 "$XARCH" boot --snapshot \
			--expect '^xarch-efi-hello: started' --log "$W/rv.log" "$O/rv.img"
		check "riscv64: --log has the console" grep -q 'Booting /efi.boot.bootriscv64.efi' "$W/rv.log"
		fast "riscv64: MBR disk, the ESP's EFI application runs" 60 "$XARCH" boot --snapshot \
			--expect '^xarch-efi-hello' "$O/mbr.img"
	else
		skip "riscv64 EFI application: gcc-riscv64-linux-gnu is not installed"
	fi
	"$XARCH" boot --snapshot --expect 'no such line' --timeout 5 "$O/rv.img" >"$W/never.out" 2>&1
	check "a pattern that never comes: exit 1" test $? = 1
	check "a pattern that never comes: the reason as the last line" test "$(tail -n1 "$W/never.out")" = \
		"xarch: timed out after 5 s waiting for 'no such line' on the console"
	check_out "qemu ends before the pattern: the reason" \
		"qemu exited (status 1) before 'OpenSBI' appeared" \
		"$XARCH" boot --expect OpenSBI "$O/rv.img" -- -device no-such-device
	check_rc "without --expect: qemu's exit code" 1 \
		"$XARCH" boot "$O/rv.img" -- -device no-such-device
	check_out "--timeout without --expect" "timed out after 2 s" \
		"$XARCH" boot --snapshot --timeout 2 "$O/rv.img"
	check_out "bad regex" "bad --expect pattern" "$XARCH" boot --expect 'a(' "$O/rv.img"
	sum0=$(md5sum <"$O/rv.img")
	"$XARCH" boot --snapshot --expect 'U-Boot 20' "$O/rv.img" >/dev/null 2>&1
	# --interactive on a pseudo-terminal: qemu's Ctrl-a x quits, exit 0
	if command -v script >/dev/null; then
		(sleep 5; printf '\001x') | timeout 60 script -qfec \
			"'$XARCH' boot --snapshot --interactive '$O/rv.img'" /dev/null >"$W/int.out" 2>&1
		check "--interactive: Ctrl-a x quits, exit 0" test $? = 0
		check "--interactive: the console reached the terminal" grep -aq 'U-Boot 20' "$W/int.out"
	fi
	check "--snapshot leaves the image as it was" test "$sum0" = "$(md5sum <"$O/rv.img")"

	# start_vm.sh: written beside the image, run from elsewhere, then moved
	mkdir -p "$W/vm dir"
	cp "$O/rv.img" "$W/vm dir/disk.img"
	check "--write-script" "$XARCH" boot --write-script "$W/vm dir/start_vm.sh" "$W/vm dir/disk.img"
	check "start_vm.sh is mode 755" test "$(stat -c %a "$W/vm dir/start_vm.sh")" = 755
	check "start_vm.sh names the image relative to itself" \
		grep -q '"$drive_here"/disk.img,format=raw' "$W/vm dir/start_vm.sh"
	check "start_vm.sh: sh -n" sh -n "$W/vm dir/start_vm.sh"
	mv "$W/vm dir" "$W/moved, dir"
	want='OpenSBI v'
	[ $HELLO_RV = 1 ] && want='xarch-efi-hello'
	(cd / && exec "$W/moved, dir/start_vm.sh" -snapshot </dev/null >"$W/vm.out" 2>&1) &
	vm=$!
	for _ in $(seq 60); do grep -aq "$want" "$W/vm.out" && break; sleep 0.5; done
	check "start_vm.sh runs after a move, from another directory" grep -aq "$want" "$W/vm.out"
	kill "$vm" 2>/dev/null
	wait "$vm" 2>/dev/null
fi

# --- aarch64 ---
if ! command -v qemu-system-aarch64 >/dev/null; then
	skip "aarch64 boots: qemu-system-aarch64 is not installed (apt-get install qemu-system-arm)"
elif [ ! -e /usr/share/qemu-efi-aarch64/QEMU_EFI.fd ]; then
	skip "aarch64 boots: qemu-efi-aarch64 is not installed"
else
	fast "aarch64: --expect 'UEFI firmware'" 30 "$XARCH" boot --snapshot \
		--expect 'UEFI firmware' "$O/aa.img"
	fast "aarch64: EDK2's boot manager starts the ESP's loader" 90 "$XARCH" boot --snapshot \
		--expect 'BdsDxe: (starting|loading) Boot[0-9A-F]+ "UEFI Misc Device"' "$O/aa.img"
	if [ $HELLO_AA = 1 ]; then
		fast "aarch64: the ESP's EFI application runs" 90 "$XARCH" boot --snapshot \
			--expect 'xarch-efi-hello: started' "$O/aa.img"
		[ -e "$W/aa.qcow2" ] &&
			fast "aarch64: a qcow2 image boots" 90 "$XARCH" boot --snapshot \
				--expect 'xarch-efi-hello' "$W/aa.qcow2"
	else
		skip "aarch64 EFI application: gcc-aarch64-linux-gnu is not installed"
	fi
fi

# --- arm (armhf) ---
if ! command -v qemu-system-arm >/dev/null || [ ! -e /usr/lib/u-boot/qemu_arm/u-boot.bin ]; then
	skip "arm boots: qemu-system-arm or u-boot-qemu is not installed"
else
	fast "arm: U-Boot scans the virtio disk" 60 "$XARCH" boot --snapshot --arch armhf \
		--expect 'Scanning virtio 0:1' "$O/rv.img"
fi

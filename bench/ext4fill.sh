#!/bin/bash
# Filling a 10 GiB ext4 partition (at 1 GiB into a disk file, like the
# seed's layout) with a large rootfs-like tree: `mke2fs -d` (what genimage
# runs) against `mke2fs` + xa_ext4fill (tests/ext4fill-run), same mke2fs
# options, fresh sparse disk each time.  Prints wall seconds, the ratio,
# and the disk's allocated bytes; e2fsck -fn checks both results.
#   bench/ext4fill.sh [BUILD_DIR] [TREE]
# The tree (default: made under /tmp and removed afterwards) is ~3 GB and
# ~100k entries: /usr/share and /usr/bin, a directory of 20k small files,
# and ~1.2 GB of large files from /usr/lib; scaled down when /tmp is short.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
RUN=$top/$B/tests/ext4fill-run
[ -x "$RUN" ] || { echo "bench/ext4fill.sh: build $RUN first (ninja -C $B)" >&2; exit 1; }
w=$(mktemp -d /tmp/xarch-bench-ext4.XXXXXX)
trap 'rm -rf "$w"' EXIT
OFF=$((1 << 30))
SIZE=10485760 # KiB
MKFS=(mke2fs -q -F -t ext4 -I 256 -E "root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0,offset=$OFF")

tree=${2:-}
if [ -z "$tree" ]; then
	tree=$w/root
	avail=$(df -k --output=avail /tmp | tail -1)
	mkdir -p "$tree/usr" "$tree/var/lib/many" "$tree/opt"
	# the tree and two filled disks
	if [ "$avail" -gt $((12 << 20)) ]; then big=1200; else big=0; fi
	cp -a /usr/share /usr/bin "$tree/usr/"
	python3 - "$tree/var/lib/many" <<-'EOF'
		import os, sys
		for i in range(20000):
		    with open(os.path.join(sys.argv[1], "pkg-%06d.list" % i), "w") as f:
		        f.write(("/usr/share/doc/package-%d/file\n" % i) * (1 + i % 80))
	EOF
	sum=0
	while IFS= read -r f; do
		[ "$sum" -lt "$big" ] || break
		cp "$f" "$tree/opt/"
		sum=$((sum + $(stat -c %s "$f") / 1048576))
	done < <(find /usr/lib -xdev -type f -size +40M 2>/dev/null | sort)
fi
entries=$(find "$tree" | wc -l)
mb=$(du -sm --apparent-size "$tree" | cut -f1)
echo "tree: $entries entries, $mb MB ($tree)"
cat "$tree"/opt/* >/dev/null 2>&1 || true # same page-cache state for both

secs() { # CMD...: wall seconds of CMD
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	echo "$(((t1 - t0) / 1000000))" | awk '{printf "%.2f", $1 / 1000}'
}
fresh() {
	rm -f "$w/disk"
	truncate -s $((OFF + SIZE * 1024)) "$w/disk"
}
alloc() { du -m "$w/disk" | cut -f1; }
fill() { "${MKFS[@]}" "$w/disk" "${SIZE}k" && "$RUN" "$w/disk" "$OFF" "$tree"; }
fill_sync() { fill && sync "$w/disk"; }

fresh
a=$(secs "${MKFS[@]}" -d "$tree" "$w/disk" "${SIZE}k")
a_mb=$(alloc)
e2fsck -fn "$w/disk?offset=$OFF" >/dev/null 2>&1 && a_ok=clean || a_ok=ERRORS
fresh
b=$(secs fill)
b_mb=$(alloc)
e2fsck -fn "$w/disk?offset=$OFF" >/dev/null 2>&1 && b_ok=clean || b_ok=ERRORS
fresh
c=$(secs fill_sync)
rm -f "$w/disk"

printf '%-34s %8s s  %6s MB allocated  e2fsck %s\n' "mke2fs -d" "$a" "$a_mb" "$a_ok"
printf '%-34s %8s s  %6s MB allocated  e2fsck %s\n' "mke2fs + ext4fill" "$b" "$b_mb" "$b_ok"
printf '%-34s %8s s\n' "mke2fs + ext4fill + fsync(disk)" "$c"
awk -v a="$a" -v b="$b" -v c="$c" \
	'BEGIN { printf "ratio ext4fill / mke2fs -d: %.3f (%.3f with the fsync)\n", b / a, c / a }'

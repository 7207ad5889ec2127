#!/bin/bash
# mkrootfs.sh ARCH DIR: a hermetic test rootfs with no shell: the static
# toolbox as /bin/toolbox, a dynamic copy /bin/toolbox-dyn with the cross
# toolchain's ld.so and libc, /etc/passwd and /etc/group for -u tests.
# Binaries are cached in $XARCH_FIXTURES (default /tmp/xarch-fixtures).
set -eu
arch=$1 dir=$2
declare -A CROSS=([riscv64]=riscv64-linux-gnu [aarch64]=aarch64-linux-gnu
	[arm]=arm-linux-gnueabihf [mips]=mips-linux-gnu)
t=${CROSS[$arch]}
src=$(cd "$(dirname "$0")" && pwd)/toolbox.c
cache=${XARCH_FIXTURES:-/tmp/xarch-fixtures}
command -v "$t-gcc" >/dev/null || { echo "no $t-gcc" >&2; exit 1; }
mkdir -p "$cache"
for kind in static dyn; do
	out="$cache/toolbox-$arch-$kind"
	[ "$out" -nt "$src" ] && continue
	if [ "$kind" = static ]; then "$t-gcc" -O2 -static -o "$out.tmp" "$src"
	else "$t-gcc" -O2 -o "$out.tmp" "$src"; fi
	mv "$out.tmp" "$out"
done
mkdir -p "$dir"/{bin,lib,etc,root,home/alice,proc,sys,dev,tmp,mnt,srv}
chmod 1777 "$dir/tmp"
install -m 755 "$cache/toolbox-$arch-static" "$dir/bin/toolbox"
install -m 755 "$cache/toolbox-$arch-dyn" "$dir/bin/toolbox-dyn"
interp=$(readelf -l "$dir/bin/toolbox-dyn" | sed -n 's/.*interpreter: \(.*\)]/\1/p')
mkdir -p "$dir$(dirname "$interp")"
cp -L "/usr/$t/lib/$(basename "$interp")" "$dir$interp"
for l in libc.so.6; do cp -L "/usr/$t/lib/$l" "$dir/lib/$l"; done
cat >"$dir/etc/passwd" <<PW
root:x:0:0:root:/root:/bin/toolbox
alice:x:1000:1000:Alice:/home/alice:/bin/toolbox
PW
cat >"$dir/etc/group" <<GR
root:x:0:
staff:x:50:alice
alice:x:1000:
GR
echo "nameserver 192.0.2.53" >"$dir/etc/resolv.conf"
echo "127.0.0.1 rootfs-hosts" >"$dir/etc/hosts"
chown 1000:1000 "$dir/home/alice"

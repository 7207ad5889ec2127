#!/bin/bash
# xarch build: Dockerfiles on a hermetic riscv64 toolbox rootfs (no shell,
# exec-form RUN), the seed's two-stage shape with a native stage, and shell
# RUN on the cached Debian tarball when it is there.  Results read back with
# skopeo, umoci, tar and `xarch run`.
. "$(dirname "$0")/lib.sh"
require_tools build riscv64-linux-gnu-gcc gcc skopeo umoci
[ "$(id -u)" -eq 0 ] || { skip "build: needs root (RUN as a container with owners kept)"; exit 0; }
export XARCH_BUILD_DIR=$TMP/state XARCH_STORE=$TMP/store
R=$TMP/rv
bash "$XARCH_TOP/tests/rootfs/mkrootfs.sh" riscv64 "$R" >/dev/null || { skip "build: mkrootfs failed"; exit 0; }
tar -C "$R" -cf "$TMP/rv.tar" .
X() { "$XARCH" build -q "$@"; }

# ---- one stage: RUN (emulated), env, workdir, user, COPY forms, metadata ----
C=$TMP/ctx1; mkdir -p "$C/sub/deep" "$C/skip"
echo a >"$C/a.txt"; echo b >"$C/b.txt"; echo c >"$C/c.log"; echo s >"$C/sub/deep/s"
echo k >"$C/skip/k"; echo keep >"$C/skip/keep.txt"
printf 'skip\n!skip/keep.txt\n**/*.log\n' >"$C/.dockerignore"
(cd "$TMP" && mkdir -p tarsrc/t && echo intar >tarsrc/t/f && tar -czf "$C/data.tgz" -C tarsrc t)
cat >"$C/Dockerfile" <<EOF
ARG BASE=tar:$TMP/rv.tar
FROM \$BASE AS base
ARG GREETING=hi
ARG TARGETARCH
ENV FOO=bar WHO="\$GREETING there"
WORKDIR /work
COPY *.txt ./
COPY sub /opt/sub/
COPY --chown=alice:staff a.txt /home/alice/owned
COPY --chown=1234 --chmod=0600 b.txt /srv/numeric
COPY skip/ /skipdir/
ADD data.tgz /untar/
ENV ARCH=\$TARGETARCH
RUN ["/bin/toolbox", "write", "/work/exec-form", "\$NOT_EXPANDED"]
USER alice
LABEL org.example.k=v
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
CMD ["/bin/toolbox", "id"]
EOF
check "build: one stage to dir:, oci:, tar: and the store" \
	X --platform linux/riscv64 --build-arg GREETING=hello -o "dir:$TMP/o1" -o "oci:$TMP/oci1:v1" \
	-o "tar:$TMP/o1.tar" -t tb1 "$C"
check "build: COPY glob into WORKDIR" test -f "$TMP/o1/work/a.txt" -a -f "$TMP/o1/work/b.txt"
check "build: COPY dir copies its contents" test -f "$TMP/o1/opt/sub/deep/s"
check_out "build: --chown=alice:staff from the rootfs's passwd" "1000:50" stat -c %u:%g "$TMP/o1/home/alice/owned"
check_out "build: --chown=1234 --chmod=0600" "1234:1234 600" stat -c '%u:%g %a' "$TMP/o1/srv/numeric"
check "build: .dockerignore excludes a dir, ** and keeps an exception" \
	bash -c "[ ! -e $TMP/o1/skipdir/k ] && [ -f $TMP/o1/skipdir/keep.txt ] && [ ! -e $TMP/o1/work/c.log ]"
check_out "build: ADD extracts a local tarball" "intar" cat "$TMP/o1/untar/t/f"
check_out "build: exec-form RUN (emulated) does not expand variables" '$NOT_EXPANDED' cat "$TMP/o1/work/exec-form"
check_out "build: oci: output config (skopeo)" '"User": "alice"' skopeo inspect --config "oci:$TMP/oci1:v1"
skopeo inspect --config "oci:$TMP/oci1:v1" >"$TMP/cfg.json"
check "build: config has Env, WorkingDir, Labels, ports, volumes, arch" bash -c \
	"grep -q 'WHO=hello there' $TMP/cfg.json && grep -q '\"WorkingDir\": \"/work\"' $TMP/cfg.json &&
	 grep -q 'org.example.k' $TMP/cfg.json && grep -q '53/udp' $TMP/cfg.json &&
	 grep -q '\"/data\"' $TMP/cfg.json && grep -q '\"architecture\": \"riscv64\"' $TMP/cfg.json &&
	 grep -q SIGTERM $TMP/cfg.json && grep -q ARCH=riscv64 $TMP/cfg.json"
check "build: umoci unpacks the oci: output" umoci unpack --rootless --image "$TMP/oci1:v1" "$TMP/um"
check "build: umoci tree has the files" test -f "$TMP/um/rootfs/opt/sub/deep/s"
check_out "build: tar: output lists the files" "work/a.txt" tar -tf "$TMP/o1.tar"
check_out "build: xarch run NAME uses Cmd and User" "uid=1000 gid=1000" "$XARCH" run tb1
check_out "build: xarch run NAME uses WorkingDir and Env" "WHO=hello there" "$XARCH" run tb1 /bin/toolbox env WHO

# ---- the step cache ----
t0=$(date +%s%N); X --platform linux/riscv64 --build-arg GREETING=hello -o "dir:$TMP/o1b" "$C" 2>"$TMP/c.err"; t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
if [ "$ms" -lt 1000 ]; then ok "build: unchanged rebuild from the cache in $ms ms"; else not_ok "build: rebuild took $ms ms"; fi
check "build: cached result is the same tree" diff -r "$TMP/o1" "$TMP/o1b"
"$XARCH" build --platform linux/riscv64 --build-arg GREETING=other -o "dir:$TMP/o1c" "$C" >"$TMP/c2.err" 2>&1
check_out "build: a changed build-arg is a miss" "0 cached" cat "$TMP/c2.err"
echo changed >"$C/a.txt"
"$XARCH" build --platform linux/riscv64 --build-arg GREETING=hello -o "dir:$TMP/o1d" "$C" >"$TMP/c3.err" 2>&1
check_out "build: a changed COPY source is a miss" "changed" cat "$TMP/o1d/work/a.txt"
"$XARCH" build --no-cache --platform linux/riscv64 --build-arg GREETING=hello -o "dir:$TMP/o1e" "$C" >"$TMP/c4.err" 2>&1
check_out "build: --no-cache runs it again" "0 cached" cat "$TMP/c4.err"

# ---- one cached layer per step: hits up to the changed step, whiteouts ----
C6=$TMP/ctx6; mkdir -p "$C6"
df6() {
	cat >"$C6/Dockerfile" <<EOF
FROM tar:$TMP/rv.tar
RUN ["/bin/toolbox", "write", "/s1", "one"]
ENV STEP=two
RUN ["/bin/toolbox", "rm", "/bin/toolbox-dyn"]
RUN ["/bin/toolbox", "write", "/s3", "$1"]
EOF
}
df6 three
"$XARCH" build --platform linux/riscv64 -o "oci:$TMP/l1" -o "dir:$TMP/l1d" "$C6" >"$TMP/l1.err" 2>&1
check_out "build: 3 RUNs, first build runs them all" "(5 steps, 0 cached)" cat "$TMP/l1.err"
check_out "build: oci: has the base layer + one per RUN (skopeo)" "4" \
	skopeo inspect --format '{{len .Layers}}' "oci:$TMP/l1"
check_out "build: history created_by is the instruction" '/bin/toolbox-dyn' \
	skopeo inspect --config "oci:$TMP/l1"
rmd=$(skopeo inspect --format '{{index .Layers 2}}' "oci:$TMP/l1")
check_out "build: the deleting step's layer is a whiteout" "bin/.wh.toolbox-dyn" \
	tar -tzf "$TMP/l1/blobs/sha256/${rmd#sha256:}"
check "build: umoci unpacks the layered image" umoci unpack --rootless --image "$TMP/l1:latest" "$TMP/l1u"
check "build: umoci applied the whiteout" test ! -e "$TMP/l1u/rootfs/bin/toolbox-dyn" -a -f "$TMP/l1u/rootfs/bin/toolbox"
check "build: umoci tree equals the dir: output" diff -r --no-dereference "$TMP/l1d" "$TMP/l1u/rootfs"
df6 changed
"$XARCH" build --platform linux/riscv64 -o "dir:$TMP/l2d" -o "docker-archive:$TMP/l2.tar:l2:v1" "$C6" >"$TMP/l2.err" 2>&1
echo "# first: $(grep '^built' "$TMP/l1.err"); 3rd RUN changed: $(grep '^built' "$TMP/l2.err")"
check_out "build: changing the 3rd RUN: steps 1-2 are cache hits" "(5 steps, 2 cached)" cat "$TMP/l2.err"
check_out "build: the hits say CACHED, the 3rd RUN runs" "2 1" bash -c \
	"echo \$(grep -c 'CACHED' $TMP/l2.err) \$(grep -v CACHED $TMP/l2.err | grep -c '/s3')"
check_out "build: the rebuilt step's result" "changed" cat "$TMP/l2d/s3"
check "build: earlier steps' results kept" bash -c "[ \$(cat $TMP/l2d/s1) = one ] && [ ! -e $TMP/l2d/bin/toolbox-dyn ]"
check_out "build: docker-archive: has 4 layers" "4" \
	skopeo inspect --format '{{len .Layers}}' "docker-archive:$TMP/l2.tar"
# docker/podman load the layered output (podman load needs no daemon and no cgroups)
if command -v podman >/dev/null; then
	check_out "build: podman load reads the docker-archive" "l2:v1" podman load -i "$TMP/l2.tar"
	check_out "build: ... as a riscv64 image of 4 layers" "riscv64 4" \
		podman image inspect docker.io/library/l2:v1 --format '{{.Architecture}} {{len .RootFS.Layers}}'
	podman rmi -f docker.io/library/l2:v1 >/dev/null 2>&1
else
	skip "build: podman load: podman is not installed (apt-get install podman)"
fi
t0=$(date +%s%N)
"$XARCH" build --platform linux/riscv64 -o "oci:$TMP/l3" "$C6" >"$TMP/l3.err" 2>&1
t1=$(date +%s%N)
check_out "build: unchanged rebuild takes every step from the cache" "(5 steps, 5 cached)" cat "$TMP/l3.err"
ok "build: unchanged layered rebuild (with an oci: output) in $(( (t1 - t0) / 1000000 )) ms"
check_out "build: and still has 4 layers" "4" skopeo inspect --format '{{len .Layers}}' "oci:$TMP/l3"
"$XARCH" build --no-cache --platform linux/riscv64 -o "dir:$TMP/l4d" "$C6" >"$TMP/l4.err" 2>&1
check_out "build: --no-cache reruns every step" "(5 steps, 0 cached)" cat "$TMP/l4.err"
check "build: --no-cache result equals the cached one" diff -r --no-dereference "$TMP/l2d" "$TMP/l4d"

# ---- errors name the Dockerfile line; nothing is written ----
C2=$TMP/ctx2; mkdir -p "$C2"
printf 'FROM tar:%s\nRUN ["/bin/toolbox", "id"]\nRUN ["/bin/toolbox", "exit", "3"]\n' "$TMP/rv.tar" >"$C2/Dockerfile"
check_rc "build: failing RUN exits 1" 1 X -o "dir:$TMP/o2" "$C2"
check_out "build: failing RUN names the line and status" "Dockerfile:3: RUN failed with exit 3" X -o "dir:$TMP/o2" "$C2"
check "build: no output after a failure" test ! -e "$TMP/o2"
printf 'FROM scratch\nCOPY nothere /x\n' >"$C2/Dockerfile"
check_out "build: missing COPY source" "Dockerfile:2: COPY source 'nothere' not found in the build context" X -o "dir:$TMP/o2" "$C2"
printf 'FROM scratch\nADD https://example.com/x /x\n' >"$C2/Dockerfile"
check_out "build: ADD of a URL" "Dockerfile:2: ADD of a URL is not supported" X -o "dir:$TMP/o2" "$C2"
printf 'FROM no/such:image\n' >"$C2/Dockerfile"
check_out "build: unknown base image" "Dockerfile:1: FROM 'no/such:image': no such stage or image" X -o "dir:$TMP/o2" "$C2"
printf 'FROM scratch\nHEALTHCHECK NONE\n' >"$C2/Dockerfile"
check_out "build: unsupported instruction" "Dockerfile:2:" X -o "dir:$TMP/o2" "$C2"

# ---- a symlink in the rootfs pointing outside cannot make COPY write outside ----
H=$TMP/hostile; cp -a "$R" "$H"; mkdir -p "$TMP/outside"
ln -s "$TMP/outside" "$H/escape"; ln -s ../../../../../../../../"$TMP/outside" "$H/rel"
ln -s "$TMP/outside/file" "$H/flink"
C3=$TMP/ctx3; mkdir -p "$C3"; echo evil >"$C3/evil"
cat >"$C3/Dockerfile" <<EOF
FROM dir:$H
COPY evil /escape/
COPY evil /rel/x
COPY evil /flink
WORKDIR /escape/w
EOF
check "build: hostile symlinks in the base" X -o "dir:$TMP/o3" "$C3"
check "build: nothing written outside the rootfs" bash -c "[ -z \"\$(ls -A $TMP/outside)\" ]"
check "build: the writes landed inside it" bash -c \
	"[ -f $TMP/o3$TMP/outside/evil ] && [ -f $TMP/o3$TMP/outside/x ] && [ -f $TMP/o3/flink ] && [ ! -L $TMP/o3/flink ]"

# ---- the seed's shape: a native stage fills /target, a riscv64 scratch stage takes it ----
N=$TMP/native; mkdir -p "$N/bin" "$N/etc"
gcc -O2 -static -o "$N/bin/toolbox" "$XARCH_TOP/tests/rootfs/toolbox.c"
echo 'root:x:0:0:root:/root:/bin/toolbox' >"$N/etc/passwd"; echo 'root:x:0:' >"$N/etc/group"
C4=$TMP/ctx4; mkdir -p "$C4"; cp -a "$R" "$C4/riscv-tree"
cat >"$C4/Dockerfile" <<EOF
# prepare the target rootfs from a native image
FROM dir:$N AS build
COPY riscv-tree /target/
# the native stage runs a host program that writes into /target
RUN ["/bin/toolbox", "write", "/target/etc/made-by", "native-stage"]

FROM --platform=linux/riscv64 scratch
COPY --from=build /target /
CMD [ "/bin/toolbox", "id" ]
EOF
check "build: seed shape (native stage, FROM --platform=linux/riscv64 scratch, COPY --from)" \
	X -o "oci:$TMP/seed" -o "dir:$TMP/seeddir" -t seed "$C4"
check_out "build: the native stage wrote into /target" "native-stage" cat "$TMP/seeddir/etc/made-by"
check_out "build: the image is linux/riscv64" '"architecture": "riscv64"' skopeo inspect --config "oci:$TMP/seed"
check_out "build: and runs emulated" "uid=0 gid=0" "$XARCH" run seed
check_out "build: --target stops at the native stage" "native-stage" \
	bash -c "'$XARCH' build -q --target build -o 'dir:$TMP/tgt' '$C4' && cat '$TMP/tgt/target/etc/made-by'"
check "build: --target output has no riscv64 root" test -f "$TMP/tgt/bin/toolbox"

# ---- shell-form RUN on a real riscv64 Debian rootfs ----
DEB=/var/cache/xarch-tests/debian-riscv64-forky.tar
if [ -f "$DEB" ]; then
	C5=$TMP/ctx5; mkdir -p "$C5"
	cat >"$C5/Dockerfile" <<EOF
FROM tar:$DEB AS deb
ARG TARGETARCH
ENV MSG="from env"
WORKDIR /srv/app
RUN echo "\$MSG in \$(pwd) as \$(id -u) on \$(uname -m) for \$TARGETARCH" > /result && test -f /etc/debian_version
RUN useradd -m bob
USER bob
RUN id -un > /home/bob/me
SHELL ["/bin/sh", "-ec"]
RUN exit 0
EOF
	check "build: shell-form RUN on Debian riscv64" X --platform linux/riscv64 -o "dir:$TMP/o5" "$C5"
	check_out "build: shell RUN sees ENV, WORKDIR, emulation" "from env in /srv/app as 0 on riscv64 for riscv64" cat "$TMP/o5/result"
	check_out "build: USER from useradd in an earlier RUN" "bob" cat "$TMP/o5/home/bob/me"
else
	skip "build: shell-form RUN on Debian riscv64: $DEB missing (tests/integration/run-debian.sh makes the arm64 one)"
fi
rm -rf "$TMP/state" "$TMP/store"

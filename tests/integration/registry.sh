#!/bin/bash
# xarch pull/push against a registry: Debian's docker-registry (anonymous,
# http on loopback) with skopeo as the oracle, and a python3 stub for the
# Bearer-token flow (challenge, token endpoint with Basic credentials,
# redirect of blobs to another host, chunked bodies).
. "$(dirname "$0")/lib.sh"

require_tools registry umoci skopeo python3
cd "$TMP" || exit 1
unpack_flags=()
[ "$(id -u)" -eq 0 ] || unpack_flags=(--rootless)
listing() { (cd "$1" && find . -mindepth 1 -printf '%p %y %m %l %s\n' | sort); }
same_tree() { diff <(listing "$1") <(listing "$2") && diff -r --no-dereference "$1" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL: until it answers (any status) or 10 s
	python3 - "$1" <<'PY'
import sys, time, urllib.request, urllib.error
for _ in range(100):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1); sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PY
}
manifest_digest() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"])' "$1"; }

# an image: two layers, a symlink, modes
mk_image() { # LAYOUT TAG ARCH MARK
	local L=$1 t=$2
	[ -d "$L" ] || umoci init --layout "$L" || return 1
	umoci new --image "$L:$t" && umoci config --image "$L:$t" --architecture="$3" --os=linux &&
		umoci unpack "${unpack_flags[@]}" --image "$L:$t" "B-$t" >/dev/null || return 1
	local r=B-$t/rootfs
	mkdir -p $r/etc $r/bin && echo "$4" >$r/etc/mark && chmod 640 $r/etc/mark &&
		ln -s ../etc/mark $r/bin/link || return 1
	umoci repack --image "$L:$t" "B-$t" >/dev/null && rm -rf "B-$t" &&
		umoci unpack "${unpack_flags[@]}" --image "$L:$t" "B-$t" >/dev/null || return 1
	echo two >"B-$t/rootfs/etc/two" && umoci repack --image "$L:$t" "B-$t" >/dev/null &&
		rm -rf "B-$t" && umoci unpack "${unpack_flags[@]}" --image "$L:$t" "REF-$t" >/dev/null
}
if ! mk_image L t amd64 plain >mk.log 2>&1; then
	not_ok "build the source image with umoci"; sed 's/^/#   /' mk.log | head; exit 1
fi
ok "source image built with umoci"

# ---- docker-registry ------------------------------------------------------------------
if command -v docker-registry >/dev/null; then
	port=$(free_port)
	cat >reg.yml <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $TMP/regdata
http:
  addr: 127.0.0.1:$port
YML
	docker-registry serve reg.yml >reg.log 2>&1 &
	regpid=$!
	on_exit "kill $regpid; wait $regpid 2>/dev/null"
	R=127.0.0.1:$port
	if ! wait_http "http://$R/v2/"; then
		not_ok "docker-registry did not start"; sed 's/^/#   /' reg.log | head; exit 1
	fi
	check "skopeo copy oci: -> docker://" skopeo copy -q --dest-tls-verify=false oci:L:t "docker://$R/test/img:t"
	check "xarch pull docker://" "$XARCH" pull -q "docker://$R/test/img:t" D1
	check "registry pull equals umoci's unpack" same_tree REF-t/rootfs D1
	check_out "pull of a missing tag fails by name" "HTTP 404" "$XARCH" pull -q "docker://$R/test/img:nope" D0
	check "no destination left on failure" test ! -e D0
	dg=$(manifest_digest L)
	check "pull by digest" "$XARCH" pull -q "docker://$R/test/img@$dg" D2
	check "pull by digest equals umoci's unpack" same_tree REF-t/rootfs D2

	check "xarch push oci: -> docker://" "$XARCH" push oci:L:t "docker://$R/test/pushed:v1"
	check "skopeo reads the pushed image" skopeo copy -q --src-tls-verify=false "docker://$R/test/pushed:v1" oci:P:v1
	check "pushed manifest digest is the layout's" test "$(manifest_digest P)" = "$dg"
	check_out "skopeo inspect sees the arch" '"Architecture": "amd64"' skopeo inspect --tls-verify=false "docker://$R/test/pushed:v1"
	check "push again (blobs exist: HEAD only)" "$XARCH" push oci:L:t "docker://$R/test/pushed:v2"
	check "xarch pull of what xarch pushed" "$XARCH" pull -q "docker://$R/test/pushed:v2" D3
	check "push/pull round trip equals umoci's unpack" same_tree REF-t/rootfs D3

	# export straight to a registry: the platform comes from the rootfs
	if bash "$XARCH_TOP/tests/rootfs/mkrootfs.sh" riscv64 RV >/dev/null 2>&1; then
		# the hermetic rootfs has no /bin/sh to detect the arch from
		check "xarch export DIR docker://" "$XARCH" export -q --platform riscv64 RV "docker://$R/test/exported:rv"
		check_out "skopeo sees a riscv64 image" '"Architecture": "riscv64"' \
			skopeo inspect --tls-verify=false "docker://$R/test/exported:rv"
		check "pull of the exported image" "$XARCH" pull -q "docker://$R/test/exported:rv" RV2
		check "export/pull round trip" diff -r RV RV2
	else
		skip "export to a registry: no riscv64 cross compiler for the test rootfs"
	fi

	# multi-arch: two images and a hand-written index over them
	if mk_image M rv riscv64 rv >>mk.log 2>&1 && mk_image M arm arm64 arm >>mk.log 2>&1 &&
		python3 - <<'PY'
import hashlib, json
idx = json.load(open("M/index.json"))
plat = {"rv": {"os": "linux", "architecture": "riscv64"},
        "arm": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
ms = []
for m in idx["manifests"]:
    t = m["annotations"]["org.opencontainers.image.ref.name"]
    ms.append({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
               "platform": plat[t]})
b = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": ms}).encode()
d = hashlib.sha256(b).hexdigest()
open("M/blobs/sha256/" + d, "wb").write(b)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
    "digest": "sha256:" + d, "size": len(b),
    "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(idx, open("M/index.json", "w"))
PY
	then
		ok "multi-arch layout built (riscv64 + arm64)"
		check "skopeo copy --all of the index" skopeo copy -q --all --dest-tls-verify=false oci:M:multi "docker://$R/test/multi:m"
		check "pull --platform riscv64" "$XARCH" pull -q --platform riscv64 "docker://$R/test/multi:m" MR
		check "riscv64 pull equals umoci's unpack" same_tree REF-rv/rootfs MR
		check "pull --platform linux/arm64" "$XARCH" pull -q --platform linux/arm64 "docker://$R/test/multi:m" MA
		check "arm64 pull equals umoci's unpack" same_tree REF-arm/rootfs MA
		check_out "pull --platform mips64le names what there is" "riscv64" "$XARCH" pull -q --platform mips64le "docker://$R/test/multi:m" MX
		check "xarch push of the index" "$XARCH" push oci:M:multi "docker://$R/test/multi2:m"
		check_out "skopeo sees an index of two" "2" python3 -c '
import json, subprocess, sys
raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", sys.argv[1]],
                     capture_output=True, check=True).stdout
print(len(json.loads(raw)["manifests"]))' "docker://$R/test/multi2:m"
		check "skopeo copy --all of the pushed index" skopeo copy -q --all --src-tls-verify=false "docker://$R/test/multi2:m" oci:M2:m
		check "pull --platform arm64 of the pushed index" "$XARCH" pull -q --platform arm64 "docker://$R/test/multi2:m" MA2
		check "pushed arm64 equals umoci's unpack" same_tree REF-arm/rootfs MA2
	else
		not_ok "multi-arch layout"; sed 's/^/#   /' mk.log | tail -5
	fi
else
	skip "registry: docker-registry is not installed (apt-get install docker-registry)"
fi

# ---- Bearer tokens: the python3 stub -------------------------------------------------
python3 "$XARCH_TOP/tests/registry/stub.py" --layout L --user alice --password 's3cret:x' >stub.out 2>stub.log &
stubpid=$!
on_exit "kill $stubpid; wait $stubpid 2>/dev/null"
for _ in $(seq 50); do grep -q READY stub.out && break; sleep 0.1; done
sport=$(awk '/READY/ {print $2}' stub.out)
if [ -z "$sport" ]; then
	not_ok "token stub did not start"; sed 's/^/#   /' stub.log | head; exit 1
fi
S=127.0.0.1:$sport
check_out "no credentials: refused with the fix" "--creds" env DOCKER_CONFIG="$TMP/none" "$XARCH" pull -q "docker://$S/test/img:t" T0
check_out "wrong credentials: refused" "token server" "$XARCH" pull -q --creds alice:bad "docker://$S/test/img:t" T0
check "bearer pull with --creds (redirected, chunked blobs)" "$XARCH" pull -q --creds 'alice:s3cret:x' "docker://$S/test/img:t" T1
check "bearer pull equals umoci's unpack" same_tree REF-t/rootfs T1
mkdir -p dcfg
printf '{"auths":{"%s":{"auth":"%s"}}}' "$S" "$(printf 'alice:s3cret:x' | base64)" >dcfg/config.json
check "bearer pull with credentials from \$DOCKER_CONFIG/config.json" env DOCKER_CONFIG="$TMP/dcfg" "$XARCH" pull -q "docker://$S/test/img:t" T2
check "storage never saw Authorization" bash -c "! grep -q ' 403 ' stub.log"
# 0.0.0.0 reaches the loopback stub but is not a loopback name: https is tried
check_out "https to a plain http server fails cleanly" "TLS" "$XARCH" pull -q "docker://0.0.0.0:$sport/test/img:t" T3

# ---- https: the stub behind TLS with a self-signed certificate -------------------------
if command -v openssl >/dev/null &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=xarch-test \
		-addext "subjectAltName=IP:0.0.0.0,DNS:localhost" \
		-keyout key.pem -out cert.pem >openssl.log 2>&1; then
	python3 "$XARCH_TOP/tests/registry/stub.py" --layout L --user alice --password pw \
		--tls cert.pem key.pem >tls.out 2>tls.log &
	tlspid=$!
	on_exit "kill $tlspid; wait $tlspid 2>/dev/null"
	for _ in $(seq 50); do grep -q READY tls.out && break; sleep 0.1; done
	tport=$(awk '/READY/ {print $2}' tls.out)
	check_out "https: an untrusted certificate is refused" "not trusted" "$XARCH" pull -q --creds alice:pw "docker://0.0.0.0:$tport/test/img:t" H0
	check "https: nothing left behind after the refusal" test ! -e H0
	check "https pull, certificate trusted via SSL_CERT_FILE (SNI, IP and DNS SANs)" env SSL_CERT_FILE="$TMP/cert.pem" "$XARCH" pull -q --creds alice:pw "docker://0.0.0.0:$tport/test/img:t" H1
	check "https pull equals umoci's unpack" same_tree REF-t/rootfs H1
else
	skip "registry: https test needs the openssl command"
fi

#!/usr/bin/env python3
"""A tiny read-only registry for the bearer-token flow, serving one OCI layout.

/v2/...   needs "Authorization: Bearer <token>", else 401 with a Bearer challenge
/token    the token endpoint; with --user/--password it wants Basic auth
blobs     redirect (307) to http://localhost:PORT/storage/DIGEST, another host
          name, which refuses requests that still carry Authorization, and
          answers chunked so the client's chunked decoder is exercised.
Prints "READY PORT" when listening; stops on SIGTERM.
"""
import argparse, base64, hashlib, json, os, re, ssl, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "stub-token-" + hashlib.sha256(os.urandom(8)).hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layout", required=True)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https")
    a = ap.parse_args()
    index = json.load(open(os.path.join(a.layout, "index.json")))
    tags = {m.get("annotations", {}).get("org.opencontainers.image.ref.name"): m
            for m in index["manifests"]}

    def blob(d):
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", d):
            return None
        p = os.path.join(a.layout, "blobs", "sha256", d[7:])
        return open(p, "rb").read() if os.path.exists(p) else None

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            sys.stderr.write("stub: " + (args[0] % args[1:]) + "\n")

        def send(self, code, body=b"", headers=(), chunked=False):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(body), 1000):
                    part = body[i:i + 1000]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            port = self.server.server_address[1]
            scheme = "https" if a.tls else "http"
            host = self.headers.get("Host", f"127.0.0.1:{port}")
            auth = self.headers.get("Authorization", "")
            if self.path.startswith("/token"):
                if a.user:
                    want = "Basic " + base64.b64encode(
                        f"{a.user}:{a.password}".encode()).decode()
                    if auth != want:
                        return self.send(401, b'{"details":"bad credentials"}')
                if "scope=repository%3A" not in self.path or "service=stub" not in self.path:
                    return self.send(400, b'{"details":"no scope or service"}')
                return self.send(200, json.dumps({"token": TOKEN}).encode(),
                                 [("Content-Type", "application/json")])
            if self.path.startswith("/storage/"):
                if auth:
                    return self.send(403, b"credentials leaked to storage")
                b = blob(self.path[9:])
                return self.send(200 if b is not None else 404, b or b"",
                                 [("Content-Type", "application/octet-stream")],
                                 chunked=b is not None)
            if auth != "Bearer " + TOKEN:
                ch = (f'Bearer realm="{scheme}://{host}/token",service="stub"')
                m = re.match(r"/v2/(.+)/(manifests|blobs)/", self.path)
                if m:
                    ch += f',scope="repository:{m.group(1)}:pull"'
                return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}',
                                 [("WWW-Authenticate", ch)])
            if self.path == "/v2/":
                return self.send(200, b"{}")
            m = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", self.path)
            if m:
                ref = m.group(2)
                d = tags.get(ref) if not ref.startswith("sha256:") else {"digest": ref}
                b = blob(d["digest"]) if d else None
                if b is None:
                    return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}')
                mt = json.loads(b).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
                return self.send(200, b, [("Content-Type", mt),
                                          ("Docker-Content-Digest", d["digest"])])
            m = re.fullmatch(r"/v2/(.+)/blobs/(sha256:[0-9a-f]{64})", self.path)
            if m:
                return self.send(307, b"", [("Location",
                                             f"{scheme}://localhost:{port}/storage/{m.group(2)}")])
            self.send(404, b"")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("READY", srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()

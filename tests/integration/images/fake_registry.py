#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small OCI distribution server for the images/ tests: it serves the blobs and tagged roots of
an OCI layout directory read-only, and can demand Bearer tokens from its own token endpoint (the
realm), demand Basic auth, redirect blob downloads to a second "storage" port, and inject faults:
wrong bytes, bodies truncated mid-way, 500s, ignored Range headers, schema 1 manifests.
Every request is appended to --log as "METHOD PATH range=<Range> auth=<scheme>" for assertions.

Usage: fake_registry.py --layout DIR --port-file F --log F [--auth bearer|basic] [--user U:P]
       [--fault MODE] [--fail-count N] [--redirect] [--store DIR (accept pushes)]
Tokens grant the scopes asked for; writes need repository:<name>:pull,push.
Faults: wrong-digest, truncate-once, truncate-always, 500, no-range, schema1, token-refuse,
huge-manifest (5 MiB), long-blob (more bytes than the descriptor says), 429 (with Retry-After),
reset-once (the first request of each path gets its connection reset).
"""
import argparse
import base64
import hashlib
import json
import os
import secrets
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
COUNTS = {}
TOKENS = {}  # token -> granted scopes
UPLOADS = {}  # uuid -> bytearray
LINKS = set()  # (repo, digest) of pushed blobs: blobs are per repository
STORAGE_PORT = None


def log(line):
    with LOCK, open(ARGS.log, "a") as f:
        f.write(line + "\n")


def bump(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


def tags():
    with open(os.path.join(ARGS.layout, "index.json")) as f:
        idx = json.load(f)
    out = {}
    for d in idx.get("manifests", []):
        name = d.get("annotations", {}).get("org.opencontainers.image.ref.name")
        if name:
            out[name] = d
    return out


def blob_path(digest):
    if not digest.startswith("sha256:") or len(digest) != 71:
        return None
    # A registry accepting pushes starts empty: it serves only what was pushed to it.
    root = ARGS.store if ARGS.store else ARGS.layout
    p = os.path.join(root, "blobs", "sha256", digest[7:])
    return p if os.path.exists(p) else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def send_json(self, code, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, ecode, msg, extra=None):
        self.send_json(code, {"errors": [{"code": ecode, "message": msg}]}, extra)

    def auth_scheme(self):
        a = self.headers.get("Authorization", "")
        return a.split(" ", 1)[0].lower() if a else "none"

    def check_basic(self, header):
        if not header.lower().startswith("basic "):
            return False
        try:
            got = base64.b64decode(header[6:]).decode()
        except Exception:
            return False
        return got == ARGS.user

    def token_endpoint(self):
        # The realm: /token?service=..&scope=..
        from urllib.parse import urlparse, parse_qs
        q = parse_qs(urlparse(self.path).query)
        log("TOKEN service=%s scope=%s auth=%s" % (",".join(q.get("service", [])),
                                                   "|".join(q.get("scope", [])), self.auth_scheme()))
        if ARGS.fault == "token-refuse":
            return self.error(401, "UNAUTHORIZED", "token refused")
        if ARGS.user and not self.check_basic(self.headers.get("Authorization", "")):
            return self.error(401, "UNAUTHORIZED", "bad credentials")
        tok = secrets.token_hex(16)
        with LOCK:
            TOKENS[tok] = " ".join(q.get("scope", []))
        # Alternate the two field names registries use.
        key = "token" if bump("token") % 2 else "access_token"
        return self.send_json(200, {key: tok, "expires_in": 300})

    def authorized(self):
        a = self.headers.get("Authorization", "")
        push = self.command in ("POST", "PUT", "PATCH", "DELETE")
        if ARGS.auth == "bearer":
            granted = TOKENS.get(a[7:], None) if a.startswith("Bearer ") else None
            want = "repository:%s:%s" % (self.repo or "x", "pull,push" if push else "pull")
            if granted is not None and (want in granted.split(" ") or
                                        (not push and "repository:%s:pull,push" % self.repo
                                         in granted.split(" "))):
                return True
            realm = "http://127.0.0.1:%d/token" % self.server.server_address[1]
            ch = 'Bearer realm="%s",service="fake-registry",scope="%s"' % (realm, want)
            self.error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": ch})
            return False
        if ARGS.auth == "basic":
            if self.check_basic(a):
                return True
            self.error(401, "UNAUTHORIZED", "authentication required",
                       {"WWW-Authenticate": 'Basic realm="fake"'})
            return False
        return True

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        log("%s %s range=%s auth=%s" % (self.command, self.path,
                                         self.headers.get("Range", "-"), self.auth_scheme()))
        if self.server.server_address[1] == STORAGE_PORT:
            return self.storage()
        if self.path.startswith("/token"):
            return self.token_endpoint()
        self.repo = None
        path = self.path.split("?", 1)[0]
        if path == "/v2/":
            if not self.authorized():
                return
            return self.send_json(200, {})
        parts = path[len("/v2/"):].split("/")
        if not path.startswith("/v2/") or len(parts) < 3:
            return self.error(404, "NOT_FOUND", "no such path")
        kind, ref = parts[-2], parts[-1]
        self.repo = "/".join(parts[:-2])
        if not self.authorized():
            return
        if ARGS.fault == "reset-once" and bump("r" + self.path) == 1:
            # Drop the connection without an answer (RST with SO_LINGER 0).
            import socket
            import struct
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if ARGS.fault == "500":
            n = bump(self.path)
            if ARGS.fail_count == 0 or n <= ARGS.fail_count:
                return self.error(500, "UNKNOWN", "injected failure %d" % n)
        if ARGS.fault == "429":
            n = bump(self.path)
            if ARGS.fail_count == 0 or n <= ARGS.fail_count:
                return self.error(429, "TOOMANYREQUESTS", "slow down %d" % n,
                                  {"Retry-After": "1"})
        if kind == "manifests":
            return self.manifest(ref)
        if kind == "blobs":
            if ARGS.redirect:
                self.send_response(307)
                self.send_header("Location", "http://127.0.0.1:%d/storage/%s" % (STORAGE_PORT, ref))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self.blob(ref)
        return self.error(404, "NOT_FOUND", "no such path")

    def do_POST(self):
        self.write_op()

    def do_PATCH(self):
        self.write_op()

    def do_PUT(self):
        self.write_op()

    def body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def write_op(self):
        log("%s %s range=%s auth=%s" % (self.command, self.path,
                                         self.headers.get("Content-Range", "-"), self.auth_scheme()))
        from urllib.parse import urlparse, parse_qs
        u = urlparse(self.path)
        q = parse_qs(u.query)
        data = self.body()
        parts = u.path[len("/v2/"):].split("/")
        if not ARGS.store or not u.path.startswith("/v2/") or len(parts) < 3:
            return self.error(405, "UNSUPPORTED", "read-only registry")
        if parts[-2] == "uploads" or parts[-1] == "uploads" or parts[-1] == "":
            i = parts.index("blobs")
            self.repo = "/".join(parts[:i])
        else:
            self.repo = "/".join(parts[:-2])
        if not self.authorized():
            return
        store = os.path.join(ARGS.store, "blobs", "sha256")
        os.makedirs(store, exist_ok=True)
        if self.command == "POST" and u.path.endswith("/blobs/uploads/"):
            uid = secrets.token_hex(8)
            UPLOADS[uid] = bytearray()
            return self.reply(202, {"Location": "/v2/%s/blobs/uploads/%s" % (self.repo, uid)})
        if "/blobs/uploads/" in u.path:
            uid = parts[-1]
            if uid not in UPLOADS:
                return self.error(404, "BLOB_UPLOAD_UNKNOWN", "no such upload")
            UPLOADS[uid] += data
            if self.command == "PATCH":
                return self.reply(202, {"Location": u.path})
            dig = q.get("digest", [""])[0]
            got = "sha256:" + hashlib.sha256(UPLOADS[uid]).hexdigest()
            if got != dig:
                return self.error(400, "DIGEST_INVALID", "got %s" % got)
            with open(os.path.join(store, dig[7:]), "wb") as f:
                f.write(UPLOADS.pop(uid))
            LINKS.add((self.repo, dig))
            return self.reply(201, {"Docker-Content-Digest": dig})
        if parts[-2] == "manifests" and self.command == "PUT":
            dig = "sha256:" + hashlib.sha256(data).hexdigest()
            with open(os.path.join(store, dig[7:]), "wb") as f:
                f.write(data)
            with LOCK, open(os.path.join(ARGS.store, "tags"), "a") as f:
                f.write("%s %s %s %s\n" % (self.repo, parts[-1], dig,
                                           self.headers.get("Content-Type", "")))
            return self.reply(201, {"Docker-Content-Digest": dig})
        return self.error(404, "NOT_FOUND", "no such path")

    def reply(self, code, headers):
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def manifest(self, ref):
        log("ACCEPT %s" % self.headers.get("Accept", "-"))
        if ref.startswith("sha256:"):
            p = blob_path(ref)
            if not p:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            data = open(p, "rb").read()
            mt = json.loads(data).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
        else:
            d = tags().get(ref)
            if not d:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            data = open(blob_path(d["digest"]), "rb").read()
            mt = d["mediaType"]
        if ARGS.fault == "huge-manifest":
            data = b"{" + b" " * (5 * 1024 * 1024) + b"}"
        if ARGS.fault == "schema1":
            data = json.dumps({"schemaVersion": 1, "name": self.repo, "tag": ref,
                               "fsLayers": [], "history": []}).encode()
            mt = "application/vnd.docker.distribution.manifest.v1+prettyjws"
        self.send_response(200)
        self.send_header("Content-Type", mt)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(data).hexdigest())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def storage(self):
        if "Authorization" in self.headers:
            return self.error(400, "LEAKED", "registry credentials sent to blob storage")
        return self.blob(self.path.rsplit("/", 1)[-1])

    def blob(self, digest):
        p = blob_path(digest)
        if ARGS.store and (self.repo, digest) not in LINKS:
            p = None
        if not p:
            return self.error(404, "BLOB_UNKNOWN", "blob unknown")
        data = open(p, "rb").read()
        if ARGS.fault == "wrong-digest":
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        if ARGS.fault == "long-blob":
            data = data + b"trailing bytes past the descriptor's size"
        start = 0
        rng = self.headers.get("Range")
        if rng and ARGS.fault != "no-range" and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
        if ARGS.fault == "no-range" and self.command == "GET" and bump("nr" + digest) == 1:
            # First answer: half the blob, then a reset, so the client must resume.
            return self.truncated(200, data, 0, len(data) // 2)
        body = data[start:]
        code = 206 if start else 200
        trunc = False
        if ARGS.fault == "truncate-always" and len(body) > 1:
            trunc = True
        elif ARGS.fault == "truncate-once" and bump("t" + digest) == 1 and len(body) > 1:
            trunc = True
        if trunc and self.command == "GET":
            return self.truncated(code, data, start, start + len(body) // 2)
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Content-Digest", digest)
        if code == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def truncated(self, code, data, start, stop):
        """Announces the whole rest, sends up to stop, then drops the connection."""
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        if code == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        self.wfile.write(data[start:stop])
        self.wfile.flush()
        self.close_connection = True
        try:
            import socket
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    global ARGS, STORAGE_PORT
    ap = argparse.ArgumentParser()
    ap.add_argument("--layout", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--auth", choices=["bearer", "basic"])
    ap.add_argument("--user")
    ap.add_argument("--fault")
    ap.add_argument("--fail-count", type=int, default=0)
    ap.add_argument("--redirect", action="store_true")
    ap.add_argument("--store", help="accept pushes into this directory")
    ARGS = ap.parse_args()
    socketserver.TCPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if ARGS.redirect:
        st = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        st.daemon_threads = True
        STORAGE_PORT = st.server_address[1]
        threading.Thread(target=st.serve_forever, daemon=True).start()
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, ARGS.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

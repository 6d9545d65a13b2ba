#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A Docker token server (the realm of registry token auth) for the images/ tests. It answers
GET /token?service=S&scope=repository:NAME:ACTIONS with a JWT signed RS256 by --key, carrying the
certificate --cert in its x5c header, so that Debian's docker-registry configured with
auth.token (rootcertbundle = --cert, issuer = --issuer, service = --service) accepts it. With
--user U:P it demands Basic credentials and refuses others; without, it serves anyone. Every
request is logged to --log as "TOKEN service=.. scope=a|b auth=basic|none".

Usage: token_server.py --key K --cert C --issuer I --service S --port-file F --log F [--user U:P]
"""
import argparse
import base64
import json
import os
import secrets
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ARGS = None
CERT_DER = None


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(data):
    p = subprocess.run(["openssl", "dgst", "-sha256", "-sign", ARGS.key], input=data,
                       capture_output=True, check=True)
    return p.stdout


def make_token(service, scopes, subject):
    now = int(time.time())
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) < 3:
            continue
        access.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                       "actions": parts[-1].split(",")})
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(CERT_DER).decode()]}
    claims = {"iss": ARGS.issuer, "sub": subject, "aud": service, "exp": now + 300,
              "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    return signing_input.decode() + "." + b64url(sign(signing_input))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def answer(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        a = self.headers.get("Authorization", "")
        with open(ARGS.log, "a") as f:
            f.write("TOKEN service=%s scope=%s auth=%s\n" % (
                ",".join(q.get("service", [])), "|".join(q.get("scope", [])),
                a.split(" ", 1)[0].lower() if a else "none"))
        if u.path != "/token":
            return self.answer(404, {"error": "not found"})
        subject = "anonymous"
        if ARGS.user:
            ok = False
            if a.lower().startswith("basic "):
                try:
                    ok = base64.b64decode(a[6:]).decode() == ARGS.user
                except Exception:
                    ok = False
            if not ok:
                return self.answer(401, {"error": "bad credentials"})
            subject = ARGS.user.split(":", 1)[0]
        service = q.get("service", [""])[0]
        tok = make_token(service, q.get("scope", []), subject)
        return self.answer(200, {"token": tok, "access_token": tok, "expires_in": 300})


def main():
    global ARGS, CERT_DER
    ap = argparse.ArgumentParser()
    for k in ("--key", "--cert", "--issuer", "--service", "--port-file", "--log"):
        ap.add_argument(k, required=True)
    ap.add_argument("--user")
    ARGS = ap.parse_args()
    CERT_DER = subprocess.run(["openssl", "x509", "-in", ARGS.cert, "-outform", "DER"],
                              capture_output=True, check=True).stdout
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, ARGS.port_file)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

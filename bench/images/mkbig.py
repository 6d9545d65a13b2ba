#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes an OCI layout (tag "latest") of a synthetic image of N gzip layers of about SIZE MiB in
total (compressed; twice that unpacked, in files of 256 KiB), for the pull benchmark.
Usage: mkbig.py OUTDIR [--layers 4] [--mib 250]"""
import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile


def blob(out, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--mib", type=int, default=250)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "blobs", "sha256"), exist_ok=True)
    per = a.mib * 1024 * 1024 // a.layers
    layers, diffs = [], []
    for i in range(a.layers):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
            # Files of 256 KiB, half random and half zeros: about 2:1 under gzip, like
            # typical layers, so that a layer of `per` compressed bytes holds twice that.
            nfiles = max(1, 2 * per // (256 * 1024))
            for k in range(nfiles):
                payload = b"".join(os.urandom(2048) + bytes(2048) for _ in range(64))
                ti = tarfile.TarInfo("data/l%d/d%02d/f%05d" % (i, k % 64, k))
                ti.size = len(payload)
                ti.mtime = 0
                t.addfile(ti, io.BytesIO(payload))
        tar = raw.getvalue()
        gz = gzip.compress(tar, compresslevel=1, mtime=0)
        diffs.append("sha256:" + hashlib.sha256(tar).hexdigest())
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": blob(a.out, gz), "size": len(gz)})
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "config": {"Cmd": ["/bin/sh"]},
                      "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": blob(a.out, cfg), "size": len(cfg)},
                      "layers": layers}).encode()
    md = blob(a.out, man)
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
             "size": len(man), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    print(md)


if __name__ == "__main__":
    main()

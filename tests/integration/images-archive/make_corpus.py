#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the hostile and broken archives of test-hostile.sh into OUTDIR, derived from the
fixture's OCI layout tar and docker-archive: each file is one fault, plus good-*.tar controls
repacked the same way that must import."""
import hashlib
import io
import json
import os
import sys
import tarfile


def members(path):
    out = []
    with tarfile.open(path) as t:
        for m in t.getmembers():
            data = t.extractfile(m).read() if m.isfile() else None
            out.append((m, data))
    return out


def write(path, entries):
    """entries: list of (name, data) for files or (TarInfo, data) for anything else."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in entries:
            if isinstance(name, tarfile.TarInfo):
                info = name
            else:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
            t.addfile(info, io.BytesIO(data) if data is not None and info.isfile() else None)


def link(name, target, kind=tarfile.SYMTYPE):
    i = tarfile.TarInfo(name)
    i.type = kind
    i.linkname = target
    return (i, None)


def files(ms):
    return [(m.name, d) for m, d in ms if m.isfile()]


def main():
    oci_tar, docker_tar, out = sys.argv[1:4]
    oci = files(members(oci_tar))
    docker = files(members(docker_tar))
    index = json.loads(dict(oci)["index.json"])
    man_hex = index["manifests"][0]["digest"].split(":")[1]
    man = json.loads(dict(oci)["blobs/sha256/" + man_hex])
    layer = "blobs/sha256/" + man["layers"][0]["digest"].split(":")[1]
    config = "blobs/sha256/" + man["config"]["digest"].split(":")[1]
    O = lambda n: os.path.join(out, n)

    write(O("good-oci.tar"), oci)
    write(O("good-docker.tar"), docker)
    # a blob whose bytes are not what its name says
    write(O("wrong-digest.tar"), [(n, d + b"x" if n == config else d) for n, d in oci])
    # an archive cut inside the layer blob
    full = open(oci_tar, "rb").read()
    with tarfile.open(oci_tar) as t:
        off = next(m.offset_data for m in t.getmembers() if m.name == layer)
    cut = sorted((n for n, _ in oci), key=lambda n: n != layer)
    write(O("ordered.tar"), [(n, dict(oci)[n]) for n in cut])
    with tarfile.open(O("ordered.tar")) as t:
        off = next(m.offset_data for m in t.getmembers() if m.name == layer)
        size = next(m.size for m in t.getmembers() if m.name == layer)
    data = open(O("ordered.tar"), "rb").read()
    open(O("truncated.tar"), "wb").write(data[: off + size // 2])
    os.unlink(O("ordered.tar"))
    # an OCI layout without index.json
    write(O("no-index.tar"), [(n, d) for n, d in oci if n != "index.json"])
    # a manifest whose layer is not in the archive
    write(O("missing-layer.tar"), [(n, d) for n, d in oci if n != layer])
    # path traversal in entry names
    write(O("dotdot.tar"), oci + [("../archive-escape", b"pwned")])
    write(O("dotdot-blobs.tar"), oci + [("blobs/../../archive-escape", b"pwned")])
    write(O("absolute.tar"), oci + [("/tmp/archive-escape-abs", b"pwned")])
    # a symlink and a hard link in blobs/
    evil = "blobs/sha256/" + "e" * 64
    write(O("symlink-blob.tar"), [(n, d) for n, d in oci if n != layer] + [link(layer, "/etc/passwd")])
    write(O("hardlink-blob.tar"), oci + [link(evil, "index.json", tarfile.LNKTYPE)])
    # a file outside blobs/ in an OCI layout, and a malformed blob name
    write(O("outside-blobs.tar"), oci + [("evil.sh", b"#!/bin/sh\n")])
    write(O("bad-blob-name.tar"), oci + [("blobs/sha256/abc", b"x")])
    write(O("sha512.tar"), oci + [("blobs/sha512/" + "a" * 128, b"x")])
    # huge JSON files
    huge = b"[" + b" " * (6 << 20) + b"]"
    write(O("huge-manifest-json.tar"), [(n, d) for n, d in docker if n != "manifest.json"]
          + [("manifest.json", huge)])
    write(O("huge-index-json.tar"), [(n, d) for n, d in oci if n != "index.json"]
          + [("index.json", huge)])
    # docker-archive: a layer symlink leaving the archive, a layer missing, bad JSON
    dm = json.loads(dict(docker)["manifest.json"])
    dlayer = dm[0]["Layers"][0]
    write(O("docker-symlink-out.tar"), [(n, d) for n, d in docker if n != dlayer]
          + [link(dlayer, "../../../etc/passwd")])
    write(O("docker-missing-layer.tar"), [(n, d) for n, d in docker if n != dlayer])
    write(O("docker-bad-json.tar"), [(n, d) for n, d in docker if n != "manifest.json"]
          + [("manifest.json", b"[{\"Config\": 5}]")])
    write(O("docker-bad-tag.tar"), [(n, d) for n, d in docker if n != "manifest.json"]
          + [("manifest.json", json.dumps([dict(dm[0], RepoTags=["UPPER/Case:x"])]).encode())])
    # docker-archive with a layer symlinked inside the archive (docker save does this): fine
    write(O("good-docker-symlink.tar"), [(n, d) for n, d in docker if n != dlayer]
          + [("real/layer.tar", dict(docker)[dlayer])]
          + [link(dlayer, "../real/layer.tar")])
    # a device node, a duplicate entry, not a tar at all, an empty tar, a size mismatch
    dev = tarfile.TarInfo("blobs/sha256/" + "d" * 64)
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    write(O("device.tar"), oci + [(dev, None)])
    write(O("duplicate.tar"), oci + [("index.json", dict(oci)["index.json"])])
    open(O("not-a-tar.tar"), "wb").write(b"this is not a tar archive\n" * 100)
    write(O("empty.tar"), [])
    idx2 = json.loads(dict(oci)["index.json"])
    idx2["manifests"][0]["size"] += 1
    write(O("size-mismatch.tar"), [(n, json.dumps(idx2).encode() if n == "index.json" else d)
                                   for n, d in oci])
    write(O("bad-layout.tar"), [(n, b'{"imageLayoutVersion":"9.9"}' if n == "oci-layout" else d)
                                for n, d in oci])

    # blobs larger than what the importer holds in memory: staged in ingests
    big = bytes((i * 7919 + (i >> 13)) & 0xFF for i in range(9 << 20))
    write(O("good-big.tar"), [(n, d) for n, d in docker if n != dlayer] + [(dlayer, big)])
    open(O("big.sha256"), "w").write(hashlib.sha256(big).hexdigest() + "\n")
    write(O("big-ordered.tar"), [(dlayer, big)] + [(n, d) for n, d in docker if n != dlayer])
    with tarfile.open(O("big-ordered.tar")) as t:
        off = next(m.offset_data for m in t.getmembers() if m.name == dlayer)
    data = open(O("big-ordered.tar"), "rb").read()
    open(O("big-truncated.tar"), "wb").write(data[: off + (7 << 20)])
    os.unlink(O("big-ordered.tar"))
    write(O("big-wrong-digest.tar"), oci + [("blobs/sha256/" + "f" * 64, big)])


main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Generates a multi-layer image's layers (gzip tars) of about TOTAL_MB uncompressed: a base
# with many small files and a few big ones, and upper layers that add, change and delete.
# Usage: gen-layers.py OUTDIR [TOTAL_MB] [LAYERS]
import gzip, io, os, random, sys, tarfile

out = sys.argv[1]
total = int(sys.argv[2]) if len(sys.argv) > 2 else 250
nlayers = int(sys.argv[3]) if len(sys.argv) > 3 else 5
rng = random.Random(7)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 9)))
         for _ in range(4000)]

def text(n):
    # compressible text, like source and config files (gzip ratio about 3)
    parts, size = [], 0
    while size < n:
        w = rng.choice(words)
        parts.append(w)
        size += len(w) + 1
    return (' '.join(parts))[:n].encode()

def binary(n):
    # half random, half text: like executables and libraries
    return os.urandom(n // 2) + text(n - n // 2)

os.makedirs(out, exist_ok=True)
per_layer = total * 1024 * 1024 // nlayers
for li in range(nlayers):
    path = os.path.join(out, 'layer%d.tar.gz' % li)
    with open(path, 'wb') as f:
        with gzip.GzipFile(fileobj=f, mode='wb', compresslevel=6, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode='w|', format=tarfile.PAX_FORMAT) as tar:
                size = 0
                d = 0
                while size < per_layer:
                    dname = 'l%d/d%03d' % (li, d)
                    ti = tarfile.TarInfo(dname)
                    ti.type = tarfile.DIRTYPE
                    ti.mode = 0o755
                    tar.addfile(ti)
                    for fi in range(60):
                        big = rng.random() < 0.02
                        n = rng.randint(200_000, 3_000_000) if big else rng.randint(100, 12_000)
                        data = binary(n) if big else text(n)
                        ti = tarfile.TarInfo('%s/f%03d' % (dname, fi))
                        ti.size = len(data)
                        ti.mode = 0o644
                        ti.mtime = 1700000000
                        tar.addfile(ti, io.BytesIO(data))
                        size += n
                        if fi % 20 == 0:
                            ln = tarfile.TarInfo('%s/s%03d' % (dname, fi))
                            ln.type = tarfile.SYMTYPE
                            ln.linkname = 'f%03d' % fi
                            tar.addfile(ln)
                    d += 1
                if li > 0:
                    # delete a directory of the layer below and make another one opaque
                    for name in ('l%d/.wh.d000' % (li - 1), 'l%d/d001/.wh..wh..opq' % (li - 1)):
                        ti = tarfile.TarInfo(name)
                        tar.addfile(ti)
    print(path, os.path.getsize(path))

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Differential test of common/toml.c against Python's tomllib (TOML 1.0).

Runs a corpus of hand-written documents plus deterministic mutations of them (and of containerd's
default config when containerd is installed) through toml-dump and tomllib. Both must accept and
reject the same documents and, when both accept, read the same tree. The only differences allowed
are the subset's documented refusals: dates and times, NUL characters in strings, nesting past
TOML_MAX_DEPTH, and floats too large for a double; integers past 64 bits, which TOML 1.0 says to
refuse and tomllib keeps; and a UTF-8 byte order mark, which toml.c skips.

Usage: test-toml-diff.py TOML_DUMP [MUTATIONS]
"""

import datetime
import json
import math
import random
import shutil
import subprocess
import sys
import tomllib

VALID = [
    "",
    "a = 1\n",
    "a = -0\nb = +99\nc = 1_000\nd = 0xdead_BEEF\ne = 0o17\nf = 0b1_0\n",
    "x = 1.5\ny = -2e-3\nz = 6.02E+23\nw = 1_0.0_1e1_0\nv = inf\nu = -inf\nt = nan\ns = +nan\n",
    "s = \"a\\tb\\n\\\"q\\\"\\\\ \\u00e9\\U0001F600\"\nl = 'C:\\path'\n",
    "m = \"\"\"\nfirst\n  second\\\n   third\"\"\"\nq = '''\n'x'\n'''\n",
    "e = \"\"\"a\"\"\"\"\"\nf = '''b'''''\n",
    "k = \"\"\"\\\n\n\n  x\"\"\"\n",
    "\"q k\" = 1\n'l k' = 2\n\"\" = 3\na.\"b.c\".d = 4\n1.2 = 5\n",
    "a . b = 1\na.c = 2\n",
    "[t]\nx = 1\n[t.sub]\ny = 2\n[u . 'v']\n",
    "[a.b.c]\nx = 1\n[a]\ny = 2\n[a.b]\nz = 3\n",
    "[a.b.c]\nz = 9\n[a]\nb.d = 1\n[a.b.e]\n",
    "[fruit]\napple.color = 'red'\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true\n",
    "arr = [1, 2, 3,]\nn = [[1], ['a'], [], [{}]]\nm = [\n  1, # c\n  # c\n  2\n]\nmix = [1, 'a', 1.5, true]\n",
    "it = {a = 1, b.c = 'x', d = {e = [1, 2]}}\nempty = {}\nml = {a = [\n1,\n2]}\n",
    "[[p]]\nn = 1\n[p.s]\nx = 1\n[[p]]\nn = 2\n[[p.q]]\nk = 1\n[[p.q]]\nk = 2\n",
    "[[t]]\n[t.a]\n[[t]]\n[t.a]\n",
    "a = 1 # comment \t\n# only comment\n\n\t \n[b] # c\n",
    "a = 1\r\nb = 'x'\r\n[c]\r\nd = \"\"\"\r\nl1\r\nl2\"\"\"\r\n",
    "key = \"value\"\nbare_key = 1\nbare-key = 2\n1234 = 3\ntrue = false\ninf = 1\n",
    "tab\t=\t1\n\t[\tx\t]\t\n",
    "n = 9223372036854775807\nm = -9223372036854775808\nh = 0x7FFFFFFFFFFFFFFF\n",
    "f = 0.0\ng = -0.0\nh = 0e0\ni = 1e-400\n",
    "\"grüße\" = 'x'\n\"ключ\" = 'значение'\n",
]

INVALID = [
    "a\n", "a =\n", "= 1\n", "a = 1 2\n", "a = 1\na = 2\n", "[t]\n[t]\n", "[a]\nb.c = 1\n[a.b]\n",
    "[a.b]\n[a]\nb.c = 1\n", "a = {x = 1}\n[a]\n", "a = {x = 1}\n[a.b]\n", "a = {x=1}\na.y = 2\n",
    "a = 1\n[a.b]\n", "a = []\n[[a]]\n", "[a]\n[[a]]\n", "[[a]]\n[a]\n", "a = [1 2]\n",
    "a = [1,,2]\n", "a = [,]\n", "t = {a = 1,}\n", "t = {a = 1\n}\n", "t = {a}\n", "[t\n", "[[t]\n",
    "[]\n", "[a.]\n", "a.= 1\n", "k = \"abc\n", "k = 'abc\n", "k = \"\\q\"\n", "k = \"\\u12\"\n",
    "k = \"\\uD800\"\n", "k = \"a\x01\"\n", "k = 1 # \x07\n", "k = 1\rj = 2\n", "\"\"\"k\"\"\" = 1\n",
    "n = 012\n", "n = 1__0\n", "n = _1\n", "n = 1_\n", "n = 1.\n", "n = .5\n", "n = 1e\n",
    "n = 0x\n", "n = -0x1\n", "n = 0X1\n", "n = 0b2\n",
    "b = True\n", "b = truex\n", "n = infinity\n", "k = '''a''''''\n", "[t] x = 1\n",
    "a = 1 b = 2\n", "a = \"x\" \"y\"\n", "[a]]\n", "[[a]]]\n", "a = {b = 1, b = 2}\n",
    "a = {b.c = 1, b = 2}\n", "p = [{a = 1}]\n[p.b]\n", "n = +0x1\n",
    "k = \"\"\"a\"\"\"\"\"\"\n", "a = '''\n", "[a]\nb = 1\n[a]\n", "x = [\n", "x = {",
]

ALPHABET = list("[]{}=\"'.,#\n \t\\_-+e:0123456789abxfotrun") + ["\r\n", "\"\"\"", "'''", "[[", "]]"]


def tag(v):
    """tomllib's value in toml-dump's tagged form."""
    if isinstance(v, dict):
        return {k: tag(x) for k, x in v.items()}
    if isinstance(v, list):
        return [tag(x) for x in v]
    if isinstance(v, bool):
        return {"type": "bool", "value": "true" if v else "false"}
    if isinstance(v, int):
        return {"type": "integer", "value": str(v)}
    if isinstance(v, float):
        return {"type": "float", "value": v}
    if isinstance(v, str):
        return {"type": "string", "value": v}
    raise TypeError(type(v))


def normalize(ours):
    """Floats from toml-dump as Python floats, for comparison."""
    if isinstance(ours, dict) and set(ours) == {"type", "value"} and isinstance(ours["value"], str):
        if ours["type"] == "float":
            return {"type": "float", "value": float(ours["value"])}
        return ours
    if isinstance(ours, dict):
        return {k: normalize(x) for k, x in ours.items()}
    if isinstance(ours, list):
        return [normalize(x) for x in ours]
    return ours


def same(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


def outside_subset(value):
    """True when tomllib's result holds something the subset refuses."""
    if isinstance(value, dict):
        return any("\0" in k or outside_subset(v) for k, v in value.items())
    if isinstance(value, list):
        return any(outside_subset(v) for v in value)
    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return True
    # TOML 1.0 wants integers that do not fit 64 bits refused; tomllib keeps them.
    if isinstance(value, int) and not isinstance(value, bool):
        return not -(2**63) <= value < 2**63
    return isinstance(value, str) and "\0" in value


def depth(value):
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def mutate(rng, doc):
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(5)
        i = rng.randint(0, len(doc))
        if op == 0 and doc:
            doc = doc[:i] + doc[i + 1:]
        elif op in (1, 2):
            doc = doc[:i] + rng.choice(ALPHABET) + doc[i:]
        elif op == 3:
            lines = doc.split("\n")
            j = rng.randrange(len(lines))
            lines.insert(rng.randrange(len(lines) + 1), lines[j])
            doc = "\n".join(lines)
        else:
            lines = doc.split("\n")
            rng.shuffle(lines)
            doc = "\n".join(lines)
    return doc


def main():
    dump = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    seeds = list(VALID)
    containerd = shutil.which("containerd")
    if containerd:
        seeds.append(subprocess.run([containerd, "config", "default"], capture_output=True,
                                    text=True, check=True).stdout)
    rng = random.Random(20240101)
    docs = [(d, "valid") for d in VALID] + [(d, "invalid") for d in INVALID]
    docs += [(mutate(rng, rng.choice(seeds)), "mutant") for _ in range(count)]

    stdin = b"".join(str(len(d.encode())).encode() + b"\n" + d.encode() for d, _ in docs)
    out = subprocess.run([dump], input=stdin, capture_output=True, check=True).stdout
    results = [json.loads(line) for line in out.decode().splitlines()]
    assert len(results) == len(docs), f"{len(results)} results for {len(docs)} documents"

    failures = 0
    skipped = 0
    for (doc, kind), ours in zip(docs, results):
        try:
            ref = tomllib.loads(doc)
            ref_err = None
        except tomllib.TOMLDecodeError as e:
            ref, ref_err = None, str(e)
        if ref is not None and (outside_subset(ref) or depth(ref) > 60):
            skipped += 1
            continue
        # A float literal too large for a double: tomllib reads inf, toml.c refuses it.
        if ref is not None and "error" in ours and ours["error"].startswith("doc:") and \
                "out of range" in ours["error"] and "float '" in ours["error"]:
            skipped += 1
            continue
        if doc.startswith("\ufeff"):
            skipped += 1
            continue
        problem = None
        if kind == "valid" and ref_err:
            problem = f"corpus document tomllib rejects: {ref_err}"
        elif kind == "invalid" and ref is not None:
            problem = "corpus document tomllib accepts"
        elif ref_err and "ok" in ours:
            problem = f"accepted, tomllib says: {ref_err}"
        elif ref is not None and "error" in ours:
            problem = f"rejected: {ours['error']}"
        elif ref is not None and not same(normalize(ours["ok"]), tag(ref)):
            problem = f"different tree:\n  ours:    {ours['ok']}\n  tomllib: {tag(ref)}"
        if problem:
            failures += 1
            if failures <= 20:
                print(f"FAIL ({kind}) {problem}\n--- document:\n{doc!r}\n")
    passed = len(docs) - failures - skipped
    print(f"toml-diff: {len(docs)} documents, {skipped} outside the subset")
    print(f"{passed} passed, {failures} failed, {skipped} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# The main job: install what wharf needs, build it, make the bundled demo image from Debian's
# busybox-static, unpack it and run a container from it with wharf's own OCI runtime.
# Everything lives in a temp dir that is removed at the end. Run as root on Debian 12.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
build=$("$top/scripts/build.sh" | tail -n 1)
oci=$build/oci/wharf-oci

work=$(mktemp -d /tmp/wharf-demo-XXXXXX)
id=demo-$$
cleanup() {
	"$oci" --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building the demo image from busybox-static"
"$top/tests/fixtures/build-image.sh" "$work/img"

echo "== unpacking it into a bundle"
mkdir -p "$work/bundle/rootfs"
python3 - "$work/img/oci" "$work/bundle/rootfs" <<'PY'
import json, subprocess, sys
layout, rootfs = sys.argv[1], sys.argv[2]
blob = lambda d: f"{layout}/blobs/sha256/{d.split(':')[1]}"
index = json.load(open(f"{layout}/index.json"))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
for layer in manifest["layers"]:
    subprocess.run(["tar", "-xzf", blob(layer["digest"]), "-C", rootfs], check=True)
PY

echo "== running a container with wharf-oci"
cd "$work/bundle"
"$oci" spec
python3 - config.json <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sh", "-c", "echo hello from wharf: $(uname -s) $(hostname), pid $$"]
json.dump(spec, open(sys.argv[1], "w"), indent=2)
PY
"$oci" --root "$work/state" run "$id"

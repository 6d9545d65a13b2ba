#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/install.sh into a staging dir: the binaries run, the unit names the installed daemon
# and is Type=notify with KillMode=process, the config parses (wharfd starts with it), and an
# existing config is kept.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d /tmp/install-test-XXXXXX)
daemon=
cleanup() {
	[[ -n $daemon ]] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$top/scripts/install.sh" --build "$build" --prefix /opt/wharf --destdir "$work/root" >/dev/null
b=$work/root/opt/wharf/bin
for x in wharfd wharfd-worker wharfctl wharf-shim wharf-oci containerd-shim-wharf-v2; do
	[[ -x $b/$x ]] || fail "$x not installed"
done
[[ $(readlink "$b/containerd-shim-wharf-v2") == wharf-shim ]] || fail "shim alias"
"$b/wharf-oci" --version >/dev/null || fail "wharf-oci does not run"
unit=$work/root/etc/systemd/system/wharfd.service
grep -q '^ExecStart=/opt/wharf/bin/wharfd ' "$unit" || fail "unit ExecStart"
for k in Type=notify Delegate=yes KillMode=process; do
	grep -qx "$k" "$unit" || fail "unit lacks $k"
done
cfg=$work/root/etc/wharf/config.toml
# The shipped config must be accepted by the daemon it ships with (paths moved to the test).
sed -e "s|/var/lib/wharf|$work/lib|" -e "s|/run/wharf|$work/run|g" "$cfg" >"$work/config.toml"
"$b/wharfd" --config "$work/config.toml" --log-level error &
daemon=$!
for _ in $(seq 100); do
	"$b/wharfctl" --address "$work/run/wharfd.sock" version >/dev/null 2>&1 && break
	sleep 0.1
done
"$b/wharfctl" --address "$work/run/wharfd.sock" version >/dev/null || fail "wharfd did not serve"
# The default CNI network: valid JSON, wharf0 with the plugins wharfd's own default has
# (tests/integration/netd compares it with the file wharfd writes), and kept when changed.
net=$work/root/etc/cni/net.d/wharf0.conflist
[[ -f $net ]] || fail "wharf0.conflist not installed"
python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
assert c["name"] == "wharf0", c["name"]
assert [p["type"] for p in c["plugins"]] == ["bridge", "portmap", "firewall"], c["plugins"]' "$net" ||
	fail "wharf0.conflist is not the default network"
echo " " >>"$net"
echo "# a local change" >>"$cfg"
"$top/scripts/install.sh" --build "$build" --prefix /opt/wharf --destdir "$work/root" >/dev/null
grep -q "a local change" "$cfg" || fail "existing config overwritten"
[[ $(tail -c 2 "$net") == " " ]] || fail "existing wharf0.conflist overwritten"
echo "install: 1 passed, 0 failed"

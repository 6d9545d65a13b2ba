#!/usr/bin/env bash
# Installs wharf from a build dir: the binaries, the systemd unit, the default config and the
# default CNI network (wharf0).
# Usage: scripts/install.sh [--build DIR] [--prefix /usr/local] [--destdir DIR] [--enable]
#   --destdir stages everything below DIR (for packaging and tests); --enable runs
#   `systemctl daemon-reload` and `systemctl enable --now wharfd` (only without --destdir).
# An existing /etc/wharf/config.toml is kept. Needs root for a real install.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build/release
prefix=/usr/local
destdir=
enable=0
while (($#)); do
	case $1 in
	--build) build=$2; shift ;;
	--prefix) prefix=$2; shift ;;
	--destdir) destdir=$2; shift ;;
	--enable) enable=1 ;;
	*) echo "install.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
bins=(supervisor/wharfd supervisor/wharfd-worker ctl/wharfctl shim/wharf-shim oci/wharf-oci)
for b in "${bins[@]}"; do
	[[ -x $build/$b ]] || { echo "install.sh: '$build/$b' is missing: build first (scripts/build.sh)" >&2; exit 1; }
done

bindir=$destdir$prefix/bin
install -d -m 0755 "$bindir" "$destdir/etc/wharf" "$destdir/etc/systemd/system"
for b in "${bins[@]}"; do
	install -m 0755 "$build/$b" "$bindir/"
done
# The runtime name io.containerd.wharf.v2 resolves to this name on PATH.
ln -sf wharf-shim "$bindir/containerd-shim-wharf-v2"
sed "s|/usr/local/bin/wharfd|$prefix/bin/wharfd|" "$top/packaging/wharfd.service" \
	>"$destdir/etc/systemd/system/wharfd.service"
chmod 0644 "$destdir/etc/systemd/system/wharfd.service"
if [[ ! -e $destdir/etc/wharf/config.toml ]]; then
	install -m 0644 "$top/packaging/config.toml" "$destdir/etc/wharf/config.toml"
fi
# The default CNI network wharf0 (bridge with host-local IPAM under /var/lib/wharf, portmap,
# firewall; the loopback plugin brings up each container's lo): the same file wharfd writes into
# its conf_dir on first use. An existing one is kept. The plugins are Debian's
# containernetworking-plugins in /usr/lib/cni (scripts/deps/net.txt).
if [[ ! -e $destdir/etc/cni/net.d/wharf0.conflist ]]; then
	install -d -m 0755 "$destdir/etc/cni/net.d"
	cat >"$destdir/etc/cni/net.d/wharf0.conflist" <<'EOF'
{
    "cniVersion": "1.0.0",
    "name": "wharf0",
    "plugins": [
        {
            "type": "bridge",
            "bridge": "wharf0",
            "isGateway": true,
            "ipMasq": true,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "dataDir": "/var/lib/wharf/cni/networks",
                "ranges": [
                    [
                        {
                            "subnet": "10.89.0.0/24",
                            "gateway": "10.89.0.1"
                        }
                    ]
                ],
                "routes": [
                    {
                        "dst": "0.0.0.0/0"
                    }
                ]
            }
        },
        {
            "type": "portmap",
            "capabilities": {
                "portMappings": true
            }
        },
        {
            "type": "firewall"
        }
    ],
    "wharfManaged": {
        "labels": {

        }
    }
}
EOF
	chmod 0644 "$destdir/etc/cni/net.d/wharf0.conflist"
fi
echo "install.sh: installed wharf into ${destdir:-/}${prefix}"
if ((enable)) && [[ -z $destdir ]]; then
	systemctl daemon-reload
	systemctl enable --now wharfd.service
fi

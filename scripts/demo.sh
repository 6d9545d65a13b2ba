#!/usr/bin/env bash
# The main job: install what wharf needs, build it, start the daemon wharfd, import the bundled
# demo image (made from Debian's busybox-static) and run a container from it with wharfctl.
# The daemon runs on a temp root, state dir and socket, and everything is removed at the end.
# Run as root on Debian 12.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
build=$("$top/scripts/build.sh" | tail -n 1)
export PATH=$build/shim:$PATH # containerd-shim-wharf-v2, the runtime io.containerd.wharf.v2

work=$(mktemp -d /tmp/wharf-demo-XXXXXX)
sock=$work/state/wharfd.sock
ctl() { "$build/ctl/wharfctl" --address "$sock" "$@"; }
daemon=
cleanup() {
	if [[ -n $daemon ]]; then
		kill -TERM "$daemon" 2>/dev/null || true
		wait "$daemon" 2>/dev/null || true
	fi
	grep -o " $work[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	umount -l "$work/hostns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building the demo image from busybox-static"
"$top/tests/fixtures/build-image.sh" "$work/img"

echo "== starting wharfd (root $work/root, state $work/state)"
# Containers get CNI networks: the default bridge wharf0 is written to conf_dir on first use.
# The daemon runs in a network namespace of the demo's own, standing in for the host, so the
# bridge and its iptables rules go away with it.
printf 'root = "%s"\nstate = "%s"\n[cni]\nconf_dir = "%s"\n' "$work/root" "$work/state" \
	"$work/cni" >"$work/config.toml"
touch "$work/hostns"
unshare --net="$work/hostns" ip link set lo up
hostns() { nsenter --net="$work/hostns" "$@"; }
nsenter --net="$work/hostns" "$build/supervisor/wharfd" --config "$work/config.toml" \
	--log-level warn 2>"$work/wharfd.log" &
daemon=$!
for _ in $(seq 100); do
	[[ -S $sock ]] && ctl version >/dev/null 2>&1 && break
	kill -0 "$daemon" 2>/dev/null || { cat "$work/wharfd.log" >&2; exit 1; }
	sleep 0.1
done
ctl version

echo "== importing the image"
ctl images import "$work/img/busybox.tar"
ctl images ls

echo "== running a container"
ctl run --rm wharf.test/busybox:latest demo \
	sh -c 'echo "hello from wharf: pid $$ in its own namespaces, $(ls /bin | wc -l) programs in /bin"'

echo "== two containers on the default bridge network: httpd in one, wget from the other"
ctl run -d -p 127.0.0.1:8080:80 wharf.test/busybox:latest web sh -c \
	'mkdir /www && echo "hello from the web container" >/www/index.html && exec httpd -f -p 80 -h /www'
ip=$(ctl tasks exec --exec-id ip web ip -4 -o addr show eth0 </dev/null | awk '{print $4}')
ip=${ip%/*}
echo "web is at $ip"
for _ in $(seq 50); do
	hostns busybox nc -w 1 "$ip" 80 </dev/null >/dev/null 2>&1 && break
	sleep 0.1
done
ctl run --rm wharf.test/busybox:latest client wget -q -O - "http://$ip/index.html"
echo "== the published port 127.0.0.1:8080 of the (demo's) host"
printf 'GET /index.html HTTP/1.0\r\n\r\n' | hostns busybox nc -w 3 127.0.0.1 8080 | tail -n 1
ctl network ls
ctl tasks kill -s KILL web
for _ in $(seq 50); do
	ctl tasks delete web >/dev/null 2>&1 && break
	sleep 0.1
done
ctl containers rm web >/dev/null

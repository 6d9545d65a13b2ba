#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Container networking end to end: a real wharfd with Debian's CNI plugins, driven by wharfctl,
# busybox containers talking to each other.
#   netd-e2e.sh WHARFCTL WHARFD SHIMDIR FIXTURE
# wharfd runs inside a network namespace the test makes ($T/hostns, "the host" here): the
# bridge, the veths' host ends, the iptables rules and the sysctls the plugins touch all live
# there and die with it, so nothing of the real host's network is changed. Its conf_dir, CNI
# cache and IPAM data are under the test's tmpfs. Checks: the default network written on first
# use, two containers on the bridge (nc and wget against httpd), a published port on 127.0.0.1,
# --net none (only lo), --net host (the host's interfaces), --dns/--add-host/--hostname in the
# container's files, interface counters in metrics, network create/ls/inspect/rm with their
# refusals, bad flags leaving nothing behind, and no namespace, veth, IPAM lease, CNI cache entry
# or per-container iptables rule left after delete and after wharfd was killed -9 and restarted.
# Exit 0 pass, 1 fail, 77 skip. Everything started is stopped by PID; mounts and dirs removed.
set -u
W=$1
WHARFD=$2
SHIMDIR=$3
FIXTURE=$4
img=wharf.test/busybox:latest
fails=0
checks=0
T=""
DPID=""

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# expect_out "desc" "expected substring" cmd...: runs cmd, checks rc 0 and the output.
expect_out() {
	local desc=$1 want=$2 out rc
	shift 2
	checks=$((checks + 1))
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$desc: exit $rc: $out"
	elif [[ "$out" != *"$want"* ]]; then
		fail "$desc: '$want' not in: $out"
	fi
}

# expect_fail "desc" "expected stderr substring" cmd...: exit 1 with one line naming the problem.
expect_fail() {
	local desc=$1 want=$2 out rc
	shift 2
	checks=$((checks + 1))
	out=$("$@" 2>&1 >/dev/null)
	rc=$?
	if [ $rc -ne 1 ]; then
		fail "$desc: exit $rc, expected 1: $out"
	elif [[ "$out" != *"$want"* ]]; then
		fail "$desc: '$want' not in: $out"
	elif [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ]; then
		fail "$desc: error is not one line: $out"
	fi
}

# check "desc" test-expression-as-command...
check() {
	local desc=$1
	shift
	checks=$((checks + 1))
	"$@" || fail "$desc"
}

hostrun() { nsenter --net="$T/hostns" "$@"; }

# glob STRING PATTERN: [[ STRING == PATTERN ]] as a command (for check).
glob() { [[ "$1" == $2 ]]; }
# has STRING SUBSTRING: a literal substring test.
has() { [[ "$1" == *"$2"* ]]; }

cleanup() {
	local pidf p
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	[ -n "$T" ] || return
	for pidf in $(find "$T/state" -name shim.pid -o -name init.pid 2>/dev/null); do
		p=$(cat "$pidf")
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	done
	for p in $(cat "$T/pids" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null
	done
	sleep 0.2
	grep -o " $T/[^ ]*" /proc/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	umount -l "$T" 2>/dev/null
	rm -rf "$T"
}

start_daemon() {
	local i
	PATH="$SHIMDIR:$PATH" nsenter --net="$T/hostns" "$WHARFD" --config "$T/config.toml" \
		--log-level debug >>"$T/wharfd.log" 2>&1 &
	DPID=$!
	for i in $(seq 1 200); do
		"$W" version >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	echo "wharfd did not come up:" >&2
	tail -20 "$T/wharfd.log" >&2
	return 1
}

# The container's IPv4 address on eth0 (through an exec).
ip_of() {
	"$W" tasks exec --exec-id "ip$RANDOM" "$1" sh -c \
		"ip -4 addr show ${2:-eth0} | awk '/inet /{sub(/\\/.*/, \"\", \$2); print \$2}'" </dev/null
}

# Waits (bounded) until the httpd of container $1 answers on its address $2.
wait_http() {
	local i
	for i in $(seq 1 100); do
		hostrun busybox nc -w 2 "$2" 80 </dev/null >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

http_get() { printf 'GET /index.html HTTP/1.0\r\n\r\n' | hostrun busybox nc -w 3 "$1" "$2" 2>/dev/null; }

# Leftovers of the containers: namespaces, records, CNI cache, leases, veths, iptables rules.
assert_clean() {
	local what=$1 out
	checks=$((checks + 1))
	out=$(ls -A "$T/state/netns" "$T/state/net" 2>/dev/null | grep -v ':$' | grep -v '^$')
	[ -z "$out" ] || fail "$what: network namespaces or records left: $out"
	out=$(ls -A "$T/root/cni/cache/results" 2>/dev/null)
	[ -z "$out" ] || fail "$what: CNI cache entries left: $out"
	out=$(find "$T/root/cni/networks" -type f 2>/dev/null | grep -E '/[0-9a-f.:]+$')
	[ -z "$out" ] || fail "$what: IPAM leases left: $out"
	out=$(hostrun ip -o link show type veth)
	[ -z "$out" ] || fail "$what: veths left in the host namespace: $out"
	out=$(hostrun iptables-save 2>/dev/null | grep -E -- '-A CNI-(DN|SN|HOSTPORT-DNAT -.*--comment)|10\.(89|99)\.' )
	[ -z "$out" ] || fail "$what: per-container iptables rules left: $out"
	out=$(grep -c " $T/state/netns/" /proc/mounts)
	[ "$out" -eq 0 ] || fail "$what: $out network namespace mounts left"
}

wait_stopped() {
	local i
	for i in $(seq 1 100); do
		"$W" tasks ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}' | grep -q STOPPED && return 0
		sleep 0.05
	done
	return 1
}

rm_task() {
	"$W" tasks kill -a -s KILL "$1" >/dev/null 2>&1
	wait_stopped "$1"
	"$W" tasks delete "$1" >/dev/null 2>&1 || fail "tasks delete $1"
	"$W" containers rm "$1" >/dev/null 2>&1 || fail "containers rm $1"
}

tests() {
	local out web_ip cli_ip a b subnet2

	expect_out "import" "$img" "$W" images import "$T/fx/busybox.tar"

	# A file of that name that is not wharf0 is never overwritten.
	mkdir -p "$T/cni"
	echo '{"cniVersion": "1.0.0", "name": "other", "plugins": [{"type": "loopback"}]}' \
		>"$T/cni/wharf0.conflist"
	expect_fail "a foreign wharf0.conflist" "wharf0.conflist' exists but does not define network 'wharf0'" \
		"$W" run --rm "$img" first true
	check "the foreign file is kept" grep -q '"other"' "$T/cni/wharf0.conflist"
	rm "$T/cni/wharf0.conflist"
	assert_clean "after a failed create"
	# The default network is written into conf_dir on first use, marked as wharf's.
	out=$("$W" run --rm "$img" first true </dev/null 2>&1)
	check "first run on the default network: $out" [ -z "$out" ]
	check "wharf0.conflist written" [ -f "$T/cni/wharf0.conflist" ]
	expect_out "network ls" "10.89.0.0/24" "$W" network ls
	expect_out "network ls plugins" "bridge,portmap,firewall" "$W" network ls
	expect_out "network inspect" '"Managed": true' "$W" network inspect wharf0
	expect_out "network inspect default" '"Default": true' "$W" network inspect wharf0
	# scripts/install.sh installs the same default network (its IPAM dir under /var/lib/wharf).
	local top build
	top=$(cd "$(dirname "$0")/../../.." && pwd)
	build=$(dirname "$(dirname "$WHARFD")")
	if [ -x "$build/oci/wharf-oci" ] && [ -x "$build/shim/wharf-shim" ]; then
		"$top/scripts/install.sh" --build "$build" --destdir "$T/inst" >/dev/null ||
			fail "install.sh --destdir"
		checks=$((checks + 1))
		python3 - "$T/inst/etc/cni/net.d/wharf0.conflist" "$T/cni/wharf0.conflist" "$T/root" <<'EOF' ||
import json, sys
inst, made = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
made["plugins"][0]["ipam"]["dataDir"] = made["plugins"][0]["ipam"]["dataDir"].replace(sys.argv[3], "/var/lib/wharf")
assert inst == made, (inst, made)
EOF
			fail "the installed wharf0.conflist differs from the one wharfd writes"
	fi

	# Two containers on the bridge: httpd in one, nc and wget from the other.
	expect_out "run -d web" "web" "$W" run -d -p 127.0.0.1:18080:80 --hostname web1 "$img" web \
		sh -c 'mkdir -p /www && echo hello-web >/www/index.html && exec httpd -f -p 80 -h /www'
	web_ip=$(ip_of web)
	check "web has an address in 10.89.0.0/24: '$web_ip'" glob "$web_ip" "10.89.0.*"
	check "web's httpd answers" wait_http web "$web_ip"
	out=$("$W" run --rm "$img" cli sh -c \
		"printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 3 $web_ip 80; wget -q -O - http://$web_ip/index.html" \
		</dev/null 2>&1)
	check "nc from another container: '$out'" [ "$(printf '%s\n' "$out" | grep -c hello-web)" -eq 2 ]
	# A published port answers on the host's 127.0.0.1 (portmap).
	out=$(http_get 127.0.0.1 18080)
	check "published port 127.0.0.1:18080: '$out'" glob "$out" "*hello-web*"
	expect_out "hostname" "web1" "$W" tasks exec --exec-id h1 web hostname
	expect_out "/etc/hostname" "web1" "$W" tasks exec --exec-id h2 web cat /etc/hostname
	expect_out "/etc/hosts names the container" "$web_ip	web1" "$W" tasks exec --exec-id h3 web cat /etc/hosts
	# Interface counters of the container's namespace in metrics.
	out=$("$W" tasks metrics web 2>&1)
	a=$(printf '%s\n' "$out" | awk '$1 == "network.eth0.rx_bytes" {print $2}')
	check "metrics has eth0 counters: $out" [ "${a:-0}" -gt 0 ]
	check "metrics leaves lo out" [ -z "$(printf '%s\n' "$out" | grep network.lo)" ]
	expect_out "network inspect lists web" '"default/web"' "$W" network inspect wharf0

	# --dns, --add-host, --hostname, and the default host name (the id).
	out=$("$W" run --rm --dns 192.0.2.53 --add-host db:192.0.2.7 --hostname h-x "$img" files \
		sh -c 'cat /etc/resolv.conf /etc/hosts; hostname' </dev/null 2>&1)
	check "--dns in resolv.conf: $out" glob "$out" "*nameserver 192.0.2.53*"
	check "--add-host in hosts: $out" glob "$out" "*192.0.2.7	db*"
	check "--hostname: $out" [ "$(printf '%s\n' "$out" | tail -1)" = h-x ]
	out=$("$W" run --rm "$img" plainname hostname </dev/null 2>&1)
	check "default hostname is the id: '$out'" [ "$out" = plainname ]

	# --net none: only lo (up); --net host: the host's interfaces.
	out=$("$W" run --rm --net none "$img" n1 sh -c "ip -o link | awk -F': ' '{print \$2}'" </dev/null 2>&1)
	check "--net none has only lo: '$out'" [ "$out" = lo ]
	out=$("$W" run --rm --net none "$img" n2 sh -c "ip -o link show lo" </dev/null 2>&1)
	check "--net none: lo is up: '$out'" glob "$out" "*UP*"
	a=$("$W" run --rm --net host "$img" h1 sh -c "ip -o link | awk -F': ' '{print \$2}' | sed 's/@.*//' | sort" </dev/null 2>&1)
	b=$(hostrun ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//' | sort)
	check "--net host sees the host's interfaces: '$a' vs '$b'" [ "$a" = "$b" ]
	check "--net host has the bridge" glob "$a" "*wharf0*"
	out=$("$W" run --rm --net host "$img" h2 sh -c 'cat /etc/resolv.conf' </dev/null 2>&1)
	check "--net host shares the host's resolv.conf" [ "$out" = "$(cat /etc/resolv.conf)" ]
	out=$("$W" run --rm --net host --add-host x:192.0.2.9 "$img" h3 cat /etc/hosts </dev/null 2>&1)
	a=$(cat /etc/hosts; printf '192.0.2.9\tx')
	check "--net host: the host's hosts plus --add-host: '$out'" [ "$out" = "$a" ]
	out=$("$W" run --rm --net host "$img" h4 hostname </dev/null 2>&1)
	check "--net host: the host's name: '$out'" [ "$out" = "$(hostname)" ]
	# The stored spec says so too: no network namespace of its own.
	"$W" containers create --net host "$img" h5 true >/dev/null 2>&1
	out=$("$W" containers info h5 2>&1)
	no_netns() { has "$1" '"type": "pid"' && ! has "$1" '"type": "network"'; }
	check "--net host: the stored spec has no network namespace: $out" no_netns "$out"
	"$W" containers rm h5 >/dev/null 2>&1

	# network create / ls / inspect / rm
	subnet2=10.99.$((RANDOM % 200 + 10)).0/24
	expect_out "network create" "net2" "$W" network create --subnet "$subnet2" --internal \
		--label team=a net2
	expect_out "network ls net2" "$subnet2" "$W" network ls
	expect_out "network inspect net2 label" '"team": "a"' "$W" network inspect net2
	expect_out "network inspect net2 masq" '"ipMasq": false' "$W" network inspect net2
	expect_fail "create duplicate" "network 'net2' already exists" "$W" network create net2
	expect_fail "create overlapping" "overlaps" "$W" network create --subnet 10.89.0.128/25 net3
	expect_fail "create bad subnet" "invalid subnet" "$W" network create --subnet 10.1.2.3/24 net4
	expect_fail "create bad name" "invalid network name" "$W" network create 'bad/name'
	expect_fail "create the default's name" "is the default network" "$W" network create wharf0
	expect_fail "create on the default's bridge" "the default network's" \
		"$W" network create --bridge wharf0 net5
	expect_fail "create in the default's subnet" "of the default network" \
		"$W" network create --subnet 10.89.0.0/24 net6
	expect_out "network create auto subnet" "net5" "$W" network create net5
	expect_out "auto subnet picked" "10.89.1.0/24" "$W" network inspect net5
	expect_out "network rm net5" "net5" "$W" network rm net5
	# Two networks: eth0 and eth1.
	expect_out "run -d on two networks" "two" "$W" run -d --net wharf0 --net net2 "$img" two sleep 300
	a=$(ip_of two eth0)
	b=$(ip_of two eth1)
	check "eth0 on wharf0: '$a'" glob "$a" "10.89.0.*"
	check "eth1 on net2: '$b'" glob "$b" "${subnet2%.0/24}".*
	expect_fail "rm a network in use" "network 'net2' is in use by container default/two" \
		"$W" network rm net2
	expect_fail "rm the default network" "is the default network" "$W" network rm wharf0
	cat >"$T/cni/foreign.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "foreign", "plugins": [{"type": "loopback"}]}
EOF
	expect_fail "rm a network wharf did not create" "was not created by wharf" \
		"$W" network rm foreign
	expect_out "foreign is listed" "foreign" "$W" network ls -q
	# A network that only loopback makes (someone else's conflist) works too.
	out=$("$W" run --rm --net foreign "$img" f1 sh -c "ip -o link | awk -F': ' '{print \$2}'" </dev/null 2>&1)
	check "--net foreign (loopback only): '$out'" [ "$out" = lo ]
	rm_task two
	# Created but never started: the label alone keeps the network in use.
	expect_out "create on net2" "idle" "$W" containers create --net net2 -p 8081:81/udp \
		--dns 192.0.2.1 --add-host a:192.0.2.2 --hostname idle-h "$img" idle true
	out=$("$W" containers info idle 2>&1)
	check "label wharf/networks: $out" has "$out" '"wharf/networks": "[\"net2\"]"'
	check "label wharf/ports: $out" has "$out" '"wharf/ports": "[{\"hostPort\":8081,\"containerPort\":81,\"protocol\":\"udp\"}]"'
	check "label wharf/dns: $out" has "$out" '"wharf/dns": "[\"192.0.2.1\"]"'
	check "label wharf/add-hosts: $out" has "$out" '"wharf/add-hosts": "[\"a:192.0.2.2\"]"'
	check "label wharf/hostname: $out" has "$out" '"wharf/hostname": "idle-h"'
	expect_fail "rm a network a container names" "in use by container default/idle" \
		"$W" network rm net2
	expect_out "containers rm idle" "idle" "$W" containers rm idle
	expect_out "network rm net2" "net2" "$W" network rm net2
	expect_fail "inspect removed" "network 'net2' not found" "$W" network inspect net2

	# Bad requests: clear errors, nothing left behind.
	expect_fail "publish with none" "--publish needs a network" \
		"$W" run --rm --net none -p 1:2 "$img" bad1 true
	expect_fail "bad publish" "--publish '80': want [IP:]HOSTPORT:CONTAINERPORT" \
		"$W" run --rm -p 80 "$img" bad2 true
	expect_fail "bad publish proto" "protocol 'icmp'" "$W" run --rm -p 1:2/icmp "$img" bad3 true
	expect_fail "bad dns" "--dns 'x': not an IP address" "$W" run --rm --dns x "$img" bad4 true
	expect_fail "bad add-host" "--add-host 'db': want NAME:IP" \
		"$W" run --rm --add-host db "$img" bad5 true
	expect_fail "none plus a network" "excludes other networks" \
		"$W" run --rm --net none --net wharf0 "$img" bad6 true
	expect_fail "reserved label" "the key is reserved" \
		"$W" run --rm --label wharf/networks=host "$img" bad7 true
	expect_fail "unknown network" "network 'nope' not found" \
		"$W" run --rm --net nope "$img" bad8 true
	out=$("$W" containers ls -q)
	check "failed runs left no containers: '$out'" [ "$out" = web ]

	# Containers created at the same time get distinct addresses, and all of it goes again.
	local pids=() ips
	for i in 1 2 3 4; do
		"$W" run -d "$img" "par$i" sleep 300 >/dev/null 2>"$T/par$i.err" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || fail "parallel run -d: $(cat "$T"/par*.err)"
	done
	ips=$(for i in 1 2 3 4; do ip_of "par$i"; done | sort -u | grep -c '^10\.89\.0\.')
	check "4 parallel containers, 4 distinct addresses: $ips" [ "$ips" -eq 4 ]
	for i in 1 2 3 4; do
		rm_task "par$i"
	done
	check "no parallel container's namespace left" [ -z "$(ls "$T/state/netns" | grep par)" ]

	# wharfd killed -9: one container dies while it is down, one lives on. After the restart the
	# dead one's network is released at once; the live one keeps its network and still serves.
	expect_out "run -d k1" "k1" "$W" run -d "$img" k1 sleep 300
	local k1_ip shim init
	k1_ip=$(ip_of k1)
	check "k1 has an address: '$k1_ip'" glob "$k1_ip" "10.89.0.*"
	shim=$(cat "$T/state/tasks/default/k1/shim.pid")
	init=$(cat "$T/state/tasks/default/k1/init.pid")
	kill -KILL "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=""
	kill -KILL "$shim" "$init"
	for _ in $(seq 1 100); do
		kill -0 "$shim" 2>/dev/null || break
		sleep 0.05
	done
	check "k1's lease is held while wharfd is down" [ -e "$T/root/cni/networks/wharf0/$k1_ip" ]
	start_daemon || fail "wharfd restart"
	for _ in $(seq 1 100); do
		[ -e "$T/root/cni/networks/wharf0/$k1_ip" ] || [ -e "$T/state/netns/default--k1" ] ||
			break
		sleep 0.05
	done
	check "k1's lease released after the restart" [ ! -e "$T/root/cni/networks/wharf0/$k1_ip" ]
	check "k1's namespace removed after the restart" [ ! -e "$T/state/netns/default--k1" ]
	check "web's namespace kept" [ -e "$T/state/netns/default--web" ]
	# The live container's attachments are CHECKed by the plugins after the restart.
	for _ in $(seq 1 100); do
		[ "$(grep -c 'of default/web (.*): CHECK' "$T/wharfd.log")" -ge 2 ] && break
		sleep 0.05
	done
	check "CHECK of web on wharf0 passed" grep -q "network wharf0 of default/web (eth0): CHECK passed" "$T/wharfd.log"
	check "CHECK of web's lo passed" grep -q "network wharf-loopback of default/web (lo): CHECK passed" "$T/wharfd.log"
	check "no CHECK failed" [ -z "$(grep 'CHECK failed' "$T/wharfd.log")" ]
	out=$(http_get "$web_ip" 80)
	check "web still answers after the restart: '$out'" glob "$out" "*hello-web*"
	out=$(http_get 127.0.0.1 18080)
	check "web's published port still answers: '$out'" glob "$out" "*hello-web*"
	expect_out "k1 listed stopped" "STOPPED" "$W" tasks ls
	"$W" tasks delete k1 >/dev/null 2>&1 || fail "tasks delete k1 after restart"
	expect_out "containers rm k1" "k1" "$W" containers rm k1
	rm_task web
	assert_clean "after delete and restart"
	out=$(http_get 127.0.0.1 18080)
	check "the published port is gone: '$out'" [ -z "$out" ]

	# A reboot: wharfd and the container die, the state dir (tmpfs in real life) is gone with
	# the records and namespaces, and the host's network starts afresh (a new host namespace).
	# The CNI cache under root still names the attachment: the restarted wharfd releases its
	# IPAM lease.
	expect_out "run -d rb" "rb" "$W" run -d -p 127.0.0.1:18081:80 "$img" rb sleep 300
	a=$(ip_of rb)
	check "rb has an address: '$a'" glob "$a" "10.89.0.*"
	check "rb's port rules exist" glob "$(hostrun iptables-save -t nat)" "*18081*"
	shim=$(cat "$T/state/tasks/default/rb/shim.pid")
	init=$(cat "$T/state/tasks/default/rb/init.pid")
	kill -KILL "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=""
	kill -KILL "$shim" "$init"
	for _ in $(seq 1 100); do
		kill -0 "$init" 2>/dev/null || break
		sleep 0.05
	done
	grep -o " $T/state/[^ ]*" /proc/mounts | sort -r | while read -r m; do
		umount -l "$m"
	done
	rm -rf "$T/state"
	umount "$T/hostns"
	unshare --net="$T/hostns" true || fail "a new host namespace"
	hostrun ip link set lo up
	check "rb's lease survives the 'reboot'" [ -e "$T/root/cni/networks/wharf0/$a" ]
	start_daemon || fail "wharfd start after the 'reboot'"
	for _ in $(seq 1 100); do
		[ -n "$(ls -A "$T/root/cni/cache/results" 2>/dev/null)" ] || break
		sleep 0.05
	done
	expect_out "containers rm rb" "rb" "$W" containers rm rb
	assert_clean "after a reboot"
	# The network works as before on the new host.
	out=$("$W" run --rm "$img" after sh -c 'ip -4 addr show eth0' </dev/null 2>&1)
	check "a container on the bridge after the 'reboot': '$out'" glob "$out" "*inet 10.89.0.*"
	assert_clean "at the end"
}

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root" >&2
	exit 77
fi
for p in bridge host-local portmap firewall loopback; do
	if [ ! -x "/usr/lib/cni/$p" ]; then
		echo "SKIP: /usr/lib/cni/$p missing (containernetworking-plugins)" >&2
		exit 77
	fi
done
for c in iptables-save nsenter unshare busybox; do
	command -v "$c" >/dev/null || {
		echo "SKIP: $c missing" >&2
		exit 77
	}
done
trap cleanup EXIT
T=$(mktemp -d /tmp/netd-XXXXXX)
mount -t tmpfs -o mode=0700 tmpfs "$T" || exit 1
touch "$T/hostns"
unshare --net="$T/hostns" true || exit 1
hostrun ip link set lo up || exit 1
cat >"$T/config.toml" <<EOT
root = "$T/root"
state = "$T/state"
[ttrpc]
address = "$T/wharfd.sock"
[cni]
conf_dir = "$T/cni"
EOT
export WHARF_ADDRESS=$T/wharfd.sock
export XDG_RUNTIME_DIR=$T/run
mkdir -p "$XDG_RUNTIME_DIR"
"$FIXTURE" "$T/fx" >/dev/null || {
	echo "fixture build failed" >&2
	exit 1
}
start_daemon || exit 1
tests
kill -0 "$DPID" 2>/dev/null || fail "wharfd died; log tail: $(tail -5 "$T/wharfd.log")"
# A clean stop, and no sanitizer report (sanitizer builds) in wharfd's log.
kill -TERM "$DPID"
wait "$DPID"
DPID=""
if grep -q "Sanitizer" "$T/wharfd.log"; then
	fail "sanitizer report in wharfd's log"
	grep -A40 "Sanitizer" "$T/wharfd.log" | head -80 >&2
fi
if [ $fails -ne 0 ]; then
	echo "$fails of $checks check(s) failed" >&2
	exit 1
fi
echo "all $checks checks passed"

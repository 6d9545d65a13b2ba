#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# wharfctl integration tests.
#   ctl-e2e.sh cli WHARFCTL                          the CLI alone: errors, usage, exit codes
#   ctl-e2e.sh e2e WHARFCTL WHARFD SHIMDIR FIXTURE   a real wharfd (temp root/state/socket on a
#       tmpfs under /tmp/ctl-*) driven by wharfctl: namespaces, image import/ls/tag/rm/check,
#       containers create/ls/info/rm, run --rm with output and exit codes, run -d + tasks
#       ps/exec/pause/resume/metrics/kill/delete, events, bad requests leaving nothing behind.
# Exit 0 pass, 1 fail, 77 skip. Everything started is stopped by PID; mounts and dirs removed.
set -u
mode=$1
W=$2
fails=0
T=""
DPID=""

checks=0

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

# expect_fail "desc" RC "expected stderr line" cmd...
expect_fail() {
	local desc=$1 want_rc=$2 want=$3 out rc
	shift 3
	checks=$((checks + 1))
	out=$("$@" 2>&1 >/dev/null)
	rc=$?
	if [ $rc -ne "$want_rc" ]; then
		fail "$desc: exit $rc, expected $want_rc: $out"
	elif [[ "$out" != *"$want"* ]]; then
		fail "$desc: '$want' not in: $out"
	elif [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ]; then
		fail "$desc: error is not one line: $out"
	fi
}

# layout_usage DIR [host|all|OS/ARCH]: an image's usage summed from an OCI layout's files
# (index.json's first entry: an index walked to the platform, manifest + config + layers, each
# digest once), independently of wharfctl.
layout_usage() {
	python3 - "$1" "${2:-host}" <<'PYEOF'
import json, os, platform, sys
root, want = sys.argv[1], sys.argv[2]
if want == "host":
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    want = "linux/" + arch
seen = set()
def once(digest, size):
    if digest in seen:
        return 0
    seen.add(digest)
    return size
def blob(d):
    return os.path.join(root, "blobs", *d["digest"].split(":"))
def match(m):
    if want == "all" or "platform" not in m:
        return True
    return want == m["platform"]["os"] + "/" + m["platform"]["architecture"]
def walk(d):
    size = os.path.getsize(blob(d))
    assert size == d["size"], d
    doc = json.load(open(blob(d)))
    total = once(d["digest"], size)
    if "manifests" in doc:
        return total + sum(walk(m) for m in doc["manifests"] if match(m))
    total += once(doc["config"]["digest"], doc["config"]["size"])
    return total + sum(once(l["digest"], l["size"]) for l in doc["layers"])
print(walk(json.load(open(os.path.join(root, "index.json")))["manifests"][0]))
PYEOF
}

cli_tests() {
	local sock=/tmp/ctl-nonexistent-$$.sock
	expect_fail "no daemon" 1 "wharfctl: cannot connect to $sock: is wharfd running?" \
		"$W" --address "$sock" images ls
	expect_fail "no daemon (env)" 1 "wharfctl: cannot connect to $sock: is wharfd running?" \
		env WHARF_ADDRESS="$sock" "$W" version
	expect_fail "unknown command" 1 "wharfctl: unknown command 'frob'" "$W" frob
	expect_fail "unknown sub-command" 1 "wharfctl: images: unknown command 'frob'" \
		"$W" images frob
	expect_fail "bad timeout" 1 "wharfctl: --timeout: invalid duration 'x'" \
		"$W" --timeout x images ls
	expect_fail "run usage" 1 "wharfctl: run: usage: run [FLAGS] IMAGE ID" \
		"$W" --address "$sock" run img
	expect_fail "bad mount" 1 "dst must be an absolute path" \
		"$W" --address "$sock" run --mount src=/a img id
	expect_fail "bad format" 1 "--format 'yaml': expected json or table" \
		"$W" --address "$sock" images ls --format yaml
	"$W" >/dev/null 2>&1 && fail "no command: exit 0"
	expect_out "help" "Commands:" "$W" --help
}

cleanup() {
	local pidf p
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	if [ -n "$T" ]; then
		[ -f "$T/reg/registry.pid" ] && "$REGISTRY" stop "$T/reg" >/dev/null 2>&1
		# Shims of containers a failed check left behind: by their recorded PIDs.
		for pidf in $(find "$T/state" -name shim.pid 2>/dev/null); do
			p=$(cat "$pidf")
			[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
		done
		for p in $(cat "$T/shims" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
		for pidf in $(find "$T/state" -name init.pid 2>/dev/null); do
			p=$(cat "$pidf")
			[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
		done
		sleep 0.2
		grep -o " $T/[^ ]*" /proc/mounts | sort -r | while read -r m; do
			umount -l "$m" 2>/dev/null
		done
		umount -l "$T" 2>/dev/null
		rm -rf "$T"
	fi
}

start_daemon() {
	local i
	cat >"$T/config.toml" <<EOT
root = "$T/root"
state = "$T/state"
[ttrpc]
address = "$T/wharfd.sock"
[cni]
conf_dir = "$T/cni"
EOT
	# The default network (wharf0) of this test: loopback only, so that containers get a CNI
	# network namespace without touching the host's network (tests/integration/netd has the
	# bridge, in a namespace of its own).
	mkdir -p "$T/cni"
	cat >"$T/cni/wharf0.conflist" <<EOT
{"cniVersion": "1.0.0", "name": "wharf0", "plugins": [{"type": "loopback"}]}
EOT
	PATH="$SHIMDIR:$PATH" "$WHARFD" --config "$T/config.toml" --log-level debug \
		>"$T/wharfd.log" 2>&1 &
	DPID=$!
	# Wait for the socket to answer (bounded), not for a time.
	for i in $(seq 1 200); do
		"$W" version >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	echo "wharfd did not come up:" >&2
	tail -20 "$T/wharfd.log" >&2
	return 1
}

e2e_tests() {
	local img=wharf.test/busybox:latest out rc

	# namespaces
	expect_out "ns create" "ctltest" "$W" namespaces create ctltest a=1
	expect_out "ns ls" "ctltest" "$W" namespaces ls
	expect_out "ns label" "ctltest" "$W" namespaces label ctltest b=2
	expect_out "ns ls labels" "b=2" "$W" namespaces ls
	expect_out "ns ls json" '"name": "ctltest"' "$W" namespaces ls --format json
	expect_out "ns rm" "ctltest" "$W" namespaces rm ctltest
	out=$("$W" namespaces ls -q)
	[[ "$out" == *ctltest* ]] && fail "namespace still listed after rm: $out"

	# images
	# The fixture's docker-archive names its image wharf.test/busybox:latest; the OCI layout
	# (tag "latest") is imported into a namespace of its own and run from there too.
	expect_out "import docker-archive" "$img: sha256:" "$W" images import "$T/fx/busybox.tar"
	expect_out "import oci layout" "sha256:" "$W" -n layout images import "$T/fx/oci"
	expect_out "tag in layout ns" "$img" "$W" -n layout images tag latest "$img"
	out=$("$W" -n layout run --rm "$img" l1 echo layout </dev/null)
	[ "$out" = "layout" ] || fail "run from the OCI layout import: '$out'"
	expect_out "ls" "$img" "$W" images ls
	expect_out "ls -q" "$img" "$W" images ls -q
	expect_out "ls json" "\"name\": \"$img\"" "$W" images ls --format json
	expect_out "check" "complete (2/2)" "$W" images check
	expect_out "check json" '"complete": true' "$W" images check --format json
	# images usage: the OCI layout's own sizes, summed here from its files (index.json ->
	# manifest blob + config + layers, an index walked to linux/<host arch>).
	local want got
	want=$(layout_usage "$T/fx/oci")
	checks=$((checks + 1))
	got=$("$W" -n layout images usage latest 2>&1)
	[ -n "$want" ] && [ "${got%% *}" = "$want" ] || fail "images usage: '$got', expected $want"
	checks=$((checks + 1))
	got=$("$W" -n layout images usage --platform "linux/$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')" latest 2>&1)
	[ "${got%% *}" = "$want" ] || fail "images usage --platform: '$got', expected $want"
	checks=$((checks + 1))
	got=$("$W" -n layout images usage --all-platforms latest 2>&1)
	[ "${got%% *}" = "$want" ] || fail "images usage --all-platforms: '$got', expected $want"
	# A two-platform index (this host's and one other): its own size, the chosen platform's
	# manifest, config and layers; --all-platforms counts both, shared blobs once.
	local mp other
	other=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][1]["platform"]["architecture"])' "$T/fx/multiplatform/blobs/sha256/$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"].split(":")[1])' "$T/fx/multiplatform/index.json")")
	expect_out "import multiplatform" "sha256:" "$W" -n mp images import "$T/fx/multiplatform"
	mp=$("$W" -n mp images ls -q | head -1)
	for p in host "linux/$other" all; do
		checks=$((checks + 1))
		want=$(layout_usage "$T/fx/multiplatform" "$p")
		case $p in
		host) got=$("$W" -n mp images usage "$mp" 2>&1) ;;
		all) got=$("$W" -n mp images usage --all-platforms "$mp" 2>&1) ;;
		*) got=$("$W" -n mp images usage --platform "$p" "$mp" 2>&1) ;;
		esac
		[ -n "$want" ] && [ "${got%% *}" = "$want" ] ||
			fail "images usage ($p) of the index: '$got', expected $want"
	done
	[ "$(layout_usage "$T/fx/multiplatform" all)" -gt "$(layout_usage "$T/fx/multiplatform" host)" ] ||
		fail "multiplatform fixture: all platforms not larger than one"
	expect_fail "usage other platform" 1 "no manifest for linux/nosucharch" \
		"$W" -n mp images usage --platform linux/nosucharch "$mp"
	expect_fail "usage bad platform" 1 "--platform 'x': expected OS/ARCH" \
		"$W" -n mp images usage --platform x "$mp"
	expect_fail "usage missing" 1 'wharfctl: image "nosuch:1" not found' \
		"$W" images usage nosuch:1
	expect_fail "usage no name" 1 "usage: images usage" "$W" images usage
	expect_out "ls SIZE column" "SIZE" "$W" images ls
	want=$(layout_usage "$T/fx/oci")
	checks=$((checks + 1))
	got=$("$W" -n layout images ls --format json | python3 -c \
		'import json, sys; print(json.load(sys.stdin)[0]["size"])')
	[ "$got" = "$want" ] || fail "images ls json size: '$got', expected $want"
	checks=$((checks + 1))
	got=$("$W" images ls | awk -v img="$img" '$1 == img { print $4, $5 }')
	[[ "$got" == *iB || "$got" == *" B" ]] || fail "images ls SIZE cell: '$got'"
	expect_out "content ls" "sha256:" "$W" content ls
	local blob
	for blob in $("$W" content ls -q); do
		[ "sha256:$("$W" content get "$blob" | sha256sum | cut -d' ' -f1)" = "$blob" ] ||
			fail "content get $blob: digest mismatch"
	done
	expect_fail "content get bad" 1 "invalid digest" "$W" content get sha256:xyz
	expect_out "snapshots ls" "Committed" "$W" snapshots ls
	# short names resolve docker-style (busybox -> docker.io/library/busybox:latest)
	expect_out "tag docker.io" "docker.io/library/busybox:latest" \
		"$W" images tag "$img" docker.io/library/busybox:latest
	out=$("$W" run --rm busybox n1 echo short </dev/null)
	[ "$out" = "short" ] || fail "run with a short name: '$out'"
	expect_out "rm docker.io" "docker.io/library/busybox:latest" \
		"$W" images rm docker.io/library/busybox:latest
	expect_out "tag 2" "other:1" "$W" images tag "$img" other:1
	expect_out "rm" "other:1" "$W" images rm other:1
	expect_fail "rm missing" 1 'wharfctl: image "other:1" not found' "$W" images rm other:1
	expect_fail "run missing image" 1 'wharfctl: image "nope:1" not found' \
		"$W" run --rm nope:1 x1 true
	out=$("$W" containers ls -q)
	[ -n "$out" ] && fail "a failed run left a container: $out"

	# containers
	expect_out "create" "k1" "$W" containers create --label l=v "$img" k1 sleep 1
	expect_out "containers ls" "k1" "$W" containers ls
	expect_out "info" '"Image": "wharf.test/busybox:latest"' "$W" containers info k1
	expect_out "info spec" 'CAP_NET_BIND_SERVICE' "$W" containers info k1
	expect_fail "create duplicate" 1 "wharfctl: " "$W" containers create "$img" k1
	# snapshots: the container's active snapshot on the image's committed one
	expect_out "snapshots ls active" "Active" "$W" snapshots ls
	local parent
	parent=$("$W" snapshots ls | awk '$1 == "k1" {print $2}')
	[[ "$parent" == sha256:* ]] || fail "snapshot k1 has parent '$parent'"
	expect_fail "snapshots rm parent" 1 "wharfctl: " "$W" snapshots rm "$parent"

	# tasks start (attached) of a created container: output and exit code
	out=$("$W" tasks start k1 </dev/null)
	rc=$?
	[ $rc -eq 0 ] || fail "tasks start k1: exit $rc ($out)"
	expect_out "containers create k2" "k2" "$W" containers create "$img" k2 sh -c 'echo started; exit 5'
	out=$("$W" tasks start k2 </dev/null)
	rc=$?
	[ $rc -eq 5 ] || fail "tasks start k2: exit $rc"
	[ "$out" = "started" ] || fail "tasks start k2 printed '$out'"
	expect_out "containers rm k2" "k2" "$W" containers rm k2
	expect_out "containers rm" "k1" "$W" containers rm k1
	expect_fail "rm missing container" 1 'wharfctl: container "k1" not found' \
		"$W" containers rm k1
	out=$("$W" snapshots ls -q)
	[[ "$out" == *k1* ]] && fail "snapshot k1 left after containers rm: $out"

	# run: output and exit codes
	out=$("$W" run --rm "$img" r1 echo hi </dev/null)
	rc=$?
	[ $rc -eq 0 ] || fail "run echo hi: exit $rc"
	[ "$out" = "hi" ] || fail "run echo hi printed '$out'"
	out=$("$W" run --rm "$img" r2 sh -c 'echo out; echo err >&2; exit 7' 2>"$T/err" </dev/null)
	rc=$?
	[ $rc -eq 7 ] || fail "run exit 7: exit $rc"
	[ "$out" = "out" ] || fail "run stdout '$out'"
	[ "$(cat "$T/err")" = "err" ] || fail "run stderr '$(cat "$T/err")'"
	out=$(echo piped | "$W" run --rm "$img" r3 cat)
	[ "$out" = "piped" ] || fail "run stdin: '$out'"
	out=$("$W" run --rm --env FOO=bar --cwd /etc --user 1:2 "$img" r4 \
		sh -c 'echo $FOO $(pwd) $(id -u):$(id -g)' </dev/null)
	[ "$out" = "bar /etc 1:2" ] || fail "run env/cwd/user: '$out'"
	mkdir -p "$T/vol" && echo fromhost >"$T/vol/f"
	out=$("$W" run --rm --mount "src=$T/vol,dst=/vol,options=rbind:ro" "$img" r5 cat /vol/f \
		</dev/null)
	[ "$out" = "fromhost" ] || fail "run --mount: '$out'"
	out=$("$W" containers ls -q)
	[ -n "$out" ] && fail "run --rm left containers: $out"

	# detached task life
	expect_out "run -d" "d1" "$W" run -d "$img" d1 sh -c 'read x; echo got $x; sleep 300'
	expect_out "tasks ls" "RUNNING" "$W" tasks ls
	expect_out "tasks ls json" '"status": "RUNNING"' "$W" tasks ls --format json
	expect_out "tasks ps" "PID" "$W" tasks ps d1
	# attach: our stdin reaches the process, its output comes back; the attach ends when the
	# task does (killed below), so run it in the background and read its output file.
	(echo hello | "$W" tasks attach d1 >"$T/attach" 2>&1) &
	local apid=$!
	out=$("$W" tasks exec --exec-id e1 d1 sh -c 'echo in-exec; exit 3' </dev/null)
	rc=$?
	[ $rc -eq 3 ] || fail "exec exit code $rc"
	[ "$out" = "in-exec" ] || fail "exec output '$out'"
	expect_out "pause" "" "$W" tasks pause d1
	expect_out "resume" "" "$W" tasks resume d1
	expect_out "metrics" "pids.current" "$W" tasks metrics d1
	"$W" events >"$T/events" 2>&1 &
	local epid=$!
	"$W" events 'topic=="/tasks/exit"' >"$T/events-exit" 2>&1 &
	local fpid=$!
	sleep 0.3
	expect_out "kill" "" "$W" tasks kill -s KILL d1
	for _ in $(seq 1 100); do
		"$W" tasks delete d1 >"$T/del" 2>&1 && break
		sleep 0.05
	done
	grep -q "exit status 137" "$T/del" || fail "tasks delete: $(cat "$T/del")"
	wait $apid
	grep -q "got hello" "$T/attach" || fail "attach: '$(cat "$T/attach")'"
	out=$(ls "$XDG_RUNTIME_DIR")
	[ -n "$out" ] && fail "fifo dirs left after tasks delete: $out"
	expect_out "containers rm d1" "d1" "$W" containers rm d1
	sleep 0.3
	kill -TERM $epid $fpid
	wait $epid $fpid
	grep -q "/tasks/exit" "$T/events" || fail "events: no /tasks/exit in: $(cat "$T/events")"
	grep -q "/tasks/delete" "$T/events" || fail "events: no /tasks/delete in: $(cat "$T/events")"
	grep -q "/tasks/exit" "$T/events-exit" || fail "filtered events: $(cat "$T/events-exit")"
	grep -q "/tasks/delete" "$T/events-exit" && fail "filter let /tasks/delete through"

	# a terminal: raw mode, the pty's size from ours (script(1) gives us a pty)
	if command -v script >/dev/null; then
		out=$(script -qec "stty cols 91 rows 33; '$W' run -t --rm '$img' t1 sh -c 'tty; stty size; exit 4'" /dev/null </dev/null)
		rc=$?
		[ $rc -eq 4 ] || fail "run -t: exit $rc ($out)"
		[[ "$out" == *"/dev/pts/"* ]] || fail "run -t: no pty in '$out'"
		[[ "$out" == *"33 91"* ]] || fail "run -t: size not passed: '$out'"
		expect_out "run -d for exec -t" "x1" "$W" run -d "$img" x1 sleep 300
		out=$(script -qec "'$W' tasks exec -t --exec-id e2 x1 sh -c 'tty; exit 6'" /dev/null </dev/null)
		rc=$?
		[ $rc -eq 6 ] || fail "exec -t: exit $rc ($out)"
		[[ "$out" == *"/dev/pts/"* ]] || fail "exec -t: no pty in '$out'"
		"$W" tasks kill -s KILL x1 >/dev/null
		for _ in $(seq 1 100); do
			"$W" tasks delete x1 >/dev/null 2>&1 && break
			sleep 0.05
		done
		expect_out "containers rm x1" "x1" "$W" containers rm x1
	fi

	# export to an OCI layout directory
	expect_out "export" "sha256:" "$W" images export "$T/exported" "$img"
	[ -f "$T/exported/index.json" ] || fail "export wrote no index.json"

	# push to and pull from a local registry, then run the pulled image
	if command -v docker-registry >/dev/null; then
		local addr
		addr=$("$REGISTRY" start "$T/reg") || fail "registry start: $(tail -3 "$T/reg/registry.log")"
		if [ -n "$addr" ]; then
			expect_out "push" "pushed $addr/t/busybox:1" \
				"$W" images push --plain-http "$img" "$addr/t/busybox:1"
			expect_out "pull" "$addr/t/busybox:1: sha256:" \
				"$W" -n pulled images pull --plain-http "$addr/t/busybox:1"
			out=$("$W" -n pulled run --rm "$addr/t/busybox:1" p1 echo pulled </dev/null)
			[ "$out" = "pulled" ] || fail "run pulled image: '$out'"
			expect_fail "pull missing" 1 "wharfctl: " \
				"$W" images pull --plain-http "$addr/t/nothing:1"
			"$REGISTRY" stop "$T/reg"
		fi
	fi

	# other runtimes: the wharf shim's exec driver with runc (ctr's --runc-binary), and Debian's
	# containerd-shim-runc-v2 as a whole shim
	if command -v runc >/dev/null; then
		out=$("$W" run --rm --runtime-binary runc "$img" rb1 echo via-runc </dev/null 2>&1)
		[ "$out" = "via-runc" ] || fail "run --runtime-binary runc: '$out'"
	fi
	# crun: Debian's refuses this host's hybrid cgroups, so each call runs in a mount namespace
	# of its own without the cgroup2 mount (on a pure v2 or v1 host the wrapper changes nothing).
	if command -v crun >/dev/null; then
		cat >"$T/crun-w" <<'EOT'
#!/bin/sh
exec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"' crun "$@"
EOT
		chmod +x "$T/crun-w"
		out=$("$W" run --rm --net none --runtime-binary "$T/crun-w" "$img" cr1 sh -c 'echo via-crun; exit 3' </dev/null 2>&1)
		rc=$?
		checks=$((checks + 1))
		[ "$out" = "via-crun" ] && [ $rc -eq 3 ] || fail "run --runtime-binary crun: '$out' exit $rc"
	fi
	# gVisor: Debian's runsc with its own network stack off (the container has --net none).
	if command -v runsc >/dev/null; then
		printf '#!/bin/sh\nexec runsc --network=none "$@"\n' >"$T/runsc-w"
		chmod +x "$T/runsc-w"
		out=$("$W" run --rm --net none --runtime-binary "$T/runsc-w" "$img" gv1 sh -c 'echo via-runsc; exit 4' </dev/null 2>&1)
		rc=$?
		checks=$((checks + 1))
		[ "$out" = "via-runsc" ] && [ $rc -eq 4 ] || fail "run --runtime-binary runsc: '$out' exit $rc"
	fi
	if command -v containerd-shim-runc-v2 >/dev/null && command -v runc >/dev/null; then
		out=$("$W" run --rm --runtime io.containerd.runc.v2 "$img" rs1 sh -c 'echo via-runc-shim; exit 9' </dev/null 2>&1)
		rc=$?
		[ "$out" = "via-runc-shim" ] || fail "run --runtime io.containerd.runc.v2: '$out'"
		[ $rc -eq 9 ] || fail "run --runtime io.containerd.runc.v2: exit $rc"
	fi

	# wharfd killed -9 under a waiting run: one clear line, exit 1; after a restart the task is
	# still there (its shim lives on) and can be killed and deleted through wharfctl.
	"$W" run -d "$img" s1 sleep 300 >/dev/null || fail "run -d s1"
	"$W" tasks exec --exec-id w1 s1 sleep 300 </dev/null >"$T/execout" 2>&1 &
	local xpid=$!
	for _ in $(seq 1 100); do
		"$W" tasks ps s1 2>/dev/null | grep -q . && [ "$("$W" tasks ps -q s1 | wc -l)" -ge 2 ] && break
		sleep 0.05
	done
	local shimpid
	shimpid=$(cat "$T"/state/tasks/default/s1/shim.pid 2>/dev/null)
	[ -n "$shimpid" ] && echo "$shimpid" >>"$T/shims"
	kill -KILL "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=""
	wait $xpid
	rc=$?
	[ $rc -eq 1 ] || fail "exec after wharfd died: exit $rc"
	grep -q "^wharfctl: wharfd at $T/wharfd.sock closed the connection$" "$T/execout" ||
		fail "exec after wharfd died said: $(cat "$T/execout")"
	start_daemon || fail "wharfd restart"
	expect_out "tasks ls after restart" "s1" "$W" tasks ls
	"$W" tasks kill -a -s KILL s1 >/dev/null 2>&1
	for _ in $(seq 1 100); do
		"$W" tasks delete s1 >/dev/null 2>&1 && break
		sleep 0.05
	done
	expect_out "containers rm s1" "s1" "$W" containers rm s1
	# The shim of a deleted task exits (a zombie waiting for init counts as gone).
	if [ -n "$shimpid" ]; then
		for _ in $(seq 1 100); do
			st=$(sed -e 's/^.*) //' /proc/"$shimpid"/stat 2>/dev/null | cut -d' ' -f1)
			[ -z "$st" ] || [ "$st" = Z ] && break
			sleep 0.05
		done
		[ -z "$st" ] || [ "$st" = Z ] ||
			fail "the shim of s1 (pid $shimpid) still runs after its task was deleted by a restarted wharfd"
	fi

	# a container whose runtime does not exist: clear error, nothing left
	expect_fail "bad runtime" 1 "wharfctl: " "$W" run --rm --runtime io.containerd.nope.v9 \
		"$img" b1 true
	out=$("$W" tasks ls -q)
	[ -n "$out" ] && fail "tasks left: $out"
	out=$("$W" containers ls -q)
	[ -n "$out" ] && fail "containers left: $out"
	out=$("$W" snapshots ls -q | grep -v sha256:)
	[ -n "$out" ] && fail "snapshots left: $out"
}

case "$mode" in
cli)
	cli_tests
	;;
e2e)
	WHARFD=$3
	SHIMDIR=$4
	FIXTURE=$5
	REGISTRY=$(dirname "$FIXTURE")/registry.sh
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: needs root" >&2
		exit 77
	fi
	trap cleanup EXIT
	T=$(mktemp -d /tmp/ctl-XXXXXX)
	mount -t tmpfs -o mode=0700 tmpfs "$T" || exit 1
	export WHARF_ADDRESS=$T/wharfd.sock
	# wharfctl makes its fifo dirs there: inside the test's dir.
	export XDG_RUNTIME_DIR=$T/run
	mkdir -p "$XDG_RUNTIME_DIR"
	"$FIXTURE" --extra "$T/fx" >/dev/null || {
		echo "fixture build failed" >&2
		exit 1
	}
	start_daemon || exit 1
	e2e_tests
	kill -0 "$DPID" 2>/dev/null || fail "wharfd died; log tail: $(tail -5 "$T/wharfd.log")"
	;;
*)
	echo "usage: $0 cli|e2e ..." >&2
	exit 2
	;;
esac
if [ $fails -ne 0 ]; then
	echo "$fails check(s) failed" >&2
	exit 1
fi
echo "all $checks checks passed"

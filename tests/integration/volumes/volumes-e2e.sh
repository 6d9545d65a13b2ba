#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Mounts and named volumes, end to end through wharfctl and a real wharfd with real busybox
# containers.
#   volumes-e2e.sh cli WHARFCTL                         --mount spec errors, volume usage errors
#   volumes-e2e.sh e2e WHARFCTL WHARFD SHIMDIR FIXTURE  a wharfd on a temp root/state/socket (a
#       tmpfs under /tmp/vol-e2e-*): volume create/ls/inspect/rm/prune, data kept across
#       containers and across a wharfd killed -9 and restarted, pre-fill from the image at first
#       use (overlay whiteouts and opaque dirs, symlinks, modes), nocopy, in-use refusals,
#       anonymous volumes, read-only binds and volumes, tmpfs size/mode, namespaces, bad bind
#       sources, nothing left mounted.
#   volumes-e2e.sh rro WHARFCTL WHARFD SHIMDIR FIXTURE  a read-only bind must be read-only
#       recursively (its submounts too: the "rro" option wharfctl asks for, runc >= 1.1 does it).
# Exit 0 pass, 1 fail, 77 skip. Everything started is stopped by PID; mounts and dirs removed.
set -u
mode=$1
W=$2
fails=0
checks=0
T=""
DPID=""
IMG=wharf.test/busybox:latest

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# expect_out "desc" "expected substring" cmd...: rc 0 and the output contains the substring.
expect_out() {
	local desc=$1 want=$2 out rc
	shift 2
	checks=$((checks + 1))
	out=$("$@" 2>&1 </dev/null)
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$desc: exit $rc: $out"
	elif [[ "$out" != *"$want"* ]]; then
		fail "$desc: '$want' not in: $out"
	fi
}

# expect_eq "desc" "expected output" cmd...: rc 0 and exactly this output.
expect_eq() {
	local desc=$1 want=$2 out rc
	shift 2
	checks=$((checks + 1))
	out=$("$@" 2>&1 </dev/null)
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$desc: exit $rc: $out"
	elif [ "$out" != "$want" ]; then
		fail "$desc: expected '$want', got '$out'"
	fi
}

# expect_fail "desc" "expected stderr substring" cmd...: exit 1 and one line of error.
expect_fail() {
	local desc=$1 want=$2 out rc
	shift 2
	checks=$((checks + 1))
	out=$("$@" 2>&1 >/dev/null </dev/null)
	rc=$?
	if [ $rc -ne 1 ]; then
		fail "$desc: exit $rc, expected 1: $out"
	elif [[ "$out" != *"$want"* ]]; then
		fail "$desc: '$want' not in: $out"
	elif [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ]; then
		fail "$desc: error is not one line: $out"
	fi
}

# COND; ok "desc": counts a check, fails it when COND was false.
ok() {
	local rc=$?
	checks=$((checks + 1))
	[ $rc -eq 0 ] || fail "$1"
}

# check "desc" cmd...: a command that must succeed.
check() {
	local desc=$1
	shift
	checks=$((checks + 1))
	"$@" || fail "$desc"
}

cli_tests() {
	local sock=/tmp/vol-nonexistent-$$.sock bad
	export WHARF_ADDRESS=$sock
	# Every spec error is found before wharfctl connects: the message names the spec's fault.
	expect_fail "missing dst" "--mount 'type=bind,src=/tmp': missing dst" \
		"$W" run --mount type=bind,src=/tmp "$IMG" x
	expect_fail "empty dst" "missing dst" "$W" run --mount type=tmpfs,dst= "$IMG" x
	expect_fail "relative dst" "dst must be an absolute path, not 'data'" \
		"$W" run --mount type=volume,src=v,dst=data "$IMG" x
	expect_fail "dst /" "dst cannot be '/'" "$W" run --mount type=tmpfs,dst=/ "$IMG" x
	expect_fail "relative bind src" "bind src must be an absolute path, not 'rel/dir'" \
		"$W" run --mount type=bind,src=rel/dir,dst=/x "$IMG" x
	expect_fail "bind without src" "a bind mount needs src" \
		"$W" run --mount type=bind,dst=/x "$IMG" x
	expect_fail "unknown key" "unknown key 'colour'" \
		"$W" run --mount type=tmpfs,dst=/x,colour=red "$IMG" x
	expect_fail "bare word" "'rw' is not key=value" \
		"$W" run --mount type=tmpfs,dst=/x,rw "$IMG" x
	expect_fail "unknown type" "unknown type 'nfs' (bind, tmpfs, volume)" \
		"$W" run --mount type=nfs,dst=/x "$IMG" x
	expect_fail "size on bind" "size is only valid with type=tmpfs" \
		"$W" run --mount type=bind,src=/tmp,dst=/x,size=1m "$IMG" x
	expect_fail "size on volume" "size is only valid with type=tmpfs" \
		"$W" run --mount type=volume,src=v,dst=/x,size=1m "$IMG" x
	for bad in 1x -1 m 1.5m 99999999999999999999 16777216t ""; do
		expect_fail "bad size '$bad'" "size '$bad' is not a size (e.g. 64m, 1g, 4096)" \
			"$W" run --mount "type=tmpfs,dst=/x,size=$bad" "$IMG" x
	done
	expect_fail "bad mode" "mode '999' is not an octal mode" \
		"$W" run --mount type=tmpfs,dst=/x,mode=999 "$IMG" x
	expect_fail "tmpfs with src" "a tmpfs mount takes no src" \
		"$W" run --mount type=tmpfs,src=foo,dst=/x "$IMG" x
	expect_fail "bad ro value" "ro='maybe': expected true or false" \
		"$W" run --mount type=tmpfs,dst=/x,ro=maybe "$IMG" x
	expect_fail "nocopy on bind" "volume-nocopy is only valid with type=volume" \
		"$W" run --mount type=bind,src=/tmp,dst=/x,volume-nocopy "$IMG" x
	for bad in _v .v -v 'a/b' 'a b' 'a:b' '..'; do
		expect_fail "volume name '$bad'" "volume name '$bad' is invalid" \
			"$W" run --mount "type=volume,src=$bad,dst=/x" "$IMG" x
	done
	expect_fail "two mounts, one dst" "two --mount on '/x'" \
		"$W" run --mount type=tmpfs,dst=/x --mount type=volume,src=v,dst=/x "$IMG" x
	expect_fail "reserved label" "--label 'wharf/volumes=v': the key is reserved" \
		"$W" run --label wharf/volumes=v "$IMG" x
	expect_fail "volume create bad name" "volume name '../x' is invalid" \
		"$W" volume create ../x
	expect_fail "volume create bad label" "--label 'nolabel': expected K=V" \
		"$W" volume create --label nolabel v
	expect_fail "volume unknown verb" "volume: unknown command 'frob'" "$W" volume frob
	expect_fail "volume rm usage" "usage: volume rm NAME..." "$W" volume rm
	expect_fail "volume inspect usage" "usage: volume inspect" "$W" volume inspect
	expect_fail "volume ls format" "--format 'yaml': expected json or table" \
		"$W" volume ls --format yaml
	expect_fail "volume prune usage" "usage: volume prune" "$W" volume prune extra
	expect_fail "no daemon" "cannot connect to $sock: is wharfd running?" "$W" volume ls
	expect_out "help lists volume" "volume create|ls|inspect|rm|prune" "$W" --help
}

cleanup() {
	local pidf p
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	if [ -n "$T" ]; then
		for pidf in $(find "$T/state" -name shim.pid -o -name init.pid 2>/dev/null); do
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
	# Containers here need no network (--net none); should one ask for the default anyway, it
	# gets this loopback-only wharf0, never the host's conf dir or a bridge on the host.
	mkdir -p "$T/cni"
	cat >"$T/cni/wharf0.conflist" <<EOT
{"cniVersion": "1.0.0", "name": "wharf0", "plugins": [{"type": "loopback"}]}
EOT
	PATH="$SHIMDIR:$PATH" "$WHARFD" --config "$T/config.toml" --log-level debug \
		>>"$T/wharfd.log" 2>&1 &
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

# The flags that keep a container off any network.
NET=(--net none)

# run_in ID [run flags] -- ARGS...: wharfctl run --rm, stdout only.
vrun() {
	"$W" run --rm "${NET[@]}" "$@" </dev/null
}

data_of() {
	echo "$T/root/volumes/${2:-default}/$1/_data"
}

# wait_gone ID: tasks delete after a kill, bounded.
task_gone() {
	local i
	"$W" tasks kill -s KILL "$1" >/dev/null 2>&1
	for i in $(seq 1 100); do
		"$W" tasks delete "$1" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

volume_basics() {
	local mp out
	expect_eq "create" "v1" "$W" volume create --label team=a --label tier=db v1
	expect_eq "create again (docker: returns it)" "v1" "$W" volume create v1
	expect_out "ls" "v1" "$W" volume ls
	expect_eq "ls -q" "v1" "$W" volume ls -q
	expect_out "inspect labels" '"team": "a"' "$W" volume inspect v1
	mp=$("$W" volume inspect v1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Mountpoint"])')
	[ "$mp" = "$(data_of v1)" ]
	ok "mountpoint under <root>/volumes/<ns>/<name>/_data ($mp)"
	[ -d "$mp" ]
	ok "mountpoint is a directory"
	[ -f "$T/root/volumes/default/v1/volume.json" ]
	ok "the record is beside the data"
	expect_eq "ls filter on a label" "v1" "$W" volume ls -q --filter labels.team==a
	expect_eq "ls filter that matches nothing" "" "$W" volume ls -q --filter labels.team==b
	expect_fail "ls bad filter" "filters: parse error" "$W" volume ls --filter 'labels.a >'
	expect_fail "inspect missing" 'volume "nosuch" not found' "$W" volume inspect nosuch
	expect_fail "rm missing" 'volume "nosuch" not found' "$W" volume rm nosuch
	# A generated name when none is given.
	out=$("$W" volume create)
	[[ "$out" =~ ^[0-9a-f]{64}$ ]]
	ok "generated name '$out'"
	expect_eq "rm generated" "$out" "$W" volume rm "$out"
	[ ! -e "$T/root/volumes/default/$out" ]
	ok "rm removes the directory"
	# Namespaced: another namespace does not see v1 and may have its own.
	expect_eq "other namespace: empty" "" "$W" -n other volume ls -q
	expect_eq "other namespace: its own v1" "v1" "$W" -n other volume create v1
	[ -d "$(data_of v1 other)" ]
	ok "other namespace's data apart"
	expect_eq "other namespace: rm" "v1" "$W" -n other volume rm v1
	expect_eq "v1 still in default" "v1" "$W" volume ls -q
}

persistence() {
	local out
	expect_eq "write into v1" "" vrun --mount type=volume,src=v1,dst=/data "$IMG" p1 \
		sh -c 'echo kept > /data/f; mkdir /data/d; echo deep > /data/d/g'
	expect_eq "another container reads it" "kept deep" \
		vrun --mount type=volume,source=v1,target=/mnt "$IMG" p2 sh -c 'echo $(cat /mnt/f /mnt/d/g)'
	[ "$(cat "$(data_of v1)/f")" = kept ]
	ok "the data is on the host"
	# The same volume twice in one container sees one directory.
	expect_eq "one volume on two paths" "kept" \
		vrun --mount type=volume,src=v1,dst=/a --mount type=volume,src=v1,dst=/b,ro "$IMG" p3 cat /b/f
	expect_out "ls --size" "SIZE" "$W" volume ls --size
	out=$("$W" volume inspect --size v1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Size"])')
	[ -n "$out" ] && [ "$out" -gt 0 ]
	ok "inspect --size counts the data ($out)"
	out=$("$W" volume ls --format json | python3 -c 'import json,sys; print(" ".join(v["Name"] for v in json.load(sys.stdin)))')
	[[ " $out " == *" v1 "* ]]
	ok "ls --format json ($out)"
	# docker's -v: NAME:/path is a volume, /host:/path a bind, :ro read-only.
	expect_eq "-v NAME:/path" "kept" vrun -v v1:/vol "$IMG" p5 cat /vol/f
	out=$(vrun -v "v1:/vol:ro" "$IMG" p6 sh -c 'touch /vol/x 2>/dev/null; echo $?')
	[ "$out" = 1 ]
	ok "-v NAME:/path:ro is read-only ($out)"
	expect_eq "-v /host:/path" "kept" vrun --volume "$(data_of v1):/h" "$IMG" p7 cat /h/f
	expect_fail "-v bad option" "--volume 'v1:/vol:z': unknown option 'z'" \
		"$W" run --rm -v v1:/vol:z "$IMG" p8 true
	# A volume named by run that does not exist yet is made (as docker does).
	expect_eq "run makes a missing volume" "" \
		vrun --mount type=volume,src=made,dst=/m "$IMG" p4 sh -c 'echo 1 > /m/x'
	expect_eq "it is listed" "made" "$W" volume ls -q --filter name==made
}

prefill() {
	local d out ml
	# wharfd writes /etc/hosts, hostname and resolv.conf for containers: the pre-fill checks
	# use the multilayer image's /data (three layers: a whiteout, an opaque directory, a
	# symlink), which nothing else touches. The copy sees what the container would see.
	expect_out "import multilayer" "sha256:" "$W" images import "$T/fx/multilayer.tar"
	ml=$("$W" images ls -q | grep -v "^$IMG\$" | head -1)
	expect_eq "pre-filled /data" "added keep link opaque" \
		vrun --mount type=volume,src=mld,dst=/data "$ml" f1 sh -c 'echo $(ls /data)'
	d=$(data_of mld)
	[ "$(cat "$d/keep")" = keep ]
	ok "file copied"
	[ ! -e "$d/remove-me" ]
	ok "whiteout not copied"
	[ ! -e "$d/opaque/old" ]
	ok "opaque dir: old hidden"
	[ "$(cat "$d/opaque/new")" = new ]
	ok "opaque dir: new there"
	[ "$(readlink "$d/link")" = keep ]
	ok "symlink kept as a link"
	[ "$(stat -c %Y "$d/keep")" = "$(date -d 2024-01-01T00:00:00Z +%s)" ]
	ok "mtime kept"
	[ "$(stat -c %a "$d")" = 755 ]
	ok "volume root mode from the image"
	# Not again once used, even after it was emptied.
	expect_eq "empty it" "" vrun --mount type=volume,src=mld,dst=/data "$ml" f2 \
		sh -c 'rm -rf /data/* /data/.[!.]*'
	expect_eq "an emptied volume stays empty" "" \
		vrun --mount type=volume,src=mld,dst=/data "$ml" f3 ls -A /data
	expect_out "inspect: initialized" '"Initialized": true' "$W" volume inspect mld
	# Modes of the volume root: /root 0700, /tmp 1777 (sticky).
	expect_eq "root 0700" "" vrun --mount type=volume,src=rootdir,dst=/root "$IMG" f4 true
	[ "$(stat -c %a "$(data_of rootdir)")" = 700 ]
	ok "/root's mode kept"
	expect_eq "tmp 1777" "" vrun --mount type=volume,src=tmpdir,dst=/tmp "$IMG" f5 true
	[ "$(stat -c %a "$(data_of tmpdir)")" = 1777 ]
	ok "/tmp's mode kept"
	# Hard links stay hard links: /bin's applets are links of /bin/busybox.
	expect_eq "bin" "" vrun --mount type=volume,src=bin,dst=/bin "$IMG" f6 /bin/true
	[ "$(stat -c %i "$(data_of bin)/busybox")" = "$(stat -c %i "$(data_of bin)/sh")" ]
	ok "hard links kept"
	# Two containers starting at once on one new volume: one copy, both see it.
	vrun --mount type=volume,src=twice,dst=/data "$ml" c1 cat /data/keep >"$T/c1.out" 2>&1 &
	local p1=$!
	vrun --mount type=volume,src=twice,dst=/data "$ml" c2 cat /data/keep >"$T/c2.out" 2>&1 &
	local p2=$!
	wait $p1 $p2
	[ "$(cat "$T/c1.out")" = keep ] && [ "$(cat "$T/c2.out")" = keep ]
	ok "concurrent first uses ($(cat "$T/c1.out") / $(cat "$T/c2.out"))"
	# A destination that is not in the image: empty, and then initialized.
	expect_eq "no such path in the image" "" \
		vrun --mount type=volume,src=none,dst=/not/in/image "$IMG" f7 ls -A /not/in/image
	# A volume with content before its first use is not filled (docker: only empty ones).
	"$W" volume create pre >/dev/null
	echo mine >"$(data_of pre)/own"
	expect_eq "non-empty new volume left alone" "own" \
		vrun --mount type=volume,src=pre,dst=/data "$ml" f8 ls /data
	# volume-nocopy: no copy at all.
	expect_eq "nocopy" "" vrun --mount type=volume,src=nc,dst=/data,volume-nocopy "$ml" f9 ls -A /data
	expect_eq "nocopy then used: still empty" "" \
		vrun --mount type=volume,src=nc,dst=/data "$ml" f10 ls -A /data
	# The image's /etc (which wharfd's /etc files then cover in part).
	expect_eq "pre-filled /etc" 'NAME="wharf test image"' \
		vrun --mount type=volume,src=etc,dst=/etc "$IMG" f11 head -1 /etc/os-release
	[ -f "$(data_of etc)/passwd" ]
	ok "passwd copied"
	# The native snapshotter's rootfs (a bind) is a source too.
	expect_out "import for native" "sha256:" "$W" images import --snapshotter native \
		"$T/fx/busybox.tar"
	expect_eq "pre-fill with the native snapshotter" 'NAME="wharf test image"' \
		vrun --snapshotter native --mount type=volume,src=etcn,dst=/etc "$IMG" f12 \
		head -1 /etc/os-release
	out=$(grep -c prefill /proc/self/mountinfo)
	[ "$out" = 0 ]
	ok "no pre-fill mount visible on the host ($out)"
	out=$(find "$T/root/volumes" -maxdepth 1 -name '.prefill-*' | wc -l)
	[ "$out" = 0 ]
	ok "no pre-fill temp dir left ($out)"
}

in_use() {
	expect_eq "run -d with v1" "u1" "$W" run -d "${NET[@]}" --mount type=volume,src=v1,dst=/data \
		"$IMG" u1 sleep 300
	expect_fail "rm in use" 'volume "v1" is in use by container u1' "$W" volume rm v1
	expect_out "ls shows the user" "u1" "$W" volume ls
	expect_out "inspect UsedBy" '"u1"' "$W" volume inspect v1
	expect_eq "ls dangling=false" "v1" "$W" volume ls -q --filter dangling==false
	check "task killed and deleted" task_gone u1
	# A container record alone (no task) still holds it; two holders are both named.
	expect_out "containers create u2" "u2" "$W" containers create "${NET[@]}" \
		--mount type=volume,src=v1,dst=/data "$IMG" u2 true
	expect_out "containers create u1b" "u1b" "$W" containers create "${NET[@]}" \
		--mount type=volume,src=v1,dst=/d2 "$IMG" u1b true
	expect_fail "rm held by records" "in use by containers" "$W" volume rm v1
	expect_out "prune -a keeps used v1" "Total reclaimed space" "$W" volume prune -a
	expect_eq "v1 survives prune" "v1" "$W" volume ls -q --filter name==v1
	# A volume a created (never started) container names exists for the user as it would in
	# docker: listed, and in use.
	expect_out "containers create with a new volume" "u3" "$W" containers create "${NET[@]}" \
		--mount type=volume,src=later,dst=/l "$IMG" u3 true
	expect_eq "listed before any task" "later" "$W" volume ls -q --filter name==later
	expect_fail "in use before any task" 'volume "later" is in use by container u3' \
		"$W" volume rm later
	expect_out "containers rm u3" "u3" "$W" containers rm u3
	expect_eq "rm later" "later" "$W" volume rm later
	expect_out "containers rm" "u2" "$W" containers rm u1 u2 u1b
	expect_eq "rm once unused" "v1" "$W" volume rm v1
	[ ! -e "$T/root/volumes/default/v1" ]
	ok "data gone"
}

anonymous() {
	local name out
	expect_out "create with an anonymous volume" "a1" "$W" containers create "${NET[@]}" \
		--mount type=volume,dst=/anon "$IMG" a1 sh -c 'echo x > /anon/f'
	out=$("$W" tasks start a1 2>&1 </dev/null)
	[ -z "$out" ]
	ok "start a1 ($out)"
	name=$("$W" volume ls -q --filter anonymous==true)
	[[ "$name" =~ ^[0-9a-f]{64}$ ]]
	ok "one anonymous volume '$name'"
	[ "$(cat "$(data_of "$name")/f" 2>/dev/null)" = x ]
	ok "its data"
	expect_out "label on the container" "\"wharf/volumes.anonymous\": \"$name\"" \
		"$W" containers info a1
	"$W" tasks delete a1 >/dev/null 2>&1
	expect_out "prune keeps what a1 uses" "Total reclaimed space" "$W" volume prune
	expect_eq "still there" "$name" "$W" volume ls -q --filter anonymous==true
	expect_out "containers rm a1" "a1" "$W" containers rm a1
	"$W" volume create keepme >/dev/null
	out=$("$W" volume prune 2>&1)
	[[ "$out" == *"Deleted Volumes:"*"$name"* ]]
	ok "prune removes the anonymous one ($out)"
	[[ "$out" == *"Total reclaimed space: "* ]]
	ok "prune reports space"
	[[ "$out" != *keepme* ]]
	ok "prune without -a keeps named ones"
	expect_eq "named kept" "keepme" "$W" volume ls -q --filter name==keepme
	out=$("$W" volume prune -a --filter name==keepme 2>&1)
	[[ "$out" == *keepme* ]]
	ok "prune -a with a filter ($out)"
	expect_eq "keepme gone" "" "$W" volume ls -q --filter name==keepme
	# run --rm takes its anonymous volumes along (docker's behaviour); named ones stay.
	out=$(vrun --mount type=volume,dst=/anon --mount type=volume,src=kept,dst=/k "$IMG" \
		a2 sh -c 'echo y > /anon/f; cat /anon/f' 2>&1)
	[ "$out" = y ]
	ok "run --rm with an anonymous volume ($out)"
	expect_eq "run --rm left no anonymous volume" "" "$W" volume ls -q --filter anonymous==true
	expect_eq "run --rm kept the named one" "kept" "$W" volume ls -q --filter name==kept
	expect_eq "rm kept" "kept" "$W" volume rm kept
}

readonly_mounts() {
	local out
	mkdir -p "$T/host"
	echo fromhost >"$T/host/f"
	out=$(vrun --mount "type=bind,src=$T/host,dst=/h,ro" "$IMG" r1 \
		sh -c 'cat /h/f; echo no >/h/f; echo rc=$?; touch /h/new 2>&1; echo rc=$?' 2>&1)
	[[ "$out" == fromhost* ]]
	ok "ro bind readable ($out)"
	[[ "$out" == *"can't create /h/f: Read-only file system"* && "$out" == *"rc=1"*"rc=1"* ]]
	ok "ro bind refuses writes ($out)"
	[ "$(cat "$T/host/f")" = fromhost ]
	ok "host file unchanged"
	[ ! -e "$T/host/new" ]
	ok "no new file"
	expect_eq "readonly=true spelled out" "1" vrun --mount "type=bind,src=$T/host,dst=/h,readonly=true" \
		"$IMG" r2 sh -c 'touch /h/x 2>/dev/null; echo $?'
	expect_eq "ro=false is writable" "0" vrun --mount "type=bind,src=$T/host,dst=/h,ro=false" \
		"$IMG" r3 sh -c 'touch /h/x; echo $?'
	[ -e "$T/host/x" ]
	ok "ro=false wrote"
	expect_eq "rw bind writes" "ok" vrun --mount "type=bind,src=$T/host,dst=/h" "$IMG" r4 \
		sh -c 'echo ok > /h/w; cat /h/w'
	"$W" volume create rov >/dev/null
	echo data >"$(data_of rov)/f"
	out=$(vrun --mount type=volume,src=rov,dst=/v,ro "$IMG" r5 sh -c 'cat /v/f; rm /v/f; echo rc=$?' 2>&1)
	[[ "$out" == *data* && "$out" == *"Read-only file system"* && "$out" == *rc=1* ]]
	ok "ro volume refuses writes ($out)"
	[ -f "$(data_of rov)/f" ]
	ok "ro volume data intact"
	out=$(vrun --mount type=tmpfs,dst=/t,ro "$IMG" r6 sh -c 'touch /t/x; echo rc=$?' 2>&1)
	[[ "$out" == *"Read-only file system"* && "$out" == *rc=1* ]]
	ok "ro tmpfs refuses writes ($out)"
	# The spec asks for a recursively read-only bind ("rro"): runc (>= 1.1) through the wharf
	# shim's exec driver, and containerd's own runc shim, make submounts read-only too.
	mkdir -p "$T/src/sub"
	mount -t tmpfs tmpfs "$T/src/sub"
	echo inner >"$T/src/sub/inner"
	expect_eq "rbind: submounts come along" "inner" \
		vrun --mount "type=bind,src=$T/src,dst=/s" "$IMG" nr1 cat /s/sub/inner
	expect_eq "bind-nonrecursive: they do not" "" \
		vrun --mount "type=bind,src=$T/src,dst=/s,bind-nonrecursive" "$IMG" nr2 ls -A /s/sub
	if command -v runc >/dev/null; then
		out=$(vrun --runtime-binary runc --mount "type=bind,src=$T/src,dst=/ro,ro" "$IMG" rr1 \
			sh -c 'touch /ro/top 2>/dev/null; echo top=$?; touch /ro/sub/x 2>/dev/null; echo sub=$?' 2>&1)
		[[ "$out" == *top=1*sub=1* ]]
		ok "runc: a ro bind is read-only recursively ($out)"
		if command -v containerd-shim-runc-v2 >/dev/null; then
			out=$(vrun --runtime io.containerd.runc.v2 --mount "type=bind,src=$T/src,dst=/ro,ro" \
				--mount type=volume,src=rov,dst=/v "$IMG" rr2 \
				sh -c 'cat /v/f; touch /ro/sub/x 2>/dev/null; echo sub=$?' 2>&1)
			[[ "$out" == *data*sub=1* ]]
			ok "containerd-shim-runc-v2: volume and recursive ro ($out)"
		fi
	fi
	umount "$T/src/sub"
	# A missing bind source: one clear line, nothing left behind.
	expect_fail "missing bind source" "bind source '$T/nonexistent'" \
		"$W" run --rm "${NET[@]}" --mount "type=bind,src=$T/nonexistent,dst=/x" "$IMG" r7 true
	expect_eq "no container left" "" "$W" containers ls -q
}

tmpfs_mounts() {
	local out
	out=$(vrun --mount type=tmpfs,dst=/t,size=1m,mode=1770 "$IMG" t1 \
		sh -c 'grep " /t " /proc/mounts; stat -c %a /t; dd if=/dev/zero of=/t/big bs=1k count=2048 2>/dev/null; echo dd=$? big=$(stat -c %s /t/big)' 2>&1)
	[[ "$out" == *"size=1024k"* ]]
	ok "tmpfs size=1m ($out)"
	[[ "$out" == *"mode=1770"* ]]
	ok "tmpfs mode ($out)"
	[[ "$out" == *nosuid,nodev,noexec* ]]
	ok "tmpfs defaults nosuid,nodev,noexec ($out)"
	[[ "$out" == *"dd=1 big=1048576"* ]]
	ok "tmpfs full at 1m ($out)"
	expect_eq "tmpfs is writable and empty" "ok" vrun --mount type=tmpfs,dst=/t "$IMG" t2 \
		sh -c 'ls -A /t; echo ok > /t/f; cat /t/f'
	expect_eq "size=2MiB" "size=2048k" vrun --mount type=tmpfs,target=/t,tmpfs-size=2MiB "$IMG" t3 \
		sh -c 'grep " /t " /proc/mounts | grep -o "size=[0-9]*k"'
}

restart() {
	local out
	expect_eq "write before restart" "" vrun --mount type=volume,src=keep,dst=/k "$IMG" k1 \
		sh -c 'echo survived > /k/f'
	expect_eq "run -d holding keep" "k2" "$W" run -d "${NET[@]}" --mount type=volume,src=keep,dst=/k \
		"$IMG" k2 sleep 300
	kill -KILL "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=""
	start_daemon || {
		fail "wharfd restart"
		return
	}
	expect_eq "listed after restart" "keep" "$W" volume ls -q --filter name==keep
	expect_fail "still in use after restart" "in use by container k2" "$W" volume rm keep
	expect_eq "data after restart" "survived" vrun --mount type=volume,src=keep,dst=/k "$IMG" k3 cat /k/f
	out=$("$W" tasks exec --exec-id e1 k2 cat /k/f </dev/null 2>&1)
	[ "$out" = survived ]
	ok "the running container still sees it ($out)"
	check "k2 deleted" task_gone k2
	expect_out "containers rm k2" "k2" "$W" containers rm k2
	expect_eq "rm after restart" "keep" "$W" volume rm keep
}

final_state() {
	local out
	out=$("$W" containers ls -q)
	[ -z "$out" ]
	ok "no containers left ($out)"
	out=$("$W" tasks ls -q)
	[ -z "$out" ]
	ok "no tasks left ($out)"
	# (wharfd keeps <state>/netns mounted on itself, as ip-netns does /run/netns.)
	out=$(awk -v s="$T/state" 'index($5, s) == 1 && $5 != s "/netns"' /proc/self/mountinfo)
	[ -z "$out" ]
	ok "no bundle mounts left ($out)"
	out=$(grep -c "/volumes/" /proc/self/mountinfo)
	[ "$out" = 0 ]
	ok "no volume mounted on the host ($out)"
}

rro_tests() {
	local out
	mkdir -p "$T/src/sub"
	mount -t tmpfs tmpfs "$T/src/sub" || {
		fail "tmpfs"
		return
	}
	out=$(vrun --mount "type=bind,src=$T/src,dst=/ro,ro" "$IMG" rro1 \
		sh -c 'touch /ro/top 2>/dev/null; echo top=$?; touch /ro/sub/x 2>/dev/null; echo sub=$?' 2>&1)
	[[ "$out" == *top=1* ]]
	ok "ro bind: top refuses writes ($out)"
	[[ "$out" == *sub=1* ]]
	ok "ro bind: submount refuses writes too, recursively read-only (rro) ($out)"
	umount "$T/src/sub"
}

setup() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: needs root" >&2
		exit 77
	fi
	trap cleanup EXIT
	T=$(mktemp -d /tmp/vol-e2e-XXXXXX)
	mount -t tmpfs -o mode=0700 tmpfs "$T" || exit 1
	export WHARF_ADDRESS=$T/wharfd.sock
	export XDG_RUNTIME_DIR=$T/run
	mkdir -p "$XDG_RUNTIME_DIR"
	"$FIXTURE" --extra "$T/fx" >/dev/null || {
		echo "fixture build failed" >&2
		exit 1
	}
	start_daemon || exit 1
	"$W" images import "$T/fx/busybox.tar" >/dev/null || {
		echo "image import failed" >&2
		exit 1
	}
}

case "$mode" in
cli)
	cli_tests
	;;
e2e | rro)
	WHARFD=$3
	SHIMDIR=$4
	FIXTURE=$5
	setup
	if [ "$mode" = rro ]; then
		rro_tests
	else
		volume_basics
		persistence
		prefill
		in_use
		anonymous
		readonly_mounts
		tmpfs_mounts
		restart
		final_state
	fi
	kill -0 "$DPID" 2>/dev/null || fail "wharfd died; log tail: $(tail -5 "$T/wharfd.log")"
	;;
*)
	echo "usage: $0 cli|e2e|rro ..." >&2
	exit 2
	;;
esac
if [ $fails -ne 0 ]; then
	echo "$fails of $checks check(s) failed" >&2
	exit 1
fi
echo "all $checks checks passed"

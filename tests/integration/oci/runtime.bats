#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The OCI runtime suite: every scenario runs against $RUNTIME (wharf-oci, runc or crun), so the
# assertions are proven against the reference runtimes.

load helpers

setup_file() { suite_setup; }
teardown_file() { suite_teardown; }
setup() { test_setup; }
teardown() { test_teardown; }

@test "lifecycle: create, start, kill, delete and the states between" {
	args_sh 'sleep 100'
	rt_bg create --bundle "$B" "$ID"
	run rt state "$ID"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .status)" = created ]
	[ "$(echo "$output" | jq -r .id)" = "$ID" ]
	[ "$(echo "$output" | jq -r .bundle)" = "$B" ]
	[ "$(echo "$output" | jq -r .ociVersion)" != null ]
	[ "$(echo "$output" | jq -r .created)" != null ]
	pid=$(echo "$output" | jq -r .pid)
	[ "$pid" -gt 0 ]
	grep -q sleep /proc/$pid/cmdline && false # not yet started: the runtime's init
	rt start "$ID"
	wait_status running "$ID"
	[ "$(rt state "$ID" | jq -r .pid)" = "$pid" ]
	rt kill "$ID" KILL
	wait_status stopped "$ID"
	rt delete "$ID"
	run rt state "$ID"
	[ "$status" -ne 0 ]
}

@test "start of a running container and delete of a running one fail" {
	args_sh 'sleep 100'
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	run rt start "$ID"
	[ "$status" -ne 0 ]
	run rt delete "$ID"
	[ "$status" -ne 0 ]
	[ "$(status_of "$ID")" = running ]
}

@test "run returns the exit code of the container process" {
	args_sh 'exit 42'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 42 ]
	run rt state "$ID"
	[ "$status" -ne 0 ]
}

@test "the container process starts with no blocked signals" {
	args_sh 'grep -E "^SigBlk" /proc/self/status'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | tr -s '\t ' ' ')" = "SigBlk: 0000000000000000" ]
	args_sh 'sleep 100'
	rt_bg run -d --bundle "$B" "$ID"
	run rt exec "$ID" sh -c 'grep -E "^SigBlk" /proc/self/status'
	[ "$(echo "$output" | tr -s '\t ' ' ')" = "SigBlk: 0000000000000000" ]
}

@test "exit codes: commands on a missing container fail" {
	run rt state nosuch
	[ "$status" -ne 0 ]
	run rt start nosuch
	[ "$status" -ne 0 ]
	run rt kill nosuch KILL
	[ "$status" -ne 0 ]
	run rt delete nosuch
	[ "$status" -ne 0 ]
}

@test "signals by name and by number reach the init" {
	args_sh 'trap "echo got-usr1 > /tmp/sig-$HOSTNAME; exit 7" USR1; while true; do sleep 0.1; done'
	cfg '.process.args = ["sh", "-c", $c] | .mounts += [{"destination": "/tmp", "type": "bind", "source": $d, "options": ["rbind"]}]' --arg c 'trap "echo got-usr1 > /tmp/sig; exit 7" USR1; while true; do sleep 0.1; done' --arg d "$B"
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	sleep 0.3
	rt kill "$ID" SIGUSR1
	for i in $(seq 50); do [ -f "$B/sig" ] && break; sleep 0.1; done
	[ "$(cat "$B/sig")" = got-usr1 ]
	wait_status stopped "$ID"
	rt delete "$ID"
	args_sh 'sleep 100'
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	rt kill "$ID" 9
	wait_status stopped "$ID"
}

@test "namespaces: hostname, pid 1, own mount table, only loopback" {
	args_sh 'hostname; echo $$; grep -c " /work " /proc/self/mountinfo; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = oci-it ]
	[ "${lines[1]}" = 1 ]
	[ "${lines[2]}" = 0 ]
	[ "${lines[3]}" = lo ]
	[ "${#lines[@]}" -eq 4 ]
}

@test "cgroup namespace" {
	cfg '.process.args = ["sh", "-c", "cat /proc/self/cgroup | grep -c -v \":/$\" || true"] | .linux.namespaces += [{"type": "cgroup"}]'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
}

@test "joining a namespace by path" {
	args_sh 'sleep 100'
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	pid=$(rt state "$ID" | jq -r .pid)
	ID2=${ID}b
	cfg '.process.args = ["readlink", "/proc/self/ns/net"] | .linux.namespaces |= map(if .type == "network" then .path = $p else . end) | .linux.cgroupsPath = $cg' --arg p "/proc/$pid/ns/net" --arg cg "/$CGPARENT/$ID2"
	run rt run --bundle "$B" "$ID2"
	[ "$status" -eq 0 ]
	[ "$output" = "$(readlink /proc/$pid/ns/net)" ]
}

@test "joining the pid namespace of another container" {
	args_sh 'sleep 100'
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	pid=$(rt state "$ID" | jq -r .pid)
	ID2=${ID}b
	cfg '.process.args = ["sh", "-c", "cat /proc/1/cmdline | tr \"\\0\" \" \"; echo; echo $$"] | .linux.namespaces |= map(if .type == "pid" then .path = $p else . end) | .linux.cgroupsPath = $cg' --arg p "/proc/$pid/ns/pid" --arg cg "/$CGPARENT/$ID2"
	run rt run --bundle "$B" "$ID2"
	[ "$status" -eq 0 ]
	[ "$(echo "${lines[0]}" | sed 's/ *$//')" = "sleep 100" ]
	[ "${lines[1]}" -gt 1 ]
}

@test "user namespace with uid and gid mappings" {
	cfg '.process.args = ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"] | .linux.namespaces += [{"type": "user"}] | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}] | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}] | .mounts |= map(select(.destination != "/sys/fs/cgroup"))'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "$(echo "${lines[0]}" | tr -s ' ' | sed 's/^ //')" = "0 100000 65536" ]
	[ "$(echo "${lines[1]}" | tr -s ' ' | sed 's/^ //')" = "0 100000 65536" ]
	[ "${lines[2]}" = 0 ]
}

@test "resources are applied to the cgroup" {
	cfg '.process.args = ["sleep", "100"] | .linux.resources.memory = {"limit": 67108864} | .linux.resources.pids = {"limit": 77} | .linux.resources.cpu = {"shares": 512, "quota": 50000, "period": 100000}'
	if is_v2 && ! v2_has memory; then cfg '.process.args = ["sleep", "100"] | .linux.resources.pids = {"limit": 77}'; fi
	if is_v2 && ! v2_has pids; then cfg '.process.args = ["sleep", "100"]'; fi
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	pid=$(rt state "$ID" | jq -r .pid)
	if is_v2; then
		grep -qx "0::/$CGPARENT/$ID" /proc/$pid/cgroup
		! v2_has memory || [ "$(cat "$(cgroup_file memory memory.max)")" = 67108864 ]
		! v2_has pids || [ "$(cat "$(cgroup_file pids pids.max)")" = 77 ]
		! v2_has cpu || [ "$(cat "$(cgroup_file cpu cpu.max)")" = "50000 100000" ]
	else
		[ "$(cat "$(cgroup_file memory memory.limit_in_bytes)")" = 67108864 ]
		[ "$(cat "$(cgroup_file pids pids.max)")" = 77 ]
		[ "$(cat "$(cgroup_file cpu cpu.shares)")" = 512 ]
		[ "$(cat "$(cgroup_file cpu cpu.cfs_quota_us)")" = 50000 ]
		grep -q "$pid" "$(cgroup_file memory cgroup.procs)"
	fi
}

@test "update changes the resources of a running container" {
	cfg '.process.args = ["sleep", "100"] | .linux.resources.pids = {"limit": 77}'
	is_v2 && ! v2_has pids && skip "no pids controller on this cgroup2"
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	rt update --pids-limit 55 "$ID"
	[ "$(cat "$(cgroup_file pids pids.max)")" = 55 ]
	echo '{"pids": {"limit": 66}}' >"$B/res.json"
	rt update -r "$B/res.json" "$ID"
	[ "$(cat "$(cgroup_file pids pids.max)")" = 66 ]
	echo '{"pids": {"limit": 44}}' | rt update -r - "$ID"
	[ "$(cat "$(cgroup_file pids pids.max)")" = 44 ]
}

@test "capabilities are dropped to the configured sets" {
	cfg '.process.args = ["sh", "-c", "grep -E ^Cap /proc/self/status"] | .process.capabilities = {"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"]}'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	echo "$output" | grep -qx "CapEff:.0000000000000020"
	echo "$output" | grep -qx "CapPrm:.0000000000000020"
	echo "$output" | grep -qx "CapInh:.0000000000000020"
	echo "$output" | grep -qx "CapBnd:.0000000000000021"
}

@test "rlimits, umask, env, cwd, noNewPrivileges and oomScoreAdj" {
	cfg '.process.args = ["sh", "-c", "ulimit -n; ulimit -Hn; umask; echo $FOO; pwd; grep NoNewPrivs /proc/self/status | cut -f2; cat /proc/self/oom_score_adj"] | .process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}] | .process.user.umask = 63 | .process.env += ["FOO=bar"] | .process.cwd = "/tmp/work" | .process.oomScoreAdj = 500'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 123 ]
	[ "${lines[1]}" = 456 ]
	[ "${lines[2]}" = 0077 ]
	[ "${lines[3]}" = bar ]
	[ "${lines[4]}" = /tmp/work ]
	[ "${lines[5]}" = 1 ]
	[ "${lines[6]}" = 500 ]
}

@test "user, group and additional groups" {
	cfg '.process.args = ["grep", "-E", "^(Uid|Gid|Groups)", "/proc/self/status"] | .process.user = {"uid": 1000, "gid": 1001, "additionalGids": [10, 20]}'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "$(echo "${lines[0]}" | tr -s '\t ' ' ')" = "Uid: 1000 1000 1000 1000" ]
	[ "$(echo "${lines[1]}" | tr -s '\t ' ' ')" = "Gid: 1001 1001 1001 1001" ]
	[ "$(echo "${lines[2]}" | tr -s '\t ' ' ' | sed 's/ $//')" = "Groups: 10 20" ]
}

@test "read-only rootfs" {
	cfg '.process.args = ["sh", "-c", "touch /x 2>/dev/null && echo wrote; touch /tmp/y 2>/dev/null || echo ro"] | .root.readonly = true'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = ro ]
	! echo "$output" | grep -q wrote
	[ ! -e "$T/rootfs/x" ]
}

@test "masked and read-only paths" {
	args_sh 'wc -c < /proc/keys; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; (echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo written || echo ro'
	[ -e /proc/keys ] && [ -e /proc/timer_list ] && [ -d /sys/firmware ]
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 0 ]
	[ "${lines[1]}" = 0 ]
	[ "${lines[2]}" = 0 ]
	[ "${lines[3]}" = ro ]
}

@test "devices: the default set, spec devices, and the devices cgroup" {
	cfg '.process.args = ["sh", "-c", "stat -c \"%n %t:%T %a\" /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/mynull; echo x > /dev/mynull && echo ok; readlink /dev/fd; readlink /dev/ptmx; mknod /dev/mem2 c 1 1 && head -c 1 /dev/mem2 >/dev/null 2>&1 && echo opened || echo denied"] | .linux.devices = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 432}] | .linux.resources.devices += [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}] | .process.capabilities.bounding += ["CAP_MKNOD"] | .process.capabilities.effective += ["CAP_MKNOD"] | .process.capabilities.permitted += ["CAP_MKNOD"]'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "/dev/null 1:3 666" ]
	[ "${lines[1]}" = "/dev/zero 1:5 666" ]
	[ "${lines[2]}" = "/dev/full 1:7 666" ]
	[ "${lines[3]}" = "/dev/random 1:8 666" ]
	[ "${lines[4]}" = "/dev/urandom 1:9 666" ]
	[ "${lines[5]}" = "/dev/tty 5:0 666" ]
	[ "${lines[6]}" = "/dev/mynull 1:3 660" ]
	[ "${lines[7]}" = ok ]
	[ "${lines[8]}" = /proc/self/fd ]
	[ "${lines[9]}" = pts/ptmx ]
	[ "${lines[10]}" = denied ]
}

@test "mounts: bind read-only, tmpfs, created mount points" {
	mkdir -p "$B/data"
	echo hello >"$B/data/f"
	cfg '.process.args = ["sh", "-c", "cat /mnt/a/b/f; touch /mnt/a/b/g 2>/dev/null || echo ro; grep \" /scratch \" /proc/self/mountinfo | grep -c tmpfs; touch /scratch/z && echo rw"] | .mounts += [{"destination": "/mnt/a/b", "type": "bind", "source": $d, "options": ["rbind", "ro", "nosuid", "nodev"]}, {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1777"]}]' --arg d "$B/data"
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = hello ]
	[ "${lines[1]}" = ro ]
	[ "${lines[2]}" = 1 ]
	[ "${lines[3]}" = rw ]
	[ ! -e "$B/data/g" ]
}

@test "rootfs propagation" {
	cfg '.process.args = ["awk", "$5 == \"/\"", "/proc/self/mountinfo"] | .linux.rootfsPropagation = "rprivate"'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	! echo "$output" | grep -q "shared:"
	! echo "$output" | grep -q "master:"
}

@test "sysctl is written in the container's namespaces" {
	cfg '.process.args = ["cat", "/proc/sys/net/ipv4/ip_forward"] | .linux.sysctl = {"net.ipv4.ip_forward": "1"}'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
}

@test "no-pivot: MS_MOVE and chroot" {
	args_sh 'hostname; ls /bin/busybox'
	run rt run --no-pivot --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = oci-it ]
	[ "${lines[1]}" = /bin/busybox ]
}

@test "no fds leak into the container; --preserve-fds passes them" {
	args_sh 'ls /proc/self/fd | wc -l'
	run rt run --bundle "$B" "$ID" 5>/dev/null 7>/dev/null
	[ "$status" -eq 0 ]
	[ "$output" = 4 ] # 0, 1, 2 and ls's own directory fd
	args_sh 'echo via-fd3 >&3'
	rt run --preserve-fds 1 --bundle "$B" "$ID" 3>"$B/out"
	[ "$(cat "$B/out")" = via-fd3 ]
}

@test "tty through the console socket" {
	args_sh 'tty; test -t 0 && echo is-a-tty'
	cfg '.process.terminal = true | .process.args = ["sh", "-c", "tty; test -t 0 && echo is-a-tty"]'
	python3 "$BATS_TEST_DIRNAME/recvtty.py" "$B/console.sock" >"$B/tty.out" &
	rpid=$!
	for i in $(seq 50); do [ -e "$B/console.sock.ready" ] && break; sleep 0.05; done
	rt_bg create --console-socket "$B/console.sock" --bundle "$B" "$ID"
	rt start "$ID"
	wait_status stopped "$ID"
	for i in $(seq 50); do kill -0 $rpid 2>/dev/null || break; sleep 0.1; done
	kill $rpid 2>/dev/null || true
	wait $rpid || true
	grep -q '^/dev/pts/0' "$B/tty.out"
	grep -q is-a-tty "$B/tty.out"
}

@test "exec into a running container" {
	args_sh 'sleep 100'
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	run rt exec "$ID" sh -c 'hostname; echo "foo=$FOO"; pwd; id -u'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = oci-it ]
	[ "${lines[1]}" = "foo=" ]
	run rt exec --env PATH=/bin --env FOO=bar --cwd /tmp --user 1000:1000 "$ID" sh -c 'echo $FOO; pwd; id -u'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = bar ]
	[ "${lines[1]}" = /tmp ]
	[ "${lines[2]}" = 1000 ]
	run rt exec "$ID" sh -c 'exit 3'
	[ "$status" -eq 3 ]
	rt exec --preserve-fds 1 "$ID" sh -c 'echo via-fd3 >&3' 3>"$B/exec-fd3"
	[ "$(cat "$B/exec-fd3")" = via-fd3 ]
	cat >"$B/process.json" <<JSON
{"args": ["sh", "-c", "echo from-process-file; cat /proc/1/cmdline | tr '\\\\0' ' '"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
JSON
	run rt exec --process "$B/process.json" "$ID"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = from-process-file ]
	[ "$(echo "${lines[1]}" | sed 's/ *$//')" = "sleep 100" ]
	rt_bg exec -d --pid-file "$B/exec.pid" "$ID" sleep 50
	epid=$(cat "$B/exec.pid")
	[ "$epid" -gt 0 ]
	# the process may still be the runtime's child side for a moment (runc)
	for i in $(seq 100); do grep -q sleep /proc/$epid/cmdline && break; sleep 0.05; done
	grep -q sleep /proc/$epid/cmdline
	[ "$(readlink /proc/$epid/ns/pid)" = "$(readlink /proc/$(rt state "$ID" | jq -r .pid)/ns/pid)" ]
}

@test "pause and resume" {
	args_sh 'sleep 100'
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	rt pause "$ID"
	[ "$(status_of "$ID")" = paused ]
	if is_v2; then
		[ "$(cat "$(cgroup_file "" cgroup.freeze)")" = 1 ]
	else
		[ "$(cat "$(cgroup_file freezer freezer.state)")" = FROZEN ]
	fi
	rt resume "$ID"
	[ "$(status_of "$ID")" = running ]
	if is_v2; then
		[ "$(cat "$(cgroup_file "" cgroup.freeze)")" = 0 ]
	else
		[ "$(cat "$(cgroup_file freezer freezer.state)")" = THAWED ]
	fi
}

@test "hooks run in order with the state on stdin" {
	mkdir -p "$B/h"
	# every hook reads its stdin: crun 1.8 dies of SIGPIPE when a hook does not
	cfg '.process.args = ["true"]
	     | .mounts += [{"destination": $h, "type": "bind", "source": $h, "options": ["rbind"]}]
	     | .hooks = {
	       "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", ("cat > " + $h + "/prestart.json; echo prestart >> " + $h + "/log")]}],
	       "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", ("cat >/dev/null; echo createRuntime >> " + $h + "/log")]}],
	       "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", ("cat >/dev/null; echo createContainer >> " + $h + "/log")]}],
	       "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", ("cat >/dev/null; echo startContainer >> " + $h + "/log")]}],
	       "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", ("cat >/dev/null; echo poststart >> " + $h + "/log")]}],
	       "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", ("cat > " + $h + "/poststop.json; echo poststop >> " + $h + "/log")], "timeout": 5}]
	     }' --arg h "$B/h"
	rt_bg create --bundle "$B" "$ID"
	# runc 1.1 runs poststart at create time (fixed in 1.2); the spec's order is checked below
	[ "$(head -3 "$B/h/log" | tr '\n' ' ')" = "prestart createRuntime createContainer " ]
	! grep -q startContainer "$B/h/log"
	[ "$(jq -r .id "$B/h/prestart.json")" = "$ID" ]
	[ "$(jq -r .pid "$B/h/prestart.json")" = "$(rt state "$ID" | jq -r .pid)" ]
	rt start "$ID"
	wait_status stopped "$ID"
	rt delete "$ID"
	[ "$(head -3 "$B/h/log" | tr '\n' ' ')" = "prestart createRuntime createContainer " ]
	[ "$(grep -c . "$B/h/log")" -eq 6 ]
	grep -qx startContainer "$B/h/log"
	grep -qx poststart "$B/h/log"
	[ "$(tail -1 "$B/h/log")" = poststop ]
	[ "$(jq -r .id "$B/h/poststop.json")" = "$ID" ]
}

@test "a failing prestart hook fails create and leaves nothing" {
	cfg '.process.args = ["true"] | .hooks = {"prestart": [{"path": "/bin/false"}]}'
	run rt create --bundle "$B" "$ID"
	[ "$status" -ne 0 ]
	run rt state "$ID"
	[ "$status" -ne 0 ]
	[ ! -d "$(cgroup_file pids "")" ] || [ -z "$(cat "$(cgroup_file pids cgroup.procs)")" ]
}

@test "kill --all signals every process of the container" {
	args_sh 'sleep 100 & sleep 100 & wait'
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	for i in $(seq 50); do [ "$(rt ps --format json "$ID" | jq length)" -ge 3 ] && break; sleep 0.05; done
	pids=$(rt ps --format json "$ID" | jq -r '.[]')
	[ "$(echo "$pids" | wc -w)" -eq 3 ]
	rt kill --all "$ID" KILL
	wait_status stopped "$ID"
	for p in $pids; do
		for i in $(seq 50); do
			st=$(awk '{print $3}' /proc/$p/stat 2>/dev/null || echo gone)
			[ "$st" = gone ] || [ "$st" = Z ] && break
			sleep 0.05
		done
		[ "$st" = gone ] || [ "$st" = Z ]
	done
}

@test "delete --force of a running container" {
	args_sh 'sleep 100'
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	pid=$(rt state "$ID" | jq -r .pid)
	rt delete --force "$ID"
	run rt state "$ID"
	[ "$status" -ne 0 ]
	st=$(awk '{print $3}' /proc/$pid/stat 2>/dev/null || echo gone)
	[ "$st" = gone ] || [ "$st" = Z ]
}

@test "list and ps" {
	args_sh 'sleep 100'
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	rt list --format json | jq -e --arg id "$ID" 'map(select(.id == $id and .status == "running")) | length == 1'
	rt list | grep -q "^$ID "
	pid=$(rt state "$ID" | jq -r .pid)
	rt ps --format json "$ID" | jq -e --argjson p "$pid" 'index($p) != null'
	rt ps "$ID" | grep -qw "$pid"
}

@test "seccomp rules from the spec are loaded" {
	cfg '.process.args = ["sh", "-c", "mkdir /tmp/d 2>&1 || echo denied"] | .linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}'
	run rt run --bundle "$B" "$ID"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = denied ]
	echo "$output" | grep -q "Permission denied"
}

@test "bad configs fail before anything is made" {
	echo '{"ociVersion": "1.0.2", "process": ' >"$B/config.json"
	run rt create --bundle "$B" "$ID"
	[ "$status" -ne 0 ]
	run rt state "$ID"
	[ "$status" -ne 0 ]
	cfg '.linux.namespaces += [{"type": "bogus"}]'
	run rt create --bundle "$B" "$ID"
	[ "$status" -ne 0 ]
	cfg '.root.path = "/nonexistent/rootfs"'
	run rt create --bundle "$B" "$ID"
	[ "$status" -ne 0 ]
	cfg '.mounts += [{"destination": "/x", "type": "bind", "source": "/nonexistent/src", "options": ["rbind"]}]'
	run rt create --bundle "$B" "$ID"
	[ "$status" -ne 0 ]
	cfg '.process.rlimits = [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]'
	run rt create --bundle "$B" "$ID"
	[ "$status" -ne 0 ]
	run rt state "$ID"
	[ "$status" -ne 0 ]
	[ "$(rt list --format json | jq --arg id "$ID" '(. // []) | map(select(.id == $id)) | length')" = 0 ]
	[ ! -d "$(cgroup_file pids "")" ] || [ -z "$(cat "$(cgroup_file pids cgroup.procs)")" ]
	[ -z "$(grep "$T/rootfs" /proc/self/mountinfo)" ]
}

@test "create --pid-file and a json --log of errors" {
	args_sh 'sleep 100'
	rt_bg create --pid-file "$B/init.pid" --bundle "$B" "$ID"
	[ "$(cat "$B/init.pid")" = "$(rt state "$ID" | jq -r .pid)" ]
	run "$RUNTIME" --root "$T/state" --log "$B/log.json" --log-format json state nosuch
	[ "$status" -ne 0 ]
	[ "$(tail -1 "$B/log.json" | jq -r .level)" = error ]
	[ -n "$(tail -1 "$B/log.json" | jq -r .msg)" ]
}

@test "exec with a tty through the console socket" {
	args_sh 'sleep 100'
	rt_bg run -d --bundle "$B" "$ID"
	wait_status running "$ID"
	python3 "$BATS_TEST_DIRNAME/recvtty.py" "$B/console.sock" >"$B/tty.out" &
	rpid=$!
	for i in $(seq 50); do [ -e "$B/console.sock.ready" ] && break; sleep 0.05; done
	rt_bg exec -t -d --console-socket "$B/console.sock" "$ID" sh -c 'tty; test -t 1 && echo is-a-tty'
	for i in $(seq 50); do kill -0 $rpid 2>/dev/null || break; sleep 0.1; done
	kill $rpid 2>/dev/null || true
	wait $rpid || true
	grep -q '^/dev/pts/' "$B/tty.out"
	grep -q is-a-tty "$B/tty.out"
}

@test "spec writes a config.json that parses" {
	mkdir -p "$B/spec"
	rt spec --bundle "$B/spec"
	jq -e '.ociVersion and .process.args and .root.path and (.mounts | length > 0)' "$B/spec/config.json"
	run rt spec --bundle "$B/spec"
	[ "$status" -ne 0 ]
}

@test "kill of a stopped container fails" {
	args_sh 'true'
	rt_bg run -d --bundle "$B" "$ID"
	wait_status stopped "$ID"
	run rt kill "$ID" KILL
	[ "$status" -ne 0 ]
}

# The verifier's guest side, sourced by the micro-VM's /init (which defines `report`).
# params.sh sets WORKLOADS, CMD_<name>, MID_SECONDS and WORKLOAD_TIMEOUT, and for the
# performance gate GATE_PARTS (empty: no gate), GATE_CMD_<part>, GATE_ROUNDS (warm-up
# included), GATE_TIMEOUT, SCX_LOAD_TIMEOUT and VERIFIER_TIMEOUT (seconds, an object's
# load); candidates.txt lists "INDEX OPS
# KIND PATH [ARGS...]" lines: KIND obj is a scheduler object at PATH (obj/cINDEX.bpf.o),
# registered with bpftool; KIND scx a user-space scx binary at host PATH, started with ARGS
# (their grammar allows no spaces or shell characters), whose ops name is OPS_<version>_<target>.
. ./params.sh
# With a binary among the candidates: scx_start, scx_stop and the kernel config in /boot.
[ ! -f ./scx_guest.sh ] || . ./scx_guest.sh

# Escapes for a JSON string: an scx log's ANSI colour codes become \u001b, other control
# characters go.
json_text() {
  tr -d '\000-\010\013\014\016-\032\034-\037' | tr '\t\r' '  ' | sed 's/\\/\\\\/g; s/"/\\"/g' |
    awk '{gsub(/\033/, "\\u001b"); printf "%s\\n", $0}'
}
sched_state() { cat /sys/kernel/sched_ext/state; }
sched_ops() { cat /sys/kernel/sched_ext/root/ops 2>/dev/null; }
output() { o=$(grep '^{' "$1" | tail -n 1); [ -n "$o" ] && echo "$o" || echo null; }
# A cgroup id as bpftool wants a u64 key: eight little-endian hex bytes.
le_hex() { printf '%016x' "$1" | sed 's/../& /g' | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}'; }

# sched_ext classifies a task by its nearest cgroup with the cpu controller enabled. The
# gate's wakers stand for the protected pods, its hogs for the others.
CG=/sys/fs/cgroup
mkdir -p $CG && mount -t cgroup2 cgroup2 $CG 2>/dev/null
echo +cpu > $CG/cgroup.subtree_control
mkdir -p $CG/latency $CG/batch
in_cgroup() { group=$1; shift; sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/$group" "$@"; }
cgroup_of() { case $1 in wakers) echo latency ;; *) echo batch ;; esac; }

# What the node agent would write: protected cgroups class 1 (latency), the others 2 (batch).
# Schedulers without a cgroup_class map refuse the update, and that is all.
write_classes() {
  bpftool map update name cgroup_class key hex $(le_hex "$(stat -c %i $CG/latency)") value hex 01 00 00 00 2>/dev/null &&
    bpftool map update name cgroup_class key hex $(le_hex "$(stat -c %i $CG/batch)") value hex 02 00 00 00 2>/dev/null
}

# Runs each workload, sampling which scheduler is attached while it runs.
run_suite() {
  for w in $WORKLOADS; do
    eval "cmd=\$CMD_$w"
    timeout "$WORKLOAD_TIMEOUT" $cmd > /tmp/out 2>/dev/null &
    pid=$!
    sleep "$MID_SECONDS"
    mid_ops=$(sched_ops); mid_state=$(sched_state)
    wait $pid; rc=$?
    out=$(cat /tmp/out); [ -n "$out" ] || out='{}'
    report "{\"event\":\"workload\",\"label\":\"$1\",\"name\":\"$w\",\"rc\":$rc,\"ops\":\"$mid_ops\",\"state\":\"$mid_state\",\"result\":$out}"
  done
}

# The gate's rounds: every part at once, each in its cgroup; one report per part and round.
run_gate() {
  for round in $(seq 1 "$GATE_ROUNDS"); do
    for part in $GATE_PARTS; do
      eval "cmd=\$GATE_CMD_$part"
      in_cgroup "$(cgroup_of $part)" timeout "$GATE_TIMEOUT" $cmd > /tmp/gate.$part 2>/dev/null &
      eval "pid_$part=$!"
    done
    sleep "$MID_SECONDS"
    mid_ops=$(sched_ops); mid_state=$(sched_state)
    for part in $GATE_PARTS; do
      eval "wait \$pid_$part"; rc=$?
      report "{\"event\":\"gate\",\"label\":\"$1\",\"round\":$round,\"part\":\"$part\",\"rc\":$rc,\"ops\":\"$mid_ops\",\"state\":\"$mid_state\",\"result\":$(output /tmp/gate.$part)}"
    done
  done
}

# Every program's run count and run time (kernel.bpf_stats_enabled): a callback that takes
# long stalls the CPU it runs on whatever the workloads show.
echo 1 > /proc/sys/kernel/bpf_stats_enabled
prog_stats() { o=$(bpftool -j prog show 2>/dev/null); [ -n "$o" ] && echo "$o" || echo null; }

run_suite baseline
[ -z "$GATE_PARTS" ] || run_gate baseline
# A binary loads until it has attached, died, or SCX_LOAD_TIMEOUT passed; rc 0 once attached.
scx_load() {
  scx_start /tmp/load "$@"
  n=0
  while [ "$(sched_state)" != enabled ] && kill -0 "$SCX_PID" 2>/dev/null && [ $n -lt $((SCX_LOAD_TIMEOUT * 10)) ]; do
    sleep 0.1; n=$((n + 1))
  done
  case "$(sched_ops)" in "${ops}_"*) [ "$(sched_state)" = enabled ] ;; *) false ;; esac
}

# The loader's output: 6.x kernels state a refusal at the end of the verifier's log, 7.x
# at its top, and a level-2 log can run to megabytes.
# libbpf's debug lines come first: the log starts at the verifier's, when there is one.
load_log() {
  grep -q 'BEGIN PROG LOAD LOG' /tmp/load && sed -n '/BEGIN PROG LOAD LOG/,$p' /tmp/load > /tmp/load.log || cp /tmp/load /tmp/load.log
  if [ "$(wc -l < /tmp/load.log)" -gt 160 ]; then
    head -n 60 /tmp/load.log; echo '[...]'; tail -n 100 /tmp/load.log
  else
    cat /tmp/load.log
  fi
}

unload() {
  if [ "$kind" = scx ]; then scx_stop; else rm -rf /sys/fs/bpf/c$idx; fi
}

while read idx ops kind path args; do
  dmesg -c > /dev/null
  if [ "$kind" = scx ]; then
    scx_load "$path" $args
  else
    mkdir -p /sys/fs/bpf/c$idx
    # The verifier checks for signals as it walks, so the timeout ends it (rc 124).
    timeout "$VERIFIER_TIMEOUT" bpftool -d struct_ops register "$path" /sys/fs/bpf/c$idx > /tmp/load 2>&1
  fi
  rc=$?
  classes=null
  if [ $rc -eq 0 ]; then write_classes; classes=$?; fi
  report "{\"event\":\"load\",\"candidate\":$idx,\"rc\":$rc,\"classes\":$classes,\"state\":\"$(sched_state)\",\"ops\":\"$(sched_ops)\",\"log\":\"$(load_log | json_text)\"}"
  if [ $rc -eq 0 ]; then
    run_suite c$idx
    # A scheduler the suite got ejected has nothing left to measure.
    if [ -n "$GATE_PARTS" ] && [ "$(sched_state)" = enabled ]; then run_gate c$idx; fi
    report "{\"event\":\"after\",\"candidate\":$idx,\"state\":\"$(sched_state)\",\"ops\":\"$(sched_ops)\",\"progs\":$(prog_stats)}"
    unload
    sleep 0.3
  elif [ "$kind" = scx ]; then
    scx_stop
  fi
  report "{\"event\":\"dmesg\",\"candidate\":$idx,\"log\":\"$(dmesg | grep -A4 'sched_ext' | tail -n 20 | json_text)\"}"
done < candidates.txt

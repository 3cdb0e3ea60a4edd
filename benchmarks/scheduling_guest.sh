# The scheduling benchmark's guest side, sourced by the micro-VM's /init (which defines
# `report`). params.sh sets REPEATS, MS, MID, TO, WORKERS, PERIOD_US, HOGS, THREADS,
# PAIRS, MESSAGES, FANOUT, REQUEST_UNITS, BUILD_TASKS, BUILD_JOBS, BATCHES and WORKLOADS; schedulers.txt lists "LABEL KIND ARG CLASSES" lines:
#   eevdf -       the kernel's own scheduler, nothing loaded
#   bpf   FILE    obj/FILE, loaded with bpftool struct_ops register (a pinned link)
#   scx   PATH    a host binary (share_host), started by scx_guest.sh, stopped by SIGINT
# CLASSES=1: write the latency workers' cgroup into the scheduler's cgroup_class map.
# Rounds are interleaved (every scheduler once per round) so drift in the VM spreads
# evenly over all of them.
. ./params.sh
[ -f ./scx_guest.sh ] && . ./scx_guest.sh

json_text() { tr '\t\r' '  ' | sed 's/\\/\\\\/g; s/"/\\"/g' | awk '{printf "%s\\n", $0}'; }
sched_state() { cat /sys/kernel/sched_ext/state; }
sched_ops() { cat /sys/kernel/sched_ext/root/ops 2>/dev/null; }
output() { o=$(grep '^{' "$1" | tail -n 1); [ -n "$o" ] && echo "$o" || echo null; }
wait_state() {  # STATE TENTHS
  n=0
  while [ "$(sched_state)" != "$1" ] && [ $n -lt "$2" ]; do sleep 0.1; n=$((n + 1)); done
}
# A cgroup id as bpftool wants a u64 key: eight little-endian hex bytes.
le_hex() { printf '%016x' "$1" | sed 's/../& /g' | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}'; }

# sched_ext classifies a task by its nearest cgroup with the cpu controller enabled.
CG=/sys/fs/cgroup
mkdir -p $CG && mount -t cgroup2 cgroup2 $CG 2>/dev/null
echo +cpu > $CG/cgroup.subtree_control
mkdir -p $CG/bench && echo +cpu > $CG/bench/cgroup.subtree_control
mkdir -p $CG/bench/latency $CG/bench/batch $CG/bench/other
LAT_CGID=$(stat -c %i $CG/bench/latency)
in_cgroup() { group=$1; shift; sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/bench/$group" "$@"; }

# The long-tail job sizes follow this VM's speed: one long job of about 0.8 x MS alone
# on a CPU, twelve short ones of a twelfth of it (ideal makespan: the long job).
rate=$(bin/cpu_batch 400 1 | sed -n 's/.*"units_per_s":\([0-9.]*\).*/\1/p')
LONG_UNITS=$(awk -v r="${rate:-100}" -v ms="$MS" 'BEGIN { u = int(r * ms / 1000 * 0.8); print (u < 12 ? 12 : u) }')
SHORT_UNITS=$((LONG_UNITS / 12))
# The build's tasks share out about as much work as the long-tail run (build units are a
# tenth of cpu_batch's), between half and one and a half times their mean.
BUILD_MEAN=$((LONG_UNITS * 2 * 10 / BUILD_TASKS))
BUILD_MIN=$((BUILD_MEAN / 2 + 1)); BUILD_MAX=$((BUILD_MEAN * 3 / 2 + 1))
# SchedCP's batch shape: the long-tail run cut into BATCHES batches run one after another.
BATCH_LONG=$((LONG_UNITS / BATCHES)); BATCH_SHORT=$((BATCH_LONG / 12 + 1))
report "{\"event\":\"calibration\",\"units_per_s_one_cpu\":${rate:-null},\"long_units\":$LONG_UNITS,\"short_units\":$SHORT_UNITS,\"build_units\":[$BUILD_MIN,$BUILD_MAX],\"lat_cgid\":$LAT_CGID}"

run_workload() {  # LABEL ROUND NAME
  case $3 in
  mixed)
    in_cgroup batch timeout "$TO" bin/cpu_batch "$MS" "$HOGS" > /tmp/batch.out 2>/dev/null &
    bpid=$!
    in_cgroup latency timeout "$TO" bin/wakeup_latency "$MS" "$WORKERS" 0 "$PERIOD_US" > /tmp/out 2>/dev/null &
    pid=$! ;;
  longtail) in_cgroup other timeout "$TO" bin/longtail 12 "$SHORT_UNITS" 1 "$LONG_UNITS" > /tmp/out 2>/dev/null & pid=$! ;;
  parallel) in_cgroup other timeout "$TO" bin/cpu_batch "$MS" "$THREADS" > /tmp/out 2>/dev/null & pid=$! ;;
  pingpong) in_cgroup other timeout "$TO" bin/pingpong "$MS" "$PAIRS" > /tmp/out 2>/dev/null & pid=$! ;;
  # schbench's workers are the protected pod: the latency class's map names their cgroup.
  schbench) in_cgroup latency timeout "$TO" bin/schbench "$MS" "$MESSAGES" "$FANOUT" "$REQUEST_UNITS" > /tmp/out 2>/dev/null & pid=$! ;;
  build) in_cgroup other timeout "$TO" bin/build "$BUILD_TASKS" "$BUILD_JOBS" "$BUILD_MIN" "$BUILD_MAX" > /tmp/out 2>/dev/null & pid=$! ;;
  batches) in_cgroup other timeout "$TO" bin/longtail 12 "$BATCH_SHORT" 1 "$BATCH_LONG" "$BATCHES" > /tmp/out 2>/dev/null & pid=$! ;;
  esac
  sleep "$MID"
  ops=$(sched_ops); state=$(sched_state)
  wait $pid; rc=$?
  extra=""
  if [ "$3" = mixed ]; then
    wait $bpid; brc=$?; [ $rc -eq 0 ] && rc=$brc
    extra=",\"batch\":$(output /tmp/batch.out)"
  fi
  report "{\"event\":\"run\",\"label\":\"$1\",\"round\":$2,\"workload\":\"$3\",\"rc\":$rc,\"ops\":\"$ops\",\"state\":\"$state\",\"result\":$(output /tmp/out)$extra}"
}

load() {  # LABEL KIND ARG CLASSES; sets SCX_PID for scx
  dmesg -c > /dev/null
  case $2 in
  eevdf) rc=0; : > /tmp/load ;;
  bpf)
    mkdir -p "/sys/fs/bpf/$1"
    bpftool struct_ops register "obj/$3" "/sys/fs/bpf/$1" > /tmp/load 2>&1; rc=$?
    [ $rc -eq 0 ] || rm -rf "/sys/fs/bpf/$1" ;;
  scx)
    scx_start /tmp/load "$3"
    # scx_lavd takes up to two minutes to enable under TCG.
    wait_state enabled 1200
    [ "$(sched_state)" = enabled ] && rc=0 || rc=1 ;;
  esac
  if [ $rc -eq 0 ] && [ "$2" != eevdf ]; then wait_state enabled 50; fi
  classes=null
  if [ $rc -eq 0 ] && [ "$4" = 1 ]; then
    bpftool map update name cgroup_class key hex $(le_hex "$LAT_CGID") value hex 01 00 00 00 >> /tmp/load 2>&1
    classes=$?
    # What the map holds now: the benchmark checks that the workers' cgroup is in it.
    bpftool map dump name cgroup_class >> /tmp/load 2>&1
  fi
  report "{\"event\":\"load\",\"label\":\"$1\",\"rc\":$rc,\"classes\":$classes,\"state\":\"$(sched_state)\",\"ops\":\"$(sched_ops)\",\"log\":\"$(tail -n 30 /tmp/load | json_text)\"}"
  return $rc
}

unload() {  # LABEL KIND
  case $2 in
  bpf) rm -rf "/sys/fs/bpf/$1" ;;
  scx) scx_stop ;;
  esac
  wait_state disabled 100
  ejected=$(dmesg | grep -A3 'sched_ext: BPF scheduler.* disabled' | grep -v 'unregistered from' | tail -n 6 | json_text)
  report "{\"event\":\"unload\",\"label\":\"$1\",\"state\":\"$(sched_state)\",\"dmesg\":\"$ejected\"}"
}

for round in $(seq 1 "$REPEATS"); do
  while read -r label kind arg classes <&3; do
    if load "$label" "$kind" "$arg" "$classes"; then
      for w in $WORKLOADS; do run_workload "$label" "$round" "$w"; done
    fi
    unload "$label" "$kind"
  done 3< schedulers.txt
done

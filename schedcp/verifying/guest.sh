# The verifier's guest side, sourced by the micro-VM's /init (which defines `report`).
# params.sh sets WORKLOADS, CMD_<name>, MID_SECONDS and WORKLOAD_TIMEOUT; candidates.txt
# lists "INDEX OPS_NAME" lines, one per scheduler object obj/cINDEX.bpf.o.
. ./params.sh

json_text() { tr '\t\r' '  ' | sed 's/\\/\\\\/g; s/"/\\"/g' | awk '{printf "%s\\n", $0}'; }
sched_state() { cat /sys/kernel/sched_ext/state; }
sched_ops() { cat /sys/kernel/sched_ext/root/ops 2>/dev/null; }

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

run_suite baseline
while read idx ops; do
  dmesg -c > /dev/null
  mkdir -p /sys/fs/bpf/c$idx
  bpftool -d struct_ops register obj/c$idx.bpf.o /sys/fs/bpf/c$idx > /tmp/load 2>&1
  rc=$?
  report "{\"event\":\"load\",\"candidate\":$idx,\"rc\":$rc,\"state\":\"$(sched_state)\",\"ops\":\"$(sched_ops)\",\"log\":\"$(tail -n 80 /tmp/load | json_text)\"}"
  if [ $rc -eq 0 ]; then
    run_suite c$idx
    report "{\"event\":\"after\",\"candidate\":$idx,\"state\":\"$(sched_state)\",\"ops\":\"$(sched_ops)\"}"
    rm -rf /sys/fs/bpf/c$idx
    sleep 0.3
  fi
  report "{\"event\":\"dmesg\",\"candidate\":$idx,\"log\":\"$(dmesg | grep -A4 'sched_ext' | tail -n 20 | json_text)\"}"
done < candidates.txt

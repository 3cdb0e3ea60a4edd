"""Tier-2 profile collector: per-cgroup run-queue latency, wakeups and migrations via BCC.

Runs as its own process under the Python that has BCC (Debian's python3-bpfcc), which
need not be the agent's: it imports only the standard library and `bcc`, reads nothing
but its arguments, and prints one JSON object per interval on stdout. BCC compiles the
program below against the running kernel's headers when it starts.

Run-queue latency is measured as runqlat does: from the moment a task becomes runnable
(a wakeup, or being preempted while still runnable) to the moment it runs, attributed
to the task's cgroup v2 id, in log2 buckets of microseconds.
"""

import argparse
import json
import signal
import sys
import time
from typing import Any

from bcc import BPF

PROGRAM = r"""
#include <linux/sched.h>
#include <linux/cgroup-defs.h>
#include <linux/kernfs.h>

struct hist_key {
    u64 cgroup;
    u64 slot;
};

BPF_HASH(runnable_since, u32, u64, 65536);
BPF_HASH(runq_latency, struct hist_key, u64, 16384);
BPF_HASH(wakeups, u64, u64, 8192);
BPF_HASH(migrations, u64, u64, 8192);

static u64 cgroup_of(struct task_struct *p)
{
    return p->cgroups->dfl_cgrp->kn->id;
}

static void mark_runnable(struct task_struct *p)
{
    u32 pid = p->pid;
    u64 now = bpf_ktime_get_ns();
    if (pid)
        runnable_since.update(&pid, &now);
}

RAW_TRACEPOINT_PROBE(sched_wakeup)
{
    struct task_struct *p = (struct task_struct *)ctx->args[0];
    mark_runnable(p);
    wakeups.increment(cgroup_of(p));
    return 0;
}

RAW_TRACEPOINT_PROBE(sched_wakeup_new)
{
    mark_runnable((struct task_struct *)ctx->args[0]);
    return 0;
}

RAW_TRACEPOINT_PROBE(sched_migrate_task)
{
    migrations.increment(cgroup_of((struct task_struct *)ctx->args[0]));
    return 0;
}

RAW_TRACEPOINT_PROBE(sched_switch)
{
    struct task_struct *prev = (struct task_struct *)ctx->args[1];
    struct task_struct *next = (struct task_struct *)ctx->args[2];
    if (prev->__state == TASK_RUNNING)
        mark_runnable(prev);
    u32 pid = next->pid;
    u64 *since = runnable_since.lookup(&pid);
    if (!since)
        return 0;
    u64 delta_us = (bpf_ktime_get_ns() - *since) / 1000;
    runnable_since.delete(&pid);
    struct hist_key key = {.cgroup = cgroup_of(next), .slot = bpf_log2l(delta_us)};
    runq_latency.increment(key);
    return 0;
}
"""


def drain(table: Any) -> list[tuple[Any, int]]:
    items = [(k, v.value) for k, v in table.items()]
    table.clear()
    return items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    bpf = BPF(text=PROGRAM)
    print(json.dumps({"ready": True}), flush=True)
    started = time.monotonic()
    while True:
        time.sleep(args.interval)
        now = time.monotonic()
        cgroups: dict = {}
        for key, count in drain(bpf["runq_latency"]):
            cgroups.setdefault(str(key.cgroup), {}).setdefault("runqLatencyLog2Micros", {})[str(key.slot)] = count
        for name, table in (("wakeups", bpf["wakeups"]), ("migrations", bpf["migrations"])):
            for key, count in drain(table):
                cgroups.setdefault(str(key.value), {})[name] = count
        print(json.dumps({"seconds": round(now - started, 3), "cgroups": cgroups}), flush=True)
        started = now


if __name__ == "__main__":
    main()

"""The sched-agent's four roles, as in SchedCP: each its own prompt, tools and context.

A role sees only the tools it needs and a brief with only its inputs, so each call's
context stays small and a role cannot skip ahead (planning cannot load code, execution
cannot change the plan's template without the verifier seeing it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ORIENTATION = (
    "You are part of schedcp, which designs Linux sched_ext (eBPF) CPU schedulers for "
    "Kubernetes pods. You only produce data through your tools; deterministic code verifies "
    "everything (compiler, kernel verifier, a micro-VM run) and rolls it out. Be brief."
)


@dataclass(frozen=True)
class Role:
    name: str
    system: str
    tools: tuple[str, ...]
    terminal: str

    def brief(self, context: dict[str, Any]) -> str:
        return f"Inputs for the {self.name} step:\n{json.dumps(context, indent=1, default=str)}\nEnd by calling {self.terminal}."


OBSERVATION = Role(
    name="observation",
    system=ORIENTATION + " Role: observation. Read the workload profile and describe, in two or three "
    "sentences, what the pods do and what the user wants, with the measured traits that matter.",
    tools=("get_workload_profile", "describe_workload"),
    terminal="describe_workload",
)

PLANNING = Role(
    name="planning",
    system=ORIENTATION + " Role: planning. Search the scheduler repository for this workload. Prefer "
    "configuring a template that fits (fewest calls, proven code); patch one if a small change is "
    "needed; synthesize new code only when nothing fits. Start from a configuration proven on a similar "
    "workload; never repeat an anti-pattern (the template with the tunables that made this workload worse).",
    tools=("get_workload_profile", "search_repository", "read_template", "decide_plan"),
    terminal="decide_plan",
)

EXECUTION = Role(
    name="execution",
    system=ORIENTATION + " Role: execution. Carry out the plan: propose a configuration (tunables within "
    "their declared ranges) or submit BPF C (GPL, sched_ext struct_ops only, include \"schedcp.bpf.h\"). "
    "Prefer the tunables proven on similar workloads; avoid those of the anti-patterns. "
    "The verifier admits only what a scheduler needs: map, time, CPU-id, bpf_loop and spin-lock helpers, the "
    "sched_ext kfuncs, task/cgroup/cpumask acquire-release kfuncs, plain maps of bounded size; no probe reads, "
    "printk, ring buffers, signals, kernel variables or other program types. "
    "Run the verifier; if it fails, repair from its report. Finish only with a candidate that passed. "
    "With a performance goal, passing means beating the kernel's default scheduler on the replayed profile; "
    "a safe candidate that does not is no use: try another template, tunables or source.",
    tools=("read_template", "propose_configuration", "submit_source", "run_verifier", "finish"),
    terminal="finish",
)

LEARNING = Role(
    name="learning",
    system=ORIENTATION + " Role: learning. A revision was rolled out and the operator measured its outcome; "
    "record that outcome with a one-line lesson a future planner can use (what to repeat or avoid, "
    "for which kind of workload, with which tunables).",
    tools=("get_workload_profile", "read_template", "record_outcome"),
    terminal="record_outcome",
)

DESIGN_ROLES = (OBSERVATION, PLANNING, EXECUTION)

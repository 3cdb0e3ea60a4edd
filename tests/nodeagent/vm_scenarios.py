"""Runs an applier scenario (a Python script of this directory, run by the guest's shell in the
host tree) in one micro-VM boot, and gives its reports by event."""

from __future__ import annotations

from pathlib import Path

from schedcp.microvm.runner import run_script
from schedcp.provisioning.kernel import KernelArtifacts

# Guest shell (a format string: repo, python, scenario, extra): the objects in place, and
# `agent PHASE` runs the scenario's phase in the host tree and reports how it exited.
AGENT = """mkdir -p /host/tmp/schedcp-vm/objects /host/tmp/schedcp-vm/state
cp /schedcp/objects/* /host/tmp/schedcp-vm/objects/
agent() {{
  in_host sh -c "cd {repo} && PYTHONDONTWRITEBYTECODE=1 {python} {scenario} $1 /tmp/schedcp-vm/objects /tmp/schedcp-vm/state {extra}" > /tmp/agent.log 2>&1
  rc=$?
  report "{{\\"event\\":\\"exit\\",\\"phase\\":\\"$1\\",\\"rc\\":$rc,\\"log\\":\\"$(tail -n 15 /tmp/agent.log | tr '\\n\\"\\\\' '   ')\\"}}"
}}
"""


def run_scenario(label: str, script: str, files: dict[str, Path], kernel: KernelArtifacts,
                 timeout: float) -> dict[str, dict]:
    result = run_script(script, files, share_host=True, timeout=timeout, kernel=kernel)
    print(f"\n{label}: one boot, {result.seconds}s ({result.accelerator})")
    assert result.finished, result.console[-3000:]
    for exit_report in result.events("exit"):
        assert exit_report["rc"] == 0, exit_report["log"]
    return {r["event"]: r for r in result.reports}

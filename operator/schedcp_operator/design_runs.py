"""Designs run beside the reconcile path: a kopf daemon per designing policy, each design
a process of its own (design_task), at most `design_concurrency` at once.

Why a daemon per policy: kopf starts it when the policy enters Designing for its current
spec (on resume too, after a restart), and stops it when that stops being true: the spec
changed, the mode went Off, the design's result was taken up, the policy is being
deleted (kopf keeps the finalizer until the daemon has exited) or the operator exits.
Stopping cancels the daemon, which kills the design's process group; its micro-VMs die
with it (parent-death signal). Nothing is left running for a policy that is gone, and
the lifecycle's steps never wait for a design. Why a process: an LLM call in flight or a
VM boot cannot be interrupted inside a thread, and a killed process frees all it held.
A Job per design was the other way to stop one, but it needs a node to run on and an
image with the verifier; the operator's pod already has both.

The daemons are async: one waiting for a slot costs a coroutine, not an executor thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any

import kopf
from pydantic import ValidationError

from schedcp.api.v1alpha1.policy import Mode, Phase, SchedulerPolicySpec
from schedcp.lifetime import die_with_parent
from schedcp_operator.design_exchange import TRY_LATER, DesignTask
from schedcp_operator.lifecycle import Settings, spec_digest
from schedcp_operator.policy_handlers import RESOURCE
from schedcp_operator.wakeups import wakeups_of

log = logging.getLogger("schedcp.design_runs")

RETRY_SECONDS = 10.0


class DesignRuns:
    """The operator's design slots."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.slots = asyncio.Semaphore(settings.design_concurrency)

    async def run(self, task: DesignTask, logger: kopf.Logger) -> None:
        """Until the design has a result in its journal; cancelled, the process goes too."""
        while True:
            async with self.slots:
                code = await _design_process(task, logger)
            if code == 0:
                return
            if code != TRY_LATER:
                raise kopf.TemporaryError(f"the design's process exited with {code}", delay=RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)


async def _design_process(task: DesignTask, logger: kopf.Logger) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schedcp_operator.design_task", stdin=asyncio.subprocess.PIPE,
        preexec_fn=die_with_parent)  # its own process group, killed if the operator dies
    logger.info("design started (process %d)", process.pid)
    try:
        await process.communicate(task.model_dump_json().encode())
        assert process.returncode is not None
        return process.returncode
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            logger.info("design stopped (process %d killed)", process.pid)


def designing(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    """The policy is in Designing for the spec it has now, and not switched off."""
    if status.get("phase") != Phase.DESIGNING:
        return False
    try:
        parsed = SchedulerPolicySpec.model_validate(dict(spec))
    except ValidationError:
        return False
    return parsed.mode != Mode.OFF and status.get("specDigest") == spec_digest(parsed)


# No cancellation_backoff: a stopped daemon is cancelled at once, which kills its process; a
# deleted policy's finalizer goes when kopf next looks (after cancellation_timeout).
@kopf.daemon(*RESOURCE, when=designing, cancellation_timeout=3.0)
async def design(spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, memo: kopf.Memo, stopped: kopf.DaemonStopped,
                 logger: kopf.Logger, **_: Any) -> None:
    runs: DesignRuns = memo["design_runs"]  # the operator's one set of slots (kopf copies the memo per object)
    task = DesignTask(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"],
                      spec=SchedulerPolicySpec.model_validate(dict(spec)), spec_digest=str(status["specDigest"]),
                      artifacts_namespace=runs.settings.artifacts_namespace)
    await runs.run(task, logger)
    wakeups_of(memo).wake((task.namespace, task.name))  # its step takes the result up now, not on the timer
    # A daemon that returns is never started again for this object; one stopped because
    # its filter stopped matching is, for the next design.
    await stopped.wait()

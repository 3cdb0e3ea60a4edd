"""Claude as the sched-agent: the Messages API with tool use, bounded on every axis.

One `ClaudeLoop` per design. Each role runs as its own short conversation (its system
prompt and tools are the stable prefix, marked for prompt caching); every call is
counted and priced, and the budget (calls, tokens, USD, wall time) is checked before
the next one, so a design stops with a clear reason instead of overspending. Tool
inputs are validated by the tools' pydantic models; an invalid input, a refused tool
call or a failed verification goes back to Claude as an error result, a bounded number
of times. The SDK retries 429, 5xx and timeouts with backoff; what still fails becomes
a `DesignError` that says so.

What is sent is built in one place, `role_request`, from the roles' prompts (roles.py) and
the tools' schemas (tools.py): the operator, the live benchmark (`benchmarks.design_loop
--live`) and the tests all send exactly these requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

import anthropic
from pydantic import BaseModel, ValidationError

from schedcp.api.v1alpha1.policy import Budget, TriedDesign
from schedcp.api.v1alpha1.revision import VerificationReport
from schedcp_operator.design.pricing import cost_usd
from schedcp_operator.design.roles import Role
from schedcp_operator.design.tools import TOOLS, ToolError, Workspace

MAX_OUTPUT_TOKENS = 8192
CACHE = {"type": "ephemeral"}


class DesignError(Exception):
    """The design stopped; the message is what the policy's status shows."""


class NoImprovement(DesignError):
    """Every safe candidate was refused by the performance gate: the kernel's own scheduler stays."""

    def __init__(self, tried: list[TriedDesign]) -> None:
        rows = "; ".join(_row(t) for t in tried)
        super().__init__(f"no candidate beat the kernel's default scheduler on the objective, so it stays; tried: {rows}")
        self.tried = tried


def _row(tried: TriedDesign) -> str:
    tunables = ",".join(f"{k}={v}" for k, v in sorted(tried.tunables.items()))
    numbers = ""
    if tried.baseline is not None and tried.candidate is not None:
        numbers = f" ({tried.metric}: EEVDF {tried.baseline:.1f}, candidate {tried.candidate:.1f})"
    return f"{tried.template or 'new source'}{f' [{tunables}]' if tunables else ''} {tried.verdict}{numbers}"


class DesignInterrupted(DesignError):
    """The API stayed unreachable or overloaded through the SDK's retries: try again later."""


class Journal(Protocol):
    def recall(self, request: dict[str, Any]) -> dict[str, Any] | None: ...

    def remember(self, request: dict[str, Any], response: dict[str, Any]) -> None: ...


class BudgetExhausted(DesignError):
    pass


class Spend(BaseModel):
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    usd: Decimal = Decimal(0)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens


def role_request(role: Role, model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """One Messages API request of a role: its system prompt and tools are the stable prefix,
    marked for prompt caching."""
    tools = [
        {"name": name, "description": TOOLS[name].description, "input_schema": TOOLS[name].input_schema()}
        for name in role.tools
    ]
    tools[-1]["cache_control"] = CACHE
    return {"model": model, "max_tokens": MAX_OUTPUT_TOKENS, "tools": tools, "messages": messages,
            "system": [{"type": "text", "text": role.system, "cache_control": CACHE}]}


class ClaudeLoop:
    def __init__(
        self,
        client: anthropic.Anthropic,
        model: str,
        budget: Budget,
        max_repairs: int = 3,
        clock: Callable[[], float] = time.monotonic,
        journal: Journal | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.model = model
        self.budget = budget
        self.max_repairs = max_repairs
        self.clock = clock
        self.started = clock()
        self.spend = Spend()
        self.repairs = 0  # over all roles: what went back to Claude as a problem to fix
        self.transcript: list[dict[str, Any]] = []

    def run(self, role: Role, ws: Workspace, context: dict[str, Any]) -> BaseModel:
        """Converse until the role's terminal tool succeeds; return that tool's output."""
        messages: list[dict[str, Any]] = [{"role": "user", "content": role.brief(context)}]
        repairs = 0
        while True:
            response = self._call(role, messages)
            messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in response.content]})
            uses = [block for block in response.content if block.type == "tool_use"]
            if not uses:
                repairs = self._repair(role, repairs, f"the {role.name} step ended without calling {role.terminal}")
                messages.append({"role": "user", "content": f"Use your tools; end by calling {role.terminal}."})
                continue
            results, finished, failures = self._run_tools(role, ws, uses)
            if finished is not None:
                return finished
            for failure in failures:
                repairs = self._repair(role, repairs, failure)
            messages.append({"role": "user", "content": results})

    def _run_tools(self, role: Role, ws: Workspace, uses: list[Any]) -> tuple[list[dict[str, Any]], BaseModel | None, list[str]]:
        results, failures, finished = [], [], None
        for use in uses:
            try:
                if use.name not in role.tools:
                    raise ToolError(f"{use.name} is not one of your tools: {', '.join(role.tools)}")
                output = TOOLS[use.name].call(ws, use.input)
            except (ValidationError, ToolError) as error:
                failures.append(f"{use.name}: {error}")
                results.append({"type": "tool_result", "tool_use_id": use.id, "content": str(error), "is_error": True})
                continue
            if isinstance(output, VerificationReport) and not output.passed:
                failures.append(f"the verifier rejected the candidate: {_failed_stage(output)}")
            if use.name == role.terminal:
                finished = output
            results.append({"type": "tool_result", "tool_use_id": use.id, "content": output.model_dump_json(exclude_none=True)})
        return results, finished, failures

    def _repair(self, role: Role, repairs: int, failure: str) -> int:
        if repairs >= self.max_repairs:
            raise DesignError(f"{role.name}: gave up after {repairs} repairs; last problem: {failure}"[:2000])
        self.repairs += 1
        return repairs + 1

    def _call(self, role: Role, messages: list[dict[str, Any]]) -> Any:
        self._check_budget(role)
        request = role_request(role, self.model, messages)
        recorded = self.journal.recall(request) if self.journal else None
        if recorded is not None:
            response = anthropic.types.Message.model_validate(recorded)
        else:
            response = self._send(role, request)
            if self.journal:
                self.journal.remember(request, response.model_dump(mode="json"))
        self._account(role, response)
        return response

    def _send(self, role: Role, request: dict[str, Any]) -> Any:
        try:
            return self.client.messages.create(**request)
        except anthropic.APIStatusError as error:
            kind = DesignInterrupted if error.status_code in (429, 529) or error.status_code >= 500 else DesignError
            raise kind(f"Claude API error {error.status_code} in {role.name} (after retries): {error.message}") from error
        except anthropic.APIConnectionError as error:
            raise DesignInterrupted(f"Claude API unreachable in {role.name} (after retries): {error}") from error

    def _account(self, role: Role, response: Any) -> None:
        usage = response.usage
        write, read = usage.cache_creation_input_tokens or 0, usage.cache_read_input_tokens or 0
        self.spend.calls += 1
        self.spend.input_tokens += usage.input_tokens
        self.spend.output_tokens += usage.output_tokens
        self.spend.cache_write_tokens += write
        self.spend.cache_read_tokens += read
        self.spend.usd += cost_usd(self.model, usage.input_tokens, usage.output_tokens, write, read)
        self.transcript.append({
            "role": role.name, "stop_reason": response.stop_reason,
            "content": [b.model_dump(exclude_none=True) for b in response.content],
            "usage": usage.model_dump(exclude_none=True),
        })

    def _check_budget(self, role: Role) -> None:
        limits = (
            ("calls", self.spend.calls, self.budget.max_calls),
            ("tokens", self.spend.tokens, self.budget.max_tokens),
            ("USD", self.spend.usd, self.budget.max_cost()),
            ("wall seconds", round(self.clock() - self.started), self.budget.max_wall_seconds),
        )
        for what, used, limit in limits:
            if used >= limit:
                raise BudgetExhausted(f"design budget exhausted before the {role.name} step could go on: {what} {used} of {limit}")


def _failed_stage(report: VerificationReport) -> str:
    failed = next((s for s in report.stages if s.result == "Failed"), None)
    return f"{failed.name}: {failed.message}" if failed else "not all stages passed"

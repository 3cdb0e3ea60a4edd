"""A local Messages API server for tests: the real anthropic SDK talks to it over HTTP.

Tests script a conversation as `Turn`s: each says what the next request must look like
(tools offered, tool results returned, prompt caching, model) and what to answer (a
message with text and tool calls, or an HTTP error such as a 429 with a retry delay).
A broken expectation is recorded and answered with a 400, so both the test's
`assert_done()` and the client see it. Whatever the script says, every request is also
held to the rules the real API enforces with a 400 (version and key headers, required
fields, every tool call of the conversation answered), so code that passes here does
not fail on the first real call. Usage numbers are derived from request sizes, with
the stable prefix (system and tools) counted as a cache write the first time and a
read after, unless the script gives them.

Wire format as sent and parsed by anthropic 2.13: POST /v1/messages with a JSON body
(model, max_tokens, messages, optional system as a string or blocks, tools, tool_choice,
cache_control) and the headers anthropic-version plus the key (Authorization: Bearer,
or x-api-key in older SDKs). Errors are {"type": "error", "error": {"type", "message"}}.
The SDK retries 408, 409, 429 and >= 500 unless `x-should-retry: false`, and waits
`retry-after-ms` (read first) or `retry-after` seconds when either is positive;
otherwise it backs off from 0.5 s, which is why failures default to a 10 ms delay.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import anthropic
from pydantic import BaseModel, model_validator

CHARS_PER_TOKEN = 4
MESSAGES_PATH = "/v1/messages"


class ToolCall(BaseModel):
    name: str
    input: dict[str, Any]


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class Reply(BaseModel):
    """An assistant message: text first, then tool calls (each gets a fresh toolu_ id)."""

    text: str = ""
    tool_calls: list[ToolCall] = []
    stop_reason: Literal["end_turn", "tool_use", "max_tokens", "stop_sequence"] | None = None  # default: derived
    usage: Usage | None = None  # default: estimated from the request and reply sizes


class Failure(BaseModel):
    """An HTTP error answer, e.g. 429 rate_limit_error, 529 overloaded_error, 500 api_error."""

    status: int
    error_type: str
    message: str
    # Seconds the SDK is told to wait before retrying. Keep it positive: the SDK ignores
    # a zero delay and falls back to its own 0.5 s+ exponential backoff.
    retry_after: float = 0.01


class Expect(BaseModel):
    """What the request answered by a turn must carry; None/False means "not checked"."""

    tools: set[str] | None = None  # exactly these tool names are offered
    tool_results: bool = False  # the request answers exactly the tool calls of the previous reply
    tool_error_contains: str | None = None  # ...and one answer is an is_error result containing this
    tool_result_contains: str | None = None  # ...and one answer (error or not) contains this
    cache_control: bool = False  # the request, its system prompt or a tool is marked for caching
    system_contains: str | None = None
    user_contains: str | None = None  # the first user message (the role's brief) contains this
    model: str | None = None


class Turn(BaseModel):
    expect: Expect = Expect()
    reply: Reply | None = None  # neither reply nor failure: an empty end_turn message
    failure: Failure | None = None
    delay_seconds: float = 0.0  # think before answering: lets a test kill the client mid-call

    @model_validator(mode="after")
    def _one_answer(self) -> Turn:
        if self.reply is not None and self.failure is not None:
            raise ValueError("a turn answers with a reply or a failure, not both")
        return self


class Received(BaseModel):
    """One request as it reached the server; header names are lower-case."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def call(name: str, **arguments: Any) -> ToolCall:
    return ToolCall(name=name, input=arguments)


class MessagesServer:
    """Serves scripted turns on 127.0.0.1 at a free port; see `start_messages_server`."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.requests: list[Received] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._last_tool_ids: list[str] = []
        self._seen_prefixes: set[str] = set()
        self._ids = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def script(self, *turns: Turn) -> None:
        with self._lock:
            self.turns.extend(turns)

    def client(self, max_retries: int = 2) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key="test-key", max_retries=max_retries)

    def assert_done(self) -> None:
        assert not self.failures, self.failures
        assert not self.turns, f"{len(self.turns)} scripted turns were never requested"

    @contextmanager
    def running(self) -> Iterator[MessagesServer]:
        # A short poll interval: shutdown() waits for the next poll, and every test stops a server.
        thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), name="messages-api", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()

    # -- serving --------------------------------------------------------------------

    def _answer(self, received: Received) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests.append(received)
            if not self.turns:
                return self._refuse(500, "api_error", ["the test script has no more turns"])
            turn = self.turns.pop(0)
        time.sleep(turn.delay_seconds)
        with self._lock:
            problems = _protocol_problems(received) or self._check(turn.expect, received.body)
            if problems:
                return self._refuse(400, "invalid_request_error", problems)
            if turn.failure:
                failure = turn.failure
                return failure.status, _error(failure.error_type, failure.message), {
                    "retry-after-ms": str(round(failure.retry_after * 1000)),
                    "retry-after": str(math.ceil(failure.retry_after)),  # the integer seconds the real API sends
                }
            return 200, self._message(received.body, turn.reply or Reply()), {}

    def _refuse(self, status: int, kind: str, problems: list[str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Record why the request is wrong and answer so that the client fails at once."""
        self.failures.extend(f"request {len(self.requests)}: {problem}" for problem in problems)
        # Not retryable: a retry would only repeat the same mistake, slowly.
        return status, _error(kind, "; ".join(problems)), {"x-should-retry": "false"}

    def _refuse_unparsable(self, path: str, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests.append(Received(path=path, headers={}, body={}))
            return self._refuse(400, "invalid_request_error", [f"the body is not a JSON object: {raw[:200]!r}"])

    def _check(self, expect: Expect, body: dict[str, Any]) -> list[str]:
        problems = []
        offered = {tool.get("name") for tool in body.get("tools", [])}
        if expect.tools is not None and offered != expect.tools:
            problems.append(f"tools offered {sorted(offered)}, expected {sorted(expect.tools)}")
        results = [b for b in _last_user_blocks(body) if b.get("type") == "tool_result"]
        if expect.tool_results and sorted(str(r.get("tool_use_id")) for r in results) != sorted(self._last_tool_ids):
            problems.append(f"tool results for {[r.get('tool_use_id') for r in results]}, expected {self._last_tool_ids}")
        if expect.tool_error_contains and not any(
            r.get("is_error") and expect.tool_error_contains in _text(r.get("content")) for r in results
        ):
            problems.append(f"no error tool result containing {expect.tool_error_contains!r}: {results}")
        if expect.tool_result_contains and not any(expect.tool_result_contains in _text(r.get("content")) for r in results):
            problems.append(f"no tool result containing {expect.tool_result_contains!r}")
        if expect.cache_control and not _cache_marked(body):
            problems.append("no cache_control on the request, the system prompt or the tools")
        if expect.system_contains and expect.system_contains not in _text(body.get("system")):
            problems.append(f"system prompt lacks {expect.system_contains!r}")
        brief = _text(body["messages"][0].get("content")) if body["messages"] else ""
        if expect.user_contains and expect.user_contains not in brief:
            problems.append(f"first user message lacks {expect.user_contains!r}")
        if expect.model is not None and body["model"] != expect.model:
            problems.append(f"model {body['model']!r}, expected {expect.model!r}")
        return problems

    def _message(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
        self._last_tool_ids = []
        for tool_call in reply.tool_calls:
            self._ids += 1
            self._last_tool_ids.append(f"toolu_{self._ids:04d}")
            content.append({"type": "tool_use", "id": self._last_tool_ids[-1], "name": tool_call.name, "input": tool_call.input})
        return {
            "id": f"msg_{len(self.requests):04d}", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn"),
            "stop_sequence": None, "usage": (reply.usage or self._estimate_usage(body, content)).model_dump(),
        }

    def _estimate_usage(self, body: dict[str, Any], content: list[dict[str, Any]]) -> Usage:
        prefix = json.dumps([body.get("system"), body.get("tools")], sort_keys=True)
        cached = len(prefix) // CHARS_PER_TOKEN if _cache_marked(body) else 0
        first_time = prefix not in self._seen_prefixes
        self._seen_prefixes.add(prefix)
        return Usage(
            input_tokens=len(json.dumps(body["messages"])) // CHARS_PER_TOKEN + (0 if cached else len(prefix) // CHARS_PER_TOKEN),
            output_tokens=max(1, len(json.dumps(content)) // CHARS_PER_TOKEN),
            cache_creation_input_tokens=cached if first_time else 0,
            cache_read_input_tokens=0 if first_time else cached,
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                path = self.path.split("?")[0]
                if path != MESSAGES_PATH:  # e.g. /v1/messages/count_tokens, which nothing here uses
                    return self._send(404, _error("not_found_error", f"{path} is not served by the test server"), {})
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    return self._send(*server._refuse_unparsable(path, raw))
                headers = {key.lower(): value for key, value in self.headers.items()}
                self._send(*server._answer(Received(path=path, headers=headers, body=body)))

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # pytest output stays readable; failures carry the details

        return Handler


@contextmanager
def start_messages_server() -> Iterator[MessagesServer]:
    """A running server for one test; wrap it in a fixture in any test folder."""
    with MessagesServer().running() as server:
        yield server


def _protocol_problems(received: Received) -> list[str]:
    """What the real API would refuse (with a 400, or a 401 for the key), whatever the script expects."""
    body, headers = received.body, received.headers
    problems = []
    if "anthropic-version" not in headers:
        problems.append("no anthropic-version header")
    if "x-api-key" not in headers and not headers.get("authorization", "").startswith("Bearer "):
        problems.append("no x-api-key or Authorization: Bearer header")
    for field, kind in (("model", str), ("max_tokens", int), ("messages", list)):
        if not isinstance(body.get(field), kind):
            problems.append(f"{field} missing or not a {kind.__name__}")
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    # Every tool call in the conversation must be answered in the very next user message.
    for position, message in enumerate(messages):
        asked = [b["id"] for b in _blocks(message) if b.get("type") == "tool_use"]
        if message.get("role") != "assistant" or not asked:
            continue
        following = messages[position + 1] if position + 1 < len(messages) else {}
        answered = {b.get("tool_use_id") for b in _blocks(following) if b.get("type") == "tool_result"}
        if following.get("role") != "user" or not answered >= set(asked):
            problems.append(f"tool_use ids {sorted(set(asked) - answered)} have no tool_result in the next user message")
    return problems


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _blocks(message: Any) -> list[dict[str, Any]]:
    content = message.get("content") if isinstance(message, dict) else None
    return [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []


def _last_user_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    users = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
    return _blocks(users[-1]) if users else []


def _text(content: Any) -> str:
    """The text of a string or of a list of content blocks (system prompt, message, tool result)."""
    if isinstance(content, str):
        return content
    return " ".join(block.get("text", "") for block in content or [] if isinstance(block, dict))


def _cache_marked(body: dict[str, Any]) -> bool:
    """Whether the stable prefix is cached: a breakpoint on a system block or a tool, or the
    request-level cache_control that lets the API place the breakpoint itself."""
    system = body.get("system")
    blocks = (system if isinstance(system, list) else []) + body.get("tools", [])
    return bool(body.get("cache_control")) or any(block.get("cache_control") for block in blocks)

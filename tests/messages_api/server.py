"""A local Messages API server for tests: the real anthropic SDK talks to it over HTTP.

Tests script a conversation as `Turn`s: each says what the next request must look like
(tools offered, tool results returned, prompt caching) and what to answer (a message
with text and tool calls, or an HTTP error such as a 429 with a retry delay). A broken
expectation is recorded and answered with a 400, so both the test's `assert_done()`
and the client see it. Usage numbers are derived from request sizes, with the stable
prefix (system and tools) counted as a cache write the first time and a read after.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
from pydantic import BaseModel

CHARS_PER_TOKEN = 4


class ToolCall(BaseModel):
    name: str
    input: dict[str, Any]


class Reply(BaseModel):
    text: str = ""
    tool_calls: list[ToolCall] = []


class Failure(BaseModel):
    status: int
    error_type: str
    message: str
    retry_after_ms: int = 10


class Expect(BaseModel):
    tools: set[str] | None = None  # exactly these tool names are offered
    tool_results: bool = False  # the request answers every tool call of the previous reply
    tool_error_contains: str | None = None  # ...and one answer is an error containing this
    tool_result_contains: str | None = None  # ...and one answer (error or not) contains this
    cache_control: bool = False  # the system prompt or a tool is marked for caching
    system_contains: str | None = None
    user_contains: str | None = None  # the first user message (the role's brief) contains this


class Turn(BaseModel):
    expect: Expect = Expect()
    reply: Reply | None = None
    failure: Failure | None = None


def call(name: str, **arguments: Any) -> ToolCall:
    return ToolCall(name=name, input=arguments)


class MessagesServer:
    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.requests: list[dict[str, Any]] = []
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

    # -- serving --------------------------------------------------------------------

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests.append(body)
            if not self.turns:
                return 500, _error("api_error", "the test script has no more turns"), {}
            turn = self.turns.pop(0)
            problems = self._check(turn.expect, body)
            if problems:
                self.failures.extend(problems)
                return 400, _error("invalid_request_error", "; ".join(problems)), {}
            if turn.failure:
                failure = turn.failure
                return failure.status, _error(failure.error_type, failure.message), {"retry-after-ms": str(failure.retry_after_ms)}
            return 200, self._message(body, turn.reply or Reply()), {}

    def _check(self, expect: Expect, body: dict[str, Any]) -> list[str]:
        problems = []
        offered = {tool["name"] for tool in body.get("tools", [])}
        if expect.tools is not None and offered != expect.tools:
            problems.append(f"tools offered {sorted(offered)}, expected {sorted(expect.tools)}")
        results = [b for b in _last_user_blocks(body) if b.get("type") == "tool_result"]
        if expect.tool_results and sorted(r["tool_use_id"] for r in results) != sorted(self._last_tool_ids):
            problems.append(f"tool results for {[r['tool_use_id'] for r in results]}, expected {self._last_tool_ids}")
        if expect.tool_error_contains and not any(
            r.get("is_error") and expect.tool_error_contains in _text(r.get("content")) for r in results
        ):
            problems.append(f"no error tool result containing {expect.tool_error_contains!r}: {results}")
        if expect.tool_result_contains and not any(expect.tool_result_contains in _text(r.get("content")) for r in results):
            problems.append(f"no tool result containing {expect.tool_result_contains!r}")
        if expect.cache_control and not _cache_marked(body):
            problems.append("no cache_control on the system prompt or the tools")
        system = json.dumps(body.get("system", ""))
        if expect.system_contains and expect.system_contains not in system:
            problems.append(f"system prompt lacks {expect.system_contains!r}")
        brief = _text(body["messages"][0]["content"]) if body.get("messages") else ""
        if expect.user_contains and expect.user_contains not in brief:
            problems.append(f"first user message lacks {expect.user_contains!r}")
        return problems

    def _message(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
        self._last_tool_ids = []
        for tool_call in reply.tool_calls:
            self._ids += 1
            self._last_tool_ids.append(f"toolu_{self._ids:04d}")
            content.append({"type": "tool_use", "id": self._last_tool_ids[-1], "name": tool_call.name, "input": tool_call.input})
        prefix = json.dumps([body.get("system"), body.get("tools")], sort_keys=True)
        cached = len(prefix) // CHARS_PER_TOKEN if _cache_marked(body) else 0
        first_time = prefix not in self._seen_prefixes
        self._seen_prefixes.add(prefix)
        return {
            "id": f"msg_{len(self.requests):04d}", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": "tool_use" if reply.tool_calls else "end_turn", "stop_sequence": None,
            "usage": {
                "input_tokens": len(json.dumps(body["messages"])) // CHARS_PER_TOKEN + (0 if cached else len(prefix) // CHARS_PER_TOKEN),
                "output_tokens": max(1, len(json.dumps(content)) // CHARS_PER_TOKEN),
                "cache_creation_input_tokens": cached if first_time else 0,
                "cache_read_input_tokens": 0 if first_time else cached,
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                if self.path.split("?")[0] != "/v1/messages":
                    return self._send(404, _error("not_found_error", self.path), {})
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                self._send(*server._answer(body))

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[MessagesServer]:
        thread = threading.Thread(target=self._httpd.serve_forever, name="messages-api", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _last_user_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    users = [m for m in body.get("messages", []) if m["role"] == "user"]
    content = users[-1]["content"] if users else []
    return content if isinstance(content, list) else []


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(block.get("text", "") for block in content or [] if isinstance(block, dict))


def _cache_marked(body: dict[str, Any]) -> bool:
    system = body.get("system")
    blocks = (system if isinstance(system, list) else []) + body.get("tools", [])
    return any(block.get("cache_control") for block in blocks)

"""The MCP server over streamable HTTP, with the bounds a long-running server needs.

Every session costs the server memory until the client ends it or it idles out, so
their number and idle time are settings. The SDK takes a message whose `id` is neither
a string nor an integer for a notification (202, then dropped): the client would wait
for an answer that never comes, so such a message gets a JSON-RPC Invalid Request here.
"""

from __future__ import annotations

import json
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp_types import INVALID_REQUEST, ErrorData, JSONRPCError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _invalid_id(body: bytes) -> str | None:
    """Why the message's id is not a JSON-RPC id MCP allows, if it is not."""
    try:
        message = json.loads(body)
    except ValueError:
        return None  # the SDK answers a parse error itself
    if not isinstance(message, dict) or "method" not in message or "id" not in message:
        return None
    found = message["id"]
    if isinstance(found, str) or (isinstance(found, int) and not isinstance(found, bool)):
        return None
    return f"a request id must be a string or an integer, not {type(found).__name__ if found is not None else 'null'}"


class RejectInvalidIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        read: list[Message] = []
        body, more = b"", True
        # Only up to the SDK's own limit: past it, the SDK answers 413 from what follows.
        while more and len(body) <= DEFAULT_MAX_REQUEST_BODY_SIZE:
            message = await receive()
            read.append(message)
            body += message.get("body", b"")
            more = message.get("type") == "http.request" and message.get("more_body", False)
        why = None if more else _invalid_id(body)
        if why:
            error = JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=INVALID_REQUEST, message=why))
            await Response(error.model_dump_json(by_alias=True, exclude_unset=True), status_code=400,
                           media_type="application/json")(scope, receive, send)
            return

        async def replay() -> Message:
            return read.pop(0) if read else await receive()

        await self.app(scope, replay, send)


def serve(server: MCPServer, host: str, port: int, max_sessions: int, session_idle_timeout: float) -> None:
    app: Any = server.streamable_http_app(max_sessions=max_sessions, session_idle_timeout=session_idle_timeout,
                                          host=host)
    uvicorn.run(RejectInvalidIds(app), host=host, port=port, log_level="warning")

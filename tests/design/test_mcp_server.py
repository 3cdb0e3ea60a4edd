"""The MCP server through the MCP SDK's own client, over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from schedcp_cli.devcluster.ports import free_port

SERVER = [sys.executable, "-m", "schedcp_operator.design.mcp_server"]


@asynccontextmanager
async def over_stdio() -> AsyncIterator[ClientSession]:
    async with stdio_client(StdioServerParameters(command=SERVER[0], args=SERVER[1:])) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


@asynccontextmanager
async def over_http() -> AsyncIterator[ClientSession]:
    port = free_port()
    server = subprocess.Popen([*SERVER, "--transport", "streamable-http", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session
    finally:
        server.terminate()
        server.wait(timeout=10)


async def exercise(connect: Callable[[], AsyncIterator[ClientSession]]) -> dict:
    async with connect() as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        search = await session.call_tool("search_repository", {"query": "p99 latency of web pods next to batch jobs"})
        proposed = await session.call_tool("propose_configuration", {"template": "fifo", "tunables": {"slice_us": 2000}})
        verified = await session.call_tool("run_verifier", {"dynamic": False})
        refused = await session.call_tool("propose_configuration", {"template": "fifo", "tunables": {"slice_us": 1}})
    return {"tools": tools, "search": search, "proposed": proposed, "verified": verified, "refused": refused}


def check(result: dict) -> None:
    assert {"analyse_workloads", "search_repository", "read_template", "propose_configuration",
            "submit_source", "run_verifier", "propose_policy"} <= result["tools"]
    assert "finish" not in result["tools"], "the operator's hand-offs stay inside the operator"
    ranked = json.loads(result["search"].content[0].text)["ranked"]
    assert ranked[0]["name"] == "latency-class"
    assert not result["proposed"].is_error
    report = json.loads(result["verified"].content[0].text)
    assert report["stages"][0] == {**report["stages"][0], "name": "static", "result": "Passed"}
    assert result["refused"].is_error and "outside" in result["refused"].content[0].text


def test_tools_over_stdio() -> None:
    check(asyncio.run(exercise(over_stdio)))


def test_tools_over_streamable_http() -> None:
    check(asyncio.run(exercise(over_http)))

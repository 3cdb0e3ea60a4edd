"""The MCP server through the MCP SDK's own client, over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest
from kubernetes import client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from schedcp.api.v1alpha1.base import API_VERSION, GROUP, VERSION
from schedcp_cli.devcluster.ports import free_port

SERVER = [sys.executable, "-m", "schedcp_operator.design.mcp_server"]


@asynccontextmanager
async def over_stdio() -> AsyncIterator[ClientSession]:
    async with (stdio_client(StdioServerParameters(command=SERVER[0], args=SERVER[1:])) as (read, write),
                ClientSession(read, write) as session):
        await session.initialize()
        yield session


@contextmanager
def serving_http(*args: str) -> Iterator[str]:
    """The server as a process on streamable HTTP; yields its URL once it listens."""
    port = free_port()
    server = subprocess.Popen([*SERVER, "--transport", "streamable-http", "--port", str(port), *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) and time.monotonic() < deadline:
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.terminate()
        server.wait(timeout=10)


@asynccontextmanager
async def over_http() -> AsyncIterator[ClientSession]:
    with serving_http() as url:
        async with streamable_http_client(url) as (read, write, *_), ClientSession(read, write) as session:
            await session.initialize()
            yield session


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


def post(url: str, message: dict, session: str | None = None) -> tuple[int, dict[str, str], str]:
    """One JSON-RPC message over plain HTTP, as a client that is not the SDK's would send it."""
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if session:
        headers |= {"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-06-18"}
    request = urllib.request.Request(url, json.dumps(message).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def initialize(url: str) -> tuple[int, str | None]:
    status, headers, _ = post(url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "0"}}})
    return status, headers.get("mcp-session-id")


def end_session(url: str, session: str) -> None:
    request = urllib.request.Request(url, headers={"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-06-18"},
                                     method="DELETE")
    with urllib.request.urlopen(request, timeout=30):
        pass


def test_sessions_beyond_the_limit_are_refused_until_one_ends() -> None:
    with serving_http("--max-sessions", "2") as url:
        opened = [initialize(url) for _ in range(2)]
        assert all(status == 200 and session for status, session in opened), opened
        refused, _ = initialize(url)
        assert refused == 503
        end_session(url, opened[0][1])
        status, session = initialize(url)
        assert status == 200 and session


@pytest.mark.parametrize("bad_id", [{"nested": 1}, [1], 1.5, True, None])
def test_a_request_whose_id_is_not_a_string_or_an_integer_gets_a_json_rpc_error(bad_id) -> None:
    with serving_http() as url:
        _, session = initialize(url)
        status, _, body = post(url, {"jsonrpc": "2.0", "id": bad_id, "method": "tools/list"}, session)
        assert status == 400, body
        answer = json.loads(body)
        assert answer["id"] is None and answer["error"]["code"] == -32600, answer
        status, _, body = post(url, {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}, session)
        assert status == 200 and "search_repository" in body, "the session goes on"


@pytest.mark.cluster
def test_analyse_a_cluster_and_file_a_recommend_policy(kube_cluster, crds_installed, namespace) -> None:
    api = kube_cluster.api_client()
    node = f"mcp-{namespace}"
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_node({"metadata": {"name": node}})
    for name, tier in (("web-0", "web"), ("web-1", "web"), ("batch-0", "batch")):
        core.create_namespaced_pod(namespace, {"metadata": {"name": name, "labels": {"app": "shop", "tier": tier}},
                                               "spec": {"nodeName": node, "containers": [{"name": "c", "image": "none"}]}})
    web = {"cpuCores": 0.2, "voluntarySwitchesPerSecond": 700, "timesliceMeanMicros": 300, "samples": 10}
    batch = {"cpuCores": 1.0, "voluntarySwitchesPerSecond": 20, "timesliceMeanMicros": 30000, "samples": 10}
    custom.create_cluster_custom_object(GROUP, VERSION, "nodeschedulerstates", {
        "apiVersion": API_VERSION, "kind": "NodeSchedulerState", "metadata": {"name": node}})
    status = {"profiling": {"tier": "tier1-proc", "pods": [
        {"namespace": namespace, "name": n, "metrics": web if n.startswith("web") else batch} for n in ("web-0", "web-1", "batch-0")]}}
    custom.patch_cluster_custom_object_status(GROUP, VERSION, "nodeschedulerstates", node, {"status": status})

    async def session_calls() -> dict:
        params = StdioServerParameters(command=SERVER[0], args=[*SERVER[1:], "--kubeconfig", str(kube_cluster.kubeconfig)])
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            analysed = await session.call_tool("analyse_workloads", {
                "namespace": namespace, "match_labels": {"app": "shop"}, "protect_labels": {"tier": "web"},
                "objective": "latency", "goal": "web p99 next to batch"})
            unmatched = await session.call_tool("analyse_workloads", {
                "namespace": namespace, "match_labels": {"app": "nothing"}, "objective": "latency"})
            search = await session.call_tool("search_repository", {})
            filed = await session.call_tool("propose_policy", {
                "namespace": namespace, "name": "shop-latency", "match_labels": {"app": "shop"},
                "protect_labels": {"tier": "web"}, "objective": "latency", "goal": "web p99 next to batch"})
        return {"analysed": analysed, "unmatched": unmatched, "search": search, "filed": filed}

    try:
        result = asyncio.run(session_calls())
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, "nodeschedulerstates", node)
        core.delete_node(node)
    profile = json.loads(result["analysed"].content[0].text)["profile"]
    assert (profile["protectedPods"], profile["otherPods"], profile["nodes"]) == (2, 1, 1)
    assert {"latency-sensitive", "mixed-load"} <= set(profile["traits"])
    assert result["unmatched"].is_error and "no running pod" in result["unmatched"].content[0].text
    assert json.loads(result["search"].content[0].text)["ranked"][0]["name"] == "latency-class"
    assert not result["filed"].is_error, result["filed"].content
    policy = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "schedulerpolicies", "shop-latency")
    assert policy["spec"]["mode"] == "Recommend" and policy["spec"]["objective"]["kind"] == "latency"

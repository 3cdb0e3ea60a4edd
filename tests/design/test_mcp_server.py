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
            search = await session.call_tool("search_repository", {})
            filed = await session.call_tool("propose_policy", {
                "namespace": namespace, "name": "shop-latency", "match_labels": {"app": "shop"},
                "protect_labels": {"tier": "web"}, "objective": "latency", "goal": "web p99 next to batch"})
        return {"analysed": analysed, "search": search, "filed": filed}

    try:
        result = asyncio.run(session_calls())
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, "nodeschedulerstates", node)
        core.delete_node(node)
    profile = json.loads(result["analysed"].content[0].text)["profile"]
    assert (profile["protectedPods"], profile["otherPods"], profile["nodes"]) == (2, 1, 1)
    assert {"latency-sensitive", "mixed-load"} <= set(profile["traits"])
    assert json.loads(result["search"].content[0].text)["ranked"][0]["name"] == "latency-class"
    assert not result["filed"].is_error, result["filed"].content
    policy = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "schedulerpolicies", "shop-latency")
    assert policy["spec"]["mode"] == "Recommend" and policy["spec"]["objective"]["kind"] == "latency"

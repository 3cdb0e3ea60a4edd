"""`schedcp-mcp`: the sched-agent's tools over MCP (stdio or streamable HTTP).

An external agent (Claude Code, any MCP client) can analyse a cluster's workloads,
search and read the repository, propose and verify schedulers, and file the result as
a SchedulerPolicy in Recommend mode. Nothing here loads a scheduler: deploying stays
behind the operator's verification, approval and rollout.
"""

from __future__ import annotations

import argparse
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from kubernetes import client, config
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as McpToolError
from pydantic import BaseModel, Field, ValidationError

from schedcp.api.v1alpha1.base import API_VERSION, GROUP, VERSION, LabelSelector
from schedcp.api.v1alpha1.kinds import SCHEDULER_POLICY
from schedcp.api.v1alpha1.policy import Mode, Objective, ObjectiveKind, SchedulerPolicySpec
from schedcp_operator.design.mcp_http import serve
from schedcp_operator.design.profile import WorkloadProfile
from schedcp_operator.design.repository import Repository
from schedcp_operator.design.tools import TOOLS, ProfileView, Tool, ToolError, Workspace
from schedcp_operator.workload import observe_workload
from schedcp_operator.world import ApiWorld

Args = TypeVar("Args", bound=BaseModel)

# The design tools an outside agent gets: not the roles' hand-offs (describe_workload,
# decide_plan, finish, record_outcome), which only make sense inside the operator's loop.
SHARED_TOOLS = ("get_workload_profile", "search_repository", "read_template", "propose_configuration",
                "submit_source", "run_verifier")


class AnalyseWorkloads(BaseModel):
    """Profile the pods of a namespace that match labels, from the node agents' measurements."""

    namespace: Annotated[str, Field(min_length=1, max_length=63)]
    match_labels: dict[str, str]
    protect_labels: dict[str, str] = {}
    objective: ObjectiveKind = ObjectiveKind.BALANCED
    goal: Annotated[str, Field(max_length=2000)] = ""


class ProposePolicy(BaseModel):
    """File a SchedulerPolicy in Recommend mode: a human approves before anything is rolled out."""

    namespace: Annotated[str, Field(min_length=1, max_length=63)]
    name: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    match_labels: dict[str, str]
    protect_labels: dict[str, str] = {}
    objective: ObjectiveKind
    goal: Annotated[str, Field(max_length=2000)] = ""


class PolicyFiled(BaseModel):
    namespace: str
    name: str
    mode: str


class McpSession:
    """The state behind one MCP server: a workspace, and the cluster when there is one."""

    def __init__(self, api: client.ApiClient | None, repository: Repository) -> None:
        self.api = api
        self.ws = Workspace(WorkloadProfile(objective=ObjectiveKind.BALANCED), repository)

    def _cluster(self) -> client.ApiClient:
        if self.api is None:
            raise ToolError("this MCP server runs without a cluster (start it with --kubeconfig)")
        return self.api

    def analyse(self, args: AnalyseWorkloads) -> ProfileView:
        spec = _policy_spec(args.match_labels, args.protect_labels, args.objective, args.goal)
        workload = observe_workload(ApiWorld(self._cluster()), args.namespace, spec)
        if not workload.pods:  # an empty profile would read as a workload with nothing to schedule
            raise ToolError(f"no running pod in namespace {args.namespace} has the labels {args.match_labels}")
        profile, _ = workload.design_profile(spec)
        self.ws = Workspace(profile, self.ws.repository, verifier=self.ws.verifier)
        return ProfileView(profile=profile)

    def propose_policy(self, args: ProposePolicy) -> PolicyFiled:
        spec = _policy_spec(args.match_labels, args.protect_labels, args.objective, args.goal)
        body = {"apiVersion": API_VERSION, "kind": SCHEDULER_POLICY.kind,
                "metadata": {"name": args.name, "namespace": args.namespace}, "spec": spec.to_wire()}
        client.CustomObjectsApi(self._cluster()).create_namespaced_custom_object(
            GROUP, VERSION, args.namespace, SCHEDULER_POLICY.plural, body)
        return PolicyFiled(namespace=args.namespace, name=args.name, mode=Mode.RECOMMEND)


def _policy_spec(select: dict[str, str], protect: dict[str, str], objective: ObjectiveKind, goal: str) -> SchedulerPolicySpec:
    return SchedulerPolicySpec(
        pod_selector=LabelSelector(match_labels=select), goal=goal, mode=Mode.RECOMMEND,
        objective=Objective(kind=objective, protect=LabelSelector(match_labels=protect) if protect else None),
    )


def _as_function(model: type[Args], handler: Callable[[Args], BaseModel], returns: type) -> Callable[..., Any]:
    """A function whose keyword parameters are the model's fields, so MCP clients see a flat schema."""

    def call(**kwargs: Any) -> BaseModel:
        # MCP's ToolError reaches the client with its message; any other exception is
        # reported as a crash with the message withheld.
        try:
            return handler(model(**kwargs))
        except (ToolError, ValidationError) as error:
            raise McpToolError(str(error)) from error

    parameters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                          default=field.default if not field.is_required() else inspect.Parameter.empty,
                          annotation=Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)
        for name, field in model.model_fields.items()
    ]
    call.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": returns}
    return call


def _on_session(session: McpSession, tool: Tool[Args, BaseModel]) -> Callable[[Args], BaseModel]:
    """The tool's handler on the session's workspace as it is at the call (analyse_workloads replaces it)."""
    return lambda args: tool.handler(session.ws, args)


def build_server(session: McpSession) -> MCPServer:
    server = MCPServer("schedcp", instructions=__doc__)
    for name in SHARED_TOOLS:
        tool = TOOLS[name]
        returns = typing.get_type_hints(tool.handler)["return"]
        server.add_tool(_as_function(tool.input_model, _on_session(session, tool), returns),
                        name=name, description=tool.description)
    server.add_tool(_as_function(AnalyseWorkloads, session.analyse, ProfileView), name="analyse_workloads",
                    description=AnalyseWorkloads.__doc__)
    server.add_tool(_as_function(ProposePolicy, session.propose_policy, PolicyFiled), name="propose_policy",
                    description=ProposePolicy.__doc__)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="schedcp-mcp", description=__doc__)
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--kubeconfig", default=None, help="a cluster to analyse (default: none)")
    parser.add_argument("--max-sessions", type=int, default=64,
                        help="HTTP: open sessions at most; beyond, a new one is refused (503) until one ends")
    parser.add_argument("--session-idle-timeout", type=float, default=600,
                        help="HTTP: seconds without a request after which a session is closed")
    args = parser.parse_args(argv)
    api = config.new_client_from_config(args.kubeconfig) if args.kubeconfig else None
    server = build_server(McpSession(api, Repository.load(api)))
    if args.transport == "stdio":
        server.run("stdio")
    else:
        serve(server, args.host, args.port, args.max_sessions, args.session_idle_timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

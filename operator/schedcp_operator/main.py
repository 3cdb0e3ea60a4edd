"""`schedcp-operator`: the cluster-level kopf operator, in or out of a cluster."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

import kopf

from schedcp_operator import derived_policies, design_runs, indexes, peering, policy_handlers, wakeups  # noqa: F401  (registers handlers)
from schedcp_operator.design_runs import DesignRuns
from schedcp_operator.kube import api_client
from schedcp_operator.lifecycle import Lifecycle, Settings
from schedcp_operator.wakeups import Wakeups

FINALIZER = "schedcp.io/finalizer"
ANNOTATION_PREFIX = "schedcp.io"

log = logging.getLogger("schedcp.operator")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="schedcp-operator", description=__doc__)
    parser.add_argument("--namespace", action="append", default=[], help="watch only these (default: all)")
    parser.add_argument("--peering", default="schedcp-operator", help="ClusterKopfPeering shared by replicas")
    parser.add_argument("--standalone", action="store_true", help="no peering: a single replica")
    parser.add_argument("--priority", type=int, default=None, help="peering priority (default: random)")
    parser.add_argument("--peering-lifetime", type=int, default=60, help="seconds until a silent peer is dead")
    parser.add_argument("--liveness", default="http://0.0.0.0:8080/healthz", help="liveness endpoint URL")
    parser.add_argument("--artifacts-namespace", default="schedcp-system",
                        help="namespace of the ConfigMaps that carry verified scheduler objects to the agents")
    parser.add_argument("--release-timeout", type=float, default=60.0,
                        help="seconds a deleted policy waits for its nodes to report their previous scheduler")
    parser.add_argument("--design-concurrency", type=_positive, default=2,
                        help="designs (each an LLM conversation and micro-VM boots) run at once; more wait their turn")
    parser.add_argument("--settle-seconds", type=_positive, default=3600,
                        help="seconds a revision runs Active before its outcome (Improved, Neutral, Regressed) is "
                             "judged against the canary's before-metrics and recorded in the repository")
    parser.add_argument("--derived-policy-mode", choices=["Recommend", "Auto"], default="Recommend",
                        help="mode of the policies derived from pods' schedcp.io/optimize annotations")
    parser.add_argument("--log-format", choices=["json", "plain"], default="json")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def _configure_settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
        )
        # Our own Events say what matters; kopf's per-handler success messages stay in logs.
        settings.posting.level = logging.WARNING
        settings.peering.lifetime = args.peering_lifetime
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330

    return startup


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN,
        log_prefix=True,
    )
    kopf.on.startup()(_configure_settings(args))
    priority = args.priority if args.priority is not None else peering.random_priority()
    if not args.standalone:
        peering.ensure_peering_object(api_client(), args.peering)
    log.info("starting (priority %d, peering %s)", priority, "off" if args.standalone else args.peering)
    asyncio.run(_operate(args, priority))
    return 0


async def _operate(args: argparse.Namespace, priority: int) -> None:
    settings = Settings(artifacts_namespace=args.artifacts_namespace, release_timeout_seconds=args.release_timeout,
                        design_concurrency=args.design_concurrency, settle_seconds=args.settle_seconds)
    ready = asyncio.Event()

    async def announce_readiness() -> None:
        await ready.wait()
        log.info("operator is ready")

    announcer = asyncio.create_task(announce_readiness())
    try:
        await kopf.operator(
            standalone=args.standalone,
            priority=priority,
            # A peering name makes peering mandatory in kopf, which would pause a standalone run.
            peering_name=None if args.standalone else args.peering,
            liveness_endpoint=args.liveness,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            ready_flag=ready,
            memo=kopf.Memo(lifecycle=Lifecycle(api_client(), settings), design_runs=DesignRuns(settings),
                           derived_mode=args.derived_policy_mode, wakeups=Wakeups()),
        )
    finally:
        announcer.cancel()

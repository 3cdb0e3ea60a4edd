"""The agent's HTTP endpoint: Prometheus metrics, liveness and readiness.

Liveness fails when the main loop has not turned for a while (a hung bpftool or a
deadlock), so the kubelet restarts the agent; the pinned scheduler survives that.
Readiness waits for the first status written to the API server.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LIVENESS_STALE_SECONDS = 30.0


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter("schedcp_agent_reconciles_total", "Reconciles by the Ready verdict's reason",
                                  ["reason"], registry=self.registry)
        self.ejections = Counter("schedcp_agent_ejections_total", "Schedulers the kernel or the agent ejected",
                                 registry=self.registry)
        self.sched_ext_enabled = Gauge("schedcp_agent_sched_ext_enabled", "1 while a sched_ext scheduler runs",
                                       registry=self.registry)
        self.profiled_pods = Gauge("schedcp_agent_profiled_pods", "Pods the profiler samples",
                                   registry=self.registry)
        self.sample_seconds = Histogram("schedcp_agent_profile_sample_seconds", "Time of one profiling pass",
                                        buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1), registry=self.registry)
        self.status_writes = Counter("schedcp_agent_status_writes_total",
                                     "Status writes by result (unchanged: skipped, nothing new to say)",
                                     ["result"], registry=self.registry)
        self.lease_renewals = Counter("schedcp_agent_lease_renewals_total", "Renewals of the node's Lease by result",
                                      ["result"], registry=self.registry)


class Probes:
    def __init__(self) -> None:
        self.ready = threading.Event()
        self._last_turn = time.monotonic()

    def loop_turned(self) -> None:
        self._last_turn = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._last_turn < LIVENESS_STALE_SECONDS


def serve(address: str, port: int, metrics: AgentMetrics, probes: Probes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._reply(200 if probes.alive() else 503, b"ok\n" if probes.alive() else b"loop stalled\n")
            elif self.path == "/readyz":
                ready = probes.ready.is_set()
                self._reply(200 if ready else 503, b"ok\n" if ready else b"not reported yet\n")
            else:
                self._reply(404, b"not found\n")

        def _reply(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    return server

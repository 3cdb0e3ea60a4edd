"""Reads (GETs and LISTs) the API server answered, by client, from its audit log.

apiserver_request_total has no client label, so counting one client's reads from it
means subtracting every other client's, known or guessed; the audit log of a dev cluster
started with `audit_reads=True` names the client of each read by its user agent.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from schedcp_operator.kube import USER_AGENT_PRODUCT

# The operator's watches and patches are kopf's; its own calls carry USER_AGENT_PRODUCT.
OPERATOR_PRODUCTS = frozenset({"kopf", USER_AGENT_PRODUCT})


class AuditedReads:
    def __init__(self, audit_log: Path) -> None:
        self.audit_log = audit_log

    def mark(self) -> int:
        """Where the log ends now: count from here."""
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0

    def since(self, mark: int) -> Counter[str]:
        """Reads after `mark`, by the product of the client's user agent (`kopf/1.45` -> kopf)."""
        counts: Counter[str] = Counter()
        with self.audit_log.open("rb") as log:
            log.seek(mark)
            for line in log:
                event = json.loads(line)
                if event.get("stage") == "ResponseComplete" and event.get("verb") in ("get", "list"):
                    counts[str(event.get("userAgent", "")).split("/", 1)[0]] += 1
        return counts


def operator_reads(counts: Counter[str]) -> int:
    return sum(n for product, n in counts.items() if product in OPERATOR_PRODUCTS)


def others(counts: Counter[str], top: int = 2) -> str:
    """The biggest other readers, for the table's note."""
    rest = Counter({p: n for p, n in counts.items() if p not in OPERATOR_PRODUCTS})
    return ", ".join(f"{p or '?'} {n}" for p, n in rest.most_common(top))

"""Requests the API server has served, from its own metrics (`apiserver_request_total`).

The counter has no client label, so a measurement takes the difference over a window in
which the other clients' requests are known (or absent). The benchmarks count one
client's reads from the audit log instead (api_requests.py); the test suite cannot, since
an earlier test's operator or design process may still be reading there under the same
user agent.
"""

from __future__ import annotations

import re
from collections import Counter

from kubernetes import client

READ_VERBS = ("GET", "LIST")
_SAMPLE = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def served(api: client.ApiClient) -> Counter[tuple[str, str]]:
    """(verb, resource[/subresource]) -> requests served since the API server started."""
    reply = api.call_api("GET", f"{api.configuration.host}/metrics")
    reply.read()
    text = reply.data.decode()
    counts: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        if (sample := _SAMPLE.match(line)) is None:
            continue
        labels = dict(_LABEL.findall(sample["labels"]))
        resource = labels.get("resource", "") + (f"/{labels['subresource']}" if labels.get("subresource") else "")
        counts[(labels.get("verb", ""), resource)] += int(float(sample["value"]))
    return counts


def reads(before: Counter[tuple[str, str]], after: Counter[tuple[str, str]], resources: set[str]) -> int:
    """GETs and LISTs of `resources` between two `served` readings."""
    return sum(after[(verb, r)] - before[(verb, r)] for verb in READ_VERBS for r in resources)

"""A design's journal: what was asked of Claude and what it answered, kept in the cluster.

An operator that dies in the middle of a design resumes it from the journal instead of
paying for the same calls again: the design starts over from the profile it started
with (also journalled), every request whose exact bytes were answered before is
answered from the journal, and only requests never answered reach the API. Tool results
are deterministic for the same candidate (verification reports are remembered), so a
resumed design asks the same questions in the same order. The journal is a ConfigMap in
the operator's own namespace (where its RBAC lets it write ConfigMaps), labelled with the
policy's UID and the digest of the spec the design is for (a journal of an earlier spec is
not this design's); it is deleted once the revision is taken up, or when the policy
changes or goes. It also holds the design's latest progress and, at the end, its result,
which is how the design's process tells the lifecycle (design_task).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from kubernetes import client
from pydantic import BaseModel

from schedcp import kube
from schedcp.api.v1alpha1.nodestate import PodProfile
from schedcp.naming import fit
from schedcp_operator.design.profile import WorkloadProfile

PROFILE_KEY = "profile.json"
PODS_KEY = "pods.json"
EXCHANGE_PREFIX = "exchange-"
M = TypeVar("M", bound=BaseModel)


def request_key(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def journal_name(policy_namespace: str, policy: str) -> str:
    # A namespace name has no dots, so the dot keeps ("a-b", "c") and ("a", "b-c") apart.
    return fit(f"schedcp-design-{policy_namespace}.{policy}")


class DesignJournal:
    def __init__(self, api: client.ApiClient, namespace: str, policy_namespace: str, policy: str,
                 policy_uid: str, spec_digest: str) -> None:
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.name = journal_name(policy_namespace, policy)
        self.labels = {"schedcp.io/journal": "design", "schedcp.io/policy-uid": policy_uid,
                       "schedcp.io/spec-digest": spec_digest[:40]}
        self._data: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._data is None:
            try:
                found = self.core.read_namespaced_config_map(self.name, self.namespace)
                # A journal left by an earlier policy of the same name, or for an earlier
                # spec, is not this design's.
                labels = kube.metadata(found).labels or {}
                same = all(labels.get(key) == self.labels[key] for key in ("schedcp.io/policy-uid", "schedcp.io/spec-digest"))
                self._data = dict(found.data or {}) if same else {}
            except client.ApiException as error:
                if error.status != 404:
                    raise
                self._data = {}
        return self._data

    def _save(self, key: str, value: str) -> None:
        data = self._load()
        data[key] = value
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=self.name, labels=self.labels), data=data)
        try:
            self.core.replace_namespaced_config_map(self.name, self.namespace, body)
        except client.ApiException as error:
            if error.status != 404:
                raise
            self.core.create_namespaced_config_map(self.namespace, body)

    def inputs(self) -> tuple[WorkloadProfile, list[PodProfile]] | None:
        data = self._load()
        if PROFILE_KEY not in data:
            return None
        pods = [PodProfile.model_validate(p) for p in json.loads(data.get(PODS_KEY, "[]"))]
        return WorkloadProfile.model_validate_json(data[PROFILE_KEY]), pods

    def keep_inputs(self, profile: WorkloadProfile, pods: list[PodProfile]) -> None:
        self._save(PODS_KEY, json.dumps([p.model_dump(mode="json") for p in pods]))
        self._save(PROFILE_KEY, profile.model_dump_json())

    def keep(self, key: str, record: BaseModel) -> None:
        self._save(key, record.model_dump_json())

    def read(self, key: str, kind: type[M]) -> M | None:
        text = self._load().get(key)
        return kind.model_validate_json(text) if text else None

    def recall(self, request: dict[str, Any]) -> dict[str, Any] | None:
        answer = self._load().get(EXCHANGE_PREFIX + request_key(request)[:40])
        return json.loads(answer) if answer else None

    def remember(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        self._save(EXCHANGE_PREFIX + request_key(request)[:40], json.dumps(response))

    def close(self) -> None:
        """The design is done: its record lives on in the revision's provenance."""
        try:
            self.core.delete_namespaced_config_map(self.name, self.namespace)
        except client.ApiException as error:
            if error.status != 404:
                raise
        self._data = {}

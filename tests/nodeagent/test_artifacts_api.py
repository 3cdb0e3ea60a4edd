"""Scheduler objects published as ConfigMaps, fetched and digest-checked by the agent."""

from __future__ import annotations

import base64
import hashlib

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import RevisionReference
from schedcp_node_agent.artifacts import (
    OBJECT_KEY,
    ArtifactUnavailable,
    ConfigMapArtifacts,
    DigestMismatch,
    checked_object,
    object_configmap_name,
)

pytestmark = pytest.mark.cluster

OBJECT = b"\x7fELF not really a scheduler, but bytes whose digest is pinned"


def test_object_is_fetched_only_when_its_digest_matches(kube_cluster, namespace) -> None:
    api = kube_cluster.api_client()
    client.CoreV1Api(api).create_namespaced_config_map(namespace, {
        "metadata": {"name": object_configmap_name("fifo-1")},
        "binaryData": {OBJECT_KEY: base64.b64encode(OBJECT).decode()},
    })
    source = ConfigMapArtifacts(api, namespace)
    good = RevisionReference(name="fifo-1", sha256=hashlib.sha256(OBJECT).hexdigest())
    assert checked_object(source, good) == OBJECT
    with pytest.raises(DigestMismatch, match="the spec pins"):
        checked_object(source, good.model_copy(update={"sha256": "0" * 64}))
    with pytest.raises(ArtifactUnavailable, match="Not Found"):
        checked_object(source, good.model_copy(update={"name": "absent"}))

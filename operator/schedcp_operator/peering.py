"""Replicas coordinate through kopf peering: the live peer with the highest priority acts,
the others pause. kopf pauses *every* peer when two share a priority, so each replica
picks its own unless one is configured."""

from __future__ import annotations

import logging
import random

from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

PEERING_GROUP = "kopf.dev"
PEERING_VERSION = "v1"
PEERING_PLURAL = "clusterkopfpeerings"


def random_priority() -> int:
    return random.SystemRandom().randint(1, 2**31 - 1)


def ensure_peering_object(api: client.ApiClient, name: str) -> None:
    """Create the ClusterKopfPeering the replicas meet in, if nobody has yet."""
    objects = client.CustomObjectsApi(api)
    body = {"apiVersion": f"{PEERING_GROUP}/{PEERING_VERSION}", "kind": "ClusterKopfPeering", "metadata": {"name": name}}
    try:
        objects.create_cluster_custom_object(PEERING_GROUP, PEERING_VERSION, PEERING_PLURAL, body)
        log.info("created ClusterKopfPeering %s", name)
    except ApiException as error:
        if error.status != 409:
            raise

"""Where the agent gets the scheduler object a revision names, and the digest check.

The operator publishes each verified object in a ConfigMap (binaryData) named after
the revision; a directory of `<revision>.bpf.o` files serves VM nodes and tests. Either
way nothing is loaded unless its sha256 equals the digest pinned in
`NodeSchedulerState.spec.desiredRevision`: a ConfigMap is easier to tamper with than
the pinned reference the operator wrote after verification.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Protocol

from kubernetes import client

from schedcp.api.v1alpha1.base import RevisionReference
from schedcp.artifacts import OBJECT_KEY, object_configmap_name
from schedcp.transport import API_ERRORS, REQUEST_TIMEOUT, describe


class ArtifactUnavailable(Exception):
    pass


class DigestMismatch(Exception):
    def __init__(self, revision: RevisionReference, actual: str) -> None:
        super().__init__(
            f"object of revision {revision.name} has sha256 {actual[:12]}…, the spec pins {revision.sha256[:12]}…"
        )
        self.actual = actual


class ArtifactSource(Protocol):
    def fetch(self, revision: RevisionReference) -> bytes: ...


class ConfigMapArtifacts:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.core = client.CoreV1Api(api)
        self.namespace = namespace

    def fetch(self, revision: RevisionReference) -> bytes:
        try:
            cm_name = object_configmap_name(revision.name)
            cm = self.core.read_namespaced_config_map(cm_name, self.namespace, _request_timeout=REQUEST_TIMEOUT)
        except API_ERRORS as error:
            raise ArtifactUnavailable(f"object of {revision.name}: {describe(error)}") from error
        encoded = (cm.binary_data or {}).get(OBJECT_KEY)
        if encoded is None:
            raise ArtifactUnavailable(f"ConfigMap {cm_name} has no {OBJECT_KEY}")
        return base64.b64decode(encoded)


class DirectoryArtifacts:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def fetch(self, revision: RevisionReference) -> bytes:
        path = self.directory / f"{revision.name}.bpf.o"
        try:
            return path.read_bytes()
        except OSError as error:
            raise ArtifactUnavailable(f"{path}: {error.strerror}") from error


def checked_object(source: ArtifactSource, revision: RevisionReference) -> bytes:
    data = source.fetch(revision)
    actual = hashlib.sha256(data).hexdigest()
    if actual != revision.sha256:
        raise DigestMismatch(revision, actual)
    return data

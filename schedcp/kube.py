"""Objects the API server returned, read as what they are.

The kubernetes client's models type every field optional, since a request may leave any
out; an object the API server returns always has metadata with a name and a uid. These
read them with that type, and fail loudly on an object that has not been served.
"""

from __future__ import annotations

from typing import Protocol

from kubernetes import client


class Served(Protocol):
    @property
    def metadata(self) -> client.V1ObjectMeta | None: ...


def metadata(obj: Served) -> client.V1ObjectMeta:
    if obj.metadata is None:
        raise ValueError(f"a {type(obj).__name__} without metadata: not one the API server returned")
    return obj.metadata


def name(obj: Served) -> str:
    value = metadata(obj).name
    if value is None:
        raise ValueError(f"a {type(obj).__name__} without a name: not one the API server returned")
    return value


def uid(obj: Served) -> str:
    value = metadata(obj).uid
    if value is None:
        raise ValueError(f"a {type(obj).__name__} without a uid: not one the API server returned")
    return value

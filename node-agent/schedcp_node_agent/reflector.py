"""A list-then-watch cache of one kind of object, kept current by a background thread.

The agent's loop reads the cache instead of polling the API server, and a `changed`
event wakes the loop as soon as its NodeSchedulerState's spec or its node's pods move.
On any watch error (expired resourceVersion, a dropped connection, the API server
restarting) it lists again after a backoff: nothing is missed, only re-read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import watch
from kubernetes.client import ApiClient

from schedcp.transport import REQUEST_TIMEOUT, RequestTimeout

log = logging.getLogger("schedcp.agent.reflector")

ListFunction = Callable[..., Any]
WATCH_TIMEOUT_SECONDS = 300
RETRY_SECONDS = (0.5, 1, 2, 5)


def _key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class Reflector:
    def __init__(self, api: ApiClient, list_function: ListFunction, name: str, *,
                 timeout: RequestTimeout = REQUEST_TIMEOUT, **list_kwargs: Any) -> None:
        self.api = api
        self.timeout = timeout
        self.list_function = list_function
        self.list_kwargs = list_kwargs
        self.name = name
        self.changed = threading.Event()
        self.synced = threading.Event()
        self._objects: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reflector-{name}", daemon=True)

    def start(self) -> Reflector:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def objects(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._objects.values())

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                version = self._relist()
                failures = 0
                self._watch(version)
            except Exception as error:
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("%s: watch failed (%s), listing again in %ss", self.name, error, delay)
                self._stop.wait(delay)

    def _relist(self) -> str:
        listing = self.api.sanitize_for_serialization(self.list_function(_request_timeout=self.timeout, **self.list_kwargs))
        with self._lock:
            self._objects = {_key(o): o for o in listing.get("items", [])}
        self.synced.set()
        self.changed.set()
        return str(listing["metadata"]["resourceVersion"])

    def _watch(self, version: str) -> None:
        stream = watch.Watch()
        # The server ends a quiet watch after WATCH_TIMEOUT_SECONDS; silence beyond that is a dead stream.
        connect, read = self.timeout
        for event in stream.stream(
            self.list_function, resource_version=version, timeout_seconds=WATCH_TIMEOUT_SECONDS,
            _request_timeout=(connect, WATCH_TIMEOUT_SECONDS + read), **self.list_kwargs
        ):
            if self._stop.is_set():
                stream.stop()
                return
            obj = event["object"] if isinstance(event["object"], dict) else self.api.sanitize_for_serialization(event["object"])
            if event["type"] == "ERROR":
                raise RuntimeError(obj.get("message", "watch error"))
            with self._lock:
                if event["type"] == "DELETED":
                    self._objects.pop(_key(obj), None)
                else:
                    self._objects[_key(obj)] = obj
            self.changed.set()

"""The API client of the operator's processes: the service account in a cluster, else a kubeconfig."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from kubernetes import client, config

# Names the operator's own calls in the API server's audit log; its watches are kopf's
# (`kopf/<version>`), and every other Python client says `OpenAPI-Generator/...`.
USER_AGENT_PRODUCT = "schedcp-operator"


def api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return identified(client.ApiClient())


def identified(api: client.ApiClient) -> client.ApiClient:
    try:
        release = version("schedcp")
    except PackageNotFoundError:  # a source tree that was never installed
        release = "0.0.0+source"
    api.user_agent = f"{USER_AGENT_PRODUCT}/{release}"
    return api

"""The API client of the operator's processes: the service account in a cluster, else a kubeconfig."""

from __future__ import annotations

from kubernetes import client, config


def api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()

"""Kubernetes clients for a bench cluster, from its admin kubeconfig (both benches)."""

from __future__ import annotations

from kubernetes import client, config


class AdminClients:
    """Clients on the cluster's admin kubeconfig (``self.kubeconfig``, a path)."""

    kubeconfig: str

    def api_client(self) -> client.ApiClient:
        """A new ``kubernetes.client.ApiClient`` for the cluster (admin credentials)."""
        return config.new_client_from_config(config_file=self.kubeconfig)

    def core_v1(self) -> client.CoreV1Api:
        """``CoreV1Api`` on a new client."""
        return client.CoreV1Api(self.api_client())

    def batch_v1(self) -> client.BatchV1Api:
        """``BatchV1Api`` on a new client."""
        return client.BatchV1Api(self.api_client())

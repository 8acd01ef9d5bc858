"""Test bench for kedro-kinetic: a real Kubernetes control plane, a test kubelet and fake GCS.

Import the pytest fixtures with ``from tests.bench.fixtures import *``.
"""

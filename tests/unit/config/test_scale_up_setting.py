"""``scale_up_timeout_seconds``: how long a pod the cluster autoscaler adds a node for may
wait; validated, overridable from --runner-params, handed to the Kubernetes backend."""

from __future__ import annotations

import pytest

from kedro_kinetic import config
from kedro_kinetic.backends.kubernetes import backend as k8s_backend
from kedro_kinetic.errors import ConfigError

GKE = {"backend": "kubernetes", "image": "img@sha256:" + "c" * 64, "store": "gs://b/p"}


def test_the_default_is_half_an_hour_and_runner_params_override_it():
    assert config.load({}).scale_up_timeout_seconds == 1800
    assert config.load({"scale_up_timeout_seconds": 3600}).scale_up_timeout_seconds == 3600
    over = config.load({"scale_up_timeout_seconds": 3600},
                       overrides={"scale_up_timeout_seconds": 900})
    assert over.scale_up_timeout_seconds == 900


@pytest.mark.parametrize("value", [0, -5, "soon", 1.5])
def test_anything_but_a_positive_integer_is_refused_naming_the_key(value):
    with pytest.raises(ConfigError, match=r"kinetic\.scale_up_timeout_seconds"):
        config.load({"scale_up_timeout_seconds": value})


def test_the_kubernetes_backend_gets_it(monkeypatch):
    from kedro_kinetic import backends

    seen = {}

    class Backend:
        def __init__(self, **kwargs):
            seen.update(kwargs)

    monkeypatch.setattr(k8s_backend, "KubernetesBackend", Backend)
    cfg = config.load({**GKE, "scale_up_timeout_seconds": 2400}, check_images=False)
    backends.create(cfg, run_label="r-1", project_path=None)
    assert seen["scale_up_timeout"] == 2400 and seen["unschedulable_timeout"] == 300

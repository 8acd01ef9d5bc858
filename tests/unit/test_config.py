from __future__ import annotations

import pytest

from kedro_kinetic import config


def test_precedence_defaults_pipeline_tag_node_runner_params():
    block = {
        "defaults": {"cpu": "250m", "memory": "512Mi", "retries": 0},
        "pipelines": {"ds": {"defaults": {"memory": "1Gi"}, "max_parallel": 2}},
        "tags": {"heavy": {"memory": "2Gi", "cpu": "1"}},
        "nodes": {"train": {"cpu": "2"}},
    }
    cfg = config.load(block, ["ds"], {"nodes": {"train": {"retries": 3}}})
    train = cfg.node_settings("train", ["heavy"])
    assert (train.cpu, train.memory, train.retries) == ("2", "2Gi", 3)
    other = cfg.node_settings("other", [])
    assert (other.cpu, other.memory, other.retries) == ("250m", "1Gi", 0)
    assert cfg.max_parallel == 2
    assert config.load(block, ["__default__"]).max_parallel == 4


def test_runner_params_beat_node_overrides():
    block = {"nodes": {"n": {"memory": "4Gi"}}}
    cfg = config.load(block, overrides={"defaults": {"memory": "1Gi"}, "max_parallel": 1})
    assert cfg.node_settings("n").memory == "1Gi"
    assert cfg.max_parallel == 1


def test_every_problem_is_reported_with_its_key_path():
    block = {
        "bogus": 1,
        "max_parallel": 0,
        "defaults": {"memory": "12Gb", "gpu": {"count": 1}, "env": {"1BAD": "x"}},
        "tags": {"heavy": {"cpu": True}},
        "pipelines": {"ds": {"namespace": "Not_Valid"}},
    }
    with pytest.raises(config.ConfigError) as info:
        config.load(block, ["ds"], {"stor": "x"})
    text = str(info.value)
    for fragment in (
        "kinetic.bogus: unknown key",
        "kinetic.max_parallel: expected an integer >= 1",
        "kinetic.defaults.memory: '12Gb' is not a Kubernetes quantity",
        "kinetic.defaults.gpu.type: required",
        "kinetic.defaults.env: '1BAD' is not a valid environment variable name",
        "kinetic.tags.heavy.cpu: expected a Kubernetes quantity",
        "kinetic.pipelines.ds.namespace: 'Not_Valid' is not a DNS-1123 label",
        "--runner-params.stor: unknown key",
    ):
        assert fragment in text


def test_kubernetes_backend_needs_image_and_gcs_store():
    with pytest.raises(config.ConfigError, match="kinetic.image: required"):
        config.load({"backend": "kubernetes", "store": "gs://b/p"})
    with pytest.raises(config.ConfigError, match="gs://bucket/prefix"):
        config.load({"backend": "kubernetes", "image": "img", "store": "data/x"})


def test_gpu_and_tpu_settings_are_typed():
    cfg = config.load({"defaults": {"gpu": {"type": "nvidia-l4", "count": 2},
                                    "tpu": {"type": "tpu-v5-lite-podslice", "topology": "2x2"}}})
    settings = cfg.node_settings("n")
    assert settings.gpu == config.GPU("nvidia-l4", 2)
    assert settings.tpu == config.TPU("tpu-v5-lite-podslice", "2x2", 1)

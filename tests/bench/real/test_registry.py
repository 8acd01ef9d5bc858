"""The real bench's registry: the distribution API it writes with, and the persistent storage
that keeps the three most recently used demo builds (older ones are collected)."""

from __future__ import annotations

import json

import pytest

from tests.bench.real import demo_image
from tests.bench.real.registry import OCI_CONFIG, OCI_MANIFEST, persistent_registry

pytestmark = pytest.mark.bench


def push_image(registry, name: str, tag: str, text: str) -> tuple[str, str]:
    """A one-layer image whose layer holds ``text``; returns (manifest digest, layer digest)."""
    layer = text.encode()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
        "mediaType": OCI_CONFIG, "digest": registry.put_blob(name, config),
        "size": len(config)}, "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": registry.put_blob(name, layer), "size": len(layer)}]}).encode()
    return registry.put_manifest(name, tag, manifest), registry.put_blob(name, layer)


def test_old_builds_are_dropped_and_collected(tmp_path, monkeypatch, bench_binaries):
    monkeypatch.setenv("KINETIC_IMAGE_CACHE", str(tmp_path / "cache"))
    storage = tmp_path / "cache" / "registry"
    pushed = {}
    with persistent_registry(tmp_path / "session-1") as registry:
        for n in range(1, 5):
            key = f"k{n}"
            digest, layer = push_image(registry, demo_image.DEMO_NAME, f"cache-{key}",
                                       f"layer of build {n}")
            pushed[key] = (digest, layer)
            demo_image._keep_recent(registry, key, digest)
        assert registry.deleted
        assert registry.digest(demo_image.DEMO_NAME, "cache-k1") is None  # the oldest
        assert registry.digest(demo_image.DEMO_NAME, "cache-k4") == pushed["k4"][0]
    blobs = {p.parent.name for p in storage.rglob("data")}
    assert pushed["k1"][1].split(":")[1] not in blobs  # collected once the registry stopped
    assert pushed["k4"][1].split(":")[1] in blobs
    with persistent_registry(tmp_path / "session-2") as registry:  # the storage is kept
        assert registry.host  # a new port each session
        for key in ("k2", "k3", "k4"):
            assert registry.digest(demo_image.DEMO_NAME, f"cache-{key}") == pushed[key][0]
        assert registry.tags(demo_image.DEMO_NAME) == ["cache-k2", "cache-k3", "cache-k4"]
        assert not registry.deleted


def test_derived_images_keep_layers_and_change_labels(tmp_path, monkeypatch, bench_binaries):
    monkeypatch.setenv("KINETIC_IMAGE_CACHE", str(tmp_path / "cache"))
    with persistent_registry(tmp_path / "session") as registry:
        source, _ = push_image(registry, "app", "v1", "base layer")
        derived = registry.derived_image("app", source, "v2", labels={"a": "b"},
                                         layer=b"extra", env=["X=1"])
        assert registry.digest("app", "v2") == derived != source
        manifest = json.loads(registry.manifest("app", derived)[0])
        config = json.loads(registry.blob("app", manifest["config"]["digest"]))
        assert config["config"]["Labels"] == {"a": "b"} and config["config"]["Env"] == ["X=1"]
        assert len(manifest["layers"]) == 2
        assert config["rootfs"]["diff_ids"] == [manifest["layers"][1]["digest"]]

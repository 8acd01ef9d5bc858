"""The registry client: digests of what the registry serves, labels read by digest and
verified, the token flow, plain HTTP only on loopback, and refusals that name the object."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kedro_kinetic.cli import registry
from kedro_kinetic.errors import BuildError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRegistry:
    """A distribution API on 127.0.0.1 (plain HTTP) with one repository ``team/app``."""

    def __init__(self, token: bool = False) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.lies: dict[str, bytes] = {}  # served instead of the real bytes
        self.header_digest: str | None = None
        self.token = token
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # http.server's name
                fake.requests.append(self.path)
                if self.path.startswith("/token"):
                    return self._send(200, json.dumps({"token": "t0k"}).encode(),
                                      "application/json")
                if fake.token and self.headers.get("Authorization") != "Bearer t0k":
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", (
                        f'Bearer realm="http://{fake.host}/token",service="fake",'
                        'scope="repository:team/app:pull"'))
                    self.end_headers()
                    return None
                prefix = "/v2/team/app/"
                ref = self.path[len(prefix):].split("/", 1)[-1]
                if self.path.startswith(prefix + "manifests/") and ref in fake.manifests:
                    body, media = fake.manifests[ref]
                    return self._send(200, fake.lies.get(ref, body), media,
                                      fake.header_digest or digest(body))
                if self.path.startswith(prefix + "blobs/") and ref in fake.blobs:
                    return self._send(200, fake.lies.get(ref, fake.blobs[ref]),
                                      "application/octet-stream")
                return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}',
                                  "application/json")

            def _send(self, code, body, media, header_digest=None):
                self.send_response(code)
                self.send_header("Content-Type", media)
                if header_digest:
                    self.send_header("Docker-Content-Digest", header_digest)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def push(self, labels: dict[str, str], tag: str | None = None,
             index: bool = False) -> str:
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "config": {"Labels": labels}}).encode()
        self.blobs[digest(config)] = config
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest(config), "size": len(config)}, "layers": []}).encode()
        self.manifests[digest(manifest)] = (manifest, OCI_MANIFEST)
        top, media = manifest, OCI_MANIFEST
        if index:
            top = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "0" * 64, "size": 1,
                 "platform": {"os": "linux", "architecture": "arm64"}},
                {"mediaType": OCI_MANIFEST, "digest": digest(manifest), "size": len(manifest),
                 "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
            media = OCI_INDEX
            self.manifests[digest(top)] = (top, media)
        if tag:
            self.manifests[tag] = (top, media)
        return digest(top)


@pytest.fixture
def fake():
    server = FakeRegistry()
    yield server
    server.server.shutdown()


def test_the_pushed_digest_is_the_hash_of_what_the_registry_serves(fake):
    pushed = fake.push({"a": "1"}, tag="v1")
    assert registry.pushed_digest(f"{fake.host}/team/app:v1") == pushed
    # a registry on this machine's loopback may speak plain HTTP: https was tried first
    assert registry.image_labels(f"{fake.host}/team/app@{pushed}") == {"a": "1"}


def test_an_index_is_resolved_to_the_platforms_manifest(fake):
    pushed = fake.push({"io.kedro-kinetic.version": "9.9"}, tag="multi", index=True)
    assert registry.pushed_digest(f"{fake.host}/team/app:multi") == pushed
    assert registry.image_labels(f"{fake.host}/team/app:multi@{pushed}") == {
        "io.kedro-kinetic.version": "9.9"}
    with pytest.raises(BuildError, match="the image index has no linux/s390x manifest"):
        registry.image_labels(f"{fake.host}/team/app@{pushed}", platform="linux/s390x")


def test_bytes_that_do_not_match_the_pinned_digest_are_refused(fake):
    pushed = fake.push({"a": "1"})
    fake.lies[pushed] = json.dumps({"schemaVersion": 2, "config": {}}).encode()
    with pytest.raises(BuildError, match=rf"team/app@{pushed}: the registry served a manifest "
                                         r"whose digest is sha256:"):
        registry.image_labels(f"{fake.host}/team/app@{pushed}")


def test_a_config_blob_that_does_not_match_is_refused(fake):
    pushed = fake.push({"a": "1"})
    config = json.loads(fake.manifests[pushed][0])["config"]["digest"]
    fake.lies[config] = b'{"config": {"Labels": {"forged": "yes"}}}'
    with pytest.raises(BuildError, match=rf"config blob {config} does not match its digest"):
        registry.image_labels(f"{fake.host}/team/app@{pushed}")


def test_a_reported_digest_that_differs_from_the_bytes_is_refused(fake):
    fake.push({"a": "1"}, tag="v1")
    fake.header_digest = "sha256:" + "e" * 64
    with pytest.raises(BuildError, match="the registry reports digest sha256:eee"):
        registry.pushed_digest(f"{fake.host}/team/app:v1")


def test_the_token_flow_is_followed():
    server = FakeRegistry(token=True)
    try:
        pushed = server.push({"a": "1"}, tag="v1")
        assert registry.pushed_digest(f"{server.host}/team/app:v1") == pushed
        assert any(r.startswith("/token?") and "scope=repository%3Ateam%2Fapp%3Apull" in r
                   for r in server.requests)
    finally:
        server.server.shutdown()


def test_a_missing_digest_names_the_object(fake):
    missing = "sha256:" + "a" * 64
    with pytest.raises(BuildError, match=r"answered 404 .*no such repository, tag or digest"):
        registry.image_labels(f"{fake.host}/team/app@{missing}")


def test_only_loopback_registries_may_speak_plain_http():
    assert registry.loopback("127.0.0.1:5000") and registry.loopback("localhost:5000")
    assert registry.loopback("[::1]:5000") and registry.loopback("127.8.9.10")
    for host in ("10.0.0.1:5000", "registry.example:5000", "localhost.example", "[fe80::1]"):
        assert not registry.loopback(host), host


def test_google_registries_without_credentials_are_not_contacted(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    image = "europe-west4-docker.pkg.dev/p/r/app@sha256:" + "a" * 64
    with pytest.raises(BuildError, match="no application-default credentials"):
        registry.image_labels(image)


def test_an_unpinned_image_has_no_labels_to_read():
    with pytest.raises(BuildError, match="is not pinned by a sha256 digest"):
        registry.image_labels("127.0.0.1:1/team/app:latest")


@pytest.mark.parametrize(("image", "parts"), [
    ("python:3.11-slim", ("registry-1.docker.io", "library/python", "3.11-slim", None)),
    ("kedro/app", ("registry-1.docker.io", "kedro/app", None, None)),
    ("127.0.0.1:5000/kinetic/demo:ctx-1",
     ("127.0.0.1:5000", "kinetic/demo", "ctx-1", None)),
    ("localhost/a@sha256:" + "b" * 64, ("localhost", "a", None, "sha256:" + "b" * 64)),
    ("europe-west4-docker.pkg.dev/p/r/app:t@sha256:" + "c" * 64,
     ("europe-west4-docker.pkg.dev", "p/r/app", "t", "sha256:" + "c" * 64)),
])
def test_references_split_as_registries_see_them(image, parts):
    ref = registry.parse_reference(image)
    assert (ref.host, ref.path, ref.tag, ref.digest) == parts


@pytest.mark.parametrize(("text", "found"), [
    ('{"mediaType": "x", "digest": "sha256:' + "a" * 64 + '", "size": 3}', "sha256:" + "a" * 64),
    ('{"Digest": "sha256:' + "b" * 64 + '", "Labels": {}}', "sha256:" + "b" * 64),
    ("sha256:" + "c" * 64 + "\n", "sha256:" + "c" * 64),
    ("sha256:" + "c" * 64 + " sha256:" + "d" * 64, None),  # two: which one is meant?
    ("no digest here", None),
])
def test_a_tools_output_gives_one_digest_or_none(text, found):
    assert registry.find_digest(text) == found

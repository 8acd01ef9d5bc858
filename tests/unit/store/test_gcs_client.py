"""The GCS client reads the environment's proxy and CA settings once, and keeps them."""

from __future__ import annotations

import pytest

from kedro_kinetic.store.gcs_client import client_for

EMULATOR = "http://127.0.0.1:4443"


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
                 "no_proxy", "ALL_PROXY", "all_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", EMULATOR)
    return monkeypatch


def test_the_proxy_and_ca_bundle_of_the_environment_are_kept_on_the_session(clean_env):
    clean_env.setenv("HTTP_PROXY", "http://proxy.example:3128")
    clean_env.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp.pem")
    session = client_for("gs://b/x")._http
    assert session.trust_env is False  # no per-request scan of the environment
    assert session.proxies.get("http") == "http://proxy.example:3128"
    assert session.verify == "/etc/ssl/corp.pem"


def test_no_proxy_still_bypasses_the_proxy(clean_env):
    clean_env.setenv("HTTP_PROXY", "http://proxy.example:3128")
    clean_env.setenv("NO_PROXY", "127.0.0.1")
    session = client_for("gs://b/x")._http
    assert session.trust_env is False and session.proxies == {}
    assert session.verify is True

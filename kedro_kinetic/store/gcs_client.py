"""The GCS client the store uses: default credentials, or the emulator's anonymous ones.

``google-cloud-storage`` honours ``STORAGE_EMULATOR_HOST`` (fake-gcs-server in
tests and on the bench). Shared by the driver and the pod.
"""

from __future__ import annotations

import os
from typing import Any

from kedro_kinetic.errors import CredentialsError


def client_for(uri: str) -> Any:
    """A ``storage.Client`` for ``uri`` (the first object the store touches).

    Raises:
        CredentialsError: No credentials (names the fix instead of google-auth's frames).
    """
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        client = storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT", "kinetic-test"),
                                credentials=AnonymousCredentials())
    else:
        client = _default_client(uri)
    _settle_environment(client)
    return client


def _default_client(uri: str) -> Any:
    """A GCS client with the machine's default credentials.

    Raises:
        CredentialsError: There are none (names the fix instead of google-auth's frames).
    """
    from google.auth import exceptions as auth_exceptions
    from google.cloud import storage

    try:
        return storage.Client()
    except auth_exceptions.DefaultCredentialsError as exc:
        raise CredentialsError(
            f"no Google credentials to reach {uri}: run `gcloud auth application-default "
            "login` (or set GOOGLE_APPLICATION_CREDENTIALS); `kedro kinetic doctor` checks "
            "this machine's set-up") from exc


def _settle_environment(client: Any) -> None:
    """Read the proxy and CA-bundle settings from the environment once, not per request.

    ``requests`` scans the whole environment on every request of a session that
    trusts it (about a third of a small request's CPU here); the results-first
    listing alone makes five requests a second. The settings it would find are
    put on the client's session (google-auth's ``AuthorizedSession``) instead.
    """
    import requests

    session = getattr(client, "_http", None)
    if not isinstance(session, requests.Session) or not session.trust_env:
        return
    endpoint = os.environ.get("STORAGE_EMULATOR_HOST") or "https://storage.googleapis.com"
    session.proxies.update(requests.utils.get_environ_proxies(endpoint))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False

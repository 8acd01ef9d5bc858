"""Read an image's manifest digest and labels from its registry (the OCI distribution API).

``kedro kinetic build`` pins the digest of the manifest the *registry* serves (never a local
image id), and ``kedro kinetic doctor`` reads the kedro-kinetic labels of the image a config pins.
Both go through :class:`Registry`, a small client of the distribution API (``/v2/``):

* a manifest is fetched by tag or digest; its digest is the SHA-256 of the bytes served, and a
  manifest fetched by digest must hash to it (so labels read by digest are the pinned image's);
* an index (multi-platform image, or one with build attestations) is resolved to the manifest
  of the requested platform, then its config blob, verified, gives the labels;
* authentication is the registries' token flow (``WWW-Authenticate: Bearer``), anonymous, or for
  Google's registries (``*-docker.pkg.dev``, ``gcr.io``) with application-default credentials
  when a credentials file exists (never by probing the metadata server);
* HTTPS always, except for a registry on this machine's loopback (``localhost``,
  ``127.0.0.0/8``, ``::1``), which may answer plain HTTP as Docker allows.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from kedro_kinetic.errors import BuildError

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_INDEX_TYPES = MANIFEST_TYPES[:2]
_MAX_MANIFEST = 4 << 20
_MAX_CONFIG = 16 << 20
TIMEOUT = 15.0


@dataclass(frozen=True)
class Reference:
    """An image reference split as registries see it."""

    host: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """``host/path`` as written (``docker.io`` images keep their short form)."""
        return self.path if self.host == "registry-1.docker.io" else f"{self.host}/{self.path}"


def parse_reference(image: str) -> Reference:
    """Split ``[host/]path[:tag][@digest]`` (Docker Hub names get their registry host)."""
    rest, _, digest = image.partition("@")
    head, _, last = rest.rpartition("/")
    name, _, tag = last.partition(":")
    full = f"{head}/{name}" if head else name
    first, _, remainder = full.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        host, path = first, remainder
    else:
        host, path = "registry-1.docker.io", full if "/" in full else f"library/{full}"
    return Reference(host, path, tag or None, digest or None)


def loopback(host: str) -> bool:
    """Whether ``host`` (maybe with a port) is this machine's loopback."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def google_registry(host: str) -> bool:
    return host.endswith("-docker.pkg.dev") or host == "gcr.io" or host.endswith(".gcr.io")


def google_credentials_file() -> bool:
    """Whether application-default credentials come from a file (the metadata server is never
    probed: on a workstation that costs seconds, and it is no registry's business)."""
    well_known = os.path.expanduser("~/.config/gcloud/application_default_credentials.json")
    return bool(os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or os.path.isfile(well_known))


def _google_token() -> str | None:
    """An access token from application-default credentials, if a credentials file exists."""
    if not google_credentials_file():
        return None
    import google.auth
    import google.auth.transport.requests

    credentials, _ = google.auth.default(
        scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())
    return str(credentials.token)


def _challenge(header: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


class Registry:
    """One registry host, read with the distribution API.

    Args:
        host: ``registry.example.com[:port]``.
        timeout: Seconds for each request.
    """

    def __init__(self, host: str, timeout: float = TIMEOUT) -> None:
        self.host = host
        self.timeout = timeout
        self.scheme = "https"
        self._token: str | None = None

    def _open(self, url: str, headers: dict[str, str]) -> Any:
        # Only https:// (http:// for a loopback registry) URLs are ever built here.
        request = urllib.request.Request(url, headers=headers)  # noqa: S310
        return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310

    def _get(self, path: str, accept: str, limit: int) -> tuple[bytes, dict[str, str]]:
        if google_registry(self.host) and not google_credentials_file():
            raise BuildError(f"{self.host} needs Google credentials and there are no "
                             "application-default credentials: gcloud auth "
                             "application-default login")
        headers = {"Accept": accept}
        tried_token = False
        for _ in range(3):
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            url = f"{self.scheme}://{self.host}{path}"
            try:
                with self._open(url, headers) as response:
                    body = response.read(limit + 1)
                    if len(body) > limit:
                        raise BuildError(f"{url}: larger than {limit} bytes; refused")
                    return body, {k.lower(): v for k, v in response.headers.items()}
            except urllib.error.HTTPError as exc:
                challenge = exc.headers.get("WWW-Authenticate", "")
                if exc.code == 401 and not tried_token and challenge.lower().startswith(
                        "bearer"):
                    tried_token = True
                    self._token = self._fetch_token(_challenge(challenge))
                    continue
                raise BuildError(f"{url}: the registry answered {exc.code} {exc.reason}"
                                 f"{self._hint(exc.code)}") from None
            except (urllib.error.URLError, OSError) as exc:
                if self.scheme == "https" and loopback(self.host):
                    self.scheme = "http"  # a registry on this machine, plain HTTP
                    continue
                raise BuildError(f"{url}: cannot reach the registry: "
                                 f"{getattr(exc, 'reason', exc)}") from None
        raise BuildError(f"{self.host}{path}: the registry refused the token it issued")

    def _hint(self, code: int) -> str:
        if code in (401, 403):
            return (" (no access: log in to the registry"
                    + (", e.g. gcloud auth application-default login" if google_registry(
                        self.host) else "") + ")")
        if code == 404:
            return " (no such repository, tag or digest in the registry)"
        return ""

    def _fetch_token(self, challenge: dict[str, str]) -> str:
        realm = challenge.get("realm", "")
        if not realm.startswith("https://") and not (realm.startswith("http://") and loopback(
                urllib.parse.urlsplit(realm).netloc)):
            raise BuildError(f"{self.host}: the registry's token service {realm!r} is not HTTPS")
        query = {k: v for k, v in challenge.items() if k in ("service", "scope")}
        headers: dict[str, str] = {}
        try:
            token = _google_token() if google_registry(self.host) else None
        except Exception as exc:  # google-auth's own errors: no usable credentials
            raise BuildError(f"{self.host}: application-default credentials gave no token "
                             f"({type(exc).__name__}: {exc}); run gcloud auth "
                             "application-default login") from None
        if token:
            basic = base64.b64encode(f"oauth2accesstoken:{token}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        try:
            with self._open(url, headers) as response:
                data = json.loads(response.read(1 << 20))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise BuildError(f"{self.host}: no token from {realm}: "
                             f"{getattr(exc, 'reason', exc)}") from None
        value = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(value, str):
            raise BuildError(f"{self.host}: the token service {realm} gave no token")
        return value

    def manifest(self, path: str, ref: str) -> tuple[bytes, str, str]:
        """The manifest ``ref`` (tag or digest) of repository ``path``.

        Returns:
            Its bytes, media type and digest (``sha256:`` of the bytes).

        Raises:
            BuildError: Unreachable, refused, or bytes that do not hash to the digest asked for
                or to the one the registry reports.
        """
        body, headers = self._get(f"/v2/{path}/manifests/{ref}", ", ".join(MANIFEST_TYPES),
                                  _MAX_MANIFEST)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        reported = headers.get("docker-content-digest")
        if DIGEST.fullmatch(ref) and ref != digest:
            raise BuildError(f"{self.host}/{path}@{ref}: the registry served a manifest whose "
                             f"digest is {digest}; refused")
        if reported and DIGEST.fullmatch(reported) and reported != digest:
            raise BuildError(f"{self.host}/{path}:{ref}: the registry reports digest {reported} "
                             f"for bytes whose digest is {digest}; refused")
        media = headers.get("content-type", "").split(";")[0].strip()
        try:
            media = json.loads(body).get("mediaType") or media
        except (ValueError, AttributeError):
            raise BuildError(f"{self.host}/{path}:{ref}: the manifest is not JSON") from None
        return body, media, digest

    def labels(self, path: str, digest: str, platform: str = "linux/amd64") -> dict[str, str]:
        """The labels of the image ``path@digest`` (of ``platform`` when it is an index)."""
        body, media, _ = self.manifest(path, digest)
        document = json.loads(body)
        if media in _INDEX_TYPES:
            digest = _platform_manifest(document, platform, f"{self.host}/{path}@{digest}")
            document = json.loads(self.manifest(path, digest)[0])
        config = (document.get("config") or {}).get("digest", "")
        if not DIGEST.fullmatch(str(config)):
            raise BuildError(f"{self.host}/{path}@{digest}: the manifest names no config blob")
        blob, _ = self._get(f"/v2/{path}/blobs/{config}", "*/*", _MAX_CONFIG)
        if "sha256:" + hashlib.sha256(blob).hexdigest() != config:
            raise BuildError(f"{self.host}/{path}: config blob {config} does not match its "
                             "digest; refused")
        try:
            labels = (json.loads(blob).get("config") or {}).get("Labels") or {}
        except (ValueError, AttributeError):
            raise BuildError(f"{self.host}/{path}: config blob {config} is not JSON") from None
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _platform_manifest(index: dict[str, Any], platform: str, where: str) -> str:
    os_name, _, arch = platform.partition("/")
    arch, _, variant = arch.partition("/")
    for entry in index.get("manifests") or []:
        wanted = entry.get("platform") or {}
        if wanted.get("os") == os_name and wanted.get("architecture") == arch and (
                not variant or wanted.get("variant") == variant):
            if DIGEST.fullmatch(str(entry.get("digest", ""))):
                return str(entry["digest"])
    raise BuildError(f"{where}: the image index has no {platform} manifest")


def pushed_digest(image: str, timeout: float = TIMEOUT) -> str:
    """The digest of the manifest the registry serves for ``image`` (by tag)."""
    ref = parse_reference(image)
    return Registry(ref.host, timeout).manifest(ref.path, ref.tag or "latest")[2]


def image_labels(image: str, platform: str = "linux/amd64",
                 timeout: float = TIMEOUT) -> dict[str, str]:
    """The labels of ``image`` pinned by digest (``repo@sha256:...``), read from its registry.

    Raises:
        BuildError: Not pinned, unreachable, refused or not verifiable.
    """
    ref = parse_reference(image)
    if not ref.digest or not DIGEST.fullmatch(ref.digest):
        raise BuildError(f"{image} is not pinned by a sha256 digest")
    return Registry(ref.host, timeout).labels(ref.path, ref.digest, platform)


def find_digest(text: str) -> str | None:
    """The one manifest digest a tool printed (JSON with ``digest``/``Digest`` or plain text)."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("digest", "Digest"):
            if isinstance(data.get(key), str) and DIGEST.fullmatch(data[key]):
                return str(data[key])
    found = set(DIGEST.findall(text))
    return found.pop() if len(found) == 1 else None

"""Test-only fault injection, loaded by Python at start-up when this folder is on PYTHONPATH.

KINETIC_FAULT_RATE   share of Kubernetes API requests and GCS requests that fail
                     (HTTP 500/503/429); half of the failed Job creations are sent first,
                     so the retry meets 409 AlreadyExists (a lost response).
KINETIC_FAULT_GONE   make the first N watch streams end with 410 Gone after a few events
                     (and record ``watch-open jobs|pods`` for every watch stream that starts, so
                     a test can wait until the watches are back after an API server restart).
KINETIC_FAULT_LOG    file that records one line per injected fault.
"""

from __future__ import annotations

import os
import random

_RATE = float(os.environ.get("KINETIC_FAULT_RATE", "0") or 0)
_GONE = int(os.environ.get("KINETIC_FAULT_GONE", "0") or 0)
_LOG = os.environ.get("KINETIC_FAULT_LOG")
_RNG = random.Random(os.getpid())


def _record(kind: str) -> None:
    if _LOG:
        with open(_LOG, "a") as handle:
            handle.write(f"{os.getpid()} {kind}\n")


def _patch_kubernetes() -> None:
    try:
        from kubernetes.client import rest
    except ImportError:
        return
    original = rest.RESTClientObject.request

    def request(self, method, url, *args, **kwargs):
        if _RNG.random() < _RATE:
            status = _RNG.choice([500, 503, 429])
            if method == "POST" and "/jobs" in url and _RNG.random() < 0.5:
                original(self, method, url, *args, **kwargs)
                _record(f"k8s-lost-response {method} {url}")
            else:
                _record(f"k8s-{status} {method} {url}")
            raise rest.ApiException(status=status, reason="injected fault")
        return original(self, method, url, *args, **kwargs)

    rest.RESTClientObject.request = request


def _patch_watch() -> None:
    if not _GONE:
        return
    try:
        from kubernetes.watch import watch
    except ImportError:
        return
    original = watch.iter_resp_lines
    left = {"n": _GONE}
    gone = ('{"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", '
            '"status": "Failure", "reason": "Expired", "code": 410, '
            '"message": "too old resource version (injected)"}}')

    def iter_resp_lines(resp):
        # After a few events the stream ends as the API server ends an expired
        # watch: an in-stream ERROR event with code 410.
        url = str(getattr(resp, "url", None) or "")
        _record("watch-open " + ("jobs" if "/jobs" in url else "pods" if "/pods" in url
                                 else "other"))
        seen = 0
        for line in original(resp):
            yield line
            seen += 1
            if seen >= 3 and left["n"] > 0:
                left["n"] -= 1
                _record("watch-410")
                yield gone
                return

    watch.iter_resp_lines = iter_resp_lines


def _patch_gcs() -> None:
    if not _RATE:
        return
    try:
        import requests
    except ImportError:
        return
    host = os.environ.get("STORAGE_EMULATOR_HOST", "")
    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):
        if host and str(url).startswith(host) and _RNG.random() < _RATE:
            status = _RNG.choice([503, 429, 500])
            _record(f"gcs-{status} {method} {url}")
            response = requests.Response()
            response.status_code = status
            response._content = b'{"error": {"code": %d, "message": "injected"}}' % status
            response.headers["Content-Type"] = "application/json"
            response.url = url
            response.request = requests.Request(method, url).prepare()
            return response
        return original(self, method, url, *args, **kwargs)

    requests.Session.request = request


if _RATE or _GONE:
    _patch_kubernetes() if _RATE else None
    _patch_watch()
    _patch_gcs()

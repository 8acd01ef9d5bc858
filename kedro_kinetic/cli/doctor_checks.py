"""The single checks of ``kedro kinetic doctor``: image, store, and the cluster's pieces.

Each returns a :class:`Check` (``ok``, ``warn``, ``skip`` or ``FAIL``, with the
fix); :mod:`kedro_kinetic.cli.doctor` runs them in the order a first run needs.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from kedro_kinetic import config as kinetic_config
from kedro_kinetic.config.policy import OWN_SECRET_PREFIX, own_secret
from kedro_kinetic.planning.manifest import image_is_pinned

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from kedro_kinetic.config.project_settings import ProjectSettings

OK, WARN, SKIP, FAIL = "ok", "warn", "skip", "FAIL"
API_TIMEOUT = (5, 15)  # connect, read (seconds) for every API call
GCS_TIMEOUT = (5, 30)

#: What the kubernetes backend does in the namespace: (group, resource, subresource, verbs).
RBAC_NEEDS = (
    ("batch", "jobs", "", ("create", "get", "list", "watch", "delete", "deletecollection")),
    ("", "pods", "", ("list", "watch", "deletecollection")),
    ("", "pods", "log", ("get",)),
    ("", "secrets", "", ("create", "get", "list", "patch", "delete")),  # run key + attempts
    ("", "events", "", ("list", "watch")),  # the cluster autoscaler's word on pending pods
)

# Docker reference grammar (distribution/reference): [domain/]path[:tag][@digest].
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL})(?:\.(?:{_LABEL}))*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        """One line: status, name, what was found and, for problems, the fix."""
        text = f"{self.status:<4} {self.name}: {self.detail}"
        if self.fix and self.status in (FAIL, WARN):
            text += f" -- fix: {self.fix}"
        return text


# --- what the config names ----------------------------------------------------------------


named_images = kinetic_config.named_images
named_service_accounts = kinetic_config.named_service_accounts
named_secrets = kinetic_config.named_secrets


# --- single checks ------------------------------------------------------------------------


def check_image(image: str, policy: str,
                repositories: tuple[str, ...] | None = None) -> Check:
    """Well-formed, in a repository the project's code declares, pinned by digest.

    An unpinned image is a ``FAIL`` only under ``image_policy: require_digest``.
    """
    name = f"image {image}"
    repository = image.split("@", maxsplit=1)[0].split(":", maxsplit=1)[0]
    if not IMAGE_REFERENCE.match(image) or len(repository) > 255:
        return Check(name, FAIL, "not a well-formed image reference",
                     "use REGISTRY/PATH[:TAG]@sha256:DIGEST with a lower-case path, e.g. "
                     "europe-west4-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE@sha256:<64 hex>")
    if repositories is None or not kinetic_config.image_allowed(image, repositories):
        declared = ", ".join(repositories) if repositories else "none"
        return Check(name, FAIL, f"not in a repository declared in code (declared: {declared})",
                     "add its repository to KINETIC_IMAGE_REPOSITORIES in the project's "
                     "settings.py")
    if image_is_pinned(image):
        return Check(name, OK, "well-formed, pinned by digest")
    bare = image.split("@", maxsplit=1)[0].rsplit(":", 1)[0] if "/" in image else image
    fix = ("push the image and pin its digest: gcloud artifacts docker images describe "
           f"{image} --format='value(image_summary.digest)', then set kinetic.image to "
           f"{bare}@sha256:<digest>")
    status = FAIL if policy == "require_digest" else WARN
    return Check(name, status, f"not pinned by digest (image_policy: {policy})", fix)


def check_identities(cfg: kinetic_config.RunConfig, settings: ProjectSettings) -> list[Check]:
    """What settings.py lets pods be and read: the API token, the declared lists."""
    checks = []
    if cfg.mount_service_account_token:
        checks.append(Check(
            "service account token", OK, "mounted in node pods (settings.py "
            "KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN = True): node code can call the Kubernetes "
            "API with the service account's permissions; grant it no more than that code "
            "needs"))
    else:
        checks.append(Check(
            "service account token", OK, "not mounted in node pods "
            "(automountServiceAccountToken: false); Workload Identity's Google tokens come "
            "from the node's GKE metadata server without it. Node code that calls the "
            "Kubernetes API needs settings.py KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN = True"))
    own = [name for name in settings.secrets if own_secret(name)]
    if own:
        checks.append(Check(
            "settings KINETIC_SECRETS", FAIL, f"lists {', '.join(own)}: kedro-kinetic's own "
            f"key Secrets ({OWN_SECRET_PREFIX}) are refused whatever settings.py says",
            "remove them from KINETIC_SECRETS in settings.py"))
    for name, listed in (("KINETIC_SECRETS", settings.secrets),
                         ("KINETIC_SERVICE_ACCOUNTS", settings.service_accounts)):
        if listed and not (own and name == "KINETIC_SECRETS"):
            checks.append(Check(f"settings {name}", OK, "configuration may name "
                                f"{', '.join(listed)}"))
    return checks


def _probe_store(uri: str) -> None:
    """Write, read back and delete a small object under ``uri`` (a gs:// URI)."""
    from urllib.parse import urlparse

    client = gcs_client()
    parsed = urlparse(uri)
    blob = client.bucket(parsed.netloc).blob(parsed.path.lstrip("/"))
    data = b"kedro-kinetic doctor probe\n"
    blob.upload_from_string(data, timeout=GCS_TIMEOUT, retry=None)
    try:
        if blob.download_as_bytes(timeout=GCS_TIMEOUT, retry=None) != data:
            raise RuntimeError("the probe object read back differs from what was written")
    finally:
        blob.delete(timeout=GCS_TIMEOUT, retry=None)


def gcs_client() -> Any:
    """A GCS client built as :mod:`kedro_kinetic.store` builds it (``STORAGE_EMULATOR_HOST``)."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT", "kinetic-test"),
                              credentials=AnonymousCredentials())
    return storage.Client()


def check_store(location: str, project_path: Path) -> Check:
    """The run's store is reachable and writable (a probe object is written and deleted)."""
    from kedro_kinetic import store

    uri = store.to_uri(location, project_path)
    probe = store.join(uri, f".kinetic-doctor-{uuid.uuid4().hex[:12]}")
    if uri.startswith("file://"):
        try:
            store.write_bytes(probe, b"probe")
            store.delete(probe)
        except OSError as exc:
            return Check("store", FAIL, f"cannot write to {uri}: {exc}",
                         "make the folder writable or point kinetic.store elsewhere")
        return Check("store", OK, f"{uri} is writable")
    bucket = uri[len("gs://"):].split("/", 1)[0]
    fix_create = (f"create it (gcloud storage buckets create gs://{bucket} --location=REGION "
                  "--uniform-bucket-level-access) or correct kinetic.store")
    fix_grant = (f"grant yourself and the pods' Google service account roles/storage.objectUser "
                 f"on it: gcloud storage buckets add-iam-policy-binding gs://{bucket} "
                 "--member=user:YOU@example.com --role=roles/storage.objectUser")
    try:
        _probe_store(probe)
    except Exception as exc:
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc

        if isinstance(exc, auth_exc.DefaultCredentialsError) or isinstance(
                exc.__cause__, auth_exc.DefaultCredentialsError):
            return Check("store", FAIL, f"no Google credentials to reach {uri}",
                         "gcloud auth application-default login")
        if isinstance(exc, gexc.NotFound):
            return Check("store", FAIL, f"bucket gs://{bucket} does not exist", fix_create)
        if isinstance(exc, gexc.Forbidden):
            return Check("store", FAIL, f"not allowed to write and delete objects in {uri}: "
                         f"{_first_line(exc)}", fix_grant)
        return Check("store", FAIL, f"cannot reach {uri}: {type(exc).__name__}: "
                     f"{_first_line(exc)}",
                     "check network access to storage.googleapis.com (or "
                     "$STORAGE_EMULATOR_HOST) and kinetic.store")
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    where = f" (emulator {emulator})" if emulator else ""
    return Check("store", OK, f"wrote, read back and deleted a probe object under {uri}{where}; "
                 "the pods need the same access through their service account")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _kubeconfig_path(kubeconfig: str | None) -> str:
    """The kubeconfig file the client will read (the first existing one of ``$KUBECONFIG``)."""
    if kubeconfig:
        return os.path.expanduser(kubeconfig)
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    existing = [p for p in paths if os.path.isfile(os.path.expanduser(p))]
    if existing or paths:
        return os.path.expanduser((existing or paths)[0])
    return os.path.expanduser("~/.kube/config")


class _Cluster:
    """The Kubernetes checks, sharing one API client."""

    def __init__(self, cfg: kinetic_config.RunConfig) -> None:
        self.cfg = cfg
        self.api: Any = None
        self.namespace = cfg.namespace

    def kubeconfig(self) -> Check:
        from kedro_kinetic.backends.kubernetes.client import api_client

        cfg = self.cfg
        fix = ("point $KUBECONFIG (or, in code, settings.py KINETIC_KUBECONFIG) at a kubeconfig "
               "and set kinetic.kube_context to one of its contexts (a kubeconfig can run "
               "commands, so configuration cannot choose it); for GKE: gcloud container "
               "clusters get-credentials CLUSTER --location=LOCATION --project=PROJECT")
        in_cluster = (cfg.kubeconfig is None and cfg.kube_context is None
                      and os.environ.get("KUBERNETES_SERVICE_HOST"))
        path = _kubeconfig_path(cfg.kubeconfig)
        if not in_cluster and not os.path.isfile(path):
            return Check("kubeconfig", FAIL, f"kubeconfig file {path} does not exist", fix)
        try:
            self.api = api_client(cfg.kubeconfig, cfg.kube_context)
        except Exception as exc:
            return Check("kubeconfig", FAIL, f"cannot load {path}"
                         f"{f' (context {cfg.kube_context})' if cfg.kube_context else ''}: "
                         f"{_first_line(exc)}", fix)
        if in_cluster:
            return Check("kubeconfig", OK, "in-cluster config (the driver runs in a pod)")
        context = cfg.kube_context or self._current_context(path)
        return Check("kubeconfig", OK, f"{path}, context {context}, server "
                     f"{self.api.configuration.host}")

    @staticmethod
    def _current_context(path: str) -> str:
        from kubernetes import config

        try:
            return config.list_kube_config_contexts(path)[1]["name"]
        except Exception:
            return "(current)"

    def reachable(self) -> Check:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        host = self.api.configuration.host
        try:
            version = client.VersionApi(self.api).get_code(_request_timeout=API_TIMEOUT)
        except ApiException as exc:
            if exc.status in (401, 403):
                return Check("api", FAIL, f"{host} refused the credentials ({exc.status} "
                             f"{exc.reason})", "refresh them: gcloud container clusters "
                             "get-credentials CLUSTER (needs gke-gcloud-auth-plugin)")
            return Check("api", FAIL, f"{host} answered {exc.status} {exc.reason}",
                         "check the kubeconfig's server address")
        except Exception as exc:
            self.api = None
            return Check("api", FAIL, f"cannot reach {host}: {_first_line(exc)}",
                         "check that the API server is reachable from here (authorized "
                         "networks, VPN or private endpoint) and that the kubeconfig's server "
                         "address is current")
        return Check("api", OK, f"{host} answered (Kubernetes {version.git_version})")

    def namespace_exists(self) -> Check:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        name = f"namespace {self.namespace}"
        try:
            client.CoreV1Api(self.api).read_namespace(self.namespace,
                                                      _request_timeout=API_TIMEOUT)
        except ApiException as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return Check(name, FAIL, "does not exist",
                             f"kubectl create namespace {self.namespace} (or correct "
                             "kinetic.namespace)")
            if exc.status == HTTPStatus.FORBIDDEN:
                return Check(name, WARN, "not verified: you may not read Namespace objects",
                             f"ask an admin whether namespace {self.namespace} exists")
            return Check(name, FAIL, f"cannot read it: {exc.status} {exc.reason}")
        return Check(name, OK, "exists")

    def rbac(self) -> Iterator[Check]:
        from kubernetes import client

        auth = client.AuthorizationV1Api(self.api)
        for group, resource, sub, verbs in RBAC_NEEDS:
            label = f"{resource}{'/' + sub if sub else ''}{'.' + group if group else ''}"
            denied = []
            for verb in verbs:
                review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
                    resource_attributes=client.V1ResourceAttributes(
                        namespace=self.namespace, verb=verb, group=group, resource=resource,
                        subresource=sub or None)))
                try:
                    result = auth.create_self_subject_access_review(
                        review, _request_timeout=API_TIMEOUT)
                except Exception as exc:
                    yield Check(f"rbac {label}", FAIL, f"access review failed: "
                                f"{_first_line(exc)}")
                    break
                if not (result.status and result.status.allowed):
                    denied.append(verb)
            else:
                if denied:
                    yield Check(
                        f"rbac {label}", FAIL,
                        f"you may not {', '.join(denied)} {label} in namespace {self.namespace}",
                        f"kubectl -n {self.namespace} create role kedro-kinetic "
                        "--verb=get,list,watch,create,patch,delete,deletecollection "
                        "--resource=jobs.batch,pods,pods/log,secrets,events && kubectl -n "
                        f"{self.namespace} create rolebinding kedro-kinetic --role=kedro-kinetic "
                        "--user=YOU@example.com")
                else:
                    yield Check(f"rbac {label}", OK, f"may {', '.join(verbs)} in namespace "
                                f"{self.namespace}")

    def service_account(self, name: str) -> Check:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        ns = self.namespace
        label = f"service account {name}"
        try:
            account = client.CoreV1Api(self.api).read_namespaced_service_account(
                name, ns, _request_timeout=API_TIMEOUT)
        except ApiException as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return Check(label, FAIL, f"does not exist in namespace {ns}",
                             f"kubectl -n {ns} create serviceaccount {name}; for Workload "
                             f"Identity: kubectl -n {ns} annotate serviceaccount {name} "
                             "iam.gke.io/gcp-service-account=GSA@PROJECT.iam.gserviceaccount.com "
                             "and gcloud iam service-accounts add-iam-policy-binding "
                             "GSA@PROJECT.iam.gserviceaccount.com --role=roles/iam."
                             f"workloadIdentityUser --member='serviceAccount:PROJECT.svc.id."
                             f"goog[{ns}/{name}]'")
            if exc.status == HTTPStatus.FORBIDDEN:
                return Check(label, WARN, f"not verified: you may not read service accounts in "
                             f"namespace {ns}", "ask an admin whether it exists")
            return Check(label, FAIL, f"cannot read it: {exc.status} {exc.reason}")
        meta = account.metadata
        gsa = ((meta.annotations if meta else None) or {}).get("iam.gke.io/gcp-service-account")
        detail = (f"exists, Workload Identity as {gsa}" if gsa else
                  "exists (no iam.gke.io/gcp-service-account annotation: Google APIs see the "
                  "Kubernetes service account's own principal)")
        return Check(label, OK, detail)

    def secret(self, name: str, keys: Iterable[str]) -> Check:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        ns = self.namespace
        label = f"secret {name}"
        keys = sorted(keys)
        try:
            secret = client.CoreV1Api(self.api).read_namespaced_secret(
                name, ns, _request_timeout=API_TIMEOUT)
        except ApiException as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                source = ("--from-file=credentials.yml=conf/local/credentials.yml"
                          if keys == ["credentials.yml"] else
                          " ".join(f"--from-literal={k}=VALUE" for k in keys))
                return Check(label, FAIL, f"does not exist in namespace {ns}",
                             f"kubectl -n {ns} create secret generic {name} {source}")
            if exc.status == HTTPStatus.FORBIDDEN:
                return Check(label, WARN, f"not verified: you may not read Secrets in namespace "
                             f"{ns}", "ask an admin whether it exists with keys "
                             f"{', '.join(keys)}")
            return Check(label, FAIL, f"cannot read it: {exc.status} {exc.reason}")
        missing = [k for k in keys if k not in (secret.data or {})]
        if missing:
            return Check(label, FAIL, f"has no key {', '.join(missing)}",
                         f"add it: kubectl -n {ns} create secret generic {name} ... "
                         "--dry-run=client -o yaml | kubectl apply -f -")
        return Check(label, OK, f"exists with key(s) {', '.join(keys)}")

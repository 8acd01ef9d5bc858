"""What configuration may not choose, because it would choose code.

Configuration (parameters.yml, ``--params``, ``--runner-params``) is data,
written by people who must not decide what runs. So: some settings exist only
in code (:data:`CODE_ONLY`), environment variables that change what a process
loads or how data is verified are refused (:func:`env_name_refused`), an
image must come from a repository the project's code declares
(:func:`image_allowed`), and the Secrets and service accounts a pod gets must
be listed in code (:func:`identity_errors`); kedro-kinetic's own run-key
Secrets are never available to configuration. See SECURITY.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kedro_kinetic.wire.naming import CACHE_SECRET_PREFIX, key_secret

if TYPE_CHECKING:
    from kedro_kinetic.config.project_settings import ProjectSettings

#: Settings that choose what runs, so only code may give them (see project_settings).
CODE_ONLY = {
    "command": "the node command can only be set in code: settings.py KINETIC_COMMAND = "
               "[...] or GKERunner(command=(...)) in Python",
    "kubeconfig": "a kubeconfig can run commands (exec credential plugins), so it can only "
                  "be chosen by $KUBECONFIG or settings.py KINETIC_KUBECONFIG",
    "dataset_allowlist": "the allowlist can only be extended in code: settings.py "
                         "KINETIC_DATASET_ALLOWLIST or GKERunner(allow=[...])",
    "mount_service_account_token": "whether pods get a Kubernetes API token can only be "
                                   "chosen in code: settings.py "
                                   "KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN = True",
}
#: Environment variables configuration may not set: they change what a process loads
#: (interpreter, dynamic loader, shells, libraries reading plugins or config files by
#: name), where credentials come from, or how kedro-kinetic reaches and verifies the
#: store. Exact names and prefixes, compared upper-cased. Code may allow a name
#: (settings.py KINETIC_ALLOWED_ENV); manifest hooks (code) may set anything.
REFUSED_ENV_PREFIXES = (
    "PYTHON", "LD_", "DYLD_", "KINETIC_", "KEDRO_", "GOOGLE_", "GCLOUD", "CLOUDSDK_",
    "KUBE", "AWS_", "AZURE_", "JAVA", "_JAVA", "JDK_", "SPARK_", "PYSPARK_", "HADOOP_",
    "OPENSSL_", "SSL_", "GCONV", "MALLOC_", "GLIBC_", "MPL", "MATPLOTLIB", "FSSPEC_",
    "PIP_", "CONDA", "VIRTUAL_ENV", "NODE_", "PERL", "RUBY", "GIT_", "XDG_", "IPYTHON",
    "JUPYTER", "BASH_", "GRPC_", "REQUESTS_", "CURL_", "NUMBA_", "JOBLIB_", "TCL",
    "TK_", "QT_", "GTK_", "GST_", "GIO_", "DBUS_",
    # libraries that import a module, or load a shared library, named by a variable:
    # loky (LOKY_PICKLER, imported with scikit-learn), sysconfig (_PYTHON_SYSCONFIGDATA_NAME),
    # Dynaconf (Kedro's settings), coverage/pytest start-up hooks, Dask preloads,
    # OpenTelemetry distros, Arrow's libhdfs, TensorFlow/PyTorch/NCCL/PJRT plugins, GDAL
    # drivers, ODBC drivers, Kerberos and SASL plugins, Keras backends
    "LOKY_", "_PYTHON", "DYNACONF", "COVERAGE_", "COV_CORE_", "PYTEST_", "DASK_", "OTEL_",
    "ARROW_", "PYARROW_", "TF_", "TORCH", "NCCL_", "PJRT_", "GDAL_", "CPL_", "PROJ_", "ODBC",
    "KRB5", "SASL_", "KERAS_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "SETUPTOOLS_",
    "DISTUTILS_",
)
#: Dynaconf reads ``<SETTING>_FOR_DYNACONF`` too (``LOADERS_FOR_DYNACONF`` names modules).
REFUSED_ENV_SUFFIXES = ("_FOR_DYNACONF",)
REFUSED_ENV_NAMES = frozenset({
    "HOME", "PATH", "SHELL", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND",
    "IFS", "CDPATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_HOST_CONF", "LOCALDOMAIN",
    "RES_OPTIONS", "TMPDIR", "TEMP", "TMP", "CLASSPATH", "STORAGE_EMULATOR_HOST",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY", "EDITOR", "VISUAL",
    "PAGER", "BROWSER", "TERMINFO", "TERMINFO_DIRS", "MAGIC", "HF_HOME", "TORCH_HOME",
    "SSLKEYLOGFILE",  # TLS session keys written to a file: the store's traffic readable
})


#: Every Secret kedro-kinetic makes for a run's key is named ``kinetic-run-<run label>``
#: (:func:`kedro_kinetic.wire.naming.key_secret`): a pod that reads one can forge results.
#: The node cache's Secret (``kinetic-cache-<store hash>``) holds the key that seals cache
#: entries: a pod that reads it can forge a cache hit.
OWN_SECRET_PREFIXES = (key_secret(""), CACHE_SECRET_PREFIX)
OWN_SECRET_PREFIX = "/".join(f"{prefix}*" for prefix in OWN_SECRET_PREFIXES)


def own_secret(name: str) -> bool:
    """Whether ``name`` is (or could be) one of kedro-kinetic's own key Secrets."""
    return name.strip().lower().startswith(OWN_SECRET_PREFIXES)


def env_name_refused(name: str) -> bool:
    """Whether configuration may not set environment variable ``name``."""
    upper = name.upper()
    return (upper in REFUSED_ENV_NAMES or upper.startswith(REFUSED_ENV_PREFIXES)
            or upper.endswith(REFUSED_ENV_SUFFIXES))


def _sections(raw: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """Yield ``(path, section, is_run_level)`` for every section of a raw block."""
    if not isinstance(raw, Mapping):
        return
    yield path, raw, True
    for name, section in (raw.get("pipelines") or {}).items() if isinstance(
            raw.get("pipelines"), Mapping) else ():
        yield from _sections(section, f"{path}.pipelines.{name}")
    if isinstance(raw.get("defaults"), Mapping):
        yield f"{path}.defaults", raw["defaults"], False
    for group in ("tags", "nodes"):
        for name, section in (raw.get(group) or {}).items() if isinstance(
                raw.get(group), Mapping) else ():
            if isinstance(section, Mapping):
                yield f"{path}.{group}.{name}", section, False


def image_repository(image: str) -> str:
    """``image`` without its tag and digest."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def image_allowed(image: str, repositories: Iterable[str]) -> bool:
    """Whether ``image`` is in one of ``repositories`` (``repo`` or ``prefix/``)."""
    repo = image_repository(image)
    return any(repo == allowed.rstrip("/") if not allowed.endswith("/")
               else repo.startswith(allowed) for allowed in repositories)


def policy_errors(raw: Any, path: str, settings: ProjectSettings,
                   images: list[tuple[str, str]]) -> list[str]:
    """What configuration may not choose: code-only keys, refused env names, Secrets and
    service accounts the project's code does not list."""
    errors = []
    for where, section, run_level in _sections(raw, path):
        if run_level:
            errors += [f"{where}.{key}: {why}" for key, why in CODE_ONLY.items()
                       if key in section]
        errors += identity_errors(where, section, run_level, settings)
        if isinstance(section.get("image"), str) and not run_level:
            images.append((f"{where}.image", section["image"]))
        for key in ("env", "secret_env"):
            names = section.get(key) if not run_level else None
            for name in names if isinstance(names, Mapping) else ():
                if env_name_refused(str(name)) and str(name) not in settings.allowed_env:
                    errors.append(
                        f"{where}.{key}.{name}: this variable changes what a node process "
                        "loads or how kedro-kinetic verifies its data, so configuration may "
                        "not set it (allow it in code: settings.py KINETIC_ALLOWED_ENV, or "
                        "patch the Job in a kinetic_job_manifest hook)")
    return errors


def _named_identities(where: str, section: Mapping[str, Any],
                      run_level: bool) -> Iterator[tuple[str, str, str]]:
    """``(kind, key path, name)`` of every Secret and service account a section names."""
    if run_level:
        if isinstance(section.get("credentials_secret"), str):
            yield "secret", f"{where}.credentials_secret", section["credentials_secret"]
        return
    refs = section.get("secret_env")
    for env, ref in refs.items() if isinstance(refs, Mapping) else ():
        if isinstance(ref, Mapping) and isinstance(ref.get("secret"), str):
            yield "secret", f"{where}.secret_env.{env}.secret", ref["secret"]
    if isinstance(section.get("service_account"), str):
        yield "service_account", f"{where}.service_account", section["service_account"]


def identity_errors(where: str, section: Mapping[str, Any], run_level: bool,
                    settings: ProjectSettings) -> list[str]:
    """Secrets and service accounts a section names that the project's code does not list.

    A Secret named by configuration is read by node code, and a service account gives
    the pod its Kubernetes and (Workload Identity) Google permissions, so only names
    listed in settings.py (``KINETIC_SECRETS``, ``KINETIC_SERVICE_ACCOUNTS``) may be
    used. kedro-kinetic's own run-key Secrets are refused even when listed.
    """
    errors = []
    for kind, key_path, name in _named_identities(where, section, run_level):
        if kind == "secret" and own_secret(name):
            errors.append(
                f"{key_path}: '{name}' is one of kedro-kinetic's own key Secrets "
                f"({OWN_SECRET_PREFIX}: the keys that seal node results and cache entries); "
                "configuration may never mount or reference one, and settings.py "
                "KINETIC_SECRETS cannot allow it: name another Secret")
        elif kind == "secret" and name not in settings.secrets:
            listed = ", ".join(settings.secrets) or "none listed"
            errors.append(
                f"{key_path}: Secret '{name}' is not listed in settings.py KINETIC_SECRETS "
                f"({listed}); its values reach node code, so the project's code declares "
                f"which Secrets configuration may use: add '{name}' to KINETIC_SECRETS in "
                "settings.py")
        elif kind == "service_account" and name not in settings.service_accounts:
            listed = ", ".join(settings.service_accounts) or "none listed"
            errors.append(
                f"{key_path}: service account '{name}' is not listed in settings.py "
                f"KINETIC_SERVICE_ACCOUNTS ({listed}); it gives the pods its Kubernetes and "
                "Google (Workload Identity) permissions, so the project's code declares which "
                f"ones configuration may use: add '{name}' to KINETIC_SERVICE_ACCOUNTS in "
                "settings.py")
    return errors


def image_errors(images: list[tuple[str, str]], settings: ProjectSettings) -> list[str]:
    repos = settings.image_repositories
    if repos is None:
        return [f"{where}: '{image}' chooses the code every pod runs, so its repository must "
                "be declared in code: add KINETIC_IMAGE_REPOSITORIES = "
                f"['{image_repository(image)}'] to the project's settings.py"
                for where, image in images]
    return [f"{where}: '{image}' is not in a repository listed in settings.py "
            f"KINETIC_IMAGE_REPOSITORIES ({', '.join(repos)})"
            for where, image in images if not image_allowed(image, repos)]

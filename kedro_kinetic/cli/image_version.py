"""Version skew between the driver and an image, made explicit.

``kedro kinetic build`` labels every image with the kedro-kinetic it installs and the task-spec
format that kedro-kinetic reads (:data:`LABEL_VERSION`, :data:`LABEL_TASK_FORMAT`; the
Dockerfile ``kedro kinetic init`` writes carries the same labels). ``kedro kinetic doctor``
reads them from the registry for every image pinned by digest and fails an image whose
kedro-kinetic cannot read the specs this driver writes, before any Job is created (the pod would
refuse each spec, naming both versions). The labels are read from the manifest the digest pins,
verified, so they describe the image the pods will run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kedro_kinetic import __version__
from kedro_kinetic.cli.doctor_checks import FAIL, WARN, Check
from kedro_kinetic.errors import BuildError
from kedro_kinetic.planning.manifest import image_is_pinned
from kedro_kinetic.wire.task_spec import SPEC_FORMAT
from kedro_kinetic.wire.text import printable

if TYPE_CHECKING:
    from collections.abc import Callable

LABEL_VERSION = "io.kedro-kinetic.version"
LABEL_TASK_FORMAT = "io.kedro-kinetic.task-format"
REGISTRY_TIMEOUT = 10.0
REBUILD = ("rebuild the image with this kedro-kinetic and pin it: kedro kinetic build --env "
           "<env> --push --write")


def image_labels_for_build() -> dict[str, str]:
    """The labels ``kedro kinetic build`` puts on an image it builds with this kedro-kinetic."""
    return {LABEL_VERSION: __version__, LABEL_TASK_FORMAT: SPEC_FORMAT}


def _shown(value: str | None) -> str:
    return printable(value, newlines=False)[:80] if value is not None else "(none)"


def _read(image: str) -> dict[str, str]:
    from kedro_kinetic.cli.registry import image_labels

    return image_labels(image, timeout=REGISTRY_TIMEOUT)


def check_image_version(image: str, check: Check,
                        read: Callable[[str], dict[str, str]] = _read) -> Check:
    """``check`` (of :func:`~kedro_kinetic.cli.doctor_checks.check_image`) refined by the
    image's kedro-kinetic labels, read from its registry when it is pinned by digest.

    A failed check, or an image not pinned by digest, is returned as it is; a registry that
    cannot be read leaves the status as it was and says why in the detail.
    """
    if check.status == FAIL or not image_is_pinned(image):
        return check
    try:
        labels = read(image)
    except BuildError as exc:
        reason = printable(str(exc).splitlines()[0], newlines=False)[:300]
        return Check(check.name, check.status, f"{check.detail}; its kedro-kinetic version was "
                     f"not read from the registry: {reason}", check.fix)
    version, task_format = labels.get(LABEL_VERSION), labels.get(LABEL_TASK_FORMAT)
    if version is None and task_format is None:
        return Check(check.name, WARN, f"{check.detail}, but it has no {LABEL_VERSION} label: "
                     "which kedro-kinetic it runs, and so which task format it reads, is "
                     "unknown", f"{REBUILD} (it labels the image)")
    if task_format != SPEC_FORMAT:
        return Check(check.name, FAIL, f"its kedro-kinetic {_shown(version)} reads task specs "
                     f"{_shown(task_format)}, but this driver's kedro-kinetic {__version__} "
                     f"writes {SPEC_FORMAT}: every pod would refuse its spec", REBUILD
                     + f" (or run kedro-kinetic {_shown(version)} here)")
    if version != __version__:
        return Check(check.name, WARN, f"{check.detail}; its kedro-kinetic {_shown(version)} "
                     f"differs from the driver's {__version__} (both read {SPEC_FORMAT})",
                     REBUILD)
    return Check(check.name, check.status, f"{check.detail}; kedro-kinetic {version} (task "
                 f"format {SPEC_FORMAT}) as in the driver", check.fix)

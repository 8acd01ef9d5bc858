"""A wheel of the kedro-kinetic this driver runs, for images built by ``kedro kinetic build``.

kedro-kinetic is not on the public package index, so an image built from the project's
Dockerfile installs it from a wheel copied into the build context. The wheel is made from the
running package itself, not from a source tree: the files of the ``kedro_kinetic`` package
this process imported (an editable install's source folder, or site-packages) and its
distribution's metadata (``METADATA``, ``entry_points.txt``). So the image runs exactly the
kedro-kinetic that pickled the payloads and wrote the task specs. The archive is reproducible
(sorted entries, fixed timestamps and modes): the same installation gives the same bytes, and
so the same content tag.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib import metadata
from pathlib import Path

from kedro_kinetic.errors import BuildError

DISTRIBUTION = "kedro-kinetic"
PACKAGE = "kedro_kinetic"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _package_dir() -> Path:
    import kedro_kinetic

    return Path(kedro_kinetic.__file__).resolve().parent


def installed_from_index() -> bool:
    """Whether the kedro-kinetic this process runs was installed by pip from a package index.

    That is: the imported package lies in the folder of a distribution that an installer
    recorded (``INSTALLER``) without a ``direct_url.json``, which pip writes for anything
    installed from a path, a URL or a VCS (editable installs included). Such a kedro-kinetic
    is on no index the image could install it from.
    """
    package = _package_dir()
    for dist in metadata.distributions(name=DISTRIBUTION):
        if dist.read_text("INSTALLER") is None:
            continue
        location = Path(str(dist.locate_file(""))).resolve()
        if package.parent == location:
            return dist.read_text("direct_url.json") is None
    return False


def _package_files() -> dict[str, bytes]:
    """The files of the kedro_kinetic package this process imported, by path in the wheel."""
    root = _package_dir()
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (
                ".pyc", ".pyo"):
            files[f"{PACKAGE}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return files


def _dist_info(dist: metadata.Distribution, name: str, version: str) -> dict[str, bytes]:
    info = f"{name}-{version}.dist-info"
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if not text:
        raise BuildError(f"the installed {DISTRIBUTION} {version} has no metadata; reinstall it "
                         "(pip install --force-reinstall ...)")
    files = {f"{info}/METADATA": text.encode()}
    for extra in ("entry_points.txt", "top_level.txt"):
        content = dist.read_text(extra)
        if content is not None:
            files[f"{info}/{extra}"] = content.encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: kedro-kinetic build\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    return files


def build_wheel(out_dir: Path) -> Path:
    """Write the running kedro-kinetic as ``<out_dir>/kedro_kinetic-<version>-py3-none-any.whl``.

    The package's files are those of the ``kedro_kinetic`` this process imported; the
    metadata (requirements, entry points) is its installed distribution's.

    Raises:
        BuildError: kedro-kinetic is not installed as a distribution, or its version is not
            the running package's.
    """
    from kedro_kinetic.version import __version__

    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise BuildError(f"{DISTRIBUTION} is not installed as a distribution in this "
                         "environment, so no wheel of it can be bundled: pip install it (an "
                         "editable install of a checkout works)") from None
    version = dist.version
    if version != __version__:
        raise BuildError(f"the installed {DISTRIBUTION} distribution is {version} but the "
                         f"running kedro_kinetic is {__version__}; reinstall it (pip install "
                         "-e . in a checkout)")
    name = PACKAGE
    files = _package_files()
    files.update(_dist_info(dist, name, version))
    record = f"{name}-{version}.dist-info/RECORD"
    lines = [f"{path},{_record_hash(data)},{len(data)}" for path, data in sorted(files.items())]
    files[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[path])
    return wheel

"""The wheel ``kedro kinetic build`` bundles: the running kedro-kinetic, reproducibly, and
installable by pip."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile

from kedro_kinetic import __version__
from kedro_kinetic.cli import wheel


def test_the_wheel_holds_the_running_package_and_its_metadata(tmp_path):
    built = wheel.build_wheel(tmp_path / "a")
    assert built.name == f"kedro_kinetic-{__version__}-py3-none-any.whl"
    info = f"kedro_kinetic-{__version__}.dist-info"
    with zipfile.ZipFile(built) as archive:
        names = archive.namelist()
        assert "kedro_kinetic/__init__.py" in names
        assert "kedro_kinetic/templates/Dockerfile.tmpl" in names  # package data
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        assert f"Version: {__version__}" in archive.read(f"{info}/METADATA").decode()
        assert "kinetic-pod" in archive.read(f"{info}/entry_points.txt").decode()
        record = archive.read(f"{info}/RECORD").decode().splitlines()
        for line in record[:-1]:  # every file's hash is right; RECORD lists itself last
            path, digest, size = line.rsplit(",", 2)
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={expected.decode()}" and int(size) == len(data), path
        assert record[-1] == f"{info}/RECORD,,"
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_the_same_installation_gives_the_same_bytes(tmp_path):
    first = wheel.build_wheel(tmp_path / "a").read_bytes()
    assert wheel.build_wheel(tmp_path / "b").read_bytes() == first


def test_pip_installs_it_and_it_runs(tmp_path):
    built = wheel.build_wheel(tmp_path / "w")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--target", str(target), str(built)], check=True, timeout=300)
    out = subprocess.run(
        [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "import kedro_kinetic.version as v, kedro_kinetic.wire.task_spec as t; "
         "print(v.__version__, t.__file__)", str(target)],
        capture_output=True, text=True, check=True, timeout=120).stdout.split()
    assert out[0] == __version__ and out[1].startswith(str(target))


def test_a_checkout_or_editable_install_is_not_from_an_index():
    # this test suite runs kedro-kinetic from its checkout (an editable install)
    assert wheel.installed_from_index() is False

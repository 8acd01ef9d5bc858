"""``kedro kinetic build`` against a real registry (distribution's, on 127.0.0.1) with buildah.

The project's Dockerfile here is a small ``FROM scratch`` one (no base image, no RUN), so the
test needs no network and no container runtime, only buildah, skopeo and the registry: what
it proves is the command's own work. The context holds kedro-kinetic's wheel, the image is
pushed, the digest pinned is the registry's manifest digest (not the local image id), ``--write``
records it, the image carries kedro-kinetic's labels, and ``doctor`` reads them back from the
registry and fails an image whose kedro-kinetic reads another task format. The real kubelet
tier (test_real_kubelet.py) builds demo_project's full image the same way and runs it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from benchmarks.projects import add_code_settings
from kedro_kinetic import __version__
from kedro_kinetic.wire.task_spec import SPEC_FORMAT
from tests.bench.processes import free_port
from tests.bench.real.demo_image import CONTAINERS_PATHS
from tests.bench.real.fixtures import require_builder
from tests.bench.real.host import created_paths_removed, unmount_below
from tests.conftest import copy_demo, kedro_cmd, subprocess_env
from tests.kedro_run import RUN_CEILING, wait_until

pytestmark = [pytest.mark.bench, pytest.mark.e2e]

WHEEL = f"kedro_kinetic-{__version__}-py3-none-any.whl"
DOCKERFILE = ("FROM scratch\nARG KEDRO_KINETIC\nCOPY pyproject.toml /project/\n"
              "COPY ${KEDRO_KINETIC} /wheels/\n")


@pytest.fixture
def project(tmp_path, bench_registry):
    """A demo copy whose ``reg`` environment names an image in the bench registry."""
    require_builder("buildah", "skopeo")
    project = copy_demo(tmp_path)
    (project / "Dockerfile").write_text(DOCKERFILE)
    add_code_settings(project, image_repositories=[bench_registry.prefix])
    (project / "conf" / "reg").mkdir()
    (project / "conf" / "reg" / "parameters.yml").write_text(yaml.safe_dump({"kinetic": {
        "backend": "kubernetes", "image_policy": "require_digest",
        # pinned already (an earlier build's): the repository is what build reads from it
        "image": bench_registry.repository("scratch-demo") + "@sha256:" + "0" * 64,
        "store": "gs://kinetic-no-bucket/reg"}}))
    return project


@pytest.fixture
def builder_env(tmp_path, bench_registry):
    """buildah and skopeo with storage under tmp_path and the bench registry over HTTP."""
    conf = tmp_path / "containers"
    conf.mkdir()
    (conf / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{tmp_path / "storage"}"\n'
        f'runroot = "{tmp_path / "run"}"\n')
    (conf / "registries.conf").write_text(
        f'[[registry]]\nlocation = "{bench_registry.host}"\ninsecure = true\n')
    (conf / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}\n')
    with created_paths_removed(CONTAINERS_PATHS):
        yield {"CONTAINERS_STORAGE_CONF": str(conf / "storage.conf"),
               "CONTAINERS_REGISTRIES_CONF": str(conf / "registries.conf"),
               "TMPDIR": str(tmp_path), "policy": str(conf / "policy.json"),
               # doctor's store probe: an emulator address nobody listens on (no network)
               "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{free_port()}"}
        unmount_below([tmp_path])


def kinetic(project, env, *args, timeout=600):
    extra = {k: v for k, v in env.items() if k != "policy"}
    return subprocess.run([*kedro_cmd(), "kinetic", *args], cwd=project,
                          env=subprocess_env(**extra), capture_output=True, text=True,
                          timeout=timeout, check=False)


def build(project, env):
    return kinetic(project, env, "build", "--env", "reg", "--builder", "buildah", "--push",
                   "--write", f"--builder-arg=--signature-policy={env['policy']}")


def doctor_line(project, env, image):
    proc = kinetic(project, env, "doctor", "--env", "reg", timeout=300)
    [line] = [line for line in proc.stdout.splitlines() if f" image {image}:" in line]
    return proc.returncode, line


def test_build_push_pin_write_and_doctor_against_a_real_registry(project, builder_env,
                                                                 bench_registry):
    proc = build(project, builder_env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    repo = bench_registry.repository("scratch-demo")
    [pinned] = re.findall(rf"^image: ({re.escape(repo)}@sha256:[0-9a-f]{{64}})$",
                          proc.stdout, re.M)
    digest = pinned.split("@", 1)[1]
    [tag] = re.findall(r"building \S+:(ctx-[0-9a-f]{16}) for linux/amd64 with buildah",
                       proc.stderr)
    # the pin is the manifest the registry serves under the pushed tag ...
    assert bench_registry.digest("scratch-demo", tag) == digest
    manifest = json.loads(bench_registry.manifest("scratch-demo", digest)[0])
    config = json.loads(bench_registry.blob("scratch-demo", manifest["config"]["digest"]))
    # ... not the local image id (the config's digest, which `buildah images` shows)
    assert manifest["config"]["digest"] != digest
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    labels = config["config"]["Labels"]
    assert labels["io.kedro-kinetic.version"] == __version__
    assert labels["io.kedro-kinetic.task-format"] == SPEC_FORMAT
    # kedro-kinetic went into the image as the bundled wheel
    names = set()
    for layer in manifest["layers"]:
        data = bench_registry.blob("scratch-demo", layer["digest"])
        if layer["mediaType"].endswith("+gzip"):
            data = gzip.decompress(data)
        names |= set(tarfile.open(fileobj=io.BytesIO(data)).getnames())
    assert f"wheels/{WHEEL}" in names and "project/pyproject.toml" in names
    assert not (project / ".kinetic-build").exists()
    # --write: recorded in the environment's kinetic block
    recorded = yaml.safe_load((project / "conf" / "reg" / "parameters.yml").read_text())
    assert recorded["kinetic"]["image"] == pinned
    assert "recorded kinetic.image in conf/reg/parameters.yml" in proc.stderr
    # doctor reads the image's kedro-kinetic from the registry, by the pinned digest
    _, line = doctor_line(project, builder_env, pinned)
    assert line == (f"ok   image {pinned}: well-formed, pinned by digest; kedro-kinetic "
                    f"{__version__} (task format {SPEC_FORMAT}) as in the driver")

    # the same content gives the same tag (the reference --write recorded does not count)
    again = build(project, builder_env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert re.findall(r"building \S+:(ctx-[0-9a-f]{16}) ", again.stderr) == [tag]


def test_doctor_fails_an_image_whose_kedro_kinetic_reads_another_format(
        project, builder_env, bench_registry):
    proc = build(project, builder_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    digest = re.search(r"^image: \S+@(sha256:[0-9a-f]{64})$", proc.stdout, re.M).group(1)
    old = bench_registry.derived_image("scratch-demo", digest, "old-kinetic", labels={
        "io.kedro-kinetic.version": "0.0.1", "io.kedro-kinetic.task-format":
        "kedro-kinetic/task@0"})
    image = f"{bench_registry.repository('scratch-demo')}@{old}"
    params = project / "conf" / "reg" / "parameters.yml"
    block = yaml.safe_load(params.read_text())
    block["kinetic"]["image"] = image
    params.write_text(yaml.safe_dump(block))
    code, line = doctor_line(project, builder_env, image)
    assert code == 1
    assert line.startswith(
        f"FAIL image {image}: its kedro-kinetic 0.0.1 reads task specs kedro-kinetic/task@0, "
        f"but this driver's kedro-kinetic {__version__} writes {SPEC_FORMAT}: every pod "
        "would refuse its spec -- fix: rebuild the image with this kedro-kinetic")


#: A ``buildah`` first on PATH: the real one, then, after a successful push, it names the
#: pushed reference in ``pushed`` and waits for the test to move the tag (``moved``) before it
#: exits, so the registry is changed between this build's push and its digest read.
RACING_BUILDAH = r'''#!{python}
import os, pathlib, subprocess, sys, time
args = sys.argv[1:]
code = subprocess.call([{buildah!r}, *args])
if code == 0 and args[:1] == ["push"]:
    signals = pathlib.Path(os.environ["KINETIC_TEST_PUSH_SIGNALS"])
    (signals / "pushed").write_text(args[-1])
    deadline = time.monotonic() + 300
    while not (signals / "moved").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
sys.exit(code)
'''


def test_a_tag_moved_between_push_and_digest_read_is_not_pinned(project, builder_env,
                                                                bench_registry, tmp_path):
    """Someone who can push to the repository moves the freshly pushed tag to their own
    manifest before the build reads the digest back: the build refuses, naming both digests,
    and records nothing."""
    first = build(project, builder_env)  # a genuine image to derive the attacker's from
    assert first.returncode == 0, first.stderr[-3000:]
    genuine = re.search(r"^image: \S+@(sha256:[0-9a-f]{64})$", first.stdout, re.M).group(1)
    params = project / "conf" / "reg" / "parameters.yml"
    recorded = params.read_text()
    assert genuine in recorded
    with (project / "pyproject.toml").open("a") as handle:  # new content: a new tag
        handle.write("\n# changed\n")
    signals, bin_dir = tmp_path / "signals", tmp_path / "racing-bin"
    signals.mkdir()
    bin_dir.mkdir()
    wrapper = bin_dir / "buildah"
    wrapper.write_text(RACING_BUILDAH.format(python=sys.executable,
                                             buildah=shutil.which("buildah")))
    wrapper.chmod(0o755)
    env = subprocess_env(**{k: v for k, v in builder_env.items() if k != "policy"},
                         PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                         KINETIC_TEST_PUSH_SIGNALS=str(signals))
    proc = subprocess.Popen(
        [*kedro_cmd(), "kinetic", "build", "--env", "reg", "--builder", "buildah", "--push",
         "--write", f"--builder-arg=--signature-policy={builder_env['policy']}"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pushed_ref = wait_until(lambda: (signals / "pushed").exists()
                                and (signals / "pushed").read_text(), timeout=RUN_CEILING,
                                message="the build never pushed")
        tag = pushed_ref.rsplit(":", 1)[1]
        pushed = bench_registry.digest("scratch-demo", tag)
        moved = bench_registry.derived_image("scratch-demo", genuine, tag,
                                             labels={"attacker": "moved the tag"})
        assert bench_registry.digest("scratch-demo", tag) == moved != pushed  # delivered
        (signals / "moved").write_text("")
        out, err = proc.communicate(timeout=RUN_CEILING)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    text = " ".join((out + err).split())
    assert f"the registry serves {moved} for" in text
    assert f"but this build pushed {pushed}: the tag was moved after the push" in text
    assert params.read_text() == recorded  # nothing recorded: the attacker's digest nowhere
    assert moved not in out

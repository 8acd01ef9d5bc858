"""``kedro kinetic build``'s steps with fake builder programs on PATH: the commands it runs,
the digest it reads back, the content tag, and one clear error per failing step."""

from __future__ import annotations

import json

import pytest

from kedro_kinetic import __version__
from kedro_kinetic.cli.build import WHEEL_DIR, run_build
from kedro_kinetic.config.policy import image_repository
from kedro_kinetic.config.project_settings import ProjectSettings
from kedro_kinetic.errors import BuildError
from kedro_kinetic.wire.task_spec import SPEC_FORMAT
from tests.unit.cli import build_fakes
from tests.unit.cli.build_fakes import DIGEST

REPO = "europe-west4-docker.pkg.dev/acme/kedro/demo"
ALLOWED = ProjectSettings(image_repositories=("europe-west4-docker.pkg.dev/acme/kedro/",))
WHEEL = f"kedro_kinetic-{__version__}-py3-none-any.whl"
LABELS = {"io.kedro-kinetic.version": __version__, "io.kedro-kinetic.task-format": SPEC_FORMAT}


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """Fake programs first on PATH (and nothing else: a real builder is never found)."""
    bin_dir = tmp_path / "bin"
    build_fakes.install(bin_dir)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_DIGEST", DIGEST)
    monkeypatch.setenv("FAKE_LABELS", json.dumps(LABELS))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no application-default credentials
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    return bin_dir, log


@pytest.fixture
def project(tmp_path):
    """A small project: source, data, conf/local credentials, no Dockerfile yet."""
    root = tmp_path / "proj"
    (root / "src" / "proj").mkdir(parents=True)
    (root / "src" / "proj" / "nodes.py").write_text("def f(x):\n    return x\n")
    (root / "requirements.txt").write_text("kedro\n")
    (root / "data" / "01_raw").mkdir(parents=True)
    (root / "data" / "01_raw" / "big.csv").write_text("a,b\n1,2\n")
    (root / "conf" / "local").mkdir(parents=True)
    (root / "conf" / "local" / "credentials.yml").write_text("token: s3cret\n")
    return root


def options(**over):
    base = {"builder": "buildah", "platform": "linux/amd64", "push": True, "repository": None,
            "kinetic_from": "wheel", "build_args": {}, "builder_args": ()}
    return {**base, **over}


def build(project, block=None, settings=ALLOWED, **over):
    block = {"image": f"{REPO}:latest"} if block is None else block
    return run_build(project, "proj", "gke", options(**over), block, settings)


def by_verb(calls, program, verb):
    return [c for c in calls if c[0] == program and verb in c[1:]]


def test_buildah_builds_pushes_and_pins_the_registrys_digest(fakes, project, capsys):
    _, log = fakes
    pinned = build(project)
    assert pinned == f"{REPO}@{DIGEST}"
    calls = build_fakes.calls(log)
    [bud] = by_verb(calls, "buildah", "bud")
    tag = bud[bud.index("-t") + 1]
    assert tag.startswith(f"{REPO}:ctx-") and len(tag.rsplit("-", 1)[1]) == 16
    assert bud[bud.index("--platform") + 1] == "linux/amd64"
    assert bud[bud.index("-f") + 1] == "Dockerfile" and bud[-1] == str(project)
    assert f"KEDRO_KINETIC=./{WHEEL_DIR}/{WHEEL}" in bud
    assert {f"{k}={v}" for k, v in LABELS.items()} <= set(bud)
    [push] = by_verb(calls, "buildah", "push")
    assert push[:3] == ["buildah", "push", "--digestfile"] and push[4:] == [tag, f"docker://{tag}"]
    [inspect] = by_verb(calls, "skopeo", "inspect")
    assert inspect[-1] == f"docker://{tag}" and inspect[inspect.index("--override-arch") + 1] \
        == "amd64"
    [build_index, push_index, inspect_index] = [calls.index(c) for c in (
        bud, push, inspect)]
    assert build_index < push_index < inspect_index
    err = capsys.readouterr().err
    assert f"context wheels: [\"{WHEEL}\"]" in err  # bundled while the build ran ...
    assert not (project / WHEEL_DIR).exists()  # ... and removed after
    for step in range(1, 6):
        assert f"[kinetic build {step}/5]" in err
    # the Dockerfile and .dockerignore init writes, since the project had none
    assert "ARG KEDRO_KINETIC" in (project / "Dockerfile").read_text()
    assert "conf/local/" in (project / ".dockerignore").read_text()


def test_the_tag_is_a_hash_of_what_goes_into_the_image(fakes, project):
    _, log = fakes

    def tag():
        build(project, push=False)
        bud = by_verb(build_fakes.calls(log), "buildah", "bud")[-1]
        return bud[bud.index("-t") + 1]

    first = tag()
    assert tag() == first  # same content, same tag (the bundled wheel is reproducible)
    (project / "data" / "01_raw" / "big.csv").write_text("changed,but,ignored\n")
    assert tag() == first  # data/ stays out of the image
    (project / "src" / "proj" / "nodes.py").write_text("def f(x):\n    return 2 * x\n")
    second = tag()
    assert second != first
    assert build(project, push=False, build_args={"EXTRA_PACKAGES": "gcsfs polars"}) is None
    bud = by_verb(build_fakes.calls(log), "buildah", "bud")[-1]
    assert bud[bud.index("-t") + 1] != second
    assert not by_verb(build_fakes.calls(log), "buildah", "push")  # --push not given


def test_docker_reads_the_digest_with_buildx_imagetools(fakes, project):
    _, log = fakes
    assert build(project, builder="docker") == f"{REPO}@{DIGEST}"
    calls = build_fakes.calls(log)
    [docker_build] = by_verb(calls, "docker", "build")
    tag = docker_build[docker_build.index("-t") + 1]
    assert by_verb(calls, "docker", "push") == [["docker", "push", tag]]
    [inspect] = by_verb(calls, "docker", "buildx")
    assert inspect[1:5] == ["buildx", "imagetools", "inspect", tag]
    assert not by_verb(calls, "skopeo", "inspect")


@pytest.mark.parametrize("builder", ["buildah", "podman", "docker"])
def test_a_tag_moved_after_the_push_is_not_pinned(fakes, project, monkeypatch, builder):
    """Whoever can push to the repository moves the tag between this build's push and the
    digest read: the registry then serves their manifest. It is refused, naming both."""
    other = "sha256:" + "e" * 64
    monkeypatch.setenv("FAKE_PUSHED", other)  # the push reported this; the registry serves DIGEST
    with pytest.raises(BuildError) as info:
        build(project, builder=builder)
    message = str(info.value)
    assert message.startswith("step 'read digest': the registry serves " + DIGEST)
    assert f"but this build pushed {other}: the tag was moved after the push" in message
    assert "nothing was pinned" in message


@pytest.mark.parametrize("builder", ["podman", "docker"])
def test_podman_and_docker_pin_what_their_push_reported(fakes, project, builder):
    _, log = fakes
    assert build(project, builder=builder) == f"{REPO}@{DIGEST}"
    [push] = by_verb(build_fakes.calls(log), builder, "push")
    assert ("--digestfile" in push) == (builder == "podman")


def test_cloud_build_submits_a_config_and_keeps_secrets_out_of_the_upload(fakes, project,
                                                                          capsys):
    _, log = fakes
    assert build(project, builder="cloud-build") == f"{REPO}@{DIGEST}"
    calls = build_fakes.calls(log)
    [submit] = by_verb(calls, "gcloud", "builds")
    assert submit[1:3] == ["builds", "submit"] and submit[-1] == str(project)
    err = capsys.readouterr().err
    config = json.loads(err.split("config: ", 1)[1].splitlines()[0])
    [step] = config["steps"]
    tag = config["images"][0]
    assert step["name"] == "gcr.io/cloud-builders/docker" and step["args"][-1] == "."
    assert step["args"][step["args"].index("--platform") + 1] == "linux/amd64"
    ignore = json.loads(err.split("ignore: ", 1)[1].splitlines()[0])
    assert "conf/local/" in ignore and "data/" in ignore and "Dockerfile" not in ignore
    assert not by_verb(calls, "docker", "push")  # Cloud Build pushed it
    [describe] = by_verb(calls, "gcloud", "artifacts")
    assert tag in describe


def test_without_push_nothing_is_pushed_and_no_digest_is_claimed(fakes, project, capsys):
    _, log = fakes
    assert build(project, push=False) is None
    assert not by_verb(build_fakes.calls(log), "buildah", "push")
    assert "not pushed, so it has no registry digest yet" in capsys.readouterr().err


def test_a_missing_builder_is_named_with_what_to_install(fakes, project):
    bin_dir, _ = fakes
    (bin_dir / "buildah").unlink()
    with pytest.raises(BuildError, match=r"the buildah builder needs `buildah`, which is not "
                                         r"on PATH: install buildah"):
        build(project)
    assert not (project / "Dockerfile").exists()  # refused before touching the project


@pytest.mark.parametrize(("output", "hint"), [
    ("Error: unauthorized: authentication required",
     "no credentials for europe-west4-docker.pkg.dev: gcloud auth configure-docker "
     "europe-west4-docker.pkg.dev"),
    ("name unknown: Repository \"kedro\" not found",
     f"the repository {REPO} is missing: gcloud artifacts repositories create"),
])
def test_a_failed_push_names_the_step_and_the_fix(fakes, project, monkeypatch, output, hint):
    monkeypatch.setenv("FAKE_FAIL_BUILDAH", f"push:{output}")
    with pytest.raises(BuildError) as error:
        build(project)
    message = str(error.value)
    assert message.startswith("step 'push': ")
    assert hint in message and output in message  # the tool's own last lines too


def test_a_docker_without_its_daemon_is_named(fakes, project, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL_DOCKER", "build:Cannot connect to the Docker daemon at "
                       "unix:///var/run/docker.sock. Is the docker daemon running?")
    with pytest.raises(BuildError, match=r"^step 'build': .*docker build exited with 1: the "
                                         r"Docker daemon is not running: start Docker"):
        build(project, builder="docker")


def test_an_unreachable_registry_is_named(fakes, project, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL_BUILDAH", "push:dial tcp 10.1.2.3:443: connect: connection "
                       "refused")
    with pytest.raises(BuildError, match=r"^step 'push': .*cannot reach the registry "
                                         r"europe-west4-docker.pkg.dev"):
        build(project)


def test_a_failed_build_names_the_step(fakes, project, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL_BUILDAH", "bud:error building at STEP \"RUN pip install\"")
    with pytest.raises(BuildError, match=r"^step 'build': .*buildah bud exited with 1"):
        build(project)
    assert not (project / WHEEL_DIR).exists()


def test_the_repository_must_be_one_settings_py_allows(fakes, project):
    with pytest.raises(BuildError, match=r"step 'configuration': kinetic.image names "
                                         r"repository evil.example/x, which settings.py does "
                                         r"not allow \(KINETIC_IMAGE_REPOSITORIES declares "
                                         r"europe-west4"):
        build(project, block={"image": "evil.example/x:1"})
    with pytest.raises(BuildError, match="declares none"):
        build(project, settings=ProjectSettings())
    assert build(project, repository=f"{REPO}-other") == f"{REPO}-other@{DIGEST}"


@pytest.mark.parametrize("block", [{}, {"image": "local/kedro-project:latest"}, None])
def test_no_repository_named_is_one_clear_error(fakes, project, block):
    with pytest.raises(BuildError, match=r"no repository to push to: set kinetic\.image"):
        run_build(project, "proj", None, options(), block, ALLOWED)


def test_a_repository_that_could_be_an_option_is_refused(fakes, project):
    with pytest.raises(BuildError, match="is not a well-formed image repository"):
        build(project, block={"image": "--output=/etc/x"},
              settings=ProjectSettings(image_repositories=("--",)))


def test_a_context_that_would_carry_credentials_is_refused(fakes, project):
    (project / ".dockerignore").write_text("data/\n")  # forgets conf/local
    with pytest.raises(BuildError, match=r"step 'context': .dockerignore lets "
                                         r"conf/local/credentials.yml into the image"):
        build(project)
    assert not build_fakes.calls(fakes[1])


def test_an_ignored_wheel_folder_is_named(fakes, project):
    (project / ".dockerignore").write_text("conf/local/\n.*\n")
    with pytest.raises(BuildError, match=rf"keeps {WHEEL_DIR}/{WHEEL} out .* `!{WHEEL_DIR}/`"):
        build(project)


def test_missing_labels_on_the_pushed_image_are_reported(fakes, project, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_LABELS", "{}")
    assert build(project) == f"{REPO}@{DIGEST}"
    assert "the pushed image lacks the labels" in capsys.readouterr().err


def test_no_digest_anywhere_names_the_step(fakes, project, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL_SKOPEO", "inspect:unauthorized: access denied")
    with pytest.raises(BuildError) as error:
        build(project)
    message = str(error.value)
    assert message.startswith("step 'read digest': could not read the digest of "
                              f"{REPO}:ctx-")
    assert "skopeo: step 'read digest'" in message
    assert "no application-default credentials" in message  # the HTTP API: no network try


def test_kinetic_from_index_pins_this_version(fakes, project):
    _, log = fakes
    build(project, kinetic_from="index", push=False)
    [bud] = by_verb(build_fakes.calls(log), "buildah", "bud")
    assert f"KEDRO_KINETIC=kedro-kinetic=={__version__}" in bud
    assert not (project / WHEEL_DIR).exists()


def test_builder_args_go_to_the_build_command(fakes, project):
    _, log = fakes
    build(project, push=False, builder_args=("--pull=never", "--network=host"))
    [bud] = by_verb(build_fakes.calls(log), "buildah", "bud")
    assert bud[-3:] == ["--pull=never", "--network=host", str(project)]


def test_image_repository_strips_tag_and_digest():
    assert image_repository("r.io:5000/a/b:tag@sha256:" + "a" * 64) == "r.io:5000/a/b"
    assert image_repository("127.0.0.1:5000/x") == "127.0.0.1:5000/x"
    assert image_repository("python:3.11") == "python"


def test_existing_dockerfile_is_used_as_it_is(fakes, project, capsys):
    (project / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")
    build(project, push=False)
    assert (project / "Dockerfile").read_text() == "FROM scratch\nCOPY . /app\n"
    assert "declares no `ARG KEDRO_KINETIC`" in capsys.readouterr().err



def kinetic(*args):
    from click.testing import CliRunner

    from kedro_kinetic.cli.commands import commands

    return CliRunner().invoke(commands, ["kinetic", *args], catch_exceptions=False)


def test_the_command_is_registered_and_refuses_write_without_push(demo):
    result = kinetic("build", "--write")
    assert result.exit_code == 2 and "--write records the pushed image's digest: add --push" \
        in result.output
    assert "--builder [docker|podman|buildah|cloud-build]" in kinetic("build", "--help").output


def test_the_command_reads_the_repository_from_the_envs_config(demo, fakes):
    # demo_project's kinetic.image is python:3.11-slim; its settings.py allows only its
    # Artifact Registry repositories
    result = kinetic("build", "--builder", "buildah", "--push")
    assert result.exit_code == 1
    assert "Error: step 'configuration': kinetic.image names repository python, which " \
           "settings.py does not allow (KINETIC_IMAGE_REPOSITORIES declares " \
           "europe-west4-docker.pkg.dev/my-project/kedro/" in result.output
    assert not build_fakes.calls(fakes[1])

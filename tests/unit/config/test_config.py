from __future__ import annotations

import pytest

from kedro_kinetic import config
from kedro_kinetic.config.project_settings import ProjectSettings


def test_precedence_defaults_pipeline_tag_node_runner_params():
    block = {
        "defaults": {"cpu": "250m", "memory": "512Mi", "retries": 0},
        "pipelines": {"ds": {"defaults": {"memory": "1Gi"}, "max_parallel": 2}},
        "tags": {"heavy": {"memory": "2Gi", "cpu": "1"}},
        "nodes": {"train": {"cpu": "2"}},
    }
    cfg = config.load(block, ["ds"], {"nodes": {"train": {"retries": 3}}})
    train = cfg.node_settings("train", ["heavy"])
    assert (train.cpu, train.memory, train.retries) == ("2", "2Gi", 3)
    other = cfg.node_settings("other", [])
    assert (other.cpu, other.memory, other.retries) == ("250m", "1Gi", 0)
    assert cfg.max_parallel == 2
    assert config.load(block, ["__default__"]).max_parallel == 4


def test_runner_params_beat_node_overrides():
    block = {"nodes": {"n": {"memory": "4Gi"}}}
    cfg = config.load(block, overrides={"defaults": {"memory": "1Gi"}, "max_parallel": 1})
    assert cfg.node_settings("n").memory == "1Gi"
    assert cfg.max_parallel == 1


def test_every_problem_is_reported_with_its_key_path():
    block = {
        "bogus": 1,
        "max_parallel": 0,
        "defaults": {"memory": "12Gb", "gpu": {"count": 1}, "env": {"1BAD": "x"}},
        "tags": {"heavy": {"cpu": True}},
        "pipelines": {"ds": {"namespace": "Not_Valid"}},
    }
    with pytest.raises(config.ConfigError) as info:
        config.load(block, ["ds"], {"stor": "x"})
    text = str(info.value)
    for fragment in (
        "kinetic.bogus: unknown key",
        "kinetic.max_parallel: expected an integer >= 1",
        "kinetic.defaults.memory: '12Gb' is not a Kubernetes quantity",
        "kinetic.defaults.gpu.type: required",
        "kinetic.defaults.env: '1BAD' is not a valid environment variable name",
        "kinetic.tags.heavy.cpu: expected a Kubernetes quantity",
        "kinetic.pipelines.ds.namespace: 'Not_Valid' is not a DNS-1123 label",
        "--runner-params.stor: unknown key",
    ):
        assert fragment in text


def test_kubernetes_backend_needs_image_and_gcs_store():
    with pytest.raises(config.ConfigError, match=r"kinetic\.image: required"):
        config.load({"backend": "kubernetes", "store": "gs://b/p"})
    with pytest.raises(config.ConfigError, match="gs://bucket/prefix"):
        config.load({"backend": "kubernetes", "image": "img", "store": "data/x"},
                    settings=ProjectSettings(image_repositories=("img",)))


# --- what configuration may not choose (it is data) ---------------------------------

@pytest.mark.parametrize("where", ["block", "pipeline", "runner-params"])
@pytest.mark.parametrize("key", ["command", "kubeconfig", "dataset_allowlist"])
def test_code_only_settings_are_refused_from_configuration(where, key):
    value = ["sh", "-c", "touch /tmp/x"] if key != "kubeconfig" else "/tmp/evil-kubeconfig"
    block, overrides = {}, {}
    if where == "block":
        block = {key: value}
    elif where == "pipeline":
        block = {"pipelines": {"__default__": {key: value}}}
    else:
        overrides = {key: value}
    with pytest.raises(config.ConfigError) as info:
        config.load(block, ["__default__"], overrides)
    text = str(info.value)
    assert f".{key}: " in text and ("in code" in text or "KINETIC_KUBECONFIG" in text)


def test_command_and_kubeconfig_come_from_project_code():
    cfg = config.load({}, settings=ProjectSettings(command=("python", "-m", "mine"),
                                                   kubeconfig="/k"))
    assert cfg.command == ("python", "-m", "mine") and cfg.kubeconfig == "/k"
    assert config.load({}).command == config.DEFAULT_COMMAND


@pytest.mark.parametrize("name", [
    "PYTHONPATH", "PYTHONSTARTUP", "PYTHONWARNINGS", "PYTHONHOME", "pythonpath", "LD_PRELOAD",
    "LD_LIBRARY_PATH", "LD_AUDIT", "KINETIC_RESULT_KEY", "KINETIC_CREDENTIALS_FILE",
    "KINETIC_CONF_SOURCE", "KEDRO_LOGGING_CONFIG", "GOOGLE_APPLICATION_CREDENTIALS",
    "STORAGE_EMULATOR_HOST", "HOME", "PATH", "BASH_ENV", "ENV", "GCONV_PATH", "OPENSSL_CONF",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "PYSPARK_PYTHON", "MPLBACKEND", "GLIBC_TUNABLES",
    "https_proxy", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "KUBECONFIG", "XDG_CONFIG_HOME",
    "LOKY_PICKLER", "_PYTHON_SYSCONFIGDATA_NAME", "LOADERS_FOR_DYNACONF", "DYNACONF_LOADERS",
    "COVERAGE_PROCESS_START", "ARROW_LIBHDFS_DIR", "SSLKEYLOGFILE", "TF_PLUGGABLE_DEVICE_LIBRARY",
    "NCCL_NET_PLUGIN", "GDAL_DRIVER_PATH", "ODBCSYSINI",
])
@pytest.mark.parametrize("section", ["defaults", "tags", "nodes", "pipeline", "runner-params"])
@pytest.mark.parametrize("key", ["env", "secret_env"])
def test_env_names_that_change_what_a_process_loads_are_refused(name, section, key):
    value = "x" if key == "env" else {"secret": "s", "key": "k"}
    node = {key: {name: value}}
    block, overrides = {}, {}
    if section == "defaults":
        block = {"defaults": node}
    elif section == "tags":
        block = {"tags": {"heavy": node}}
    elif section == "nodes":
        block = {"nodes": {"n": node}}
    elif section == "pipeline":
        block = {"pipelines": {"__default__": {"defaults": node}}}
    else:
        overrides = {"defaults": node}
    with pytest.raises(config.ConfigError, match=f"{key}.{name}: this variable changes"):
        config.load(block, ["__default__"], overrides)


def test_ordinary_env_names_pass_and_code_may_allow_a_refused_one():
    cfg = config.load({"defaults": {"env": {"OMP_NUM_THREADS": "2", "MY_FLAG": "1"}}})
    assert cfg.node_settings("n").env == {"OMP_NUM_THREADS": "2", "MY_FLAG": "1"}
    allowed = ProjectSettings(allowed_env=frozenset({"JAVA_TOOL_OPTIONS"}))
    cfg = config.load({"defaults": {"env": {"JAVA_TOOL_OPTIONS": "-Xmx1g"}}}, settings=allowed)
    assert cfg.node_settings("n").env == {"JAVA_TOOL_OPTIONS": "-Xmx1g"}


K8S = {"backend": "kubernetes", "store": "gs://b/p"}
REPO = "europe-docker.pkg.dev/p/kedro/"


@pytest.mark.parametrize(("block", "overrides"), [
    ({**K8S, "image": "evil.example/x:latest"}, {}),
    ({**K8S, "image": REPO + "demo@sha256:" + "a" * 64}, {"image": "evil.example/x"}),
    ({**K8S, "image": REPO + "demo", "tags": {"t": {"image": "docker.io/evil/x"}}}, {}),
    ({**K8S, "image": REPO + "demo", "nodes": {"n": {"image": "europe-docker.pkg.dev/p/kedro"
                                                          "-evil/x"}}}, {}),
    ({**K8S, "image": REPO + "demo"}, {"defaults": {"image": "europe-docker.pkg.dev/p/x"}}),
])
def test_images_must_come_from_repositories_declared_in_code(block, overrides):
    settings = ProjectSettings(image_repositories=(REPO,))
    with pytest.raises(config.ConfigError, match="KINETIC_IMAGE_REPOSITORIES"):
        config.load(block, ["__default__"], overrides, settings)


def test_images_in_declared_repositories_pass_and_undeclared_ones_name_the_fix():
    image = REPO + "demo@sha256:" + "a" * 64
    cfg = config.load({**K8S, "image": image}, settings=ProjectSettings(
        image_repositories=(REPO,)))
    assert cfg.image == image
    exact = ProjectSettings(image_repositories=("europe-docker.pkg.dev/p/kedro/demo",))
    assert config.load({**K8S, "image": image}, settings=exact).image == image
    with pytest.raises(config.ConfigError, match=r"add KINETIC_IMAGE_REPOSITORIES = "
                                                 r"\['europe-docker.pkg.dev/p/kedro/demo'\]"):
        config.load({**K8S, "image": image})
    assert config.load({"image": "anything"}).image == "anything"  # local: not run


def test_gpu_and_tpu_settings_are_typed():
    cfg = config.load({"defaults": {"gpu": {"type": "nvidia-l4", "count": 2},
                                    "tpu": {"type": "tpu-v5-lite-podslice", "topology": "2x2"}}})
    settings = cfg.node_settings("n")
    assert settings.gpu == config.GPU("nvidia-l4", 2)
    assert settings.tpu == config.TPU("tpu-v5-lite-podslice", "2x2", 1)

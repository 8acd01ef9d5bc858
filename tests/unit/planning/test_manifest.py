from __future__ import annotations

import dataclasses

from kedro_kinetic import config
from kedro_kinetic.config.project_settings import ProjectSettings
from kedro_kinetic.planning import manifest
from kedro_kinetic.wire import naming

ATTEMPT = "e" * 32
PINS = manifest.Pins("gs://b/p/objects/aa", "a" * 64, "gs://b/p/objects/bb", "b" * 64,
                     "gs://b/p/results/n.json", ATTEMPT, payload_bytes=120, spec_bytes=30)


def _ident(name: str = "train([X,y]) -> [model]") -> manifest.JobIdentity:
    run_id = "2026-11-23T02.36.42.251Z"
    return manifest.JobIdentity(naming.job_name(name, run_id), name, naming.node_key(name),
                                run_id, naming.run_label(run_id), "__default__")


def test_render_pins_digests_and_carries_names():
    run = config.load({"image": "img@sha256:" + "c" * 64, "namespace": "ml"})
    job = manifest.render(_ident(), PINS, run.node_settings("n"), run)
    container = manifest.container_of(job)
    assert container["args"] == ["--spec", PINS.spec_uri, "--spec-sha256", "b" * 64,
                                 "--spec-bytes", "30",
                                 "--payload", PINS.payload_uri, "--payload-sha256", "a" * 64,
                                 "--payload-bytes", "120",
                                 "--result", PINS.result_uri, "--attempt", ATTEMPT]
    assert manifest.attempt_of(container) == ATTEMPT
    assert manifest.result_keys(job) == [naming.node_key("train([X,y]) -> [model]")]
    assert container["command"] == ["python", "-m", "kedro_kinetic.entrypoint"]
    meta = job["metadata"]
    assert meta["namespace"] == "ml"
    assert meta["annotations"][manifest.ANN_NODE_NAME] == "train([X,y]) -> [model]"
    assert meta["annotations"][manifest.ANN_PAYLOAD] == "a" * 64
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "kedro-kinetic"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "512Mi"},
                                      "limits": {"memory": "512Mi"}}
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 3600


def test_gpu_spot_tpu_and_secrets():
    listed = ProjectSettings(secrets=("project-creds", "api"), service_accounts=("kedro-runner",))
    run = config.load({
        "credentials_secret": "project-creds",
        "defaults": {"gpu": {"type": "nvidia-l4"}, "spot": True,
                     "secret_env": {"TOKEN": {"secret": "api", "key": "token"}},
                     "service_account": "kedro-runner"},
    }, settings=listed)
    job = manifest.render(_ident(), PINS, run.node_settings("n"), run)
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4",
                                   "cloud.google.com/gke-spot": "true"}
    assert {t["key"] for t in pod["tolerations"]} == {"nvidia.com/gpu", "cloud.google.com/gke-spot"}
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}} \
        in container["env"]
    assert pod["volumes"] == [{"name": "kinetic-credentials",
                               "secret": {"secretName": "project-creds"}}]
    assert pod["serviceAccountName"] == "kedro-runner"
    tpu = config.load({"defaults": {"tpu": {"type": "tpu-v5-lite-podslice", "topology": "2x4",
                                            "count": 8}}})
    pod = manifest.render(_ident(), PINS, tpu.node_settings("n"), tpu)["spec"]["template"]["spec"]
    assert pod["nodeSelector"]["cloud.google.com/gke-tpu-topology"] == "2x4"
    assert pod["containers"][0]["resources"]["limits"]["google.com/tpu"] == "8"


def test_image_pinning_detection():
    assert manifest.image_is_pinned("europe-docker.pkg.dev/p/r/img@sha256:" + "0" * 64)
    assert not manifest.image_is_pinned("python:3.11-slim")


def test_patched_manifest_may_add_but_not_unpin():
    import copy

    import pytest

    run = config.load({})
    job = manifest.render(_ident(), PINS, run.node_settings("n"), run)
    ok = copy.deepcopy(job)
    ok["spec"]["template"]["metadata"]["labels"]["team"] = "ml"
    ok["spec"]["template"]["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    assert manifest.check_patched(job, ok, "n") is ok
    bad_args = copy.deepcopy(job)
    manifest.container_of(bad_args)["args"] = ["--spec", PINS.spec_uri]
    with pytest.raises(manifest.ManifestError, match=r"node 'n'.*args"):
        manifest.check_patched(job, bad_args, "n")
    renamed = copy.deepcopy(job)
    renamed["metadata"]["name"] = "other"
    with pytest.raises(manifest.ManifestError, match=r"metadata\.name"):
        manifest.check_patched(job, renamed, "n")
    relabelled = copy.deepcopy(job)
    del relabelled["spec"]["template"]["metadata"]["labels"][manifest.LABEL_RUN]
    with pytest.raises(manifest.ManifestError, match="label"):
        manifest.check_patched(job, relabelled, "n")
    with pytest.raises(manifest.ManifestError, match="not a batch/v1 Job"):
        manifest.check_patched(job, ["nope"], "n")


def test_a_doorbell_is_the_last_argument_and_a_group_carries_one_too():
    run = config.load({"image": "img@sha256:" + "c" * 64})
    bell = "gs://b/p/notices/00000000000000000007-job"
    single = manifest.Pins("gs://b/p/objects/aa", "a" * 64, "gs://b/p/objects/bb", "b" * 64,
                           "gs://b/p/results/n.json", ATTEMPT, notice_uri=bell)
    group = manifest.Pins("gs://b/p/objects/aa", "a" * 64, "gs://b/g", "d" * 64,
                          "gs://b/p/results/n.json", ATTEMPT, group_uri="gs://b/g",
                          group_sha256="d" * 64, group_bytes=99, notice_uri=bell)
    for pins in (single, group):
        args = manifest.container_of(manifest.render(_ident(), pins, run.node_settings("n"),
                                                     run))["args"]
        assert args[-2:] == ["--notice", bell] and args.count("--notice") == 1


def _planner(store_root: str, write: bool = True, **kinetic):
    from kedro_kinetic.planning.plan import Planner
    from kedro_kinetic.store.layout import RunLayout

    run = config.load({"image": "img@sha256:" + "c" * 64, "store": "gs://b", **kinetic},
                      check_images=False)
    return Planner(run_id="r", pipeline_name="__default__", config=run,
                   layout=RunLayout(store_root, write=write), resolver=None,
                   parameters={}, allow=(), by_value=())


def test_doorbells_only_where_a_listing_needs_them_and_they_sort_by_submission():
    planner = _planner("gs://b/runs/r", backend="kubernetes")
    first, second = planner.notice_uri("job-z"), planner.notice_uri("job-a")
    assert first and second and first.startswith("gs://b/runs/r/notices/")
    assert first.endswith("-job-z") and first < second  # submission order, not names
    assert _planner("gs://b/runs/r", backend="local").notice_uri("j") is None
    assert _planner("gs://b/runs/r", backend="kubernetes",
                    results_first=False).notice_uri("j") is None
    assert _planner("gs://b/runs/r", write=False,  # render: nothing run, no doorbell
                    backend="kubernetes").notice_uri("j") is None
    resumed = _planner("gs://b/runs/r", backend="kubernetes")
    resumed.doorbells = False  # what the runner sets for --runner-params resume=...
    assert resumed.notice_uri("j") is None


def test_manifests_are_kept_in_the_background_and_all_written_by_the_flush(tmp_path, caplog):
    import json
    from types import SimpleNamespace

    from kedro_kinetic import store

    root = store.to_uri(str(tmp_path / "runs" / "r"))
    planner = _planner(root, backend="local")
    jobs = [SimpleNamespace(ident=SimpleNamespace(node_key=f"n{k}", job_name=f"job-{k}"),
                            manifest={"metadata": {"name": f"job-{k}"}}) for k in range(20)]
    blocked = tmp_path / "runs" / "r" / "manifests" / "bad"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("")  # a file where a folder should be: the write fails
    for job in jobs:
        planner.record_later(job)
    planner.record_later(SimpleNamespace(ident=SimpleNamespace(node_key="bad/x", job_name="x"),
                                         manifest={}))
    planner.flush_records()
    for job in jobs:
        written = json.loads((tmp_path / "runs" / "r" / "manifests" / f"{job.ident.node_key}"
                              ".json").read_text())
        assert written == job.manifest
    assert "Could not keep the manifest of Job x" in caplog.text  # logged, never raised


def test_every_node_process_starts_without_its_working_folder_on_sys_path():
    """PYTHONSAFEPATH: the pod's (and local node's) working folder holds the project's data/,
    so a library setting that names a module must not find one there."""
    run = config.load({"image": "img@sha256:" + "c" * 64,
                       "defaults": {"env": {"LOG_LEVEL": "debug"}}})
    job = manifest.render(_ident(), PINS, run.node_settings("n"), run)
    env = {e["name"]: e.get("value") for e in manifest.container_of(job)["env"]}
    assert env["PYTHONSAFEPATH"] == "1" and env["LOG_LEVEL"] == "debug"


def test_pods_mount_no_api_token_unless_code_opts_in():
    for block in ({}, {"defaults": {"service_account": "etl"}}, {"nodes": {"n": {"gpu": {
            "type": "nvidia-l4"}}}}):
        run = config.load(block, settings=ProjectSettings(service_accounts=("etl",)))
        pod = manifest.render(_ident(), PINS, run.node_settings("n"), run)["spec"]["template"]
        assert pod["spec"]["automountServiceAccountToken"] is False
    opted = ProjectSettings(service_accounts=("etl",), mount_service_account_token=True)
    run = config.load({"defaults": {"service_account": "etl"}}, settings=opted)
    assert run.mount_service_account_token is True
    pod = manifest.render(_ident(), PINS, run.node_settings("n"), run)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == "etl"


def test_render_is_pure_the_token_choice_travels_in_run_config():
    run = config.load({})
    first = manifest.render(_ident(), PINS, run.node_settings("n"), run)
    again = manifest.render(_ident(), PINS, run.node_settings("n"), run)
    assert first == again and not run.mount_service_account_token
    flipped = dataclasses.replace(run, mount_service_account_token=True)
    pod = manifest.render(_ident(), PINS, flipped.node_settings("n"), flipped)
    assert pod["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    assert first["spec"]["template"]["spec"]["automountServiceAccountToken"] is False

"""Secrets and service accounts come from lists in code; kedro-kinetic's own Secrets never."""

from __future__ import annotations

import types

import pytest

from kedro_kinetic import config
from kedro_kinetic.config.project_settings import ProjectSettings, from_module
from kedro_kinetic.wire import naming

LISTED = ProjectSettings(secrets=("db-creds", "api"), service_accounts=("etl-runner",))
OWN = naming.key_secret(naming.run_label("2026-11-23T02.36.42.251Z"))
OWN_CACHE = naming.cache_secret("gs://bucket/kinetic")


def _placed(section: str, node: dict) -> tuple[dict, dict, str]:
    """``node`` settings put in one section; returns the block, overrides and key prefix."""
    if section == "defaults":
        return {"defaults": node}, {}, "kinetic.defaults"
    if section == "tags":
        return {"tags": {"heavy": node}}, {}, "kinetic.tags.heavy"
    if section == "nodes":
        return {"nodes": {"n": node}}, {}, "kinetic.nodes.n"
    if section == "pipeline":
        return ({"pipelines": {"__default__": {"defaults": node}}}, {},
                "kinetic.pipelines.__default__.defaults")
    if section == "runner-params-tags":
        return {}, {"tags": {"t": node}}, "--runner-params.tags.t"
    return {}, {"defaults": node}, "--runner-params.defaults"


SECTIONS = ["defaults", "tags", "nodes", "pipeline", "runner-params", "runner-params-tags"]


def _refused(block: dict, overrides: dict, settings: ProjectSettings = LISTED) -> str:
    with pytest.raises(config.ConfigError) as info:
        config.load(block, ["__default__"], overrides, settings)
    return str(info.value)


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize("name", ["kinetic-run-x", OWN, "kinetic-run-", " kinetic-run-a",
                                  OWN_CACHE, "Kinetic-Cache-0123", "kinetic-cache-"])
def test_own_key_secrets_are_refused_even_when_listed(section, name):
    listed = ProjectSettings(secrets=(*LISTED.secrets, name))
    block, overrides, where = _placed(
        section, {"secret_env": {"DB_PASSWORD": {"secret": name, "key": "key"}}})
    text = _refused(block, overrides, listed)
    assert f"{where}.secret_env.DB_PASSWORD.secret: '{name}' is one of kedro-kinetic's own " \
           "key Secrets (kinetic-run-*/kinetic-cache-*" in text
    assert "KINETIC_SECRETS cannot allow it" in text


@pytest.mark.parametrize("own", [OWN, OWN_CACHE])
@pytest.mark.parametrize("place", ["kinetic", "pipeline", "runner-params"])
def test_credentials_secret_may_not_be_a_key_secret(place, own):
    block, overrides = {}, {}
    if place == "kinetic":
        block, where = {"credentials_secret": own}, "kinetic"
    elif place == "pipeline":
        block = {"pipelines": {"__default__": {"credentials_secret": own}}}
        where = "kinetic.pipelines.__default__"
    else:
        overrides, where = {"credentials_secret": own}, "--runner-params"
    text = _refused(block, overrides, ProjectSettings(secrets=(own,)))
    assert f"{where}.credentials_secret: '{own}' is one of kedro-kinetic's own key Secrets" \
        in text


@pytest.mark.parametrize("section", SECTIONS)
def test_unlisted_secrets_are_refused_naming_key_value_and_setting(section):
    block, overrides, where = _placed(
        section, {"secret_env": {"TOKEN": {"secret": "other", "key": "token"}}})
    text = _refused(block, overrides)
    assert (f"{where}.secret_env.TOKEN.secret: Secret 'other' is not listed in settings.py "
            "KINETIC_SECRETS (db-creds, api)") in text
    assert "add 'other' to KINETIC_SECRETS in settings.py" in text
    text = _refused(block, overrides, ProjectSettings())
    assert "KINETIC_SECRETS (none listed)" in text


def test_unlisted_credentials_secret_is_refused():
    text = _refused({"credentials_secret": "creds"}, {})
    assert "kinetic.credentials_secret: Secret 'creds' is not listed" in text
    text = _refused({}, {"credentials_secret": "creds"})
    assert "--runner-params.credentials_secret: Secret 'creds' is not listed" in text


@pytest.mark.parametrize("section", SECTIONS)
def test_unlisted_service_accounts_are_refused(section):
    block, overrides, where = _placed(section, {"service_account": "cluster-admin-sa"})
    text = _refused(block, overrides)
    assert (f"{where}.service_account: service account 'cluster-admin-sa' is not listed in "
            "settings.py KINETIC_SERVICE_ACCOUNTS (etl-runner)") in text
    assert "add 'cluster-admin-sa' to KINETIC_SERVICE_ACCOUNTS" in text
    assert "KINETIC_SERVICE_ACCOUNTS (none listed)" in _refused(block, overrides,
                                                                 ProjectSettings())


def test_every_refusal_is_reported_at_once():
    text = _refused({"credentials_secret": "a1", "defaults": {"service_account": "b1"}},
                    {"nodes": {"n": {"secret_env": {"X": {"secret": OWN, "key": "k"}}}}})
    for fragment in ("kinetic.credentials_secret: Secret 'a1'",
                     "kinetic.defaults.service_account: service account 'b1'",
                     "--runner-params.nodes.n.secret_env.X.secret: '" + OWN):
        assert fragment in text


def test_listed_names_pass_and_reach_the_node_settings():
    cfg = config.load({"credentials_secret": "db-creds",
                       "defaults": {"service_account": "etl-runner",
                                    "secret_env": {"T": {"secret": "api", "key": "token"}}}},
                      ["__default__"], {"nodes": {"n": {"secret_env": {
                          "P": {"secret": "db-creds", "key": "password"}}}}}, LISTED)
    node = cfg.node_settings("n")
    assert cfg.credentials_secret == "db-creds"
    assert node.service_account == "etl-runner"
    assert node.secret_env == {"T": {"secret": "api", "key": "token"},
                               "P": {"secret": "db-creds", "key": "password"}}
    assert config.named_secrets(cfg) == {"db-creds": {"credentials.yml", "password"},
                                         "api": {"token"}}


def test_the_token_mount_is_code_only():
    text = _refused({"mount_service_account_token": True}, {})
    assert "kinetic.mount_service_account_token: whether pods get a Kubernetes API token " \
           "can only be chosen in code" in text
    assert "--runner-params.mount_service_account_token" in _refused(
        {}, {"mount_service_account_token": "true"})
    assert not config.load({}).mount_service_account_token
    assert config.load({}, settings=ProjectSettings(
        mount_service_account_token=True)).mount_service_account_token


def test_settings_module_reads_the_lists_and_checks_their_shape():
    module = types.SimpleNamespace(KINETIC_SECRETS=["db-creds"],
                                   KINETIC_SERVICE_ACCOUNTS=("etl-runner",),
                                   KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN=True)
    settings = from_module(module)
    assert settings.secrets == ("db-creds",)
    assert settings.service_accounts == ("etl-runner",)
    assert settings.mount_service_account_token is True
    empty = from_module(types.SimpleNamespace())
    assert (empty.secrets, empty.service_accounts) == ((), ())
    assert empty.mount_service_account_token is False
    for name, value in (("KINETIC_SECRETS", "db-creds"), ("KINETIC_SERVICE_ACCOUNTS", [1]),
                        ("KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN", "yes")):
        with pytest.raises(config.ConfigError, match=f"settings.py {name}"):
            from_module(types.SimpleNamespace(**{name: value}))


def test_doctor_explains_the_token_and_flags_a_listed_run_key_secret():
    from kedro_kinetic.cli.doctor_checks import FAIL, OK, check_identities

    checks = {c.name: c for c in check_identities(config.load({}), LISTED)}
    assert checks["service account token"].status == OK
    assert "not mounted" in checks["service account token"].detail
    assert "KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN = True" in checks["service account token"].detail
    assert checks["settings KINETIC_SECRETS"].detail == "configuration may name db-creds, api"
    opted = ProjectSettings(secrets=("db-creds", OWN), mount_service_account_token=True)
    checks = {c.name: c for c in check_identities(config.load({}, settings=opted), opted)}
    assert checks["service account token"].detail.startswith("mounted in node pods")
    flagged = checks["settings KINETIC_SECRETS"]
    assert flagged.status == FAIL and OWN in flagged.detail
    assert "remove them from KINETIC_SECRETS" in flagged.line()

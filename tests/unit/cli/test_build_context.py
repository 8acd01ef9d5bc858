"""The build context: .dockerignore read as Docker reads it, the content tag, the secret check."""

from __future__ import annotations

import os

import pytest

from kedro_kinetic.cli.build_context import (
    check_secrets,
    content_tag,
    context_files,
    ignored,
    parse_dockerignore,
)
from kedro_kinetic.cli.scaffold import render_dockerignore
from kedro_kinetic.errors import BuildError


@pytest.mark.parametrize(("patterns", "path", "out"), [
    ("data/", "data/01_raw/a.csv", True),  # a folder excludes what is below it
    ("data", "data", True),
    ("data/", "src/data/a.py", False),  # anchored at the context's root
    ("*.pyc", "a.pyc", True),
    ("*.pyc", "src/a.pyc", False),  # `*` stays in one component
    ("**/*.py[cod]", "src/pkg/a.pyc", True),
    ("**/*.py[cod]", "a.pyo", True),  # `**/` may match no folder at all
    ("**/credentials*.yml", "conf/base/credentials.yml", True),
    ("**/credentials*.yml", "conf/base/credentials_gcs.yml", True),
    ("conf/local/", "conf/local/x/y.yml", True),
    ("src/**", "src/a/b/c.py", True),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("/data/x", "data/x", True),  # a leading slash means the root too
    ("./logs/", "logs/a.log", True),
    ("data/\n!data/keep.csv", "data/keep.csv", False),  # the last match wins
    ("data/\n!data/keep.csv", "data/drop.csv", True),
    ("!data/keep.csv\ndata/", "data/keep.csv", True),
    ("# comment\n\n  data/  ", "data/a", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("[!a]bc", "xbc", True),
    ("[!a]bc", "abc", False),
])
def test_patterns_match_as_docker_matches_them(patterns, path, out):
    assert ignored(path, parse_dockerignore(patterns)) is out


def test_inits_rules_keep_secrets_data_and_caches_out(tmp_path):
    rules = parse_dockerignore(render_dockerignore())
    for path in ("conf/local/credentials.yml", "conf/base/credentials.yml", "data/a.csv",
                 ".git/HEAD", ".venv/bin/python", "src/p/__pycache__/a.pyc", "Dockerfile",
                 "p.egg-info/PKG-INFO", ".env"):
        assert ignored(path, rules), path
    for path in ("src/p/nodes.py", "conf/base/parameters.yml", "requirements.txt",
                 "pyproject.toml", ".kinetic-build/kedro_kinetic-0.1.0-py3-none-any.whl"):
        assert not ignored(path, rules), path


def make_tree(root):
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("a")
    (root / "data").mkdir()
    (root / "data" / "big.csv").write_text("x")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.symlink("src/a.py", root / "link.py")


def test_context_files_are_sorted_and_links_are_not_followed(tmp_path):
    make_tree(tmp_path)
    rules = parse_dockerignore("data/\n")
    assert list(context_files(tmp_path, rules)) == ["link.py", "run.sh", "src/a.py"]


def test_the_tag_follows_content_modes_links_and_extra_inputs(tmp_path):
    make_tree(tmp_path)
    rules = parse_dockerignore("data/\n")
    tag = content_tag(tmp_path, rules, ["Dockerfile"])
    assert tag.startswith("ctx-") and len(tag) == 20
    assert content_tag(tmp_path, rules, ["Dockerfile"]) == tag
    assert content_tag(tmp_path, rules, ["Dockerfile2"]) != tag
    (tmp_path / "data" / "big.csv").write_text("ignored")
    assert content_tag(tmp_path, rules, ["Dockerfile"]) == tag
    (tmp_path / "run.sh").chmod(0o755)
    moded = content_tag(tmp_path, rules, ["Dockerfile"])
    assert moded != tag
    (tmp_path / "link.py").unlink()
    os.symlink("run.sh", tmp_path / "link.py")
    assert content_tag(tmp_path, rules, ["Dockerfile"]) != moded


def test_a_credentials_file_in_the_context_is_refused(tmp_path):
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "base" / "credentials.yml").write_text("k: v")
    check_secrets(tmp_path, parse_dockerignore(render_dockerignore()))
    with pytest.raises(BuildError, match=r"lets conf/base/credentials.yml into the image"):
        check_secrets(tmp_path, parse_dockerignore("data/\n"))
    for n in range(4):
        (tmp_path / "conf" / "local").mkdir(exist_ok=True)
        (tmp_path / "conf" / "local" / f"s{n}.yml").write_text("k: v")
    with pytest.raises(BuildError, match=r"and 2 more into the image"):
        check_secrets(tmp_path, [])


def test_pinned_image_references_in_parameters_do_not_change_the_tag(tmp_path):
    params = tmp_path / "conf" / "gke" / "parameters.yml"
    params.parent.mkdir(parents=True)
    params.write_text("kinetic:\n  image: r.io/p/app@sha256:" + "a" * 64 + "  # pinned\n")
    tag = content_tag(tmp_path, [], [])
    params.write_text("kinetic:\n  image: r.io/p/app@sha256:" + "b" * 64 + "  # pinned\n")
    assert content_tag(tmp_path, [], []) == tag  # what --write records
    params.write_text("kinetic:\n  image: r.io/p/app:latest  # pinned\n")
    assert content_tag(tmp_path, [], []) != tag

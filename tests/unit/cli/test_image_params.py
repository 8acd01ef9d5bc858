"""``kedro kinetic build --write``: the image recorded where the environment's kinetic block
is written, comments and layout kept."""

from __future__ import annotations

import pytest
import yaml

from kedro_kinetic.cli.image_params import record_image, target_file
from kedro_kinetic.errors import BuildError

IMAGE = "127.0.0.1:5000/kinetic/demo@sha256:" + "a" * 64


def write(conf, rel, text):
    path = conf / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_image_line_is_replaced_and_its_comment_kept(tmp_path):
    path = write(tmp_path, "gke/parameters.yml",
                 "# top comment\nother: 1\nkinetic:\n  backend: kubernetes\n"
                 "  image: old/image:dev   # the pods' image\n  defaults:\n"
                 "    image: keep/this:1\nlast: 2\n")
    assert record_image(tmp_path, "gke", "base", IMAGE) == path
    assert path.read_text() == (
        "# top comment\nother: 1\nkinetic:\n  backend: kubernetes\n"
        f"  image: {IMAGE}   # the pods' image\n  defaults:\n    image: keep/this:1\nlast: 2\n")


def test_inits_commented_example_becomes_the_setting(tmp_path):
    path = write(tmp_path, "base/parameters_kinetic.yml",
                 "kinetic:\n    # image (str): the container image\n"
                 "    # image: REGION-docker.pkg.dev/P/R/IMAGE@sha256:...\n"
                 "    backend: kubernetes\n")
    record_image(tmp_path, "base", "base", IMAGE)
    assert path.read_text() == ("kinetic:\n    # image (str): the container image\n"
                                f"    image: {IMAGE}\n    backend: kubernetes\n")


def test_a_block_without_an_image_gets_one(tmp_path):
    path = write(tmp_path, "gke/parameters.yml", "kinetic:  # runner\n  backend: kubernetes\n")
    record_image(tmp_path, "gke", "base", IMAGE)
    data = yaml.safe_load(path.read_text())
    assert data["kinetic"] == {"image": IMAGE, "backend": "kubernetes"}
    assert path.read_text().startswith("kinetic:  # runner\n")


def test_the_environments_own_block_wins_over_base(tmp_path):
    write(tmp_path, "base/parameters.yml", "kinetic:\n  image: base/img:1\n")
    env_file = write(tmp_path, "gke/parameters_kinetic.yml", "kinetic:\n  image: gke/img:1\n")
    assert target_file(tmp_path, "gke", "base") == (env_file, True)
    record_image(tmp_path, "gke", "base", IMAGE)
    assert yaml.safe_load((tmp_path / "base" / "parameters.yml").read_text())["kinetic"][
        "image"] == "base/img:1"


def test_an_environment_that_inherits_the_block_writes_where_it_comes_from(tmp_path):
    base = write(tmp_path, "base/parameters.yml", "kinetic:\n  image: base/img:1\n")
    write(tmp_path, "gke/catalog.yml", "x: {type: pandas.CSVDataset}\n")
    assert record_image(tmp_path, "gke", "base", IMAGE) == base


def test_no_block_anywhere_creates_a_file_with_only_the_image(tmp_path):
    write(tmp_path, "base/parameters.yml", "reference_year: 2024\n")
    path = record_image(tmp_path, "gke", "base", IMAGE)
    assert path == tmp_path / "gke" / "parameters_kinetic.yml"
    assert yaml.safe_load(path.read_text()) == {"kinetic": {"image": IMAGE}}
    assert path.stat().st_mode & 0o777 == 0o644


def test_two_files_defining_the_block_are_refused(tmp_path):
    write(tmp_path, "gke/parameters.yml", "kinetic:\n  image: a/b:1\n")
    write(tmp_path, "gke/parameters_kinetic.yml", "kinetic:\n  backend: kubernetes\n")
    with pytest.raises(BuildError, match="all define `kinetic:`; keep one"):
        record_image(tmp_path, "gke", "base", IMAGE)


def test_a_block_it_cannot_edit_is_left_alone(tmp_path):
    text = "kinetic: {backend: kubernetes, image: a/b:1}\n"
    path = write(tmp_path, "gke/parameters.yml", text)
    with pytest.raises(BuildError, match="in a form this command does not edit"):
        record_image(tmp_path, "gke", "base", IMAGE)
    assert path.read_text() == text

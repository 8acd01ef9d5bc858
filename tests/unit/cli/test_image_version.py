"""Version skew made explicit: doctor reads an image's kedro-kinetic labels from its registry
and fails one whose kedro-kinetic cannot read the task specs this driver writes."""

from __future__ import annotations

import pytest

from kedro_kinetic import __version__
from kedro_kinetic.cli.doctor_checks import FAIL, OK, WARN, Check, check_image
from kedro_kinetic.cli.image_version import (
    LABEL_TASK_FORMAT,
    LABEL_VERSION,
    check_image_version,
    image_labels_for_build,
)
from kedro_kinetic.errors import BuildError
from kedro_kinetic.wire.task_spec import SPEC_FORMAT

PINNED = "127.0.0.1:5000/kinetic/demo@sha256:" + "a" * 64
REPOS = ("127.0.0.1:5000/kinetic/",)


def refined(labels=None, error=None, image=PINNED, policy="require_digest"):
    seen = []

    def read(name):
        seen.append(name)
        if error:
            raise BuildError(error)
        return labels

    return check_image_version(image, check_image(image, policy, REPOS), read), seen


def test_the_driver_and_the_image_agree():
    check, seen = refined(image_labels_for_build())
    assert seen == [PINNED]
    assert check.status == OK
    assert check.detail == (f"well-formed, pinned by digest; kedro-kinetic {__version__} "
                            f"(task format {SPEC_FORMAT}) as in the driver")


def test_an_image_that_cannot_read_the_drivers_specs_fails_naming_both():
    check, _ = refined({LABEL_VERSION: "0.0.1", LABEL_TASK_FORMAT: "kedro-kinetic/task@0"})
    assert check.status == FAIL
    assert check.detail == (
        f"its kedro-kinetic 0.0.1 reads task specs kedro-kinetic/task@0, but this driver's "
        f"kedro-kinetic {__version__} writes {SPEC_FORMAT}: every pod would refuse its spec")
    assert "kedro kinetic build --env <env> --push --write" in check.line()


def test_another_version_with_the_same_format_is_a_warning():
    check, _ = refined({LABEL_VERSION: "0.0.9", LABEL_TASK_FORMAT: SPEC_FORMAT})
    assert check.status == WARN
    assert f"its kedro-kinetic 0.0.9 differs from the driver's {__version__}" in check.detail


def test_an_unlabelled_image_is_a_warning():
    check, _ = refined({"org.opencontainers.image.title": "x"})
    assert check.status == WARN and "has no io.kedro-kinetic.version label" in check.detail


def test_an_unreadable_registry_keeps_the_status_and_says_why():
    check, _ = refined(error="127.0.0.1:5000: cannot reach the registry: refused\nmore")
    assert check.status == OK
    assert check.detail.endswith("its kedro-kinetic version was not read from the registry: "
                                 "127.0.0.1:5000: cannot reach the registry: refused")


def test_label_values_are_printed_escaped():
    check, _ = refined({LABEL_VERSION: "1\x1b[2J", LABEL_TASK_FORMAT: "x\x07"})
    assert "\x1b" not in check.detail and "\\x1b" in check.detail


@pytest.mark.parametrize("image", ["127.0.0.1:5000/kinetic/demo:latest",
                                   "elsewhere.example/x@sha256:" + "a" * 64])
def test_unpinned_or_failed_images_are_not_looked_up(image):
    check, seen = refined({}, image=image, policy="allow_tag")
    assert seen == []
    assert check == check_image(image, "allow_tag", REPOS)


def test_a_check_passed_in_is_kept_when_nothing_is_read():
    base = Check("image x", FAIL, "not a well-formed image reference")
    assert check_image_version(PINNED, base, lambda _: pytest.fail("read")) is base

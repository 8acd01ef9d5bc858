"""A failed node's error keeps its type, from classes the driver already has only."""

from __future__ import annotations

import sys

import pytest

from kedro_kinetic.driver.outcome import RemoteNodeError
from kedro_kinetic.driver.remote_errors import local_type, remote_error
from kedro_kinetic.wire.result import EXIT_NODE_RAISED, NodeResult


class Registering(Exception):
    def __init_subclass__(cls, **kwargs):  # would run code if subclassed
        raise AssertionError("subclassed")


def failed(error_type: str, message: str = "boom") -> NodeResult:
    return NodeResult(node="n", exit_code=EXIT_NODE_RAISED, error_type=error_type,
                      error_message=message, traceback="Traceback ...\nValueError: boom\n")


@pytest.mark.parametrize(("name", "expected"), [
    ("builtins.ValueError", ValueError),
    ("builtins.KeyError", KeyError),
    ("builtins.FileNotFoundError", FileNotFoundError),
    ("kedro_kinetic.errors.VerificationError", None),  # resolved below
])
def test_known_types(name, expected):
    from kedro_kinetic.errors import VerificationError

    assert local_type(name) is (expected or VerificationError)


@pytest.mark.parametrize("name", [
    "builtins.SystemExit", "builtins.KeyboardInterrupt",  # not Exception
    "builtins.len", "os.path", "ValueError", "", None,  # not classes / no module
    "kedro_kinetic_never_imported.Error",  # never imported: never imported now either
    f"{__name__}.Registering",  # __init_subclass__ of its own
    "kedro_kinetic.driver.outcome.RemoteNodeError",
    "collections._OrderedDictKeysView",  # private names are not looked up
])
def test_refused_types(name):
    assert local_type(name) is None
    assert "kedro_kinetic_never_imported" not in sys.modules


def test_remote_error_is_an_instance_of_the_nodes_type():
    error = remote_error("n", failed("builtins.KeyError", "missing"), "Error")
    assert isinstance(error, RemoteNodeError) and isinstance(error, KeyError)
    assert str(error).startswith("node 'n' failed remotely")  # not KeyError's quoting
    assert error.remote_traceback.startswith("Traceback")
    assert remote_error("n", failed("builtins.KeyError"), None).__class__ is type(error)
    plain = remote_error("n", failed("nowhere.Error"), None)
    assert type(plain) is RemoteNodeError

"""A missing input is one line naming the dataset and its path; the traceback comes after."""

from __future__ import annotations

from pathlib import Path

from kedro.io.core import DatasetError

from kedro_kinetic.pod.errors import missing_input, node_traceback


def load_failure(path: str) -> DatasetError:
    """What Kedro raises for a missing file: a DatasetError chain over FileNotFoundError."""
    try:
        try:
            try:
                Path(path).read_bytes()  # it does not exist
            except FileNotFoundError as exc:
                raise DatasetError(f"Failed while loading data from dataset X.\n{exc}") from exc
        except DatasetError as exc:
            raise DatasetError(f"sales: {exc}") from exc
    except DatasetError as exc:
        return exc
    raise AssertionError("the file exists")


def test_a_missing_file_is_one_line_naming_dataset_and_path(tmp_path):
    looked = tmp_path / "data" / "01_raw" / "sales.csv"
    cause = load_failure(str(looked))
    try:
        raise missing_input("sales", {"type": "pandas.CSVDataset",
                                      "filepath": "data/01_raw/sales.csv"}, cause) from cause
    except DatasetError as error:
        message, trace = str(error), node_traceback(error)
    assert message == (
        f"input 'sales' not found: 'data/01_raw/sales.csv' (looked for '{looked}') does not "
        "exist; write it first (run the node that produces it, or upload it there) or correct "
        "its path in the catalog")
    assert "\n" not in message
    assert "FileNotFoundError" in trace and "sales: Failed while loading data" in trace


def test_the_path_of_a_wrapped_dataset_and_a_missing_version():
    class VersionNotFoundError(DatasetError):
        pass

    error = missing_input("model", {"type": "kedro.io.CachedDataset", "dataset": {
        "type": "pickle.PickleDataset", "filepath": "gs://b/model.pkl"}},
        DatasetError("wrapped"))
    assert error is None  # not about missing data
    cause = VersionNotFoundError("Did not find any versions for PickleDataset(...)")
    error = missing_input("model", {"type": "kedro.io.CachedDataset", "dataset": {
        "type": "pickle.PickleDataset", "filepath": "gs://b/model.pkl"}}, cause)
    assert str(error).startswith("input 'model' not found: 'gs://b/model.pkl' has no saved "
                                 "version;")


def test_other_load_errors_are_left_alone():
    assert missing_input("sales", {"filepath": "x.csv"}, ValueError("bad CSV")) is None
    assert missing_input("sales", None, PermissionError("denied")) is None

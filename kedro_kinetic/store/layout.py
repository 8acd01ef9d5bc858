"""Where a run keeps things: its folder in the store, and where the private folder lies.

Two places, two levels of trust:

* :class:`RunLayout`: the run's folder in the **store** (``<store>/runs/<run
  label>/``): payloads and specs (``objects/<sha256>``), pickled intermediates
  (``data/``), the pods' sealed results (``results/``), the Jobs' doorbells
  (``notices/``) and the manifests as submitted (``manifests/``). Anyone who can
  write the store can write here, so nothing is trusted from it unless pinned by
  digest or sealed.
* :func:`state_dir`: the user's **private**, owner-only folder outside the store,
  where the local backend keeps each run's key, process records and logs
  (:mod:`kedro_kinetic.backends.local.run_folder`). No catalog path may lead there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kedro_kinetic import store
from kedro_kinetic.wire import naming

STATE_DIR_ENV = "KINETIC_STATE_DIR"


@dataclass
class RunLayout:
    """Where a run keeps its objects in the store."""

    root: str  # <store>/runs/<run label>
    write: bool = True  # False: compute digests only (render, dry run)

    @classmethod
    def for_run(cls, store_uri: str, run_id: str, write: bool = True) -> RunLayout:
        """The layout of run ``run_id`` in the store at ``store_uri``."""
        return cls(store.join(store_uri, "runs", naming.run_label(run_id)), write=write)

    @property
    def label(self) -> str:
        """The run label (the last component of the root)."""
        return self.root.rstrip("/").rsplit("/", 1)[-1]

    def object_uri(self, digest: str) -> str:
        return store.join(self.root, "objects", digest)

    def data_uri(self, dataset: str) -> str:
        return store.join(self.root, "data", f"{naming.dataset_key(dataset)}.pkl")

    def result_uri(self, node_key: str) -> str:
        return store.join(self.root, "results", f"{node_key}.json")

    def manifest_uri(self, node_key: str) -> str:
        return store.join(self.root, "manifests", f"{node_key}.json")

    @property
    def results_prefix(self) -> str:
        return store.join(self.root, "results")

    def notice_uri(self, name: str) -> str:
        """A Job's doorbell: an empty object its pod writes after each result."""
        return store.join(self.root, "notices", name)

    @property
    def notices_prefix(self) -> str:
        return store.join(self.root, "notices")


def state_dir() -> Path:
    """The user's private kedro-kinetic folder (``$KINETIC_STATE_DIR`` overrides)."""
    chosen = os.environ.get(STATE_DIR_ENV)
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kedro-kinetic"

"""Print sha256 digests of every persisted output under data/02_* .. data/08_*.

Handy to check that a run (any runner) reproduces a reference run:

    ../.venv/bin/kedro run && ../.venv/bin/python scripts/output_hashes.py > /tmp/a.txt
    ../.venv/bin/kedro run --runner ... && ../.venv/bin/python scripts/output_hashes.py > /tmp/b.txt
    diff /tmp/a.txt /tmp/b.txt

With the pinned environment all outputs, including the pickled model, are byte-identical
between runs. If a different scikit-learn/pickle protocol makes the pickle differ, pass
``--model-predictions`` to also print a digest of the model's predictions on the model
input table, which is what actually has to match.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DATA = PROJECT / "data"


def main(argv: list[str]) -> int:
    files = sorted(
        p
        for p in DATA.glob("0[2-8]_*/**/*")
        if p.is_file() and p.name != ".gitkeep"
    )
    if not files:
        print("no outputs found; run `kedro run` first", file=sys.stderr)
        return 1
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{digest}  {path.relative_to(PROJECT)}")

    if "--model-predictions" in argv:
        import pickle

        import numpy as np
        import pandas as pd
        import yaml

        params = yaml.safe_load(
            (PROJECT / "conf/base/parameters_data_science.yml").read_text()
        )
        features = params["model_options"]["features"]
        table = pd.read_parquet(DATA / "05_model_input/model_input_table.parquet")
        with open(DATA / "06_models/regressor.pickle", "rb") as fh:
            model = pickle.load(fh)  # noqa: S301 - our own artefact
        preds = np.asarray(model.predict(table[features]), dtype="float64")
        print(f"{hashlib.sha256(preds.tobytes()).hexdigest()}  <regressor predictions>")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

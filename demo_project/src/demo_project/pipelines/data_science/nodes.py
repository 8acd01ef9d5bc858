"""Node functions of the ``data_science`` pipeline.

Plain module-level functions; every source of randomness is seeded from parameters,
so two runs give equal models, predictions and metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split


def split_data(
    model_input_table: pd.DataFrame, model_options: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Split the model input table into train and test sets.

    Args:
        model_input_table: output of the ``data_processing`` pipeline.
        model_options: ``params:model_options`` (``features``, ``target``,
            ``test_size``, ``random_state``).
    """
    X = model_input_table[list(model_options["features"])]
    y = model_input_table[model_options["target"]].astype("float64")
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=model_options["test_size"],
        random_state=model_options["random_state"],
    )
    return X_train, X_test, y_train, y_test


def train_model(
    X_train: pd.DataFrame, y_train: pd.Series, random_forest: dict[str, Any]
) -> RandomForestRegressor:
    """Fit a small random forest (tagged ``heavy`` in the pipeline)."""
    regressor = RandomForestRegressor(
        n_estimators=random_forest["n_estimators"],
        max_depth=random_forest["max_depth"],
        random_state=random_forest["random_state"],
        n_jobs=1,
    )
    regressor.fit(X_train, y_train)
    return regressor


def predict(regressor: RandomForestRegressor, X_test: pd.DataFrame) -> pd.DataFrame:
    """Predict the test set; keeps the original row index as ``row_id``."""
    return pd.DataFrame(
        {
            "row_id": X_test.index.to_numpy(),
            "predicted_units": np.round(regressor.predict(X_test), 6),
        }
    )


def evaluate_model(predictions: pd.DataFrame, y_test: pd.Series) -> dict[str, float]:
    """Fan-in of the persisted predictions and the in-memory test target."""
    y_true = y_test.loc[predictions["row_id"]].to_numpy()
    y_pred = predictions["predicted_units"].to_numpy()
    return {
        "n_test": int(len(y_true)),
        "r2": round(float(r2_score(y_true, y_pred)), 6),
        "mae": round(float(mean_absolute_error(y_true, y_pred)), 6),
        "rmse": round(float(np.sqrt(mean_squared_error(y_true, y_pred))), 6),
    }


def feature_importance(
    regressor: RandomForestRegressor, X_train: pd.DataFrame
) -> dict[str, float]:
    """Impurity-based feature importances, sorted descending.

    The output is deliberately not in the catalog and not consumed by any node:
    it is a *free output* of the pipeline.
    """
    pairs = zip(X_train.columns, regressor.feature_importances_)
    ranked = sorted(((str(c), round(float(v), 6)) for c, v in pairs), key=lambda p: (-p[1], p[0]))
    return dict(ranked)

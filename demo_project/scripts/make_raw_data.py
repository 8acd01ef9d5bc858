"""Generate the demo project's raw inputs deterministically.

Writes
  data/01_raw/sales.csv       -- 600 order lines (includes a few dirty rows on purpose)
  data/01_raw/stores.parquet  -- 24 stores

Usage (from the demo_project folder):
    ../.venv/bin/python scripts/make_raw_data.py

The output only depends on SEED, so re-running it reproduces the committed files
(byte-identical for the CSV; the Parquet file is identical for the same pyarrow version).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240611
N_SALES = 600
N_STORES = 24
N_PRODUCTS = 15
REGIONS = ["north", "south", "east", "west"]

RAW_DIR = Path(__file__).resolve().parents[1] / "data" / "01_raw"


def make_stores(rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "store_id": np.arange(1, N_STORES + 1, dtype="int64"),
            "region": [REGIONS[i % len(REGIONS)] for i in range(N_STORES)],
            "size_sqm": rng.integers(150, 1200, size=N_STORES).astype("int64"),
            "opened_year": rng.integers(1995, 2023, size=N_STORES).astype("int64"),
        }
    )


def make_sales(rng: np.random.Generator, stores: pd.DataFrame) -> pd.DataFrame:
    base_price = np.round(rng.uniform(2.0, 60.0, size=N_PRODUCTS), 2)
    store_id = rng.integers(1, N_STORES + 1, size=N_SALES)
    product_id = rng.integers(1, N_PRODUCTS + 1, size=N_SALES)
    day_offset = rng.integers(0, 120, size=N_SALES)
    order_date = pd.Timestamp("2024-01-01") + pd.to_timedelta(day_offset, unit="D")
    promo = (rng.random(N_SALES) < 0.2).astype("int64")

    price_noise = rng.normal(1.0, 0.05, size=N_SALES)
    unit_price = np.round(
        base_price[product_id - 1] * price_noise * np.where(promo == 1, 0.8, 1.0), 2
    )

    size = stores.set_index("store_id").loc[store_id, "size_sqm"].to_numpy()
    weekend = (order_date.day_of_week >= 5).astype(float)
    expected = (
        2.0
        + size / 250.0
        + 3.0 * promo
        + 1.5 * weekend
        - unit_price / 30.0
    )
    units = np.maximum(0, np.round(expected + rng.normal(0.0, 1.0, size=N_SALES))).astype(
        "int64"
    )

    sales = pd.DataFrame(
        {
            "order_id": np.arange(100001, 100001 + N_SALES, dtype="int64"),
            "order_date": order_date.strftime("%Y-%m-%d"),
            "store_id": store_id.astype("int64"),
            "product_id": product_id.astype("int64"),
            "units": units,
            "unit_price": unit_price,
            "promo": promo,
        }
    )
    # A few dirty rows for the cleaning node to drop: returns (negative units),
    # missing prices and an obviously wrong price.
    sales.loc[[7, 123, 311], "units"] = [-2, -1, -5]
    sales["unit_price"] = sales["unit_price"].astype("float64")
    sales.loc[[42, 250], "unit_price"] = np.nan
    sales.loc[[99], "unit_price"] = 9999.0
    return sales


def main() -> None:
    rng = np.random.default_rng(SEED)
    stores = make_stores(rng)
    sales = make_sales(rng, stores)

    RAW_DIR.mkdir(parents=True, exist_ok=True)
    sales.to_csv(RAW_DIR / "sales.csv", index=False, lineterminator="\n")
    stores.to_parquet(RAW_DIR / "stores.parquet", index=False, engine="pyarrow")
    print(f"wrote {len(sales)} sales rows and {len(stores)} stores to {RAW_DIR}")


if __name__ == "__main__":
    main()

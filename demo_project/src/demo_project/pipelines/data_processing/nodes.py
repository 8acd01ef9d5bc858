"""Node functions of the ``data_processing`` pipeline.

All functions are plain, module-level and deterministic: they only depend on their
inputs (no clocks, no randomness), so the kinetic runner can ship them by value.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def clean_sales(
    sales: pd.DataFrame, cleaning: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Drop invalid order lines and return the cleaned table plus a small report.

    Args:
        sales: raw order lines (``sales`` CSV).
        cleaning: ``params:cleaning`` (``min_units``, ``max_unit_price``).

    Returns:
        The cleaned order lines and a dict describing what was dropped.
    """
    n_raw = len(sales)
    missing_price = sales["unit_price"].isna()
    too_few_units = sales["units"] < cleaning["min_units"]
    too_expensive = sales["unit_price"] > cleaning["max_unit_price"]
    keep = ~(missing_price | too_few_units | too_expensive)

    cleaned = sales.loc[keep].copy()
    cleaned["order_date"] = pd.to_datetime(cleaned["order_date"], format="%Y-%m-%d")
    cleaned["promo"] = cleaned["promo"].astype(bool)
    cleaned = cleaned.sort_values("order_id").reset_index(drop=True)

    report = {
        "rows_in": int(n_raw),
        "rows_out": int(len(cleaned)),
        "dropped_missing_price": int(missing_price.sum()),
        "dropped_too_few_units": int(too_few_units.sum()),
        "dropped_too_expensive": int(too_expensive.sum()),
    }
    return cleaned, report


def preprocess_stores(stores: pd.DataFrame, reference_year: int) -> pd.DataFrame:
    """Normalise the store master data and derive the store age."""
    out = stores.copy()
    out["region"] = out["region"].astype(str).str.strip().str.lower()
    out["store_age_years"] = (reference_year - out["opened_year"]).astype("int64")
    return out.sort_values("store_id").reset_index(drop=True)


def create_sales_primary(
    cleaned_sales: pd.DataFrame, preprocessed_stores: pd.DataFrame
) -> pd.DataFrame:
    """Join order lines with their store: the primary table everything else uses."""
    primary = cleaned_sales.merge(
        preprocessed_stores, on="store_id", how="inner", validate="many_to_one"
    )
    primary["revenue"] = (primary["units"] * primary["unit_price"]).round(2)
    return primary.sort_values("order_id").reset_index(drop=True)


def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:
    """Per-store aggregates (fan-out branch 1)."""
    grouped = sales_primary.groupby("store_id", sort=True)
    features = pd.DataFrame(
        {
            "store_order_count": grouped["order_id"].count(),
            "store_mean_revenue": grouped["revenue"].mean().round(4),
            "store_promo_share": grouped["promo"].mean().round(4),
        }
    )
    return features.reset_index()


def compute_product_features(sales_primary: pd.DataFrame) -> pd.DataFrame:
    """Per-product price statistics (fan-out branch 2)."""
    grouped = sales_primary.groupby("product_id", sort=True)
    features = pd.DataFrame(
        {
            "product_mean_price": grouped["unit_price"].mean().round(4),
            "product_price_std": grouped["unit_price"].std(ddof=0).fillna(0.0).round(4),
            "product_order_count": grouped["order_id"].count(),
        }
    )
    features = features.reset_index()
    return features


def compute_calendar_features(
    sales_primary: pd.DataFrame, weekend_days: list[int]
) -> pd.DataFrame:
    """Per-order calendar features (fan-out branch 3)."""
    dates = pd.to_datetime(sales_primary["order_date"])
    return pd.DataFrame(
        {
            "order_id": sales_primary["order_id"].to_numpy(),
            "day_of_week": dates.dt.day_of_week.astype("int64").to_numpy(),
            "month": dates.dt.month.astype("int64").to_numpy(),
            "is_weekend": dates.dt.day_of_week.isin(weekend_days).astype("int64").to_numpy(),
        }
    )


def summarize_sales(sales_primary: pd.DataFrame) -> dict[str, Any]:
    """Headline statistics for reporting (fan-out branch 4, not joined)."""
    by_region = (
        sales_primary.groupby("region", sort=True)["revenue"].sum().round(2).to_dict()
    )
    return {
        "n_orders": int(len(sales_primary)),
        "total_units": int(sales_primary["units"].sum()),
        "total_revenue": round(float(sales_primary["revenue"].sum()), 2),
        "revenue_by_region": {str(k): float(v) for k, v in by_region.items()},
        "first_order_date": str(pd.to_datetime(sales_primary["order_date"]).min().date()),
        "last_order_date": str(pd.to_datetime(sales_primary["order_date"]).max().date()),
    }


def create_model_input_table(  # noqa: PLR0913
    sales_primary: pd.DataFrame,
    store_features: pd.DataFrame,
    product_features: pd.DataFrame,
    calendar_features: pd.DataFrame,
    regions: list[str],
) -> pd.DataFrame:
    """Fan-in: join the primary table with all feature tables.

    ``regions`` (``params:features.regions``) fixes the one-hot columns so the
    table layout does not depend on which regions happen to be present.
    """
    table = (
        sales_primary.merge(store_features, on="store_id", how="left", validate="many_to_one")
        .merge(product_features, on="product_id", how="left", validate="many_to_one")
        .merge(calendar_features, on="order_id", how="left", validate="one_to_one")
    )
    for region in regions:
        table[f"region_{region}"] = (table["region"] == region).astype("int64")
    table["promo"] = table["promo"].astype("int64")
    table = table.drop(columns=["region", "order_date"])
    return table.sort_values("order_id").reset_index(drop=True)

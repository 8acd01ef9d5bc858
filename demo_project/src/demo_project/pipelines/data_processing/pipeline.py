"""``data_processing`` pipeline.

Shape::

    sales (CSV) --clean_sales_node--> cleaned_sales (memory) + cleaning_report (free output)
    stores (Parquet) --preprocess_stores_node--> preprocessed_stores (CSV)
    cleaned_sales + preprocessed_stores --create_sales_primary_node--> sales_primary (Parquet)

    sales_primary fans out to four independent nodes:
        store_features_node     -> store_features    (Parquet, catalog)
        product_features_node   -> product_features  (memory)
        calendar_features_node  -> calendar_features (memory)
        sales_summary_node      -> sales_summary     (JSON, catalog; not joined)

    and the first three fan in again:
        create_model_input_table_node -> model_input_table (Parquet)
"""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    clean_sales,
    compute_calendar_features,
    compute_product_features,
    compute_store_features,
    create_model_input_table,
    create_sales_primary,
    preprocess_stores,
    summarize_sales,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=clean_sales,
                inputs=["sales", "params:cleaning"],
                outputs=["cleaned_sales", "cleaning_report"],
                name="clean_sales_node",
                tags=["preprocessing"],
            ),
            Node(
                func=preprocess_stores,
                inputs=["stores", "params:reference_year"],
                outputs="preprocessed_stores",
                name="preprocess_stores_node",
                tags=["preprocessing"],
            ),
            Node(
                func=create_sales_primary,
                inputs=["cleaned_sales", "preprocessed_stores"],
                outputs="sales_primary",
                name="create_sales_primary_node",
                tags=["preprocessing"],
            ),
            # ---- fan-out from sales_primary ----
            Node(
                func=compute_store_features,
                inputs="sales_primary",
                outputs="store_features",
                name="store_features_node",
                tags=["features"],
            ),
            Node(
                func=compute_product_features,
                inputs="sales_primary",
                outputs="product_features",
                name="product_features_node",
                tags=["features"],
            ),
            Node(
                func=compute_calendar_features,
                inputs=["sales_primary", "params:features.weekend_days"],
                outputs="calendar_features",
                name="calendar_features_node",
                tags=["features"],
            ),
            Node(
                func=summarize_sales,
                inputs="sales_primary",
                outputs="sales_summary",
                name="sales_summary_node",
                tags=["reporting"],
            ),
            # ---- fan-in ----
            Node(
                func=create_model_input_table,
                inputs=[
                    "sales_primary",
                    "store_features",
                    "product_features",
                    "calendar_features",
                    "params:features.regions",
                ],
                outputs="model_input_table",
                name="create_model_input_table_node",
                tags=["features"],
            ),
        ]
    )

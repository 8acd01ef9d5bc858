"""``data_science`` pipeline.

Shape::

    model_input_table (Parquet, written by data_processing)
      --split_data_node--> X_train, X_test, y_train, y_test   (all memory)
    X_train + y_train --train_model_node [heavy]--> regressor (pickle)

    regressor fans out to:
        predict_node            -> predictions        (CSV, catalog)
        feature_importance_node -> feature_importance (free output: memory, unconsumed)

    predictions + y_test --evaluate_model_node--> model_metrics (JSON)
"""

from kedro.pipeline import Node, Pipeline

from .nodes import evaluate_model, feature_importance, predict, split_data, train_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=split_data,
                inputs=["model_input_table", "params:model_options"],
                outputs=["X_train", "X_test", "y_train", "y_test"],
                name="split_data_node",
                tags=["training"],
            ),
            Node(
                func=train_model,
                inputs=["X_train", "y_train", "params:model_options.random_forest"],
                outputs="regressor",
                name="train_model_node",
                tags=["training", "heavy"],
            ),
            Node(
                func=predict,
                inputs=["regressor", "X_test"],
                outputs="predictions",
                name="predict_node",
                tags=["inference"],
            ),
            Node(
                func=feature_importance,
                inputs=["regressor", "X_train"],
                outputs="feature_importance",
                name="feature_importance_node",
                tags=["reporting"],
            ),
            Node(
                func=evaluate_model,
                inputs=["predictions", "y_test"],
                outputs="model_metrics",
                name="evaluate_model_node",
                tags=["reporting"],
            ),
        ]
    )

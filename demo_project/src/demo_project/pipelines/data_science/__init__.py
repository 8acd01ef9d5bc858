"""``data_science`` pipeline: model input table -> trained model, predictions, metrics."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

__version__ = "0.1"

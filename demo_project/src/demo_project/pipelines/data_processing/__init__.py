"""``data_processing`` pipeline: raw sales + stores -> model input table."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

__version__ = "0.1"

"""Data sources and input pipelines for training."""

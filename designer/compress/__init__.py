"""Compress a trained model for deployment (quantisation, pruning) and measure what it costs and saves."""

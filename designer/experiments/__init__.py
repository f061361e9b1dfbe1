"""Experiments: hyperparameter sweeps over a project, run as parallel trials and compared."""

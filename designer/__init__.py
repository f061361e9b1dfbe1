"""Keras Network Designer: design, analyse, train and export Keras networks."""

__version__ = "0.1.0"

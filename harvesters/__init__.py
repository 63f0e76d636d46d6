"""Harvesters: pull dataset metadata from sources and normalise it into Records."""

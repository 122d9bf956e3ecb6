"""Sanctions screening: name normalisation, the in-memory index and list importers."""

"""Fixtures for the redis part of the suite (filled in by its owner)."""

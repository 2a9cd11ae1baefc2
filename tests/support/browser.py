"""Fixtures for the browser part of the suite (filled in by its owner)."""

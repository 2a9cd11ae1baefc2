"""Fixtures for the service part of the suite (filled in by its owner)."""

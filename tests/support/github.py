"""Fixtures for the github part of the suite (filled in by its owner)."""

"""Fixtures for the llm part of the suite (filled in by its owner)."""

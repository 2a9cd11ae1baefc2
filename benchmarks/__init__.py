"""Benchmarks: the QA runner against the same scenarios written as plain pytest-playwright tests."""

"""Specloop: a spec-first GitHub App (story -> example map -> approved spec -> code -> browser QA)."""

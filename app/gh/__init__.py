"""GitHub in one place: the App client and every REST call Specloop makes, through githubkit's typed API.

Modules, one per part of the API: `client` (the App, installation clients and tokens), `issues`
(issues, comments, reactions, labels), `pulls` (pull requests and reviews), `git_data` (refs, trees,
blobs, commits), `checks` (check runs), `repos` (repository, contents, collaborator roles) and
`deliveries` (the App's webhook deliveries). Nothing outside this package names a REST path.

Every call goes through githubkit's generated `rest.*` methods, which send one pinned
`X-GitHub-Api-Version` (`API_VERSION`); lists go through `gh.rest.paginate`, which follows GitHub's
`Link` header (page numbers or cursors alike). Answers are read into the small lenient models of
`app.gh.models`: githubkit's generated response models are strict (every field the OpenAPI schema calls
required), and one field GitHub leaves out of a real payload would fail a whole job over data we never read.
"""

from __future__ import annotations

from app.gh.models import RepoRef

# The REST API version every call sends: the one githubkit's generated methods are built for, with the
# schemas package pinned in pyproject.toml (tests/test_github_layer.py fails if an upgrade moves it).
API_VERSION = "2026-03-10"
# Sent again on every next page: githubkit's paginator re-sends only the headers it was given.
VERSION_HEADERS = {"X-GitHub-Api-Version": API_VERSION}

__all__ = ["API_VERSION", "VERSION_HEADERS", "RepoRef"]

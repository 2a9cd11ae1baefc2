"""Check runs: find Specloop's own run of a name on a commit, create it, update it."""

from __future__ import annotations

from typing import Any

from githubkit import GitHub

from app.gh.models import CheckRun, RepoRef, read

GH = GitHub[Any]


async def find_check_run(gh: GH, repo: RepoRef, sha: str, name: str, *, app_id: int,
                         external_id: str | None = None) -> CheckRun | None:
    """Our latest check run called `name` on commit `sha`, if any; with `external_id`, our latest one
    carrying it (among every run of that name, not only the latest).

    Filtered by `app_id`: another App's run of the same name is not ours to update (GitHub answers 403)
    nor proof that we reported.
    """
    response = await gh.rest.checks.async_list_for_ref(repo.owner, repo.name, sha, check_name=name,
                                                       filter_="all" if external_id else "latest", app_id=app_id,
                                                       per_page=100)
    items = [item for item in response.json().get("check_runs") or []
             if external_id is None or item.get("external_id") == external_id]
    runs = [CheckRun.model_validate(item) for item in items]
    return next((run for run in runs if run.app is None or run.app.id in (None, app_id)), None)


async def create_check_run(gh: GH, repo: RepoRef, sha: str, name: str, fields: dict[str, Any]) -> CheckRun:
    """Create check run `name` on `sha` with `fields` (status, conclusion, output, actions, ...)."""
    return read(CheckRun, await gh.rest.checks.async_create(repo.owner, repo.name, name=name, head_sha=sha,
                                                            **fields))


async def update_check_run(gh: GH, repo: RepoRef, run_id: int, fields: dict[str, Any]) -> CheckRun:
    """Update a check run; GitHub appends the annotations of each update to those it has."""
    return read(CheckRun, await gh.rest.checks.async_update(repo.owner, repo.name, run_id, **fields))


async def get_check_run(gh: GH, repo: RepoRef, run_id: int) -> CheckRun:
    """One check run."""
    return read(CheckRun, await gh.rest.checks.async_get(repo.owner, repo.name, run_id))

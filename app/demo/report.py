"""`specloop demo --report PATH`: a JSON transcript of what GitHub shows once the demo has run.

Read from the GitHub double's state at the end (its public accessors and the real git repository
behind it), not from the demo's own narration:

    {"issue": {number, title, body, labels, state},
     "comments": [{number, author, body}, ...],                 # on the issue and its PRs, oldest first
     "pulls": [{number, title, body, head, base, head_sha, draft, state, merged,
                "files": {path: content at head, null when removed},   # what the PR changes
                "reviews": [{author, state, commit_id, body}],
                "check_runs": [{name, head_sha, status, conclusion,
                                "output": {title, summary, text, annotations, images}}]}],   # on its commits
     "artifacts_dir": "<--out>"}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.sandbox.github import GitHubDouble
from app.sandbox.github.state import CheckRun, Pull

REPORT_KEYS = ("issue", "comments", "pulls", "artifacts_dir")


def transcript(double: GitHubDouble, repo: str, issue: int | None, artifacts_dir: Path) -> dict[str, Any]:
    """What GitHub shows for the story `issue` of `repo`: the issue, the comments, the PRs; see the module doc."""
    state = double.repo(repo)
    found = state.issues.get(issue) if issue is not None else None
    shown = {issue} | {number for number, item in state.issues.items() if item.is_pull}
    return {
        "issue": None if found is None else {
            "number": found.number, "title": found.title, "body": found.body, "labels": list(found.labels),
            "state": found.state,
        },
        "comments": [{"number": c.number, "author": c.user.login, "body": c.body}
                     for c in double.comments(repo) if c.number in shown],
        "pulls": [_pull(double, repo, pull) for pull in sorted(state.pulls.values(), key=lambda p: p.number)],
        "artifacts_dir": str(artifacts_dir),
    }


def _pull(double: GitHubDouble, repo: str, pull: Pull) -> dict[str, Any]:
    git = double.repo(repo).git
    issue = double.issue(repo, pull.number)
    base = git.merge_base(pull.base_sha, pull.head_sha) or pull.base_sha
    files: dict[str, str | None] = {}
    for change in git.diff(base, pull.head_sha):
        data = git.file_at(pull.head_sha, change.filename)
        files[change.filename] = None if data is None else data.decode(errors="replace")
    commits = set(git.log(f"{base}..{pull.head_sha}")) | {pull.head_sha}
    runs = sorted((run for run in double.check_runs(repo) if run.head_sha in commits), key=lambda r: r.id)
    return {
        "number": pull.number, "title": issue.title, "body": issue.body, "head": pull.head_ref,
        "base": pull.base_ref, "head_sha": pull.head_sha, "draft": pull.draft,
        "state": issue.state, "merged": pull.merged, "files": files,
        "reviews": [{"author": r.user.login, "state": r.state, "commit_id": r.commit_id, "body": r.body}
                    for r in sorted(double.reviews(repo, pull.number), key=lambda r: r.id)],
        "check_runs": [_check_run(run) for run in runs],
    }


def _check_run(run: CheckRun) -> dict[str, Any]:
    output = {key: run.output.get(key) for key in ("title", "summary", "text")}
    return {"name": run.name, "head_sha": run.head_sha, "status": run.status, "conclusion": run.conclusion,
            "output": {**output, "annotations": list(run.annotations), "images": list(run.images)}}


def write_report(path: Path, report: dict[str, Any]) -> Path:
    """Write the transcript as indented JSON (UTF-8, emoji as they are); the path written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path

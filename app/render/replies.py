"""Replies the bot posts in issue and PR threads: one renderer per kind, each with a hidden marker.

Section 1 (job failures, refusals, config errors) belongs to the core; other renderers (help, status,
unknown command) live below it as separate functions.
"""

from __future__ import annotations

from app.commands import valid_command_name
from app.domain.markers import marker

# Texts the tests assert on, kept as constants so wording changes happen in one place.
JOB_FAILED_TITLE = "Specloop could not finish"
CONFIG_ERROR_TITLE = "Specloop's configuration file has a problem"

# What each job is, in words a person reading the thread understands.
JOB_DESCRIPTIONS = {
    "map_story": "mapping this story",
    "reply": "answering a command",
    "write_spec": "writing the spec pull request",
    "check_spec": "checking the spec",
    "revise_spec": "revising the spec",
    "approve_spec": "recording the approval",
    "close_gate": "re-opening the approval gate",
    "generate_code": "generating code",
    "run_qa": "running QA",
}

# How a person re-runs each job from GitHub.
JOB_RETRY_HINTS = {
    "map_story": "comment `/specloop map` to try again",
    "write_spec": "comment `/specloop spec` to try again",
    "check_spec": "push a commit or use the check's Re-run button to try again",
    "revise_spec": "comment `/specloop revise` to try again",
    "approve_spec": "submit the approving review again to try again",
    "close_gate": "push a commit to re-check the spec",
    "generate_code": "comment `/specloop code` to try again",
    "run_qa": "comment `/specloop qa` or use the check's Re-run button to try again",
}


def job_failed(function: str, reason: str, *, job_id: str | None = None) -> str:
    """The one comment posted when a job fails for good: what failed, what to do, how to retry."""
    what = JOB_DESCRIPTIONS.get(function, function.replace("_", " "))
    retry = JOB_RETRY_HINTS.get(function, "repeat what you did (label, comment or review) to try again")
    lines = [
        marker("failure", job=function, id=job_id) if job_id else marker("failure", job=function),
        f"### {JOB_FAILED_TITLE}",
        "",
        f"Something went wrong while {what}: {reason.strip() or 'an unexpected error'}.",
        "",
        (f"**What to do:** check the reason above (a repository setting, a permission or a temporary "
         f"GitHub problem), then {retry}."),
    ]
    return "\n".join(lines)


def _request(request: str | None) -> dict[str, str]:
    """The marker data naming the request a reply answers (the job's id, kept by arq's retries), so a
    retry of a run that died after posting finds that reply instead of posting a second one."""
    return {"request": request} if request else {}


def refusal(actor: str, action: str, who_may: str, *, request: str | None = None) -> str:
    """A polite refusal: `actor` may not run `action`; `who_may` says who can (from permissions.describe)."""
    lines = [
        marker("reply", type="refusal", action=action, actor=actor, **_request(request)),
        f"@{actor} sorry, Specloop did not run `{action}` for you: it is open to {who_may}.",
        "",
        ("Ask someone with that access to run it, or ask a maintainer to change the `permissions:` "
         "section of `.github/specloop.yml`."),
    ]
    return "\n".join(lines)


def config_error(path: str, key: str | None, line: int | None, message: str, *, repo: str | None = None) -> str:
    """Report an invalid `.github/specloop.yml`, naming the key and line, instead of using defaults."""
    where = f"`{path}`" + (f" in `{repo}`" if repo else "")
    location = []
    if key:
        location.append(f"key `{key}`")
    if line:
        location.append(f"line {line}")
    at = f" ({', '.join(location)})" if location else ""
    lines = [
        marker("reply", type="config_error", path=path, key=key or "", line=line or 0),
        f"### {CONFIG_ERROR_TITLE}",
        "",
        f"{where}{at}: {message}",
        "",
        ("Specloop did not fall back to its defaults, so nothing was done. Fix the file on the default "
         "branch, then repeat what you did (label, comment or review) to try again."),
    ]
    return "\n".join(lines)


# --- Section 2: help, status, unknown command, model failures (stories and example mapping) ---------

HELP_TITLE = "Specloop commands"
MAP_FAILED_TITLE = "Specloop could not update the example map"
BUDGET_TITLE = "Specloop's model budget is spent"

# (command, where, what it does), in the order people meet them.
COMMANDS: list[tuple[str, str, str]] = [
    ("/specloop map", "issue", "map the story again, with the discussion as context"),
    ("/specloop spec", "issue", "open (or update) the spec pull request, even with open questions"),
    ("/specloop spec --regenerate", "issue", "rewrite the spec from the map, replacing edits on the branch"),
    ("/specloop status", "issue", "show where the story stands"),
    ("/specloop revise", "spec PR", "revise the spec from the review comments"),
    ("/specloop code", "spec PR", "generate code for the approved spec (reports \"not available\" in this version)"),
    ("/specloop qa", "spec PR", "run the approved scenarios in a browser again"),
    ("/specloop help", "issue or PR", "this list"),
]


def _command_table(who_may: dict[str, str] | None) -> list[str]:
    lines = ["| command | where | what it does | who may |", "|---|---|---|---|"]
    for command, where, what in COMMANDS:
        action = command.split()[1]
        lines.append(f"| `{command}` | {where} | {what} | {(who_may or {}).get(action, '')} |")
    return lines


def help_reply(actor: str | None = None, *, story_label: str = "story",
               who_may: dict[str, str] | None = None, request: str | None = None) -> str:
    """The command list, with the label that starts a story and who may run each command."""
    greeting = f"@{actor} " if actor else ""
    lines = [
        marker("reply", kind="help", **_request(request)),
        f"### {HELP_TITLE}",
        "",
        (f"{greeting}label an issue `{story_label}` and Specloop posts its example map; answer the questions "
        "in the thread and the map updates itself. Commands go on a line of their own in a comment:"),
        "",
        *_command_table(who_may),
    ]
    return "\n".join(lines)


_PLACES = {"issue": "issues", "spec PR": "spec pull requests"}


def _unknown_problem(entry: str) -> str:
    """What was wrong with one entry of an unknown-command reply; only a valid name is ever echoed."""
    if not valid_command_name(entry):
        # anything else came from a stranger's comment: echoing it could mention someone or break markup
        return "an unknown command"
    name = entry.lower()
    for command, where, _ in COMMANDS:
        if command == f"/specloop {name}" and where in _PLACES:
            return f"`/specloop {name}` works on {_PLACES[where]}, not here"
    return f"`/specloop {name}` is not a command Specloop knows"


def unknown_command_reply(actor: str | None, detail: str | None, *, who_may: dict[str, str] | None = None,
                          request: str | None = None) -> str:
    """Unknown or misplaced commands (`detail`: their names, one a line): say so once, then the list."""
    greeting = f"@{actor} " if actor else ""
    problems: list[str] = []
    for entry in (detail or "").splitlines() or [""]:
        problem = _unknown_problem(entry.strip())
        if problem not in problems:
            problems.append(problem)
    if len(problems) == 1:
        only = problems[0]
        lead = "that is " if only == "an unknown command" else ""
        opening = [f"{greeting}{lead}{only}. Here is what Specloop understands:"]
    else:
        opening = [f"{greeting}Specloop did not follow these commands:", "",
                   *(f"- {problem}" for problem in problems), "", "Here is what Specloop understands:"]
    lines = [
        marker("reply", kind="unknown_command", **_request(request)),
        *opening,
        "",
        *_command_table(who_may),
    ]
    return "\n".join(lines)


def status_reply(actor: str | None, *, chain: str | None, readiness: str | None, revision: int | None,
                 map_url: str | None = None, request: str | None = None) -> str:
    """Where the story stands: the status chain of its map comment, or how to start one."""
    greeting = f"@{actor} " if actor else ""
    if chain is None:
        return "\n".join([
            marker("reply", kind="status", **_request(request)),
            f"{greeting}this issue has no example map yet. Add the story label, or comment `/specloop map`.",
        ])
    where = f"[example map, revision {revision}]({map_url})" if map_url else f"example map (revision {revision})"
    lines = [marker("reply", kind="status", **_request(request)), f"{greeting}where this story stands, from its {where}:", "", chain]
    if readiness:
        lines += ["", readiness]
    return "\n".join(lines)


def map_failed(reason: str, *, budget: bool = False, has_map: bool = False) -> str:
    """The model could not map the story (or its budget is spent): why, and what happens next."""
    kept = ("The example map above still shows its last good revision." if has_map
            else "No example map was posted.")
    if budget:
        lines = [
            marker("reply", kind="map_failed", budget=True),
            f"### {BUDGET_TITLE}",
            "",
            f"Specloop did not call the model: {reason.strip()}.",
            "",
            f"{kept} Once there is budget again, comment `/specloop map` to retry.",
        ]
    else:
        lines = [
            marker("reply", kind="map_failed", budget=False),
            f"### {MAP_FAILED_TITLE}",
            "",
            f"The model did not produce a usable example map: {reason.strip()}",
            "",
            f"{kept} Comment `/specloop map` to try again.",
        ]
    return "\n".join(lines)

"""The spec pull request: its title, and its body (scenario table, source map, next steps, approval)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.domain.fingerprint import Fingerprint
from app.domain.gherkin import ParsedFeature
from app.domain.markers import find_marker, marker, strip_markers

# GitHub rejects PR bodies over 65,536 characters; keep a margin for the approval section
MAX_BODY = 60_000
APPROVAL_HEADING = "### Approval"
NOT_APPROVED = (
    "**Not approved yet.** Approving the latest commit (as someone with write access) records "
    "the fingerprint of the feature files below and starts code generation."
)
SPEC_PR_TITLE_PREFIX = "Spec: "


def spec_pr_title(story_title: str) -> str:
    """The PR title: "Spec: <story title>"."""
    return f"{SPEC_PR_TITLE_PREFIX}{' '.join(story_title.split()) or 'untitled story'}"[:256]


@dataclass
class SpecPrView:
    """What the PR body shows; the job fills it from the map, the feature and the branch."""

    issue_number: int
    story_title: str
    branch: str
    features: Sequence[ParsedFeature]
    map_url: str | None = None  # link to the issue's map comment
    map_revision: int | None = None
    rule_count: int = 0
    example_count: int = 0
    written_by: str = "offline"  # "model" or "offline" (deterministic writer)
    written_digest: str = (
        ""  # sha256 of the file the bot wrote: a different file on the branch is a person's edit
    )
    findings_url: str | None = None
    extra_notes: list[str] = field(default_factory=list)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return strip_markers(text).replace("|", "\\|").replace("\n", " ").strip()


def _steps_cell(steps: Sequence[tuple[str, str]]) -> str:
    return "<br>".join(f"**{_cell(keyword)}** {_cell(text)}" for keyword, text in steps) or "—"


def scenario_tables(features: Sequence[ParsedFeature], *, limit: int = MAX_BODY // 2) -> str:
    """The scenarios of every feature as Markdown tables, one per rule, within `limit` characters."""
    parts: list[str] = []
    for feature in features:
        parts.append(f"#### `{feature.uri}` — {_cell(feature.name) or 'unnamed feature'}")
        scenarios = feature.scenarios()
        background = feature.background()
        if background:
            parts.append("Background: " + _steps_cell([(s.keyword, s.text) for s in background]))
        by_rule: dict[str | None, list[str]] = {}
        for scenario in scenarios:
            steps = _steps_cell([(s.keyword, s.text) for s in scenario.steps])
            outline = f" ({scenario.examples_rows} rows)" if scenario.examples_rows else ""
            by_rule.setdefault(scenario.rule, []).append(f"| {_cell(scenario.name)}{outline} | {steps} |")
        for rule, rows in by_rule.items():
            parts.append(f"**Rule: {_cell(rule)}**" if rule else "**Scenarios**")
            parts.append("| Example | Steps |\n|---|---|\n" + "\n".join(rows))
    text = "\n\n".join(parts)
    if len(text) > limit:
        # a huge spec still gets a readable, valid body; the file itself is in "Files changed"
        cut = text.rfind("\n", 0, limit)
        text = (
            text[: cut if cut > 0 else limit]
            + "\n\n_…the table is cut here; see the full file in Files changed._"
        )
    return text


def approval_section(fingerprint: Fingerprint | None) -> str:
    """The last section of the body: approval state, and the hidden fingerprint marker when approved."""
    if fingerprint is None:
        return f"{APPROVAL_HEADING}\n\n{NOT_APPROVED}"
    files = "\n".join(
        f"| `{path}` | `{digest[:12]}` |" for path, digest in sorted(fingerprint.manifest.items())
    )
    return "\n".join(
        [
            APPROVAL_HEADING,
            "",
            (f"**Approved** by @{fingerprint.approver} on commit {fingerprint.sha[:7]} "
            f"(fingerprint `{fingerprint.digest[:12]}`). These files are now the contract: generated code may "
            "not change them, and a push that changes one closes this gate until a new approval."),
            "",
            "| approved file | sha256 |\n|---|---|\n" + files if files else "_No feature files were found._",
            "",
            marker("fingerprint", **fingerprint.to_data()),
        ]
    )


def render_spec_pr_body(view: SpecPrView, fingerprint: Fingerprint | None = None) -> str:
    """The spec PR body: what it is, the scenarios by rule, the map it came from, what happens next."""
    paths = [f.uri for f in view.features]
    source = f"[example map]({view.map_url})" if view.map_url else "example map"
    revision = f" (revision {view.map_revision})" if view.map_revision else ""
    how = (
        "written by the model from the map"
        if view.written_by == "model"
        else "rendered from the map without a model (deterministic writer)"
    )
    lines = [
        marker(
            "spec-pr",
            issue=view.issue_number,
            branch=view.branch,
            paths=paths,
            **({"written": view.written_digest} if view.written_digest else {}),
        ),
        f"## Executable specification for #{view.issue_number}: {_cell(view.story_title)}",
        "",
        ("This pull request proposes the behaviour of the story as Gherkin scenarios. Read them like code: "
        "edit the `.feature` file on this branch, comment on its lines, or request changes "
        "(`/specloop revise` asks the bot to revise from the review comments)."),
        "",
        "### Scenarios",
        "",
        scenario_tables(view.features),
        "",
        "### Where it came from",
        "",
        (f"From the {source}{revision} on #{view.issue_number}: {view.rule_count} rules, "
        f"{view.example_count} examples; {how}."),
        *[f"- {_cell(note)}" for note in view.extra_notes],
        "",
        "### What happens after approval",
        "",
        ("1. An approving review **of the latest commit** by someone with write access (or a configured "
        "approver) records the fingerprint of the feature and step files."),
        ("2. Code generation starts once per approved commit and pushes the code to **this** branch, so the "
        "spec and the code that makes it pass land together."),
        "3. QA runs exactly the approved scenarios in a real browser and reports on the `specloop/qa` check.",
        ("4. Changing a feature file after approval closes the gate again until someone approves the new "
        "commit."),
        "",
        f"Closes #{view.issue_number}",
        "",
    ]
    body = "\n".join(lines)
    return body[:MAX_BODY] + "\n" + approval_section(fingerprint)


_APPROVAL_TAIL = re.compile(rf"\n?{re.escape(APPROVAL_HEADING)}\n.*\Z", re.DOTALL)


def with_approval(body: str | None, fingerprint: Fingerprint | None) -> str:
    """The existing body (edits kept) with its approval section replaced: recorded, or cleared when None."""
    head = _APPROVAL_TAIL.sub("", body or "").rstrip("\n")
    # a fingerprint marker anywhere else (pasted by someone) must not survive as a fake approval
    head = re.sub(r"<!--\s*specloop:fingerprint\b.*?-->", "", head, flags=re.DOTALL).rstrip("\n")
    return f"{head}\n\n{approval_section(fingerprint)}"


# --- replies about the spec, on the issue or the spec PR ----------------------------------------------

NO_MAP = "there is no example map on this issue yet"
NEEDS_MODEL = "Revising the spec from review comments needs a model"
HUMAN_EDIT = "was edited on this branch, so Specloop kept your version"
GATE_CLOSED = "The approval gate is closed again"


def _reply(kind: str, lines: list[str], **data: object) -> str:
    return "\n".join([marker("reply", type=kind, **data), *lines])


def no_map_reply(issue_number: int) -> str:
    """`/specloop spec` on an issue that was never mapped."""
    return _reply(
        "spec_no_map",
        [
            f"Specloop did not write a spec: {NO_MAP}.",
            "",
            ("Add the `story` label (or comment `/specloop map`) so Specloop maps the story first; the spec is "
            "written from the map's rules and examples."),
        ],
        issue=issue_number,
    )


def spec_invalid_reply(uri: str, errors: Sequence[object]) -> str:
    """The model's feature did not parse even after one repair: say so, with the parser's errors."""
    listed = [f"- `{_cell(str(e))}`" for e in errors][:20]
    return _reply(
        "spec_invalid",
        [
            (f"Specloop could not write a valid `{uri}`: the model's Gherkin did not parse, even after one repair "
            "with the parser's errors fed back."),
            "",
            *listed,
            "",
            "Comment `/specloop spec` to try again, or write the feature file yourself on a `specloop/` branch.",
        ],
        path=uri,
    )


def human_edit_reply(path: str, diff: str, *, limit: int = 50_000) -> str:
    """A person edited the feature on the branch: keep it, and show the diff the bot would have applied."""
    shown = diff if len(diff) <= limit else diff[:limit] + "\n… (diff cut)"
    return _reply(
        "spec_human_edit",
        [
            f"`{path}` {HUMAN_EDIT}. This is the change Specloop would apply from the current example map:",
            "",
            "```diff",
            shown.replace("```", "`\u200b``"),
            "```",
            "",
            "To replace your edits with Specloop's version, comment `/specloop spec --regenerate` on the issue.",
        ],
        path=path,
    )


def gate_closed_comment(
    reason: str, *, files: Sequence[str] = (), actor: str | None = None, approved_sha: str = ""
) -> str:
    """The gate closed again: a spec file changed after approval, or a person dismissed the approval."""
    if reason == "changed":
        why = f"these spec files changed after the approval of commit {approved_sha[:7]}: " + ", ".join(
            f"`{f}`" for f in files
        )
    elif reason == "dismissed":
        why = f"@{actor} dismissed the approval" if actor else "the approval was dismissed"
    else:
        why = reason
    return _reply(
        "gate_closed",
        [
            f"**{GATE_CLOSED}:** {why}.",
            "",
            "Code generation will not use the old approval. Review the latest commit and approve it to continue.",
        ],
        reason=reason,
        files=list(files),
        sha=approved_sha,  # which approval this closes: a retry of a closing finds its comment by it
    )


def approval_not_counted_reply(reviewer: str, why: str) -> str:
    """An approval that does not open the gate (older commit, fork, failing spec): say why, once."""
    return _reply(
        "approval_not_counted",
        [
            f"@{reviewer} thanks for the review. It does not open the gate yet: {why}.",
        ],
        reviewer=reviewer,
    )


NOT_OUR_PULL = "Specloop only gates the spec pull requests it opened itself"


def not_specloop_pull_reply(actor: str | None, asked: str) -> str:
    """An approval, `/specloop qa` or `/specloop code` on a PR the bot did not open (or a fork): say so, once."""
    who = f"@{actor} " if actor else ""
    return _reply(
        "not_specloop_pull",
        [
            (f"{who}{NOT_OUR_PULL}, so {asked} does nothing here: this pull request was opened by someone "
             "else or comes from a fork."),
            "",
            ("To get a gated spec, comment `/specloop spec` on the story issue; Specloop opens the spec "
             "pull request, and approvals, code generation and QA work there."),
        ],
    )


def needs_model_reply(actor: str | None) -> str:
    """Revision asked for while the service runs without a model key."""
    who = f"@{actor} " if actor else ""
    return _reply(
        "revise_needs_model",
        [
            f"{who}{NEEDS_MODEL}, and this Specloop runs without one (`ANTHROPIC_API_KEY` is not set).",
            "",
            "Edit the `.feature` file on this branch directly; every push is checked again.",
        ],
    )


def revision_reply(sha: str, summary: str, answers: Sequence[str], comments: Sequence[str]) -> str:
    """What the revision commit changed, answering each review comment in order."""
    lines = [f"Specloop pushed {sha[:7]} to answer the review.", ""]
    if summary.strip():
        lines += [_cell(summary), ""]
    for i, comment in enumerate(comments):
        answer = answers[i] if i < len(answers) else "(no specific answer)"
        lines.append(f"- > {_cell(comment)[:200]}\n  {_cell(answer)}")
    return _reply("spec_revised", lines, sha=sha)


def revision_unchanged_reply(summary: str) -> str:
    """The model's revision left the file as it was: nothing pushed."""
    return _reply(
        "spec_revision_unchanged",
        [
            "Specloop read the review but its revision left the feature file unchanged, so nothing was pushed.",
            *(["", _cell(summary)] if summary.strip() else []),
        ],
    )


def with_written(body: str | None, digest: str) -> str:
    """The body with its `spec-pr` marker recording `digest` as the file the bot last wrote."""
    text = body or ""
    data = find_marker(text, "spec-pr")
    if data is None:
        return text
    data["written"] = digest
    return re.sub(
        r"<!--\s*specloop:spec-pr\b.*?-->",
        lambda _: marker("spec-pr", **data),
        text,
        count=1,
        flags=re.DOTALL,
    )

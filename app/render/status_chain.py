"""The story's status chain: map -> spec PR -> approval -> code -> QA, one line with links.

Shown at the top of the map comment and in `/specloop status` replies; the spec, approval, code and
QA jobs advance it through `app.story_status.update_story_status`.
"""

from __future__ import annotations

from app.domain.story import StoryStatus

# `StoryStatus.code_state` -> the words after "💻 code:"; the state links to the `specloop/code` check run.
CODE_STATES = {
    "generating": ("generating", "the agent is implementing the approved scenarios"),
    "nothing pushed": ("nothing pushed", "see the check run for why"),
    "could not run": ("could not run", "see the check run for what to fix"),
    "branch moved": ("not pushed", "someone pushed meanwhile; `/specloop code` runs it again"),
}
QA_WORDS = {"success": "✅ passed", "failure": "❌ failed", "neutral": "➖ neutral", "cancelled": "⏹️ cancelled",
            "timed_out": "⌛ timed out", "action_required": "✋ action required", "skipped": "⏭️ skipped"}


def _short(sha: str | None) -> str:
    return f"`{sha[:7]}`" if sha else ""


def _link(text: str, url: str | None) -> str:
    return f"[{text}]({url})" if url else text


def _code_step(status: StoryStatus) -> str:
    """The chain's code step: the pushed commit, why there is none (only for an approved spec), or not yet."""
    if status.code_sha:
        return "💻 code " + _link(_short(status.code_sha), status.code_url)
    if status.code_state and status.approved_by:  # a closed gate makes an earlier code state stale
        words, why = CODE_STATES.get(status.code_state, (status.code_state, ""))
        return "💻 code: " + _link(words, status.code_url) + (f" ({why})" if why else "")
    return "💻 code: not yet"


def status_chain(status: StoryStatus, revision: int) -> str:
    """map -> spec PR -> approval -> code -> QA, with links, pending steps named as such."""
    steps = [f"🗺️ map r{revision}"]
    if status.spec_pr:
        steps.append("📝 spec PR " + _link(f"#{status.spec_pr}", status.spec_pr_url))
    else:
        steps.append("📝 spec PR: not yet")
    if status.approved_by:
        steps.append(f"✅ approved by @{status.approved_by}" + (f" on {_short(status.approved_sha)}"
                                                                 if status.approved_sha else ""))
    else:
        steps.append("✋ approval: not yet")
    steps.append(_code_step(status))
    if status.qa_conclusion:
        steps.append("🧪 QA " + _link(QA_WORDS.get(status.qa_conclusion, status.qa_conclusion), status.qa_url))
    else:
        steps.append("🧪 QA: not yet")
    return "**Status:** " + " → ".join(steps)


def spec_next_step(status: StoryStatus) -> str:
    """Where the spec stands once its pull request exists: review it there, or what follows approval."""
    pr = _link(f"#{status.spec_pr}", status.spec_pr_url)
    if status.approved_by:
        on = f" on {_short(status.approved_sha)}" if status.approved_sha else ""
        return f"The spec in {pr} is approved by @{status.approved_by}{on}; next: code, then QA."
    return f"The spec is in {pr} — review and approve it there."

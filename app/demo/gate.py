"""Phase 6: bob's approval opens the gate, and Specloop writes the code: the `specloop/code` check run on
the approved commit and the commit it pushed to the PR branch.
"""

from __future__ import annotations

from app.demo.stage import Stage
from app.demo.story import PHASES, REPO
from app.domain.fingerprint import Fingerprint
from app.domain.markers import find_marker


async def approve(stage: Stage) -> None:
    """Phase 6: bob (write) approves the PR's head: the gate opens, the fingerprint is recorded, the code is written."""
    n, double, number = stage.n, stage.double, pull_number(stage)
    n.phase(6, PHASES, "bob approves the spec PR → the gate opens → Specloop writes the code")
    with stage.timed("approval → code → QA"):  # one drain: the push starts QA
        approved = double.pull(REPO, number).head_sha
        stage.outcome.approved_sha = approved
        if stage.model is not None:
            assert stage.outcome.feature_path is not None
            turns = stage.model.agent_run(stage.outcome.feature_path, broken=stage.broken)
            n.say(f"The scripted agent's {len(turns)} turns are queued on the LLM double: read app.py and the "
                  "feature, write the sign-up" + (" WITH A REGRESSION (--broken-app)" if stage.broken else "")
                  + " and a unit test, run the tests and the approved scenarios, finish.")
        await stage.act(double.submit_review, REPO, number, "APPROVED", by="bob", commit_id=approved,
                        body="Reads right. Approved.")
        n.ok(f"bob (write access) approved commit {approved[:7]}")
        await stage.drain()
        _gate_opened(stage, number, approved)
        _code_written(stage, number, approved)


def _gate_opened(stage: Stage, number: int, approved: str) -> None:
    """The approval fingerprint in the PR body, and `specloop/spec` green on the approved commit."""
    n = stage.n
    body = stage.double.issue(REPO, number).body or ""
    fingerprint = Fingerprint.from_data(find_marker(body, "fingerprint"))
    stage.expect(fingerprint is not None, "the gate did not open: no approval fingerprint in the PR body")
    assert fingerprint is not None
    stage.expect(fingerprint.sha == approved and fingerprint.approver == "bob",
                 f"the fingerprint records {fingerprint.approver} on {fingerprint.sha[:7]}, "
                 f"expected bob on {approved[:7]}")
    n.ok(f"recorded the fingerprint in the PR body: approved by @{fingerprint.approver} on "
         f"{fingerprint.sha[:7]}, digest {fingerprint.digest[:12]}")
    for path, digest in sorted(fingerprint.manifest.items()):
        n.field("locked", f"{path}  sha256 {digest[:16]}…")
    spec = stage.check_run(approved, "specloop/spec")
    stage.expect(spec.conclusion == "success",
                 f"expected specloop/spec to succeed after approval, it is `{spec.conclusion}`")
    n.ok(f"specloop/spec is now {spec.conclusion}: {spec.output.get('title')}")


def _code_written(stage: Stage, number: int, approved: str) -> None:
    """`specloop/code` succeeded on the approved commit, and its commit is the branch's new head."""
    n, double, outcome = stage.n, stage.double, stage.outcome
    code = stage.check_run(approved, "specloop/code")
    # with --broken-app the agent's own `run_qa` saw the regression: the job pushes what it has, as partial
    expected = "neutral" if stage.broken else "success"
    if code.conclusion != expected:
        stage.show_check(code, summary_lines=20)
    stage.expect(code.conclusion == expected,
                 f"expected specloop/code to be `{expected}` on {approved[:7]}, it is `{code.conclusion}`: "
                 f"{code.output.get('title')}")
    n.ok(f"generated the code for the approved spec in the sandbox ({'scripted' if stage.model else 'real'} "
         "model, the job's tools)" + (", and its own QA run already saw a scenario fail:" if stage.broken else ":"))
    stage.show_check(code, summary_lines=14)
    pull = double.pull(REPO, number)
    head = pull.head_sha
    stage.expect(head != approved, f"specloop/code succeeded but nothing was pushed to {pull.head_ref}")
    git = double.repo(REPO).git
    commit = git.read_commit(head)
    issue = outcome.issue
    title = commit.message.strip().splitlines()[0] if commit.message.strip() else ""
    stage.expect(title.startswith(f"Implement #{issue}"),
                 f"expected the pushed commit to say “Implement #{issue}: …”, it says “{title}”")
    stage.expect(git.is_ancestor(approved, head), f"the pushed commit {head[:7]} does not build on {approved[:7]}")
    outcome.code_sha = head
    n.ok(f"pushed {head[:7]} “{title}” to {pull.head_ref} (through the Git Data API)")
    changes = git.diff(approved, head)
    stage.expect(changes, f"the pushed commit {head[:7]} changes no file")
    features = [c.filename for c in changes if c.filename.endswith(".feature")]
    stage.expect(not features, f"the generated commit changed the approved feature files {features}")
    for change in changes:
        n.field("changed", f"{change.status:<9} {change.filename}  (+{change.additions} -{change.deletions})")
    outcome.code_files = [c.filename for c in changes]


def pull_number(stage: Stage) -> int:
    """The spec PR's number (phase 5 found it)."""
    assert stage.outcome.pull is not None, "phase 5 finds the spec PR"
    return stage.outcome.pull

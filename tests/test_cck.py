"""Conformance with the Cucumber Compatibility Kit: each applicable sample runs through the QA runner with
its step definitions written in Specloop's project-step format (tests/fixtures/cck/), and the Cucumber
Messages stream it emits must equal the kit's `.ndjson` once ids, timestamps, durations, source
references, error texts and snippet code (languages differ) are normalised. docs/cucumber-compatibility.md
lists every sample of the kit.

Built-in web steps are step definitions of every Specloop run; the kit's samples know nothing of them, so
their `stepDefinition` envelopes are left out of the comparison (tests/test_qa_reports.py checks them).
"""

from __future__ import annotations

import difflib
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cucumber_compatibility_kit import CompatibilityKit

from app.domain.qa_messages import envelope_json, run_messages
from app.qa.browser import SharedBrowser
from app.qa.in_process import run_async
from app.qa.options import RunOptions
from tests.sample_app import SampleApp

FIXTURES = Path(__file__).parent / "fixtures" / "cck"
KIT = CompatibilityKit()

# The kit's samples that test something other than a runner's conformance; docs/cucumber-compatibility.md
# says why. Every other sample the installed kit ships runs here.
NOT_APPLICABLE = {"markdown", "multiple-features-reversed", "test-run-exception"}
SAMPLES = sorted(p.name for p in KIT.cck_features_folder_location.iterdir() if p.is_dir())
CONFORMANT = [name for name in SAMPLES if name not in NOT_APPLICABLE]
# The samples issue 14 names: the kit must still ship them, and each must be among those that run.
REQUIRED = (
    "minimal", "backgrounds", "rules", "rules-backgrounds", "data-tables", "doc-strings", "examples-tables",
    "examples-tables-undefined", "undefined", "ambiguous", "pending", "skipped", "parameter-types",
    "regular-expression", "unknown-parameter-type", "empty", "multiple-features", "cdata", "all-statuses",
    "attachments", "hooks", "hooks-named", "hooks-conditional", "unused-steps", "retry",
)

_ID_KEYS = {"id", "astNodeIds"}
_DROPPED = {"timestamp", "duration", "sourceReference", "workerId", "message", "exception"}


def _is_id_key(key: str) -> bool:
    return key in _ID_KEYS or key.endswith(("Id", "Ids"))


def _normalise(envelopes: list[dict[str, Any]]) -> list[str]:
    """The stream with ids renumbered by first appearance, and what legitimately differs between
    implementations (times, where definitions are written, error texts, snippet code, meta) taken out."""
    ids: dict[str, str] = {}

    def canonical(value: str) -> str:
        return ids.setdefault(value, f"id{len(ids)}")

    def walk(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in sorted(node.items()) if k not in _DROPPED}
        if isinstance(node, list):
            if key == "snippets":
                return [{"snippet": "…"} for _ in node]
            return [walk(item, key) for item in node]
        if isinstance(node, str) and _is_id_key(key):
            return canonical(node)
        return node

    out = []
    for envelope in envelopes:
        if "meta" in envelope:
            out.append(json.dumps({"meta": "…"}))
            continue
        definition = envelope.get("stepDefinition")
        if definition and definition["sourceReference"]["uri"].startswith("builtin:"):
            continue
        out.append(json.dumps(walk(envelope), sort_keys=True))
    return out


def _arguments(sample: Path) -> dict[str, int]:
    """The sample's command-line arguments (`retry.arguments.txt`: `--retry 2`) as run options."""
    found: dict[str, int] = {}
    for file in sample.glob("*.arguments.txt"):
        words = file.read_text(encoding="utf-8").split()
        for flag, value in itertools.pairwise(words):
            if flag == "--retry":
                found["retry"] = int(value)
    return found


def _run_sample(name: str, tmp_path: Path, browser: SharedBrowser, base_url: str) -> list[dict[str, Any]]:
    """Run one sample as the kit lays it out (`samples/<name>/<name>.feature`) and return its messages."""
    kit_sample = KIT.feature_code_for(name)
    folder = tmp_path / "samples" / name
    shutil.copytree(kit_sample, folder, ignore=shutil.ignore_patterns("*.ndjson", "*.ts"))
    steps = folder / "steps"
    steps.mkdir()
    if (FIXTURES / f"{name}.py").is_file():
        shutil.copy(FIXTURES / f"{name}.py", steps / f"{name.replace('-', '_')}.py")
    features = sorted(folder.glob("*.feature"))
    options = RunOptions(contexts=1, screenshots="off", trace=False, steps_dir=str(steps), allow_repo_steps=True,
                         out_dir=str(tmp_path / "evidence"), **_arguments(kit_sample))
    result = browser.call(run_async(features, base_url, options, root=tmp_path, browser=browser.browser))
    return [envelope_json(e) for e in run_messages(result)]


def _expected(name: str) -> list[dict[str, Any]]:
    ndjson = KIT.feature_code_for(name) / f"{name}.ndjson"
    return [json.loads(line) for line in ndjson.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("name", CONFORMANT)
def test_the_sample_emits_the_kits_message_stream(
    name: str, tmp_path: Path, browser: SharedBrowser, sample_app: SampleApp
) -> None:
    emitted = _normalise(_run_sample(name, tmp_path, browser, sample_app.url))
    expected = _normalise(_expected(name))
    if emitted != expected:
        diff = "\n".join(difflib.unified_diff(expected, emitted, "the kit's .ndjson", "Specloop", lineterm="", n=1))
        pytest.fail(f"the {name} sample's messages differ from the kit's:\n{diff}")


def test_every_required_sample_runs() -> None:
    assert not set(REQUIRED) - set(CONFORMANT), "a sample the issue requires is not run"


def test_every_sample_of_the_kit_is_listed_in_the_conformance_table() -> None:
    """The docs table says, for every sample the installed kit ships, conformant or why not."""
    table = (Path(__file__).parent.parent / "docs" / "cucumber-compatibility.md").read_text(encoding="utf-8")
    assert SAMPLES, "the installed compatibility kit has no samples"
    for name in SAMPLES:
        verdict = "conformant" if name in CONFORMANT else "not applicable"
        assert f"| `{name}` | {verdict} |" in table, f"docs/cucumber-compatibility.md: `{name}` should be {verdict}"


def test_the_comparison_sees_a_changed_status() -> None:
    """The normalisation keeps what conformance is about: a step's status, the order, the structure."""
    expected = _expected("minimal")
    changed = json.loads(json.dumps(expected))
    for envelope in changed:
        if "testStepFinished" in envelope:
            envelope["testStepFinished"]["testStepResult"]["status"] = "FAILED"
    assert _normalise(changed) != _normalise(expected)
    assert _normalise(list(reversed(expected))) != _normalise(expected)

"""Standard reports of a QA run: JUnit XML, Cucumber Messages NDJSON, and a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import json
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from app.domain.qa_results import RunResult, ScenarioResult, StepResult

STATUS_ICON = {"passed": "✅", "failed": "❌", "skipped": "⏭️", "undefined": "❓", "ambiguous": "⚠️"}


def step_error(step: StepResult) -> str:
    """The error text of a step, with the ready-to-paste snippet for an undefined one."""
    text = step.error or ""
    if step.snippet:
        text += "\n\nPaste this into a file under features/steps/ to define it:\n\n" + step.snippet
    return text


def scenario_error(scenario: ScenarioResult) -> str:
    """Why a scenario failed, in a few lines: the failing step (with its line) and its error."""
    step = scenario.failing_step()
    if step is None:
        return scenario.error or f"scenario {scenario.status}"
    return f"{scenario.uri}:{step.line}: {step.keyword} {step.text}\n{step_error(step)}"


# ------------------------------------------------------------------------------------------------
# JUnit XML
# ------------------------------------------------------------------------------------------------


def junit_xml(result: RunResult) -> str:
    """JUnit XML (one testsuite per feature file), as CI systems read it."""
    suites = ET.Element("testsuites", name="specloop qa", time=f"{result.duration:.3f}")
    by_uri: dict[str, list[ScenarioResult]] = {}
    for scenario in result.scenarios:
        by_uri.setdefault(scenario.uri, []).append(scenario)
    for uri, scenarios in by_uri.items():
        failures = sum(1 for s in scenarios if s.status == "failed")
        errors = sum(1 for s in scenarios if s.status in ("undefined", "ambiguous"))
        suite = ET.SubElement(suites, "testsuite", name=uri, tests=str(len(scenarios)), failures=str(failures),
                              errors=str(errors), skipped="0",
                              time=f"{sum(s.duration for s in scenarios):.3f}")
        for scenario in scenarios:
            name = f"{scenario.rule} / {scenario.name}" if scenario.rule else scenario.name
            case = ET.SubElement(suite, "testcase", name=name, classname=scenario.feature or uri,
                                 file=uri, line=str(scenario.line), time=f"{scenario.duration:.3f}")
            if scenario.failed:
                tag = "failure" if scenario.status == "failed" else "error"
                step = scenario.failing_step()
                node = ET.SubElement(case, tag, type=scenario.status,
                                     message=(step.error or "").splitlines()[0] if step and step.error
                                     else scenario.status)
                node.text = scenario_error(scenario)
            steps = "\n".join(f"{s.keyword} {s.text} ... {s.status}" for s in scenario.steps)
            ET.SubElement(case, "system-out").text = steps
    for error in result.errors:
        suite = ET.SubElement(suites, "testsuite", name=error.uri or "load", tests="1", failures="0", errors="1")
        case = ET.SubElement(suite, "testcase", name=f"load {error.uri}", classname="specloop")
        ET.SubElement(case, "error", type="load", message=error.message.splitlines()[0]).text = error.message
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# ------------------------------------------------------------------------------------------------
# Cucumber Messages NDJSON
# ------------------------------------------------------------------------------------------------


def _timestamp(seconds: float) -> dict[str, int]:
    whole = int(seconds)
    return {"seconds": whole, "nanos": int((seconds - whole) * 1e9)}


def _duration(seconds: float) -> dict[str, int]:
    return _timestamp(max(0.0, seconds))


def cucumber_messages(result: RunResult, *, version: str = "0.1.0") -> list[dict[str, Any]]:
    """The run as Cucumber Messages envelopes (meta, sources, documents, pickles, test cases, results)."""
    ids = (str(uuid.UUID(int=i)) for i in range(1, 10**9))
    envelopes: list[dict[str, Any]] = [{"meta": {
        "protocolVersion": "27.0.0", "implementation": {"name": "specloop", "version": version},
        "runtime": {"name": "python"}, "os": {"name": "linux"}, "cpu": {"name": "x86_64"},
    }}]
    envelopes += result.documents
    envelopes += [{"pickle": p} for p in result.pickles]
    definition_ids: dict[str, str] = {}
    for definition in result.step_definitions:
        def_id = next(ids)
        name = f'"{definition["pattern"]}" ({definition["source"]})'
        definition_ids[name] = def_id
        uri = definition["source"].split(":")[0]
        envelopes.append({"stepDefinition": {
            "id": def_id, "pattern": {"source": definition["pattern"], "type": "CUCUMBER_EXPRESSION"},
            "sourceReference": {"uri": uri},
        }})
    run_id = next(ids)
    envelopes.append({"testRunStarted": {"timestamp": _timestamp(result.started_at), "id": run_id}})
    pickles = {p["id"]: p for p in result.pickles}
    for scenario in result.scenarios:
        pickle_steps = pickles.get(scenario.id, {}).get("steps", [])
        case_id = next(ids)
        test_steps = []
        for index, step in enumerate(scenario.steps):
            step_def_id = definition_ids.get(step.definition or "")
            test_steps.append({
                "id": next(ids),
                "pickleStepId": pickle_steps[index]["id"] if index < len(pickle_steps) else "",
                "stepDefinitionIds": [step_def_id] if step_def_id else [],
            })
        envelopes.append({"testCase": {"id": case_id, "pickleId": scenario.id, "testSteps": test_steps,
                                       "testRunStartedId": run_id}})
        started_id = next(ids)
        clock = scenario.started_at
        envelopes.append({"testCaseStarted": {"id": started_id, "testCaseId": case_id, "attempt": 0,
                                              "timestamp": _timestamp(clock)}})
        for step, test_step in zip(scenario.steps, test_steps, strict=True):
            envelopes.append({"testStepStarted": {"testCaseStartedId": started_id, "testStepId": test_step["id"],
                                                  "timestamp": _timestamp(clock)}})
            clock += step.duration
            if step.screenshot and Path(step.screenshot).is_file():
                envelopes.append({"attachment": {
                    "testCaseStartedId": started_id, "testStepId": test_step["id"], "mediaType": "image/png",
                    "contentEncoding": "BASE64", "fileName": Path(step.screenshot).name,
                    "body": base64.b64encode(Path(step.screenshot).read_bytes()).decode(),
                }})
            step_result: dict[str, Any] = {"status": step.status.upper(), "duration": _duration(step.duration)}
            if step.error:
                step_result["message"] = step_error(step)
            envelopes.append({"testStepFinished": {"testCaseStartedId": started_id, "testStepId": test_step["id"],
                                                   "testStepResult": step_result, "timestamp": _timestamp(clock)}})
        envelopes.append({"testCaseFinished": {"testCaseStartedId": started_id, "willBeRetried": False,
                                               "timestamp": _timestamp(scenario.started_at + scenario.duration)}})
    for error in result.errors:
        envelopes.append({"parseError": {"source": {"uri": error.uri, **(
            {"location": {"line": error.line}} if error.line else {})}, "message": error.message}})
    envelopes.append({"testRunFinished": {"success": result.passed, "testRunStartedId": run_id,
                                          "timestamp": _timestamp(result.started_at + result.duration)}})
    return envelopes


def cucumber_ndjson(result: RunResult) -> str:
    """Cucumber Messages as newline-delimited JSON."""
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in cucumber_messages(result))


# ------------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2328}
h1{font-size:1.4rem} table{border-collapse:collapse} td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}
.passed{color:#1a7f37}.failed,.undefined,.ambiguous{color:#cf222e}.skipped{color:#6e7781}
details{margin:.6rem 0;border:1px solid #ddd;border-radius:6px;padding:.4rem .8rem}
summary{cursor:pointer;font-weight:600} pre{background:#f6f8fa;padding:.6rem;white-space:pre-wrap}
img{max-width:640px;border:1px solid #ccc;margin:.3rem 0;display:block}
"""


def html_report(result: RunResult, *, title: str = "Specloop QA report") -> str:
    """A single HTML file (no external assets): summary, every scenario's steps, embedded screenshots."""
    esc = html.escape
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts().items()))
    verdict = "passed" if result.passed else "failed"
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}: <span class='{verdict}'>{verdict}</span></h1>",
        (f"<p>{len(result.scenarios)} scenarios ({esc(counts or 'none')}) against <code>{esc(result.base_url)}</code>"
         f" in {result.duration:.1f} s, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(result.started_at))}.</p>"),
    ]
    for error in result.errors:
        where = f"{error.uri}:{error.line}" if error.line else error.uri
        parts.append(f"<pre class='failed'>{esc(where)}: {esc(error.message)}</pre>")
    parts.append("<table><tr><th>Scenario</th><th>Rule</th><th>Status</th><th>Duration</th></tr>")
    for s in result.scenarios:
        parts.append(f"<tr><td><a href='#s-{esc(s.id)}'>{esc(s.name)}</a></td><td>{esc(s.rule or '')}</td>"
                     f"<td class='{s.status}'>{STATUS_ICON[s.status]} {s.status}</td><td>{s.duration:.2f} s</td></tr>")
    parts.append("</table>")
    for s in result.scenarios:
        parts.append(f"<details id='s-{esc(s.id)}'{' open' if s.failed else ''}><summary class='{s.status}'>"
                     f"{STATUS_ICON[s.status]} {esc(s.name)} <small>({esc(s.uri)}:{s.line})</small></summary><ol>")
        for step in s.steps:
            parts.append(f"<li class='{step.status}'>{esc(step.keyword)} {esc(step.text)} "
                         f"<small>line {step.line}, {step.status}</small>")
            if step.error:
                parts.append(f"<pre>{esc(step_error(step))}</pre>")
            if step.screenshot and Path(step.screenshot).is_file():
                data = base64.b64encode(Path(step.screenshot).read_bytes()).decode()
                parts.append(f"<img alt='screenshot after: {esc(step.text)}' src='data:image/png;base64,{data}'>")
            parts.append("</li>")
        parts.append("</ol>")
        if s.error:
            parts.append(f"<pre>{esc(s.error)}</pre>")
        if s.console_errors:
            parts.append("<p>Console errors:</p><pre>" + esc("\n".join(s.console_errors)) + "</pre>")
        if s.failed_requests:
            parts.append("<p>Failed requests:</p><pre>" + esc("\n".join(s.failed_requests)) + "</pre>")
        if s.trace:
            parts.append(f"<p>Trace: <code>{esc(s.trace)}</code> (open with <code>playwright show-trace</code>)</p>")
        parts.append("</details>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_reports(result: RunResult, out_dir: str | Path) -> dict[str, Path]:
    """Write junit.xml, cucumber-messages.ndjson and report.html into `out_dir`; return their paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "junit": folder / "junit.xml",
        "ndjson": folder / "cucumber-messages.ndjson",
        "html": folder / "report.html",
    }
    paths["junit"].write_text(junit_xml(result), encoding="utf-8")
    paths["ndjson"].write_text(cucumber_ndjson(result), encoding="utf-8")
    paths["html"].write_text(html_report(result), encoding="utf-8")
    return paths

"""Standard reports of a QA run: JUnit XML, Cucumber Messages NDJSON (`qa_messages`), and a self-contained
HTML page."""

from __future__ import annotations

import base64
import html
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from app.domain.qa_messages import messages_ndjson
from app.domain.qa_results import HookResult, RunResult, ScenarioResult, StepResult

STATUS_ICON = {"passed": "✅", "failed": "❌", "skipped": "⏭️", "undefined": "❓", "ambiguous": "⚠️", "pending": "⏸️"}


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


def _junit_earlier_attempts(case: ET.Element, scenario: ScenarioResult) -> None:
    """The failed attempts before a retry, as Maven Surefire's rerun report writes them (`flakyFailure` under a
    test that passed on a rerun, `rerunFailure` under one that never did), which the Surefire report, Jenkins'
    JUnit and flaky-test-handler plugins and others read; tools that do not know them skip the elements, and
    still see a flaky scenario as passed (as Cucumber counts it)."""
    tag = "flakyFailure" if scenario.flaky else "rerunFailure"
    for earlier in scenario.previous_attempts:
        step = earlier.failing_step()
        message = (step.error or "").splitlines()[0] if step and step.error else earlier.status
        node = ET.SubElement(case, tag, type=earlier.status, message=message)
        ET.SubElement(node, "stackTrace").text = scenario_error(earlier)
        ET.SubElement(node, "system-out").text = "\n".join(
            f"{s.keyword} {s.text} ... {s.status}" for s in earlier.steps)


def junit_xml(result: RunResult) -> str:
    """JUnit XML (one testsuite per feature file), as CI systems read it."""
    suites = ET.Element("testsuites", name="specloop qa", time=f"{result.duration:.3f}")
    by_uri: dict[str, list[ScenarioResult]] = {}
    for scenario in result.scenarios:
        by_uri.setdefault(scenario.uri, []).append(scenario)
    for uri, scenarios in by_uri.items():
        failures = sum(1 for s in scenarios if s.status == "failed")
        errors = sum(1 for s in scenarios if s.status in ("undefined", "ambiguous", "pending"))
        skipped = sum(1 for s in scenarios if s.status == "skipped")
        suite = ET.SubElement(suites, "testsuite", name=uri, tests=str(len(scenarios)), failures=str(failures),
                              errors=str(errors), skipped=str(skipped),
                              time=f"{sum(s.duration for s in scenarios):.3f}")
        for scenario in scenarios:
            name = f"{scenario.rule} / {scenario.name}" if scenario.rule else scenario.name
            case = ET.SubElement(suite, "testcase", name=name, classname=scenario.feature or uri,
                                 file=uri, line=str(scenario.line), time=f"{scenario.duration:.3f}")
            if scenario.status == "skipped":  # a step or hook skipped it (`Skipped`): not run, not failed
                step = next((s for s in scenario.steps if s.error), None)
                ET.SubElement(case, "skipped", message=(step.error if step and step.error else "skipped"))
            elif scenario.failed:
                tag = "failure" if scenario.status == "failed" else "error"
                step = scenario.failing_step()
                node = ET.SubElement(case, tag, type=scenario.status,
                                     message=(step.error or "").splitlines()[0] if step and step.error
                                     else scenario.status)
                node.text = scenario_error(scenario)
            _junit_earlier_attempts(case, scenario)
            steps = "\n".join(f"{s.keyword} {s.text} ... {s.status}" for s in scenario.steps)
            ET.SubElement(case, "system-out").text = steps
    for error in result.errors:
        suite = ET.SubElement(suites, "testsuite", name=error.uri or "load", tests="1", failures="0", errors="1")
        case = ET.SubElement(suite, "testcase", name=f"load {error.uri}", classname="specloop")
        ET.SubElement(case, "error", type="load", message=error.message.splitlines()[0]).text = error.message
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# ------------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2328}
h1{font-size:1.4rem} table{border-collapse:collapse} td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}
.passed{color:#1a7f37}.failed,.undefined,.ambiguous,.pending{color:#cf222e}.skipped{color:#6e7781}.flaky{color:#9a6700}
details{margin:.6rem 0;border:1px solid #ddd;border-radius:6px;padding:.4rem .8rem}
summary{cursor:pointer;font-weight:600} pre{background:#f6f8fa;padding:.6rem;white-space:pre-wrap}
img{max-width:640px;border:1px solid #ccc;margin:.3rem 0;display:block}
"""


def _html_run_notes(result: RunResult) -> list[str]:
    """Which tag expression selected the scenarios, the retry setting, and how many passed only on a retry."""
    esc = html.escape
    notes = []
    if result.tags:
        notes.append(f"<p>Scenarios selected by the tag expression <code>{esc(result.tags)}</code>.</p>")
    flaky = sum(1 for s in result.scenarios if s.flaky)
    if result.retry or flaky:
        notes.append(f"<p>A failed scenario ran again up to {result.retry} more time(s)"
                     + (f"; <span class='flaky'>{flaky} flaky</span> (passed only on a retry)" if flaky else "")
                     + ".</p>")
    return notes


def _html_status_cell(scenario: ScenarioResult) -> str:
    """The status cell of the summary table: a flaky scenario says so, with the attempt it passed on."""
    if scenario.flaky:
        return f"<td class='flaky'>⚠️ flaky (passed on attempt {scenario.attempt + 1})</td>"
    attempt = f" (attempt {scenario.attempt + 1})" if scenario.attempt else ""
    return f"<td class='{scenario.status}'>{STATUS_ICON.get(scenario.status, '')} {scenario.status}{attempt}</td>"


def _html_earlier_attempts(scenario: ScenarioResult) -> list[str]:
    """The attempts before the last one, each with its failing step and error (text only: an earlier
    attempt's evidence files are not kept with the report)."""
    esc = html.escape
    parts = []
    for earlier in scenario.previous_attempts:
        parts.append(f"<p class='failed'>Attempt {earlier.attempt + 1}: {esc(earlier.status)}</p>"
                     f"<pre>{esc(scenario_error(earlier))}</pre>")
    return parts


_HTML_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _html_attachments(attachments: list[dict[str, object]]) -> list[str]:
    """A step's or hook's attachments: text as text, links as links, images inline, other bytes to download."""
    esc = html.escape
    parts: list[str] = []
    for item in attachments:
        media, body, name = str(item.get("mediaType", "")), str(item.get("body", "")), item.get("fileName")
        label = esc(f"{name} ({media})" if name else media)
        if item.get("contentEncoding") == "BASE64":
            if media in _HTML_IMAGE_TYPES:
                parts.append(f"<img alt='{label}' src='data:{media};base64,{esc(body)}'>")
            else:
                parts.append(f"<p><a download='{esc(str(name or 'attachment'))}' "
                             f"href='data:application/octet-stream;base64,{esc(body)}'>📎 {label}</a></p>")
        elif media == "text/uri-list":
            links = [u.strip() for u in body.splitlines() if u.strip() and not u.startswith("#")]
            parts += [f"<p>🔗 <a href='{esc(u)}'>{esc(u)}</a></p>" if u.lower().startswith(("http://", "https://"))
                      else f"<p>🔗 {esc(u)}</p>" for u in links]
        else:
            parts.append(f"<p><small>{label}</small></p><pre>{esc(body)}</pre>")
    return parts


def _html_hooks(hooks: list[HookResult]) -> list[str]:
    """Hook results as list items: kind, name and source, status, error and attachments."""
    esc = html.escape
    parts: list[str] = []
    for hook in hooks:
        parts.append(f"<li class='{hook.status}'>{esc(hook.label)} <small>{hook.status}</small>")
        if hook.error:
            parts.append(f"<pre>{esc(hook.error)}</pre>")
        parts += _html_attachments(hook.attachments)
        parts.append("</li>")
    return parts


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
    parts += _html_run_notes(result)
    for error in result.errors:
        where = f"{error.uri}:{error.line}" if error.line else error.uri
        parts.append(f"<pre class='failed'>{esc(where)}: {esc(error.message)}</pre>")
    if result.run_hooks:
        parts += ["<p>BeforeAll / AfterAll hooks:</p><ul>", *_html_hooks(result.run_hooks), "</ul>"]
    parts.append("<table><tr><th>Scenario</th><th>Rule</th><th>Status</th><th>Duration</th></tr>")
    for s in result.scenarios:
        parts.append(f"<tr><td><a href='#s-{esc(s.id)}'>{esc(s.name)}</a></td><td>{esc(s.rule or '')}</td>"
                     f"{_html_status_cell(s)}<td>{s.duration:.2f} s</td></tr>")
    parts.append("</table>")
    for s in result.scenarios:
        parts.append(f"<details id='s-{esc(s.id)}'{' open' if s.failed else ''}><summary class='{s.status}'>"
                     f"{STATUS_ICON[s.status]} {esc(s.name)} <small>({esc(s.uri)}:{s.line})</small></summary><ol>")
        parts += _html_hooks(s.before_hooks)
        for step in s.steps:
            parts.append(f"<li class='{step.status}'>{esc(step.keyword)} {esc(step.text)} "
                         f"<small>line {step.line}, {step.status}</small>")
            if step.error:
                parts.append(f"<pre>{esc(step_error(step))}</pre>")
            if step.screenshot and Path(step.screenshot).is_file():
                data = base64.b64encode(Path(step.screenshot).read_bytes()).decode()
                parts.append(f"<img alt='screenshot after: {esc(step.text)}' src='data:image/png;base64,{data}'>")
            parts += _html_attachments(step.attachments)
            parts.append("</li>")
        parts += _html_hooks(s.after_hooks)
        parts.append("</ol>")
        parts += _html_earlier_attempts(s)
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
    paths["ndjson"].write_text(messages_ndjson(result), encoding="utf-8")
    paths["html"].write_text(html_report(result), encoding="utf-8")
    return paths

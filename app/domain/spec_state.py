"""The spec at one commit, checked: its files, the findings per feature, the parsed features, the manifest."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.domain.fingerprint import build_manifest
from app.domain.gherkin import ParsedFeature, parse_feature
from app.domain.spec_lint import Finding, check_feature, static_step_registry


@dataclass(frozen=True)
class SpecInput:
    """What checking a spec needs: the files at a commit and the repository's rules (plain, picklable)."""

    sha: str
    files: dict[str, str]
    features_dir: str
    max_steps: int
    allowed_origins: tuple[str, ...] = ()


@dataclass
class SpecState:
    """The spec at one commit: its files, findings per feature, parsed features and manifest."""

    sha: str
    files: dict[str, str]
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    parsed: list[ParsedFeature] = field(default_factory=list)
    manifest: dict[str, str] = field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        """Whether any feature file has a parse or lint error."""
        return any(f.level == "error" for fs in self.findings.values() for f in fs)

    @property
    def scenario_count(self) -> int:
        """How many scenarios the parsed features hold."""
        return sum(len(p.scenarios()) for p in self.parsed)


def evaluate(spec: SpecInput) -> SpecState:
    """Parse and lint every feature among the files, with repository steps read statically (never run)."""
    files = spec.files
    registry = static_step_registry({p: t for p, t in files.items() if p.endswith(".py")})
    state = SpecState(sha=spec.sha, files=files, manifest=build_manifest(files, spec.features_dir))
    for path in sorted(p for p in files if p.endswith(".feature")):
        state.findings[path] = check_feature(files[path], path, max_steps=spec.max_steps, extra=registry,
                                             allowed_origins=spec.allowed_origins)
        parsed = parse_feature(files[path], path)
        if isinstance(parsed, ParsedFeature):
            state.parsed.append(parsed)
    return state


def too_slow(spec: SpecInput, seconds: float) -> SpecState:
    """The verdict when checking took longer than `seconds`: every feature gets one error saying so."""
    message = (f"checking this spec took longer than {seconds:g} s and was stopped: simplify the step patterns "
               f"in `{spec.features_dir}/steps/` (fewer placeholders per pattern)")
    state = SpecState(sha=spec.sha, files=spec.files, manifest=build_manifest(spec.files, spec.features_dir))
    for path in sorted(p for p in spec.files if p.endswith(".feature")):
        state.findings[path] = [Finding(1, None, "error", message, "too-slow")]
    return state

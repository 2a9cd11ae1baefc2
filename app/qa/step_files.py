"""Loading a project's step files (`<features>/steps/*.py`): repository code, imported only where allowed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from app.domain.steps import StepDefinitionError, StepRegistry, collecting


def load_step_files(steps_dir: str | Path) -> StepRegistry:
    """Import every `*.py` in `steps_dir` and return the definitions, parameter types and hooks they register.

    A pattern that is not a valid Cucumber Expression (an old `parse` pattern like `"{item}"`), or a
    function that cannot take its expression's arguments, raises `StepDefinitionError` naming file and
    line; a definition naming an unknown parameter type is kept (it never matches) and listed in
    `registry.undefined_parameter_types`.
    """
    registry = StepRegistry()
    directory = Path(steps_dir)
    if not directory.is_dir():
        return registry
    for path in sorted(directory.glob("*.py")):
        load_step_file(registry, path)
    # Compiled once every file is in: a step may use a parameter type a later file registers.
    errors = registry.compile()
    if errors:
        raise StepDefinitionError("\n".join(str(e) for e in errors))
    return registry


def load_step_file(registry: StepRegistry, path: Path) -> None:
    """Import one step file into `registry`; a broken file raises `StepDefinitionError` naming it."""
    module_name = f"specloop_project_steps.{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StepDefinitionError(f"cannot load step file {path}")
    module = importlib.util.module_from_spec(spec)
    with collecting(registry):
        try:
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except StepDefinitionError:
            raise
        except Exception as exc:  # a broken step file is the project's error; name file and cause
            raise StepDefinitionError(f"error loading step file {path}: {type(exc).__name__}: {exc}") from exc

"""`check_spec`: validate every feature file of a spec PR's commit, post `specloop/spec`, guard the gate."""

from __future__ import annotations

from typing import Any

from app.context import JobScope
from app.job_args import CheckSpec
from app.spec_gate import SpecPr, run_check


async def check_spec(scope: JobScope, args: CheckSpec) -> dict[str, Any]:
    """Validate the spec at `sha`, post `specloop/spec`, re-close the gate or start QA for code pushes."""
    return await run_check(SpecPr.of(scope), scope.deps.redis, args.number, args.sha, await scope.config(),
                           installation_id=args.installation_id)

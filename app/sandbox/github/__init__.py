"""The GitHub double: a loopback GitHub (REST API, git smart HTTP, signed webhooks, faults) for tests and demos.

`double.GitHubDouble` composes the parts: `state` (everything GitHub knows, plus knobs), `hub` (the
context route handlers get), `server` (HTTP dispatch) and the route modules `apps`, `manifest`,
`issue_routes`, `labels`, `pull_routes`, `check_routes`, `deployments`, `repos` and `git_data`, which
register plain handler functions. State changes with webhooks live in `issues`, `pulls`, `checks`,
`deployments` and `commits`; JSON shapes in `payloads_core` and `payloads`.
"""

from .calls import HttpError
from .double import GitHubDouble
from .faults import Fault
from .state import RecordedRequest
from .webhooks import Delivery, sign

__all__ = ["Delivery", "Fault", "GitHubDouble", "HttpError", "RecordedRequest", "sign"]

"""The GitHub double: a loopback GitHub (REST API, git smart HTTP, signed webhooks, faults) for tests and demos."""

from .double import GitHubDouble, RecordedRequest
from .faults import Fault
from .router import HttpError
from .webhooks import Delivery, sign

__all__ = ["Delivery", "Fault", "GitHubDouble", "HttpError", "RecordedRequest", "sign"]

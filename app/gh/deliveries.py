"""The App's webhook deliveries: list recent attempts (cursor pages) and ask for a redelivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from githubkit import GitHub

from app.gh import VERSION_HEADERS
from app.gh.models import HookDelivery, read_list

GH = GitHub[Any]
PER_PAGE = 100


def recent_deliveries(app: GH) -> AsyncIterator[HookDelivery]:
    """Every delivery attempt, newest first, across pages (this endpoint pages by cursor in its Link header).

    `app` is the App's own client (JWT), not an installation's.
    """
    return aiter(app.rest.paginate(app.rest.apps.async_list_webhook_deliveries, map_func=read_list(HookDelivery),
                                   per_page=PER_PAGE, headers=VERSION_HEADERS))


async def redeliver(app: GH, delivery_id: int) -> None:
    """Ask GitHub to send delivery attempt `delivery_id` again."""
    await app.rest.apps.async_redeliver_webhook_delivery(delivery_id)

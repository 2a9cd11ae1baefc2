"""The peers of the ingest benchmark: a Probot app, a gidgethub + aiohttp bot and a bare ASGI endpoint."""

"""Bursts and faults end to end: many signed deliveries, redeliveries and duplicates of each, with GitHub
failing part of the time, still give exactly one map comment per story and no failed job."""

from __future__ import annotations

from typing import Any

from app.domain.markers import find_marker
from tests.support.github import SHOP
from tests.support.service import open_stories

ISSUES = 60


def map_comments(github: Any, number: int) -> list[Any]:
    return [c for c in github.comments(SHOP, number)
            if c.user.login == github.bot.login and find_marker(c.body, "map") is not None]


async def test_a_burst_with_redeliveries_and_duplicates_maps_each_story_once(github: Any, service: Any) -> None:
    numbers = open_stories(github, ISSUES)
    labelled = [github.label_issue(SHOP, number, "story") for number in numbers]
    for delivery in labelled:  # GitHub's "Redeliver": the same GUID again, refused at the door
        assert delivery is not None
        github.redeliver(delivery.guid)
    for delivery in labelled[::2]:  # the same event under a new GUID: a second trigger, merged or idempotent
        assert delivery is not None
        github.deliver_raw("issues", delivery.payload)
    totals = await service.drain(wait_deferred=10.0, max_rounds=60)
    assert totals["failed"] == 0, totals
    assert {number: len(map_comments(github, number)) for number in numbers} == dict.fromkeys(numbers, 1)
    refused = [d for d in github.deliveries if d.status_code not in (200, 202)]
    assert refused == []


async def test_github_failing_part_of_the_time_still_ends_every_story_mapped(github: Any, service: Any) -> None:
    numbers = open_stories(github, ISSUES // 2)
    # server errors and secondary rate limits on the calls a map makes, spread over the run
    faults = [
        github.fault("GET", r"/issues/\d+/comments$", status=502, times=ISSUES // 3),
        github.fault("POST", r"/issues/\d+/comments$", status=503, times=ISSUES // 6),
        github.fault("*", r"/labels", status=403, retry_after=1, rate_limit=True, times=ISSUES // 6),
        github.fault("GET", r"/contents/", status=500, times=ISSUES // 6),
    ]
    for number in numbers:
        github.label_issue(SHOP, number, "story")
    totals = await service.drain(wait_deferred=15.0, max_rounds=80)
    assert totals["failed"] == 0, totals
    assert {number: len(map_comments(github, number)) for number in numbers} == dict.fromkeys(numbers, 1)
    assert [fault.hits for fault in faults] == [fault.times for fault in faults]  # every fault was met

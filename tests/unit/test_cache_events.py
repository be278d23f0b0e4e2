"""CacheEvent invalidates after the commit, then notifies subscribers; one failing subscriber harms nobody."""

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from application.caching import CacheEvent
from application.items import UpdateItem
from domain.caching import ResourceChange
from domain.items import Item, ItemPatch
from infrastructure.memory.cache import CacheManager

NOW = datetime(2025, 1, 1, tzinfo=UTC)


class CommitLoggingItems:
    """Just enough of an ItemRepository: `update` commits and says so in a shared log."""

    def __init__(self, log: list[str]) -> None:
        self._log = log

    async def update(self, item_id: int, patch: ItemPatch) -> Item:
        self._log.append("commit")
        return Item(item_id, "Chair", "", 1.0, 0, NOW, NOW)


async def test_an_update_fires_after_the_commit_and_invalidates_detail_and_lists() -> None:
    cache = CacheManager()
    for key, tags in {"items:7": ("items", "items:detail"), "items:8": ("items", "items:detail")}.items():
        await cache.set(key, "cached")
        await cache.tag(key, *tags)
    await cache.set("items:list:1:20", "page")
    await cache.tag("items:list:1:20", "items", "items:list")
    log: list[str] = []
    events = CacheEvent(cache)

    async def record(change: ResourceChange) -> None:
        log.append(f"{change.action} {change.resource} {change.resource_id}")

    events.subscribe(record)
    await UpdateItem(CommitLoggingItems(log), events)(7, ItemPatch(name="Chair"))  # type: ignore[arg-type]

    assert log == ["commit", "update items 7"]
    assert [await cache.get(key) for key in ("items:7", "items:8", "items:list:1:20")] == [None, "cached", None]


async def test_a_create_invalidates_only_the_lists() -> None:
    cache = CacheManager()
    await cache.set("items:1", "detail")
    await cache.tag("items:1", "items", "items:detail")
    await cache.set("items:list:1:20", "page")
    await cache.tag("items:list:1:20", "items", "items:list")
    await CacheEvent(cache).on_create("items")
    assert [await cache.get("items:1"), await cache.get("items:list:1:20")] == ["detail", None]


async def test_a_failing_subscriber_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    events = CacheEvent(CacheManager())
    heard: list[ResourceChange] = []

    async def broken(change: ResourceChange) -> None:
        raise ConnectionError("broadcast down")

    async def listening(change: ResourceChange) -> None:
        heard.append(change)

    events.subscribe(broken)
    events.subscribe(listening)
    with caplog.at_level(logging.ERROR, logger="perfshop.cache"):
        await events.on_delete("items", 3)

    assert heard == [ResourceChange("delete", "items", 3)]
    assert "failed on delete items" in caplog.text
    assert "broadcast down" in caplog.text


def test_serve_refuses_several_workers_without_a_shared_cache() -> None:
    env = {**os.environ, "PERFSHOP_WORKERS": "2"}
    perfshop = os.path.join(os.path.dirname(sys.executable), "perfshop")
    result = subprocess.run([perfshop, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("perfshop: PERFSHOP_WORKERS=2 needs a cache shared by the workers")

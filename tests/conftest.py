"""Fixtures shared by every test: settings on a private SQLite file and the real app."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from presentation.app import create_app
from presentation.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: its own database file, no demo data."""
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'perfshop.db'}", demo_items=0, demo_orders=0)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """The real app, started (schema created) and served in-process."""
    async with AsyncTestClient(app=create_app(settings=settings)) as test_client:
        yield test_client

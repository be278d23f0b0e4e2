"""Fixtures shared by every test: settings on a private database (SQLite file or PostgreSQL) and the real app."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from presentation.app import create_app
from presentation.settings import Settings
from tests.services import empty_postgres_tables, fresh_postgres_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL database for this test run, created and dropped here."""
    with fresh_postgres_database("run") as url:
        yield url


# The PostgreSQL variant of a test is marked, so that a selection can leave it out.
ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each engine: a new SQLite file, or this run's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'perfshop.db'}"
    url: str = request.getfixturevalue("postgres_url")
    await empty_postgres_tables(url)
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for one test: its own empty database, no demo data."""
    return Settings(database_url=database_url, demo_items=0, demo_orders=0)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """The real app, started (schema created) and served in-process."""
    async with AsyncTestClient(app=create_app(settings=settings)) as test_client:
        yield test_client


@pytest.fixture(params=ENGINES)
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each engine that nobody has used yet (a new file, or a new PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    else:
        with fresh_postgres_database("fresh") as url:
            yield url


# Every test is marked with the kind of its folder, so that `pytest -m` selects a subset (the markers are declared
# in pyproject.toml); what a test needs beyond that (postgres, redis, server) its module or its parameters say.
_FOLDER_MARKERS = {
    "unit": "unit",
    "architecture": "unit",
    "http": "http",
    "contract": "http",
    "integration": "integration",
    "browser": "browser",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with the kind of the folder it lives in."""
    for item in items:
        folder = item.path.relative_to(Path(__file__).parent).parts[0]
        if folder not in _FOLDER_MARKERS:
            raise pytest.UsageError(f"{item.nodeid}: add tests/{folder} to _FOLDER_MARKERS in tests/conftest.py")
        item.add_marker(_FOLDER_MARKERS[folder])

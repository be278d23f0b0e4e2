"""The order generator: deterministic, realistic, and loaded in full by `perfshop seed` on both databases."""

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime

from infrastructure.sqla.seed import order_batches
from tests.integration.test_startup import scalars


def rows(count: int, seed: int) -> list[tuple[object, ...]]:
    return [row for batch in order_batches(count, seed) for row in batch]


def test_the_same_seed_gives_the_same_orders() -> None:
    assert rows(70_000, seed=42) == rows(70_000, seed=42)
    assert rows(1000, seed=42) != rows(1000, seed=43)


def test_orders_are_realistic_and_awkward() -> None:
    generated = rows(20_000, seed=1)
    assert [row[0] for row in generated] == list(range(1, 20_001))
    names = {str(row[1]) for row in generated}
    products = {str(row[2]) for row in generated}
    assert any("\uac00" <= name[0] <= "\ud7a3" for name in names)  # Korean
    assert any(name.isascii() and " " in name for name in names)  # Latin
    assert any("," in product for product in products)
    assert any('"' in product for product in products)
    assert {text[0] for text in names | products} >= {"=", "+", "-", "@"}
    stamps = [int(str(row[6])) for row in generated]
    assert datetime.fromtimestamp(min(stamps), UTC).year == 2023
    assert datetime.fromtimestamp(max(stamps), UTC).year == 2025
    assert all(1 <= int(str(row[3])) <= 10 for row in generated)


def test_seed_command_appends_exactly_the_rows_asked_for(fresh_database: str) -> None:
    env = {**os.environ, "PERFSHOP_DATABASE_URL": fresh_database}
    perfshop = os.path.join(os.path.dirname(sys.executable), "perfshop")
    for _ in range(2):
        result = subprocess.run(
            [perfshop, "seed", "--orders", "12,345", "--items", "7", "--seed", "3"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "seeded 12,345 orders" in result.stderr
    same_rows = (
        "SELECT count(*) FROM orders a JOIN orders b ON b.id = a.id + 12345"
        " WHERE a.customer_name = b.customer_name AND a.product = b.product AND a.created_at = b.created_at"
    )
    counts = asyncio.run(
        scalars(
            fresh_database,
            "SELECT count(*) FROM orders",
            "SELECT max(id) FROM orders",
            "SELECT count(*) FROM items",
            same_rows,
        )
    )
    assert counts == [24690, 24690, 14, 12345]  # the same seed generated the same rows again

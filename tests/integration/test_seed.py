"""The order generator: deterministic, realistic, and loaded in full by `perfshop seed`."""

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from infrastructure.sqla.seed import order_batches


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


def test_seed_command_appends_exactly_the_rows_asked_for(tmp_path: Path) -> None:
    database = tmp_path / "seeded.db"
    env = {**os.environ, "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
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
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*), min(id), max(id) FROM orders").fetchone() == (24690, 1, 24690)
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (14,)
        first, second = conn.execute(
            "SELECT customer_name, product, created_at FROM orders WHERE id IN (1, 12346) ORDER BY id"
        ).fetchall()
        assert first == second  # the same seed generated the same rows again
        assert conn.execute(
            "SELECT count(*) FROM orders WHERE created_at NOT LIKE '20__-__-__ __:__:__'"
        ).fetchone() == (0,)

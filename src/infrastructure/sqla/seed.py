"""Deterministic demo data (items and orders) and its bulk load."""

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from infrastructure.sqla.tables import items, orders, startup_claims

ORDER_BATCH = 50_000
_START = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp())
_EPOCH = datetime(1970, 1, 1)  # naive UTC, as the orders table stores it
_END = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())

_KOREAN_FAMILY = ("김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황")
_KOREAN_GIVEN = ("민준", "서연", "도윤", "지우", "하준", "서윤", "은우", "하은", "시우", "지아", "예준", "수아")
_LATIN_FIRST = ("Anna", "Ben", "Chloé", "Daniel", "Élodie", "Frank", "Grace", "Hugo", "Isabel", "Jack", "María")
_LATIN_LAST = ("Smith", "García", "Müller", "O'Brien", "Rossi", "Dubois", "Nowak", "Silva", "van der Berg", "Núñez")
# Awkward on purpose: commas, quotes, leading formula characters, a tab and a newline.
_PRODUCTS = (
    ("Wireless Mouse", 19.99),
    ("Keyboard, mechanical", 89.5),
    ('Monitor 27" 4K', 329.0),
    ("USB-C Cable 2m", 9.9),
    ("=SUM(A1:A9) sticker", 1.5),
    ("+1 Extended Warranty", 25.0),
    ("-20% Coupon Pack", 3.0),
    ("@home Desk Lamp", 42.75),
    ("노트북 거치대", 35.0),
    ("무선 이어폰, 화이트", 129.0),
    ('"Quoted" Notebook', 4.2),
    ("Cable\tOrganizer", 7.0),
    ("Gift Card\nPremium", 50.0),
    ("Standing Desk", 499.99),
    ("Ergonomic Chair", 289.0),
    ("Coffee Beans 1kg", 18.25),
)
_STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")
_STATUS_WEIGHTS = (10, 20, 20, 40, 7, 3)


def _customer_pool(rng: random.Random) -> list[str]:
    korean = [family + given for family in _KOREAN_FAMILY for given in _KOREAN_GIVEN]
    latin = [f"{first} {last}" for first in _LATIN_FIRST for last in _LATIN_LAST]
    pool = korean + latin + ["=cmd|' /C calc'!A0", "@admin", "+82 10 1234", "-minus"]
    rng.shuffle(pool)
    return pool


def order_batches(count: int, seed: int, first_id: int = 1) -> Iterator[list[tuple[Any, ...]]]:
    """Orders `first_id`.. as row tuples, created_at in epoch seconds, roughly in time order.

    The same count and seed always give the same rows; ids grow with time as in a real shop.
    """
    rng = random.Random(seed)
    customers = _customer_pool(rng)
    span = _END - _START
    step = max(span // max(count, 1), 1)
    made = 0
    while made < count:
        n = min(ORDER_BATCH, count - made)
        names = rng.choices(customers, k=n)
        products = rng.choices(_PRODUCTS, k=n)
        quantities = rng.choices(range(1, 11), weights=(40, 20, 12, 8, 6, 5, 3, 3, 2, 1), k=n)
        statuses = rng.choices(_STATUSES, weights=_STATUS_WEIGHTS, k=n)
        jitter = rng.choices(range(step), k=n)
        base = first_id + made
        yield [
            (
                base + i,
                names[i],
                products[i][0],
                quantities[i],
                products[i][1],
                statuses[i],
                _START + (made + i) * span // count + jitter[i],
            )
            for i in range(n)
        ]
        made += n


def demo_items(count: int, seed: int) -> list[dict[str, object]]:
    """`count` items with deterministic names, prices and stock."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        {
            "name": f"{product} #{i + 1}",
            "description": f"Demo item {i + 1}: {product.lower()}",
            "price": round(price * rng.uniform(0.8, 1.2), 2),
            "stock": rng.randrange(0, 500),
            "created_at": now,
            "updated_at": now,
        }
        for i, (product, price) in enumerate(rng.choices(_PRODUCTS, k=count))
    ]


async def next_order_id(conn: AsyncConnection) -> int:
    """The id the next appended order gets."""
    return int((await conn.execute(select(func.coalesce(func.max(orders.c.id), 0)))).scalar_one()) + 1


async def load_orders(
    conn: AsyncConnection, count: int, seed: int, progress: Callable[[int], None] | None = None
) -> int:
    """Append `count` generated orders with bulk inserts (COPY on PostgreSQL); returns the first id used."""
    first_id = await next_order_id(conn)
    load = _copy_batch if conn.dialect.name == "postgresql" else _insert_batch
    for batch in order_batches(count, seed, first_id):
        await load(conn, batch)
        if progress is not None:
            progress(len(batch))
    if conn.dialect.name == "postgresql":
        # Explicit ids bypass the sequence: move it past them so that later inserts do not collide.
        await conn.execute(text("SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders))"))
    return first_id


_COLUMNS = ("id", "customer_name", "product", "quantity", "unit_price", "status", "created_at")


async def _insert_batch(conn: AsyncConnection, batch: list[tuple[Any, ...]]) -> None:
    # Formatting the timestamp in SQL keeps a million strftime calls out of Python.
    await conn.exec_driver_sql(
        "INSERT INTO orders (id, customer_name, product, quantity, unit_price, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, datetime(?, 'unixepoch'))",
        batch,
    )


async def _copy_batch(conn: AsyncConnection, batch: list[tuple[Any, ...]]) -> None:
    raw = await conn.get_raw_connection()
    records = [(*row[:4], Decimal(str(row[4])), row[5], _EPOCH + timedelta(seconds=row[6])) for row in batch]
    await raw.driver_connection.copy_records_to_table("orders", records=records, columns=_COLUMNS)  # type: ignore[union-attr]


async def load_items(conn: AsyncConnection, count: int, seed: int) -> None:
    """Append `count` generated items."""
    rows = demo_items(count, seed)
    if rows:
        await conn.execute(insert(items), rows)


async def claim_once(conn: AsyncConnection, task: str) -> bool:
    """Whether this process is the first ever to claim `task`; the claim commits with the transaction."""
    try:
        async with conn.begin_nested():
            await conn.execute(insert(startup_claims).values(task=task, claimed_at=datetime.now(UTC)))
    except IntegrityError:
        return False
    return True


async def seed_demo(conn: AsyncConnection, *, items_count: int, orders_count: int, seed: int = 42) -> bool:
    """Seed the demo data set once per database, and only into empty tables; True when it did."""
    if not await claim_once(conn, "demo_seed"):
        return False
    has_items = (await conn.execute(select(items.c.id).limit(1))).first() is not None
    has_orders = (await conn.execute(select(orders.c.id).limit(1))).first() is not None
    if not has_items:
        await load_items(conn, items_count, seed)
    if not has_orders:
        await load_orders(conn, orders_count, seed)
    return True

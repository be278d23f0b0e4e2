"""Orders full of awkward values (quotes, delimiters, line breaks, formula starts, escapes) for the export's tests."""

import random
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.orders import OrderRow
from infrastructure.sqla.tables import orders

AWKWARD = [
    "plain",
    "Keyboard, mechanical",
    'Monitor 27" 4K',
    '"Quoted"',
    "Gift\nCard",
    "CR\rinside",
    "\r\nstarts with CRLF",
    "tab\tinside",
    "\tleading tab",
    "=SUM(A1:A9)",
    "+82 10",
    "-20%",
    "@home",
    "=cmd|' /C calc'!A0",
    "노트북 거치대, 화이트",
    "semi;colon",
    "pipe|bar",
    "apostrophe's",
    "100% %d %s",
    "",
    " spaced ",
    # JSON's own: quotes, backslashes, every control character (but NUL, which PostgreSQL text cannot hold).
    'say \\"hi\\" \\n',
    "ends in a backslash\\",
    "".join(map(chr, range(1, 0x20))),
    "\x01starts with SOH",
    '={"json": true}',
    "emoji 🎉👍🏽👩\u200d💻",
    "del\x7f line\u2028separator",
]


def awkward_rows(count: int, seed: int = 7, first_id: int = 1) -> list[OrderRow]:
    """Rows full of values that need quoting, guarding or both; many share a timestamp."""
    rng = random.Random(seed)
    start = datetime(2023, 12, 31, 23, 59, 0)
    return [
        OrderRow(
            id=i,
            customer_name=rng.choice(AWKWARD),
            product=rng.choice(AWKWARD),
            quantity=rng.randint(1, 10),
            unit_price=rng.choice([0, 0.5, 1.05, 19.99, 329, 1234567.89]),
            status=rng.choice(["paid", "-refunded", "=x", "a,b", 'on "hold"\\']),
            created_at=start + timedelta(seconds=rng.randrange(0, 240)),
        )
        for i in rng.sample(range(first_id, first_id + count * 3), count)
    ]


async def insert_rows(engine: AsyncEngine, rows: list[OrderRow]) -> None:
    """Insert `rows` as they are, ids included."""
    async with engine.begin() as conn:
        await conn.execute(insert(orders), [row_values(row) for row in rows])


def row_values(row: OrderRow) -> dict[str, object]:
    return {name: getattr(row, name) for name in OrderRow.__struct_fields__}


def order_row(**fields: object) -> OrderRow:
    """A plain order (id 7, Kim, Mouse, 2 at 19.90, paid, 2024-03-05 07:08:09) with `fields` changed."""
    values: dict[str, object] = {
        "id": 7,
        "customer_name": "Kim",
        "product": "Mouse",
        "quantity": 2,
        "unit_price": 19.9,
        "status": "paid",
        "created_at": datetime(2024, 3, 5, 7, 8, 9),
    }
    return OrderRow(**{**values, **fields})  # type: ignore[arg-type]

"""The relational schema, shared by SQLite and PostgreSQL."""

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """A UTC instant stored without a zone; aware datetimes in, aware datetimes out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store the instant as naive UTC."""
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Read the stored naive UTC back as an aware datetime."""
        return None if value is None else value.replace(tzinfo=UTC)


# Orders keep whole seconds as 'YYYY-MM-DD HH:MM:SS' text on SQLite: the export format itself, and a
# string order that matches time order, so the (created_at, id) index serves keyset pages directly.
_SECONDS_TEXT = sqlite.DATETIME(  # type: ignore[no-untyped-call]
    storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d",
    regexp=r"(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)",
)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("price", Numeric(12, 2, asdecimal=False), nullable=False),
    Column("stock", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("customer_name", String(100), nullable=False),
    Column("product", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(12, 2, asdecimal=False), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UtcDateTime().with_variant(_SECONDS_TEXT, "sqlite"), nullable=False),
    Index("ix_orders_created_at_id", "created_at", "id"),
)

# One row per one-time start-up task (the demo seed), claimed by exactly one process.
startup_claims = Table(
    "perfshop_startup_claims",
    metadata,
    Column("task", String(50), primary_key=True),
    Column("claimed_at", UtcDateTime, nullable=False),
)

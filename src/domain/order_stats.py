"""Aggregate figures over the stored orders."""

from msgspec import Struct


class StatusTotal(Struct, frozen=True):
    """How many orders have one status, and their revenue."""

    status: str
    orders: int
    revenue: float

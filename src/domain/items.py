"""The `items` resource: what a client sends and what it gets back."""

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

Name = Annotated[str, Meta(min_length=1, max_length=200, description="Non-empty, at most 200 characters.")]
Description = Annotated[str, Meta(max_length=2000)]
Price = Annotated[
    float,
    Meta(
        ge=0,
        le=1_000_000_000,
        description="At least 0, at most 2 decimals.",
        extra_json_schema={"extra": {"multipleOf": 0.01}},
    ),
]
Stock = Annotated[int, Meta(ge=0, le=2_147_483_647)]


# The " - at `$.field`" suffix is msgspec's own way of naming a field in a validation message, so a
# rule checked here is reported against its field exactly like a type or range error.
def _check_name(name: str) -> None:
    if not name.strip():
        raise ValueError("name must not be blank - at `$.name`")


def _check_price(price: float) -> None:
    # Prices are money: a third decimal would be silently rounded away by the NUMERIC(12, 2) column.
    if round(price, 2) != price:
        raise ValueError("price must have at most 2 decimals - at `$.price`")


class NewItem(Struct, frozen=True, forbid_unknown_fields=True):
    """An item as a client creates or fully replaces it."""

    name: Name
    price: Price
    description: Description = ""
    stock: Stock = 0

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_price(self.price)


class ItemPatch(Struct, frozen=True, forbid_unknown_fields=True):
    """A partial update: only the fields present are changed."""

    name: Name | UnsetType = UNSET
    price: Price | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    stock: Stock | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.name is not UNSET:
            _check_name(self.name)
        if self.price is not UNSET:
            _check_price(self.price)

    def changes(self) -> dict[str, object]:
        """The fields this patch sets, by name."""
        return {name: value for name, value in msgspec.structs.asdict(self).items() if value is not UNSET}


class Item(Struct, frozen=True):
    """A stored item; timestamps are UTC."""

    id: int
    name: str
    description: str
    price: float
    stock: int
    created_at: datetime
    updated_at: datetime


class ItemPage(Struct, frozen=True):
    """One page of items in id order, with the total count."""

    items: tuple[Item, ...]
    page: int
    size: int
    total: int

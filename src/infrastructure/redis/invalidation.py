"""The messages of the invalidation channel, by which every instance's L1 hears of the others' changes.

A message is its sender's origin (ORIGIN_SIZE characters), one character for what to drop (KEY, TAG or EVERYTHING)
and the key's or tag's name. It is encoded here, handed to a script that publishes it verbatim on the channel, and
decoded here by every listener.
"""

import uuid
from typing import Literal, NamedTuple

Kind = Literal["k", "t", "*"]
KEY: Kind = "k"
TAG: Kind = "t"
EVERYTHING: Kind = "*"
ORIGIN_SIZE = 32


class Invalidation(NamedTuple):
    """What one message asks of every L1 but its sender's: to drop a key, a tag's keys, or everything."""

    origin: str
    kind: Kind
    name: str = ""


def channel(prefix: str) -> str:
    """The channel the scripts publish on under `prefix` (`P .. ':inv'` in scripts.py)."""
    return f"{prefix}:inv"


def new_origin() -> str:
    """A new instance's origin: of a fixed size, so that a message needs no separator."""
    return uuid.uuid4().hex


def encode_invalidation(message: Invalidation) -> bytes:
    """The message as the scripts publish it."""
    if len(message.origin) != ORIGIN_SIZE or message.kind not in (KEY, TAG, EVERYTHING):
        raise ValueError(f"not an invalidation: {message!r}")
    return f"{message.origin}{message.kind}{message.name}".encode()


def decode_invalidation(data: bytes) -> Invalidation:
    """A published message read back."""
    text = data.decode()
    kind = text[ORIGIN_SIZE : ORIGIN_SIZE + 1]
    if kind not in (KEY, TAG, EVERYTHING):
        raise ValueError(f"not an invalidation: {data!r}")
    return Invalidation(text[:ORIGIN_SIZE], kind, text[ORIGIN_SIZE + 1 :])

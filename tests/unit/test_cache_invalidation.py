"""The invalidation channel's messages: what encode_invalidation makes, decode_invalidation reads back."""

import pytest

from infrastructure.redis.invalidation import (
    EVERYTHING,
    KEY,
    ORIGIN_SIZE,
    TAG,
    Invalidation,
    decode_invalidation,
    encode_invalidation,
    new_origin,
)


@pytest.mark.parametrize(
    "message",
    [
        Invalidation(new_origin(), KEY, "items:42"),
        Invalidation(new_origin(), TAG, "items:list"),
        Invalidation(new_origin(), EVERYTHING),
        Invalidation(new_origin(), KEY, "k*ey with spaces, colons: and ünïcode"),
        Invalidation(new_origin(), TAG, ""),
    ],
)
def test_a_message_reads_back_as_it_was_encoded(message: Invalidation) -> None:
    assert decode_invalidation(encode_invalidation(message)) == message


def test_the_format_is_the_origin_then_one_character_of_kind_then_the_name() -> None:
    origin = "0" * ORIGIN_SIZE
    assert encode_invalidation(Invalidation(origin, KEY, "items:1")) == f"{origin}kitems:1".encode()
    assert encode_invalidation(Invalidation(origin, EVERYTHING)) == f"{origin}*".encode()


def test_what_is_not_a_message_is_refused() -> None:
    with pytest.raises(ValueError, match="not an invalidation"):
        encode_invalidation(Invalidation("short", KEY, "k"))
    with pytest.raises(ValueError, match="not an invalidation"):
        decode_invalidation(b"0" * ORIGIN_SIZE + b"?name")
    with pytest.raises(ValueError, match="not an invalidation"):
        decode_invalidation(b"too short")

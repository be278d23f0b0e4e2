"""JSON Lines as the domain defines it: one compact object per order, escaped exactly where JSON requires."""

import json

import pytest

from domain.errors import InvalidInput
from domain.orders import COLUMNS, Dialect, OrderRow, encode_json_string, encode_rows
from tests.awkward import awkward_rows, order_row

JSONL = Dialect("jsonl")


def row(**fields: object) -> OrderRow:
    return order_row(**{"unit_price": 89.5, **fields})


def test_a_plain_row_is_one_compact_object_in_column_order_ending_in_lf() -> None:
    assert encode_rows([row()], JSONL) == (
        b'{"id":7,"customer_name":"Kim","product":"Mouse","quantity":2,"unit_price":89.50,"status":"paid",'
        b'"created_at":"2024-03-05T07:08:09Z"}\n'
    )
    assert list(json.loads(encode_rows([row()], JSONL))) == list(COLUMNS)


@pytest.mark.parametrize(
    ("price", "text"), [(89.5, "89.50"), (329, "329.00"), (0, "0.00"), (19.99, "19.99"), (1234567.89, "1234567.89")]
)
def test_the_price_is_a_number_with_two_decimals(price: float, text: str) -> None:
    assert f',"unit_price":{text},'.encode() in encode_rows([row(unit_price=price)], JSONL)


SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


@pytest.mark.parametrize("code", range(0x20))
def test_every_control_character_has_one_escape(code: int) -> None:
    char = chr(code)
    expected = SHORT_ESCAPES.get(char, f"\\u{code:04x}")
    assert encode_json_string(f"a{char}b") == f'"a{expected}b"'
    assert encode_json_string(char) == json.dumps(char, ensure_ascii=False)


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ('Monitor 27"', '"Monitor 27\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ('\\"', '"\\\\\\""'),
        ("", '""'),
        ("노트북 거치대", '"노트북 거치대"'),
        ("emoji 🎉👩\u200d💻", '"emoji 🎉👩\u200d💻"'),
        ("del\x7f line\u2028sep", '"del\x7f line\u2028sep"'),
        ("/slash/ 'apostrophe' 100% %d", "\"/slash/ 'apostrophe' 100% %d\""),
    ],
)
def test_only_the_quote_backslash_and_control_characters_are_escaped(text: str, encoded: str) -> None:
    assert encode_json_string(text) == encoded
    assert json.loads(encoded) == text


def test_text_is_raw_utf_8_and_never_guarded() -> None:
    line = encode_rows([row(customer_name="=SUM(A1)", product="김치 🌶", status="-1")], Dialect("jsonl", ",", True))
    assert '"customer_name":"=SUM(A1)","product":"김치 🌶"'.encode() in line
    assert b'"status":"-1"' in line


def test_awkward_rows_give_one_line_each_that_parses_back_to_the_row() -> None:
    rows = awkward_rows(300)
    data = encode_rows(rows, JSONL)
    assert data.endswith(b"\n")
    lines = data.split(b"\n")[:-1]
    assert len(lines) == len(rows)
    for line, order in zip(lines, rows, strict=True):
        parsed = json.loads(line)
        assert list(parsed) == list(COLUMNS)
        assert parsed == {
            **{name: getattr(order, name) for name in COLUMNS},
            "created_at": order.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def test_jsonl_parses_without_delimiter_or_guard() -> None:
    assert Dialect.parse("jsonl", None, True) == Dialect.parse("jsonl", None, False) == Dialect("jsonl", ",", False)
    assert JSONL.media_type == "application/x-ndjson"
    assert not JSONL.has_header
    assert Dialect().has_header
    with pytest.raises(InvalidInput) as caught:
        Dialect.parse("jsonl", ",", True)
    assert caught.value.field == "delimiter"
    assert "jsonl" in caught.value.message

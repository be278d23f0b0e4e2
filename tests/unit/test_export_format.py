"""The export format the domain owns: periods, dialects and the reference encoder's bytes."""

from datetime import date, datetime

import pytest

from domain.errors import InvalidInput
from domain.orders import Dialect, Period, encode_header, encode_rows
from tests.awkward import order_row

AT = datetime(2024, 3, 5, 7, 8, 9)


row = order_row


def test_a_plain_row_and_the_header() -> None:
    assert encode_header(Dialect()) == b"id,customer_name,product,quantity,unit_price,status,created_at\n"
    assert encode_rows([row()], Dialect()) == b'7,"Kim","Mouse",2,19.90,"paid",2024-03-05 07:08:09\n'
    assert encode_rows([row(unit_price=329)], Dialect()) == b'7,"Kim","Mouse",2,329.00,"paid",2024-03-05 07:08:09\n'


@pytest.mark.parametrize(
    ("product", "dialect", "field"),
    [
        ("Keyboard, mechanical", Dialect(), '"Keyboard, mechanical"'),
        ('Monitor 27"', Dialect(), '"Monitor 27"""'),
        ("Gift\nCard", Dialect(), '"Gift\nCard"'),
        ("Gift\rCard", Dialect(), '"Gift\rCard"'),
        ("a;b", Dialect(delimiter=";"), '"a;b"'),
        ("a,b", Dialect(delimiter=";"), '"a,b"'),
        ("a\tb", Dialect("tsv", "\t"), '"a\tb"'),
        ("노트북 거치대", Dialect(), '"노트북 거치대"'),
        ("", Dialect(), '""'),
    ],
)
def test_text_cells_are_always_quoted_with_quotes_doubled(product: str, dialect: Dialect, field: str) -> None:
    line = encode_rows([row(product=product)], dialect).decode()
    assert f"{dialect.delimiter}{field}{dialect.delimiter}" in line


@pytest.mark.parametrize(
    ("name", "guarded"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+82 10", "'+82 10"),
        ("-minus", "'-minus"),
        ("@admin", "'@admin"),
        ("\tTab", "'\tTab"),
        ("\rCR", "'\rCR"),
        ("=a,b", "'=a,b"),
        ("Kim=Lee", "Kim=Lee"),
    ],
)
def test_the_formula_guard_prefixes_a_quote_by_default_and_can_be_off(name: str, guarded: str) -> None:
    on = encode_rows([row(customer_name=name)], Dialect()).decode()
    off = encode_rows([row(customer_name=name)], Dialect(formula_guard=False)).decode()
    assert on.startswith(f'7,"{guarded}",')
    assert off.startswith(f'7,"{name}",')


def test_the_guard_mark_sits_inside_the_quotes_when_it_is_the_delimiter() -> None:
    assert encode_rows([row(customer_name="=x")], Dialect(delimiter="'")).decode().startswith("7'\"'=x\"'")


def test_a_delimiter_inside_numbers_and_dates_quotes_them() -> None:
    line = encode_rows([row()], Dialect(delimiter="-")).decode()
    assert line == '7-"Kim"-"Mouse"-2-19.90-"paid"-"2024-03-05 07:08:09"\n'


@pytest.mark.parametrize(
    ("start", "end", "year", "expected"),
    [
        (None, None, None, Period()),
        ("2024-01-01", "2024-12-31", None, Period(date(2024, 1, 1), date(2024, 12, 31))),
        (None, None, "2024", Period(date(2024, 1, 1), date(2024, 12, 31))),
        ("2024-02-29", None, None, Period(date(2024, 2, 29), None)),
        (None, "2024-01-01", None, Period(None, date(2024, 1, 1))),
    ],
)
def test_periods_parse(start: str | None, end: str | None, year: str | None, expected: Period) -> None:
    assert Period.parse(start, end, year) == expected


def test_period_bounds_and_labels() -> None:
    year = Period.parse(None, None, "2024")
    assert year.bounds() == ("2024-01-01 00:00:00", "2025-01-01 00:00:00")
    assert year.label() == "2024-01-01_2024-12-31"
    assert Period().label() == "all"
    assert Period.parse("2024-05-01", None, None).label() == "from_2024-05-01"
    assert Period.parse(None, "2024-05-01", None).label() == "until_2024-05-01"


@pytest.mark.parametrize(
    ("start", "end", "year", "field"),
    [
        ("2024-02-30", None, None, "start_date"),
        (None, "2023-02-29", None, "end_date"),
        ("2024-1-1", None, None, "start_date"),
        ("20240101", None, None, "start_date"),
        ("yesterday", None, None, "start_date"),
        ("2024-12-31", "2024-01-01", None, "start_date"),
        ("2024-01-01", None, "2024", "year"),
        (None, None, "1899", "year"),
        (None, None, "2101", "year"),
        (None, None, "20x4", "year"),
        (None, None, "-1", "year"),
    ],
)
def test_bad_periods_name_the_parameter(start: str | None, end: str | None, year: str | None, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Period.parse(start, end, year)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("format", "delimiter", "field"),
    [
        ("xlsx", None, "format"),
        ("tsv", ";", "delimiter"),
        ("csv", "", "delimiter"),
        ("csv", ";;", "delimiter"),
        ("csv", '"', "delimiter"),
        ("csv", "\r", "delimiter"),
        ("csv", "\n", "delimiter"),
        ("csv", "\0", "delimiter"),
    ],
)
def test_bad_dialects_name_the_parameter(format: str, delimiter: str | None, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Dialect.parse(format, delimiter, formula_guard=True)
    assert caught.value.field == field


def test_dialects_parse_with_their_media_types() -> None:
    assert Dialect.parse("csv", None, True) == Dialect()
    assert Dialect.parse("tsv", None, False) == Dialect("tsv", "\t", formula_guard=False)
    assert Dialect.parse("csv", ";", True).delimiter == ";"
    assert Dialect().media_type == "text/csv"
    assert Dialect("tsv", "\t").media_type == "text/tab-separated-values"

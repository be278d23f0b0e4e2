"""Orders as exported: the period, the text dialect, and the reference encoders that define the bytes."""

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Literal

from msgspec import Struct

from domain.errors import InvalidInput

COLUMNS = ("id", "customer_name", "product", "quantity", "unit_price", "status", "created_at")
FIRST_YEAR, LAST_YEAR = 1900, 2100
# OWASP's CSV-injection list: a spreadsheet evaluates a cell that starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Characters that force a field into quotes besides the delimiter itself (RFC 4180).
QUOTE_TRIGGERS = ('"', "\r", "\n")
_REJECTED_DELIMITERS = {'"': "a double quote", "\r": "CR", "\n": "LF", "\0": "NUL"}
# JSON Lines escapes exactly what JSON requires: the quote, the backslash and every control character below
# U+0020, the five that have one as \b \t \n \f \r and the others as \u00xx in lowercase hex. Everything else,
# DEL, U+2028 and emoji included, is raw UTF-8.
JSON_ESCAPES = {
    **{code: f"\\u{code:04x}" for code in range(0x20)},
    **{ord(char): "\\" + mark for char, mark in zip("\b\t\n\f\r", "btnfr", strict=True)},
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}

ExportFormat = Literal["csv", "tsv", "jsonl"]
_MEDIA_TYPES = {"csv": "text/csv", "tsv": "text/tab-separated-values", "jsonl": "application/x-ndjson"}


class Period(Struct, frozen=True):
    """Orders created from `start` to `end`, both inclusive UTC dates; None leaves that side open."""

    start: date | None = None
    end: date | None = None

    @classmethod
    def parse(cls, start_date: str | None, end_date: str | None, year: str | None) -> "Period":
        """The period a client asked for, or InvalidInput naming the offending parameter."""
        if year is not None:
            if start_date is not None or end_date is not None:
                raise InvalidInput("year", "year cannot be combined with start_date or end_date")
            number = _year(year)
            return cls(date(number, 1, 1), date(number, 12, 31))
        period = cls(_date("start_date", start_date), _date("end_date", end_date))
        if period.start and period.end and period.start > period.end:
            raise InvalidInput("start_date", f"start_date {period.start} is after end_date {period.end}")
        return period

    def bounds(self) -> tuple[str | None, str | None]:
        """`created_at` text bounds: at or after the first, strictly before the second (the day after `end`)."""
        start = f"{self.start.isoformat()} 00:00:00" if self.start else None
        end = f"{(self.end + timedelta(days=1)).isoformat()} 00:00:00" if self.end else None
        return start, end

    def label(self) -> str:
        """What the period covers, for file names: `2024-01-01_2024-12-31`, `from_2024-01-01`, `all`."""
        if self.start and self.end:
            return f"{self.start}_{self.end}"
        if self.start:
            return f"from_{self.start}"
        return f"until_{self.end}" if self.end else "all"


def _year(text: str) -> int:
    if not text.strip().isdigit() or not FIRST_YEAR <= int(text) <= LAST_YEAR:
        raise InvalidInput("year", f"year must be a whole number from {FIRST_YEAR} to {LAST_YEAR}, got {text!r}")
    return int(text)


def _date(field: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, f"{field} must be a real date as YYYY-MM-DD, got {text!r}") from None
    if len(text) != len("YYYY-MM-DD") or not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidInput(field, f"{field} must be a date as YYYY-MM-DD from {FIRST_YEAR} to {LAST_YEAR}")
    return day


class Dialect(Struct, frozen=True):
    """How rows become text: the format, and for CSV/TSV its one-character delimiter and the formula guard."""

    format: ExportFormat = "csv"
    delimiter: str = ","
    formula_guard: bool = True

    @classmethod
    def parse(cls, format: str, delimiter: str | None, formula_guard: bool) -> "Dialect":
        """The dialect a client asked for, or InvalidInput naming the offending parameter."""
        if format not in _MEDIA_TYPES:
            raise InvalidInput("format", f"format must be csv, tsv or jsonl, got {format!r}")
        if format == "jsonl":
            if delimiter is not None:
                raise InvalidInput("delimiter", "delimiter applies only to format=csv; jsonl has no delimiter")
            # JSON strings hold any text safely: a spreadsheet never evaluates them, so there is nothing to guard.
            return cls("jsonl", formula_guard=False)
        if format == "tsv":
            if delimiter is not None:
                raise InvalidInput("delimiter", "delimiter applies only to format=csv; tsv is always tab-separated")
            return cls("tsv", "\t", formula_guard)
        if delimiter is None:
            return cls("csv", ",", formula_guard)
        if len(delimiter) != 1:
            raise InvalidInput("delimiter", f"delimiter must be exactly one character, got {len(delimiter)}")
        if delimiter in _REJECTED_DELIMITERS:
            raise InvalidInput("delimiter", f"delimiter cannot be {_REJECTED_DELIMITERS[delimiter]}")
        return cls("csv", delimiter, formula_guard)

    @property
    def media_type(self) -> str:
        """The media type of this format (the text is always UTF-8)."""
        return _MEDIA_TYPES[self.format]

    @property
    def has_header(self) -> bool:
        """Whether the body starts with a header line (CSV and TSV do; JSON Lines has none)."""
        return self.format != "jsonl"


class OrderRow(Struct, frozen=True):
    """One exported order; `created_at` is naive UTC."""

    id: int
    customer_name: str
    product: str
    quantity: int
    unit_price: float
    status: str
    created_at: datetime


class EncodedBatch(Struct, frozen=True):
    """Consecutive encoded rows (UTF-8, each ending in LF) and how many rows they hold."""

    data: bytes
    rows: int


def encode_field(text: str, dialect: Dialect) -> str:
    """A number, a timestamp or a header name: RFC 4180 quoting only where the text needs it."""
    if dialect.delimiter in text or any(char in text for char in QUOTE_TRIGGERS):
        return '"' + text.replace('"', '""') + '"'
    return text


def encode_text(text: str, dialect: Dialect) -> str:
    """A text cell: the formula guard (when on), then always quoted, quotes doubled (RFC 4180).

    Always quoting a text cell makes its bytes independent of what it holds: encoders need no per-character test
    for the delimiter, quotes or line breaks, which made up most of the export's cost in the database.
    """
    if dialect.formula_guard and text.startswith(FORMULA_STARTS):
        text = "'" + text
    return '"' + text.replace('"', '""') + '"'


def encode_header(dialect: Dialect) -> bytes:
    """The header line."""
    return (dialect.delimiter.join(encode_field(name, dialect) for name in COLUMNS) + "\n").encode()


def encode_rows(rows: Iterable[OrderRow], dialect: Dialect) -> bytes:
    """The reference encoding of `rows`: the bytes every adapter must produce for them."""
    if dialect.format == "jsonl":
        return "".join(map(_encode_json_line, rows)).encode()
    return "".join(_encode_row(row, dialect) for row in rows).encode()


def encode_json_string(text: str) -> str:
    """`text` as a JSON string: quoted, escaped by JSON_ESCAPES and nothing else."""
    return '"' + text.translate(JSON_ESCAPES) + '"'


def _encode_row(row: OrderRow, dialect: Dialect) -> str:
    fields = (
        encode_field(str(row.id), dialect),
        encode_text(row.customer_name, dialect),
        encode_text(row.product, dialect),
        encode_field(str(row.quantity), dialect),
        encode_field(f"{row.unit_price:.2f}", dialect),
        encode_text(row.status, dialect),
        encode_field(row.created_at.strftime("%Y-%m-%d %H:%M:%S"), dialect),
    )
    return dialect.delimiter.join(fields) + "\n"


def _encode_json_line(row: OrderRow) -> str:
    # Compact (no spaces), keys in COLUMNS order, the price with two decimals, the time in UTC with a Z.
    return (
        f'{{"id":{row.id},"customer_name":{encode_json_string(row.customer_name)},'
        f'"product":{encode_json_string(row.product)},"quantity":{row.quantity},"unit_price":{row.unit_price:.2f},'
        f'"status":{encode_json_string(row.status)},"created_at":"{row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")}"}}\n'
    )

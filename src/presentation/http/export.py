"""HTTP controller of the order export: a streamed CSV/TSV/JSON Lines download and its count."""

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from dishka import FromDishka
from litestar import Controller, get
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS

from application.export import CountExport, Export, ExportEstimate, StreamingCSVExporter
from domain.orders import Dialect, Period
from presentation.http.di import inject
from presentation.http.encoding import EncodingNegotiation
from presentation.http.errors import error_spec

StartDate = Annotated[str | None, QueryParameter(description="first day, YYYY-MM-DD (UTC, inclusive)")]
EndDate = Annotated[str | None, QueryParameter(description="last day, YYYY-MM-DD (UTC, inclusive)")]
Year = Annotated[str | None, QueryParameter(description="a whole year, 1900..2100; not with start_date/end_date")]
Format = Annotated[str, QueryParameter(description="csv (default), tsv or jsonl")]
Delimiter = Annotated[str | None, QueryParameter(description="one character, format=csv only (default ',')")]
FormulaGuard = Annotated[
    bool, QueryParameter(description="prefix ' to text cells starting with = + - @ tab CR (default true; not jsonl)")
]
AcceptEncoding = Annotated[
    str | None,
    HeaderParameter(name="accept-encoding", description="zstd or gzip compress the download (q-values count)"),
]
BUSY = {HTTP_429_TOO_MANY_REQUESTS: error_spec("Too many exports running; see Retry-After")}


@dataclass
class DownloadOperation(Operation):
    """OpenAPI operation of the download: its 200 body is CSV, TSV or JSON Lines text, as `format` asks."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            text = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
            ok.content = {f"{media}; charset=utf-8": text for media in ("text/csv", "text/tab-separated-values")}
            ok.content["application/x-ndjson"] = text


def download(export: Export, coding: str | None) -> Stream:
    """The export as an attachment whose name says what it holds (RFC 6266, with an RFC 5987 `filename*`), sent
    in content coding `coding` (None: as it is)."""
    disposition = f"attachment; filename=\"{export.filename}\"; filename*=UTF-8''{quote(export.filename)}"
    # Vary on every answer, identity included: a cache must not hand this one to a client that asked differently.
    headers = {"Content-Disposition": disposition, "Vary": "Accept-Encoding"}
    if coding is not None:
        headers["Content-Encoding"] = coding
    return Stream(export.chunks, media_type=export.media_type, headers=headers)


class ExportController(Controller):
    """Orders of a period as a CSV, TSV or JSON Lines download, and its size beforehand."""

    path = "/export/orders"
    tags = ["export"]  # noqa: RUF012 - Litestar declares it as a plain list

    @get("/", responses=BUSY, operation_class=DownloadOperation)
    @inject
    async def export_orders(
        self,
        export: FromDishka[StreamingCSVExporter],
        negotiate: FromDishka[EncodingNegotiation],
        accept_encoding: AcceptEncoding = None,
        start_date: StartDate = None,
        end_date: EndDate = None,
        year: Year = None,
        format: Format = "csv",
        delimiter: Delimiter = None,
        formula_guard: FormulaGuard = True,
    ) -> Stream:
        """Stream the orders of the period (all when no filter) in (created_at, id) order, compressed as negotiated."""
        period, dialect = Period.parse(start_date, end_date, year), Dialect.parse(format, delimiter, formula_guard)
        coding = negotiate(accept_encoding)
        return download(await export(period, dialect, coding), coding)

    @get("/count")
    @inject
    async def count_orders(
        self,
        count_export: FromDishka[CountExport],
        start_date: StartDate = None,
        end_date: EndDate = None,
        year: Year = None,
        format: Format = "csv",
        delimiter: Delimiter = None,
        formula_guard: FormulaGuard = True,
    ) -> ExportEstimate:
        """How many orders the same export would hold and its estimated size in MB (10^6 bytes), also compressed."""
        period, dialect = Period.parse(start_date, end_date, year), Dialect.parse(format, delimiter, formula_guard)
        return await count_export(period, dialect)

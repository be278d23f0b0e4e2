"""Accept-Encoding negotiation (RFC 9110, section 12.5.3) among zstd and gzip, zstd preferred."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from presentation.http.encoding import EncodingNegotiation

negotiate = EncodingNegotiation(("zstd", "gzip"))

CASES = [
    # No header, an empty one, or only codings the service lacks: no coding.
    (None, None),
    ("", None),
    ("br", None),
    ("deflate, compress, br;q=1.0", None),
    ("identity", None),
    # What the client names; zstd at equal weight.
    ("gzip", "gzip"),
    ("zstd", "zstd"),
    ("gzip, deflate, br, zstd", "zstd"),
    ("zstd, gzip", "zstd"),
    ("br, gzip", "gzip"),
    ("GZip", "gzip"),
    ("x-gzip", "gzip"),
    # Weights.
    ("gzip;q=1, zstd;q=0.5", "gzip"),
    ("gzip;q=0.9, zstd;q=0.899", "gzip"),
    ("zstd;q=0.5, gzip;q=0.5", "zstd"),
    ("gzip ; Q = 0.3 , zstd ; q=0.2", "gzip"),
    ("gzip;q=1.000", "gzip"),
    ("gzip;level=9", "gzip"),
    # q=0 refuses.
    ("gzip;q=0", None),
    ("zstd;q=0, gzip", "gzip"),
    ("zstd;q=0.000, gzip;q=0.001", "gzip"),
    # Identity weighed against the codings: only a weight the client gave it counts.
    ("gzip;q=0.5, identity", None),
    ("gzip;q=0.5, identity;q=0.5", "gzip"),
    ("gzip;q=0.1", "gzip"),
    ("identity;q=0, gzip;q=0.1", "gzip"),
    # `*` stands for every coding not named, identity included.
    ("*", "zstd"),
    ("*, zstd;q=0", "gzip"),
    ("*;q=0.2, gzip;q=0.5", "gzip"),
    ("*;q=0.5, identity;q=1", None),
    ("*;q=0, gzip", "gzip"),
    ("*;q=0, identity;q=0.5, zstd;q=0.4", None),
    # Nothing acceptable, identity refused: identity anyway.
    ("identity;q=0", None),
    ("*;q=0", None),
    ("br, identity;q=0", None),
    ("gzip;q=0, zstd;q=0, identity;q=0", None),
    # A member whose weight is not a qvalue is left out; the rest of the header still counts.
    ("gzip;q=abc", None),
    ("gzip;q=abc, zstd", "zstd"),
    ("zstd;q=1.5, gzip", "gzip"),
    ("zstd;q=-1, gzip", "gzip"),
    ("zstd;q=0.0001, gzip;q=0.1", "gzip"),
    ("zstd;q=, gzip", "gzip"),
    ("zstd;q=nan, gzip;q=inf", None),
    ("identity;q=x, gzip;q=0.5", "gzip"),
    # Stray separators and the first of two mentions.
    (",, gzip ,;,", "gzip"),
    ("gzip;q=0, gzip;q=1", None),
]


@pytest.mark.parametrize(("header", "coding"), CASES)
def test_the_coding_sent_for_an_accept_encoding(header: str | None, coding: str | None) -> None:
    assert negotiate(header) == coding


def test_the_service_preference_breaks_ties_in_its_own_order() -> None:
    assert EncodingNegotiation(("gzip", "zstd"))("zstd, gzip") == "gzip"
    assert EncodingNegotiation(())("gzip, zstd") is None


@given(st.text())
def test_any_header_gives_a_supported_coding_or_identity(header: str) -> None:
    assert negotiate(header) in {"zstd", "gzip", None}

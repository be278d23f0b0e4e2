"""Content-coding negotiation (RFC 9110, section 12.5.3): which coding a response is sent in, from Accept-Encoding."""

import re
from collections.abc import Sequence

IDENTITY = "identity"
# RFC 9110's qvalue: 0 to 1 with at most three decimals.
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")
# Names that RFC 9110 asks a recipient to take as another coding.
_ALIASES = {"x-gzip": "gzip"}


def _weights(header: str) -> dict[str, float]:
    """Each coding named in an Accept-Encoding value, lower-cased, with its weight (1 when not given). A member
    whose weight is not a valid qvalue is left out, as if the client had not named it; the first mention counts."""
    weights: dict[str, float] = {}
    for member in header.split(","):
        coding, *parameters = (part.strip() for part in member.split(";"))
        coding = _ALIASES.get(coding.lower(), coding.lower())
        if not coding or coding in weights:
            continue
        weight: float | None = 1.0
        for parameter in parameters:
            name, _, value = (part.strip() for part in parameter.partition("="))
            if name.lower() == "q":
                weight = float(value) if _QVALUE.fullmatch(value) else None
        if weight is not None:
            weights[coding] = weight
    return weights


class EncodingNegotiation:
    """Picks the content coding of a response among the ones the service can send, preferred first."""

    def __init__(self, codings: Sequence[str]) -> None:
        self._codings = tuple(codings)

    def __call__(self, accept_encoding: str | None) -> str | None:
        """The coding to send, or None for identity (no coding): with no header, when the client prefers identity,
        and when nothing is acceptable, identity refused or not (a body the client may reject beats an error)."""
        if accept_encoding is None:
            return None
        weights = _weights(accept_encoding)
        anything = weights.get("*")
        # `*` stands for every coding the client did not name; the order of `self._codings` breaks ties.
        best, best_weight = None, 0.0
        for coding in self._codings:
            weight = weights.get(coding, anything if anything is not None else 0.0)
            if weight > best_weight:
                best, best_weight = coding, weight
        # Identity is acceptable unless refused, but only a weight the client gave it (or `*`) can beat a coding.
        identity = weights.get(IDENTITY, anything if anything is not None else 0.0)
        return best if best is not None and best_weight >= identity else None

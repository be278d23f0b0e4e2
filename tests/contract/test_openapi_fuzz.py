"""Contract fuzzing: schemathesis drives every operation of the app's own OpenAPI schema against a live server."""

import json
import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.serialization import encode_json
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks

from presentation.app import create_app
from presentation.settings import Settings
from tests.servers import free_port, start_uvicorn, stop, wait_healthy

pytestmark = pytest.mark.server

# CI runs 50 examples per operation; bench/fuzz.py runs more through this variable.
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "50"))
# The admin and metrics endpoints are protected in this run: every case is sent without and with the token.
TOKEN = "fuzz-token-0123456789abcdef"
# The contract: no 5xx, and every status, content type, header and body as documented. Not checked: whether
# the server rejects fields the schema does not list (it does, with a 400 naming them) and OPTIONS'
# Allow header, which Litestar generates per handler.
CHECKS = [
    not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]

# The document is built in-process (no server needed to collect the tests); the calls go to a live uvicorn.
schema = schemathesis.openapi.from_dict(
    json.loads(encode_json(create_app(settings=Settings()).openapi_schema.to_schema()))
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live uvicorn on a small database of its own."""
    database = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    port = free_port()
    server = start_uvicorn(
        port,
        {
            "PERFSHOP_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "PERFSHOP_DEMO_ITEMS": "50",
            "PERFSHOP_DEMO_ORDERS": "500",
            "PERFSHOP_LOG_LEVEL": "ERROR",
            "PERFSHOP_ADMIN_TOKEN": TOKEN,
            "PERFSHOP_METRICS_TOKEN": TOKEN,
        },
    )
    try:
        wait_healthy(port, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_documented_contract(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)
    case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"})

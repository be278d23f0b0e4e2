"""The service's settings: one frozen object, loaded once from `PERFSHOP_*` environment variables."""

import difflib
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from domain.slo import Objective, latency_objective

PREFIX = "PERFSHOP_"

SUPPORTED_DATABASES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SettingsError(ValueError):
    """A setting is unknown or has a bad value; the message names the variable."""


class Settings(Struct, frozen=True, forbid_unknown_fields=True):
    """Every knob of the service, with the defaults a single machine needs."""

    database_url: Annotated[str, Meta(min_length=1)] = "sqlite+aiosqlite:///var/perfshop.db"
    host: Annotated[str, Meta(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535)] = 8000
    workers: Annotated[int, Meta(ge=1, le=64)] = 1
    demo_items: Annotated[int, Meta(ge=0, le=10_000_000)] = 1000
    demo_orders: Annotated[int, Meta(ge=0, le=100_000_000)] = 100_000
    log_level: LogLevel = "INFO"
    sqlite_busy_timeout_ms: Annotated[int, Meta(ge=0, le=600_000)] = 5_000
    db_pool_size: Annotated[int, Meta(ge=1, le=1000)] = 10
    db_pool_timeout_s: Annotated[float, Meta(gt=0, le=3600)] = 10
    max_body_bytes: Annotated[int, Meta(ge=1024, le=1_073_741_824)] = 1_048_576
    shutdown_grace_s: Annotated[int, Meta(ge=0, le=3600)] = 10
    keep_alive_s: Annotated[int, Meta(ge=1, le=3600)] = 5
    export_batch_size: Annotated[int, Meta(ge=1, le=1_000_000)] = 1000
    export_max_concurrent: Annotated[int, Meta(ge=1, le=1000)] = 4
    cache_default_ttl: Annotated[float, Meta(gt=0)] = 300
    cache_max_entries: Annotated[int, Meta(ge=1)] = 100_000
    cache_item_ttl: Annotated[float, Meta(gt=0)] = 120
    cache_list_ttl: Annotated[float, Meta(gt=0)] = 60
    cache_not_found_ttl: Annotated[float, Meta(ge=0, le=3600)] = 5
    admin_token: Annotated[str, Meta(min_length=16, description="at least 16 characters")] | None = None
    metrics_token: Annotated[str, Meta(min_length=16, description="at least 16 characters")] | None = None

    profiling: bool = True
    slow_request_ms: Annotated[float, Meta(ge=0)] = 300.0
    metrics_window_s: Annotated[int, Meta(ge=1, le=3600)] = 60
    loop_lag_interval_ms: Annotated[int, Meta(ge=10, le=1000)] = 50
    trust_request_start: bool = False
    request_start_max_age_s: Annotated[float, Meta(gt=0, le=86_400)] = 60
    apdex_t_ms: Annotated[float, Meta(gt=0, le=600_000)] = 100
    slo_availability: Annotated[float, Meta(gt=0, lt=100, description="a percentage below 100")] | None = None
    slo_latency: str | None = None  # <percent>:<ms>, checked below

    redis_url: Annotated[str, Meta(pattern="^rediss?://", description="a redis:// or rediss:// URL")] | None = None
    # Letters, digits and _ . - only: the prefix goes into SCAN patterns, where * ? [ would match other keys.
    redis_prefix: Annotated[str, Meta(pattern="^[A-Za-z0-9_.-]{1,64}$", description="letters, digits, _ . -")] = (
        "perfshop"
    )
    redis_timeout_ms: Annotated[int, Meta(ge=1, le=10_000)] = 50
    cache_l1_ttl: Annotated[float, Meta(ge=0, le=3600)] = 5
    metrics_publish_s: Annotated[float, Meta(gt=0, le=3600)] = 1.0

    def __post_init__(self) -> None:
        # msgspec reports a ValueError raised here with the path after " - at ", like its own errors.
        if not self.database_url.startswith(SUPPORTED_DATABASES):
            raise ValueError(f"must start with one of {', '.join(SUPPORTED_DATABASES)} - at `$.database_url`")
        if self.slo_latency is not None:
            try:
                latency_objective(self.slo_latency)
            except ValueError as error:
                raise ValueError(f"{error} - at `$.slo_latency`") from None

    def objectives(self) -> list[Objective]:
        """The service level objectives set, none by default."""
        found = [] if self.slo_availability is None else [Objective("availability", self.slo_availability)]
        return found if self.slo_latency is None else [*found, latency_objective(self.slo_latency)]


_FIELDS = Settings.__struct_fields__


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from the `PERFSHOP_*` variables of `environ`, or SettingsError naming the culprit."""
    raw: dict[str, str] = {}
    for variable, value in environ.items():
        if not variable.startswith(PREFIX):
            continue
        name = variable[len(PREFIX) :].lower()
        if name not in _FIELDS:
            raise SettingsError(f"unknown setting {variable}{_suggestion(name)}")
        raw[name] = value.upper() if name == "log_level" else value
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as error:
        raise SettingsError(_explain(str(error))) from None


def _suggestion(name: str) -> str:
    close = difflib.get_close_matches(name, _FIELDS, n=1)
    return f" (did you mean {PREFIX}{close[0].upper()}?)" if close else ""


def _explain(message: str) -> str:
    # msgspec ends its message with "- at `$.field`"; lead with the variable the user has to fix.
    text, _, where = message.rpartition(" - at `$.")
    field = where.rstrip("`")
    if not text or field not in _FIELDS:
        return message
    return f"{PREFIX}{field.upper()}: {text}"

"""Settings load from PERFSHOP_* variables and fail with one line naming the variable."""

import os
import subprocess
import sys

import pytest

from presentation.settings import Settings, SettingsError, load_settings


def test_defaults_without_any_variable() -> None:
    settings = load_settings({"HOME": "/root", "PATH": "/bin"})
    assert settings == Settings()
    assert settings.database_url == "sqlite+aiosqlite:///var/perfshop.db"
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert (settings.demo_items, settings.demo_orders, settings.log_level) == (1000, 100_000, "INFO")
    assert (settings.redis_url, settings.redis_prefix, settings.metrics_publish_s) == (None, "perfshop", 1.0)


def test_strings_become_typed_values() -> None:
    settings = load_settings({"PERFSHOP_PORT": "9000", "PERFSHOP_WORKERS": "2", "PERFSHOP_LOG_LEVEL": "debug"})
    assert (settings.port, settings.workers, settings.log_level) == (9000, 2, "DEBUG")


def test_a_misspelled_variable_is_named_with_a_suggestion() -> None:
    with pytest.raises(SettingsError, match=r"unknown setting PERFSHOP_PROT \(did you mean PERFSHOP_PORT\?\)"):
        load_settings({"PERFSHOP_PROT": "9000"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PERFSHOP_PORT", "eighty"),
        ("PERFSHOP_PORT", "70000"),
        ("PERFSHOP_WORKERS", "0"),
        ("PERFSHOP_DB_POOL_SIZE", "0"),
        ("PERFSHOP_DEMO_ORDERS", "-1"),
        ("PERFSHOP_LOG_LEVEL", "LOUD"),
        ("PERFSHOP_DATABASE_URL", ""),
        ("PERFSHOP_DATABASE_URL", "mysql://root@localhost/shop"),
        ("PERFSHOP_METRICS_PUBLISH_S", "0"),
        ("PERFSHOP_REDIS_URL", ""),
    ],
)
def test_a_bad_value_is_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({variable: value})
    assert str(error.value).startswith(f"{variable}: ")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("command", [["perfshop", "serve"], ["perfshop", "seed", "--orders", "1"]])
def test_the_command_stops_with_one_line_and_no_traceback(command: list[str]) -> None:
    env = {**os.environ, "PERFSHOP_PORT": "eighty"}
    script = os.path.join(os.path.dirname(sys.executable), command[0])
    result = subprocess.run([script, *command[1:]], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["perfshop: PERFSHOP_PORT: Expected `int`, got `str`"]


def test_profiling_settings_have_defaults_and_parse_from_strings() -> None:
    defaults = Settings()
    assert (defaults.profiling, defaults.slow_request_ms, defaults.metrics_window_s) == (True, 300, 60)
    settings = load_settings(
        {"PERFSHOP_PROFILING": "false", "PERFSHOP_SLOW_REQUEST_MS": "150.5", "PERFSHOP_METRICS_WINDOW_S": "30"}
    )
    assert (settings.profiling, settings.slow_request_ms, settings.metrics_window_s) == (False, 150.5, 30)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PERFSHOP_PROFILING", "maybe"), ("PERFSHOP_METRICS_WINDOW_S", "0"), ("PERFSHOP_SLOW_REQUEST_MS", "-1")],
)
def test_a_bad_profiling_value_is_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}: "):
        load_settings({variable: value})

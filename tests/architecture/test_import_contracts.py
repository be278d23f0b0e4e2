"""The import-linter contracts hold, and each one goes red on a planted violation."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def contract_results(project: Path) -> dict[str, str]:
    """Run lint-imports on `project` and map each contract's name to KEPT or BROKEN."""
    result = subprocess.run(
        [LINT_IMPORTS, "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = dict(re.findall(r"^(.+?) (KEPT|BROKEN)$", result.stdout, flags=re.MULTILINE))
    assert results, result.stdout + result.stderr
    return results


def test_every_contract_is_kept() -> None:
    results = contract_results(ROOT)
    assert set(results.values()) == {"KEPT"}
    assert set(results) == set(PLANTS)  # every contract is shown red once below


PLANTS = {
    "Layers: presentation > infrastructure > application > domain": ("domain/errors.py", "import application.items"),
    "Only the composition root imports infrastructure": (
        "presentation/http/health.py",
        "import infrastructure.sqla.tables",
    ),
    "Domain and application import no framework, driver, DI or compression library": (
        "application/health.py",
        "import zlib",
    ),
    "Infrastructure imports no web framework or DI": ("infrastructure/sqla/engine.py", "import litestar"),
    "Only the SQL adapters import the database drivers": ("presentation/ioc.py", "import asyncpg"),
    "Each adapter package depends only on its own driver": (
        "infrastructure/memory/planted.py",
        "import infrastructure.sqla.tables",
    ),
    "Only the Redis adapter imports the Redis driver": ("presentation/ioc.py", "import redis.asyncio"),
    "One translation of SQL faults into domain errors": (
        "infrastructure/sqla/items.py",
        "import domain.errors",
    ),
    "Guards and profiler do not reach into the container": (
        "presentation/http/profiling.py",
        "import dishka",
    ),
    "The shared cache mechanics use no adapter and no driver": ("infrastructure/cache_mechanics.py", "import redis"),
    "Only the script protocol uses the Lua scripts": (
        "infrastructure/redis/cache.py",
        "import infrastructure.redis.scripts",
    ),
    "The L1 and its channel use neither the script layer nor the upkeep": (
        "infrastructure/redis/l1.py",
        "import infrastructure.redis.protocol",
    ),
}


@pytest.mark.parametrize("contract", list(PLANTS))
def test_a_planted_violation_breaks_exactly_its_contract(tmp_path: Path, contract: str) -> None:
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    module, line = PLANTS[contract]
    planted = tmp_path / "src" / module
    planted.write_text((planted.read_text() if planted.exists() else "") + f"\n{line}  # planted\n")

    results = contract_results(tmp_path)

    assert {name for name, verdict in results.items() if verdict == "BROKEN"} == {contract}

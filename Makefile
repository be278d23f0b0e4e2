# perfshop: `make run` starts the service, `make test` runs every check. Both install what they need.
export UV_PYTHON_DOWNLOADS := never
PYTHON ?= python3
UV := $(PYTHON) -m uv
# The fast subset: unit and in-process HTTP tests on SQLite (markers set by tests/conftest.py).
FAST_TESTS := (unit or http) and not (postgres or redis or server or browser)
# Extra pytest arguments for test-stress, e.g. PYTEST_ARGS=tests/unit to try it on a part of the suite.
PYTEST_ARGS ?=

.PHONY: run test test-fast test-stress uv bench-smoke

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv

run: uv
	$(UV) sync --frozen --no-default-groups
	$(UV) run --frozen --no-sync perfshop serve

test: uv
	$(UV) sync --frozen --all-groups
	$(UV) run --frozen --no-sync ruff check src tests bench
	$(UV) run --frozen --no-sync ruff format --check src tests bench
	$(UV) run --frozen --no-sync mypy
	$(UV) run --frozen --no-sync pytest
	$(MAKE) --no-print-directory bench-smoke

test-fast: uv
	$(UV) sync --frozen --all-groups
	$(UV) run --frozen --no-sync ruff check src tests bench
	$(UV) run --frozen --no-sync ruff format --check src tests bench
	$(UV) run --frozen --no-sync pytest -m "$(FAST_TESTS)"

test-stress: uv
	$(UV) sync --frozen --all-groups
	REQUIRE_SERVICES=1 bash tests/stress.sh $(UV) run --frozen --no-sync pytest $(PYTEST_ARGS)

bench-smoke:
	@for script in bench/*.py; do \
		[ -f "$$script" ] || continue; \
		echo "== $$script --smoke"; \
		$(UV) run --frozen --no-sync python "$$script" --smoke || exit 1; \
	done

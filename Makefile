# perfshop: `make run` starts the service, `make test` runs every check. Both install what they need.
export UV_PYTHON_DOWNLOADS := never
PYTHON ?= python3
UV := $(PYTHON) -m uv

.PHONY: run test uv bench-smoke

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

bench-smoke:
	@for script in bench/*.py; do \
		[ -f "$$script" ] || continue; \
		echo "== $$script --smoke"; \
		$(UV) run --frozen --no-sync python "$$script" --smoke || exit 1; \
	done

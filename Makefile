# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck pytest demo clean registry gh bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check provisioner tests bench
	$(BIN)/ruff format --check provisioner tests bench

typecheck: $(STAMP)
	$(BIN)/mypy provisioner

pytest: $(STAMP)
	$(BIN)/pytest -q

# The distribution registry that doctor's login tests run against (Debian package); installed
# only when missing and only as root (CI runs as root), else those tests skip outside CI.
registry:
	@if [ "$$(id -u)" = 0 ]; then \
		command -v docker-registry >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry apache2-utils); \
	fi

# Debian's gh (2.23), which tests/sandbox/test_gh_cli.py runs against the sandbox inside a
# private network namespace (ip, from iproute2, brings its loopback up); installed only when
# missing and only as root (CI runs as root), else that test skips outside CI.
gh:
	@if [ "$$(id -u)" = 0 ]; then \
		(command -v gh && command -v ip) >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gh iproute2); \
	fi

test: registry gh lint typecheck pytest

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# Not part of `make test`: minutes of wall time (SIZES=10,100 for a quick run).
SIZES ?= 10,100,1000
bench: $(STAMP)
	$(BIN)/python -m bench.run --sizes $(SIZES)
	$(BIN)/python -m bench.state_s3

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

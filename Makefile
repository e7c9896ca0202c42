# Set-up and checks. `make test` creates .venv, installs the package with its dev extra and runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A local folder of wheels (if present) lets pip take the CPU build of torch without downloading.
WHEELS ?= /opt/wheels
FIND_LINKS := $(if $(wildcard $(WHEELS)),--find-links $(WHEELS))

.PHONY: venv browser postgres mysql test test-fast lint format demo clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# Keep an existing torch (a CUDA build on a GPU machine); otherwise take the pinned CPU build.
	$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet $(FIND_LINKS) -c constraints-cpu.txt torch
	$(BIN)/python -m pip install --quiet $(FIND_LINKS) -e '.[dev]'
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The report tests drive a real headless Chromium: Debian's package, installed here when it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
		else echo "the report tests need Chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# The --storage tests start a PostgreSQL server of their own (initdb and postgres in a temporary folder, as
# the postgres system user under root): Debian's package, installed here when its programs are missing (the
# cluster the package may set up is not used).
PG_BIN := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
postgres:
	@{ command -v initdb >/dev/null 2>&1 || [ -n "$(PG_BIN)" ]; } || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; \
		else echo "the --storage tests need PostgreSQL: sudo apt-get install postgresql" >&2; exit 1; fi; }

# The MySQL/MariaDB --storage tests likewise start a MariaDB server of their own (mariadb-install-db and
# mariadbd in a temporary folder, as the mysql system user under root): Debian's mariadb-server package.
mysql:
	@command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mariadb-server; \
		else echo "the MySQL --storage tests need MariaDB: sudo apt-get install mariadb-server" >&2; exit 1; fi; }

test: lint browser postgres mysql
	$(BIN)/python -m pytest -q

# The edit loop: everything but the tests marked ray, browser or slow (well under two minutes here).
test-fast: venv
	$(BIN)/python -m pytest -q -m "not ray and not browser and not slow"

# A 20-trial search of small ResNeXts on the embedded digits data (local Ray; a few minutes on 2 cores).
demo: venv
	$(BIN)/nas-resnext search search_spaces/digits_demo.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

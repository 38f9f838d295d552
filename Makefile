# One command to run the service, one to run the tests. See README.md.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup setup-dev local-env run test test-fast test-sqlite test-postgresql lint

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Running the service needs requirements.txt alone; the test tools come with `make test`.
$(VENV)/.installed: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

# A per-machine secret and debug mode, added to .env when it lacks them, even when .env
# was written first (say with a PORT); a value already there is never changed.
local-env: setup
	$(BIN)/python -m settings local-env

# honcho does not read .env (`-e /dev/null`): its own parser drops the spaces of quoted
# values. Every process reads .env itself with python-dotenv; honcho only gets the port.
run: local-env
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app worksheet build
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho start -e /dev/null -p "$$($(BIN)/python -m settings get PORT)"

test: setup-dev test-sqlite test-postgresql

# The inner loop: all but the slow and browser tests, in parallel, on SQLite. CI runs `make test`.
test-fast: setup-dev
	TEND_TEST_DB=sqlite $(BIN)/pytest -n auto -m "not slow and not browser" $(PYTEST_ARGS)

# Each database: the quick tests in parallel, then the slow and browser ones one at a time
# (they start servers, processes and Chromium of their own). A half that PYTEST_ARGS leaves
# with no test (exit status 5) is no failure.
test-sqlite:
	TEND_TEST_DB=sqlite $(BIN)/pytest -n auto -m "not slow and not browser" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	TEND_TEST_DB=sqlite $(BIN)/pytest -m "slow or browser" $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-postgresql:
	TEND_TEST_DB=postgresql $(BIN)/pytest -n auto -m "not slow and not browser" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	TEND_TEST_DB=postgresql $(BIN)/pytest -m "slow or browser" $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: setup-dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

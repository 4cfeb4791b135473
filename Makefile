# Two commands on a fresh machine: `make run` and `make test`. Both go through `make install`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.install-stamp

.PHONY: install run test lint bench reliability clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[worker,export,desktop,local,dev]'
	touch $(STAMP)

# Opens the desktop app on the embedded local cloud; with no display, classifies samples/ headless.
run: install
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] && [ -x $(VENV)/bin/imgrec-desktop ] && $(PY) -c 'import desktop.app' 2>/dev/null; then \
		$(VENV)/bin/imgrec-desktop; \
	else \
		echo "no display: classifying samples/ headless"; \
		$(VENV)/bin/imgrec classify samples --out results.csv; \
	fi

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) bench/batch_sweep.py
	$(PY) bench/throughput.py
	$(PY) bench/startup.py
	$(PY) bench/cost.py
	$(PY) bench/photos.py
	$(PY) bench/scaling_local.py
	$(PY) bench/scaling_sim.py

# Runs the fault-injecting tests and the 2,000-image soak, and rewrites docs/RELIABILITY.md from what they saw.
reliability: install
	$(PY) bench/reliability.py --soak

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

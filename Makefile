# Two commands on a fresh machine: `make run` and `make test`. Both go through `make install`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.install-stamp
# The desktop bundle is built from an environment of its own, without torch (see build.spec).
PKG_VENV     := .venv-package
PKG_STAMP    := $(PKG_VENV)/.install-stamp
MODEL_BUNDLE := build/model-bundle

.PHONY: install run test lint bench reliability package clean

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

# The desktop app as one folder, dist/imgrec-desktop/ (PyInstaller, from $(PKG_VENV): no torch), carrying the
# default model's bundle, exported first with .venv's torch. tests/desktop/test_package.py runs what it built.
package: $(PKG_STAMP) $(MODEL_BUNDLE)/bundle.json
	$(PKG_VENV)/bin/python -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller build.spec
	@du -sh dist/imgrec-desktop

$(PKG_STAMP): pyproject.toml
	test -x $(PKG_VENV)/bin/python || $(PYTHON) -m venv $(PKG_VENV)
	$(PKG_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PKG_VENV)/bin/python -m pip install --quiet -e '.[desktop,local,worker,package]'
	touch $(PKG_STAMP)

$(MODEL_BUNDLE)/bundle.json: | install
	$(VENV)/bin/imgrec model export --out $(MODEL_BUNDLE)

clean:
	rm -rf $(VENV) $(PKG_VENV) build dist .pytest_cache .ruff_cache *.egg-info

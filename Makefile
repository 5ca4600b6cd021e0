# Two commands: `make test` and `make sim`. Both set up the host tools first
# (a virtual environment in .venv with the pinned requirements).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UPY := $(VENV)/bin/micropython
# Heap cap for the unix port tests: 512 KiB on the 64-bit unix port stands for a
# board with ~256 KiB of free heap (pointers and objects are twice the size).
UPY_HEAP ?= 512K
SIM_ARGS ?=

.PHONY: setup test test-cpython test-micropython test-targets lint sim bench clean

setup: $(VENV)/.installed $(VENV)/.paths

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# The repository's folders on .venv's import path: one .pth line (tools/repo_paths.py).
$(VENV)/.paths: tools/repo_paths.py $(VENV)/.installed
	$(PY) tools/repo_paths.py install
	touch $@

test: setup
	@status=0; \
	$(MAKE) --no-print-directory test-cpython || status=1; \
	$(MAKE) --no-print-directory test-micropython || status=1; \
	$(MAKE) --no-print-directory test-targets || status=1; \
	$(MAKE) --no-print-directory lint || status=1; \
	exit $$status

# Under coverage (settings in pyproject.toml); the figure is printed, with no threshold.
test-cpython: setup
	@rm -rf build/coverage; mkdir -p build/test-results; status=0; \
	timeout 2400 $(PY) -m coverage run -m pytest host_tests -q -p no:cacheprovider --timeout 600 || status=$$?; \
	echo "coverage (CPython run; lib, firmware, boards/host, tools): $$($(PY) -m coverage report --format=total)% of lines" \
		"(per file: $(PY) -m coverage report)" | tee build/test-results/coverage.txt; \
	exit $$status

test-micropython: setup
	timeout 1200 $(PY) host_tests/run_upy_each.py --heap $(UPY_HEAP)

test-targets: setup
	$(PY) tools/targets.py check

# ruff over the whole tree (settings in pyproject.toml); any finding fails the stage.
lint: setup
	@mkdir -p build/test-results; status=0; \
	$(VENV)/bin/ruff check --no-cache --output-format concise . > build/test-results/lint.log 2>&1 || status=$$?; \
	cat build/test-results/lint.log; exit $$status

sim: setup
	$(PY) tools/sim.py $(SIM_ARGS)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis

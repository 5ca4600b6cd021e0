# Two commands: `make test` and `make sim`. Both set up the host tools first
# (a virtual environment in .venv with the pinned requirements).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UPY := $(VENV)/bin/micropython
# Heap cap for the unix port tests: 512 KiB on the 64-bit unix port stands for a
# board with ~256 KiB of free heap (pointers and objects are twice the size).
UPY_HEAP ?= 512K
# The 32-bit stage: MicroPython on qemu (ARMv6-M, single-precision floats, 31-bit small
# ints, a fixed heap). Skipped, with one line saying why, where the tool or qemu is missing.
UPY32 ?= ../shared/tools/upy32/upy32
UPY32_HEAP ?= 150K
RESULTS := $(PY) host_tests/results.py
SIM_ARGS ?=

.PHONY: setup test test-cpython test-micropython test-upy32 test-targets lint sim bench clean

setup: $(VENV)/.installed $(VENV)/.paths

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# The repository's folders on .venv's import path: one .pth line (tools/repo_paths.py).
$(VENV)/.paths: tools/repo_paths.py $(VENV)/.installed
	$(PY) tools/repo_paths.py install
	touch $@

# Every stage runs whatever the others did; each leaves its result in build/test-results/
# and the run ends with one summary of all stages naming every failing test.
test: setup
	@$(RESULTS) clear; \
	$(MAKE) --no-print-directory test-cpython; \
	$(MAKE) --no-print-directory test-micropython; \
	$(MAKE) --no-print-directory test-upy32; \
	$(MAKE) --no-print-directory test-targets; \
	$(MAKE) --no-print-directory lint; \
	$(RESULTS) summary

# Under coverage (settings in pyproject.toml); the figure is printed, with no threshold.
test-cpython: setup
	@rm -rf build/coverage; mkdir -p build/test-results; status=0; \
	timeout 2400 $(PY) -m coverage run -m pytest host_tests -q -p no:cacheprovider --timeout 600 \
		--junitxml=build/test-results/cpython.xml || status=$$?; \
	echo "coverage (CPython run; lib, firmware, boards/host, tools): $$($(PY) -m coverage report --format=total)% of lines" \
		"(per file: $(PY) -m coverage report)" | tee build/test-results/coverage.txt; \
	$(RESULTS) junit cpython build/test-results/cpython.xml $$status; exit $$status

test-micropython: setup
	timeout 1200 $(PY) host_tests/run_upy_each.py --heap $(UPY_HEAP)

test-upy32: setup
	timeout 1200 $(PY) host_tests/run_upy32.py --upy32 $(UPY32) --heap $(UPY32_HEAP)

test-targets: setup
	@mkdir -p build/test-results; status=0; \
	$(PY) tools/targets.py check > build/test-results/targets.log 2>&1 || status=$$?; \
	cat build/test-results/targets.log; \
	$(RESULTS) log targets build/test-results/targets.log $$status; exit $$status

# ruff over the whole tree (settings in pyproject.toml); any finding fails the stage.
lint: setup
	@mkdir -p build/test-results; status=0; \
	$(VENV)/bin/ruff check --no-cache --output-format concise . > build/test-results/lint.log 2>&1 || status=$$?; \
	cat build/test-results/lint.log; \
	$(RESULTS) log lint build/test-results/lint.log $$status; exit $$status

sim: setup
	$(PY) tools/sim.py $(SIM_ARGS)

bench: setup
	@# dlms_upy.py and sml_push_32bit.py run inside MicroPython or upy32 (their parent benches start them).
	@for b in bench/*.py; do case $$b in *_upy.py|*_32bit.py) continue;; esac; echo "== $$b"; $(PY) $$b || exit 1; done
	@echo "== bench/wmbus_telegram.py (MicroPython unix port: the firmware's code path)"
	@MICROPYPATH=$$($(PY) tools/repo_paths.py micropython) $(UPY) -X heapsize=$(UPY_HEAP) bench/wmbus_telegram.py

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis

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

.PHONY: setup test test-cpython test-micropython test-targets sim bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

test: setup
	@status=0; \
	$(MAKE) --no-print-directory test-cpython || status=1; \
	$(MAKE) --no-print-directory test-micropython || status=1; \
	$(MAKE) --no-print-directory test-targets || status=1; \
	exit $$status

test-cpython: setup
	timeout 2400 $(PY) -m pytest host_tests -q -p no:cacheprovider --timeout 600

test-micropython: setup
	timeout 1200 $(PY) host_tests/run_upy_each.py --heap $(UPY_HEAP)

test-targets: setup
	$(PY) tools/targets.py check

sim: setup
	$(PY) tools/sim.py $(SIM_ARGS)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
	@echo "== bench/wmbus_telegram.py (MicroPython unix port: the firmware's code path)"
	@$(UPY) -X heapsize=$(UPY_HEAP) bench/wmbus_telegram.py

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis

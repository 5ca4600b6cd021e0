# Frozen firmware for the Raspberry Pi Pico. From a MicroPython checkout (ports/rp2):
#
#   make BOARD=RPI_PICO FROZEN_MANIFEST=/path/to/this/repo/boards/rp2/manifest.py
#
# The port's default modules (asyncio and the rest), then the shared freeze list: lib/,
# firmware/ and this folder's board.py and drivers. main.py is not frozen: it stays
# on the filesystem (tools/flash.py deploy --frozen copies it with config.json).
# A MicroPython board definition with its own manifest.py (look in ports/rp2/boards/
# <BOARD>/) adds modules the port's lacks: include "$(BOARD_DIR)/manifest.py" in place of
# the port's for it (docs/flashing.md).
# To freeze one application only: include("…/boards/rp2/manifest.py", app="meter").

include("$(PORT_DIR)/boards/manifest.py")
include("../../manifest.py", board="rp2", app=options.app)

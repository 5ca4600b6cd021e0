# Frozen firmware for the ESP32 DevKitC. From a MicroPython checkout (ports/esp32):
#
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/this/repo/boards/esp32/manifest.py
#
# The port's default modules (asyncio and the rest), then the shared freeze list: lib/,
# firmware/ and this folder's board.py and drivers. main.py is not frozen: it stays
# on the filesystem (tools/flash.py deploy --frozen copies it with config.json).
# To freeze one application only: include("…/boards/esp32/manifest.py", app="meter").

include("$(PORT_DIR)/boards/manifest.py")
include("../../manifest.py", board="esp32", app=options.app)

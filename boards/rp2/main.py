# Boot: check /config.json, build the hardware, run the application it names.
import gc
import ota.boot

ota.boot.select("/data", ("/lib",))  # an updated slot (lib/ota) replaces /lib
gc.collect()  # the selector's garbage, before the application's imports need the heap

import board
import startup

startup.boot(board, "/config.json")

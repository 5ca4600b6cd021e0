# Boot: check /config.json, build the hardware, run the application it names.
import ota.boot

ota.boot.select("/data", ("/lib",))  # an updated slot (lib/ota) replaces /lib

import board
import startup

startup.boot(board, "/config.json")

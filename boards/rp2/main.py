# Boot: check /config.json, build the hardware, run the application it names.
import board
import startup

startup.boot(board, "/config.json")

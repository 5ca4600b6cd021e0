# The simulation's SML info port (docs/sml.md): the meter pushes SML on one end of a relayed
# pty pair, and a reader (smllib, pysml, libsml, vzlogger) opens the other end, whose path
# is printed. The consumer's PIN in the simulation is SIM_PIN:
#     python tools/admin.py --sim OUT unlock 1234     (details for sml.unlock_s seconds)

SIM_PIN = "1234"


def attach(meter_cfg, link_class, loop):
    """Put the meter's optical port on a new pty link; returns the link (close(loop) at the end)."""
    link = link_class("sml")
    link.MAX_BUFFERED_BYTES = 2048  # a reader that comes late sees recent files, not a backlog
    link.start(loop)
    meter_cfg["board"]["optical_uart"] = "pty:" + link.a_path
    meter_cfg["optical"] = {"protocol": "sml"}
    meter_cfg["sml"] = {"push_s": 1, "detail": "pin", "pin": SIM_PIN, "unlock_s": 600}
    print("sim: SML info port (9600 8N1) at %s (PIN %s: tools/admin.py --sim OUT unlock %s)"
          % (link.b_path, SIM_PIN, SIM_PIN), flush=True)
    return link

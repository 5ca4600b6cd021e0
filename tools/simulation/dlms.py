# The simulation's DLMS side: a socat pty pair for the meter's HDLC port (the meter opens
# one end, a client the other) and a loopback port for the TCP wrapper; prints how to
# connect with each client (docs/dlms.md has the commands).

import os
import socket
import subprocess
import time


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(out_dir, meter_cfg):
    """Adds the DLMS ports to the meter's configuration; returns the socat process to stop."""
    folder = os.path.abspath(os.path.join(out_dir, "dlms"))
    os.makedirs(folder, exist_ok=True)
    meter_pty, client_pty = folder + "/meter.pty", folder + "/client.pty"
    for path in (meter_pty, client_pty):
        if os.path.lexists(path):
            os.remove(path)
    socat = subprocess.Popen(["socat", "pty,raw,echo=0,link=" + meter_pty, "pty,raw,echo=0,link=" + client_pty],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while not (os.path.exists(meter_pty) and os.path.exists(client_pty)) and time.monotonic() < deadline:
        time.sleep(0.01)
    port = _free_port()
    meter_cfg["board"]["dlms_uart"] = "pty:" + meter_pty
    meter_cfg["dlms"] = {"tcp": "127.0.0.1:%d" % port}
    keys = os.path.join(os.path.abspath(out_dir), "keys", "admin-keys.json")
    print("sim: DLMS/COSEM: HDLC on %s (server 1, physical address 17), TCP wrapper on 127.0.0.1:%d; "
          "public client 16 without security, management client 1 with HLS-GMAC and the dlms_ek/dlms_ak "
          "keys in %s (docs/dlms.md)" % (client_pty, port, keys), flush=True)
    return socat

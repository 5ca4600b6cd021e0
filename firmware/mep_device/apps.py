# Wiring of the MEP device's tasks: the link master (mep), the local store, the
# dispatcher, the in-home display (console, web page) and the thermostat.

from mep import tables as T
from mep.client import Client
from mep.secure import LinkKeys
from store.fs import make_dirs, StoreError
from mep_device.dispatch import Dispatcher
from mep_device.localstore import LocalStore
from mep_device.link import LinkMaster
from mep_device.thermostat import Thermostat
from mep_device.display import Display


def build_apps(device, sup, stall_margin_ms):
    """Add the MEP tasks to sup; returns the LinkMaster (None without a port or key)."""
    hw, cfg, log = device.hw, device.cfg, device.log
    if hw.mep_uart is None:
        log.error("no MEP port on this board: link not started")
        return None
    from security.keystore import open_board_keys, KeyStoreError

    try:
        key = open_board_keys(hw).get("mep")
    except (KeyStoreError, StoreError, OSError) as exc:  # not provisioned, or a damaged store: runs on without
        log.error("MEP link not started: %s", exc)
        return None
    root = hw.storage_root + "/mep"
    make_dirs(root)
    m = cfg["mep"]
    client = Client(hw.mep_uart, LinkKeys(key), root + "/seq", timeout_ms=m["timeout_ms"], retries=m["retries"],
                    backoff_ms=m["backoff_ms"])
    store = LocalStore(root)
    dispatcher = Dispatcher(m["buffer_depth"])
    thermostat = Thermostat(cfg["thermostat"], hw.clock)
    display = Display(store, cfg["display"], hw.clock, thermostat, log.tagged("display"))
    dispatcher.register(T.APP_DISPLAY, display)
    dispatcher.register(T.APP_THERMOSTAT, thermostat)
    link = LinkMaster(client, store, dispatcher, m, log.tagged("mep"), overrides=thermostat.take_override)
    link.display = display
    link.thermostat = thermostat
    # A poll may take retries x timeouts when the meter is silent; the task reports
    # progress after every attempt, so its stall bound is one such attempt.
    attempt_ms = (m["retries"] + 1) * (m["timeout_ms"] + (m["backoff_ms"] << m["retries"])) * 12
    sup.add("mep", link.task, attempt_ms + m["poll_ms"] + stall_margin_ms)
    console_ms = hw.clock.real_ms(cfg["display"]["console_interval_s"] * 1000)
    sup.add("display", display.console_task, console_ms * 2 + stall_margin_ms)
    if cfg["display"]["http_port"] is not None:
        sup.add("web", display.web_task, hw.clock.real_ms(60000) * 2 + stall_margin_ms)
    sup.add("thermostat", lambda progress: thermostat.sleep_task(dispatcher, progress),
            hw.clock.real_ms(max(60, thermostat.wake_s) * 1000) * 2 + stall_margin_ms)
    return link

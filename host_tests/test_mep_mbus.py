# The wired M-Bus master seen through the MEP tables (meter/mep_mbus.py): devices with
# the identity their frames carry, data sets as received, on-demand reads.
import asyncio
import support
from log import Log
from meter.mep_mbus import MBusTables
from test_mbus_meter import port_on  # an M-Bus port on in-memory slaves


def test_on_demand_read_becomes_a_data_set_with_the_device_identity():
    root = support.tmpdir("mepmbus")
    port, _ = port_on({"baud": 9600, "devices": [
        {"address": 1, "name": "gas", "medium": "gas", "schedule": {"every": "monthly"}},
        {"address": "1200007104771407", "name": "water2", "medium": "water"}]}, root)
    try:
        tables = MBusTables(port, Log().tagged("mep"))
        before = tables.devices()
        assert [d["schedule"] for d in before] == [3, 1]  # monthly, daily (the default)
        assert before[0]["id"] == "0" and before[1]["id"] == "12000071"  # nothing read yet / secondary
        # Before a device's first read its configured medium shows (EN 13757-3 codes), not 0 ("other").
        assert [d["medium"] for d in before] == [3, 7], "expected gas (3) and water (7): %r" % before
        assert tables.last_seq() == 0 and list(tables.data_sets(0)) == []
        assert not tables.request_read(2) and not tables.request_read(-1)

        async def read_gas():
            assert tables.request_read(0)
            for _ in range(300):
                await asyncio.sleep(0.01)
                if tables.last_seq():
                    break

        support.run(read_gas())
        sets = list(tables.data_sets(0))
        assert len(sets) == 1 and sets[0][0] == tables.last_seq() and sets[0][1] == 0
        frame = sets[0][3]
        assert frame[0] == 0x68 and frame[-1] == 0x16  # the long frame as received
        gas = tables.devices()[0]
        assert gas["id"] != "0" and len(gas["manufacturer"]) == 3 and gas["medium"] == 3  # gas
        assert list(tables.data_sets(sets[0][0])) == []
    finally:
        port.close()
        support.rmtree(root)


def test_display_lists_only_texts_and_shows_media_as_words():
    # The welcome note's thermostat setting (app 2, JSON) goes to the thermostat, not into the
    # display's message list; the page names M-Bus media and says when a meter is unread.
    from mep import tables as T
    from mep_device.link import LinkMaster
    from mep_device.localstore import LocalStore
    from mep_device.dispatch import Dispatcher
    from mep_device import display

    root = support.tmpdir("mepdisp")
    try:
        store = LocalStore(root)
        dispatcher = Dispatcher(4)
        got = []

        class App:
            def receive(self, kind, payload):
                got.append(payload)

        dispatcher.register(T.APP_THERMOSTAT, App())
        link = LinkMaster(None, store, dispatcher, {"poll_ms": 1000}, Log())
        link.deliver(T.APP_DISPLAY, b"Welcome", False, 1)
        link.deliver(T.APP_THERMOSTAT, b'{"offset_c": 0.0, "duration_s": 60}', False, 1)
        texts = [m["text"] for m in store.snapshot()["messages"]]
        assert texts == ["Welcome"], "expected only the display's text in its list, got %r" % texts
        assert got == [{"offset_c": 0.0, "duration_s": 60}], got
        page = display.PAGE.decode()
        assert '3:"gas"' in page and '7:"water"' in page and "not read yet" in page
        assert '" medium "+d.medium' not in page
    finally:
        support.rmtree(root)

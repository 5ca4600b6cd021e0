# The downlink stores of the meter's MEP port: what the utility sends the device and what
# the device writes back, each kept on flash (AtomicRecord under <storage_root>/mep):
#
#   urgent      a queue (at most 16 entries of 200 bytes) the device takes one at a time and
#               acknowledges (procedure PROC_ACK_URGENT: success or failure)
#   nonurgent   one area (at most 400 bytes), replaced as a whole with a new generation
#   overrides   the customer's overrides, written by the device (table OVERRIDES)

import struct
import status
from micropython import const
from store.atomic import AtomicRecord
from mep import tables as T
from mep.errors import MEPError, FrameError

_URGENT_MAX = const(16)  # queued urgent entries; the oldest is refused beyond this
_URGENT_MAX_BYTES = const(200)
_NONURGENT_MAX_BYTES = const(400)


class Downlink:
    def __init__(self, root, clock, event):
        self.clock = clock
        self.event = event  # event(kind, fields): the port's event log
        self._overrides = AtomicRecord(root + "/overrides")
        self._nonurgent = AtomicRecord(root + "/nonurgent")
        self._urgent = AtomicRecord(root + "/urgent")
        queue = self._urgent.read_json() or {}
        self.urgent = queue.get("entries", [])
        self.urgent_next_id = queue.get("next_id", 1)
        self.nonurgent_image = self._nonurgent.read() or T.encode_nonurgent(0, 0, [])
        self.nonurgent_gen = T.decode_nonurgent(self.nonurgent_image)["generation"]
        self.overrides_image = self._overrides.read() or T.encode_overrides(0, 0, 0)

    # Urgent queue.
    def urgent_image(self):
        if not self.urgent:
            return b""
        e = self.urgent[0]
        return T.encode_urgent(e["id"], e["t"], e["app"], bytes.fromhex(e["data"]))

    def put_urgent(self, app, data):
        if len(data) > _URGENT_MAX_BYTES:
            raise MEPError("urgent data of %d bytes exceeds %d" % (len(data), _URGENT_MAX_BYTES))
        if len(self.urgent) >= _URGENT_MAX:
            raise MEPError("urgent queue full")
        entry_id = self.urgent_next_id
        self.urgent_next_id += 1
        self.urgent.append({"id": entry_id, "t": self.clock.time_s(), "app": app, "data": bytes(data).hex()})
        self._save_urgent()
        self.event("urgent_queued", {"id": entry_id, "app": app})
        return entry_id

    def ack_urgent(self, params):
        """Procedure PROC_ACK_URGENT: entry id (4 bytes), outcome (0 success, 1 failure)."""
        if len(params) != 5 or params[4] > 1:
            return T.RESULT_INVALID, b""
        entry_id = struct.unpack(">I", params[:4])[0]
        if not self.urgent or self.urgent[0]["id"] != entry_id:
            return T.RESULT_INVALID, b""
        outcome = "success" if params[4] == 0 else "failure"
        entry = self.urgent.pop(0)
        self._save_urgent()
        # The receipt for the sender: an event, and a status line the head-end side reads.
        self.event("urgent_ack", {"id": entry_id, "app": entry["app"], "outcome": outcome})
        status.emit("mep_urgent_ack", {"t": self.clock.time_s(), "id": entry_id, "outcome": outcome})
        return T.RESULT_DONE, b""

    def _save_urgent(self):
        self._urgent.write_json({"entries": self.urgent, "next_id": self.urgent_next_id})

    # Non-urgent area.
    def put_nonurgent(self, items):
        gen = self.nonurgent_gen + 1
        image = T.encode_nonurgent(gen, self.clock.time_s(), items)
        if len(image) > _NONURGENT_MAX_BYTES:
            raise MEPError("non-urgent area of %d bytes exceeds %d" % (len(image), _NONURGENT_MAX_BYTES))
        self._nonurgent.write(image)
        self.nonurgent_image = image
        self.nonurgent_gen = gen
        self.event("nonurgent", {"generation": gen, "items": len(items)})

    # Overrides, from the device.
    def write_overrides(self, offset, data):
        if offset != 0:
            return T.ERR_TABLE_OP
        try:
            value = T.decode_overrides(data)
        except FrameError:
            return T.ERR_TABLE_OP
        self._overrides.write(data)
        self.overrides_image = bytes(data)
        self.event("override", value)
        value["t"] = self.clock.time_s()
        status.emit("mep_override", value)  # what the customer asked for, for the utility side
        return T.OK

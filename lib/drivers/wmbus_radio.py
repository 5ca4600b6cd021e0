# Wireless M-Bus radios behind one small interface, the one the LMN transmitter uses:
#
#   ok = await radio.send(frame)   frame: the on-air telegram, L-field first, with the
#                                  CRCs of its frame format; True when it was sent
#
# CC1101WMBus codes and frames it for a CC1101 (T1: 3-of-6 chips; C1: the format
# marker word, then NRZ bytes) and sends it with CC1101.send_raw. The host board's
# HostAir (boards/host/hostair.py) takes the same frame as it is. drivers/im871a.py is
# the UART module (IMST iM871A).

import rt
from micropython import const
from drivers import cc1101
from wmbus import frame

_MAX_AIR_BYTES = const(290)  # format A with L = 255


def open_cc1101(spi, cs, gdo0, gdo2, irq_falling, lmn, where):
    """The board's CC1101 as the LMN's radio, in the mode and frame format of the lmn
    config section; None (and a line saying so) if no chip answers on that bus."""
    chip = cc1101.CC1101(spi, cs, gdo0)
    if not chip.bring_up():
        print("board: no CC1101 answering on %s; radio = None" % where)
        return None
    lmn = lmn or {}
    return CC1101WMBus(chip, lmn.get("radio_mode", "T1"), lmn.get("format", "A"), gdo2=gdo2,
                       gdo2_falling=irq_falling)


class CC1101WMBus:
    max_frame_len = _MAX_AIR_BYTES

    def __init__(self, chip, mode=cc1101.WMBUS_T1, fmt=frame.FORMAT_A, gdo2=None, gdo2_falling=None):
        """chip: a CC1101 that answered; gdo2 (optional): its GDO2 pin with an irq() method
        and the trigger constant for a falling edge (machine.Pin.IRQ_FALLING)."""
        if mode == cc1101.WMBUS_T1 and fmt != frame.FORMAT_A:
            raise ValueError("T1 sends frame format A only")
        self.chip = chip
        self.mode = mode
        self.fmt = fmt
        chip.configure(cc1101.wmbus_registers(mode))
        self._coded = bytearray(frame.coded_len(_MAX_AIR_BYTES) + 4)
        if gdo2 is not None:
            flag = rt.ThreadSafeFlag()

            def fifo_drained(pin):
                flag.set()

            gdo2.irq(handler=fifo_drained, trigger=gdo2_falling)
            chip.fifo_flag = flag
        self.sent = 0
        self.failed = 0

    def coded(self, air):
        """(buffer, length) of what goes into the FIFO after the sync word."""
        n = len(air)
        if n > _MAX_AIR_BYTES:
            raise ValueError("frame of %d bytes" % n)
        out = self._coded
        if self.mode == cc1101.WMBUS_T1:
            return out, frame.encode_3of6(air, n, out)
        marker = frame.SYNC_C1_A if self.fmt == frame.FORMAT_A else frame.SYNC_C1_B
        out[0] = marker[2]
        out[1] = marker[3]
        for i in range(n):
            out[2 + i] = air[i]
        return out, n + 2

    async def send(self, air):
        buf, n = self.coded(air)
        ok = await self.chip.send_raw(buf, n)
        if ok:
            self.sent += 1
        else:
            self.failed += 1
        return ok

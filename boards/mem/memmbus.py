# The stand-in board's wired M-Bus: tools/mbus_slaves.py's simulated meters (gas, water,
# heat in two telegrams, a second water meter) behind one end of an in-memory cable.
# Each complete request goes to the slaves; each answer is written to the master's end
# after the slave's delay, whole (colliding answers OR-ed as on the wire), as
# host_tests/mbus_memlink.py does for the tests.

import asyncio
import memio
from mbus_slaves import Bus, RequestAssembler, merge, build_devices, DEFAULT_DEVICES

_BYTE_MS = 4.583  # 11 bit times at 2400 baud


class SlaveBus:
    def __init__(self, specs=None, capacity=1024):
        self.master_port, self._port = memio.cable(capacity)
        self.bus = Bus(build_devices(specs or DEFAULT_DEVICES))
        self._assembler = RequestAssembler()
        self._rx = bytearray(64)
        self.answers = 0

    async def task(self):
        """Answer the master until cancelled (a stand-in task, not supervised)."""
        rx = self._rx
        while True:
            n = await self._port.read_some(rx)
            for request in self._assembler.push(bytes(rx[:n])):
                answers = self.bus.handle(request)
                if len(answers) == 1:  # the usual case: the answer as it is
                    delay_ms, out = answers[0]
                elif answers:  # a collision: what the master's UART makes of the overlap
                    wire = merge(answers, _BYTE_MS)
                    if not wire:
                        continue
                    delay_ms = wire[0][0]
                    out = bytearray(len(wire))
                    for k in range(len(wire)):
                        out[k] = wire[k][1]
                else:
                    continue
                await asyncio.sleep_ms(int(delay_ms))
                await self._port.write_all(out)
                self.answers += 1

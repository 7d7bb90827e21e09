"""Fuzzing the WebSocket plugin from outside: a real ``gateways serve --plugin http
--plugin websocket`` reads frames hypothesis builds byte by byte (reserved opcodes and
RSV bits, unmasked, fragmented or over-long control frames, invalid UTF-8, close codes
of every kind, lengths that lie, continuations without a start).

Each example checks the server's answer against RFC 6455 (tests/fuzz/wsmodel.py), then
that a well-behaved client (the ``websockets`` package) still connects and gets its echo,
and that the server logged no traceback.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.frames import Close, Frame, Opcode

from gateways.testing import GatewaysProcess
from tests.fixtures.processes import APPS
from tests.fuzz.wsmodel import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    VALID_CLOSE_CODES,
    Outcome,
    RawFrame,
    expect,
)
from tests.websocket.rawclient import RawSocket, request

MAX_MESSAGE = 512  # small, so fragmented messages cross it
EXAMPLES = settings().max_examples  # the profile's (FUZZ_EXAMPLES raises it)
WAIT = 5.0  # seconds for an answer that must come
pytestmark = pytest.mark.timeout(60 + 3 * EXAMPLES)


@pytest.fixture(scope="module")
def server() -> Iterator[GatewaysProcess]:
    args = ["serve", "websocket_fuzz_app:routes", "--plugin", "http", "--plugin", "websocket"]
    args += ["--http-port", "0", "--ws-max-message", str(MAX_MESSAGE)]
    with GatewaysProcess(args, env={"PYTHONPATH": str(APPS)}) as process:
        yield process
        assert process.stop() == 0
    assert "Traceback" not in process.output, process.output


# -- strategies --------------------------------------------------------------------------

masks = st.binary(min_size=4, max_size=4)
utf8 = st.text(max_size=40).map(str.encode)
BROKEN_UTF8 = [b"\xc3(", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xff", b"\xc0\xaf", b"\xc3"]
broken_utf8 = st.builds(bytes.__add__, utf8, st.sampled_from(BROKEN_UTF8))
payloads = st.one_of(utf8, broken_utf8, st.binary(max_size=60), st.binary(max_size=300))
ODD_CODES = [0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2999, 3000, 4999, 5000, 65535]
close_codes = st.one_of(
    st.sampled_from(sorted(VALID_CLOSE_CODES)), st.sampled_from(ODD_CODES), st.integers(0, 65535)
)
close_payloads = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=1),
    st.builds(
        lambda code, reason: struct.pack("!H", code) + reason,
        close_codes,
        st.one_of(utf8, broken_utf8),
    ),
)


@st.composite
def lies(draw: st.DrawFn, size: int) -> int | None:
    """Mostly the truth; else a length longer (truncated frame) or shorter than sent."""
    return draw(
        st.one_of(
            st.none(),
            st.none(),
            st.none(),
            st.integers(size + 1, size + 1000),
            st.integers(0, max(0, size - 1)),
            st.integers(2**16, 2**64 - 1),
        )
    )


@st.composite
def any_frame(draw: st.DrawFn) -> RawFrame:
    """A frame in which any field may be wrong."""
    opcode = draw(
        st.one_of(
            st.sampled_from([TEXT, BINARY, CONTINUATION, PING, PONG, CLOSE]), st.integers(0, 15)
        )
    )
    payload = draw(close_payloads if opcode == CLOSE else payloads)
    declared = draw(lies(len(payload)))
    form = draw(st.sampled_from(["minimal"] * 4 + ["16", "64"]))
    if form == "16" and (declared or len(payload)) > 0xFFFF:
        form = "64"
    return RawFrame(
        opcode,
        payload,
        fin=draw(st.booleans()),
        rsv=draw(st.sampled_from([0, 0, 0, 0, 1, 2, 4, 7])),
        masked=draw(st.sampled_from([True, True, True, False])),
        mask=draw(masks),
        length_form=form,
        declared=declared,
    )


@st.composite
def control_frame(draw: st.DrawFn) -> RawFrame:
    opcode = draw(st.sampled_from([PING, PING, PONG, CLOSE]))
    payload = draw(close_payloads if opcode == CLOSE else st.binary(max_size=130))
    return RawFrame(opcode, payload, mask=draw(masks))


@st.composite
def message(draw: st.DrawFn) -> list[RawFrame]:
    """A message cut into fragments (code points split between them), maybe with a
    control frame in the middle, as the RFC allows."""
    kind = draw(st.sampled_from([TEXT, BINARY]))
    payload = draw(payloads)
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
    pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
    frames = [
        RawFrame(CONTINUATION if i else kind, piece, fin=i == len(pieces) - 1, mask=draw(masks))
        for i, piece in enumerate(pieces)
    ]
    if len(frames) > 1 and draw(st.booleans()):
        frames.insert(draw(st.integers(1, len(frames) - 1)), draw(control_frame()))
    return frames


sequences = st.lists(
    st.one_of(message(), any_frame().map(lambda f: [f]), control_frame().map(lambda f: [f])),
    min_size=1,
    max_size=5,
).map(lambda groups: [frame for group in groups for frame in group])


# -- talking to the server ---------------------------------------------------------------


def check(server: GatewaysProcess, exchange: object) -> None:
    """Run one example, then the health checks every example ends with."""
    mark = len(server.lines)
    asyncio.run(_check(server, exchange))
    logged = server.lines[mark:]
    assert not [line for line in logged if "Traceback" in line], "\n".join(logged)


async def _check(server: GatewaysProcess, exchange: object) -> None:
    assert asyncio.iscoroutine(exchange)
    await exchange
    host, port = server.address("http")
    async with connect(f"ws://{host}:{port}/after", open_timeout=WAIT) as ws:
        await ws.send("still there?")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "still there?"


async def opened(server: GatewaysProcess) -> RawSocket:
    host, port = server.address("http")
    raw = await RawSocket.open(host, port)
    head = await raw.handshake(request("/fuzz", f"{host}:{port}"))
    assert head.startswith(b"HTTP/1.1 101"), head
    return raw


async def until_end(raw: RawSocket) -> list[Frame]:
    """Half-close, then every frame until the server closes the TCP connection."""
    raw.writer.write_eof()
    rest = []
    while (frame := await raw.read_frame(WAIT)) is not None:
        rest.append(frame)
    await raw.close()
    return rest


async def answers(raw: RawSocket, outcome: Outcome) -> list[Frame]:
    """The frames the outcome says must come: up to the close frame, or all of them."""
    got: list[Frame] = []
    if outcome.close is not None:
        while not got or got[-1].opcode is not Opcode.CLOSE:
            frame = await raw.read_frame(WAIT)
            assert frame is not None, f"connection dropped, {outcome.why}: expected close"
            got.append(frame)
    elif outcome.certain:
        while len(got) < len(outcome.echoes) + len(outcome.pongs):
            frame = await raw.read_frame(WAIT)
            assert frame is not None, f"connection dropped after {got}; expected {outcome}"
            got.append(frame)
    return got


def compare(got: list[Frame], outcome: Outcome) -> None:
    pongs = [f.data for f in got if f.opcode is Opcode.PONG]
    echoes = [(f.opcode.value, f.data) for f in got if f.opcode in (Opcode.TEXT, Opcode.BINARY)]
    others = [f for f in got if f.opcode not in (Opcode.PONG, Opcode.TEXT, Opcode.BINARY)]
    assert pongs == outcome.pongs
    if outcome.close is None:
        assert echoes == outcome.echoes and not others
        return
    assert echoes == outcome.echoes[: len(echoes)]  # echoes may lose the race with the close
    assert len(others) == 1, others
    assert Close.parse(others[0].data).code == outcome.close, outcome.why


async def send_frames(server: GatewaysProcess, frames: list[RawFrame]) -> None:
    outcome = expect(frames, MAX_MESSAGE)
    raw = await opened(server)
    raw.writer.write(b"".join(frame.encode() for frame in frames))
    await raw.writer.drain()
    got = await answers(raw, outcome)
    rest = await until_end(raw)
    if outcome.certain:
        compare(got, outcome)
        assert rest == [], f"after the answers: {rest}"


async def send_bytes(server: GatewaysProcess, data: bytes) -> None:
    raw = await opened(server)
    raw.writer.write(data)
    await raw.writer.drain()
    await until_end(raw)  # whatever it answers, it closes once the client has


# -- the tests -----------------------------------------------------------------------------


@settings(max_examples=3 * EXAMPLES)  # the main one: a few ms each, so a few seconds
@given(frames=sequences)
def test_frame_sequences_get_the_answers_rfc_6455_gives(server, frames):
    check(server, send_frames(server, frames))


@settings(max_examples=max(10, EXAMPLES // 3))
@given(code=close_codes, reason=st.one_of(utf8, broken_utf8))
def test_close_codes_valid_reserved_and_invalid(server, code, reason):
    frame = RawFrame(CLOSE, struct.pack("!H", code) + reason[:100])
    check(server, send_frames(server, [frame]))


@settings(max_examples=max(10, EXAMPLES // 3))
@given(data=st.binary(min_size=1, max_size=400))
def test_arbitrary_bytes_after_the_handshake(server, data):
    check(server, send_bytes(server, data))


# -- regressions found by the fuzzer -------------------------------------------------------


@pytest.mark.parametrize(
    "payload", [b"\x00", struct.pack("!H", 1005), struct.pack("!H", 999) + b"why"]
)
def test_an_invalid_close_frame_is_answered_with_1002_not_dropped(server, payload):
    """The 1002 was written, then discarded by the abort that ends a close handshake:
    the client saw the TCP connection reset instead (autobahn, failByDrop=False)."""
    check(server, send_frames(server, [RawFrame(CLOSE, payload)]))

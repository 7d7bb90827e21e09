"""A broadcast's frame is built once for every socket it reaches (frames.py)."""

from __future__ import annotations

from gateways_websocket.frames import FrameCache
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader


def parse(raw: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("no whole frame")


def test_the_same_payload_is_framed_once():
    frames = FrameCache()
    first, size = frames.frame("héllo")
    again, _ = frames.frame("".join(["hé", "llo"]))  # equal, not the same object
    assert again is first and size == len("héllo".encode())
    frame = parse(first.payloadHybi)
    assert frame.opcode is Opcode.TEXT and frame.data == "héllo".encode()


def test_text_and_bytes_of_the_same_content_are_different_frames():
    frames = FrameCache()
    text, _ = frames.frame("abc")
    binary, _ = frames.frame(b"abc")
    assert parse(text.payloadHybi).opcode is Opcode.TEXT
    assert parse(binary.payloadHybi).opcode is Opcode.BINARY
    assert frames.frame("abc")[0] is not text  # only the last payload is kept


def test_long_payloads_get_the_extended_length():
    frames = FrameCache()
    for size in (125, 126, 65535, 65536):
        prepared, length = frames.frame(b"x" * size)
        assert length == size and parse(prepared.payloadHybi).data == b"x" * size

"""Client WebSocket frames built byte by byte (valid or not), and what RFC 6455 says a
server must answer to a sequence of them: the oracle of tests/fuzz/test_websocket_fuzz.py.

The model is written from the RFC, not from autobahn: a frame header with a bad field
fails the connection with 1002 as soon as the header is read, a frame or message over
the size limit with 1009, a text message that can no longer be valid UTF-8 (or a close
reason that is not) with 1007; a ping is answered with its payload, a complete message
is echoed by the test app, a valid close is answered with 1000.
"""

from __future__ import annotations

import codecs
import itertools
import struct
from dataclasses import dataclass, field

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10
#: Close codes a peer may send (RFC 6455 section 7.4.1, and the IANA registry's
#: 1012-1014); 3000-4999 are for libraries and applications.
VALID_CLOSE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013))
MAX_CONTROL = 125


def close_code_valid(code: int) -> bool:
    return code in VALID_CLOSE_CODES or 3000 <= code <= 4999


@dataclass(frozen=True)
class RawFrame:
    """One frame as a client might send it. ``length_form`` is how the payload length is
    written: ``minimal`` (the RFC's rule) or ``16``/``64`` (extended forms, valid only
    for lengths that need them); ``declared`` is a length that lies (None: the truth)."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0
    masked: bool = True
    mask: bytes = b"\x37\xfa\x21\x3d"
    length_form: str = "minimal"
    declared: int | None = None

    @property
    def length(self) -> int:
        return len(self.payload) if self.declared is None else self.declared

    def encode(self) -> bytes:
        first = (0x80 if self.fin else 0) | (self.rsv << 4) | self.opcode
        mask_bit = 0x80 if self.masked else 0
        form = self.length_form
        if form == "minimal":
            form = "7" if self.length < 126 else "16" if self.length < 65536 else "64"
        if form == "7":
            head = struct.pack("!BB", first, mask_bit | self.length)
        elif form == "16":
            head = struct.pack("!BBH", first, mask_bit | 126, self.length)
        else:
            head = struct.pack("!BBQ", first, mask_bit | 127, self.length)
        if not self.masked:
            return head + self.payload
        masked = bytes(b ^ self.mask[i % 4] for i, b in enumerate(self.payload))
        return head + self.mask + masked

    def header_fault(self, inside: bool) -> str | None:
        """Why the header alone fails the connection (1002), or None."""
        length = self.length
        faults = [
            (self.rsv != 0, "RSV bits without an extension"),
            (not self.masked, "unmasked client frame"),
            (self.opcode in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15), "reserved opcode"),
            (self.opcode >= CLOSE and not self.fin, "fragmented control frame"),
            (
                self.opcode >= CLOSE and (length > MAX_CONTROL or self.length_form != "minimal"),
                "over-long control frame",
            ),
            (self.opcode == CLOSE and length == 1, "close payload of one byte"),
            (self.opcode == CONTINUATION and not inside, "continuation without a start"),
            (self.opcode in (TEXT, BINARY) and inside, "new message inside a fragmented one"),
            (self.length_form == "16" and length < 126, "16-bit length not minimal"),
            (self.length_form == "64" and length < 65536, "64-bit length not minimal"),
            (length >= 2**63, "64-bit length with its top bit set"),
        ]
        return next((why for bad, why in faults if bad), None)


@dataclass
class Outcome:
    """What the server must send back. ``close`` is the code of its close frame (None:
    it stays open); ``echoes`` arrive as a prefix when it closes (the app answers after
    the socket may be gone), in full otherwise; ``pongs`` in full, in order.
    ``certain`` is False when a length that lies short turns the rest into noise."""

    echoes: list[tuple[int, bytes]] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    close: int | None = None
    why: str = ""
    certain: bool = True


def utf8_viable(decoder: codecs.IncrementalDecoder, data: bytes, final: bool) -> bool:
    """Feed ``data``; False once no continuation could make the text valid UTF-8
    (Python's decoder alone notices some dead ends, ``\\xed\\xa0`` say, only later)."""
    try:
        decoder.decode(data, final=final)
    except UnicodeDecodeError:
        return False
    pending = decoder.getstate()[0]
    if not pending:
        return True
    tails = (bytes(t) for n in (1, 2, 3) for t in itertools.product(b"\x80\x90\xa0\xbf", repeat=n))
    for tail in tails:
        try:
            (pending + tail).decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


class _Reader:
    """The server's side of the RFC, one frame at a time."""

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self.outcome = Outcome()
        self.kind: int | None = None  # opcode of the message in progress
        self.parts: list[bytes] = []
        self.decoder = codecs.getincrementaldecoder("utf-8")()

    def end(self, code: int, why: str) -> bool:
        self.outcome.close, self.outcome.why = code, why
        return False

    def read(self, frame: RawFrame, last: bool) -> bool:
        """Take one frame (``last``: nothing follows it); False when nothing after it
        is read as sent."""
        fault = frame.header_fault(inside=self.kind is not None)
        if fault:
            return self.end(1002, fault)
        if frame.opcode < CLOSE:
            so_far = sum(map(len, self.parts))
            if frame.length > self.max_message or so_far + frame.length > self.max_message:
                return self.end(1009, "message too large")
        if frame.declared is not None and frame.declared != len(frame.payload):
            # Longer and last: the server waits for the rest (having checked the text
            # so far). Otherwise it reads the next frame's bytes as this one's payload,
            # or the rest of this one as frames: noise.
            self.outcome.certain = frame.declared > len(frame.payload) and last
            self.outcome.why = "length lies"
            if self.outcome.certain and frame.opcode < CLOSE:
                self.data(frame, complete=False)
            return False
        if frame.opcode >= CLOSE:
            return self.control(frame)
        return self.data(frame)

    def control(self, frame: RawFrame) -> bool:
        if frame.opcode == PING:
            self.outcome.pongs.append(frame.payload)
            return True
        if frame.opcode == PONG:
            return True
        if not frame.payload:
            return self.end(1000, "close without a code")
        (code,) = struct.unpack("!H", frame.payload[:2])
        if not close_code_valid(code):
            return self.end(1002, f"close code {code}")
        if not utf8_viable(codecs.getincrementaldecoder("utf-8")(), frame.payload[2:], True):
            return self.end(1007, "close reason not UTF-8")
        return self.end(1000, "close")

    def data(self, frame: RawFrame, complete: bool = True) -> bool:
        """A data frame; an incomplete one only has its text so far checked (a server
        validates UTF-8 as it arrives)."""
        if self.kind is None:
            self.kind, self.parts = frame.opcode, []
            self.decoder.reset()
        text = self.kind == TEXT
        if text and not utf8_viable(self.decoder, frame.payload, frame.fin and complete):
            return self.end(1007, "text not UTF-8")
        if not complete:
            return False
        self.parts.append(frame.payload)
        if frame.fin:
            self.outcome.echoes.append((self.kind, b"".join(self.parts)))
            self.kind = None
        return True


def expect(frames: list[RawFrame], max_message: int) -> Outcome:
    """What a server taking messages up to ``max_message`` bytes answers to ``frames``."""
    reader = _Reader(max_message)
    for index, frame in enumerate(frames, 1):
        if not reader.read(frame, last=index == len(frames)):
            break
    return reader.outcome

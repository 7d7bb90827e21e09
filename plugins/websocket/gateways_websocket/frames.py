"""Framing a reply once for every socket it goes to.

A ``group_send`` reaches each member socket of a process as its own message, one after
the other, with the same payload: the frame built for the first serves the rest (a
server's frames are not masked, so the bytes are the same for every socket). Only the
last payload is kept: all a broadcast needs, and one payload at most to hold.
"""

from __future__ import annotations

from autobahn.websocket.protocol import PreparedMessage


class FrameCache:
    """The frame of the last payload framed (``str``: a text frame, ``bytes``: binary)."""

    __slots__ = ("_frame", "_payload", "_size")

    def __init__(self) -> None:
        self._payload: str | bytes | None = None
        self._frame: PreparedMessage | None = None
        self._size = 0

    def frame(self, payload: str | bytes) -> tuple[PreparedMessage, int]:
        """The frame of ``payload`` and the length of its payload in bytes."""
        last = self._payload
        if self._frame is None or type(payload) is not type(last) or payload != last:
            binary = isinstance(payload, bytes)
            data = payload if isinstance(payload, bytes) else payload.encode("utf-8")
            self._frame = PreparedMessage(data, binary, applyMask=False, doNotCompress=True)
            self._payload, self._size = payload, len(data)
        return self._frame, self._size

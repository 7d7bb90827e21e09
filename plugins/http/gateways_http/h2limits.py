"""What one HTTP/2 connection may ask of the server, and the h2 connection set up to say so.

The bounds follow what current servers do against the known HTTP/2 attacks:

- concurrent streams: 100 advertised; h2 treats a stream past it as a connection error
  (GOAWAY ``PROTOCOL_ERROR``), which only a client ignoring the server's SETTINGS meets;
- header lists: ``SETTINGS_MAX_HEADER_LIST_SIZE`` is ``--http-max-headers``; a request
  over it is answered ``431`` on its stream, one over twice that (an HPACK bomb) ends
  the connection (h2: GOAWAY ``ENHANCE_YOUR_CALM``);
- CONTINUATION floods: h2 keeps at most 64 CONTINUATION frames of one header block,
  then ends the connection (GOAWAY ``PROTOCOL_ERROR``);
- rapid reset (CVE-2023-44487), SETTINGS and PING floods: counted over a sliding
  window (:class:`RateLimit`); past the bound, GOAWAY ``ENHANCE_YOUR_CALM`` and close.
"""

from __future__ import annotations

from collections import deque

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.settings import SettingCodes, Settings

MAX_STREAMS = 100
#: Per-stream receive window: what a client may send before the server acknowledges.
STREAM_WINDOW = 256 * 1024
#: The window of a stream whose body streams (past its first chunk): a larger window
#: keeps an upload going across the network's round trip (256 KiB over 50 ms is 5 MB/s).
STREAMING_WINDOW = 1024 * 1024
#: Connection receive window: many streams' windows, so one paused stream (its bytes
#: unacknowledged) never stops the others.
CONNECTION_WINDOW = 16 * 1024 * 1024
#: The window every connection starts with (RFC 9113 6.9.2).
DEFAULT_WINDOW = 65535
#: A header list this many times over the advertised size ends the connection.
HARD_HEADER_FACTOR = 2

#: (events, seconds): at most that many of each within the window.
RESETS = (200, 10.0)
SETTINGS = (100, 10.0)
PINGS = (100, 10.0)


class RateLimit:
    """At most ``limit`` events within ``seconds``, remembered as their times (bounded)."""

    __slots__ = ("limit", "seconds", "times")

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.times: deque[float] = deque(maxlen=limit + 1)

    def exceeded(self, now: float) -> bool:
        """Count one event at ``now``; True once more than ``limit`` fall in the window."""
        times = self.times
        times.append(now)
        while times and now - times[0] > self.seconds:
            times.popleft()
        return len(times) > self.limit


class FloodGuard:
    """The counted frames of one connection; :meth:`over` names the first bound passed."""

    def __init__(self) -> None:
        self.limits = {
            "stream resets": RateLimit(*RESETS),
            "SETTINGS frames": RateLimit(*SETTINGS),
            "PING frames": RateLimit(*PINGS),
        }

    def over(self, what: str, now: float) -> bool:
        return self.limits[what].exceeded(now)


def new_connection(max_headers: int) -> H2Connection:
    """A server-side h2 connection advertising this server's limits (not yet started)."""
    # What the server sends is checked where it is built (h2exchange: lower-case token
    # names, no CR/LF/NUL, no connection-specific fields): h2 need not check it again.
    config = H2Configuration(
        client_side=False,
        header_encoding=None,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
    )
    h2 = H2Connection(config)
    h2.local_settings = Settings(
        client=False,
        initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS,
            SettingCodes.MAX_HEADER_LIST_SIZE: max_headers,
            SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
        },
    )
    # h2 would end the connection at the advertised size; up to twice that, the
    # request is answered 431 on its own stream instead (RFC 9113 10.5.1).
    h2.decoder.max_header_list_size = max_headers * HARD_HEADER_FACTOR
    return h2


def open_windows(h2: H2Connection) -> None:
    """Raise the connection's receive window (once it is started)."""
    h2.increment_flow_control_window(CONNECTION_WINDOW - DEFAULT_WINDOW)


def widen_stream(h2: H2Connection, stream_id: int) -> None:
    """Raise a streaming body's window (see :data:`STREAMING_WINDOW`)."""
    h2.increment_flow_control_window(STREAMING_WINDOW - STREAM_WINDOW, stream_id)

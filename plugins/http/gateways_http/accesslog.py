"""The access log, in the combined log format that log analysers read.

``host - - [10/Oct/2000:13:55:36 +0000] "GET /a?b HTTP/1.1" 200 2326 "referer" "agent"``
The WebSocket plugin may log its handshakes here too (``HttpInterface.access_log``).
"""

from __future__ import annotations

import sys
import time
from typing import IO


def _quote(value: bytes | str | None) -> str:
    if not value:
        return "-"
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return text.replace("\\", "\\\\").replace('"', '\\"')


class AccessLog:
    def __init__(self, target: str) -> None:
        self._stream: IO[str]
        if target == "-":
            self._stream, self._owned = sys.stdout, False
        else:
            # Held open for the server's life (closed by close()), line-buffered.
            self._stream = open(target, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            self._owned = True

    def log(
        self,
        host: str | None,
        request_line: str,
        status: int,
        size: int,
        referer: bytes | None = None,
        agent: bytes | None = None,
    ) -> None:
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime())
        self._stream.write(
            f'{host or "-"} - - [{stamp}] "{_quote(request_line)}" {status} '
            f'{size or "-"} "{_quote(referer)}" "{_quote(agent)}"\n'
        )
        if not self._owned:
            self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()

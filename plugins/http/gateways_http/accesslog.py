"""The access log, in the combined log format that log analysers read.

``host - - [10/Oct/2000:13:55:36 +0000] "GET /a?b HTTP/1.1" 200 2326 "referer" "agent"``
The WebSocket plugin may log its handshakes here too (``HttpInterface.access_log``).

With ``--log-format json`` each line is a JSON object instead, with the keys of the
other JSON logs (``timestamp``, ``level``, ``logger``, ``message``: the combined line)
and the request's fields: ``client``, ``method``, ``path``, ``protocol``, ``status``,
``size``, ``referer``, ``user_agent``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import IO, Any

from gateways.plugin import printable

#: Longest field written; longer ones are cut, their length said.
FIELD_LIMIT = 8192


def _quote(value: bytes | str | None) -> str:
    """A field of the combined line: client bytes escaped (``\\xNN``, ``\\"``), as
    Apache writes them, so no header can forge a line or colour a terminal."""
    text = _text(value)
    return text.replace('"', '\\"') if text else "-"


def _text(value: bytes | str | None) -> str | None:
    if not value:
        return None
    data = value.encode("latin-1", "backslashreplace") if isinstance(value, str) else value
    return printable(data, FIELD_LIMIT)


class AccessLog:
    def __init__(self, target: str, as_json: bool = False) -> None:
        self.as_json = as_json
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
        line = (
            f'{host or "-"} - - [{stamp}] "{_quote(request_line)}" {status} '
            f'{size or "-"} "{_quote(referer)}" "{_quote(agent)}"'
        )
        if self.as_json:
            fields = {"client": host, "status": status, "size": size}
            fields.update(referer=_text(referer), user_agent=_text(agent))
            line = self._json(line, request_line, fields)
        self._stream.write(line + "\n")
        if not self._owned:
            self._stream.flush()

    @staticmethod
    def _json(line: str, request_line: str, fields: dict[str, Any]) -> str:
        method, _, target = request_line.partition(" ")
        path, _, protocol = target.rpartition(" ")
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        entry = {
            "timestamp": stamp,
            "level": "INFO",
            "logger": "gateways.http.access",
            "message": line,
            "method": method,
            "path": path,
            "protocol": protocol,
            **fields,
        }
        return json.dumps(entry, ensure_ascii=False)

    def close(self) -> None:
        if self._owned:
            self._stream.close()

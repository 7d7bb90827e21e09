"""One HTTP/2 stream's request and response: an :class:`Exchange` whose response is
written as HEADERS and DATA frames on its stream instead of HTTP/1.1 bytes.

The rest is the HTTP/1.1 runtime unchanged: the states, the reply timeout (503), the
worker-lost answer (502), the body pump, the checks on a consumer's reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from gateways_http.exchange import RESPONDING, Exchange, _length
from gateways_http.response import (
    NO_BODY_STATUS,
    check_content,
    check_headers,
    check_status,
    date_header,
)

if TYPE_CHECKING:
    from gateways_http.h2stream import H2Stream

Field = tuple[bytes, bytes]
Fields = list[Field]

#: Connection-specific headers have no meaning in HTTP/2 (RFC 9113 8.2.2): dropped.
_CONNECTION_SPECIFIC = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te")
)
_TEXT = (b"content-type", b"text/plain; charset=utf-8")


def _date() -> tuple[bytes, bytes]:
    line = date_header()  # b"date: ...\r\n", formatted once a second
    return b"date", line[6:-2]


def stock_response(
    status: int, text: str | None, extra: Sequence[Field] = (), head: bool = False
) -> tuple[Fields, bytes]:
    """The header fields and body of an answer the server makes itself (404, 503...)."""
    body = ((text or HTTPStatus(status).phrase) + "\n").encode()
    fields = [(b":status", b"%d" % status), _TEXT, (b"content-length", b"%d" % len(body))]
    fields.append(_date())
    fields.extend(extra)
    return fields, b"" if head else body


class H2Exchange(Exchange):
    __slots__ = ()

    conn: H2Stream

    def __init__(self, stream: H2Stream, method: str, target: bytes, raw_headers: Fields) -> None:
        super().__init__(stream, method, "2", True, target, raw_headers)

    def _start(self, message: dict[str, Any]) -> None:
        status = check_status(message.get("status"))
        headers = check_headers(message.get("headers"))
        content = check_content(message.get("content"))
        more = bool(message.get("more_content"))
        self.status = status
        no_body = self.head or status in NO_BODY_STATUS
        fields, declared = self._fields(status, headers, keep_length=more or self.head)
        if not more:
            if status not in NO_BODY_STATUS and not (self.head and declared is not None):
                fields.append((b"content-length", b"%d" % len(content)))
        elif declared is not None:
            self.left = declared
        self.state = RESPONDING
        self.deadline = 0.0
        body = self._frame(b"", content, no_body)
        self.conn.start(fields)
        if more:
            self.conn.write(body)
        else:
            self.conn.finish(self, body)

    @staticmethod
    def _fields(status: int, headers: Fields, keep_length: bool) -> tuple[Fields, int | None]:
        """``:status`` and the consumer's headers fit for HTTP/2, with the declared
        content-length (kept only where it says something: streamed, or HEAD)."""
        fields = [(b":status", b"%d" % status)]
        declared = None
        has_date = False
        for name, value in headers:
            if name in _CONNECTION_SPECIFIC:
                continue
            if name == b"content-length":
                declared = _length(value)
                if not keep_length:
                    continue
            elif name == b"date":
                has_date = True
            fields.append((name, value.strip(b" \t")))
        if not has_date:
            fields.append(_date())
        return fields, declared

    def _answer(self, status: int, text: str, extra: Fields) -> None:
        fields, body = stock_response(status, text, extra, self.head)
        self.sent = len(body)
        self.conn.start(fields)
        self.conn.finish(self, body)

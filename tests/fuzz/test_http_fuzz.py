"""Fuzzing the HTTP/1.1 parser from outside: a real ``gateways serve --plugin http`` reads
request lines, header blocks (CR, LF, NUL, obs-fold, odd names), framing headers
(Content-Length and Transfer-Encoding in every combination: request smuggling), chunk
sizes and extensions, and pipelines that end in garbage, all built by hypothesis.

The oracle is a second, independent and strict RFC 9112 parser: h11. Each example's
bytes go to both; the server may refuse more than h11 does (llhttp is stricter in
places), but every request it answers must be the one h11 reads at that place, with
the same body (so a body never hides a request the server runs: no smuggling), in
order, and nothing may be answered after a refusal. Requests built valid must all be
answered. The client shuts its sending side after each example (the server answers
what is complete, then closes), so no example waits for a timeout. After every
example a fresh connection gets ``hello``; at the end the log holds no traceback.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import socket
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateways.testing import GatewaysProcess
from tests.fixtures.processes import APPS

WAIT = 10.0  # seconds for an answer that must come
#: The profile's (150 in CI; FUZZ_EXAMPLES raises it). An example takes a few
#: milliseconds, so CI runs the file in seconds.
EXAMPLES = settings().max_examples
pytestmark = pytest.mark.timeout(60 + 2 * EXAMPLES)
#: What the server itself may answer (a refusal, then the connection closes).
#: What makes a connection HTTP/2 (RFC 9113 3.4); h11, the reference, knows only HTTP/1.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
REFUSALS = {400, 405, 408, 411, 413, 414, 431, 501, 505}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewaysProcess]:
    args = ["serve", "http_app:routes", "--plugin", "http", "--http-port", "0"]
    args += ["--http-max-headers", "8192", "--http-max-body", "65536"]
    with GatewaysProcess(args, env={"PYTHONPATH": str(APPS)}) as process:
        yield process
        assert process.stop() == 0
    assert "Traceback" not in process.output, process.output


# -- talking to the server ---------------------------------------------------------------


def talk(process: GatewaysProcess, data: bytes, pieces: Sequence[int] = ()) -> bytes:
    """Send ``data`` (cut after each size in ``pieces``, one segment each), shut the
    sending side, read until the server closes."""
    with socket.create_connection(process.address("http"), timeout=WAIT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for size in pieces:
                sock.sendall(data[:size])
                data = data[size:]
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before everything was sent
        parts = []
        try:
            while chunk := sock.recv(65536):
                parts.append(chunk)
        except ConnectionResetError:
            pass  # what came before the reset still counts
    return b"".join(parts)


@dataclass
class Answer:
    status: int
    body: bytes


class _KeepOpen(io.BufferedReader):
    """One reader for every response; ``HTTPResponse`` closes its file after each."""

    def close(self) -> None:
        pass


class _Socket:
    def __init__(self, reader: _KeepOpen) -> None:
        self.reader = reader

    def makefile(self, *args: object, **kwargs: object) -> _KeepOpen:
        return self.reader


def answers(raw: bytes, methods: list[str]) -> list[Answer]:
    """The responses in ``raw``, in order (each must parse: no garbage on the wire)."""
    reader = _KeepOpen(io.BytesIO(raw))
    found: list[Answer] = []
    while reader.peek(1):
        method = methods[len(found)] if len(found) < len(methods) else "GET"
        response = http.client.HTTPResponse(_Socket(reader), method=method)  # type: ignore[arg-type]
        response.begin()
        found.append(Answer(response.status, response.read()))
    return found


def healthy(process: GatewaysProcess) -> None:
    raw = talk(process, b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(b"hello"), raw


# -- the reference reading -----------------------------------------------------------------


@dataclass
class Seen:
    method: str
    target: bytes
    body: bytes


def reference(data: bytes) -> list[Seen]:
    """The requests h11 reads from ``data`` (then EOF), until it stops or refuses.

    One leniency of llhttp is modelled, as not a framing matter: before a request line
    it skips any run of CR and LF (h11 only empty lines), so a stray CR between two
    requests is dropped by both readings (a front end that reads it as garbage refuses
    the connection, one that reads it as body never lets the request apart)."""
    seen: list[Seen] = []
    conn = _fresh(data.lstrip(b"\r\n"), True)
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            return seen
        if isinstance(event, h11.Request):
            seen.append(Seen(event.method.decode("ascii"), event.target, b""))
            body = bytearray()
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            seen[-1].body = bytes(body)
            conn.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
            conn.send(h11.EndOfMessage())
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return seen  # the request asked to close
            left, closed = conn.trailing_data
            conn = _fresh(left.lstrip(b"\r\n"), closed)
        else:
            return seen  # closed, or paused (an upgrade)


def _fresh(data: bytes, closed: bool) -> h11.Connection:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    if closed:
        conn.receive_data(b"")
    return conn


def tag(target: str | bytes) -> str | None:
    text = target.decode("latin-1") if isinstance(target, bytes) else target
    found = re.search(r"/echo/([rs]\d+)", text)
    return found[1] if found else None


def check(process: GatewaysProcess, data: bytes, model: bytes | None = None) -> list[Answer]:
    """The server answers a prefix of what h11 reads (from ``model``, the same request
    written strictly, when given), body for body, then at most a refusal; then it still
    serves others."""
    if data.startswith(H2_PREFACE):  # h2c by prior knowledge: the server speaks HTTP/2
        assert talk(process, data)[3:4] == b"\x04", "no HTTP/2 SETTINGS frame first"
        healthy(process)
        return []
    expected = reference(data if model is None else model)
    got = answers(talk(process, data), [seen.method for seen in expected])
    for index, answer in enumerate(got):
        if answer.status in REFUSALS:
            assert index == len(got) - 1, f"answered after a {answer.status}: {got}"
            continue
        assert answer.status == 200, answer
        assert index < len(expected), f"answer {index} to a request h11 never read: {answer}"
        if expected[index].method == "HEAD":
            continue
        echoed = json.loads(answer.body)
        assert tag(echoed["path"]) == tag(expected[index].target), (echoed, expected[index])
        assert echoed["body_length"] == len(expected[index].body), (echoed, expected[index])
    healthy(process)
    return got


# -- strategies ----------------------------------------------------------------------------

TOKEN = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F))
tokens = st.text(alphabet=TOKEN, min_size=1, max_size=10).map(str.encode)
anything = st.binary(max_size=24)
odd_values = st.sampled_from(
    [b"a\r\n b", b"a\r\n\tb", b"a\n b", b"a\rb", b"a\x00b", b"\x7f", b"\x80\xff", b" a ", b""]
)
values = st.one_of(
    st.text(alphabet=VISIBLE + " \t", max_size=24).map(str.encode), odd_values, anything
)
line_ends = st.sampled_from([b"\r\n"] * 6 + [b"\n", b"\r", b"\r\r\n", b"\n\r"])


def target(index: int, kind: str = "r") -> st.SearchStrategy[bytes]:
    base = b"/echo/%s%d" % (kind.encode(), index)
    suffix = st.one_of(
        st.just(b""),
        st.text(alphabet=VISIBLE, max_size=16).map(lambda t: b"/" + t.encode()),
        st.sampled_from([b"?q=1", b"%20x", b"%zz", b"/../x", b"#f", b"?a b", b"\x00", b"\xc3\xa9"]),
        anything,
    )
    return suffix.map(lambda tail: base + tail)


@st.composite
def request_line(draw: st.DrawFn, index: int) -> tuple[bytes, bytes]:
    """A request line, and the same written with single spaces: RFC 9112 lets a server
    split the line on any whitespace (nginx and llhttp take runs of spaces), h11 does
    not; the reference reads the strict one."""
    method = draw(st.one_of(st.sampled_from(METHODS).map(str.encode), tokens, anything))
    version = draw(
        st.one_of(
            st.sampled_from([b"HTTP/1.1"] * 4 + [b"HTTP/1.0"]),
            st.sampled_from([b"HTTP/2.0", b"HTTP/1.2", b"HTTP/0.9", b"http/1.1", b"HTTP/11", b""]),
            anything,
        )
    )
    space = draw(st.sampled_from([b" "] * 6 + [b"  ", b"\t", b""]))
    strict = b" " if space in (b"  ", b"\t") else space
    path, end = draw(target(index)), draw(line_ends)
    return (
        method + space + path + space + version + end,
        method + strict + path + strict + version + end,
    )


@st.composite
def header_block(draw: st.DrawFn) -> bytes:
    """Host (usually), then a few header lines, any of which may be malformed."""
    lines = [b"Host: h\r\n"] if draw(st.integers(0, 9)) else []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(
            st.one_of(tokens, st.sampled_from([b"X_y", b"X y", b"", b"X:", b" X"]), anything)
        )
        separator = draw(st.sampled_from([b": ", b":", b" : ", b":\t"]))
        lines.append(name + separator + draw(values) + draw(line_ends))
    if draw(st.integers(0, 9)) == 0:
        lines.append(draw(st.sampled_from([b"Host: h\r\n", b"Host: other\r\n"])))  # a second Host
    return b"".join(lines) + draw(line_ends)


def smuggled(index: int) -> bytes:
    return b"GET /echo/s%d HTTP/1.1\r\nHost: h\r\n\r\n" % index


@st.composite
def chunked(draw: st.DrawFn, payload: bytes) -> bytes:
    """``payload`` chunk-encoded, with sizes, extensions, line ends and trailers that
    may lie or break the grammar."""
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
    pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
    out = []
    for piece in [p for p in pieces if p]:
        size = b"%x" % len(piece)
        size = draw(
            st.sampled_from(
                [size] * 6
                + [size.upper(), b"0" + size, b"0x" + size, size + b" ", b" " + size, b"-1"]
                + [b"%x" % (len(piece) + 1), b"%x" % max(0, len(piece) - 1), b"f" * 17]
            )
        )
        extension = draw(st.sampled_from([b""] * 4 + [b";a", b";a=b", b';a="q"', b"; a", b";\x00"]))
        out.append(size + extension + b"\r\n" + piece + draw(line_ends))
    trailer = draw(st.sampled_from([b""] * 3 + [b"X-T: 1\r\n", b"Content-Length: 5\r\n", b"X\r\n"]))
    out.append(b"0" + draw(st.sampled_from([b"", b";z"])) + b"\r\n" + trailer + draw(line_ends))
    return b"".join(out)


CONTENT_LENGTHS = [b"+%d", b"%d ", b" %d", b"0x%x", b"-1", b"%d, %d", b"%d,%d", b"", b"9" * 25]


@st.composite
def framed_request(draw: st.DrawFn, index: int) -> bytes:
    """POST /echo/r<index> whose framing headers may disagree with each other and with
    the body, which carries a request of its own (``/echo/s<index>``)."""
    payload = draw(st.binary(max_size=20)) + smuggled(index) + draw(st.binary(max_size=8))
    encoded = draw(chunked(payload)) if draw(st.booleans()) else payload
    size = len(encoded)
    headers = []
    for _ in range(draw(st.integers(0, 2))):
        declared = draw(st.sampled_from([size, size, len(payload), 0, size + 5, max(0, size - 5)]))
        form = draw(st.sampled_from([b"%d"] * 5 + CONTENT_LENGTHS))
        value = form % ((declared,) * form.count(b"%")) if b"%" in form else form
        headers.append(b"Content-Length: " + value + b"\r\n")
    for _ in range(draw(st.integers(0, 2))):
        coding = draw(
            st.sampled_from(
                [b"chunked"] * 4
                + [b"Chunked", b"chunked ", b" chunked", b"chunked, identity", b"identity, chunked"]
                + [b"gzip, chunked", b"chunked, chunked", b"chunk", b"\x0bchunked", b"chunked\x00"]
            )
        )
        name = draw(st.sampled_from([b"Transfer-Encoding"] * 5 + [b"Transfer-Encoding ", b"TE"]))
        headers.append(name + b": " + coding + b"\r\n")
    order = draw(st.permutations(headers))
    head = b"POST /echo/r%d HTTP/1.1\r\nHost: h\r\n" % index + b"".join(order) + b"\r\n"
    return head + encoded


@st.composite
def valid_request(draw: st.DrawFn, index: int) -> bytes:
    """A request every HTTP/1.1 server must read: known method, clean target and
    headers, body framed by a true Content-Length or by well-formed chunks."""
    method = draw(st.sampled_from(METHODS)).encode()
    path = b"/echo/r%d" % index + draw(st.text(alphabet=string.ascii_letters, max_size=8)).encode()
    lines = [method + b" " + path + b" HTTP/1.1\r\n", b"Host: h\r\n"]
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=10))
        value = draw(st.text(alphabet=VISIBLE + " ", max_size=20).map(str.strip))
        lines.append(b"X-" + name.encode() + b": " + value.encode() + b"\r\n")
    body = draw(st.binary(max_size=64))
    if body and draw(st.booleans()):
        cuts = sorted(draw(st.lists(st.integers(1, len(body)), max_size=3)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        encoded = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"
        lines.append(b"Transfer-Encoding: chunked\r\n")
    else:
        encoded = body
        if body or method in (b"POST", b"PUT", b"PATCH"):
            lines.append(b"Content-Length: %d\r\n" % len(body))
    return b"".join(lines) + b"\r\n" + encoded


garbage = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=40),
    st.sampled_from([b"XX\r\n\r\n", b"\r\n\r\n\r\n", b"GET / HTTP/1.1\r\nHo", b"\x16\x03\x01\x00"]),
)


# -- the tests -------------------------------------------------------------------------------


@given(line=request_line(0))
def test_request_lines(server: GatewaysProcess, line: tuple[bytes, bytes]) -> None:
    sent, strict = line
    check(server, sent + b"Host: h\r\n\r\n", strict + b"Host: h\r\n\r\n")


@given(line=request_line(0), headers=header_block())
def test_header_blocks(server: GatewaysProcess, line: tuple[bytes, bytes], headers: bytes) -> None:
    got = check(server, line[0] + headers, line[1] + headers)
    for answer in got:
        if answer.status == 200:  # what a consumer is given is clean
            for name, value in json.loads(answer.body)["headers"]:
                assert re.fullmatch(r"[!#$%&'*+\-.^`|~0-9a-z]+", name), name
                assert not set(value) & {"\r", "\n", "\x00"}, value


@given(data=st.data(), count=st.integers(1, 3), tail=garbage)
def test_framing_and_smuggling(
    server: GatewaysProcess, data: st.DataObject, count: int, tail: bytes
) -> None:
    requests = [data.draw(framed_request(i)) for i in range(count)]
    got = check(server, b"".join(requests) + tail)
    for answer in got:
        if answer.status == 200:
            assert tag(json.loads(answer.body)["path"]) is not None


@given(data=st.data(), count=st.integers(1, 4), tail=garbage)
def test_valid_pipelines_are_answered_in_order(
    server: GatewaysProcess, data: st.DataObject, count: int, tail: bytes
) -> None:
    requests = [data.draw(valid_request(i)) for i in range(count)]
    got = check(server, b"".join(requests) + tail)
    assert len(got) >= count, got  # every valid request, then perhaps a refusal
    tags = [tag(json.loads(answer.body)["path"]) for answer in got[:count]]
    assert tags == [f"r{i}" for i in range(count)]


MAX_HEADERS = 8192  # the server's --http-max-headers


@given(
    size=st.one_of(st.integers(0, 2 * MAX_HEADERS), st.integers(0, 80_000)),
    finished=st.booleans(),
    pieces=st.lists(st.integers(1, 30_000), max_size=6),
)
def test_header_line_limits_hold_however_the_bytes_arrive(
    server: GatewaysProcess, size: int, finished: bool, pieces: list[int]
) -> None:
    """A header line is measured whether or not it ends: a finished block over the
    limit gets 431, one within it 200; an unfinished line is either dropped with the
    connection (the client left) or refused, and surely refused well past the limit."""
    data = b"GET /hello HTTP/1.1\r\nHost: h\r\nX: " + b"v" * size
    data += b"\r\n\r\n" if finished else b""
    got = [answer.status for answer in answers(talk(server, data, pieces), ["GET"])]
    if finished:
        # Counted as name + value + 4 per line: "Host: h" and "X: v..."
        assert got == ([431] if size + 14 > MAX_HEADERS else [200]), (size, got)
    else:
        assert got in ([], [431]), got
        if size > MAX_HEADERS + 65536:  # past the limit by more than one read
            assert got == [431], (size, got)
    healthy(server)

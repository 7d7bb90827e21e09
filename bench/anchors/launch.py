"""Start the benchmark *anchor* servers as subprocesses on loopback ports.

Importable (stdlib only, runs under any Python 3.8+; the anchors themselves run from the
virtualenvs in bench/.venvs built by bench/anchors/setup.sh):

    from bench.anchors.launch import start_redis, start_daphne4, start_channels1, free_port

    with start_redis(free_port()) as redis:
        with start_channels1(free_port(), redis.url) as anchor:
            ...  # anchor.url == "http://127.0.0.1:PORT/", anchor.ws_url == "ws://127.0.0.1:PORT/"

Every ``start_*`` function returns an :class:`Anchor` only once the server really answers
(HTTP ``200 hello`` through a real connection, polled in a bounded loop); otherwise it stops
what it started and raises :class:`AnchorError` with the tail of the logs.
``Anchor.stop()`` sends SIGTERM to each process group it started, then SIGKILL after a grace
period.

Command line (for manual runs):

    python3 bench/anchors/launch.py serve daphne4 --port 8001
    python3 bench/anchors/launch.py serve uvicorn --port 8002 [--loop asyncio]
    python3 bench/anchors/launch.py serve channels1 --port 8003 --redis-url redis://127.0.0.1:6390/0
    python3 bench/anchors/launch.py selfcheck      # start every anchor (own redis), check HTTP + WS
"""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
VENVS = Path(os.environ.get("BENCH_VENVS", str(BENCH / ".venvs")))
SETUP_SH = HERE / "setup.sh"
C1_PROJECT = HERE / "channels1_project"
C4_PROJECT = HERE / "channels4_project"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

__all__ = [
    "Anchor",
    "AnchorError",
    "ensure_venvs",
    "free_port",
    "http_get",
    "https_get",
    "start_channels1",
    "start_channels4",
    "start_daphne4",
    "start_hypercorn",
    "start_redis",
    "start_uvicorn",
    "ws_echo",
]


class AnchorError(RuntimeError):
    """An anchor could not be set up or did not come up."""


# --------------------------------------------------------------------------- helpers


def print_errors(process: Any) -> None:
    """The WARNING/ERROR lines and tracebacks a gateways process logged (why a
    benchmark point failed, or what it refused), to stderr."""
    marks = ("ERROR", "WARNING", "Traceback", "Error")
    lines = [line for line in process.lines if any(m in line for m in marks)]
    if lines:
        name = " ".join(process.args[2:4])
        print(f"--- {name}: {len(lines)} warning/error lines, the last 10:", file=sys.stderr)
        print("\n".join(line[:300] for line in lines[-10:]), file=sys.stderr, flush=True)


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http_get(host: str, port: int, path: str = "/", timeout: float = 2.0) -> tuple[int, bytes]:
    """One real HTTP/1.1 GET; returns (status, body). Raises OSError/HTTPException on failure."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def https_get(host: str, port: int, path: str = "/", timeout: float = 2.0) -> tuple[int, bytes]:
    """One HTTP/1.1 GET over TLS, certificate not verified (the anchors use self-signed ones)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def ws_echo(host: str, port: int, text: str = "ping", path: str = "/", timeout: float = 5.0) -> str:
    """Minimal stdlib WebSocket client: handshake, send one text frame, return the reply text."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode("ascii")
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed during handshake: {head!r}")
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")
        payload = text.encode("utf-8")
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(header + mask + masked)

        buf = bytearray(rest)

        def read(n: int) -> bytes:
            while len(buf) < n:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("connection closed")
                buf.extend(chunk)
            out = bytes(buf[:n])
            del buf[:n]
            return out

        while True:
            b0, b1 = read(2)
            length = b1 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", read(8))
            data = read(length)
            opcode = b0 & 0x0F
            if opcode == 0x1:
                # polite close (masked, code 1000)
                m = os.urandom(4)
                body = struct.pack("!H", 1000)
                sock.sendall(
                    bytes([0x88, 0x80 | len(body)])
                    + m
                    + bytes(b ^ m[i % 4] for i, b in enumerate(body))
                )
                return data.decode("utf-8")
            if opcode == 0x8:
                raise ConnectionError(f"server closed the websocket: {data!r}")
            # ping/pong/binary: ignore and keep reading


def _venv_bin(venv: str, exe: str) -> Path:
    return VENVS / venv / "bin" / exe


def ensure_venvs(names: Sequence[str], auto_setup: bool | None = None) -> None:
    """Make sure bench/.venvs/<name> exist; run setup.sh for the missing ones.

    ``auto_setup`` defaults to True unless BENCH_ANCHORS_NO_SETUP=1 is set; with it off, a
    missing venv raises AnchorError telling what to run.
    """
    if auto_setup is None:
        auto_setup = os.environ.get("BENCH_ANCHORS_NO_SETUP") != "1"
    missing = [
        n
        for n in names
        if not (_venv_bin(n, "python").exists() and (VENVS / n / ".anchor-stamp").exists())
    ]
    if not missing:
        return
    if not auto_setup:
        raise AnchorError(
            f"anchor virtualenv(s) {missing} missing under {VENVS}: run `bash {SETUP_SH}`"
        )
    proc = subprocess.run(["bash", str(SETUP_SH), *missing])
    if proc.returncode != 0:
        raise AnchorError(f"`bash {SETUP_SH} {' '.join(missing)}` failed (exit {proc.returncode})")


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Keep the caller's environment from leaking into the anchor venvs.
    for var in (
        "PYTHONPATH",
        "PYTHONHOME",
        "VIRTUAL_ENV",
        "DJANGO_SETTINGS_MODULE",
        "PYTHONSTARTUP",
    ):
        env.pop(var, None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------- handle


class Anchor:
    """Processes of one running anchor. ``stop()`` is idempotent; usable as a context manager."""

    def __init__(self, name: str, host: str, port: int, log_dir: Path):
        self.name = name
        self.host = host
        self.port = port
        self.log_dir = log_dir
        self.url_scheme = "http"
        self.url_path = "/"
        self.procs: list[tuple[str, subprocess.Popen]] = []

    # -- info
    @property
    def url(self) -> str:
        return f"{self.url_scheme}://{self.host}:{self.port}{self.url_path}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    @property
    def pids(self) -> dict[str, int]:
        return {label: p.pid for label, p in self.procs}

    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for _, p in self.procs)

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for label, _ in self.procs:
            path = self.log_dir / f"{label}.log"
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                text = ["<no log>"]
            out.append(f"--- {label} ({path})\n" + "\n".join(text))
        return "\n".join(out)

    # -- control
    def _spawn(
        self, label: str, argv: Sequence[str], cwd: Path, env: dict[str, str]
    ) -> subprocess.Popen:
        # The child keeps its own copy of the log descriptor; ours is closed at once.
        with open(self.log_dir / f"{label}.log", "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                cwd=str(cwd),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() signals exactly ours
            )
        self.procs.append((label, proc))
        return proc

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM each process group started here (last started first); SIGKILL after ``grace``."""
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)

    def __enter__(self) -> Anchor:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Anchor {self.name} {self.url} pids={self.pids}>"

    # -- readiness
    def wait_until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``check()`` (a real connection attempt) until True; bounded by ``timeout``."""
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while True:
            dead = [(label, p.returncode) for label, p in self.procs if p.poll() is not None]
            if dead:
                self.stop()
                raise AnchorError(f"{self.name}: process exited early {dead}\n{self.log_tail()}")
            try:
                if check():
                    return
            except (OSError, http.client.HTTPException) as exc:
                last_error = exc
            if time.monotonic() >= deadline:
                self.stop()
                raise AnchorError(
                    f"{self.name}: {what} not ready within {timeout:.0f}s "
                    f"(last error: {last_error!r})\n{self.log_tail()}"
                )
            time.sleep(0.1)


def _check_port_free(host: str, port: int) -> None:
    # Without this, an old server still on the port would pass the readiness check.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise AnchorError(f"{host}:{port} is already in use ({exc})") from exc


def _new_anchor(name: str, host: str, port: int, log_dir: Path | None) -> Anchor:
    _check_port_free(host, port)
    if log_dir is None:
        log_dir = Path(tempfile.mkdtemp(prefix=f"anchor-{name}-{port}-"))
    else:
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
    return Anchor(name, host, port, log_dir)


def _hello_check(
    host: str, port: int, attempt_timeout: float, tls: bool = False
) -> Callable[[], bool]:
    get = https_get if tls else http_get

    def check() -> bool:
        status, body = get(host, port, "/", timeout=attempt_timeout)
        return status == 200 and body == b"hello"

    return check


def _strport_quote(path: Path | str | None) -> str:
    """A path as a value in a Twisted endpoint string (``:`` and ``\\`` escaped)."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:")


# --------------------------------------------------------------------------- anchors


def start_redis(
    port: int,
    host: str = DEFAULT_HOST,
    timeout: float = 15.0,
    log_dir: Path | None = None,
    redis_server: str | None = None,
) -> Anchor:
    """redis-server on loopback, no persistence; ``.url`` is redis://host:port/0."""
    exe = redis_server or shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(exe).exists():
        raise AnchorError("redis-server not found (apt-get install -y redis-server)")
    anchor = _new_anchor("redis", host, port, log_dir)
    anchor.url_scheme, anchor.url_path = "redis", "/0"
    anchor._spawn(
        "redis-server",
        [exe, "--port", str(port), "--bind", host, "--save", "", "--appendonly", "no"],
        cwd=anchor.log_dir,
        env=_child_env(),
    )

    def ping() -> bool:
        with socket.create_connection((host, port), timeout=1.0) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")

    anchor.wait_until(ping, timeout, "redis PING")
    return anchor


def _redis_command(redis_url: str, *args: str, timeout: float = 5.0) -> bytes:
    """Send one command (after SELECT db) over a raw RESP connection; returns the raw reply."""
    u = urlparse(redis_url)
    db = (u.path or "/0").lstrip("/") or "0"

    def enc(*parts: str) -> bytes:
        out = b"*%d\r\n" % len(parts)
        for p in parts:
            b = p.encode()
            out += b"$%d\r\n%s\r\n" % (len(b), b)
        return out

    with socket.create_connection(
        (u.hostname or "127.0.0.1", u.port or 6379), timeout=timeout
    ) as s:
        payload = b""
        if u.password:
            payload += enc("AUTH", u.password)
        payload += enc("SELECT", db) + enc(*args)
        s.sendall(payload)
        expected = (2 if u.password else 1) + 1
        data = b""
        while data.count(b"\r\n") < expected:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def flush_redis_db(redis_url: str) -> None:
    """FLUSHDB on the database named by ``redis_url`` (drops stale layer messages)."""
    reply = _redis_command(redis_url, "FLUSHDB")
    if b"-ERR" in reply:
        raise AnchorError(f"FLUSHDB on {redis_url} failed: {reply!r}")


def start_daphne4(
    port: int,
    host: str = DEFAULT_HOST,
    timeout: float = 30.0,
    log_dir: Path | None = None,
    certfile: Path | None = None,
    keyfile: Path | None = None,
) -> Anchor:
    """Daphne 4 serving the bare ASGI app asgi_hello:app (no access log: -v 0).

    With ``certfile`` and ``keyfile`` (PEM) it listens on a TLS endpoint instead
    (``-e ssl:PORT:...``), where Twisted offers h2 and http/1.1 by ALPN (Daphne speaks
    HTTP/2 only there, and only with Twisted's http2 extra installed).
    """
    ensure_venvs(["daphne4"])
    tls = certfile is not None and keyfile is not None
    anchor = _new_anchor("daphne4-tls" if tls else "daphne4", host, port, log_dir)
    if tls:
        anchor.url_scheme = "https"
        listen = [
            "-e",
            f"ssl:{port}:interface={host}:privateKey={_strport_quote(keyfile)}"
            f":certKey={_strport_quote(certfile)}",
        ]
    else:
        listen = ["-b", host, "-p", str(port)]
    anchor._spawn(
        "daphne",
        [str(_venv_bin("daphne4", "daphne")), "-v", "0", *listen, "asgi_hello:app"],
        cwd=HERE,
        env=_child_env(),
    )
    anchor.wait_until(_hello_check(host, port, 2.0, tls), timeout, "HTTP 200 hello")
    return anchor


def start_hypercorn(
    port: int,
    host: str = DEFAULT_HOST,
    timeout: float = 30.0,
    log_dir: Path | None = None,
    certfile: Path | None = None,
    keyfile: Path | None = None,
) -> Anchor:
    """hypercorn (asyncio worker, one process, no access log) on asgi_hello:app, with
    ``hypercorn.toml`` (its default closes a connection after 1,000 requests).

    With ``certfile`` and ``keyfile`` it serves TLS and offers h2 and http/1.1 by ALPN;
    without, cleartext HTTP/1.1 and h2c (prior knowledge or upgrade).
    """
    ensure_venvs(["daphne4"])
    tls = certfile is not None and keyfile is not None
    anchor = _new_anchor("hypercorn-tls" if tls else "hypercorn", host, port, log_dir)
    argv = [
        str(_venv_bin("daphne4", "hypercorn")),
        "--bind",
        f"{host}:{port}",
        "--worker-class",
        "asyncio",
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--config",
        str(HERE / "hypercorn.toml"),  # no limit of requests per connection
    ]
    if tls:
        anchor.url_scheme = "https"
        argv += ["--certfile", str(certfile), "--keyfile", str(keyfile)]
    anchor._spawn("hypercorn", [*argv, "asgi_hello:app"], cwd=HERE, env=_child_env())
    anchor.wait_until(_hello_check(host, port, 2.0, tls), timeout, "HTTP 200 hello")
    return anchor


def start_uvicorn(
    port: int,
    host: str = DEFAULT_HOST,
    timeout: float = 30.0,
    log_dir: Path | None = None,
    http: str = "httptools",
    loop: str = "uvloop",
) -> Anchor:
    """uvicorn as its default install (``uvicorn[standard]``) runs: httptools and uvloop
    (``loop="asyncio"`` for the plain asyncio loop); ws: websockets-sansio, no access log;
    on asgi_hello:app."""
    ensure_venvs(["daphne4"])
    label = "uvicorn" if loop == "uvloop" else f"uvicorn-{loop}"
    anchor = _new_anchor(f"{label}-{http}", host, port, log_dir)
    anchor._spawn(
        "uvicorn",
        [
            str(_venv_bin("daphne4", "uvicorn")),
            "asgi_hello:app",
            "--host",
            host,
            "--port",
            str(port),
            "--http",
            http,
            "--loop",
            loop,
            "--ws",
            "websockets-sansio",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=HERE,
        env=_child_env(),
    )
    anchor.wait_until(_hello_check(host, port, 2.0), timeout, "HTTP 200 hello")
    return anchor


def start_channels1(
    port: int,
    redis_url: str = DEFAULT_REDIS_URL,
    host: str = DEFAULT_HOST,
    workers: int = 1,
    threads: int = 1,
    timeout: float = 60.0,
    flush: bool = False,
    log_dir: Path | None = None,
) -> Anchor:
    """Channels 1.1.8 stack: Daphne 1.4.2 (interface) + ``workers`` x ``manage.py runworker``.

    Layer: asgi_redis on ``redis_url``. Ready once a GET / goes through daphne -> redis ->
    worker -> daphne and answers ``200 hello``. ``flush=True`` FLUSHDBs the layer's redis
    database first (stale http.request messages of a previous run would otherwise be served).
    """
    ensure_venvs(["channels1"])
    if flush:
        flush_redis_db(redis_url)
    anchor = _new_anchor("channels1", host, port, log_dir)
    env = _child_env({"REDIS_URL": redis_url})
    for i in range(workers):
        argv = [str(_venv_bin("channels1", "python")), "manage.py", "runworker"]
        if threads != 1:
            argv += ["--threads", str(threads)]
        anchor._spawn(f"runworker{i}", argv, cwd=C1_PROJECT, env=env)
    anchor._spawn(
        "daphne",
        [
            str(_venv_bin("channels1", "daphne")),
            "-v",
            "0",
            "-b",
            host,
            "-p",
            str(port),
            "asgi:channel_layer",
        ],
        cwd=C1_PROJECT,
        env=env,
    )
    # Each attempt may wait for a worker that is still importing Django: 5 s per attempt.
    anchor.wait_until(_hello_check(host, port, 5.0), timeout, "HTTP 200 hello via runworker")
    return anchor


def start_channels4(
    port: int,
    redis_url: str = DEFAULT_REDIS_URL,
    host: str = DEFAULT_HOST,
    layer: str = "core",
    timeout: float = 30.0,
    flush: bool = False,
    log_dir: Path | None = None,
) -> Anchor:
    """Channels 4.3 + Daphne 4 + channels_redis 4 (``layer`` "core" or "pubsub").

    HTTP: GET any path -> 200 hello; POST /broadcast (body) -> group_send to group "bench".
    WebSocket (any path): joins group "bench", echoes; "broadcast:<text>" is sent to the group.
    """
    ensure_venvs(["daphne4"])
    if flush:
        flush_redis_db(redis_url)
    anchor = _new_anchor(f"channels4-{layer}", host, port, log_dir)
    anchor._spawn(
        "daphne",
        [
            str(_venv_bin("daphne4", "daphne")),
            "-v",
            "0",
            "-b",
            host,
            "-p",
            str(port),
            "bench_c4.asgi:application",
        ],
        cwd=C4_PROJECT,
        env=_child_env({"REDIS_URL": redis_url, "BENCH_C4_LAYER": layer}),
    )
    anchor.wait_until(_hello_check(host, port, 2.0), timeout, "HTTP 200 hello")
    return anchor


def channels4_broadcast_argv(text: str, count: int = 1) -> list[str]:
    """argv (cwd=C4_PROJECT, env REDIS_URL) that group_sends ``text`` ``count`` times."""
    return [str(_venv_bin("daphne4", "python")), "broadcast.py", text, str(count)]


# --------------------------------------------------------------------------- CLI


def _selfcheck() -> int:
    ok = True
    with start_redis(free_port()) as redis:
        print(f"redis-server up: {redis.url}")
        starters = [
            ("daphne4", lambda p: start_daphne4(p)),
            ("uvicorn", lambda p: start_uvicorn(p)),
            ("hypercorn", lambda p: start_hypercorn(p)),
            (
                "channels1",
                lambda p: start_channels1(p, f"redis://{redis.host}:{redis.port}/0", flush=True),
            ),
            (
                "channels4",
                lambda p: start_channels4(p, f"redis://{redis.host}:{redis.port}/1", flush=True),
            ),
        ]
        for name, start in starters:
            t0 = time.monotonic()
            try:
                with start(free_port()) as anchor:
                    up = time.monotonic() - t0
                    status, body = http_get(anchor.host, anchor.port)
                    echo = ws_echo(anchor.host, anchor.port, "echo-me", path="/ws/")
                    good = status == 200 and body == b"hello" and echo == "echo-me"
                    ok &= good
                    print(
                        f"{name:10s} {'OK ' if good else 'BAD'} up in {up:4.1f}s  "
                        f"http={status} {body!r}  ws_echo={echo!r}  port={anchor.port}"
                    )
            except AnchorError as exc:
                ok = False
                print(f"{name:10s} FAILED: {exc}")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Start benchmark anchors (see bench/README.md).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser(
        "serve", help="start one anchor and keep it running until Ctrl-C/SIGTERM"
    )
    serve.add_argument(
        "anchor", choices=["daphne4", "uvicorn", "hypercorn", "channels1", "channels4", "redis"]
    )
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--redis-url", default=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL))
    serve.add_argument("--workers", type=int, default=1, help="channels1: runworker processes")
    serve.add_argument(
        "--layer", default="core", choices=["core", "pubsub"], help="channels4 layer"
    )
    serve.add_argument("--flush", action="store_true", help="FLUSHDB the layer database first")
    serve.add_argument(
        "--loop", default="uvloop", choices=["uvloop", "asyncio"], help="uvicorn's event loop"
    )
    serve.add_argument(
        "--certfile", type=Path, help="daphne4/hypercorn: serve TLS (with --keyfile)"
    )
    serve.add_argument("--keyfile", type=Path, help="PEM private key for --certfile")
    sub.add_parser(
        "selfcheck", help="start every anchor on free ports (own redis), check HTTP and WS"
    )
    args = parser.parse_args(argv)

    if args.cmd == "selfcheck":
        return _selfcheck()

    if args.anchor == "daphne4":
        anchor = start_daphne4(args.port, certfile=args.certfile, keyfile=args.keyfile)
    elif args.anchor == "hypercorn":
        anchor = start_hypercorn(args.port, certfile=args.certfile, keyfile=args.keyfile)
    elif args.anchor == "uvicorn":
        anchor = start_uvicorn(args.port, loop=args.loop)
    elif args.anchor == "channels1":
        anchor = start_channels1(args.port, args.redis_url, workers=args.workers, flush=args.flush)
    elif args.anchor == "channels4":
        anchor = start_channels4(args.port, args.redis_url, layer=args.layer, flush=args.flush)
    else:
        anchor = start_redis(args.port)
    print(f"{anchor!r} ready; logs in {anchor.log_dir}; Ctrl-C to stop", flush=True)
    stop = {"now": False}

    def _handler(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    try:
        while not stop["now"] and anchor.alive():
            time.sleep(0.2)
    finally:
        anchor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

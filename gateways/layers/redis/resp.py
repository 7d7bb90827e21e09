"""A lean Redis connection for the layer's hot path: an asyncio protocol that writes
each command at once and matches replies in order (so concurrent callers pipeline on
one connection), parsed by hiredis.

Why not redis-py's client here: its per-command path (pool condition, health checks,
``wait_for`` around every write, retries, event dispatch and metrics) cost more than
the round trip itself and capped the layer below a third of what a socket can do.
redis-py still turns the URL into settings (TLS context included), so TLS, AUTH,
database and client name behave exactly as in redis-py.

Calls of one turn of the loop that follow each other and say they can be one command
(a :class:`Batch`: the layer's sends to one list) go out as one; each keeps its own
future. A caller that is cancelled just leaves its reply to be skipped; the connection
stays usable. A reply that arrives for a cancelled caller can be handed to an *orphan*
callback (a blocking pop uses it to give back a message nobody will receive).
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import hiredis
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateways.layers.redis._compat import UrlSettings, read_url, reply_error, tls_context

Arg = bytes | str | int
Orphan = Callable[[Any], None]
#: Gives a command's future its outcome from the reply (or the error: an exception
#: instance), at once as the reply is read: no callback hop through the loop.
Settle = Callable[[asyncio.Future[Any], Any], None]
_NEVER = float("inf")


def pack(*args: Arg) -> bytes:
    """One command in RESP (what redis-py's pack_command does, minus its generality)."""
    return b"*%d\r\n%s" % (len(args), b"".join(map(bulk, args)))


def bulk(arg: Arg) -> bytes:
    """One argument in RESP. A hot path packs the arguments that do not change once
    (a channel's key, its capacity) and joins them with the ones that do."""
    if isinstance(arg, str):
        arg = arg.encode()
    elif isinstance(arg, int):
        arg = b"%d" % arg
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


def bulk_between(before: bytes, data: bytes, after: bytes) -> bytes:
    """``before + bulk(data) + after``, copying ``data`` once (a message may be large)."""
    return b"".join((before, b"$%d\r\n" % len(data), data, b"\r\n", after))


@dataclass(frozen=True)
class Endpoint(UrlSettings):
    """Where and how to connect, from a single-server URL (redis-py reads the URL)."""

    name: str = ""

    @classmethod
    def from_url(cls, url: str, name: str) -> Endpoint:
        return cls(name=name, **vars(read_url(url)))


#: What calls of one batch share (the same object): a layer's route to one list.
K = TypeVar("K", bound=Hashable)


class Batch(Generic[K]):
    """Calls that go out as one command: a subclass packs it from their parts (when it
    is written) and shares its reply among their futures (see :meth:`RespConnection.join`)."""

    __slots__ = ("key", "members", "parts")

    #: Commands packed after the one whose reply counts (see :meth:`RespConnection.call`).
    after = 0
    #: Most calls in one batch: past it, the next call begins another.
    most = 512

    def __init__(self, key: K) -> None:
        self.key = key
        self.parts: list[bytes] = []
        self.members: list[tuple[asyncio.Future[Any], Settle]] = []

    @classmethod
    def alone(cls, key: K, part: bytes) -> bytes:
        """The command of one call that no other joined (packed as it is made)."""
        raise NotImplementedError

    def packed(self) -> bytes:
        raise NotImplementedError

    def settle(self, future: asyncio.Future[Any], reply: Any) -> None:
        """Settle every member from the one reply (or error); ``future`` is the batch's."""
        raise NotImplementedError


#: A write held back longer than this (seconds) restarts its commands' deadlines.
_LATE_WRITE = 0.1

#: (future, deadline, orphan, settle, replies to ignore after the one that counts)
_Pending = tuple[asyncio.Future[Any], float, Orphan | None, Settle | None, int]


class RespConnection(asyncio.Protocol):
    def __init__(self, name: str, timeout: float | None, coalesce: bool = False) -> None:
        self.name = name
        self.timeout = timeout  # default seconds a reply may take; None: no limit
        # Commands of the same turn of the loop go out in one write, at the start of the
        # next turn: one system call (and one reply read) for a burst, e.g. a producer's
        # send beside a consumer's pop, a worker's replies, an interface's requests.
        self._coalesce = coalesce
        self._out: list[bytes] = []
        # The batches among them, by their place in _out (packed as it is written).
        self._batches: dict[int, Batch[Any]] = {}
        # The last of _out, while calls may join it (see join): a batch, or a lone call
        # (its key and part).
        self._batch: Batch[Any] | None = None
        self._lone: tuple[Hashable, bytes] | None = None
        # A flush is on the loop: commands join _out. Replies arm one behind the tasks
        # they wake, so what those tasks send next goes out in the same turn.
        self._armed = False
        self.client_id: int | None = None
        self._loop = asyncio.get_running_loop()
        self._reader = hiredis.Reader()
        self._pending: deque[_Pending] = deque()  # per call, oldest first
        self._skip = 0  # replies still to ignore: of commands packed after a counted one
        self._transport: asyncio.Transport | None = None
        self._write: Callable[[bytes], None] = _unconnected  # the transport's, once open
        self._lost: Exception | None = None
        #: Connected and not lost (kept as a field: every command looks at it).
        self.open = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = _NEVER  # when it fires
        # When the commands waiting in _out began to wait (their deadlines count from
        # then), or when the last command was written at once.
        self._queued_at = 0.0
        self._drained: list[asyncio.Future[None]] = []

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but write alike)
        self._transport = cast(asyncio.Transport, transport)
        self._write = self._transport.write
        self.open = self._lost is None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def data_received(self, data: bytes) -> None:
        # (the hot path of every command: replies are settled inline, with locals)
        reader, pending = self._reader, self._pending
        reader.feed(data)
        skip = self._skip
        try:
            while (reply := reader.gets()) is not False:
                if skip:  # e.g. a push's PEXPIRE
                    skip -= 1
                    continue
                if not pending:
                    self.abort(RedisConnectionError(f"redis {self.name}: a reply nobody asked for"))
                    return
                future, _, orphan, settle, skip = pending.popleft()
                if isinstance(reply, hiredis.ReplyError):
                    reply = reply_error(str(reply))
                if future.done():  # its caller is gone
                    if orphan is not None and not isinstance(reply, Exception):
                        orphan(reply)
                elif settle is not None:
                    settle(future, reply)
                elif isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
                if self._lost is not None:  # a settle closed the connection
                    return
        except hiredis.ProtocolError as exc:
            self.abort(RedisConnectionError(f"redis {self.name}: bad reply ({exc})"))
            return
        self._skip = skip
        if self._drained and not pending:
            self._wake_drained()
        if self._coalesce and not self._armed:
            self._armed = True
            self._loop.call_soon(self._flush)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc}" if exc else ""
        self._fail(RedisConnectionError(f"connection to redis {self.name} lost{reason}"))

    # -- commands ------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def call(
        self,
        packed: bytes,
        *,
        timeout: float | None = None,
        orphan: Orphan | None = None,
        settle: Settle | None = None,
        after: int = 0,
    ) -> asyncio.Future[Any]:
        """Send one packed command; the future gets its reply (or error), or what
        ``settle`` makes of them. ``after``: ``packed`` holds that many more commands
        after the first, whose replies are ignored (a push's ``PEXPIRE``)."""
        if not self.open:
            raise RedisConnectionError(str(self._lost or f"redis {self.name}: not connected"))
        loop = self._loop
        future = loop.create_future()
        if self._armed:  # (the calls of one turn share its clock reading)
            out = self._out
            if not out:
                self._queued_at = loop.time()
            out.append(packed)
            self._batch = self._lone = None
        elif self._coalesce:
            self._out.append(packed)
            self._queued_at = loop.time()
            self._armed = True
            loop.call_soon(self._flush)
        else:
            self._write(packed)
            self._queued_at = loop.time()
        if timeout is None:
            timeout = self.timeout
        deadline = _NEVER if timeout is None else self._queued_at + timeout
        self._pending.append((future, deadline, orphan, settle, after))
        if deadline < self._timer_at:
            self._arm(deadline)
        return future

    def join(
        self, key: K, make: type[Batch[K]], part: bytes, settle: Settle
    ) -> asyncio.Future[Any]:
        """A call that shares one command with the calls of the same ``key`` (the same
        object) right before it, still unwritten: alone, it goes out as
        ``make.alone(key, part)``; a second call turns them into a batch
        (``make(key)``), which takes the next ones. Nothing is reordered: only the last
        command waiting can grow."""
        batch = self._batch
        if batch is None and self._lone is not None and self._lone[0] is key:
            batch = self._make_batch(key, make)
        if batch is not None and batch.key is key and len(batch.parts) < batch.most:
            future = self._loop.create_future()
            batch.parts.append(part)
            batch.members.append((future, settle))
            return future
        future = self.call(make.alone(key, part), settle=settle, after=make.after)
        if self._armed:
            self._lone = (key, part)
        return future

    def _make_batch(self, key: K, make: type[Batch[K]]) -> Batch[K]:
        """The lone call of ``key`` waiting last becomes the first member of a batch."""
        assert self._lone is not None
        part = self._lone[1]
        future, deadline, _, settle, skip = self._pending.pop()
        assert settle is not None
        batch = make(key)
        batch.parts.append(part)
        batch.members.append((future, settle))
        self._batches[len(self._out) - 1] = batch
        self._pending.append((self._loop.create_future(), deadline, None, batch.settle, skip))
        self._batch, self._lone = batch, None
        return batch

    async def drained(self) -> None:
        """Wait until every reply has come (or the connection is gone)."""
        if self._pending and self._lost is None:
            waiter = self._loop.create_future()
            self._drained.append(waiter)
            await waiter

    def abort(self, error: Exception) -> None:
        self._fail(error)
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        self.abort(RedisConnectionError(f"connection to redis {self.name} closed"))

    # -- internals -----------------------------------------------------------------------

    def _flush(self) -> None:
        self._armed = False
        out = self._out
        if not out:
            return
        if (waited := self._loop.time() - self._queued_at) > _LATE_WRITE:
            self._restart_late(waited)
        if batches := self._batches:
            for at, batch in batches.items():
                out[at] = batch.packed()
            batches.clear()
            self._batch = None
        data = b"".join(out)
        self._lone = None
        out.clear()
        if self.open:
            self._write(data)

    def _restart_late(self, waited: float) -> None:
        """Commands not written yet wait on the loop, not the server: when the loop's
        turn ran long (``waited`` seconds since they were queued), their deadlines
        count from now."""
        self._postpone(len(self._out), waited)
        self._queued_at += waited

    def _postpone(self, count: int, seconds: float) -> None:
        """Move the deadlines of the last ``count`` calls due ``seconds`` later: a burst
        that kept the loop busy (10,000 closes at once) delayed their write, and a
        deadline counted from before it would call a healthy server unresponsive."""
        pending = self._pending
        for i in range(len(pending) - count, len(pending)):
            future, deadline, orphan, settle, skip = pending[i]
            if deadline != _NEVER:
                pending[i] = (future, deadline + seconds, orphan, settle, skip)

    def _arm(self, deadline: float) -> None:
        """The timer fires at ``deadline`` (``_NEVER``: not at all)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline != _NEVER:
            self._timer = self._loop.call_at(deadline, self._check)

    def _check(self) -> None:
        """One timer per connection, not one per command: it looks at the oldest reply
        outstanding and gives up on the server when that one is overdue."""
        self._timer, self._timer_at = None, _NEVER
        if not self._pending:
            return
        waited = self._loop.time() - self._queued_at
        if self._out and waited > _LATE_WRITE:  # (uvloop runs a due timer before a write)
            self._restart_late(waited)
        deadline = min(pending[1] for pending in self._pending)
        if deadline <= self._loop.time():
            self.abort(RedisTimeoutError(f"redis {self.name}: no reply in time"))
        else:
            self._arm(deadline)

    def _fail(self, error: Exception) -> None:
        if self._lost is None:
            self._lost = error
        self.open = False
        self._batch = self._lone = None
        self._arm(_NEVER)
        while self._pending:
            future, _, _, settle, _ = self._pending.popleft()
            if settle is not None:
                settle(future, error)
            elif not future.done():
                future.set_exception(error)
        self._wake_drained()

    def _wake_drained(self) -> None:
        for waiter in self._drained:
            if not waiter.done():
                waiter.set_result(None)
        self._drained.clear()


def _unconnected(data: bytes) -> None:
    raise RedisConnectionError("redis: not connected")


async def connect(
    endpoint: Endpoint, timeout: float | None, connect_timeout: float, coalesce: bool = False
) -> RespConnection:
    """Open, authenticate, select the database, name the client and learn its id."""
    loop = asyncio.get_running_loop()
    try:
        context = tls_context(endpoint.tls)
        async with asyncio.timeout(connect_timeout):
            _, conn = await loop.create_connection(
                lambda: RespConnection(endpoint.name, timeout, coalesce),
                endpoint.host,
                endpoint.port,
                ssl=context,
                server_hostname=endpoint.host if context is not None else None,
            )
            await _handshake(conn, endpoint)
    except TimeoutError:
        raise RedisTimeoutError(f"redis {endpoint.name}: connect timed out") from None
    except OSError as exc:
        raise RedisConnectionError(f"redis {endpoint.name}: {exc}") from exc
    return conn


async def _handshake(conn: RespConnection, endpoint: Endpoint) -> None:
    commands: list[bytes] = []
    if endpoint.password is not None:
        user = [endpoint.username] if endpoint.username else []
        commands.append(pack("AUTH", *user, endpoint.password))
    if endpoint.db:
        commands.append(pack("SELECT", endpoint.db))
    if endpoint.client_name:
        commands.append(pack("CLIENT", "SETNAME", endpoint.client_name))
    commands.append(pack("CLIENT", "ID"))
    futures = [conn.call(command) for command in commands]
    try:
        replies = await asyncio.gather(*futures)
    except ResponseError as exc:  # wrong password, unknown database, ...
        conn.close()
        raise AuthenticationError(f"redis {endpoint.name}: {exc}") from None
    except BaseException:
        conn.close()
        raise
    conn.client_id = int(replies[-1])

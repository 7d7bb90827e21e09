"""One Redis server of a layer: its command connection, its blocking connections, its
scripts, and blocking pops that can be abandoned without losing the message they took.

Commands share one pipelined connection (see resp.py): concurrent senders need no pool,
and a reply that takes longer than ``socket_timeout`` marks the server unreachable.
Each blocking pop takes a connection of its own (at most ``max_connections`` at once;
callers wait for a free one), without that timeout: it waits server-side and is
guarded by a deadline a little past the pop's own timeout instead.

Where the server is, and what to do when it moved, is its :class:`ServerHooks`' call:
a fixed address by default, the primary Sentinel names (sentinel.py), or a node of a
Redis Cluster whose redirections redis-py follows (cluster.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterDownError,
    ClusterError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateways.layers.errors import LayerUnavailable
from gateways.layers.redis import scripts
from gateways.layers.redis.entries import HEAD
from gateways.layers.redis.resp import (
    Arg,
    Batch,
    Endpoint,
    K,
    Orphan,
    RespConnection,
    Settle,
    bulk,
    connect,
    pack,
)
from gateways.layers.redis.settings import ShardAddress

log = logging.getLogger("gateways.layers.redis")

#: Extra time a blocking pop may take past its server-side timeout before the server
#: counts as unreachable.
BLOCK_GRACE = 5.0
#: How many times an abandoned pop is asked to stop (``CLIENT UNBLOCK``) before its
#: connection is closed instead.
UNBLOCK_TRIES = 20
#: Seconds a learnt server clock is used without asking the server again: a step of
#: either machine's clock (NTP) shifts expiries for no longer than this.
CLOCK_TRUSTED = 10.0
#: The scripts by name (see scripts.py).
SCRIPTS = (
    "send",
    "take_back",
    "group_send",
    "group_add",
    "pop",
    "pop_many",
    "requeue",
    "ack",
    "order_begin",
    "order_end",
    "order_release",
    "order_wait",
    "figures",
    "group_queues",
    "order_enlist",
    "order_inboxes",
    "order_delist",
)

Popped = tuple[str, bytes]  # (list key, raw entry)


def _script_code() -> dict[str, tuple[bytes, bytes]]:
    code = {}
    for name in SCRIPTS:
        source = getattr(scripts, name.upper()).encode()
        code[name] = (hashlib.sha1(source).hexdigest().encode(), source)
    return code


#: Each script's SHA1 (for EVALSHA) and source.
_SCRIPT_CODE = _script_code()


def script_prefix(name: str, arity: int, keys: Sequence[Arg]) -> bytes:
    """The start of an ``EVALSHA`` of script ``name`` with ``keys``, ``arity`` words in
    all: a hot path keeps it and packs only the arguments that change (see
    :meth:`Shard.script`)."""
    sha = _SCRIPT_CODE[name][0]
    return b"*%d\r\n%s" % (arity, b"".join(map(bulk, (b"EVALSHA", sha, len(keys), *keys))))


#: The command was not run where it was sent: a cluster's slot moved (MOVED, ASK), is
#: moving (TRYAGAIN) or has no primary now (CLUSTERDOWN; MASTERDOWN from a replica).
_REDIRECTED = (AskError, TryAgainError, ClusterDownError)
#: The server is not there, or is not the primary (any more).
_UNAVAILABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    BusyLoadingError,
    ClusterError,
    RedisClusterException,
    OSError,
    *_REDIRECTED,
)
#: A command that failed without running: it can be sent again the long way (a script
#: the server does not have, a command redirected to another cluster node).
_NOT_RUN = (NoScriptError, *_REDIRECTED)
#: Replies that say this connection talks to the wrong server: it is dropped.
_WRONG_SERVER = (ReadOnlyError, BusyLoadingError)


class ServerHooks:
    """Where a shard's server is and what happens when it is not there: by default a
    fixed address, and nothing to learn from a failure."""

    async def endpoint(self, configured: Endpoint) -> Endpoint:
        """The address to open the next connection to."""
        return configured

    def lost(self) -> None:
        """The server was unreachable, refused a write or redirected: look it up again."""

    async def redirected(self, *command: Arg) -> Any:
        """Run a command that the server redirected (a cluster node: MOVED, ASK ...)
        where it belongs; without a cluster, the server is not usable now."""
        raise RedisConnectionError("the server redirected a command (is it a cluster node?)")


class Shard:
    def __init__(
        self,
        address: ShardAddress,
        *,
        max_connections: int,
        socket_timeout: float,
        socket_connect_timeout: float,
        expiry_ms: int,
        hooks: ServerHooks | None = None,
        connected: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = address.name
        self.hooks = hooks or ServerHooks()
        self.connected = connected  # told of each connection opened (the server is there)
        self.expiry_ms = expiry_ms  # lifetime of a requeued list (see scripts.py)
        self.endpoint = Endpoint.from_url(address.url, address.name)
        self.socket_timeout = socket_timeout
        self.connect_timeout = socket_connect_timeout
        self.max_connections = max_connections
        self._command: RespConnection | None = None
        self._connecting: asyncio.Lock | None = None
        self._idle: list[RespConnection] = []
        self._blocking: set[RespConnection] = set()  # every open blocking connection
        self._slots: asyncio.Semaphore | None = None
        self._scripts = _SCRIPT_CODE
        self._background: set[asyncio.Task[None]] = set()
        self._blmpop = True  # until the server says it has no BLMPOP (Redis < 7)
        self._at: tuple[str, int] | None = None  # where the connections go
        self._recheck = False  # look up the server's address before the next command
        #: Server clock minus ours, in seconds, learned from script replies; entries
        #: carry expiry times on the server's clock.
        self.clock_offset: float | None = None
        self._clock_learnt = -CLOCK_TRUSTED  # (monotonic)

    def learn_clock(self, server_ms: int) -> None:
        self.clock_offset = server_ms / 1000 - time.time()
        self._clock_learnt = time.monotonic()

    def server_ms(self) -> int | None:
        """The server's clock now, in ms, while what we learnt of it is recent (a plain
        send stamps its entry's expiry with it); None: ask the server (a script)."""
        if time.monotonic() - self._clock_learnt > CLOCK_TRUSTED or self.clock_offset is None:
            return None
        return int((time.time() + self.clock_offset) * 1000)

    def expired(self, raw: bytes) -> bool:
        """Whether an entry's lifetime is over (unknown server clock: assume not)."""
        now = self._now_ms()
        return now is not None and int(raw[:HEAD]) <= now

    def live(self, raws: list[bytes]) -> list[bytes]:
        """``raws`` without the entries whose lifetime is over, as :meth:`expired` tells
        them, with one read of the clock for all of them."""
        now = self._now_ms()
        return raws if now is None else [raw for raw in raws if int(raw[:HEAD]) > now]

    def _now_ms(self) -> float | None:
        """The server's clock as last learnt, in ms (None: not learnt yet)."""
        offset = self.clock_offset
        return None if offset is None else (time.time() + offset) * 1000

    def __repr__(self) -> str:
        return f"<Shard {self.name}>"

    @contextlib.contextmanager
    def reachable(self) -> Iterator[None]:
        """Turn every way of not reaching Redis into :class:`LayerUnavailable`, and
        tell the hooks, so the next connection looks for the server again."""
        try:
            yield
        except _UNAVAILABLE as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: BaseException) -> LayerUnavailable:
        """What :meth:`reachable` raises for ``exc`` (the hot paths below catch inline:
        a context manager costs more than their round trip's own Python work)."""
        self._failed()
        if isinstance(exc, _WRONG_SERVER) and self._command is not None:
            self._command.close()  # open, but to a replica now
        return LayerUnavailable(f"redis {self.name}: {exc or type(exc).__name__}")

    def _failed(self) -> None:
        """Something went wrong with this server: before the next command, look up where
        it is (it may be another server now, e.g. after a Sentinel failover)."""
        self.hooks.lost()
        self._recheck = True

    async def _follow(self) -> None:
        """After a failure: where is the server now?"""
        if self._recheck:
            self._recheck = False
            self._moved(await self.hooks.endpoint(self.endpoint))

    def _moved(self, endpoint: Endpoint) -> None:
        """Connections go to ``endpoint`` from now on; those open elsewhere are closed
        (idle ones at once, busy ones are left to finish or fail)."""
        place = (endpoint.host, endpoint.port)
        if self._at is not None and place != self._at:
            log.warning("redis %s: now at %s:%d", self.name, *place)
            for conn in self._idle:
                conn.close()
            if self._command is not None:
                self._command.close()
        self._at = place

    async def _open(self, timeout: float | None, coalesce: bool = False) -> RespConnection:
        """A new connection to wherever the hooks say the server is now."""
        endpoint = await self.hooks.endpoint(self.endpoint)
        self._moved(endpoint)
        conn = await connect(endpoint, timeout, self.connect_timeout, coalesce)
        self.connected()
        return conn

    # -- commands ------------------------------------------------------------------------

    async def _connection(self) -> RespConnection:
        """The shared command connection, (re)opened on demand: a server that restarted
        closed it, which asyncio notices at once, so the next call simply reconnects."""
        if self._recheck:
            await self._follow()
        conn = self._command
        if conn is not None and conn.open:
            return conn
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._command is None or not self._command.open:
                self._command = await self._open(self.socket_timeout, coalesce=True)
                await self._read_clock(self._command)
            return self._command

    async def _read_clock(self, conn: RespConnection) -> None:
        """Learn the server's clock as soon as we talk to it: message deadlines and
        expiries are read on it, so machines with skewed clocks still agree."""
        seconds, micros = await conn.call(pack(b"TIME"))
        self.learn_clock(int(seconds) * 1000 + int(micros) // 1000)

    def call_soon(
        self, packed: bytes, settle: Settle, orphan: Orphan | None = None
    ) -> asyncio.Future[Any] | None:
        """One packed command on the shared connection, begun at once: its future,
        which ``settle`` resolves from the reply or the error as it is read (``orphan``
        gets the reply if the caller left); None when the connection must first be
        opened or looked for (then use the coroutines)."""
        conn = self._command
        if conn is None or not conn.open or self._recheck:
            return None
        return conn.call(packed, settle=settle, orphan=orphan)

    def join_soon(
        self, key: K, make: type[Batch[K]], part: bytes, settle: Settle
    ) -> asyncio.Future[Any] | None:
        """As :meth:`call_soon`, for a call that may share one command with the calls
        of the same batch ``key`` next to it (see :meth:`RespConnection.join`)."""
        conn = self._command
        if conn is None or not conn.open or self._recheck:
            return None
        return conn.join(key, make, part, settle)

    def failure(self, exc: BaseException) -> BaseException | None:
        """What a command begun with :meth:`call_soon` raises for ``exc``: the server not
        there is :class:`LayerUnavailable` (as from the coroutines); None when the
        command never ran and should go the long way (a script not loaded yet, a
        cluster redirection)."""
        if isinstance(exc, _NOT_RUN):
            return None
        if isinstance(exc, _UNAVAILABLE):
            return self._unreachable(exc)
        return exc

    async def call(
        self, *args: Arg, packed: bytes | None = None, orphan: Orphan | None = None
    ) -> Any:
        """One command on the shared connection; ``packed``: ``args`` packed already
        (a hot path keeps them); ``orphan``: gets the reply if the caller left."""
        try:
            conn = self._command
            if conn is None or not conn.open or self._recheck:
                conn = await self._connection()
            try:
                future = conn.call(packed or pack(*args), orphan=orphan)
                try:
                    return await future
                except asyncio.CancelledError:
                    if orphan is not None:
                        _late_reply(future, orphan)
                    raise
            except _REDIRECTED:
                return await self.hooks.redirected(*args)
        except _UNAVAILABLE as exc:
            raise self._unreachable(exc) from exc

    async def script(
        self, name: str, keys: Sequence[Arg], args: Sequence[Arg], packed: bytes | None = None
    ) -> Any:
        """Run script ``name``; ``packed``: its ``EVALSHA`` command, packed by a caller
        that keeps most of its bytes from call to call."""
        sha, source = self._scripts[name]
        try:
            conn = self._command
            if conn is None or not conn.open or self._recheck:
                conn = await self._connection()
            try:
                return await self._eval(conn, sha, source, keys, args, packed)
            except _REDIRECTED:
                try:
                    return await self.hooks.redirected(b"EVALSHA", sha, len(keys), *keys, *args)
                except NoScriptError:
                    return await self.hooks.redirected(b"EVAL", source, len(keys), *keys, *args)
        except _UNAVAILABLE as exc:
            raise self._unreachable(exc) from exc

    @staticmethod
    async def _eval(
        conn: RespConnection,
        sha: bytes,
        source: bytes,
        keys: Sequence[Arg],
        args: Sequence[Arg],
        packed: bytes | None = None,
    ) -> Any:
        try:
            return await conn.call(packed or pack(b"EVALSHA", sha, len(keys), *keys, *args))
        except NoScriptError:  # a new or restarted server: EVAL also caches it
            return await conn.call(pack(b"EVAL", source, len(keys), *keys, *args))

    async def replicated_script(
        self, name: str, keys: Sequence[Arg], args: Sequence[Arg], at_least: int
    ) -> Any:
        """A script whose writes count only once every replica online (``ROLE``), and
        at least ``at_least`` replicas, have them: ``WAIT``, which needs the script's
        own connection (one of the blocking ones). Fewer in time:
        :class:`LayerUnavailable`, though the primary keeps the write (at least once)."""
        sha, source = self._scripts[name]
        wait_ms = int(self.socket_timeout * 1000)
        with self.reachable():
            conn = await self._take_blocking()
            try:
                ran = conn.call(pack(b"EVALSHA", sha, len(keys), *keys, *args))
                role = conn.call(pack(b"ROLE"))  # in the same round trip
                try:
                    reply = await ran
                except NoScriptError:
                    reply = await conn.call(pack(b"EVAL", source, len(keys), *keys, *args))
                wanted = max(at_least, len((await role)[2]))
                acked = wanted
                if wanted:
                    waited = pack(b"WAIT", wanted, wait_ms)
                    acked = int(await conn.call(waited, timeout=wait_ms / 1000 + BLOCK_GRACE))
            except BaseException:
                conn.close()  # which fails whatever is still pending on it
                self._give_back(conn)
                if role.done() and not role.cancelled():
                    role.exception()  # seen: it failed with the connection
                raise
            self._give_back(conn)
        if acked < wanted:  # maybe a primary that was replaced: look it up again
            self._failed()
            raise LayerUnavailable(
                f"redis {self.name}: a write reached {acked} of {wanted} replica(s) in time"
            )
        return reply

    @property
    def lmpop(self) -> bool:
        """Whether the server has ``LMPOP`` and ``BLMPOP`` (Redis 7), as far as known."""
        return self._blmpop

    async def take(self, command: tuple[Arg, ...], packed: bytes) -> Popped | None:
        """``LPOP key`` or ``LMPOP n keys... LEFT`` (``command``, and ``packed``) on the
        shared connection: (list key, entry), or None (nothing there, or no ``LMPOP``).
        What a cancelled caller took goes back to the head of its list."""
        try:
            reply = await self.call(*command, packed=packed, orphan=self.orphan_of(command))
        except ResponseError as exc:
            if "unknown command" not in str(exc).lower():
                raise
            self._blmpop = False  # Redis < 7
            return None
        if isinstance(reply, list):  # LMPOP: [key, [entry]]
            return reply[0].decode(), reply[1][0]
        return None if reply is None else (_text(command[1]), reply)

    async def take_many(self, keys: Sequence[str], count: int) -> tuple[str, list[bytes]] | None:
        """Up to ``count`` entries of the first of ``keys`` that has any, without
        blocking, on the shared connection (``LPOP key count``, ``LMPOP``): (list key,
        entries), or None."""
        if len(keys) == 1:
            command: tuple[Arg, ...] = (b"LPOP", keys[0], count)
            taken = await self.call(*command, orphan=self.orphan_of(command))
            return None if not taken else (keys[0], taken)
        command = (b"LMPOP", len(keys), *keys, b"LEFT", b"COUNT", count)
        try:
            reply = await self.call(*command, orphan=self.orphaned)
        except ResponseError as exc:
            if "unknown command" not in str(exc).lower():
                raise
            self._blmpop = False  # Redis < 7
            return None
        return None if reply is None else (reply[0].decode(), list(reply[1]))

    # -- blocking pops -------------------------------------------------------------------

    async def _take_blocking(self) -> RespConnection:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        await self._slots.acquire()
        try:
            await self._follow()
            while self._idle:
                conn = self._idle.pop()
                if conn.open:
                    return conn
                self._blocking.discard(conn)
            conn = await self._open(None)
            self._blocking.add(conn)
            return conn
        except BaseException:
            self._slots.release()
            raise

    def _give_back(self, conn: RespConnection) -> None:
        if conn.open and not conn.busy:
            self._idle.append(conn)
        else:
            conn.close()
            self._blocking.discard(conn)
        assert self._slots is not None
        self._slots.release()

    async def blocking_pop(self, keys: Sequence[str], seconds: float) -> Popped | None:
        """``BLPOP`` on a connection of its own: (key, entry), or None after ``seconds``.

        If the caller is cancelled, the pop is unblocked in the background and whatever
        it took goes back to the head of its list, so cancelling never loses a message.
        """
        reply = await self._blocking_call(pack(b"BLPOP", *keys, b"%.3f" % seconds), seconds)
        return None if reply is None else (reply[0].decode(), reply[1])

    async def blocking_pop_many(
        self, keys: Sequence[str], seconds: float, count: int
    ) -> tuple[str, list[bytes]] | None:
        """Like :meth:`blocking_pop`, but up to ``count`` entries of the first list that
        has any (``BLMPOP``, Redis 7; one entry on older servers)."""
        if count > 1 and self._blmpop:
            command = pack(b"BLMPOP", f"{seconds:.3f}", len(keys), *keys, b"LEFT", b"COUNT", count)
            try:
                reply = await self._blocking_call(command, seconds)
            except ResponseError as exc:
                if "unknown command" not in str(exc).lower():
                    raise
                self._blmpop = False
            else:
                return None if reply is None else (reply[0].decode(), list(reply[1]))
        popped = await self.blocking_pop(keys, seconds)
        return None if popped is None else (popped[0], [popped[1]])

    async def _blocking_call(self, command: bytes, seconds: float) -> Any:
        with self.reachable():
            conn = await self._take_blocking()
            future = conn.call(
                command,
                timeout=seconds + BLOCK_GRACE,
                orphan=self.orphaned,  # a reply after the caller left goes back
            )
            try:
                reply = await future
            except asyncio.CancelledError:
                _late_reply(future, self.orphaned)
                self._spawn(self._abandon(conn))  # which gives the connection back
                raise
            except BaseException:
                conn.close()
                self._give_back(conn)
                raise
        self._give_back(conn)
        return reply

    def orphan_of(self, command: tuple[Arg, ...]) -> Orphan:
        """Who gives back what a non-blocking pop took for a caller that left: an
        ``LMPOP`` reply names its list, an ``LPOP`` reply does not."""
        if command[0] != b"LPOP":
            return self.orphaned
        key = command[1]
        return lambda taken: self.orphaned(None if taken is None else (key, taken))

    def orphaned(self, reply: Any) -> None:
        """A pop whose caller was cancelled took entries: put them back."""
        if reply is not None:
            key, taken = reply
            taken = taken if isinstance(taken, list) else [taken]  # BLMPOP or BLPOP
            self._spawn(self.requeue(_text(key), *taken))

    async def _abandon(self, conn: RespConnection) -> None:
        try:
            for _ in range(UNBLOCK_TRIES):
                if not conn.busy:
                    break
                with contextlib.suppress(LayerUnavailable):
                    await self.call(b"CLIENT", b"UNBLOCK", conn.client_id or 0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await conn.drained()
        finally:
            self._give_back(conn)  # closed if the pop is still blocked

    async def requeue(self, key: str, *entries: bytes) -> None:
        """Put entries taken but not delivered back at the head of their list."""
        await self.script("requeue", [key], [self.expiry_ms, *entries])

    # -- housekeeping --------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "redis %s: giving back an abandoned pop failed: %s", self.name, task.exception()
            )

    async def keys_with(self, prefix: str) -> list[bytes]:
        """Every key that starts with ``prefix`` (SCAN: never blocks the server long)."""
        cursor: Any = b"0"
        pattern = _glob_escape(prefix) + "*"
        found: list[bytes] = []
        while True:
            cursor, keys = await self.call(b"SCAN", cursor, b"MATCH", pattern, b"COUNT", 500)
            found.extend(keys)
            if cursor == b"0":
                return found

    async def delete_prefix(self, prefix: str, by_slot: bool = False) -> None:
        """Delete every key that starts with ``prefix``; ``by_slot``: a cluster node,
        where one command may only name keys of one slot."""
        keys = await self.keys_with(prefix)
        batches: list[list[bytes]] = []
        if by_slot:
            slots: dict[int, list[bytes]] = {}
            for key in keys:
                slots.setdefault(key_slot(key), []).append(key)
            batches = list(slots.values())
        else:
            batches = [keys[i : i + 500] for i in range(0, len(keys), 500)]
        await asyncio.gather(*(self.call(b"UNLINK", *batch) for batch in batches))

    async def close(self) -> None:
        if self._background:
            await asyncio.wait(set(self._background), timeout=BLOCK_GRACE)
        for conn in [*self._blocking, *([self._command] if self._command else [])]:
            conn.close()
        self._idle.clear()
        self._blocking.clear()
        self._command = None


def _late_reply(future: asyncio.Future[Any], orphan: Orphan) -> None:
    """A reply that came just as its caller was cancelled goes to ``orphan`` (one that
    comes later finds the future cancelled, and resp.py hands it over itself)."""
    if future.done() and not future.cancelled() and future.exception() is None:
        orphan(future.result())


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _text(key: Arg) -> str:
    """A list key as given in a command (str) or read from a reply (bytes)."""
    return key.decode() if isinstance(key, bytes) else str(key)

"""One Redis server of a layer: its two connection pools, its scripts, and blocking pops
that can be abandoned without losing the message they may have taken.

Commands and blocking pops use separate pools. Command connections keep a short
``socket_timeout`` so a hung server fails fast; blocking connections have none (redis-py
8 defaults to 5 s, which would kill any pop that waits longer) and are guarded by an
asyncio deadline a little past the pop's own server-side timeout instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateways.layers.errors import LayerUnavailable
from gateways.layers.redis import scripts
from gateways.layers.redis.entries import HEAD
from gateways.layers.redis.settings import ShardAddress

log = logging.getLogger("gateways.layers.redis")

#: Extra time a blocking pop may take past its server-side timeout before the server
#: counts as unreachable.
BLOCK_GRACE = 5.0
#: How many times an abandoned pop is asked to stop (``CLIENT UNBLOCK``) before it is
#: left to run out its own (short) timeout.
UNBLOCK_TRIES = 20

Popped = tuple[str, bytes]  # (list key, raw entry)

_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError)


class Shard:
    def __init__(
        self,
        address: ShardAddress,
        *,
        max_connections: int,
        socket_timeout: float,
        socket_connect_timeout: float,
    ) -> None:
        self.name = address.name
        options: dict[str, Any] = {
            **parse_url(address.url),
            "max_connections": max_connections,
            "socket_connect_timeout": socket_connect_timeout,
            "socket_keepalive": True,
            # One quick retry replaces a connection that died with a restarted server;
            # no backoff, so an outage surfaces at once as LayerUnavailable.
            "retry": Retry(NoBackoff(), 1),
            "timeout": max(socket_timeout, 5.0),  # wait for a free pooled connection
        }
        self.commands = Redis(
            connection_pool=BlockingConnectionPool(**options, socket_timeout=socket_timeout)
        )
        self.blocking = BlockingConnectionPool(**options, socket_timeout=None)
        self._scripts = {
            name: self.commands.register_script(getattr(scripts, name.upper()))
            for name in ("send", "group_send", "group_add", "group_members", "pop", "requeue")
        }
        self._scripts["ack"] = self.commands.register_script(scripts.ACK)
        self._background: set[asyncio.Task[None]] = set()
        #: Server clock minus ours, in seconds, learned from script replies; entries
        #: carry expiry times on the server's clock.
        self.clock_offset: float | None = None

    def learn_clock(self, server_ms: int) -> None:
        self.clock_offset = server_ms / 1000 - time.time()

    def expired(self, raw: bytes) -> bool:
        """Whether an entry's lifetime is over (unknown server clock: assume not)."""
        if self.clock_offset is None:
            return False
        return int(raw[:HEAD]) <= (time.time() + self.clock_offset) * 1000

    def __repr__(self) -> str:
        return f"<Shard {self.name}>"

    @contextlib.contextmanager
    def reachable(self) -> Iterator[None]:
        """Turn every way of not reaching Redis into :class:`LayerUnavailable`."""
        try:
            yield
        except _UNAVAILABLE as exc:
            raise LayerUnavailable(f"redis {self.name}: {exc or type(exc).__name__}") from exc

    async def script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        with self.reachable():
            return await self._scripts[name](keys=keys, args=args)

    # -- blocking pops -------------------------------------------------------------------

    async def blocking_pop(self, keys: Sequence[str], seconds: float) -> Popped | None:
        """``BLPOP`` on a connection of its own: (key, entry), or None after ``seconds``.

        If the caller is cancelled, the pop is unblocked in the background and whatever
        it took goes back to the head of its list, so cancelling never loses a message.
        """
        with self.reachable():
            conn = await self.blocking.get_connection()
        call = asyncio.ensure_future(self._blpop(conn, keys, seconds))
        try:
            popped = await asyncio.shield(call)
        except asyncio.CancelledError:
            self._spawn(self._abandon(conn, call))  # which releases the connection
            raise
        except BaseException:
            await self.blocking.release(conn)
            raise
        await self.blocking.release(conn)
        return popped

    async def _blpop(self, conn: Any, keys: Sequence[str], seconds: float) -> Popped | None:
        if not hasattr(conn, "gateways_client_id"):
            conn.register_connect_callback(self._connected)
            conn.gateways_client_id = None
        # The id lets an abandoned pop be unblocked; asked once per (re)connection.
        ask_id = conn.gateways_client_id is None
        with self.reachable():
            try:
                async with asyncio.timeout(seconds + BLOCK_GRACE):
                    commands: list[tuple[Any, ...]] = [("CLIENT", "ID")] if ask_id else []
                    commands.append(("BLPOP", *keys, f"{seconds:.3f}"))
                    await conn.send_packed_command(conn.pack_commands(commands))
                    if ask_id:
                        conn.gateways_client_id = await conn.read_response()
                    reply = await conn.read_response()
            except BaseException:
                conn.gateways_client_id = None
                await conn.disconnect()
                raise
        return None if reply is None else (reply[0].decode(), bytes(reply[1]))

    def _connected(self, conn: Any) -> None:
        conn.gateways_client_id = None  # a new connection has a new id

    async def _abandon(self, conn: Any, call: asyncio.Future[Popped | None]) -> None:
        try:
            for _ in range(UNBLOCK_TRIES):
                if call.done():
                    break
                client_id = getattr(conn, "gateways_client_id", None)
                if client_id is not None:
                    await self.commands.execute_command("CLIENT", "UNBLOCK", client_id)
                await asyncio.wait([call], timeout=0.05)
            await asyncio.wait([call])
            popped = None if call.cancelled() or call.exception() else call.result()
            if popped is not None:
                await self.requeue(*popped)
        finally:
            await self.blocking.release(conn)

    async def requeue(self, key: str, *entries: bytes) -> None:
        """Put entries taken but not delivered back at the head of their list."""
        await self.script("requeue", [key], entries)

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

    async def delete_prefix(self, prefix: str) -> None:
        with self.reachable():
            batch: list[bytes] = []
            async for key in self.commands.scan_iter(match=_glob_escape(prefix) + "*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    await self.commands.unlink(*batch)
                    batch.clear()
            if batch:
                await self.commands.unlink(*batch)

    async def close(self) -> None:
        if self._background:
            await asyncio.wait(set(self._background), timeout=BLOCK_GRACE)
        await self.commands.aclose()
        await self.blocking.disconnect()


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)

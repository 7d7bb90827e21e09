"""One IRC network: a connection of the ``irc`` package's asyncio client, kept alive.

It registers (server password, SASL PLAIN, a free nick), identifies to NickServ, joins
its channels, turns chat events into messages, and sends what consumers ask for
through a paced queue. It checks the link with PING (measuring the lag) and, when the
link dies, reconnects with exponential backoff and joins every channel again.

Its events go to ``publish`` (the network's flow), which may stop reading the network
(:meth:`NetworkClient.pause_reading`) while its consumers catch up: the state belongs to
the client, not to one connection, so a connection opened while paused starts paused.

Its loops run as services of the interface (``daemon``), which names them, logs their
failures and cancels them at the end; the client only keeps the tasks of one session
(keep-alive, a pending rejoin), to cancel them when that session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any

from gateways.plugin import Throttled, printable
from gateways_irc import _compat, login
from gateways_irc._types import Daemon, Publish
from gateways_irc.events import receive_fields
from gateways_irc.flood import TokenBucket
from gateways_irc.options import Network
from gateways_irc.text import clean, is_target, join_lines, lines_for
from gateways_irc.wire import Reactor

log = logging.getLogger("gateways.irc")

RECEIVE_CHANNEL = "irc-client.receive"
CONNECT_CHANNEL = "irc-client.connect"
DISCONNECT_CHANNEL = "irc-client.disconnect"
CONNECT_TIMEOUT = 30.0
REGISTER_TIMEOUT = 60.0
VERSION_REPLY = "gateways-irc 0.1.0"
JOIN_REFUSALS = ("channelisfull", "inviteonlychan", "bannedfromchan", "badchannelkey")
GOODBYE = "gateways shutting down"

#: CTCP answers waiting to be sent, at most one per nick; more queries are ignored.
CTCP_QUEUE_MAX = 8
#: CTCP queries answered per second once a burst of CTCP_QUEUE_MAX is spent, whatever
#: the flood rate: a CTCP flood is not echoed back at the speed it comes in.
CTCP_RATE = 0.5
#: Channels the bot remembers being in (to rejoin them); a server claiming more is lying.
MAX_CHANNELS = 1000


def _not_started(channel: str, message: dict[str, Any]) -> None:
    raise RuntimeError("NetworkClient.start() was not called")


class NetworkClient:
    """One network's connection; its tasks run through ``daemon``, and ``changed`` is
    called when the queue empties or the link drops (a drain may be waiting for it)."""

    def __init__(self, network: Network, daemon: Daemon, changed: Callable[[], None]) -> None:
        self.network = network
        self.name = network.name
        self.label = f"irc[{network.name}]"
        #: Per-event and per-message warnings: a flood writes one line a minute, with counts.
        self.warn = Throttled(log)
        self.reply_channel = ""  # given by start()
        self.publish: Publish = _not_started
        self.daemon = daemon
        self.changed = changed
        self.reactor = Reactor(loop=asyncio.get_running_loop())
        self.connection: Any = self.reactor.server()
        self.connection.label, self.connection.warn = self.label, self.warn
        self.wanted: dict[str, str] = {c.split(" ")[0].lower(): c for c in network.channel}
        self.pending: deque[str] = deque()  # consumers' lines, up to queue_max
        self.ctcp: dict[str, str] = {}  # nick -> CTCP answer; sent when pending is empty
        self.ctcp_bucket = TokenBucket(CTCP_RATE, CTCP_QUEUE_MAX)
        self.bucket = TokenBucket(network.flood_rate, network.flood_burst)
        self.ready = asyncio.Event()  # registered: lines may go out
        self.first_outcome = asyncio.Event()  # the first attempt connected or failed
        self.lag: float | None = None
        self.lines_sent = 0
        self.reading_paused = False
        self.pauses = 0  # how often reading was paused (the keep-alive looks)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._ended: asyncio.Future[bool] | None = None
        self._register_timer: asyncio.TimerHandle | None = None
        self._own_userhost: str | None = None
        self._nicks: Iterator[str] = iter(())
        self._pong: tuple[str, asyncio.Event] | None = None
        self._session_tasks: set[asyncio.Task[Any]] = set()
        self._pings = itertools.count(1)
        self._add_handlers()

    # -- life --------------------------------------------------------------------------

    def start(self, reply_channel: str, publish: Publish) -> None:
        """Connect (and keep connected); events name ``reply_channel`` for replies and
        go to ``publish``, in the order they happened."""
        self.reply_channel = reply_channel
        self.publish = publish
        self.daemon(self.run(), f"irc {self.name} run")
        self.daemon(self._send_loop(), f"irc {self.name} send")

    def _session_task(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """A task that lives no longer than the current connection."""
        task = self.daemon(work, f"irc {self.name} {what}")
        self._session_tasks.add(task)
        task.add_done_callback(self._session_tasks.discard)

    async def run(self) -> None:
        """Connect, stay connected, reconnect with exponential backoff until stopped."""
        failures = 0
        try:
            while not self._stop.is_set():
                registered = await self._session()
                self.first_outcome.set()
                if self._stop.is_set():
                    break
                failures = 0 if registered else failures + 1
                await self._pause(failures)
        finally:
            self._hang_up()  # cancelled at the end of a drain: never leave the socket open

    async def _pause(self, failures: int) -> None:
        net = self.network
        delay = min(net.reconnect_max_delay, net.reconnect_delay * 2 ** max(failures - 1, 0))
        log.info("%s: reconnecting in %.1fs", self.label, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)

    async def _session(self) -> bool:
        """One connection, from opening the socket to losing it; True if it registered."""
        loop = asyncio.get_running_loop()
        self._ended = ended = loop.create_future()
        net = self.network
        try:
            await asyncio.wait_for(self._open(), CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            log.warning(
                "%s: cannot connect to %s://%s: %s", self.label, net.scheme, net.address, exc
            )
            return False
        self._register_timer = loop.call_later(REGISTER_TIMEOUT, self._registration_timeout)
        try:
            return await ended
        finally:
            if self._register_timer is not None:
                self._register_timer.cancel()
            for task in list(self._session_tasks):
                task.cancel()

    async def _open(self) -> None:
        net = self.network
        self._nicks = login.nick_candidates(net)
        self._own_userhost = None
        await self.connection.connect(
            net.host,
            net.port,
            net.nick,
            password=net.password,
            username=net.username,
            ircname=net.realname,
            connect_factory=login.connect_factory(net),
        )
        if self.reading_paused:  # nothing was read yet: the new link waits like the old
            self._transport_call("pause_reading")
        login.start_sasl(self.connection, net)

    def _registration_timeout(self) -> None:
        if self.reading_paused and not self.ready.is_set():  # the welcome waits unread
            loop = asyncio.get_running_loop()
            self._register_timer = loop.call_later(REGISTER_TIMEOUT, self._registration_timeout)
        elif not self.ready.is_set():
            log.warning("%s: not registered after %.0fs; dropping", self.label, REGISTER_TIMEOUT)
            self.drop()

    def drop(self) -> None:
        """Cut the link at once (dead server); the disconnect event follows."""
        transport = getattr(self.connection, "transport", None)
        if transport is not None:
            transport.abort()

    # -- backpressure: what the network's flow calls ----------------------------------

    def pause_reading(self) -> None:
        """Read nothing more from the server (its lines wait in TCP) until
        :meth:`resume_reading`; holds for the connections opened meanwhile too."""
        self.reading_paused = True
        self.pauses += 1
        self._transport_call("pause_reading")

    def resume_reading(self) -> None:
        self.reading_paused = False
        self._transport_call("resume_reading")

    def _transport_call(self, method: str) -> None:
        """``pause_reading``/``resume_reading`` on the current connection's transport, if
        it has an open one (``AioConnection.connect`` sets ``transport``, a public
        attribute; a closed one stays there until the next connect)."""
        transport = getattr(self.connection, "transport", None)
        if transport is not None and not transport.is_closing():
            getattr(transport, method)()

    # -- drain: stop(), wait while unsent(), quit(), then gone() ---------------------------

    def stop(self) -> None:
        """Reconnect no more; the link stays up while queued lines go out."""
        self._stop.set()

    def unsent(self) -> int:
        """Queued lines that can still go out (none while the link is down)."""
        return len(self.pending) if self.ready.is_set() else 0

    def quit(self) -> None:
        """Say goodbye (QUIT); what is still queued is lost, with a warning."""
        self.ctcp.clear()
        if self.pending:
            log.warning("%s: %d queued line(s) not sent", self.label, len(self.pending))
        if self.connection.connected:
            self.connection.quit(GOODBYE)

    async def gone(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the server to close the link after QUIT, then close
        it ourselves if it did not."""
        if self._ended is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._ended), timeout)
        self._hang_up()

    def _hang_up(self) -> None:
        if self.connection.connected:
            self.connection.disconnect(GOODBYE)

    # -- sending -----------------------------------------------------------------------

    def enqueue(self, message: Mapping[str, Any]) -> int:
        """Queue the lines for a reply or send; raise OutgoingError if it makes none."""
        lines = lines_for(message, self.source_length())
        if len(self.pending) + len(lines) > self.network.queue_max:
            self.warn.warning(
                f"{self.label} queue full",
                "%s: send queue full (%d lines); dropped a %s to %s",
                self.label,
                len(self.pending),
                printable(str(message.get("type", "message"))),
                printable(str(message.get("channel"))),
            )
            return 0
        self.pending.extend(lines)
        self._wake.set()
        return len(lines)

    def source_length(self) -> int:
        """Bytes of the ``:nick!user@host `` prefix the server adds when relaying our lines
        (the real one once our own JOIN showed it, else a generous guess)."""
        nick = self.connection.get_nickname() or self.network.nick
        userhost = self._own_userhost or f"~{self.network.username[:10]}@{'h' * 63}"
        return len(f":{nick}!{userhost} ".encode())

    async def _send_loop(self) -> None:
        while True:
            if not (self.pending or self.ctcp) or not self.ready.is_set():
                if not self.pending:
                    self.changed()
                self._wake.clear()
                await self._wake.wait()
                continue
            await self.bucket.take()
            line = self._next_line() if self.ready.is_set() else None
            if line is not None:
                self.connection.send_raw(line)
                self.lines_sent += 1

    def _next_line(self) -> str | None:
        """Consumers' lines first: CTCP answers only go out when none wait."""
        if self.pending:
            return self.pending.popleft()
        if self.ctcp:
            return self.ctcp.pop(next(iter(self.ctcp)))
        return None

    # -- events ------------------------------------------------------------------------

    def _add_handlers(self) -> None:
        handlers = {
            "welcome": self._on_welcome,
            "nicknameinuse": self._on_nick_refused,
            "erroneusnickname": self._on_nick_refused,
            "unavailresource": self._on_nick_refused,
            "disconnect": self._on_disconnect,
            "error": self._on_error,
            "login_failed": self._on_login_failed,
            "saslsuccess": self._on_sasl_success,
            "join": self._on_join,
            "part": self._on_part,
            "kick": self._on_kick,
            "pong": self._on_pong,
            "ctcp": self._on_ctcp,
            **dict.fromkeys(JOIN_REFUSALS, self._on_join_refused),
        }
        for event, handler in handlers.items():
            self.reactor.add_global_handler(event, handler)
        self.reactor.add_global_handler("all_events", self._on_any, 10)

    def _own(self, nick: str | None) -> bool:
        return bool(nick) and str(nick).lower() == str(self.connection.get_nickname()).lower()

    def _own_event(self, event: Any) -> bool:
        """The bot did it (a server line without a ``nick!user@host`` source: not us)."""
        return event.source is not None and self._own(event.source.nick)

    def _connection_event(self) -> dict[str, Any]:
        return {
            "reply_channel": self.reply_channel,
            "network": self.name,
            "server": self.network.address,
            "nick": self.connection.get_nickname(),
        }

    def _on_welcome(self, connection: Any, event: Any) -> None:
        net = self.network
        log.info(
            "%s: connected to %s://%s as %s",
            self.label,
            net.scheme,
            net.address,
            printable(str(connection.get_nickname())),  # as the server's 001 says
        )
        if net.nickserv_password:
            account = net.nickserv_account or ""
            connection.privmsg("NickServ", f"IDENTIFY {account} {net.nickserv_password}".strip())
        for line in join_lines(list(self.wanted.values())):
            connection.send_raw(line)
        self.ready.set()
        self._wake.set()
        self.first_outcome.set()
        if net.ping_interval:
            self._session_task(self._keepalive(), "keepalive")
        self.publish(CONNECT_CHANNEL, self._connection_event())

    def _on_disconnect(self, connection: Any, event: Any) -> None:
        was_ready = self.ready.is_set()
        self.ready.clear()
        reason = event.arguments[0] if event.arguments else ""
        if was_ready:
            level = logging.INFO if self._stop.is_set() else logging.WARNING
            log.log(level, "%s: disconnected from %s %s", self.label, self.network.address, reason)
            self.publish(DISCONNECT_CHANNEL, self._connection_event())
            self.changed()
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(was_ready)

    def _on_error(self, connection: Any, event: Any) -> None:
        level = logging.INFO if self._stop.is_set() else logging.WARNING
        self.warn.log(
            level,
            f"{self.label} error",
            "%s: server says ERROR %s",
            self.label,
            printable(str(event.target)),
        )

    def _on_login_failed(self, connection: Any, event: Any) -> None:
        reason = printable(_compat.login_failure(event))
        self.warn.error(f"{self.label} sasl", "%s: SASL login failed: %s", self.label, reason)

    def _on_sasl_success(self, connection: Any, event: Any) -> None:
        log.info("%s: SASL login as %s succeeded", self.label, self.network.sasl_username)

    def _on_nick_refused(self, connection: Any, event: Any) -> None:
        refused = printable(str(event.arguments[0])) if event.arguments else "?"
        key = f"{self.label} nick refused"
        if self.ready.is_set():
            self.warn.warning(key, "%s: nick %s refused: %s", self.label, refused, event.type)
            return
        nick = next(self._nicks)
        self.warn.warning(
            key, "%s: nick %s refused (%s); trying %s", self.label, refused, event.type, nick
        )
        connection.nick(nick)

    def _on_join(self, connection: Any, event: Any) -> None:
        if not self._own_event(event):
            return
        self._own_userhost = event.source.userhost
        channel = str(event.target)
        if len(self.wanted) >= MAX_CHANNELS and channel.lower() not in self.wanted:
            self.warn.warning(f"{self.label} channels", "%s: in too many channels", self.label)
            return
        self.wanted.setdefault(channel.lower(), channel)
        log.info("%s: joined %s", self.label, printable(channel))

    def _on_part(self, connection: Any, event: Any) -> None:
        if self._own_event(event):
            self.wanted.pop(str(event.target).lower(), None)
            log.info("%s: left %s", self.label, printable(str(event.target)))

    def _on_kick(self, connection: Any, event: Any) -> None:
        if not event.arguments or not self._own(event.arguments[0]):
            return
        channel = str(event.target)
        shown, key = printable(channel), f"{self.label} kicked"
        if not self.network.rejoin_on_kick:
            self.wanted.pop(channel.lower(), None)
            by = printable(str(event.source.nick if event.source else "the server"))
            self.warn.warning(key, "%s: kicked from %s by %s", self.label, shown, by)
            return
        delay = self.network.rejoin_delay
        self.warn.warning(key, "%s: kicked from %s; rejoining in %.1fs", self.label, shown, delay)
        self._session_task(self._rejoin(channel, delay), "rejoin")

    async def _rejoin(self, channel: str, delay: float) -> None:
        await asyncio.sleep(delay)  # the pause is the manners: no instant rejoin war
        entry = self.wanted.get(channel.lower(), channel)
        self.pending.appendleft(join_lines([entry])[0])
        self._wake.set()

    def _on_join_refused(self, connection: Any, event: Any) -> None:
        args = printable(" ".join(str(a) for a in event.arguments))
        self.warn.warning(f"{self.label} join refused", "%s: cannot join %s", self.label, args)

    def _on_ctcp(self, connection: Any, event: Any) -> None:
        """Answer CTCP VERSION and PING, as clients do, through a queue of their own:
        at most one answer waits per nick and :data:`CTCP_QUEUE_MAX` in all, at most
        :data:`CTCP_RATE` a second are answered, and one goes out only when no consumer
        line waits: a CTCP flood never fills the send queue, nor holds a consumer's line
        back by more than one paced line."""
        query = str(event.arguments[0]).upper() if event.arguments else ""
        nick = event.source.nick if event.source else None
        if not nick or query not in ("VERSION", "PING") or not is_target(nick):
            return
        full = nick.lower() in self.ctcp or len(self.ctcp) >= CTCP_QUEUE_MAX
        if full or not self.ctcp_bucket.try_take():
            self.warn.info(
                f"{self.label} ctcp", "%s: CTCP flood: a query left unanswered", self.label
            )
            return
        answer = VERSION_REPLY if query == "VERSION" else " ".join(event.arguments[1:])[:64]
        answer = clean(answer)
        self.ctcp[nick.lower()] = f"NOTICE {nick} :\x01{query} {answer}\x01"
        self._wake.set()

    def _on_any(self, connection: Any, event: Any) -> None:
        fields = receive_fields(event)
        if fields is None or self._own(fields["user"]):  # our own JOIN/PART echoes
            return
        message = {"reply_channel": self.reply_channel, "network": self.name, **fields}
        message["bot_nick"] = connection.get_nickname()
        self.publish(RECEIVE_CHANNEL, message)

    # -- keep-alive --------------------------------------------------------------------

    async def _keepalive(self) -> None:
        """PING every interval; no PONG within the timeout means the link is dead."""
        loop = asyncio.get_running_loop()
        net = self.network
        while True:
            await asyncio.sleep(net.ping_interval)  # the interval itself is the behaviour
            token = f"gateways-{next(self._pings)}"
            answered = asyncio.Event()
            self._pong = (token, answered)
            sent, pauses = loop.time(), self.pauses
            self.connection.send_raw(f"PING :{token}")  # also while paused: we are alive
            try:
                await asyncio.wait_for(answered.wait(), net.ping_timeout)
            except TimeoutError:
                if self.reading_paused or self.pauses != pauses:
                    # The PONG waits unread behind the events we stopped reading.
                    log.debug("%s: no PONG while reading was paused", self.label)
                    continue
                log.warning(  # once per connection: it ends the connection
                    "%s: no PONG within %.1fs (lag too high); reconnecting",
                    self.label,
                    net.ping_timeout,
                )
                self.drop()
                return
            if self.pauses != pauses:
                continue  # the lag of a paused link is our own delay, not the network's
            self.lag = loop.time() - sent
            slow = self.lag > net.ping_timeout / 2
            log.log(
                logging.WARNING if slow else logging.DEBUG, "%s: lag %.3fs", self.label, self.lag
            )

    def _on_pong(self, connection: Any, event: Any) -> None:
        if self._pong is None:
            return
        token, answered = self._pong
        if token == event.target or token in map(str, event.arguments):
            answered.set()

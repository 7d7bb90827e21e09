"""What a consumer is given: the message, its channel, and ways to answer.

Async consumers get :class:`Message`; sync consumers (run in a thread) get
:class:`SyncMessage`, with the same names but blocking calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

from gateways.layers.base import BaseChannelLayer

DELIVERY_KEY = "__delivery__"

#: When the message's sender gives up on it (seconds since the epoch, on the clock of
#: :meth:`BaseChannelLayer.clock` for its channel): a worker that takes it later drops
#: it unrun, so a request already answered 503 never runs (see gateways.worker).
DEADLINE_KEY = "__deadline__"


class Message(Mapping[str, Any]):
    """One received message. ``message["path"]`` reads the content."""

    __slots__ = ("channel", "content", "layer", "replied")

    def __init__(self, channel: str, content: dict[str, Any], layer: BaseChannelLayer) -> None:
        self.channel = channel
        self.content = content
        self.layer = layer
        self.replied = False

    def __getitem__(self, key: str) -> Any:
        return self.content[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.content)

    def __len__(self) -> int:
        return len(self.content)

    def __repr__(self) -> str:
        return f"<Message on {self.channel} keys={sorted(self.content)}>"

    @property
    def reply_channel(self) -> str | None:
        return self.content.get("reply_channel")

    @property
    def delivery_attempt(self) -> int:
        """1 for a first delivery; more when a durable layer delivers it again."""
        delivery = self.content.get(DELIVERY_KEY)
        return int(delivery.get("attempt", 1)) if isinstance(delivery, dict) else 1

    @property
    def deadline(self) -> float | None:
        """When the sender gives up on this message (see :data:`DEADLINE_KEY`), or None."""
        found = self.content.get(DEADLINE_KEY)
        return float(found) if isinstance(found, int | float) else None

    @property
    def redelivered(self) -> bool:
        return self.delivery_attempt > 1

    def _require_reply_channel(self) -> str:
        channel = self.reply_channel
        if not channel:
            raise ValueError(f"a message on {self.channel!r} has no reply_channel to answer on")
        return channel

    async def reply(self, content: Mapping[str, Any]) -> None:
        """Send ``content`` on this message's reply channel (at once where the layer's
        queues are in this process, or begun at once where it can: no send coroutine
        per reply)."""
        channel = self._require_reply_channel()
        layer = self.layer
        if not layer.send_now(channel, content):
            sent = layer.send_soon(channel, content)
            await (layer.send(channel, content) if sent is None else sent)
        self.replied = True


class SyncLayer:
    """Blocking twins of a layer's methods, for consumers running in a thread."""

    def __init__(self, layer: BaseChannelLayer, loop: asyncio.AbstractEventLoop) -> None:
        self._layer = layer
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._layer, name)
        if not asyncio.iscoroutinefunction(method):
            return method

        def blocking(*args: Any, **kwargs: Any) -> Any:
            future = asyncio.run_coroutine_threadsafe(method(*args, **kwargs), self._loop)
            return future.result()

        blocking.__name__ = name
        return blocking


class SyncMessage(Message):
    """A :class:`Message` whose ``reply`` and ``layer`` block instead of awaiting."""

    __slots__ = ("_async",)

    def __init__(self, message: Message, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(message.channel, message.content, message.layer)
        self._async = message
        self.layer = SyncLayer(message.layer, loop)  # type: ignore[assignment]

    def reply(self, content: Mapping[str, Any]) -> None:  # type: ignore[override]
        blocking: Any = self.layer
        blocking.send(self._require_reply_channel(), content)
        self._async.replied = self.replied = True

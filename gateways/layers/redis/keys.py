"""The Redis key of everything the layer stores.

Two layouts, one per kind of deployment:

- **flat** (one server, hash-ring shards, Sentinel): ``gateways:c:http.request``. A
  channel's keys are placed by the shard of its list; each shard holds the
  memberships of the members whose lists it holds.
- **tagged** (Redis Cluster): every key carries a hash tag, ``gateways:c:{http.request}``,
  naming what it must share a slot with, because a Lua script may only touch keys of
  one slot. A channel's list, in-flight set and in-flight hash share the channel's
  tag; a group keeps one membership set per member queue, tagged with that queue
  (``gateways:g:{queue}room``), plus an index of those queues
  (``gateways:gi:{room}``); a connection's order record and its inbox's due set share
  the inbox's tag, and ``gateways:oi`` lists the inboxes that have parked messages.
"""

from __future__ import annotations

from gateways.layers.base import real_channel


class KeySpace:
    def __init__(self, prefix: str, tagged: bool) -> None:
        if tagged and ("{" in prefix or "}" in prefix):
            raise ValueError(
                f"a Redis Cluster layer's prefix cannot hold '{{' or '}}' (got {prefix!r}): "
                "it would put every key in one slot"
            )
        self.prefix = prefix
        self.tagged = tagged
        #: What the group_send script puts around a member's queue name to get its list.
        self.list_affixes = (f"{prefix}c:{{", "}") if tagged else (f"{prefix}c:", "")

    def _tag(self, name: str) -> str:
        return f"{{{name}}}" if self.tagged else name

    # -- channels ------------------------------------------------------------------------

    def queue(self, channel: str) -> str:
        """The list holding ``channel`` (a process's ``prefix!`` inbox for its channels)."""
        return f"{self.prefix}c:{self._tag(real_channel(channel))}"

    def held(self, channel: str) -> tuple[str, str]:
        """A durable channel's in-flight set and hash."""
        name = self._tag(real_channel(channel)) if self.tagged else channel
        return f"{self.prefix}h:{name}", f"{self.prefix}m:{name}"

    def channel_of(self, queue_key: str | bytes) -> str:
        """The channel whose list ``queue_key`` is."""
        if isinstance(queue_key, bytes):
            queue_key = queue_key.decode()
        name = queue_key[len(self.prefix) + 2 :]
        return name[1:-1] if self.tagged else name

    # -- groups --------------------------------------------------------------------------

    def members(self, group: str, queue: str) -> list[str]:
        """The members of ``group`` whose lists live with ``queue``, and their marker
        (see scripts.py). Flat: one set per shard, the same name on every shard."""
        where = self._tag(queue) if self.tagged else ""
        return [f"{self.prefix}g:{where}{group}", f"{self.prefix}gt:{where}{group}"]

    def member_queues(self, group: str) -> str:
        """Tagged only: the queues that hold members of ``group``."""
        return f"{self.prefix}gi:{{{group}}}"

    # -- message groups (ordering) -------------------------------------------------------

    def order(self, group: str) -> list[str]:
        """A connection's order record and its inbox's set of groups with parked messages."""
        inbox = real_channel(group)
        if self.tagged:
            return [f"{self.prefix}o:{{{inbox}}}{group}", f"{self.prefix}od:{{{inbox}}}"]
        return [f"{self.prefix}o:{group}", f"{self.prefix}od"]

    def order_prefix(self, inbox: str) -> str:
        """What the release script puts before a group's name to get its record."""
        return f"{self.prefix}o:{{{inbox}}}" if self.tagged else f"{self.prefix}o:"

    def order_due(self, inbox: str) -> str:
        return self.order(inbox)[1]

    @property
    def order_inboxes(self) -> str:
        """Tagged only: inboxes whose due set may hold parked messages."""
        return f"{self.prefix}oi"

    # -- processes -----------------------------------------------------------------------

    def heartbeat(self, kind: str, name: str) -> str:
        return f"{self.prefix}hb:{kind}:{name}"

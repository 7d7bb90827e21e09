"""Outbound mail: the interface process takes ``email.send`` from the layer and delivers
it through ``--smtp-relay`` with aiosmtplib.

Temporary trouble (4xx answers, refused or dropped connections, timeouts) is retried
with exponential backoff; permanent refusals (5xx) are not. Whatever cannot be
delivered in the end is logged and published on ``email.send.failed``, so consumer
code can react (tell the user, try another route). ``email.send`` is durable on layers
that support it: a message is acknowledged only once it is delivered or given up on.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiosmtplib
from gateways_email._types import EmailSendFailed
from gateways_email.compose import InvalidEmail, Outgoing, compose

from gateways.layers import BaseChannelLayer
from gateways.layers.receiving import receive_forever

log = logging.getLogger("gateways.email.outbound")

SEND_CHANNEL = "email.send"
FAILED_CHANNEL = "email.send.failed"
MAX_BACKOFF = 300.0
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Relay:
    """Where and how to hand mail over (keyword arguments of ``aiosmtplib.send``)."""

    host: str
    port: int
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, host: str, port: int, settings: Mapping[str, Any], local_hostname: str
    ) -> Relay:
        password = settings.get("smtp_relay_password")
        if settings.get("smtp_relay_password_file"):
            with open(settings["smtp_relay_password_file"], encoding="utf-8") as handle:
                password = handle.read().strip()
        ca = settings.get("smtp_relay_ca")
        options: dict[str, Any] = {
            "use_tls": bool(settings.get("smtp_relay_tls")),
            # None: STARTTLS when the relay offers it; True: refuse to go on without it.
            "start_tls": True if settings.get("smtp_relay_starttls") else None,
            "tls_context": ssl.create_default_context(cafile=ca) if ca else None,
            "username": settings.get("smtp_relay_user"),
            "password": password,
            "timeout": float(settings.get("smtp_relay_timeout") or 30.0),
            "local_hostname": local_hostname,
        }
        if options["use_tls"]:
            options["start_tls"] = False
        return cls(host, port, options)


class DeliveryFailed(Exception):
    def __init__(self, reason: str, error: str, code: int | None, recipients: list[str]) -> None:
        super().__init__(error)
        self.reason, self.error, self.code, self.recipients = reason, error, code, recipients


def is_temporary(code: int | None) -> bool:
    return code is not None and 400 <= code < 500


@dataclass
class Attempt:
    """What one conversation with the relay left to do."""

    retry: list[str]
    error: str = ""
    code: int | None = None
    refused: DeliveryFailed | None = None  # recipients refused for good in this attempt


async def attempt(relay: Relay, outgoing: Outgoing, recipients: list[str]) -> Attempt:
    """One delivery try: who to try again, and who was refused for good."""
    try:
        errors, _ = await aiosmtplib.send(
            outgoing.message,
            sender=outgoing.sender,
            recipients=recipients,
            hostname=relay.host,
            port=relay.port,
            **relay.options,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        errors = {r.recipient: aiosmtplib.SMTPResponse(r.code, r.message) for r in exc.recipients}
    except aiosmtplib.SMTPResponseException as exc:
        if not is_temporary(exc.code):
            failed = DeliveryFailed("rejected", exc.message, exc.code, recipients)
            return Attempt([], refused=failed)
        return Attempt(recipients, exc.message, exc.code)
    except aiosmtplib.SMTPNotSupported as exc:  # e.g. STARTTLS required but not offered
        return Attempt([], refused=DeliveryFailed("rejected", str(exc), None, recipients))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return Attempt(recipients, f"{type(exc).__name__}: {exc}")
    refused = [r for r in recipients if r in errors and not is_temporary(errors[r].code)]
    later = [r for r in recipients if r in errors and r not in refused]
    result = Attempt(later)
    if later:
        result.error, result.code = errors[later[0]].message, errors[later[0]].code
    if refused:
        first = errors[refused[0]]
        result.refused = DeliveryFailed("rejected", first.message, first.code, refused)
    return result


class Lease:
    """A durable ``email.send`` this process holds. It is acknowledged once handled, or
    earlier, when the next retry would outlast the layer's visibility timeout: past it, the
    layer would hand the message to another process while this one still retries it, and
    the mail would go out twice."""

    def __init__(self, layer: BaseChannelLayer, channel: str, content: dict[str, Any]) -> None:
        self.layer, self.channel, self.content = layer, channel, content
        self.held = bool(layer.durable[channel])
        visibility = layer.visibility_timeout
        now = asyncio.get_running_loop().time()
        self.deadline = now + 0.8 * visibility if visibility else None

    async def release(self) -> None:
        if self.held:
            self.held = False
            await self.layer.ack(self.channel, self.content)

    async def before_wait(self, seconds: float) -> None:
        if self.deadline is None or not self.held:
            return
        if asyncio.get_running_loop().time() + seconds > self.deadline:
            log.info("retries outlast the layer's visibility timeout: taking the message over")
            await self.release()


class Outbound:
    """The ``email.send`` receive loop and the deliveries it starts."""

    def __init__(
        self,
        layer: BaseChannelLayer,
        relay: Relay,
        *,
        hostname: str,
        default_from: str | None = None,
        retries: int = 5,
        backoff: float = 2.0,
        concurrency: int = 10,
    ) -> None:
        self.layer = layer
        self.relay = relay
        self.hostname = hostname
        self.default_from = default_from
        self.retries = retries
        self.backoff = backoff
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._receive_loop(), name="email.send loop")
        self._loop_task.add_done_callback(self._loop_ended)
        log.info("delivering %s through %s:%d", SEND_CHANNEL, self.relay.host, self.relay.port)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the email.send loop died", exc_info=task.exception())

    async def _receive_loop(self) -> None:
        await self._slots.acquire()
        async for channel, content in receive_forever(
            self.layer, [SEND_CHANNEL], name="email", timeout=POLL_SECONDS, stopping=self._stopping
        ):
            task = asyncio.create_task(self._handle(channel, content))
            self._tasks.add(task)
            task.add_done_callback(self._finished)
            await self._slots.acquire()
        self._slots.release()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("email.send delivery crashed", exc_info=task.exception())

    async def _handle(self, channel: str, content: dict[str, Any]) -> None:
        lease = Lease(self.layer, channel, content)
        await self.deliver(content, lease)
        # Not reached when cancelled: a durable layer hands the message out again.
        await lease.release()

    async def deliver(self, content: dict[str, Any], lease: Lease | None = None) -> None:
        """Send one ``email.send`` message, retrying; failures go to email.send.failed."""
        try:
            outgoing = compose(content, self.hostname, self.default_from)
        except InvalidEmail as exc:
            log.error("refused an email.send message: %s", exc)
            await self.publish_failure(content, DeliveryFailed("invalid", str(exc), None, []), 0)
            return
        pending, tries = list(outgoing.recipients), 0
        while pending:
            tries += 1
            result = await attempt(self.relay, outgoing, pending)
            pending = result.retry
            if result.refused is not None:
                await self.give_up(content, outgoing, result.refused, tries)
            if pending and tries >= self.retries:
                failure = DeliveryFailed("unreachable", result.error, result.code, pending)
                await self.give_up(content, outgoing, failure, tries)
                return
            if pending:
                delay = min(MAX_BACKOFF, self.backoff * 2 ** (tries - 1))
                log.warning(
                    "delivery of %s failed (%s); try %d of %d in %.1fs",
                    outgoing.message_id,
                    result.error or result.code,
                    tries + 1,
                    self.retries,
                    delay,
                )
                if lease is not None:
                    await lease.before_wait(delay + float(self.relay.options.get("timeout", 30)))
                await asyncio.sleep(delay)  # the backoff itself
        log.info("delivered %s via %s:%d", outgoing.message_id, self.relay.host, self.relay.port)

    async def give_up(
        self, content: dict[str, Any], outgoing: Outgoing, failure: DeliveryFailed, tries: int
    ) -> None:
        log.error(
            "could not deliver %s to %s after %d tr%s (%s %s: %s)",
            outgoing.message_id,
            ", ".join(failure.recipients),
            tries,
            "y" if tries == 1 else "ies",
            failure.reason,
            failure.code or "",
            failure.error,
        )
        await self.publish_failure(content, failure, tries, outgoing.message_id)

    async def publish_failure(
        self,
        content: Any,
        failure: DeliveryFailed,
        tries: int,
        message_id: str | None = None,
    ) -> None:
        report: EmailSendFailed = {
            "message": dict(content) if isinstance(content, Mapping) else {"value": content},
            "error": failure.error,
            "reason": failure.reason,
            "code": failure.code,
            "attempts": tries,
            "recipients": failure.recipients,
            "message_id": message_id,
        }
        try:
            await self.layer.send(FAILED_CHANNEL, report)
        except Exception as exc:
            log.error("could not publish on %s: %s", FAILED_CHANNEL, exc)

    async def drain(self, grace: float) -> None:
        """Stop taking messages; let deliveries in flight finish within ``grace``."""
        self._stopping.set()
        if self._loop_task is not None:
            # Layers' receive is cancel-safe (a durable message not yet acknowledged is
            # handed out again), so there is no need to wait for the poll to time out.
            self._loop_task.cancel()
            await asyncio.wait([self._loop_task])
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in late:
                task.cancel()
            if late:
                log.warning("cancelled %d delivery(ies) still running", len(late))
                await asyncio.wait(late)

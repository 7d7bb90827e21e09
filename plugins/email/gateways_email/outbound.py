"""Outbound mail: one ``email.send`` message delivered through ``--smtp-relay`` with
aiosmtplib (the interface's receive loop hands each message to :meth:`Outbound.handle`).

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
from gateways_email.options import EmailOptions

from gateways.plugin import BaseChannelLayer, Throttled, printable

log = logging.getLogger("gateways.email.outbound")

SEND_CHANNEL = "email.send"
FAILED_CHANNEL = "email.send.failed"
MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class Relay:
    """Where and how to hand mail over (keyword arguments of ``aiosmtplib.send``)."""

    host: str
    port: int
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_options(cls, given: EmailOptions, local_hostname: str) -> Relay:
        """The relay ``--smtp-relay`` names (which must be set), with its TLS and AUTH."""
        assert given.smtp_relay is not None
        host, port = given.smtp_relay
        ca = given.smtp_relay_ca
        options: dict[str, Any] = {
            "use_tls": given.smtp_relay_tls,
            # None: STARTTLS when the relay offers it; True: refuse to go on without it.
            "start_tls": True if given.smtp_relay_starttls else None,
            "tls_context": ssl.create_default_context(cafile=ca) if ca else None,
            "username": given.smtp_relay_user,
            "password": given.relay_password(),
            "timeout": given.smtp_relay_timeout,
            "local_hostname": local_hostname,
        }
        if options["use_tls"]:
            options["start_tls"] = False
        return cls(host, port, options)

    @property
    def timeout(self) -> float:
        """Seconds one conversation with the relay may take."""
        return float(self.options["timeout"])


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
    """Delivers ``email.send`` messages: retries, leases, failure reports."""

    def __init__(
        self,
        layer: BaseChannelLayer,
        relay: Relay,
        *,
        hostname: str,
        default_from: str | None,
        retries: int,
        backoff: float,
    ) -> None:
        self.layer = layer
        self.relay = relay
        self.hostname = hostname
        self.default_from = default_from
        self.retries = retries
        self.backoff = backoff
        self.warn = Throttled(log)  # per-message errors: one line a minute per kind

    @classmethod
    def from_options(cls, layer: BaseChannelLayer, given: EmailOptions, hostname: str) -> Outbound:
        return cls(
            layer,
            Relay.from_options(given, hostname),
            hostname=hostname,
            default_from=given.smtp_from,
            retries=given.smtp_relay_retries,
            backoff=given.smtp_relay_backoff,
        )

    async def handle(self, channel: str, content: dict[str, Any]) -> None:
        """One message taken from ``channel``: deliver it, then acknowledge it."""
        lease = Lease(self.layer, channel, content)
        await self.deliver(content, lease)
        # Not reached when cancelled: a durable layer hands the message out again.
        await lease.release()

    async def deliver(self, content: dict[str, Any], lease: Lease | None = None) -> None:
        """Send one ``email.send`` message, retrying; failures go to email.send.failed."""
        try:
            outgoing = compose(content, self.hostname, self.default_from)
        except InvalidEmail as exc:
            self.warn.error("invalid", "refused an email.send message: %s", printable(str(exc)))
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
                    printable(str(result.error or result.code)),  # the relay's words
                    tries + 1,
                    self.retries,
                    delay,
                )
                if lease is not None:
                    await lease.before_wait(delay + self.relay.timeout)
                await asyncio.sleep(delay)  # the backoff itself
        log.info("delivered %s via %s:%d", outgoing.message_id, self.relay.host, self.relay.port)

    async def give_up(
        self, content: dict[str, Any], outgoing: Outgoing, failure: DeliveryFailed, tries: int
    ) -> None:
        self.warn.error(
            f"gave up {failure.reason}",
            "could not deliver %s to %s after %d tr%s (%s %s: %s)",
            outgoing.message_id,
            printable(", ".join(failure.recipients), 1000),
            tries,
            "y" if tries == 1 else "ies",
            failure.reason,
            failure.code or "",
            printable(str(failure.error)),
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
            self.warn.error("unpublished", "could not publish on %s: %s", FAILED_CHANNEL, exc)

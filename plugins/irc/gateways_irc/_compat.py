"""The one place the plugin leans on the ``irc`` package beyond its documented API.

Only the blocking ``ServerConnection.connect`` knows SASL; the asyncio connection the
plugin uses inherits the same SASL PLAIN state machine but never arms it. Arming it
takes the private ``_sasl_state_machine``, ``_sasl_step`` and ``_sasl_cap_ls``, and a
failed login reports its reason in an event whose shape has changed between releases.

Beside this module, :class:`gateways_irc.wire.Connection` calls the private
``_process_line`` (one line, parsed and dispatched) and overrides ``_handle_other``
(to let a ``QUIT`` without a reason through), so that a line the library chokes on is
skipped instead of dropping the link.

``tests/irc/test_compat.py`` fails loudly when an ``irc`` release moves any of this.
"""

from __future__ import annotations

from typing import Any

#: The events the library's SASL state machine listens to (as its ``connect`` registers).
SASL_EVENTS = ("cap", "authenticate", "saslsuccess", "saslfail")
#: The priority ``ServerConnection.connect`` gives the state machine: before any handler.
SASL_PRIORITY = -42


def arm_sasl(connection: Any, account: str, password: str) -> None:
    """Run the library's SASL PLAIN steps on ``connection`` from the next ``CAP LS``
    reply on (the caller has sent ``CAP LS`` itself, before ``NICK``/``USER``)."""
    machine = connection._sasl_state_machine
    for name in SASL_EVENTS:
        connection.reactor.remove_global_handler(name, machine)
        connection.reactor.add_global_handler(name, machine, SASL_PRIORITY)
    connection.sasl_login = account
    connection.password = password  # the library's PLAIN step reads it here
    connection._sasl_step = connection._sasl_cap_ls


def login_failure(event: Any) -> str:
    """The reason of a ``login_failed`` event: irc 20.5 puts it in ``target`` (a list
    when the server refused the password) or in ``arguments``."""
    target = event.target if isinstance(event.target, list) else [event.target]
    return " ".join(str(x) for x in [*target, *event.arguments] if x)

"""Testing gateways applications, plugins and layers.

- Communicators drive consumers in-process through the real routing and worker, with no
  server: :class:`HttpCommunicator`, :class:`WebsocketCommunicator`,
  :class:`EmailCommunicator`, :class:`IrcCommunicator` (and their base,
  :class:`ApplicationCommunicator`). Each records what the consumers sent.
- :class:`GatewaysProcess` runs ``gateways`` (or another server) in a subprocess and
  waits on its log lines; :func:`free_port`; :func:`self_signed_certificate` for TLS.
- A pytest plugin (:mod:`gateways.testing.pytest_plugin`, loaded automatically) gives the
  fixtures ``gateways_layer``, ``gateways_layer_url`` and ``gateways_server``.
- :mod:`gateways.testing.conformance` holds the layer contract suite for layer authors.

See docs/testing.md.
"""

from gateways.testing.base import App, ApplicationCommunicator, ConsumerError
from gateways.testing.http import HttpCommunicator, Response
from gateways.testing.irc import IrcCommunicator
from gateways.testing.mail import EmailCommunicator
from gateways.testing.process import GatewaysProcess, free_port
from gateways.testing.recording import Sent
from gateways.testing.tls import self_signed_certificate
from gateways.testing.websocket import WebsocketCommunicator

__all__ = [
    "App",
    "ApplicationCommunicator",
    "ConsumerError",
    "EmailCommunicator",
    "GatewaysProcess",
    "HttpCommunicator",
    "IrcCommunicator",
    "Response",
    "Sent",
    "WebsocketCommunicator",
    "free_port",
    "self_signed_certificate",
]

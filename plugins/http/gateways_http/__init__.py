"""gateways HTTP/1.1 interface plugin: Twisted transports, the httptools parser, and the
WSGI bridges (:mod:`gateways_http.wsgi`). See docs/http.md."""

from gateways_http.upgrade import UpgradeRequest

__all__ = ["UpgradeRequest"]

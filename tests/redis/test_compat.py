"""redis-py internals the Redis layer relies on (gateways/layers/redis/_compat.py).

If one of these fails after a redis-py upgrade, the layer's URL reading or TLS set-up
must be adapted in ``_compat.py`` before that release can be allowed.
"""

from __future__ import annotations

import ssl

from gateways.layers.redis._compat import read_url, tls_context


def test_a_plain_url_is_read_as_redis_py_reads_it():
    found = read_url("redis://alice:secret@cache.test:6390/3?client_name=gw")
    assert (found.host, found.port, found.db) == ("cache.test", 6390, 3)
    assert (found.username, found.password, found.client_name) == ("alice", "secret", "gw")
    assert found.tls is None and tls_context(found.tls) is None


def test_a_tls_url_gives_redis_pys_ssl_context(tls_files):
    found = read_url(f"rediss://127.0.0.1:6380/0?ssl_ca_certs={tls_files.cert}")
    context = tls_context(found.tls)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.get_ca_certs(), "the CA file of the URL was not loaded"

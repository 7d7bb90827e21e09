"""redis-py internals the Redis layer relies on (gateways/layers/redis/_compat.py).

If one of these fails after a redis-py upgrade, the layer's URL reading or TLS set-up
must be adapted in ``_compat.py`` before that release can be allowed.
"""

from __future__ import annotations

import ssl

from redis.exceptions import AskError, MovedError, NoScriptError, ReadOnlyError

from gateways.layers.redis._compat import read_url, reply_error, tls_context


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


def test_error_replies_are_named_as_redis_py_names_them():
    moved = reply_error("MOVED 3999 127.0.0.1:6381")
    assert isinstance(moved, MovedError) and (moved.slot_id, moved.port) == (3999, 6381)
    assert type(reply_error("ASK 3999 127.0.0.1:6381")) is AskError
    assert isinstance(reply_error("NOSCRIPT No matching script."), NoScriptError)
    assert isinstance(
        reply_error("READONLY You can't write against a read only replica."), ReadOnlyError
    )
    demoted = (
        "UNBLOCKED force unblock from blocking operation, "
        "instance state changed (master -> replica?)"
    )
    assert isinstance(reply_error(demoted), ReadOnlyError)

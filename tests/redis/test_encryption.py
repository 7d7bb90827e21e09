"""Optional symmetric encryption of message bodies, with key rotation (Fernet)."""

from __future__ import annotations

import pytest


async def test_bodies_are_encrypted_at_rest(redis_server, redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url, encryption_keys=["k1"])
    await layer.send("test.secret", {"card": "4111-1111"})
    with redis_server.client() as client:
        raw = client.lrange("gateways:c:test.secret", 0, -1)
    assert len(raw) == 1 and b"4111" not in raw[0]
    assert await layer.receive(["test.secret"], timeout=1) == ("test.secret", {"card": "4111-1111"})


async def test_keys_rotate_new_first_old_still_read(redis_layer_url, open_layer):
    old = open_layer(redis_layer_url, encryption_keys=["old"])
    rotated = open_layer(redis_layer_url + "?encryption_keys=new,old")
    await old.send("test.rot", {"from": "old"})
    assert (await rotated.receive(["test.rot"], timeout=1))[1] == {"from": "old"}
    await rotated.send("test.rot", {"from": "new"})
    with pytest.raises(ValueError, match="could not be decrypted"):
        await old.receive(["test.rot"], timeout=1)  # old-only readers must be upgraded first


async def test_group_sends_are_encrypted_too(redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url, encryption_keys=["k"])
    await layer.group_add("room", "test.member")
    await layer.group_send("room", {"text": "hi"})
    assert await layer.receive(["test.member"], timeout=1) == ("test.member", {"text": "hi"})

"""Redis layer URLs: servers, credentials, database, TLS and settings; bad ones refused."""

from __future__ import annotations

import pytest

from gateways.layers import LayerUnavailable, get_layer
from gateways.layers.redis.settings import ClusterAddress, SentinelAddress, parse_layer_url


def test_one_url_names_every_shard():
    shards, options = parse_layer_url("redis://:pw@h1:7001,h2,[::1]:7003/4?capacity=9")
    assert [s.name for s in shards] == ["h1:7001/4", "h2:6379/4", "[::1]:7003/4"]
    assert [s.url for s in shards][1] == "redis://:pw@h2:6379/4"
    assert options == {"capacity": 9}


def test_defaults_to_localhost_and_database_0():
    shards, _ = parse_layer_url("redis://")
    assert [s.name for s in shards] == ["localhost:6379/0"]


def test_tls_options_go_to_redis_py_and_layer_settings_are_typed(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("")  # must exist: a missing file is a settings error
    layer = get_layer(
        f"rediss://h:6380/1?ssl_ca_certs={ca}&visibility_timeout=5&batch=7"
        "&encryption_keys=a,b&durable=jobs.*&channel_capacity=http.*:500"
    )
    assert layer.shards[0].name == "h:6380/1"
    endpoint = layer.shards[0].endpoint  # redis-py reads the URL's connection settings
    assert (endpoint.host, endpoint.port, endpoint.db) == ("h", 6380, 1)
    assert endpoint.tls.ca_certs == str(ca)
    assert (layer.visibility_ms, layer.batch) == (5000, 7)
    assert layer.durable["jobs.x"] and layer.capacities["http.request"] == 500


def test_credentials_and_client_name_come_from_the_url():
    layer = get_layer("redis://ann:pw@h/3?client_name=iface&socket_timeout=0.5")
    endpoint = layer.shards[0].endpoint
    assert (endpoint.username, endpoint.password, endpoint.db) == ("ann", "pw", 3)
    assert endpoint.client_name == "iface" and endpoint.tls is None
    assert layer.shards[0].socket_timeout == 0.5  # commands; blocking pops have none


def test_a_sentinel_url_names_sentinels_service_and_database():
    url = "redis+sentinel://:pw@s1,s2:26380/mymaster/2?sentinel_password=spw&capacity=9"
    address, options = parse_layer_url(url)
    assert isinstance(address, SentinelAddress)
    assert address.sentinels == (("s1", 26379), ("s2", 26380))  # 26379 by default
    assert (address.service, address.name, options) == ("mymaster", "mymaster/2", {"capacity": 9})
    assert dict(address.sentinel_options) == {"password": "spw"}
    layer = get_layer(url)  # the primary's own credentials and database
    endpoint = layer.shards[0].endpoint
    assert (endpoint.password, endpoint.db) == ("pw", 2)
    assert layer.durable_replicas == 1  # behind Sentinel, durable sends wait for a replica


def test_connection_settings_may_come_beside_the_url(tmp_path):
    """As in a config file's [layer] table: they mean what they mean in the URL."""
    layer = get_layer(
        "redis+sentinel://s1/mymaster/0", sentinel_password="spw", client_name="gw", capacity=7
    )
    assert dict(layer.topology.shards[0].hooks.sentinel.sentinel_kwargs)["password"] == "spw"
    assert layer.shards[0].endpoint.client_name == "gw" and layer.capacity == 7


def test_a_tls_sentinel_url_uses_tls_for_the_sentinels_too(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    address, _ = parse_layer_url(f"rediss+sentinel://s1/mymaster?ssl_ca_certs={ca}")
    assert dict(address.sentinel_options) == {"ssl": True, "ssl_ca_certs": str(ca)}
    endpoint = get_layer(f"rediss+sentinel://s1/mymaster?ssl_ca_certs={ca}").shards[0].endpoint
    assert endpoint.tls.ca_certs == str(ca)  # and the primary's connections


def test_a_cluster_url_names_some_nodes():
    address, options = parse_layer_url("rediss://u:pw@n1:7000,n2/0".replace("s://", "s+cluster://"))
    assert isinstance(address, ClusterAddress)
    assert address.nodes == (("n1", 7000), ("n2", 6379))
    assert address.node_url("n3", 7002) == "rediss://u:pw@n3:7002/0"
    assert options == {} and get_layer("redis+cluster://n1/0").durable_replicas == 0


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("redis+sentinel://s1/", "names no service"),
        ("redis+sentinel://s1/mymaster/x", "database number"),
        ("redis+cluster://n1/3", "database 0 only"),
        ("redis+cluster://n1/0?prefix=a{b}:", "prefix cannot hold"),
        ("redis+shards://h/0", "no installed layer handles redis\\+shards://"),
        ("redis://h/0?sentinel_password=x", "unknown redis layer setting.*sentinel_password"),
        ("redis://h/0?durable_replicas=-1", "durable_replicas must be 0 or more"),
    ],
)
def test_bad_sentinel_and_cluster_urls_are_refused_clearly(url, error):
    with pytest.raises(ValueError, match=error):
        get_layer(url)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("redis://h:notaport/0", "bad port"),
        ("redis://h:70000/0", "bad host:port"),
        ("redis://h/zero", "database number"),
        ("redis://h1,h1:6379/0", "same server twice"),
        ("redis://h/0?colour=blue", "unknown redis layer setting.*colour"),
        ("redis://h/0?batch=lots", "batch: bad value"),
        ("redis://h/0?visibility_timeout=0", "visibility_timeout must be positive"),
        ("redis://h/0?capacity=0", "capacity must be positive"),
    ],
)
def test_bad_urls_are_refused_clearly(url, error):
    with pytest.raises(ValueError, match=error):
        get_layer(url)


async def test_a_wrong_password_is_layer_unavailable(make_redis_server, open_layer):
    server = make_redis_server(password="right")
    layer = open_layer(server.url.replace(":right@", ":wrong@"))
    with pytest.raises(LayerUnavailable, match=server.address):
        await layer.send("test.x", {})
    good = open_layer(server.url)
    await good.send("test.x", {"ok": 1})
    assert await good.receive(["test.x"], timeout=1) == ("test.x", {"ok": 1})

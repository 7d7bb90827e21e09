"""Layer backends come from plugins by URL scheme, so a third party can add one."""

from __future__ import annotations

import pytest

from gateways import hookimpl
from gateways.layers import get_layer
from gateways.layers.memory import InMemoryChannelLayer
from gateways.plugins import PluginHost


class LoudLayer(InMemoryChannelLayer):
    """A stand-in third-party layer: the memory layer under another scheme."""


class LoudPlugin:
    @hookimpl
    def gateways_layer_backends(self):
        return {"loud": lambda url, **options: LoudLayer(**options)}


@pytest.fixture
def host():
    host = PluginHost().load_installed()
    host.register(LoudPlugin(), name="loud")
    return host


async def test_a_plugin_adds_a_scheme(host):
    layer = get_layer("loud://anything", host, capacity=7)
    assert isinstance(layer, LoudLayer) and layer.capacity == 7
    await layer.send("x", {"ok": True})
    assert await layer.receive(["x"], timeout=1) == ("x", {"ok": True})
    assert {"loud://", "memory://"} <= {
        scheme for record in host.describe() for scheme in record["layer_schemes"]
    }


def test_unknown_scheme_lists_the_installed_ones(host):
    with pytest.raises(
        ValueError, match=r"no installed layer handles nope:// \(installed: .*loud://"
    ):
        get_layer("nope://", host)


@pytest.mark.parametrize("url", ["memory", "", None])
def test_url_must_have_a_scheme(host, url):
    with pytest.raises(ValueError, match="SCHEME://"):
        get_layer(url, host)


def test_memory_url_takes_settings_from_its_query(host):
    layer = get_layer("memory://?capacity=5&channel_capacity=http.*:50&expiry=2", host)
    assert (layer.capacity, layer.capacities["http.request"], layer.expiry) == (5, 50, 2.0)
    with pytest.raises(ValueError, match="no host or path"):
        get_layer("memory://somewhere", host)
    with pytest.raises(ValueError, match="expected a number"):
        get_layer("memory://?capacity=many", host)

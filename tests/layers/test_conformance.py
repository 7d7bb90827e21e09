"""The bundled layers through the installed conformance suite
(:class:`gateways.testing.conformance.LayerConformance`, design section 6).

Every backend named in ``tests.fixtures.layers.LAYER_BACKENDS`` runs all of it: add a
backend there (with its ``<backend>_layer_url`` fixture) and it is covered here.
"""

from __future__ import annotations

import pytest

from gateways.testing.conformance import LayerConformance
from tests.fixtures.layers import LAYER_BACKENDS

pytestmark = pytest.mark.timeout(30)


class TestBundledLayers(LayerConformance):
    @pytest.fixture(params=LAYER_BACKENDS)
    def layer_url(self, request: pytest.FixtureRequest) -> str:
        return str(request.getfixturevalue(f"{request.param}_layer_url"))

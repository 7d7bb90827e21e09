"""The layers' codec writes and reads exactly what msgpack-python does: the same bytes,
the same values (types included), the same errors; only faster where it can."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import math
import subprocess
import sys
import uuid
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateways.layers import codec


class Colour(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 2


class Word(str):
    pass


class Count(int):
    pass


class Headers(dict[str, Any]):
    pass


@dataclasses.dataclass
class Point:
    x: int = 1


def _nested(depth: int) -> list[Any]:
    top: list[Any] = []
    inner = top
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return top


#: Values where a fast encoder could differ from msgpack-python: every one must come out
#: the same (bytes or error) as msgpack-python makes it.
AWKWARD: list[Any] = [
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    -(2**63),
    -(2**63) - 1,
    -0.0,
    float("inf"),
    "\ud800",
    "x" * 70_000,
    bytearray(b"ab"),
    memoryview(b"ab"),
    (1, (2, 3)),
    {b"bytes key": 1},
    {1: 2},
    {None: 1},
    {(1, 2): 3},
    {1, 2},
    complex(1, 2),
    datetime.datetime(2026, 12, 3, 12, 0),
    datetime.date(2026, 12, 3),
    uuid.UUID(int=1),
    Colour.RED,
    Level.HIGH,
    Point(),
    Word("subclass"),
    Count(3),
    Headers(a=1),
    collections.OrderedDict(a=1),
    _nested(300),
    _nested(600),
    msgpack.ExtType(1, b"x"),
    object(),
]


def _msgpack(value: Any) -> tuple[str, Any]:
    try:
        return "ok", msgpack.Packer(use_bin_type=True).pack(value)
    except Exception as exc:
        return "error", type(exc)


def _ours(value: Any) -> tuple[str, Any]:
    try:
        return "ok", codec.pack(value)
    except Exception as exc:
        return "error", type(exc)


def _typed(value: Any) -> Any:
    """``value`` with every type spelled out (1 == 1.0 == True otherwise)."""
    if isinstance(value, dict):
        return ("dict", sorted((repr(_typed(k)), _typed(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", [_typed(item) for item in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


@pytest.mark.parametrize("value", AWKWARD, ids=lambda v: type(v).__name__)
def test_awkward_values_pack_as_msgpack_packs_them(value: Any) -> None:
    assert _ours(value) == _msgpack(value)


@pytest.mark.parametrize(
    "data",
    [
        b"\x81\xc4\x01k\x01",  # a bytes key
        b"\xd4\x01\x00",  # an ext type
        b"\xd6\xff\x00\x00\x00\x01",  # a msgpack timestamp
        b"\x81\xa1k\x92\xc3\xc0",  # {"k": [True, None]}
    ],
)
def test_what_msgpack_reads_we_read_the_same(data: bytes) -> None:
    assert _typed(codec.unpack(data)) == _typed(msgpack.unpackb(data, raw=False))


@pytest.mark.parametrize("data", [b"\xc1", b"\xa2\xff\xfe", b"\x92\x01"])
def test_bad_data_raises_what_msgpack_raises(data: bytes) -> None:
    with pytest.raises(Exception) as ours:
        codec.unpack(data)
    with pytest.raises(Exception) as theirs:
        msgpack.unpackb(data, raw=False)
    assert type(ours.value) is type(theirs.value)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), _values, max_size=8))
def test_messages_round_trip_byte_for_byte_as_msgpack(message: dict[str, Any]) -> None:
    data = codec.pack(message)
    assert data == msgpack.Packer(use_bin_type=True).pack(message)
    assert _typed(codec.unpack(data)) == _typed(msgpack.unpackb(data, raw=False))


def test_the_fast_path_is_the_one_these_tests_check() -> None:
    assert codec.pack is codec._fast_pack
    assert codec.unpack is codec._fast_unpack


def test_without_ormsgpack_msgpack_does_all_the_work() -> None:
    script = """
import asyncio, sys
sys.modules["ormsgpack"] = None  # an interpreter it has no wheel for
from gateways.layers import codec, get_layer

async def main():
    layer = get_layer("memory://")
    await layer.send("a", {"body": b"x", "headers": [[b"k", b"v"]], "n": 2**64 - 1})
    print(codec.pack is codec._msgpack_pack, await layer.receive(["a"]))

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = "('a', {'body': b'x', 'headers': [[b'k', b'v']], 'n': 18446744073709551615})"
    assert done.stdout.strip() == f"True {expected}"


def test_bytes_after_a_whole_value_are_ignored_where_msgpack_refuses_them() -> None:
    """The one difference, documented in codec.py: a layer's entry holds one value."""
    assert codec.unpack(b"\x81\xa1k\x01\xc0") == {"k": 1}
    with pytest.raises(msgpack.ExtraData):
        msgpack.unpackb(b"\x81\xa1k\x01\xc0", raw=False)

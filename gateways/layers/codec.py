"""msgpack, the layers' wire format: written and read by ormsgpack where it can, by
msgpack where it must.

ormsgpack (Rust) packs and unpacks what messages are made of (str keys, str, bytes,
ints, floats, bools, None, lists, tuples, dicts) two to three times faster than
msgpack-python, byte for byte the same. What it would treat its own way (subclasses,
enums, datetimes, UUIDs, dataclasses, ints past 64 bits) it is told to refuse, and so
is what it cannot do (a key that is not a str, nesting past 255 levels): msgpack then
decides, giving the bytes or the error it always gave. Reading, msgpack has the last
word on what ormsgpack refuses (bytes keys, ext types, bad data), with one difference:
bytes after a whole value are ignored, where msgpack raises ``ExtraData`` (an entry the
layers write holds one value). Where ormsgpack has no wheel (it is installed on CPython
only), msgpack does all the work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import msgpack

try:
    import ormsgpack
except ImportError:  # no wheel for this interpreter (a test runs this way too)
    ormsgpack = None  # type: ignore[assignment]

__all__ = ["pack", "unpack"]

#: One msgpack ``Packer`` per thread: ``msgpack.packb`` makes (and allocates the buffer
#: of) a new one for every message. A packer empties itself after each message, and
#: after a failed one too; its buffer only grows, so one that packed a large message is
#: dropped.
_packers = threading.local()
_LARGE = 1 << 20


def _msgpack_pack(value: Any) -> bytes:
    try:
        packer: msgpack.Packer = _packers.packer
    except AttributeError:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    data: bytes = packer.pack(value)
    if len(data) > _LARGE:
        del _packers.packer
    return data


def _msgpack_unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


def _fast_pack(value: Any) -> bytes:
    try:
        return ormsgpack.packb(value, option=_EXACT)
    except ormsgpack.MsgpackEncodeError:
        return _msgpack_pack(value)


def _fast_unpack(data: bytes) -> Any:
    try:
        return ormsgpack.unpackb(data)
    except ormsgpack.MsgpackDecodeError:
        return _msgpack_unpack(data)


#: ``value`` as msgpack (bytes as bin, str as str), or msgpack's own error.
pack: Callable[[Any], bytes] = _msgpack_pack
#: The value ``data`` encodes, as ``msgpack.unpackb(data, raw=False)`` gives it.
unpack: Callable[[bytes], Any] = _msgpack_unpack

if ormsgpack is not None:
    #: What ormsgpack would encode where msgpack refuses, or encode otherwise: refused,
    #: for msgpack to decide.
    _EXACT = (
        ormsgpack.OPT_PASSTHROUGH_BIG_INT
        | ormsgpack.OPT_PASSTHROUGH_DATACLASS
        | ormsgpack.OPT_PASSTHROUGH_DATETIME
        | ormsgpack.OPT_PASSTHROUGH_ENUM
        | ormsgpack.OPT_PASSTHROUGH_SUBCLASS
        | ormsgpack.OPT_PASSTHROUGH_UUID
    )
    pack, unpack = _fast_pack, _fast_unpack

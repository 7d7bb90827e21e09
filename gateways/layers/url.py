"""Layer settings carried in a layer URL's query string, shared by every backend.

``redis://host:6379/0?capacity=200&channel_capacity=http.request:500&expiry=30``
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

_NUMBERS = {
    "expiry": float,
    "group_expiry": float,
    "capacity": int,
    "inbox_capacity": int,
    "max_message_size": int,
    "order_timeout": float,
}


def _number(key: str, value: str) -> float | int:
    try:
        return _NUMBERS[key](value)
    except ValueError:
        raise ValueError(f"layer setting {key}: expected a number, got {value!r}") from None


def layer_options_from_query(query: str) -> dict[str, Any]:
    """Turn the generic layer settings of a URL query into keyword arguments.

    Keys a backend handles itself are returned untouched, as strings.
    """
    options: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in _NUMBERS:
            options[key] = _number(key, value)
        elif key == "channel_capacity":
            glob, sep, size = value.rpartition(":")
            if not sep or not glob:
                raise ValueError(f"layer setting channel_capacity: expected GLOB:N, got {value!r}")
            options.setdefault("channel_capacity", {})[glob] = int(_number("capacity", size))
        elif key == "durable":
            options.setdefault("durable_channels", []).append(value)
        else:
            options[key] = value
    return options

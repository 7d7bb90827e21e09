"""Per-channel capacities as Lua patterns, so a group_send script can look up the
capacity of each member it reads from Redis itself (no member list crosses the wire).

The rules mirror :meth:`BaseChannelLayer.capacity_of`: the first ``channel_capacity``
glob that matches wins; a plain channel otherwise takes ``capacity``, and a
``prefix!suffix`` channel is matched as its ``prefix!`` inbox, which otherwise takes
``inbox_capacity``. Globs are translated for the characters channel names can hold
(letters, digits, ``-``, ``_``, ``.``, ``!``); ``tests/redis`` checks the translation
against :mod:`fnmatch` inside a real Redis.
"""

from __future__ import annotations

from collections.abc import Mapping


def lua_pattern(glob: str) -> str:
    """An anchored Lua pattern matching what :func:`fnmatch.fnmatchcase` matches."""
    out, i, n = ["^"], 0, len(glob)
    while i < n:
        char = glob[i]
        i += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and (end := _class_end(glob, i)) > 0:
            out.append(_lua_class(glob[i:end]))
            i = end + 1
        else:
            out.append(char if char.isalnum() and char.isascii() else "%" + char)
    if out[-1] == ".*":
        out.pop()  # a trailing * leaves a prefix match, which Lua does without backtracking
    else:
        out.append("$")
    return "".join(out)


def _class_end(glob: str, start: int) -> int:
    """Index of the ``]`` closing a class opened before ``start`` (fnmatch's rules: a
    leading ``!`` and then a leading ``]`` belong to the class), or -1 if unclosed."""
    j = start
    if j < len(glob) and glob[j] == "!":
        j += 1
    if j < len(glob) and glob[j] == "]":
        j += 1
    return glob.find("]", j)


def _lua_class(stuff: str) -> str:
    negate = stuff.startswith("!")
    body = stuff[1:] if negate else stuff
    escaped = "".join("%" + c if c in "%]^[" else c for c in body)
    return f"[{'^' if negate else ''}{escaped}]"


def capacity_args(
    capacity: int, inbox_capacity: int, channel_capacity: Mapping[str, int] | None
) -> list[str | int]:
    """The group_send script's capacity arguments: both defaults, the number of rules,
    then pattern/size pairs."""
    rules = (channel_capacity or {}).items()
    args: list[str | int] = [capacity, inbox_capacity, len(rules)]
    for glob, size in rules:
        args += [lua_pattern(glob), int(size)]
    return args

"""A griffe extension for the docs site: the Sphinx markup of our docstrings, as Markdown.

The docstrings say :class:`~gateways.plugin.Interface` and end a paragraph with ``::``
before an example, as Sphinx wants. mkdocstrings renders Markdown, so this turns each
role into a cross-reference (optional: a name the site does not document stays code,
without a link and without failing ``mkdocs build --strict``) and each ``::`` into ``:``.
Loaded by mkdocs.yml (``extensions: - scripts/griffe_roles.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?:class|meth|func|attr|mod|data|exc|obj):`(?P<tilde>~?)(?P<ref>[^`]+)`"
)
LITERAL = re.compile(r"(?P<end>\S)?::\n\n")  # "an example::" then an indented block


def walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    """``obj`` and every object it defines (imported names are documented where defined)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from walk(member)  # type: ignore[arg-type]


def identifier(owner: griffe.Object, ref: str) -> str:
    """``ref`` as a full path: a bare ``order_end`` is found in the owner's scope."""
    try:
        return owner.resolve(ref.rstrip("()"))
    except (griffe.NameResolutionError, ValueError):
        return ref.rstrip("()")


def markdown(owner: griffe.Object, text: str) -> str:
    def link(match: re.Match[str]) -> str:
        ref = match["ref"]
        shown = ref.rsplit(".", 1)[-1] if match["tilde"] else ref
        target = identifier(owner, ref)
        return f'<autoref identifier="{target}" optional><code>{shown}</code></autoref>'

    text = ROLE.sub(link, text)
    return LITERAL.sub(lambda m: f"{m['end'] or ''}{':' if m['end'] else ''}\n\n", text)


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring of a package once it is completely loaded."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        for obj in walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = markdown(obj, obj.docstring.value)

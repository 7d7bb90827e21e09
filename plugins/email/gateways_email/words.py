"""RFC 2047 encoded words without the full header parser, where that gives the same text.

A subject in any language but English comes as encoded words
(``=?utf-8?q?caf=C3=A9?=``). The modern header parser decodes it by building a token
tree, about a third of the cost of parsing a small mail. When the header is made of
well-formed encoded words alone (separated by blanks, nothing around them), the text it
gives is their decoded texts joined, the blanks between them dropped (RFC 2047 6.2); so
that is what :func:`decode_words` returns. Whatever else (plain words beside them, a
defect, an unknown charset, an odd codec) gets None, and the caller uses the parser.
"""

from __future__ import annotations

import re
from email import _encoded_words as encoded_words  # type: ignore[attr-defined] # the parser's

_WORD = r"=\?[^?\s]+\?[QqBb]\?[^?\s]*\?="
_WORDS = re.compile(rf"{_WORD}(?:[ \t]+{_WORD})*")
_ONE_WORD = re.compile(_WORD)
#: Text the parser would give otherwise: a lone surrogate is sanitised by the header.
_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_words(text: str) -> str | None:
    """The decoded text of an unstructured header value (unfolded) made of encoded words
    only; None when the full parser must decide."""
    if not text.startswith("=?") or _WORDS.fullmatch(text) is None:
        return None
    decoded = []
    for word in _ONE_WORD.findall(text):
        try:
            part, _charset, _lang, defects = encoded_words.decode(word)
        except Exception:  # the parser handles (or keeps as text) what the decoder refuses
            return None
        if defects:
            return None
        decoded.append(part)
    joined = "".join(decoded)
    return None if _SURROGATE.search(joined) else joined

"""Stored text shown to people: reasons and venue messages another operator or a venue wrote reach
terminals (the CLI) and inboxes (alerts), where an escape sequence could repaint or hide the rest."""

from __future__ import annotations

import unicodedata

# Printed as nothing or rearranging the line (bidi overrides and isolates), or breaking it.
_UNSAFE_FORMAT = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` with every character a terminal would act on escaped (ESC -> \\x1b, NUL -> \\x00,
    U+202E -> \\u202e)."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char == "\n" and newlines:
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Cs") or char in _UNSAFE_FORMAT:
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)

"""Text people write and read: what a reason (or an account id) may hold, and stored text shown safely.

Reasons and venue messages another operator or a venue wrote reach terminals (the CLI) and inboxes
(alerts), where an escape sequence could repaint or hide the rest. So text that comes in must be one
line of plain text that shows something (`text_problem`, `has_visible`), and stored text going out is
escaped (`printable`).
"""

from __future__ import annotations

import unicodedata

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = frozenset("\u2028\u2029")
# Printed as nothing or rearranging the line (bidi overrides and isolates), or breaking it.
_UNSAFE_FORMAT = _BIDI_CONTROLS | _LINE_BREAKS
# The zero-width joiners shape emoji sequences and Persian or Indic words: allowed inside text,
# never what makes it visible. Every other format character (zero-width space, bidi marks, tag
# characters, invisible operators, soft hyphen) hides or reorders what a reader sees: refused.
_JOINERS = frozenset("\u200c\u200d")
# Letters and symbols that print as a blank: the Hangul fillers and the empty Braille pattern.
_BLANK_GRAPHICS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def text_problem(text: str) -> str | None:
    """Why `text` is not one line of plain text, naming the character and its position; else None."""
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp") or char in _UNSAFE_FORMAT:
            return (
                f"contains a control character (U+{ord(char):04X}) at position {position}: write it as one "
                "line of plain text"
            )
        if category == "Cf" and char not in _JOINERS:
            return (
                f"contains an invisible format character (U+{ord(char):04X}) at position {position}: write "
                "it as plain text"
            )
        if category == "Cs":
            return f"contains a lone surrogate (U+{ord(char):04X}) at position {position}: not valid text"
    return None


def has_visible(text: str) -> bool:
    """Whether `text` shows anything: one character at least that is not whitespace, a combining mark,
    a format, private-use or unassigned character, or a letter that prints blank (U+3164, U+2800...)."""
    return any(_visible(char) for char in text)


def _visible(char: str) -> bool:
    return not (char.isspace() or unicodedata.category(char)[0] in "MCZ" or char in _BLANK_GRAPHICS)


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

"""Cells and lines for the operator's terminal: times, spans, shortened text, tables, and the API's
JSON with every stored string's control characters escaped."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from deadman.core.text import printable


def sanitised(value: Any) -> Any:
    """`value` (the API's JSON) with every string, keys included, passed through `printable`."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {sanitised(k): sanitised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitised(v) for v in value]
    return value


def json_text(payload: Any) -> str:
    # ensure_ascii escapes every control character but DEL, the one ASCII one; DEL only ever occurs
    # inside a JSON string, where \u007f means the same.
    return json.dumps(payload, indent=2, sort_keys=False).replace("\x7f", "\\u007f")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ms / 1000))


def secs(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    if abs(value) >= 3600:
        text = f"{value / 3600:.1f} h"
    elif abs(value) >= 120:
        text = f"{value / 60:.1f} min"
    else:
        text = f"{value:.1f} s"
    return ("+" + text) if signed and value >= 0 else text


def age(seconds: float | None) -> float | None:
    # The status function's clock and the refresher's differ by a little: a tick a tenth of a second
    # "in the future" is a tick just now.
    return None if seconds is None else max(0.0, seconds)


def short(text: Any, width: int = 60) -> str:
    if text is None:
        return "-"
    value = str(text).replace("\n", " ")
    return value if len(value) <= width else value[: width - 1] + "…"

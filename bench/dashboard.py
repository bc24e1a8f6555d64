"""The CloudWatch dashboard as template.yaml defines it: its widgets (grid position, title, statistic,
metrics), read without AWS, for the picture bench/charts.py draws from a sandbox run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def widgets_of(template: Path) -> list[dict[str, Any]]:
    """The dashboard's widgets; `${...}` substitutions (region, stack name) become "x"."""
    from bench.cost import _CfnLoader

    doc = _CfnLoader.load(template.read_text())
    dashboard = next(r for r in doc["Resources"].values() if r.get("Type") == "AWS::CloudWatch::Dashboard")
    body = dashboard["Properties"]["DashboardBody"]
    text = body["Sub"] if isinstance(body, dict) else body
    widgets: list[dict[str, Any]] = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))["widgets"]
    return widgets


# A SEARCH expression row: the namespace (a schema's first member, or Namespace="...") and the metric.
_SEARCH = re.compile(
    r"SEARCH\('(?:\{(?P<schema>[^,}]+)[^}]*\}|Namespace=\"(?P<ns>[^\"]+)\")\s+MetricName=\"(?P<name>[^\"]+)\""
)


def expand_metrics(rows: list[list[Any]]) -> list[list[Any]]:
    """CloudWatch's "..." shorthand: the previous row with its last items replaced; options dropped.
    A SEARCH expression becomes [namespace, metric, "search", "all"]: every series of that metric."""
    out: list[list[Any]] = []
    for raw in rows:
        row = [x for x in raw if not isinstance(x, dict)]
        if not row:
            expression = next((str(x.get("expression", "")) for x in raw if isinstance(x, dict)), "")
            match = _SEARCH.search(expression)
            if match:
                out.append([match["schema"] or match["ns"], match["name"], "search", "all"])
            continue
        if row and row[0] == "..." and out:
            prev = out[-1]
            row = prev[: len(prev) - (len(row) - 1)] + row[1:]
        out.append(row)
    return out

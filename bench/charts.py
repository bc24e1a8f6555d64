"""PNG charts of a `bench.json` (matplotlib, Agg: no display needed). Imported by `python -m bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OURS = "#2b6cb0"
THEIRS = "#a0aec0"


def _bars(ax: Any, labels: list[str], series: dict[str, list[float | None]], unit: str) -> None:
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        xs = [i + k * width for i in range(len(labels))]
        heights = [v or 0.0 for v in values]
        color = OURS if k == 0 else THEIRS
        bars = ax.bar(xs, heights, width, label=name, color=color, alpha=1.0 if k == 0 else 1 - 0.25 * k)
        for bar, value in zip(bars, values, strict=True):
            if value:
                ax.annotate(
                    f"{value:,.0f}",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))], labels, fontsize=8)
    ax.set_ylabel(unit)
    ax.legend(fontsize=7)


def cold_start_chart(results: dict[str, Any], path: Path) -> None:
    medians: dict[str, dict[str, float]] = results["cold_start"]["median_ms"]
    functions = [f for f in medians if "ours" in medians[f]]
    series: dict[str, list[float | None]] = {"deadman": [medians[f]["ours"] for f in functions]}
    for impl, label in (
        ("ccxt", "ccxt"),
        ("hlsdk", "hyperliquid-python-sdk"),
        ("krakensdk", "python-kraken-sdk"),
    ):
        values = [medians[f].get(impl) for f in functions]
        if any(values):
            series[label] = values
    fig, ax = plt.subplots(figsize=(9, 4))
    _bars(ax, functions, series, "ms (whole process, median)")
    floor = medians.get("refresher", {}).get("floor")
    if floor:
        ax.axhline(floor, color="#c53030", linestyle="--", linewidth=1)
        ax.annotate(
            "floor: boto3 + Powertools + 2 clients", (0, floor), fontsize=7, color="#c53030", va="bottom"
        )
    ax.set_title("Cold start: handler imported, one signed request built")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def signing_chart(results: dict[str, Any], path: Path) -> None:
    labels: list[str] = []
    values: list[float] = []
    for backend, sig in results["signing"].items():
        for name, us in sig.get("per_call_us", {}).items():
            if backend != "eth_keys default backend" and name not in ("hyperliquid-python-sdk",):
                continue
            suffix = " (pure-Python eth_keys)" if backend != "eth_keys default backend" else ""
            labels.append(name + suffix)
            values.append(us)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    colors = [OURS if label == "deadman" else THEIRS for label in labels]
    bars = ax.barh(labels, values, color=colors)
    ax.set_xscale("log")
    ax.set_xlabel("us per signature (log scale, median)")
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            f" {value:,.0f} us",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            va="center",
            fontsize=8,
        )
    ax.invert_yaxis()
    ax.set_title("Hyperliquid L1 action signing (scheduleCancel + expiresAfter)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cost_chart(results: dict[str, Any], path: Path) -> None:
    c = results["cost"]
    groups = {**{k: v["lines"] for k, v in c["venues"].items()}, "shared": c["shared"]["lines"]}
    items: list[str] = []
    for lines in groups.values():
        for line in lines:
            if line["item"] not in items:
                items.append(line["item"])
    fig, ax = plt.subplots(figsize=(10, 4))
    bottoms = [0.0] * len(groups)
    cmap = plt.get_cmap("tab20")
    for k, item in enumerate(items):
        heights = [next((ln["usd"] for ln in lines if ln["item"] == item), 0.0) for lines in groups.values()]
        ax.bar(list(groups), heights, bottom=bottoms, label=item, color=cmap(k))
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    for i, total in enumerate(bottoms):
        ax.annotate(f"${total:,.2f}", (i, total), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("USD / month")
    ax.set_ylim(0, max(bottoms) * 1.12)
    ax.set_title(f"Monthly cost per venue (fleet of three: ${c['fleet_total_usd']:,.2f})")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(results: dict[str, Any], out: Path) -> list[str]:
    written = []
    for name, fn in (
        ("cold_start.png", cold_start_chart),
        ("signing.png", signing_chart),
        ("cost.png", cost_chart),
    ):
        fn(results, out / name)
        written.append(str(out / name))
    return written

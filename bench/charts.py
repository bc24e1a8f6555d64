"""PNG charts of a `bench.json` (matplotlib, Agg: no display needed). Imported by `python -m bench`."""

from __future__ import annotations

import statistics
from collections.abc import Callable
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
    fig, ax = plt.subplots(figsize=(max(9, 0.9 * len(functions) + 2), 4))
    _bars(ax, functions, series, "ms (whole process, median)")
    ax.tick_params(axis="x", labelrotation=20)  # a refresher per venue: the names would overlap
    floor = medians.get("refresher", {}).get("floor")
    if floor:
        ax.axhline(floor, color="#c53030", linestyle="--", linewidth=1)
        ax.annotate("boto3 + Powertools + 2 clients", (0, floor), fontsize=7, color="#c53030", va="bottom")
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
            if line["item"] not in items and line["usd"] > 0:  # venue requests: listed, never billed
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
    ax.set_title(f"Monthly cost per venue (fleet of {len(c['venues'])}: ${c['fleet_total_usd']:,.2f})")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- issue 9, second part -------------------------------------------------------------------------


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tick_cpu_chart(results: dict[str, Any], path: Path) -> None:
    venues: dict[str, dict[str, dict[str, float]]] = results["tick_cpu"]["venues"]
    labels: list[str] = []
    values: list[float] = []
    colors: list[str] = []
    for venue, impls in venues.items():
        for name, figures in impls.items():
            labels.append(f"{venue}: {name}")
            values.append(figures["cpu_ms_median"])
            colors.append(OURS if name == "deadman" else THEIRS)
    # Horizontal: the alternatives' names are long ("same 6 calls on boto3 + ...").
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(labels) + 1.2))
    rows = range(len(labels))[::-1]
    bars = ax.barh(list(rows), values, color=colors)
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(f" {value:.1f}", (value, bar.get_y() + bar.get_height() / 2), va="center", fontsize=7)
    ax.set_yticks(list(rows), labels, fontsize=7)
    ax.set_xlabel("ms of process CPU per tick (median)")
    ax.set_title("Per-tick CPU, one account, trader alive")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # the long labels: tight_layout alone clips them
    plt.close(fig)


def kill_chart(results: dict[str, Any], path: Path) -> None:
    by_latency: dict[str, dict[str, Any]] = results["kill"]["by_latency"]
    labels = [f"venue RTT {float(k) * 1000:.0f} ms" for k in by_latency]
    par = [v["empty_ms_median"]["parallel"] or 0.0 for v in by_latency.values()]
    ser = [v["empty_ms_median"]["serial"] or 0.0 for v in by_latency.values()]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    _bars(ax, labels, {"parallel (deadman)": list(par), "same sweeps one after another": list(ser)}, "ms")
    first = next(iter(by_latency.values()))
    venues = first.get("venues", "all")
    ax.set_title(f"Kill: request to every book empty ({first['targets']} switches, {venues} venues; median)")
    _save(fig, path)


def memory_chart(results: dict[str, Any], path: Path) -> None:
    mem = results["memory"]
    functions = {f: r for f, r in mem["functions"].items() if "peak_rss_mb" in r}
    names = list(functions)
    peak = [functions[f]["peak_rss_mb"] for f in names]
    rec = [functions[f]["recommended_mb"] for f in names]
    fig, ax = plt.subplots(figsize=(10, 4))
    xs = range(len(names))
    ax.bar(xs, peak, color=OURS, label="peak RSS (ru_maxrss)")
    ax.bar(xs, [mem["runtime_overhead_mb"]] * len(names), bottom=peak, color=THEIRS, label="runtime overhead")
    ax.scatter(xs, rec, marker="_", s=900, color="#c53030", label="recommended MemorySize", zorder=3)
    for x, r in zip(xs, rec, strict=True):
        ax.annotate(f"{r} MB", (x, r), ha="center", va="bottom", fontsize=7, color="#c53030")
    ax.axhline(128, color="#718096", linestyle=":", linewidth=1)
    ax.set_xticks(list(xs), names, fontsize=7)
    ax.set_ylabel("MB")
    ax.set_ylim(0, max(rec) * 1.45)
    ax.legend(fontsize=7, loc="upper left", ncol=3)
    ax.set_title("Peak memory per function (fresh process, realistic run) and the MemorySize it needs")
    _save(fig, path)


def reaction_chart(results: dict[str, Any], path: Path) -> None:
    rows = results["reaction_rows"]
    labels = [r["label"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    xs = range(len(rows))
    ax.bar(xs, [r["measured_s"] or 0 for r in rows], color=OURS, label="measured (worst account)")
    ax.scatter(xs, [r["bound_s"] for r in rows], marker="_", s=900, color="#c53030", label="bound", zorder=3)
    ax.set_xticks(list(xs), labels, fontsize=7)
    ax.set_ylabel("s from the last beat to an empty book")
    ax.legend(fontsize=7, loc="upper left")
    t = results["reaction"]["timing_s"]
    ax.set_title(
        f"Reaction after the trader dies (sandbox: S={t['S']:g} T={t['T']:g} G={t['G']:g} K={t['K']:g} s)"
    )
    _save(fig, path)


def scale_chart(results: dict[str, Any], path: Path) -> None:
    points = [p for p in results["scale"]["points"] if "tick_ms_median" in p]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for venue in dict.fromkeys(p["venue"] for p in points):
        mine = sorted(
            (p for p in points if p["venue"] == venue and p["systems"] == 1), key=lambda p: p["accounts"]
        )
        if not mine:
            continue
        xs = [p["accounts"] for p in mine]
        left.plot(xs, [p["tick_ms_median"] for p in mine], marker="o", label=venue)
        right.plot(xs, [p["dynamodb_calls_per_tick"] for p in mine], marker="o", label=f"{venue} DynamoDB")
        right.plot(
            xs, [p["venue_calls_per_tick"] for p in mine], marker="x", linestyle="--", label=f"{venue} venue"
        )
    half = results["cost"]["assumptions"]["tick_s"] * 1000 / 2
    left.axhline(half, color="#c53030", linestyle="--", linewidth=1)
    left.annotate("T/2", (1, half), color="#c53030", fontsize=7, va="bottom")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("accounts per venue")
        ax.legend(fontsize=7)
    left.set_ylabel("one tick, wall ms (median)")
    right.set_ylabel("calls per tick")
    left.set_title("Tick time as accounts grow (simulators + moto)")
    right.set_title("Calls per tick")
    _save(fig, path)


def cost_bound_chart(results: dict[str, Any], path: Path) -> None:
    points = results["cost"]["sweep"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    cmap = plt.get_cmap("viridis")
    ts = sorted({p["T"] for p in points})
    for i, t in enumerate(ts):
        mine = [p for p in points if p["T"] == t]
        color = cmap(i / max(1, len(ts) - 1))
        ax.scatter([p["watchdog_bound_s"] for p in mine], [p["loop_usd"] for p in mine], color=color,
                   marker="o", label=f"T = {t} s")  # fmt: skip
        ax.scatter([p["chain_watchdog_bound_s"] for p in mine], [p["chain_usd"] for p in mine], color=color,
                   marker="^", alpha=0.6)  # fmt: skip
    default = next((p for p in points if p["default"]), None)
    if default:
        ax.annotate(
            f"default (T {default['T']}, S {default['S']}, G {default['G']})",
            (default["watchdog_bound_s"], default["loop_usd"]),
            xytext=(10, 10),
            textcoords="offset points",
            fontsize=7,
            arrowprops={"arrowstyle": "->"},
        )
    ax.set_xlabel("watchdog reaction bound, s (S + K + G + 8 s; S 10-30, G = T .. 2T; chain: G >= 60 s + T)")
    ax.set_ylabel("USD / month, one venue (Kraken)")
    ax.set_title("Cost against the reaction bound: o always-on loop, ^ SQS chain billed per tick")
    ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


def dashboard_chart(results: dict[str, Any], path: Path, template: Path) -> None:
    """The template's dashboard, widget by widget at its grid position, drawn from the sandbox run's
    metrics (one bucket per tick instead of 60 s; the same statistic per widget)."""
    from bench.dashboard import expand_metrics, widgets_of

    widgets = widgets_of(template)
    run = results["dashboard"]
    # The dashboard's period is 60 s, six ticks at T = 10 s; here T = 1 s, so a bucket of 2 ticks keeps
    # a few ticks per point and still shows a 30 s run.
    bucket_s = 2 * run["tick_s"]
    buckets = int(run["duration_s"] // bucket_s) + 1
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for t, name, value, dims in run["records"]:
        series.setdefault((name, dims.get("venue", "")), []).append((t, value))
    rows = max(w["y"] + w["height"] for w in widgets)
    fig = plt.figure(figsize=(16, rows * 0.9 + 1))
    grid = fig.add_gridspec(rows, 24, hspace=4.0, wspace=2.0)
    shades = list(run["phases"])
    for widget in widgets:
        props = widget["properties"]
        ys = slice(widget["y"], widget["y"] + widget["height"])
        ax = fig.add_subplot(grid[ys, widget["x"] : widget["x"] + widget["width"]])
        stat = props.get("stat", "Average")
        aggregates: dict[str, Callable[[list[float]], float]] = {"Maximum": max, "Minimum": min, "Sum": sum}
        agg = aggregates.get(stat, statistics.fmean)
        missing = []
        for row in expand_metrics(props["metrics"]):
            namespace, name, dims = row[0], row[1], dict(zip(row[2::2], row[3::2], strict=False))
            if namespace != "Deadman":
                points = None
            elif "search" in dims:  # every series of the metric, whatever its dimensions
                points = sorted(p for (n, _), found in series.items() if n == name for p in found) or None
            else:
                points = series.get((name, dims.get("venue", "")))
            if not points:
                missing.append(f"{name} {dims.get('venue', dims.get('Stage', ''))}".strip())
                continue
            by_bucket: dict[int, list[float]] = {}
            for t, value in points:
                by_bucket.setdefault(int(t // bucket_s), []).append(value)
            # A count with no data point is 0 in a Sum; a gauge with none is a gap.
            values = [
                agg(by_bucket[b]) if b in by_bucket else (0.0 if stat == "Sum" else float("nan"))
                for b in range(buckets)
            ]
            ax.plot(
                [b * bucket_s for b in range(buckets)],
                values,
                label=f"{name} {dims.get('venue', '')}",
                linewidth=1.2,
                marker="." if stat != "Sum" else None,
                drawstyle="steps-post" if stat == "Sum" else "default",
            )
        for i, (start, label) in enumerate(shades):
            end = shades[i + 1][0] if i + 1 < len(shades) else run["duration_s"]
            if label not in {"healthy", "trader back"}:
                ax.axvspan(start, end, color="#fed7d7", alpha=0.5, linewidth=0)
                ax.annotate(label, (start, 1.0), xycoords=("data", "axes fraction"), fontsize=7, va="bottom")
        ax.set_xlim(0, buckets * bucket_s)
        ax.set_title(f"{props['title']} ({stat}, per {bucket_s:g} s)", fontsize=9, pad=12)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("sandbox time, s (T = 1 s)", fontsize=7)
        ax.legend(fontsize=6, ncol=3, loc="upper right", framealpha=0.7)
        if missing:
            ax.annotate(
                "no data in this run: " + ", ".join(sorted(set(missing)))[:150],
                (0.0, -0.22),
                xycoords="axes fraction",
                fontsize=6,
                color="#718096",
            )
    fig.suptitle("deadman CloudWatch dashboard (template.yaml layout), drawn from a sandbox run", fontsize=11)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def draw(results: dict[str, Any], out: Path, template: Path | None = None) -> list[str]:
    written = []
    charts: list[tuple[str, str, Any]] = [
        ("cold_start.png", "cold_start", cold_start_chart),
        ("signing.png", "signing", signing_chart),
        ("cost.png", "cost", cost_chart),
        ("tick_cpu.png", "tick_cpu", tick_cpu_chart),
        ("kill.png", "kill", kill_chart),
        ("memory.png", "memory", memory_chart),
        ("reaction.png", "reaction_rows", reaction_chart),
        ("scale.png", "scale", scale_chart),
        ("cost_vs_bound.png", "cost", cost_bound_chart),
    ]
    for name, needs, fn in charts:
        if needs not in results or "error" in results[needs]:
            continue
        fn(results, out / name)
        written.append(str(out / name))
    if template is not None and "dashboard" in results and "error" not in results["dashboard"]:
        dashboard_chart(results, out / "dashboard.png", template)
        written.append(str(out / "dashboard.png"))
    return written

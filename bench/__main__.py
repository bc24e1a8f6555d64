"""`make bench`: deadman side by side with ccxt / hyperliquid-python-sdk / python-kraken-sdk.

Every registered venue (`deadman.venues.VENUES`) is measured: cold start, per-tick CPU, its tick in
the sandbox and its monthly cost; against ccxt where ccxt has it (not BitMEX). A venue with no timer
(Bybit, Deribit: watchdog and kill only) is measured on what its refresher sends, the cancel-all of a
death, and has no row where only a venue timer would act (the reaction with the fleet gone).

Runs in `.venv-bench` (deadman's runtime pins + the alternatives + matplotlib, bench/requirements.txt)
and prints one table; writes it as JSON (docs/bench/bench.json) and, where matplotlib is installed,
as PNG charts (docs/bench/*.png). Figures are printed, never asserted: the machine is noisy, so every
comparison is measured in the same run, interleaved, and given as a ratio of medians.

1. Hyperliquid signing per call (bench/signing.py, one process per eth_keys backend).
2. Cold start per function (bench/coldstart.py): a fresh interpreter imports the handler and builds
   one signed request; whole-process wall time; every run of every implementation of a function is
   interleaved with the others (rotating order), median of --runs.
3. One refresher tick per venue and its AWS calls, in the sandbox (`sandbox.bench`, run with the
   project's .venv python, which has moto and the simulators).
4. Against a sandbox server in a process of its own (bench/runs.py): per-tick CPU, deadman against
   the SDK equivalents (bench/tickcpu.py); peak memory per function and its MemorySize
   (bench/worker.py memory); scale as accounts and trading systems grow (bench/worker.py scale).
5. In the sandbox: kill latency parallel vs serial; reaction after death against the bounds; a short
   run with a fault and a death whose metrics draw the dashboard (`sandbox.bench kill|reaction|dashboard`).
6. Artifact sizes from `sam build` (bench/artifacts.py) and what the handlers import beyond the floor
   (bench/importtime.py).
7. The monthly cost model (bench/cost.py) from template.yaml and the figures measured above, the
   per-tick-billed designs and the cost against the reaction bound.

`--cost-only` runs step 7 alone, on the measurements the last full run stored in bench.json, with any
interpreter that has the project installed (`.venv/bin/python -m bench --cost-only`, `make bench-cost`):
it rewrites the cost and the table of bench.json, and the two cost charts where matplotlib is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import artifacts, cost, importtime, runs
from deadman.venues import VENUES

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "bench"

# venue -> the alternatives to deadman's refresher, the ones people actually reach for. A venue not
# named has none (BitMEX: no longer in ccxt).
ALTERNATIVES: dict[str, list[str]] = {
    "kraken": ["ccxt", "krakensdk"],
    "gemini": ["ccxt"],
    "hyperliquid": ["hlsdk", "ccxt"],
    "okx": ["ccxt"],
    "binance": ["ccxt"],
    "gate": ["ccxt"],
    "bybit": ["ccxt"],
    "deribit": ["ccxt"],
}
# function -> implementations, ours first: every registered venue's refresher, then the API's.
COLD_STARTS: dict[str, list[str]] = {
    **{f"refresher-{venue}": ["ours", *ALTERNATIVES.get(venue, [])] for venue in VENUES},
    "kill": ["ours", "ccxt"],
    "disarm": ["ours"],
    "status": ["ours"],
    "refresher": ["floor"],  # boto3 + Powertools + the two clients: what any boto3-based function pays
}
LABELS = {
    "ours": "deadman",
    "ccxt": "ccxt",
    "krakensdk": "python-kraken-sdk",
    "hlsdk": "hyperliquid-python-sdk",
    "floor": "floor (boto3+Powertools)",
}
FAKE_AWS_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
    "LIVENESS_TABLE": "deadman-liveness",
    "CONTROL_TABLE": "deadman-control",
    "SYSTEM_NAME": "trader",
    "ENABLED_VENUES": ",".join(VENUES),
    **{
        f"SECRET_{venue.upper()}": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:deadman/{venue}"
        for venue in VENUES
    },
    "POWERTOOLS_SERVICE_NAME": "deadman",
    "POWERTOOLS_METRICS_NAMESPACE": "Deadman",
    "MAX_DISARM_S": "14400",
}


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(FAKE_AWS_ENV)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra or {})
    return env


# -- 1. signing -----------------------------------------------------------------------------------------


def signing(python: str, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, extra in (
        ("eth_keys default backend", {}),
        ("eth_keys native backend", {"ECC_BACKEND_CLASS": "eth_keys.backends.NativeECCBackend"}),
    ):
        proc = subprocess.run(  # noqa: S603  (our own interpreter and script)
            [python, str(ROOT / "bench" / "signing.py"), str(rounds)],
            capture_output=True,
            text=True,
            env=_env(extra),
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            out[label] = {"error": proc.stderr.strip().splitlines()[-1:]}
        else:
            out[label] = json.loads(proc.stdout)
    return out


# -- 2. cold starts -------------------------------------------------------------------------------------


def _one_cold_start(python: str, impl: str, function: str) -> float | str:
    start = time.perf_counter()
    proc = subprocess.run(  # noqa: S603  (our own interpreter and script)
        [python, str(ROOT / "bench" / "coldstart.py"), impl, function],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit {proc.returncode}"
    return elapsed


def cold_starts(python: str, runs: int, functions: dict[str, list[str]]) -> dict[str, Any]:
    samples: dict[str, dict[str, list[float]]] = {f: {i: [] for i in impls} for f, impls in functions.items()}
    errors: dict[str, dict[str, str]] = {}
    empty: list[float] = []
    for r in range(runs):
        start = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True, env=_env())  # noqa: S603
        empty.append((time.perf_counter() - start) * 1000)
        for function, impls in functions.items():
            order = impls[r % len(impls) :] + impls[: r % len(impls)]
            for impl in order:
                if impl in errors.get(function, {}):
                    continue
                result = _one_cold_start(python, impl, function)
                if isinstance(result, str):
                    errors.setdefault(function, {})[impl] = result
                else:
                    samples[function][impl].append(result)
    medians = {
        f: {i: statistics.median(v) for i, v in by_impl.items() if v} for f, by_impl in samples.items()
    }
    return {
        "runs": runs,
        "empty_interpreter_ms": statistics.median(empty),
        "median_ms": medians,
        "errors": errors,
    }


# -- 3. ticks -------------------------------------------------------------------------------------------


def ticks(project_python: str, rounds: int) -> dict[str, Any]:
    proc = subprocess.run(  # noqa: S603  (the project's interpreter)
        [project_python, "-m", "sandbox.bench", "--rounds", str(rounds), "--json", "-"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- the table ------------------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows: what, deadman, the alternative, its figure, deadman / alternative."""
    rows: list[dict[str, Any]] = []
    for backend, sig in results.get("signing", {}).items():
        per_call = sig.get("per_call_us", {})
        ours = per_call.get("deadman")
        for alt, value in per_call.items():
            if alt == "deadman" or (
                backend != "eth_keys default backend" and alt != "hyperliquid-python-sdk"
            ):
                continue
            rows.append(
                {
                    "what": f"hyperliquid signing per call ({backend})",
                    "unit": "us",
                    "deadman": ours,
                    "alternative": alt,
                    "value": value,
                    "ratio": ours / value if ours and value else None,
                }
            )
    for function, by_impl in results.get("cold_start", {}).get("median_ms", {}).items():
        if function == "refresher":  # the floor: a figure of its own, no comparison
            rows.append(
                {"what": "cold start, boto3 + Powertools + 2 clients (any boto3 function)", "unit": "ms",
                 "deadman": by_impl.get("floor"), "alternative": None, "value": None, "ratio": None}
            )  # fmt: skip
            continue
        ours = by_impl.get("ours")
        for impl, value in by_impl.items():
            if impl == "ours":
                continue
            rows.append(
                {
                    "what": f"cold start {function}",
                    "unit": "ms",
                    "deadman": ours,
                    "alternative": LABELS[impl],
                    "value": value,
                    "ratio": ours / value if ours and value else None,
                }
            )
        if list(by_impl) == ["ours"]:
            venue = function.removeprefix("refresher-")
            rows.append(
                {
                    "what": f"cold start {function}",
                    "unit": "ms",
                    "deadman": ours,
                    "alternative": _none_for(venue) if function.startswith("refresher-") else None,
                    "value": None,
                    "ratio": None,
                }
            )
    for venue, t in results.get("ticks", {}).get("ticks", {}).items():
        rows.append(
            {
                "what": f"tick {venue} ({t['accounts']} acct, sandbox)",
                "unit": "ms",
                "deadman": t["tick_ms_median"],
                "alternative": None,
                "value": None,
                "ratio": None,
            }
        )
    rows += _new_rows(results)
    for venue, c in results["cost"]["venues"].items():
        rows.append(
            {"what": f"monthly cost {venue}", "unit": "$", "deadman": c["total_usd"], "alternative": None,
             "value": None, "ratio": None}
        )  # fmt: skip
    rows.append(
        {"what": f"monthly cost fleet ({len(results['cost']['venues'])} venues)", "unit": "$",
         "deadman": results["cost"]["fleet_total_usd"], "alternative": None, "value": None, "ratio": None}
    )  # fmt: skip
    return rows


def _none_for(venue: str) -> str:
    """The table's word for a venue measured against nothing."""
    return "not measured" if ALTERNATIVES.get(venue) else "no ccxt"


def _row(
    what: str,
    unit: str,
    ours: float | None,
    alt: str | None = None,
    value: float | None = None,
    *,
    ratio: bool = True,
) -> dict[str, Any]:
    return {
        "what": what,
        "unit": unit,
        "deadman": ours,
        "alternative": alt,
        "value": value,
        "ratio": ours / value if ratio and ours is not None and value else None,
    }


def _new_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-tick CPU, kill, memory, artifacts, reaction, scale, designs: one row per comparison."""
    rows: list[dict[str, Any]] = []
    no_timer = _no_timer_venues()
    for venue, impls in results.get("tick_cpu", {}).get("venues", {}).items():
        ours = impls.get("deadman", {}).get("cpu_ms_median")
        sent = "no timer: nothing sent" if venue in no_timer else "sent to simulator"  # a healthy tick
        what = f"tick CPU {venue} (1 acct, {sent})"
        if list(impls) == ["deadman"]:  # deadman's row alone, saying why there is no other
            rows.append(_row(what, "ms", ours, _none_for(venue)))
        for alt, figures in impls.items():
            if alt != "deadman":
                rows.append(_row(what, "ms", ours, alt, figures["cpu_ms_median"]))
    for latency, k in results.get("kill", {}).get("by_latency", {}).items():
        rows.append(
            _row(
                f"kill to books empty, {k['targets']} switches, RTT {float(latency) * 1000:.0f} ms",
                "ms",
                k["empty_ms_median"]["parallel"],
                "same sweeps serially",
                k["empty_ms_median"]["serial"],
            )
        )
    for function, m in results.get("memory", {}).get("functions", {}).items():
        if "peak_rss_mb" in m:
            rows.append(
                _row(
                    f"peak RSS {function}",
                    "MB",
                    m["peak_rss_mb"],
                    "MemorySize to set",
                    float(m["recommended_mb"]),
                    ratio=False,
                )
            )
    art = results.get("artifacts", {}).get("artifacts", {})
    if "DeadmanLayer" in art:
        layer = art["DeadmanLayer"]
        rows.append(
            _row(
                "layer size (sam build), unzipped",
                "MB",
                layer["unzipped_bytes"] / 1e6,
                "zipped",
                layer["zipped_bytes"] / 1e6,
                ratio=False,
            )
        )
        functions = {n: a for n, a in art.items() if n != "DeadmanLayer"}
        if functions:
            biggest = max(functions.values(), key=lambda a: a["unzipped_bytes"])
            rows.append(
                _row(
                    f"largest of {len(functions)} function artifacts, unzipped",
                    "kB",
                    biggest["unzipped_bytes"] / 1e3,
                    "zipped",
                    biggest["zipped_bytes"] / 1e3,
                    ratio=False,
                )
            )
    for r in results.get("reaction_rows", []):
        rows.append(
            _row(
                f"reaction after death {r['label'].replace(chr(10), ' ')}",
                "s",
                r["measured_s"],
                "bound",
                r["bound_s"],
            )
        )
    half_ms = results["cost"]["assumptions"]["tick_s"] * 1000 / 2
    for p in results.get("scale", {}).get("points", []):
        if "tick_ms_median" not in p:
            continue
        what = (
            f"tick {p['venue']} {p['accounts']} acct {p['systems']} sys: "
            f"{p['dynamodb_calls_per_tick']:.0f} DDB+{p['venue_calls_per_tick']:.0f} venue, "
            f"{p['peak_rss_mb']:.0f} MB, "
            f"max {p['tick_ms_max'] / 1000:.1f} s"
        )
        if "tick_cpu_ms_median" in p:
            what += f", CPU {p['tick_cpu_ms_median']:.0f} ms"
        if p["extended_per_tick"] < p["accounts"]:
            what += f", {p['extended_per_tick']:.1f}/{p['accounts']} extended"
        rows.append(_row(what, "ms", p["tick_ms_median"], "T/2", half_ms))
    for venue, largest in results.get("scale_largest", {}).items():
        if largest:
            rows.append(
                _row(
                    f"accounts with every tick < T/2, {venue} ({largest['how']})",
                    "acct",
                    float(largest["accounts"]),
                )
            )
    designs = results["cost"].get("designs", [])
    present = designs[0]["usd"] if designs else None
    for d in designs[1:]:
        rows.append(
            _row(
                f"monthly kraken: {d['short']} (watchdog bound {d['bound_s']:.0f} s)",
                "$",
                d["usd"],
                "always-on loop (present)",
                present,
            )
        )
    return rows


def reaction_rows(reaction: dict[str, Any]) -> list[dict[str, Any]]:
    """Per venue and path: the worst account over the runs, against its bound."""
    rows = []
    for path, label in (("watchdog", "fleet running"), ("native", "fleet gone")):
        runs_ = reaction.get(path, [])
        if not runs_:
            continue
        for venue in VENUES:
            values = [
                ms
                for run in runs_
                for acct, ms in run["per_account_ms"].items()
                if acct.startswith(venue + "/")
            ]
            bound = runs_[0]["bound_ms"].get(venue)
            if bound is None or not values:
                continue
            worst = None if any(v is None for v in values) else max(values) / 1000
            rows.append(
                {
                    "label": f"{venue}\n{label}",
                    "measured_s": worst,
                    "bound_s": bound / 1000,
                    "runs": len(runs_),
                }
            )
    return rows


def _no_native_bound(reaction: dict[str, Any]) -> list[str]:
    """The venues the fleet-gone run had and gave no bound: no venue timer (Bybit, Deribit)."""
    native = reaction.get("native", [])
    return [v for v, bound in native[0]["bound_ms"].items() if bound is None] if native else []


def _no_timer_venues() -> set[str]:
    from bench import ours

    return {v for v in VENUES if not ours.has_timer(v)}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "$":
        return f"${value:,.2f}"
    if unit == "acct":
        return f"{value:,.0f} acct"
    return f"{value:,.1f} {unit}"


def render(rows: list[dict[str, Any]]) -> str:
    header = f"{'WHAT':<84} {'DEADMAN':>10}  {'ALTERNATIVE':<24} {'VALUE':>10}  RATIO"
    lines = [header]
    for row in rows:
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-"
        lines.append(
            f"{row['what']:<84} {_fmt(row['deadman'], row['unit']):>10}  {row['alternative'] or '-':<24}"
            f" {_fmt(row['value'], row['unit']):>10}  {ratio}"
        )
    return "\n".join(lines)


SECTIONS = (
    "signing",
    "cold",
    "ticks",
    "cpu",
    "memory",
    "scale",
    "kill",
    "reaction",
    "dashboard",
    "sam",
    "imports",
)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _server_sections(args: argparse.Namespace, sections: set[str], results: dict[str, Any]) -> None:
    """Per-tick CPU, memory and scale, against one sandbox server (stopped by its PID at the end)."""
    if not sections & {"cpu", "memory", "scale"}:
        return
    pool = max([*_ints(args.scale_accounts), 1]) if "scale" in sections else 1
    print(f"sandbox server ({pool} bench accounts per venue) ...", file=sys.stderr)
    try:
        server = runs.SandboxServer(args.project_python, pool)
    except RuntimeError as exc:
        for key in ("tick_cpu", "memory", "scale"):
            results[key] = {"error": str(exc)}
        return
    with server:
        if "cpu" in sections:
            print("per-tick CPU ...", file=sys.stderr)
            results["tick_cpu"] = runs.tick_cpu(args.python, server, args.cpu_rounds)
        if "memory" in sections:
            print("peak memory per function ...", file=sys.stderr)
            results["memory"] = runs.memory(args.project_python, server)
        if "scale" in sections:
            print("scale ...", file=sys.stderr)
            results["scale"] = runs.scale(
                args.project_python,
                server,
                _ints(args.scale_accounts),
                _ints(args.scale_systems),
                args.scale_rounds,
            )
            half_ms = cost.Template.read(ROOT / "template.yaml").tick_s * 1000 / 2
            results["scale_largest"] = {
                v: runs.largest_under(results["scale"]["points"], v, half_ms) for v in runs.SCALE_VENUES
            }


def _sandbox_sections(args: argparse.Namespace, sections: set[str], results: dict[str, Any]) -> None:
    py = args.project_python
    if "kill" in sections:
        print("kill latency ...", file=sys.stderr)
        results["kill"] = runs.sandbox_mode(
            py, "kill", "--rounds", str(args.kill_rounds), "--latency", args.latency
        )
    if "reaction" in sections:
        print("reaction after death ...", file=sys.stderr)
        extra = ["--no-native"] if args.no_native else []
        results["reaction"] = runs.sandbox_mode(py, "reaction", "--runs", str(args.reaction_runs), *extra)
        if "error" not in results["reaction"]:
            results["reaction_rows"] = reaction_rows(results["reaction"])
    if "dashboard" in sections:
        print("dashboard run ...", file=sys.stderr)
        results["dashboard"] = runs.sandbox_mode(py, "dashboard")


def _memory_by_function(results: dict[str, Any]) -> dict[str, int]:
    functions = results.get("memory", {}).get("functions", {})
    return {f: m["recommended_mb"] for f, m in functions.items() if "recommended_mb" in m}


def _notifier_ms(results: dict[str, Any]) -> float | None:
    notifier = results.get("memory", {}).get("functions", {}).get("notifier", {})
    value = notifier.get("handler_ms")
    return float(value) if value is not None else None


def _print_notes(args: argparse.Namespace, results: dict[str, Any]) -> None:
    print(
        f"(cold start: whole process, median of {args.runs}; an empty interpreter takes "
        f"{results['cold_start']['empty_interpreter_ms']:.0f} ms)"
        if "cold_start" in results
        else ""
    )
    for function, errs in results.get("cold_start", {}).get("errors", {}).items():
        for impl, err in errs.items():
            print(f"  not measured: {function} / {LABELS[impl]}: {err}")
    for key in ("ticks", "tick_cpu", "memory", "kill", "reaction", "dashboard", "artifacts"):
        if "error" in results.get(key, {}):
            print(f"  {key} not measured: {results[key]['error']}")
    for name, err in results.get("tick_cpu", {}).get("errors", {}).items():
        print(f"  tick CPU not measured: {name}: {err}")
    if "tick_cpu" in results:
        print(
            f"(tick CPU: process CPU time, median of {results['tick_cpu'].get('rounds')} interleaved rounds,"
            " moto and the simulators in another process)"
        )
        no_timer = [v for v in results["tick_cpu"].get("venues", {}) if v in _no_timer_venues()]
        if no_timer:
            print(
                f"(tick CPU {', '.join(no_timer)}: no venue timer, so a healthy tick sends the venue nothing"
                " and no library has a call to make; set against the same DynamoDB calls on boto3, and"
                " against ccxt on the cancel-all a death sends, in the cold start)"
            )
    for function, m in results.get("memory", {}).get("functions", {}).items():
        if "error" in m:
            print(f"  peak RSS {function} not measured: {m['error']}")
    if "memory" in results:
        m = results["memory"]
        print(
            f"(MemorySize = max(128, round up to 16 MB of peak RSS x {1 + m['rss_margin']:g} + "
            f"{m['runtime_overhead_mb']} MB runtime); template defaults: refreshers "
            f"{results['cost']['assumptions']['memory_mb']} MB (RefresherMemorySize), kill 1024 MB, "
            "the others FunctionMemorySize)"
        )
    art = results.get("artifacts", {})
    if "how" in art:
        largest = ", ".join(f"{n} {b / 1e6:.1f} MB" for n, b in art.get("layer_largest", []))
        print(f"(artifacts: {art['how']}; largest in the layer: {largest})")
    dashboard_venues = results.get("dashboard", {}).get("venues")
    if dashboard_venues is not None and set(VENUES) - set(dashboard_venues):
        left = ", ".join(v for v in VENUES if v not in dashboard_venues)
        print(
            f"(dashboard run: the interactive sandbox's venues, without {left}: a timer whose rate limit"
            " the sandbox's 1 s tick uses up would draw rate-limit failures that a deployed T of 10 s never"
            " meets)"
        )
    unbounded = _no_native_bound(results.get("reaction", {}))
    if unbounded:
        print(
            f"(reaction after death, fleet gone: no row for {', '.join(unbounded)} on purpose: no venue"
            " timer, so with the fleet gone nothing cancels the book; there is no bound to measure against)"
        )
    for path in ("watchdog", "native"):
        for r in results.get("reaction", {}).get(path, []):
            accounts = ", ".join(
                f"{a} {v / 1000:.1f} s" if v is not None else f"{a} never"
                for a, v in r["per_account_ms"].items()
            )
            print(f"(reaction, {path}: {accounts})")
    for p in results.get("scale", {}).get("points", []):
        if p.get("errors"):
            print(f"  scale {p['venue']} {p['accounts']} acct {p['systems']} sys: errors {p['errors']}")
        if "error" in p:
            print(f"  scale {p['venue']} {p['accounts']} acct {p['systems']} sys not measured: {p['error']}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="cold starts per implementation")
    parser.add_argument("--signing-rounds", type=int, default=15)
    parser.add_argument("--tick-rounds", type=int, default=30)
    parser.add_argument("--cpu-rounds", type=int, default=30, help="per-tick CPU: interleaved rounds")
    parser.add_argument("--kill-rounds", type=int, default=7, help="kills per mode and venue latency")
    parser.add_argument("--latency", default="0,0.05", help="kill: simulated venue round trips, s")
    parser.add_argument("--reaction-runs", type=int, default=2, help="deaths with the fleet running")
    parser.add_argument("--no-native", action="store_true", help="skip the fleet-gone death (~50 s)")
    parser.add_argument("--scale-accounts", default="1,10,100")
    parser.add_argument("--scale-systems", default="1,5", help="trading systems, at 10 accounts")
    parser.add_argument("--scale-rounds", type=int, default=10)
    parser.add_argument(
        "--no-ticks", action="store_true", help="skip everything that needs the sandbox (cost uses stand-ins)"
    )
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help="comma-separated subset of " + ",".join(SECTIONS)
    )
    parser.add_argument("--functions", help="comma-separated subset of the cold-start functions")
    parser.add_argument("--python", default=sys.executable, help="interpreter for signing and cold starts")
    parser.add_argument(
        "--project-python", default=str(ROOT / ".venv" / "bin" / "python"), help="interpreter for the sandbox"
    )
    parser.add_argument("--sam-build-dir", type=Path, default=Path(tempfile.gettempdir()) / "bench-sam-build")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-charts", action="store_true")
    parser.add_argument(
        "--cost-only",
        action="store_true",
        help="only the cost model, on the measurements stored in OUT/bench.json (no .venv-bench needed)",
    )
    return parser


def cost_only(args: argparse.Namespace) -> int:
    """Step 7 alone: the cost model on the figures the last full run measured (the sandbox's calls per
    tick, the notifier's run time, the recommended MemorySizes), so that a change of the model or the
    template is priced without measuring everything again. Everything else in bench.json is kept."""
    path = args.out / "bench.json"
    try:
        results: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"no stored run to price ({exc}): run `make bench` first", file=sys.stderr)
        return 2
    results["cost"] = cost.model(
        ROOT / "template.yaml",
        results.get("ticks", {}).get("ticks"),
        notifier_ms=_notifier_ms(results),
        memory_mb=_memory_by_function(results),
    )
    results["cost"]["computed_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results["table"] = table(results)
    print(cost.render(results["cost"]))
    path.write_text(json.dumps(results, indent=2) + "\n")
    written = [str(path)]
    if not args.no_charts:
        try:
            from bench import charts
        except ImportError as exc:  # matplotlib is only in .venv-bench
            print(f"(no charts: {exc})")
        else:
            for name, draw in (
                ("cost.png", charts.cost_chart),
                ("cost_vs_bound.png", charts.cost_bound_chart),
            ):
                draw(results, args.out / name)
                written.append(str(args.out / name))
    print("wrote " + ", ".join(os.path.relpath(p, ROOT) for p in written))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cost_only:
        return cost_only(args)

    sections = set(args.sections.split(","))
    if args.no_ticks:
        sections -= {"ticks", "cpu", "memory", "scale", "kill", "reaction", "dashboard"}
    functions = COLD_STARTS
    if args.functions:
        functions = {f: COLD_STARTS[f] for f in args.functions.split(",")}
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    }
    if "signing" in sections:
        print("signing ...", file=sys.stderr)
        results["signing"] = signing(args.python, args.signing_rounds)
    if "cold" in sections:
        print("cold starts ...", file=sys.stderr)
        results["cold_start"] = cold_starts(args.python, args.runs, functions)
    if "ticks" in sections:
        print("sandbox ticks ...", file=sys.stderr)
        results["ticks"] = ticks(args.project_python, args.tick_rounds)
    _server_sections(args, sections, results)
    _sandbox_sections(args, sections, results)
    if "sam" in sections:
        print("sam build ...", file=sys.stderr)
        results["artifacts"] = artifacts.artifacts(args.sam_build_dir)
    if "imports" in sections:
        print("imports beyond the floor ...", file=sys.stderr)
        results["imports"] = importtime.beyond_floor(
            args.python, _env(), ["refresher-kraken", "refresher-hyperliquid", "kill"]
        )
    measured = results.get("ticks", {}).get("ticks")
    results["cost"] = cost.model(
        ROOT / "template.yaml",
        measured,
        notifier_ms=_notifier_ms(results),
        memory_mb=_memory_by_function(results),
    )
    results["table"] = table(results)

    print(render(results["table"]))
    _print_notes(args, results)
    print()
    print(cost.render(results["cost"]))
    if "imports" in results:
        print()
        print(render_imports(results["imports"]))

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    written = [str(args.out / "bench.json")]
    if not args.no_charts:
        try:
            from bench import charts
        except ImportError as exc:  # matplotlib is only in .venv-bench
            print(f"(no charts: {exc})")
        else:
            written += charts.draw(results, args.out, ROOT / "template.yaml")
    print("wrote " + ", ".join(os.path.relpath(p, ROOT) for p in written))
    return 0


def render_imports(imports: dict[str, Any]) -> str:
    lines = [
        f"imports beyond the floor (python -X importtime, self ms; the floor's own imports: "
        f"{imports['floor_ms']:.0f} ms):"
    ]
    for function, f in imports["functions"].items():
        packages = ", ".join(f"{n} {ms:.0f}" for n, ms in list(f["by_package_ms"].items())[:8])
        modules = ", ".join(
            f"{n.removeprefix('deadman.')} {ms:.1f}" for n, ms in list(f["deadman_modules_ms"].items())[:5]
        )
        lines.append(f"  {function:<22} {f['beyond_floor_ms']:5.0f} ms: {packages}")
        lines.append(f"  {'':<22} deadman: {modules}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

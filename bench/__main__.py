"""`make bench`: deadman side by side with ccxt / hyperliquid-python-sdk / python-kraken-sdk.

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
4. The monthly cost model (bench/cost.py) from template.yaml and the calls measured in 3.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import cost

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "bench"

# function -> implementations, ours first; the alternatives are the ones people actually reach for.
COLD_STARTS: dict[str, list[str]] = {
    "refresher-kraken": ["ours", "ccxt", "krakensdk"],
    "refresher-gemini": ["ours", "ccxt"],
    "refresher-hyperliquid": ["ours", "hlsdk", "ccxt"],
    "kill": ["ours", "ccxt"],
    "disarm": ["ours"],
    "status": ["ours"],
    "refresher": ["floor"],  # boto3 + Powertools + the two clients: what no refresher can go under
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
    "ENABLED_VENUES": "gemini,kraken,hyperliquid",
    "SECRET_GEMINI": "arn:aws:secretsmanager:us-east-1:123456789012:secret:deadman/gemini",
    "SECRET_KRAKEN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:deadman/kraken",
    "SECRET_HYPERLIQUID": "arn:aws:secretsmanager:us-east-1:123456789012:secret:deadman/hyperliquid",
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
    for backend, sig in results["signing"].items():
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
    cold = results["cold_start"]
    for function, by_impl in cold["median_ms"].items():
        if function == "refresher":  # the floor: a figure of its own, no comparison
            rows.append(
                {"what": "cold start floor (boto3 + Powertools + 2 clients)", "unit": "ms",
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
            rows.append(
                {
                    "what": f"cold start {function}",
                    "unit": "ms",
                    "deadman": ours,
                    "alternative": None,
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
    for venue, c in results["cost"]["venues"].items():
        rows.append(
            {"what": f"monthly cost {venue}", "unit": "$", "deadman": c["total_usd"], "alternative": None,
             "value": None, "ratio": None}
        )  # fmt: skip
    rows.append(
        {"what": "monthly cost fleet (3 venues)", "unit": "$", "deadman": results["cost"]["fleet_total_usd"],
         "alternative": None, "value": None, "ratio": None}
    )  # fmt: skip
    return rows


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "$":
        return f"${value:,.2f}"
    return f"{value:,.1f} {unit}"


def render(rows: list[dict[str, Any]]) -> str:
    header = f"{'WHAT':<56} {'DEADMAN':>11}  {'ALTERNATIVE':<30} {'VALUE':>11}  RATIO"
    lines = [header]
    for row in rows:
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-"
        lines.append(
            f"{row['what']:<56} {_fmt(row['deadman'], row['unit']):>11}  {row['alternative'] or '-':<30}"
            f" {_fmt(row['value'], row['unit']):>11}  {ratio}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="cold starts per implementation")
    parser.add_argument("--signing-rounds", type=int, default=15)
    parser.add_argument("--tick-rounds", type=int, default=30)
    parser.add_argument(
        "--no-ticks", action="store_true", help="skip the sandbox ticks (cost uses stand-ins)"
    )
    parser.add_argument("--functions", help="comma-separated subset of the cold-start functions")
    parser.add_argument("--python", default=sys.executable, help="interpreter for signing and cold starts")
    parser.add_argument(
        "--project-python", default=str(ROOT / ".venv" / "bin" / "python"), help="interpreter for the ticks"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-charts", action="store_true")
    args = parser.parse_args(argv)

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
    print("signing ...", file=sys.stderr)
    results["signing"] = signing(args.python, args.signing_rounds)
    print("cold starts ...", file=sys.stderr)
    results["cold_start"] = cold_starts(args.python, args.runs, functions)
    if not args.no_ticks:
        print("sandbox ticks ...", file=sys.stderr)
        results["ticks"] = ticks(args.project_python, args.tick_rounds)
    measured = results.get("ticks", {}).get("ticks")
    results["cost"] = cost.model(ROOT / "template.yaml", measured)
    results["table"] = table(results)

    print(render(results["table"]))
    print(f"(cold start: whole process, median of {args.runs}; an empty interpreter takes "
          f"{results['cold_start']['empty_interpreter_ms']:.0f} ms)")  # fmt: skip
    for function, errs in results["cold_start"]["errors"].items():
        for impl, err in errs.items():
            print(f"  not measured: {function} / {LABELS[impl]}: {err}")
    if "error" in results.get("ticks", {}):
        print(f"  sandbox ticks not measured: {results['ticks']['error']}")
    print()
    print(cost.render(results["cost"]))

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    written = [str(args.out / "bench.json")]
    if not args.no_charts:
        try:
            from bench import charts
        except ImportError as exc:  # matplotlib is only in .venv-bench
            print(f"(no charts: {exc})")
        else:
            written += charts.draw(results, args.out)
    print("wrote " + ", ".join(os.path.relpath(p, ROOT) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())

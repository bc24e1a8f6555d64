"""What a handler imports beyond the floor (boto3, Powertools, two clients), from `python -X importtime`.

For each handler (bench/coldstart.py `ours FUNCTION`, the same cold start the table times) and for the
floor (`floor refresher`), every module's own import time is read from `-X importtime`'s report
(median over runs). The modules the handler loads and the floor does not are summed by top-level
package (and, for deadman, listed by module), largest first: where a lazy import would pay.
"""

from __future__ import annotations

import statistics
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _modules(python: str, env: dict[str, str], impl: str, function: str) -> dict[str, float]:
    proc = subprocess.run(  # noqa: S603  (our interpreter and script)
        [python, "-X", "importtime", str(ROOT / "bench" / "coldstart.py"), impl, function],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    return parse(proc.stderr)


def parse(report: str) -> dict[str, float]:
    """`-X importtime` lines (`import time: self [us] | cumulative | name`) -> module: own ms."""
    out: dict[str, float] = {}
    for line in report.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        out[name] = out.get(name, 0.0) + float(self_us) / 1000
    return out


def _median_modules(
    python: str, env: dict[str, str], impl: str, function: str, runs: int
) -> dict[str, float]:
    samples = [_modules(python, env, impl, function) for _ in range(runs)]
    names = set().union(*samples)
    return {n: statistics.median(s.get(n, 0.0) for s in samples) for n in names}


def beyond_floor(python: str, env: dict[str, str], functions: list[str], runs: int = 3) -> dict[str, Any]:
    floor = _median_modules(python, env, "floor", "refresher", runs)
    out: dict[str, Any] = {"floor_ms": sum(floor.values()), "functions": {}}
    for function in functions:
        mods = _median_modules(python, env, "ours", function, runs)
        extra = {n: ms for n, ms in mods.items() if n not in floor}
        by_package: dict[str, float] = {}
        for name, ms in extra.items():
            top = name.split(".")[0]
            by_package[top] = by_package.get(top, 0.0) + ms
        deadman = sorted(
            ((n, ms) for n, ms in extra.items() if n.startswith("deadman")), key=lambda kv: -kv[1]
        )
        out["functions"][function] = {
            "total_ms": sum(mods.values()),
            "beyond_floor_ms": sum(extra.values()),
            "by_package_ms": dict(sorted(by_package.items(), key=lambda kv: -kv[1])[:12]),
            "deadman_modules_ms": dict(deadman[:12]),
        }
    return out


if __name__ == "__main__":
    import json
    import sys

    from bench.__main__ import _env

    print(json.dumps(beyond_floor(sys.executable, _env(), sys.argv[1:] or ["refresher-kraken"]), indent=1))

"""The sandbox measurements of `make bench`, each in processes of its own (imported by `python -m bench`).

- `SandboxServer`: `python -m sandbox.bench serve` (the project's .venv: moto, the simulators) in a
  child process; its endpoints are written to a JSON file the workers read; stopped by its PID.
- `tick_cpu`: bench/tickcpu.py (in .venv-bench, which has the alternatives) against the server.
- `memory`: bench/worker.py memory, one fresh process per function (project .venv), and the
  MemorySize each should get.
- `scale`: bench/worker.py scale, one fresh process per (venue, accounts, systems).
- `sandbox_mode`: `python -m sandbox.bench kill|reaction|dashboard --json -`.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from deadman.venues import VENUES

ROOT = Path(__file__).resolve().parent.parent
# Scale stays on the first three venues: the bench's pool of accounts meets the newer venues' own
# limits before it measures deadman (OKX: the pool's tag timers share one sub-account, at most 20;
# Binance: 100 accounts' countdowns are over the IP's request weight for a minute). Measuring them
# needs a pool shaped for each venue.
SCALE_VENUES = ("kraken", "gemini", "hyperliquid")

# Lambda's MemorySize is the whole execution environment: the runtime's own processes and buffers come
# on top of the Python process's resident set (40-60 MB; the upper end is taken), and a margin on the
# resident set covers what a run here did not reach (a bigger secret, a slow venue's buffers, more
# accounts).
RUNTIME_OVERHEAD_MB = 60
RSS_MARGIN = 0.25
MEMORY_STEP_MB = 16
LAMBDA_MIN_MB = 128
FUNCTIONS = (
    *(f"refresher-{venue}" for venue in VENUES),
    "status",
    "disarm",
    "notifier",
    "kill",  # last: it latches every switch of the server's stack
)


def recommend_memory_mb(peak_rss_mb: float) -> int:
    """max(128, round up to 16 MB of (peak RSS x 1.25 + 60 MB runtime))."""
    need = peak_rss_mb * (1 + RSS_MARGIN) + RUNTIME_OVERHEAD_MB
    return max(LAMBDA_MIN_MB, math.ceil(need / MEMORY_STEP_MB) * MEMORY_STEP_MB)


def _tail(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:300] if lines else "?"


class SandboxServer:
    def __init__(self, project_python: str, pool: int) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="deadman-bench-")
        self.info_path = Path(self._dir.name) / "info.json"
        self._stderr: IO[str] = open(Path(self._dir.name) / "server.err", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(  # noqa: S603  (the project's interpreter)
            [project_python, "-m", "sandbox.bench", "serve", "--pool", str(pool)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.info: dict[str, Any] = self._answer()
        self.info_path.write_text(json.dumps(self.info))

    def _answer(self) -> Any:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self._stderr.seek(0)
                raise RuntimeError(f"sandbox server exited: {_tail(self._stderr.read())}")
            if line.startswith("{"):
                return json.loads(line)

    def command(self, line: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # this PID only: the server we started
            self.proc.wait(timeout=10)
        self._stderr.close()
        self._dir.cleanup()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _run_json(argv: list[str], *, timeout: float, out: Path | None = None) -> dict[str, Any]:
    proc = subprocess.run(  # noqa: S603  (our own interpreters and scripts)
        argv,
        cwd=ROOT,
        capture_output=out is None,
        stdout=subprocess.DEVNULL if out is not None else None,
        stderr=subprocess.PIPE if out is not None else None,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": _tail(proc.stderr or "") or f"exit {proc.returncode}"}
    if out is not None:
        result: dict[str, Any] = json.loads(out.read_text())
        return result
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {"error": "no output"}


def tick_cpu(python: str, server: SandboxServer, rounds: int) -> dict[str, Any]:
    return _run_json(
        [python, str(ROOT / "bench" / "tickcpu.py"), str(server.info_path), str(rounds)], timeout=900
    )


def memory(
    project_python: str, server: SandboxServer, functions: tuple[str, ...] = FUNCTIONS
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "runtime_overhead_mb": RUNTIME_OVERHEAD_MB,
        "rss_margin": RSS_MARGIN,
        "functions": {},
    }
    for function in functions:
        if function == "kill":
            server.command("rest 2")  # a kill with orders to sweep on every venue
        result_path = server.info_path.with_name(f"memory-{function}.json")
        result = _run_json(
            [project_python, str(ROOT / "bench" / "worker.py"), "memory", str(server.info_path), function,
             str(result_path)],
            timeout=300, out=result_path,
        )  # fmt: skip
        if "peak_rss_mb" in result:
            result["recommended_mb"] = recommend_memory_mb(result["peak_rss_mb"])
        out["functions"][function] = result
    return out


def scale(
    project_python: str,
    server: SandboxServer,
    accounts: list[int],
    systems: list[int],
    rounds: int,
    venues: tuple[str, ...] = SCALE_VENUES,
) -> dict[str, Any]:
    """Accounts 1 -> 10 -> 100 with one trading system; then, at 10 accounts, systems 1 -> 5."""
    points: list[dict[str, Any]] = []
    cases = [(n, 1) for n in accounts] + [(min(10, max(accounts)), k) for k in systems if k != 1]
    for venue in venues:
        for n, k in cases:
            result_path = server.info_path.with_name(f"scale-{venue}-{n}-{k}.json")
            r = rounds if n <= 10 else max(3, rounds // 2)
            result = _run_json(
                [project_python, str(ROOT / "bench" / "worker.py"), "scale", str(server.info_path), venue,
                 str(n), str(k), str(r), str(result_path)],
                timeout=900, out=result_path,
            )  # fmt: skip
            result.setdefault("venue", venue)
            result.setdefault("accounts", n)
            result.setdefault("systems", k)
            points.append(result)
    return {"points": points}


def largest_under(points: list[dict[str, Any]], venue: str, budget_ms: float) -> dict[str, Any] | None:
    """The largest account count whose every tick stays under `budget_ms` (the slowest of the rounds):
    measured if the largest measured count is over it, else extrapolated linearly from the two largest
    measured counts (one trading system)."""
    measured = sorted(
        (p["accounts"], p.get("tick_ms_max", p["tick_ms_median"]))
        for p in points
        if p.get("venue") == venue and p.get("systems") == 1 and "tick_ms_median" in p
    )
    if not measured:
        return None
    under = [n for n, ms in measured if ms < budget_ms]
    if len(under) < len(measured):
        return {"accounts": max(under, default=0), "how": "measured"}
    if len(measured) < 2:
        return {"accounts": measured[-1][0], "how": "measured (largest tried)"}
    (n1, t1), (n2, t2) = measured[-2], measured[-1]
    slope = (t2 - t1) / (n2 - n1) if n2 != n1 else 0.0
    if slope <= 0:
        return {"accounts": n2, "how": "measured (largest tried; no growth to extrapolate)"}
    return {"accounts": int(n2 + (budget_ms - t2) / slope), "how": f"extrapolated {n1}->{n2}"}


def sandbox_mode(project_python: str, mode: str, *args: str, timeout: float = 900) -> dict[str, Any]:
    return _run_json([project_python, "-m", "sandbox.bench", mode, *args, "--json", "-"], timeout=timeout)

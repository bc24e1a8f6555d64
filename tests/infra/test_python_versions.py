"""Lambda runs python3.13; developers may run 3.11 or 3.12. The layer and handlers must compile on
each, and the pure core must run on 3.13 (stdlib only, no venv needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(str(p) for d in ("layers/deadman/deadman", "functions") for p in (ROOT / d).rglob("*.py"))
ENV = {**os.environ, "PYENV_VERSION": os.environ.get("PYENV_VERSION", "3.11.7:3.12.1:3.13.0")}


def interpreter(version: str) -> str:
    path = shutil.which(f"python{version}", path=ENV.get("PATH"))
    if path is None:
        pytest.fail(
            f"python{version} not on PATH (pyenv with PYENV_VERSION=3.11.7:3.12.1:3.13.0 provides it)"
        )
    return path


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_layer_and_handlers_compile(version: str, tmp_path: Path) -> None:
    script = (
        "import py_compile, sys\n"
        "for i, f in enumerate(sys.argv[1:]):\n"
        f"    py_compile.compile(f, cfile={str(tmp_path)!r} + f'/{{i}}.pyc', doraise=True)\n"
    )
    result = subprocess.run(
        [interpreter(version), "-c", script, *SOURCES], env=ENV, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert len(SOURCES) > 20


def test_pure_core_runs_on_313() -> None:
    # policy pulls in venues.base and errors only: stdlib, so the bare interpreter can run it.
    script = (
        "import sys; sys.path.insert(0, 'layers/deadman')\n"
        "from deadman.core.policy import Timing, SwitchView, LivenessView, decide\n"
        "from deadman.core.venue import Capabilities, TimerKind\n"
        "caps = Capabilities('kraken', TimerKind.RELATIVE_SECONDS, True, 1000, 86399000, None, None)\n"
        "d = decide(now_ms=100_000, liveness=LivenessView(True, 99_000), switch=SwitchView(),\n"
        "           caps=caps, timing=Timing())\n"
        "print(sys.version_info[:2], d.extend_to_ms)\n"
    )
    result = subprocess.run(
        [interpreter("3.13"), "-c", script], cwd=ROOT, env=ENV, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(3, 13) 144000"

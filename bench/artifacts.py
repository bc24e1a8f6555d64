"""What `sam build` makes, and what Lambda is given: the layer and each function, unzipped and zipped.

`sam build --template template.yaml --build-dir DIR` (arm64, python3.13 wheels; .venv-sam, the pyenv
interpreters on PATH), then every artifact directory measured: bytes on disk (file sizes) and bytes
of a deflate zip of it (what `sam deploy` uploads; Lambda's limits are 50 MB zipped direct upload and
250 MB unzipped for a function and all its layers). When `sam build` cannot run, the layer is measured
from `pip install --target` of layers/deadman/requirements.txt for python3.13 / aarch64 instead, and
the result says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYENV_VERSION = "3.11.7:3.12.1:3.13.0"


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def zip_bytes(path: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "a.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for file in sorted(path.rglob("*")):
                if file.is_file():
                    archive.write(file, file.relative_to(path))
        return target.stat().st_size


def largest_packages(layer: Path, top: int = 6) -> list[tuple[str, int]]:
    site = layer / "python" if (layer / "python").is_dir() else layer
    sizes: dict[str, int] = {}
    for entry in site.iterdir():
        if entry.name.endswith((".dist-info", ".data")) or entry.name == "__pycache__":
            continue
        name = entry.name.split(".")[0].split("-")[0]
        sizes[name] = sizes.get(name, 0) + (tree_bytes(entry) if entry.is_dir() else entry.stat().st_size)
    return sorted(sizes.items(), key=lambda kv: -kv[1])[:top]


def measure(build_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for artifact in sorted(p for p in build_dir.iterdir() if p.is_dir()):
        out[artifact.name] = {"unzipped_bytes": tree_bytes(artifact), "zipped_bytes": zip_bytes(artifact)}
    return out


def sam_build(sam: Path, build_dir: Path) -> dict[str, Any]:
    env = {**os.environ, "PYENV_VERSION": PYENV_VERSION, "SAM_CLI_TELEMETRY": "0"}
    if build_dir.exists():
        shutil.rmtree(build_dir)
    proc = subprocess.run(  # noqa: S603  (the project's own sam, the project's template)
        [str(sam), "build", "--template", "template.yaml", "--build-dir", str(build_dir),
         "--cache-dir", str(build_dir.parent / "bench-sam-cache")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["sam build failed"])[-1]}
    return {"how": "sam build (arm64, python3.13)", "artifacts": measure(build_dir)}


def pip_target(build_dir: Path) -> dict[str, Any]:
    layer = build_dir / "DeadmanLayer" / "python"
    if build_dir.exists():
        shutil.rmtree(build_dir)
    python = shutil.which("python3.13")
    if python is None:
        return {"error": "python3.13 not on PATH"}
    proc = subprocess.run(  # noqa: S603  (pyenv's python3.13, on PATH as for sam build)
        [python, "-m", "pip", "install", "-q", "--target", str(layer),
         "--platform", "manylinux2014_aarch64", "--only-binary=:all:", "--python-version", "3.13",
         "-r", str(ROOT / "layers" / "deadman" / "requirements.txt")],
        env={**os.environ, "PYENV_VERSION": PYENV_VERSION}, capture_output=True, text=True, timeout=900,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["pip failed"])[-1]}
    shutil.copytree(ROOT / "layers" / "deadman" / "deadman", layer / "deadman")
    for function in ("refresher", "kill", "disarm", "status", "notifier"):
        shutil.copytree(ROOT / "functions" / function, build_dir / function)
    return {
        "how": "pip install --target (sam build could not run): layer requirements for python3.13/aarch64",
        "artifacts": measure(build_dir),
    }


def artifacts(build_dir: Path) -> dict[str, Any]:
    sam = ROOT / ".venv-sam" / "bin" / "sam"
    result: dict[str, Any] = (
        sam_build(sam, build_dir) if sam.exists() else {"error": ".venv-sam/bin/sam not installed"}
    )
    if "error" in result:
        fallback = pip_target(build_dir)
        fallback["sam_error"] = result["error"]
        result = fallback
    layer = build_dir / "DeadmanLayer"
    if layer.is_dir():
        result["layer_largest"] = largest_packages(layer)
    return result

"""The layering check passes on the package, and fails on a package that breaks each rule."""

from __future__ import annotations

from pathlib import Path

from tests.architecture import layers


def test_the_package_keeps_the_house_rules() -> None:
    assert [str(b) for b in layers.check() + layers.long_modules()] == []


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "layers" / "deadman" / "deadman"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for layer in layers.LAYERS:
        (root / layer).mkdir(exist_ok=True)
        (root / layer / "__init__.py").touch()
    return root


def test_an_outward_import_is_a_breach_even_when_lazy(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "core/policy.py": "def f():\n    from deadman.stores.switches import SwitchStore\n",
            "stores/switches.py": "class SwitchStore: ...\n",
        },
    )
    [breach] = layers.check(root, functions=None)
    assert breach.rule == "outward import" and "core may not import stores" in breach.detail
    assert breach.path.endswith("core/policy.py") and breach.line == 2


def test_a_cycle_within_a_layer_is_a_breach(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "edges/cli.py": "from deadman.edges import doctor\n",
            "edges/doctor.py": "def f():\n    from deadman.edges.cli import main\n",
        },
    )
    [breach] = layers.check(root, functions=None)
    assert breach.rule == "import cycle" and breach.detail == "deadman.edges.cli -> deadman.edges.doctor"


def test_a_long_module_needs_its_reason(tmp_path: Path) -> None:
    body = "x = 1\n" * (layers.MAX_LINES + 1)
    root = _package(
        tmp_path,
        {
            "app/long.py": '"""Long."""\n' + body,
            "app/reasoned.py": f'"""Long.\n\n{layers.LONG_REASON} it is one argument."""\n' + body,
        },
    )
    [breach] = layers.check(root, functions=None)
    assert breach.rule == "long module" and breach.path.endswith("app/long.py")


def test_no_reason_covers_a_module_over_the_cap(tmp_path: Path) -> None:
    reason = f'"""Long.\n\n{layers.LONG_REASON} it is one argument."""\n'  # three lines
    root = _package(
        tmp_path,
        {
            "app/at_cap.py": reason + "x = 1\n" * (layers.HARD_MAX_LINES - 3),
            "app/over.py": reason + "x = 1\n" * (layers.HARD_MAX_LINES - 2),
        },
    )
    [breach] = layers.check(root, functions=None)
    assert breach.rule == "too long" and breach.path.endswith("app/over.py")


def test_a_handler_reaches_only_the_edges(tmp_path: Path) -> None:
    root = _package(tmp_path, {"app/refresh.py": "", "edges/entry.py": ""})
    functions = tmp_path / "functions"
    (functions / "refresher").mkdir(parents=True)
    (functions / "refresher" / "app.py").write_text(
        "from deadman.edges.entry import run\nfrom deadman.app.refresh import Refresher\n"
    )
    [breach] = layers.check(root, functions=functions)
    assert breach.rule == "handler import" and breach.line == 2

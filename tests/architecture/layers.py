"""The house rules of the `deadman` package, checked over its source: `make lint` runs this.

1. Imports point inward. Each top-level folder is a layer; a module may import its own layer and the
   layers below it, never one above:

       edges   API routes, scheduler entry, CLI, doctor, wiring from the environment, Powertools
       app     use cases: the refresher's tick and loop, kill / disarm / arm / status, alerts
       stores  DynamoDB and Secrets Manager adapters
       venues  the venues' wire protocols (Kraken, Gemini, Hyperliquid)
       core    pure decisions and values; imports nothing of deadman outside itself

   The Lambda handlers (`functions/*/app.py`) sit outside all of them and may import only `edges`
   and `core` (a handler is decorators plus one call into an edge).
2. No import cycles between modules (lazy imports inside functions count too).
3. No module over MAX_LINES lines unless its docstring says why ("Why this file is long:"), and
   no module of the package over HARD_MAX_LINES lines at all, reason or not: past that it is split
   (a package of modules, as the venues are). The sandbox and the simulators are held to the first
   half only (`long_modules`): some of them (the DynamoDB stand-in, the fleet simulator) are longer,
   and the cap is the package's rule.

    python -m tests.architecture.layers      # prints each breach, exits 1 if any
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "deadman" / "deadman"
FUNCTIONS = ROOT / "functions"
SANDBOX = ROOT / "sandbox"
LAYERS = ("core", "venues", "stores", "app", "edges")  # inner to outer
HANDLER_MAY_IMPORT = frozenset({"core", "edges"})
MAX_LINES = 400
HARD_MAX_LINES = 500  # the package only: no reason covers more
LONG_REASON = "Why this file is long:"


@dataclass(frozen=True)
class Breach:
    path: str
    line: int
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.detail}"


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """Every deadman module this tree imports, anywhere in it (lazy imports included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "deadman":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "deadman":
                continue
            yield node.lineno, target
            for alias in node.names:  # `from deadman.app import control` imports a module
                yield node.lineno, f"{target}.{alias.name}"


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _known(target: str, modules: set[str]) -> str | None:
    """The module an import names (a `from X import name` may name an attribute, not a module)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def check(package: Path = PACKAGE, functions: Path | None = FUNCTIONS) -> list[Breach]:
    sources = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    modules = set(sources)
    breaches: list[Breach] = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in sources.items():
        text = path.read_text()
        tree = ast.parse(text, filename=str(path))
        rel = str(path.relative_to(package.parent.parent.parent))
        own = layer_of(module)
        if own is None and module not in ("deadman",):
            breaches.append(Breach(rel, 1, "layer", f"{module} is in no layer ({', '.join(LAYERS)})"))
        seen: set[tuple[int, str]] = set()
        for line, target in imports_of(tree, module, path.name == "__init__.py"):
            known = _known(target, modules)
            if known is None or known == module or (line, known) in seen:
                continue
            seen.add((line, known))
            if known != module.rpartition(".")[0]:  # a package's own __init__ runs first anyway
                graph[module].add(known)
            theirs = layer_of(known)
            if own and theirs and LAYERS.index(theirs) > LAYERS.index(own):
                breaches.append(
                    Breach(rel, line, "outward import", f"{own} may not import {theirs} ({known})")
                )
        lines = text.count("\n")
        docstring = ast.get_docstring(tree) or ""
        if lines > HARD_MAX_LINES:
            why = f"{lines} lines > {HARD_MAX_LINES}: split it (no reason covers this)"
            breaches.append(Breach(rel, 1, "too long", why))
        elif lines > MAX_LINES and LONG_REASON not in docstring:
            breaches.append(
                Breach(
                    rel,
                    1,
                    "long module",
                    f"{lines} lines > {MAX_LINES}, and no '{LONG_REASON}' in its docstring",
                )
            )
    breaches += [Breach("layers/deadman/deadman", 0, "import cycle", " -> ".join(c)) for c in cycles(graph)]
    if functions is not None and functions.is_dir():
        for handler in sorted(functions.glob("*/app.py")):
            seen_layers: set[tuple[int, str | None]] = set()
            tree = ast.parse(handler.read_text(), filename=str(handler))
            for line, target in imports_of(tree, "handler", False):
                theirs = layer_of(_known(target, modules) or target)
                if theirs not in HANDLER_MAY_IMPORT and (line, theirs) not in seen_layers:
                    seen_layers.add((line, theirs))
                    rel = str(handler.relative_to(functions.parent))
                    breaches.append(
                        Breach(rel, line, "handler import", f"{target}: a handler imports edges only")
                    )
    return breaches


def long_modules(folder: Path = SANDBOX) -> list[Breach]:
    """Rule 3 for the sandbox and simulators too, its first half only (a reason covers any length)."""
    out = []
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_LINES and LONG_REASON not in (ast.get_docstring(ast.parse(text)) or ""):
            why = f"{lines} lines > {MAX_LINES}, and no '{LONG_REASON}' in its docstring"
            out.append(Breach(str(path.relative_to(folder.parent)), 1, "long module", why))
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main(argv: Iterable[str] = ()) -> int:
    breaches = check() + long_modules()
    for breach in breaches:
        print(breach)
    print(f"layers: {len(breaches)} breaches" if breaches else "layers: imports point inward, no cycles")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

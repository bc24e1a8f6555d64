"""Every registered venue brings everything a venue needs, and nothing outside its own files names it.

A new venue is its module (or package), its simulator, its tests and vectors, its docs section, its
event sample, and one line in `deadman.venues.REGISTRY` (docs/adding-a-venue.md). Each test here
names what is missing for which venue."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from deadman.venues import REGISTRY, SPECS, VENUES, driver
from deadman.venues import errors as venue_errors

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "deadman" / "deadman"


@pytest.mark.parametrize("venue", VENUES)
def test_the_driver_loads_and_says_who_it_is(venue: str) -> None:
    spec = driver(venue).spec
    assert spec.name == venue and spec.capabilities.venue == venue
    assert spec.title and spec.doctor, f"{venue}: its spec needs a title and doctor's text"
    assert spec.clock_window_ms > 0


@pytest.mark.parametrize("venue", VENUES)
def test_signing_vectors_and_the_client_tests_exist(venue: str) -> None:
    assert (ROOT / "tests" / "unit" / f"test_{venue}_signing.py").exists(), f"{venue}: no signing vectors"
    assert (ROOT / "tests" / "integration" / f"test_{venue}_venue.py").exists(), f"{venue}: no client tests"


@pytest.mark.parametrize("venue", VENUES)
def test_an_event_sample_drives_its_refresher(venue: str) -> None:
    sample = ROOT / "events" / f"refresher-{venue}.json"
    assert sample.exists(), f"{venue}: no events/refresher-{venue}.json"
    assert json.loads(sample.read_text())["venue"] == venue


@pytest.mark.parametrize("venue", VENUES)
def test_the_docs_have_its_section(venue: str) -> None:
    title = SPECS[venue].title
    configure = (ROOT / "README.md").read_text().split("## Configure venues", 1)[1].split("\n## ", 1)[0]
    assert f"**{title}**" in configure, f"README, Configure venues: no **{title}** entry"
    assert re.search(rf"^## {re.escape(title)}\b", (ROOT / "docs" / "venues.md").read_text(), re.M), (
        f"docs/venues.md: no '## {title}' section"
    )


@pytest.mark.parametrize("venue", VENUES)
def test_the_template_deploys_it(venue: str) -> None:
    template = (ROOT / "template.yaml").read_text()
    title = SPECS[venue].title
    for needed in (f"Enable{title}:", f"refresher-{venue}", f"{title}SecretArn:"):
        assert needed in template, f"template.yaml: no {needed} for {venue}"


@pytest.mark.parametrize("venue", VENUES)
def test_the_sandbox_simulates_it(venue: str) -> None:
    from sandbox.venues.registry import SIMULATORS

    assert venue in SIMULATORS, f"{venue}: no simulator (sandbox/venues/{venue}.py naming its SIMULATOR)"
    assert SIMULATORS[venue].venue == venue


def test_the_campaign_draws_every_venue() -> None:
    from sandbox.sim.scenario import make_scenario

    drawn = {make_scenario(seed).venue for seed in range(300)}
    assert drawn == set(VENUES), f"never drawn in 300 scenarios: {sorted(set(VENUES) - drawn)}"


@pytest.mark.parametrize("venue", VENUES)
def test_the_bench_measured_it(venue: str) -> None:
    bench = json.loads((ROOT / "docs" / "bench" / "bench.json").read_text())
    assert venue in bench["tick_cpu"]["venues"], f"bench: no per-tick CPU row for {venue}"
    assert venue in bench["cost"]["venues"], f"bench: no cost row for {venue}"


def _venue_literals(path: Path) -> list[tuple[int, str]]:
    """String constants that are exactly a registered venue's name: code that branches on a venue."""
    tree = ast.parse(path.read_text())
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in REGISTRY
    ]


def test_no_code_outside_the_venue_modules_names_a_venue() -> None:
    """Venue quirks live behind the contract (capabilities, the driver, the account): app/, core/,
    stores/ and edges/ never branch on a venue's name."""
    found = []
    for layer in ("app", "core", "stores", "edges"):
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            found += [f"{path.relative_to(ROOT)}:{line}: {name!r}" for line, name in _venue_literals(path)]
    assert found == [], "\n".join(found)


def _venue_identifiers(path: Path) -> list[tuple[int, str]]:
    """Names in code (variables, arguments, attributes, functions, classes) that carry a venue's
    name: a quirk spelled in the caller rather than behind the contract."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, ast.keyword):
            names = [node.arg or ""]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        else:
            continue
        found += [(node.lineno, name) for name in names if _carries_a_venue(name)]
    return found


# The error taxonomy's own names are the contract every venue maps into, not a caller's quirk (a
# "volume gate" is a kind of refusal, whatever venue is registered as "gate").
_TAXONOMY = frozenset(n for n, v in vars(venue_errors).items() if isinstance(v, type))


def _carries_a_venue(name: str) -> bool:
    """A venue's name in the identifier, in any case, unless a longer lower-case word goes on from it
    (`gemini_key`, `KrakenTimer` and `isgemini` carry one; `gated` does not carry "gate")."""
    if name in _TAXONOMY:
        return False
    lower = name.lower()
    for venue in REGISTRY:
        for at in (m.start() for m in re.finditer(re.escape(venue), lower)):
            after = name[at + len(venue) : at + len(venue) + 1]
            if not after.islower():
                return True
    return False


def test_no_name_in_the_inner_layers_carries_a_venue() -> None:
    """app/, core/ and stores/ speak of capabilities (a key whose calls push the timer), never of a
    venue; only the edges keep a public flag's name (`--allow-gemini-call`)."""
    found = []
    for layer in ("app", "core", "stores"):
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            found += [f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in _venue_identifiers(path)]
    assert found == [], "\n".join(found)


def test_no_sandbox_code_outside_the_simulators_names_a_venue() -> None:
    """The stack, the trader, the bench server, the demo and the campaign drive every venue through
    the simulator interface: only `sandbox/venues/<name>.py` knows its venue."""
    found = []
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        if path.parent.name == "venues" and path.stem in REGISTRY:
            continue
        found += [f"{path.relative_to(ROOT)}:{line}: {name!r}" for line, name in _venue_literals(path)]
    assert found == [], "\n".join(found)

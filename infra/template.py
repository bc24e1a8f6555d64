"""template.yaml's per-venue parts, written once and expanded for every registered venue.

template.yaml stays the committed, hand-edited template; only the regions between

    # --- generated per venue by infra/template.py (<section>): do not edit ---
    # --- end (<section>) ---

are this script's. It fills each with its section of infra/venue_blocks.yaml.tmpl, rendered for the
venues of `deadman.venues.REGISTRY` in registry order, at the markers' indentation. What differs
between venues comes from each venue's `VenueSpec` and its capabilities, never from a venue's name
(`venue_values`).

    python -m infra.template          # rewrite template.yaml (make template)
    python -m infra.template --check  # exit 1, with the difference, if it is not what this writes

tests/infra/test_template_source.py runs the check. CloudFormation's own `Fn::ForEach` was the other
way; it cannot write Parameters, Rules or Metadata, nor list items or a string such as the dashboard's
body, and checkov and `sam build` do not expand it.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deadman.core.venue import TimerKind, VenueSpec

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
BLOCKS = Path(__file__).resolve().with_name("venue_blocks.yaml.tmpl")

BEGIN = re.compile(
    r"^(?P<indent> *)# --- generated per venue by infra/template\.py "
    r"\((?P<name>[a-z0-9-]+)\): do not edit ---$"
)
END = re.compile(r"^(?P<indent> *)# --- end \((?P<name>[a-z0-9-]+)\) ---$")
PLACEHOLDER = re.compile(r"\{\{([A-Za-z_]+)(?::([A-Za-z0-9_]+))?\}\}")
DIRECTIVE = "%%"
# Names and titles become logical ids, env var names, ARNs and YAML scalars.
NAME = re.compile(r"[a-z][a-z0-9]*")
TITLE = re.compile(r"[A-Z][A-Za-z0-9]*")
# Fn::Or (AtLeastOneVenue) takes 2 to 10 conditions.
MIN_VENUES, MAX_VENUES = 2, 10


class TemplateError(Exception):
    """The blocks, the template's markers or a venue's spec do not make a template."""


# ------------------------------------------------------------------------------------ the sources
@dataclass(frozen=True)
class Region:
    name: str
    indent: str
    begin: int  # index of the BEGIN marker line
    end: int  # index of the END marker line


def regions(lines: Sequence[str]) -> list[Region]:
    """The marked regions of the template, in order; a TemplateError for a marker without its pair."""
    found: list[Region] = []
    open_: tuple[str, str, int] | None = None
    for index, line in enumerate(lines):
        if match := BEGIN.match(line):
            if open_ is not None:
                raise TemplateError(f"line {index + 1}: region {match['name']} opens inside {open_[0]}")
            open_ = (match["name"], match["indent"], index)
        elif match := END.match(line):
            if open_ is None or match["name"] != open_[0] or match["indent"] != open_[1]:
                raise TemplateError(f"line {index + 1}: end of {match['name']} matches no open region")
            found.append(Region(open_[0], open_[1], open_[2], index))
            open_ = None
        elif "# --- generated" in line or "# --- end (" in line:
            raise TemplateError(f"line {index + 1}: not a marker this script reads: {line.strip()}")
    if open_ is not None:
        raise TemplateError(f"region {open_[0]} (line {open_[2] + 1}) has no end marker")
    return found


def sections(blocks: str) -> dict[str, list[str]]:
    """Section name -> its lines (the generator's header above the first section dropped)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in blocks.splitlines():
        if line.startswith(f"{DIRECTIVE} section "):
            name = line.split(maxsplit=2)[2].strip()
            if name in out:
                raise TemplateError(f"section {name} is written twice")
            current = out[name] = []
        elif current is not None:
            current.append(line)
    return out


# ---------------------------------------------------------------------- what the parameters allow
class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """Reads CloudFormation's short forms (!Ref, !Sub, ...) as plain values: only parameters are read."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_Loader.add_multi_constructor("!", _any_tag)


@dataclass(frozen=True)
class Bounds:
    """What the template's own timing parameters allow (whole seconds)."""

    ticks: tuple[int, ...]  # every TickSeconds value
    largest_staleness_s: int
    largest_grace_s: int

    @property
    def largest_bound_s(self) -> int:
        """The largest S + T + G (`Timing.native_bound_ms`) a deployment can have."""
        return self.largest_staleness_s + max(self.ticks) + self.largest_grace_s


def _largest(parameter: Mapping[str, Any], name: str) -> int:
    if "AllowedValues" in parameter:
        return max(int(v) for v in parameter["AllowedValues"])
    if "MaxValue" in parameter:
        return int(parameter["MaxValue"])
    if "AllowedPattern" in parameter:
        pattern = re.compile(parameter["AllowedPattern"])
        allowed = [n for n in range(100_000) if pattern.fullmatch(str(n))]
        if allowed and allowed[-1] < 99_999:
            return allowed[-1]
    raise TemplateError(f"cannot tell the largest value of parameter {name}")


def bounds(lines: Sequence[str]) -> Bounds:
    """The timing parameters' bounds, read from the template's own (hand-written) parts."""
    kept = list(lines)
    for region in reversed(regions(lines)):
        del kept[region.begin + 1 : region.end]
    parameters = yaml.load("\n".join(kept), Loader=_Loader)["Parameters"]  # noqa: S506 - a SafeLoader
    return Bounds(
        ticks=tuple(int(v) for v in parameters["TickSeconds"]["AllowedValues"]),
        largest_staleness_s=_largest(parameters["MaxStalenessSeconds"], "MaxStalenessSeconds"),
        largest_grace_s=_largest(parameters["GraceSeconds"], "GraceSeconds"),
    )


# --------------------------------------------------------------------------------- what a venue is
def _seconds(ms: int) -> str:
    return str(ms // 1000) if ms % 1000 == 0 else str(ms / 1000)


def check_spec(spec: VenueSpec, bounds: Bounds) -> None:
    """A TemplateError for a venue the template cannot carry as it is."""
    if not NAME.fullmatch(spec.name) or yaml.safe_load(spec.name) != spec.name:
        raise TemplateError(f"venue name {spec.name!r}: lower-case letters and digits, not a YAML keyword")
    if not TITLE.fullmatch(spec.title):
        raise TemplateError(f"{spec.name}: title {spec.title!r} must be letters and digits, capitalised")
    if not spec.timer.strip():
        raise TemplateError(f"{spec.name}: VenueSpec.timer names the venue's timer in the template's texts")
    caps = spec.capabilities
    if caps.max_tick_ms is not None:
        if caps.fixed_timeout_ms is None:
            raise TemplateError(f"{spec.name}: a longest tick without the fixed timeout it comes from")
        if not [t for t in bounds.ticks if t * 1000 <= caps.max_tick_ms]:
            raise TemplateError(f"{spec.name}: no TickSeconds value is within its {caps.max_tick_ms} ms tick")
    if caps.max_timeout_ms is not None and bounds.largest_bound_s * 1000 >= caps.max_timeout_ms:
        # Timing.validate refuses S + T + G at or past the cap, and CloudFormation Rules cannot add:
        # the parameters' own bounds must keep every deployment under it.
        raise TemplateError(
            f"{spec.name}: S + T + G may reach {bounds.largest_bound_s} s, at or past its timeout cap of "
            f"{_seconds(caps.max_timeout_ms)} s, and no template Rule can add; narrow MaxStalenessSeconds, "
            "TickSeconds or GraceSeconds"
        )


def venue_values(spec: VenueSpec, bounds: Bounds) -> dict[str, str]:
    """The placeholders of one venue (inside "%% each")."""
    caps = spec.capabilities
    heartbeat = caps.timer_kind is TimerKind.HEARTBEAT
    if not caps.has_timer:
        # No timer the fleet holds: its refresher watches and sweeps, and the alarms about a timer
        # say that they stay quiet rather than promise one.
        return {
            "name": spec.name,
            "Title": spec.title,
            "NAME": spec.name.upper(),
            "timer": spec.timer,
            "refresher_does": f"watches the {spec.title} switches (no venue timer; it sweeps once the trader "
            "stops proving life) and stays quiet",
            "extend_fails": "no venue timer to extend (watchdog only), so this alarm stays quiet",
            "extending": "sweeping",
            "nonce_keys": f', "NONCE#{spec.name}:*"' if caps.draws_nonces else "",
            "native_fired": "no venue timer of ours can fire here (watchdog only), so this alarm stays quiet",
        }
    values = {
        "name": spec.name,
        "Title": spec.title,
        "NAME": spec.name.upper(),
        "timer": spec.timer,
        # A heartbeat venue's refresher calls; the others' push a deadline forward.
        "refresher_does": (
            f"ticks the {spec.title} switches" if heartbeat else f"keeps {spec.timer} pushed forward"
        ),
        "extend_fails": (f"{spec.timer}s fail" if heartbeat else f"{spec.timer} fails")
        + " while the trading system is alive; the venue timer may fire",
        "extending": "heartbeating" if heartbeat else "extending",
        # Only a venue whose requests draw from the shared nonce counter is granted it.
        "nonce_keys": f', "NONCE#{spec.name}:*"' if caps.draws_nonces else "",
        "native_fired": (
            f"{spec.timer} fired on the venue (spends one of {caps.daily_trigger_budget} daily triggers; "
            "the fleet could not prevent it)"
            if caps.daily_trigger_budget is not None
            else "the venue's own timer fired and cancelled the account's orders (inferred at the next tick)"
        ),
    }
    if caps.max_tick_ms is not None and caps.fixed_timeout_ms is not None:
        allowed = [t for t in bounds.ticks if t * 1000 <= caps.max_tick_ms]
        values["max_tick_s"] = str(caps.max_tick_ms // 1000)
        values["fixed_timeout_s"] = _seconds(caps.fixed_timeout_ms)
        values["ticks_allowed"] = "[" + ", ".join(f'"{t}"' for t in allowed) + "]"
    if caps.max_timeout_ms is not None:
        values["max_timeout_s"] = _seconds(caps.max_timeout_ms)
        values["largest_bound_s"] = str(bounds.largest_bound_s)
    return values


def fleet_values(specs: Sequence[VenueSpec]) -> Callable[[str, str | None], str | None]:
    """The placeholders over every venue (anywhere); None for a name that is not one of them."""
    titles = [f"Enable{s.title}" for s in specs]

    def value(name: str, arg: str | None) -> str | None:
        if name == "metrics" and arg:
            first, *rest = specs
            rows = [f'["Deadman", "{arg}", "service", "deadman", "venue", "{first.name}"]']
            return ", ".join(rows + [f'["...", "{s.name}"]' for s in rest])
        if arg is not None:
            return None
        if name == "names":
            return ", ".join(s.name for s in specs)
        if name == "timers":
            held = ", ".join(f"{s.title} {s.timer}" for s in specs if s.capabilities.has_timer)
            bare = [s.title for s in specs if not s.capabilities.has_timer]
            # A venue with no timer a stateless fleet can hold gets the watchdog and the kill only.
            return held + (f"; no timer, watchdog and kill only: {', '.join(bare)}" if bare else "")
        if name == "enable_params":
            return f"{', '.join(titles[:-1])} or {titles[-1]}" if len(titles) > 1 else titles[0]
        if name == "tick_limits":
            limits = [
                f"at most {s.capabilities.max_tick_ms // 1000} where {s.title} is enabled, so a crashed loop "
                f"is replaced within {s.title}'s {_seconds(s.capabilities.fixed_timeout_ms)} s"
                for s in specs
                if s.capabilities.max_tick_ms is not None and s.capabilities.fixed_timeout_ms is not None
            ]
            return f" ({'; '.join(limits)})" if limits else ""
        return None

    return value


# ------------------------------------------------------------------------------------- rendering
def _fill(line: str, where: str, lookup: Callable[[str, str | None], str | None]) -> str:
    def one(match: re.Match[str]) -> str:
        found = lookup(match[1], match[2])
        if found is None:
            raise TemplateError(f"{where}: no placeholder {match[0]} here")
        return found

    return PLACEHOLDER.sub(one, line)


def _with_capability(specs: Iterable[VenueSpec], capability: str | None, where: str) -> list[VenueSpec]:
    if capability is None:
        return list(specs)
    chosen = []
    for spec in specs:
        if not hasattr(spec.capabilities, capability):
            raise TemplateError(f"{where}: Capabilities has no {capability}")
        if getattr(spec.capabilities, capability) is not None:
            chosen.append(spec)
    return chosen


def render_section(name: str, lines: Sequence[str], specs: Sequence[VenueSpec], bounds: Bounds) -> list[str]:
    fleet = fleet_values(specs)
    out: list[str] = []
    body: list[str] | None = None
    capability: str | None = None
    for number, line in enumerate(lines, 1):
        where = f"section {name}, line {number}"
        if line.startswith(DIRECTIVE):
            words = line.split()
            if words[1:2] == ["each"] and body is None and len(words) <= 3:
                body, capability = [], (words[2] if len(words) == 3 else None)
            elif words[1:] == ["end"] and body is not None:
                for spec in _with_capability(specs, capability, where):
                    own = venue_values(spec, bounds)

                    def lookup(key: str, arg: str | None, own: dict[str, str] = own) -> str | None:
                        return own[key] if arg is None and key in own else fleet(key, arg)

                    out.extend(_fill(text, where, lookup) for text in body)
                body = None
            else:
                raise TemplateError(f"{where}: {line!r} is not a directive here")
        elif body is not None:
            body.append(line)
        else:
            out.append(_fill(line, where, fleet))
    if body is not None:
        raise TemplateError(f"section {name}: %% each without %% end")
    while out and not out[-1].strip():
        out.pop()
    return out


def render(template: str, specs: Sequence[VenueSpec], blocks: str) -> str:
    """The template with every marked region rendered from `blocks` for `specs` (in that order)."""
    if not MIN_VENUES <= len(specs) <= MAX_VENUES:
        raise TemplateError(
            f"{len(specs)} venues: AtLeastOneVenue's Fn::Or takes {MIN_VENUES} to {MAX_VENUES}"
        )
    if len({s.name for s in specs}) != len(specs) or len({s.title for s in specs}) != len(specs):
        raise TemplateError("two venues share a name or a title")
    lines = template.split("\n")
    found = regions(lines)
    written = sections(blocks)
    unknown = sorted({r.name for r in found} - set(written))
    unused = sorted(set(written) - {r.name for r in found})
    if unknown or unused:
        raise TemplateError(f"regions without a section: {unknown}; sections without a region: {unused}")
    limits = bounds(lines)
    for spec in specs:
        check_spec(spec, limits)
    for region in reversed(found):
        rendered = render_section(region.name, written[region.name], specs, limits)
        lines[region.begin + 1 : region.end] = [region.indent + t if t.strip() else "" for t in rendered]
    return "\n".join(lines)


def registered() -> list[VenueSpec]:
    from deadman.venues import SPECS

    return list(SPECS.values())  # registry order


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.template", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if template.yaml is not what this writes"
    )
    args = parser.parse_args(argv)
    current = TEMPLATE.read_text()
    try:
        wanted = render(current, registered(), BLOCKS.read_text())
    except TemplateError as exc:
        print(f"infra.template: {exc}", file=sys.stderr)
        return 2
    if wanted == current:
        print("template.yaml: up to date")
        return 0
    if args.check:
        diff = difflib.unified_diff(
            current.splitlines(), wanted.splitlines(), "template.yaml", "generated", lineterm=""
        )
        print("\n".join(diff), file=sys.stderr)
        print(
            "template.yaml is not what `make template` writes: run it and commit the result", file=sys.stderr
        )
        return 1
    TEMPLATE.write_text(wanted)
    print("template.yaml: written")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every parameter value the functions would refuse at load time, CloudFormation refuses first.

A `GraceSeconds` below `TickSeconds` used to deploy, and then every function failed to load - kill
included. Here each check the code makes on the stack's parameters (deadman.core.config.FleetConfig,
deadman.core.policy.Timing.validate, deadman.edges.wiring) is run on the environment the template
would give the functions, against the template's own verdict (parameter constraints + Rules): what
the code refuses, the template must refuse, by the constraint or Rule named for it; what the code
accepts at the defaults and the usual settings, the template accepts."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from deadman.core.config import FleetConfig
from deadman.core.errors import ConfigError
from deadman.edges.wiring import refresher_from_env
from deadman.venues import CAPABILITIES, SPECS
from tests.infra.conftest import evaluate, failed_rules, parameter_values

pytestmark = pytest.mark.infra

VENUE_FLAGS = {venue: f"Enable{spec.title}" for venue, spec in SPECS.items()}
# The Rule refusing a tick longer than a heartbeat venue's longest (Gemini: GeminiTickAtMost10Seconds).
TICK_RULES = {
    venue: f"{spec.title}TickAtMost{longest // 1000}Seconds"
    for venue, spec in SPECS.items()
    if (longest := spec.capabilities.max_tick_ms) is not None
}


def constraint_problems(template: dict[str, Any], params: dict[str, str]) -> list[str]:
    """The parameters whose own constraints (Type, Min/MaxValue, AllowedValues, AllowedPattern)
    refuse the value, as CloudFormation checks them before any Rule."""
    out = []
    for name, spec in template["Parameters"].items():
        value = params[name]
        if spec["Type"] == "Number":
            try:
                number = float(value)
            except ValueError:
                out.append(name)
                continue
            if not spec.get("MinValue", float("-inf")) <= number <= spec.get("MaxValue", float("inf")):
                out.append(name)
        if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
            out.append(name)
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            out.append(name)
    return out


def refusals(template: dict[str, Any], params: dict[str, str]) -> list[str]:
    return constraint_problems(template, params) + failed_rules(template, params)


def function_environment(template: dict[str, Any], params: dict[str, str]) -> dict[str, str]:
    """The environment every function gets (Globals), with resource references as placeholders."""
    names = {**{r: f"res-{r}" for r in template["Resources"]}, **params}
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    lambda_sets = {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return {**lambda_sets, **{k: str(evaluate(v, names, template["Conditions"])) for k, v in env.items()}}


def code_problem(template: dict[str, Any], params: dict[str, str]) -> str | None:
    """What the functions' start-up checks say of this stack, or None if every function loads."""
    env = function_environment(template, params)
    try:
        config = FleetConfig.from_env(env, CAPABILITIES)
        for venue in config.enabled_venues:  # each refresher the template creates
            refresher_from_env(venue, clock=lambda: 0, metrics=None, log=print, environ=env)  # type: ignore[arg-type]
    except ConfigError as exc:
        return str(exc)
    return None


TICKS = [str(t) for t in range(5, 31)]
GRACES = ["0", "1", "4", "5", "6", "9", "10", "14", "15", "16", "29", "30", "31", "299", "300", "301",
          "9.5", "09", "-1", "", "1e1"]  # fmt: skip
VENUE_SETS = [*((venue,) for venue in SPECS), tuple(SPECS)]  # each venue alone, and all of them


def params_for(template: dict[str, Any], venues: tuple[str, ...], **overrides: str) -> dict[str, str]:
    flags = {flag: str(venue in venues).lower() for venue, flag in VENUE_FLAGS.items()}
    return parameter_values(template, **flags, **overrides)


def test_tick_and_grace_every_combination_the_code_refuses_is_refused(template: dict[str, Any]) -> None:
    accepted = 0
    for venues, tick, grace in itertools.product(VENUE_SETS, TICKS, GRACES):
        params = params_for(template, venues, TickSeconds=tick, GraceSeconds=grace)
        problem = code_problem(template, params)
        refused = refusals(template, params)
        if problem is not None:
            assert refused, (venues, tick, grace, problem)
            if "grace_ms" in problem and "< tick_ms" in problem and re.fullmatch(r"[1-9][0-9]*", grace):
                assert "GraceAtLeastTick" in refused, (tick, grace, refused)
            for venue, rule in TICK_RULES.items():
                if f"while {venue} is enabled" in problem and "tick_ms" in problem:
                    assert rule in refused, (venue, tick, grace, refused)
        else:
            accepted += 1
            # Where the code accepts, the template refuses only for its own stricter form of G
            # (whole seconds, no leading zero) or range.
            assert not failed_rules(template, params), (venues, tick, grace)
    assert accepted > 100, "the grid must include stacks that deploy"


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("MaxStalenessSeconds", ["0", "0.5", "-1", "x", "1", "4", "20", "600", "601"]),
        ("SkewSeconds", ["-1", "-0.5", "x", "0", "1", "5", "60", "61"]),
        ("SweepWindowSeconds", ["-1", "x", "0", "60", "604800", "604801"]),
        ("MaxDisarmSeconds", ["-1", "x", "0", "60", "14400", "86400"]),
        ("MaxOffSeconds", ["-1", "x", "0", "259200", "604800"]),
        ("ArmAfterKillNeedsSecondPerson", ["yes", "TRUE ", "true", "false"]),
        ("SystemName", ["", "trader", "a" * 128]),
    ],
)
def test_each_other_parameter_the_code_refuses_is_refused(
    template: dict[str, Any], name: str, values: list[str]
) -> None:
    for value, venues in itertools.product(values, VENUE_SETS):
        params = params_for(template, venues, **{name: value})
        problem = code_problem(template, params)
        if problem is not None:
            assert name in refusals(template, params), (name, value, problem)


def test_what_no_rule_can_compare_is_out_of_reach_of_the_parameter_bounds(template: dict[str, Any]) -> None:
    """S + T + G stays under every capped venue's timeout (Kraken's 86399 s), and RUN_SECONDS >= 2T,
    for every value the parameters allow."""
    specs = template["Parameters"]
    largest_s = specs["MaxStalenessSeconds"]["MaxValue"]
    largest_t = max(int(v) for v in specs["TickSeconds"]["AllowedValues"])
    assert re.fullmatch(specs["GraceSeconds"]["AllowedPattern"], "300")
    assert not re.fullmatch(specs["GraceSeconds"]["AllowedPattern"], "301")
    run_seconds = int(template["Globals"]["Function"]["Environment"]["Variables"]["RUN_SECONDS"])
    assert run_seconds >= 2 * largest_t
    capped = [venue for venue, caps in CAPABILITIES.items() if caps.max_timeout_ms is not None]
    assert "kraken" in capped
    for venue in capped:
        cap_ms = CAPABILITIES[venue].max_timeout_ms
        assert cap_ms is not None and (largest_s + largest_t + 300) * 1000 < cap_ms, venue
        params = params_for(
            template,
            (venue,),
            MaxStalenessSeconds=str(largest_s),
            TickSeconds=str(largest_t),
            GraceSeconds="300",
        )
        assert code_problem(template, params) is None and refusals(template, params) == [], venue


def test_the_defaults_and_the_samconfig_settings_deploy_and_load(template: dict[str, Any]) -> None:
    for venues in VENUE_SETS:
        params = params_for(template, venues)
        assert refusals(template, params) == [] and code_problem(template, params) is None
    sandbox = params_for(template, ("kraken",), MaxStalenessSeconds="4", TickSeconds="5", GraceSeconds="5")
    assert refusals(template, sandbox) == [] and code_problem(template, sandbox) is None

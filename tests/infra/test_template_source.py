"""template.yaml's per-venue parts come from one source: infra/venue_blocks.yaml.tmpl, expanded by
infra/template.py for every venue of the registry. The committed template is what the script writes,
every registered venue finds all of its parts in it, and a venue added to the registry would too."""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deadman.core.venue import TimerKind, VenueSpec
from deadman.edges.cli.doctor import _SECRET_OUTPUTS
from deadman.venues import SPECS
from infra.template import BLOCKS, TemplateError, main, registered, render
from tests.infra.conftest import TEMPLATE, CfnLoader, evaluate, failed_rules, parameter_values

pytestmark = pytest.mark.infra

# Every venue has these alarms: (logical id suffix, namespace, metric).
VENUE_ALARMS = {
    "ExtendFailingAlarm": ("Deadman", "ExtendFailedWhileAlive"),
    "NoTicksAlarm": ("Deadman", "Ticks"),
    "VenueErrorsAlarm": ("Deadman", "VenueErrors"),
    "NativeFiresAlarm": ("Deadman", "NativeFires"),
    "UnretiredTimersAlarm": ("Deadman", "UnretiredTimers"),
    "UnprotectedSweepsAlarm": ("Deadman", "UnprotectedSweepFailures"),
    "StoreErrorsAlarm": ("Deadman", "StoreErrors"),
    "RefresherErrorsAlarm": ("AWS/Lambda", "Errors"),
    "RefresherThrottlesAlarm": ("AWS/Lambda", "Throttles"),
}
# The dashboard's per-venue rows (namespace Deadman, dimensions service and venue).
DASHBOARD_METRICS = {
    "LivenessAgeSeconds", "SecondsToDeadline", "Ticks", "Extended", "Dead", "Swept",
    "ExtendFailedWhileAlive", "VenueErrors", "NativeFires", "UnprotectedSweepFailures", "StoreErrors",
    "StoreRetries",
}  # fmt: skip


def parse(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - a SafeLoader subclass
    return data


def dashboard_rows(template: dict[str, Any]) -> set[tuple[str, str]]:
    """(metric, venue) of every Deadman row of the dashboard, its "..." shorthand expanded."""
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    rows: set[tuple[str, str]] = set()
    for widget in json.loads(body)["widgets"]:
        previous: list[Any] = []
        for given in widget["properties"]["metrics"]:
            row = previous[: len(previous) - len(given) + 1] + given[1:] if given[:1] == ["..."] else given
            if row[:1] == ["Deadman"] and row[2:6:2] == ["service", "venue"]:
                rows.add((row[1], row[5]))
            previous = row
    return rows


def assert_venue_parts(template: dict[str, Any], spec: VenueSpec) -> None:
    """Every part of the template one venue needs, named as the code and the docs name them."""
    name, title = spec.name, spec.title
    res, cond = template["Resources"], f"{title}Enabled"
    # Its Enable parameter (in the Venues group) and its condition.
    param = template["Parameters"][f"Enable{title}"]
    assert (param["Default"], param["AllowedValues"]) == ("false", ["true", "false"]), name
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    (venues_group,) = [g for g in groups if g["Label"]["default"] == "Venues"]
    assert f"Enable{title}" in venues_group["Parameters"], name
    assert template["Conditions"][cond] == {"Fn::Equals": [{"Ref": f"Enable{title}"}, "true"]}
    # Its secret (created whether or not enabled), log group and refresher with its schedule.
    secret = res[f"{title}Secret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret" and "Condition" not in secret
    assert secret["Properties"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}/{name}"}
    logs = res[f"Refresher{title}LogGroup"]
    assert (logs["Type"], logs["Condition"]) == ("AWS::Logs::LogGroup", cond)
    assert logs["Properties"]["LogGroupName"] == {"Fn::Sub": f"/deadman/${{AWS::StackName}}/refresher-{name}"}
    fn = res[f"Refresher{title}"]
    props = fn["Properties"]
    assert (fn["Type"], fn["Condition"]) == ("AWS::Serverless::Function", cond)
    # Named: its own role may invoke it (CallASpare), and the refresher reads it back (docs/design.md).
    assert props["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-refresher-{name}"}
    assert props["Environment"]["Variables"]["VENUE"] == name
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": f"Refresher{title}LogGroup"}
    sids = {s["Sid"]: s for p in props["Policies"] for s in p["Statement"]}
    assert sids["OwnVenueSecret"]["Resource"] == {"Ref": f"{title}Secret"}
    assert f"refresher-{name}" in sids["CallASpare"]["Resource"]["Fn::Sub"]
    assert {f"SWITCH#{name}", f"LEASE#{name}"} == set(
        sids["ReadOwnSwitchesAndLease"]["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
    )
    tick = props["Events"]["Tick"]
    assert tick["Type"] == "ScheduleV2"
    assert json.loads(tick["Properties"]["Input"])["venue"] == name
    # The functions' environment, the secrets kill and disarm read, the audit copy's deny list.
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env[f"SECRET_{name.upper()}"] == {"Ref": f"{title}Secret"}
    assert {"Fn::If": [cond, name, ""]} in env["ENABLED_VENUES"]["Fn::Join"][1]
    for function in ("KillFunction", "DisarmFunction"):
        stmts = {s["Sid"]: s for p in res[function]["Properties"]["Policies"] for s in p["Statement"]}
        want = {"Fn::If": [cond, {"Ref": f"{title}Secret"}, {"Ref": "AWS::NoValue"}]}
        assert want in stmts["EnabledVenueSecrets"]["Resource"], (function, name)
    (deny,) = [
        s
        for s in res["AuditCopyBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Sid"] == "NoFunctionDeletesOrUnlocks"
    ]
    role = {"Fn::If": [cond, {"Fn::GetAtt": [f"Refresher{title}Role", "Arn"]}, {"Ref": "AWS::NoValue"}]}
    assert role in deny["Condition"]["ArnLike"]["aws:PrincipalArn"]
    # The API accepts its name.
    for model in res["ControlApi"]["Properties"]["Models"].values():
        assert name in model["properties"]["venues"]["items"]["enum"]
    # Its alarms, each on its own metric and only while it is enabled.
    for suffix, (namespace, metric) in VENUE_ALARMS.items():
        alarm = res[f"{title}{suffix}"]
        assert (alarm["Type"], alarm.get("Condition")) == ("AWS::CloudWatch::Alarm", cond), suffix
        got = alarm["Properties"]
        assert (got["Namespace"], got["MetricName"]) == (namespace, metric), suffix
        venue_dim = {"Name": "venue", "Value": name}
        function_dim = {"Name": "FunctionName", "Value": {"Ref": f"Refresher{title}"}}
        assert (venue_dim if namespace == "Deadman" else function_dim) in got["Dimensions"], suffix
    # Its dashboard rows, and the output `deadman doctor` reads its secret from.
    assert {(metric, name) for metric in DASHBOARD_METRICS} <= dashboard_rows(template), name
    assert template["Outputs"][f"{title}SecretArn"]["Value"] == {"Ref": f"{title}Secret"}
    # A heartbeat venue's longest tick, as a Rule refusing a longer TickSeconds while it is enabled.
    longest = spec.capabilities.max_tick_ms
    rules = [r for r in template["Rules"] if r.startswith(f"{title}TickAtMost")]
    if longest is None:
        assert rules == [], name
    else:
        assert rules == [f"{title}TickAtMost{longest // 1000}Seconds"], name
        assert template["Rules"][rules[0]]["RuleCondition"] == {
            "Fn::Equals": [{"Ref": f"Enable{title}"}, "true"]
        }
    at_least_one = template["Rules"]["AtLeastOneVenue"]["Assertions"][0]["Assert"]["Fn::Or"]
    assert {"Fn::Equals": [{"Ref": f"Enable{title}"}, "true"]} in at_least_one


# -------------------------------------------------------------------------------- the committed file
def test_the_committed_template_is_what_the_script_writes() -> None:
    committed = TEMPLATE.read_text()
    wanted = render(committed, registered(), BLOCKS.read_text())
    if wanted != committed:
        diff = "\n".join(
            list(difflib.unified_diff(committed.splitlines(), wanted.splitlines(), lineterm=""))[:80]
        )
        pytest.fail(f"template.yaml is not what `make template` writes; run it:\n{diff}", pytrace=False)


def test_the_check_passes_on_the_committed_template(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize("venue", list(SPECS))
def test_every_registered_venue_has_its_parts(template: dict[str, Any], venue: str) -> None:
    assert_venue_parts(template, SPECS[venue])
    # The CLI finds the secret by the output name the template writes.
    assert _SECRET_OUTPUTS[venue] in template["Outputs"]


def test_the_venue_lists_are_the_registry_in_its_order(template: dict[str, Any]) -> None:
    names, titles = [s.name for s in SPECS.values()], [s.title for s in SPECS.values()]
    joined = template["Globals"]["Function"]["Environment"]["Variables"]["ENABLED_VENUES"]["Fn::Join"]
    assert joined[0] == "," and [item["Fn::If"][1] for item in joined[1]] == names
    for model in template["Resources"]["ControlApi"]["Properties"]["Models"].values():
        assert model["properties"]["venues"]["items"]["enum"] == names
    assert [o[: -len("SecretArn")] for o in template["Outputs"] if o.endswith("SecretArn")] == titles
    assert [c[: -len("Enabled")] for c in template["Conditions"] if c.endswith("Enabled")] == titles


def test_no_venue_is_named_outside_the_generated_regions() -> None:
    """Only the Gemini-only trader nonce policy (a feature of Gemini's keys) and comments name a
    venue outside the regions the script writes."""
    kept: list[str] = []
    inside = False
    for line in TEMPLATE.read_text().splitlines():
        if "# --- generated per venue by infra/template.py" in line:
            inside = True
        elif "# --- end (" in line:
            inside = False
        elif not inside and not line.lstrip().startswith("#"):
            kept.append(line)
    text = "\n".join(kept)
    text = re.sub(r"TradingSystemGeminiNonce\w*|HasTraderGeminiNonceKeys|DrawOwnGeminiNonces", "", text)
    text = re.sub(r"NONCE#gemini:|Gemini (API )?keys", "", text)
    for spec in SPECS.values():
        # As a word: a title ends where no lower-case letter goes on ("ApiGateway" names no "Gate").
        assert not re.search(rf"{re.escape(spec.title)}(?![a-z])", text), spec.name
        assert not re.search(rf"(?<![a-z]){re.escape(spec.name)}(?![a-z])", text.lower()), spec.name


# ------------------------------------------------------------------------- a venue added to the registry
def _venue(base: str, name: str, title: str, **capabilities: Any) -> VenueSpec:
    spec = SPECS[base]
    caps = dataclasses.replace(spec.capabilities, venue=name, **capabilities)
    return dataclasses.replace(spec, name=name, title=title, timer=f"{title}Timer", capabilities=caps)


def test_a_new_venue_gets_every_part_and_its_own_rule() -> None:
    """A new venue: a heartbeat rule of 15 s (so ticks of at most 5 s) and a trigger budget."""
    acme = _venue(
        "gemini",
        "acme",
        "Acme",
        timer_kind=TimerKind.HEARTBEAT,
        fixed_timeout_ms=15_000,
        daily_trigger_budget=3,
    )
    specs = [*registered(), acme]
    template = parse(render(TEMPLATE.read_text(), specs, BLOCKS.read_text()))
    for spec in specs:
        assert_venue_parts(template, spec)
    rule = template["Rules"]["AcmeTickAtMost5Seconds"]
    assert rule["Assertions"][0]["Assert"]["Fn::Contains"][0] == ["5"]
    native = template["Resources"]["AcmeNativeFiresAlarm"]["Properties"]["AlarmDescription"]
    assert "AcmeTimer fired on the venue (spends one of 3 daily triggers" in native
    assert "Acme AcmeTimer" in template["Description"]
    params = parameter_values(template, EnableAcme="true", TickSeconds="6", GraceSeconds="15")
    assert failed_rules(template, params) == ["AcmeTickAtMost5Seconds"]
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    enabled = evaluate(env["ENABLED_VENUES"], params, template["Conditions"]).split(",")
    assert enabled == [""] * len(registered()) + ["acme"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "yes"}, "YAML keyword"),
        ({"title": "acme"}, "capitalised"),
        ({"timer": " "}, "VenueSpec.timer"),
        ({"fixed_timeout_ms": 12_000}, "no TickSeconds value"),  # a longest tick of 4 s
        ({"max_timeout_ms": 900_000}, "S + T + G may reach 930 s"),  # a cap under S + T + G
    ],
)
def test_a_venue_the_template_cannot_carry_is_refused(change: dict[str, Any], message: str) -> None:
    fields = {k: change.pop(k) for k in ("name", "title", "timer") if k in change}
    spec = _venue("kraken", "acme", "Acme", **change)
    spec = dataclasses.replace(spec, **fields)
    with pytest.raises(TemplateError, match=re.escape(message)):
        render(TEMPLATE.read_text(), [*registered(), spec], BLOCKS.read_text())


def test_markers_and_sections_must_pair(tmp_path: Path) -> None:
    text, blocks = TEMPLATE.read_text(), BLOCKS.read_text()
    specs = registered()
    with pytest.raises(TemplateError, match="no end marker"):
        render(text.replace("  # --- end (secret-outputs) ---\n", ""), specs, blocks)
    unmarked = re.sub(r"(?m)^ *# --- (generated per venue .*\(conditions\)|end \(conditions\)).*\n", "", text)
    with pytest.raises(TemplateError, match="sections without a region"):
        render(unmarked, specs, blocks)
    with pytest.raises(TemplateError, match="no placeholder"):
        render(text, specs, blocks.replace("{{Title}}Enabled: !Equals", "{{Titel}}Enabled: !Equals"))

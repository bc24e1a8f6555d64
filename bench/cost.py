"""The monthly price of protection: per venue and for the fleet, from template.yaml and the bench.

Every figure is `quantity x unit price`, the formula printed next to it. Inputs:
- template.yaml: FunctionMemorySize (default), TickSeconds (default), the refresher schedule
  (rate 1 minute), RUN_SECONDS, arm64, the alarms / secrets per venue condition, the dashboard and
  the KMS key;
- measured by `sandbox.bench` (when given): DynamoDB calls per healthy tick and the custom metric
  series a healthy tick publishes; otherwise the counts below stand in (Kraken, one account);
- the refresher loop's own DynamoDB use (lease), from `deadman.lease`: one conditional renew per tick,
  a join (~2 writes) and a release (1 write) per invocation, and a successor polling the lease with
  a strongly consistent read every 100 ms until the running loop hands over (on average T/2).

Prices: AWS us-east-1 list prices (2025), before any free tier, in PRICES below. A refresher loop
is billed for its sleep: one invocation per minute lives ~60 s plus the successor's wait for the
handover, so each enabled venue is one always-on 256 MB arm64 function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOURS_PER_MONTH = 730  # AWS's billing convention
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
MINUTES_PER_MONTH = HOURS_PER_MONTH * 60

PRICES: dict[str, float] = {
    "lambda_arm64_gb_s": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "dynamodb_rru": 0.125 / 1e6,  # on-demand read request unit (strong read <= 4 KB = 1 RRU)
    "dynamodb_wru": 0.625 / 1e6,  # on-demand write request unit (write <= 1 KB = 1 WRU)
    "secret_month": 0.40,
    "secrets_api_call": 0.05 / 10_000,
    "scheduler_invocation": 1.00 / 1e6,  # 14 M invocations a month are free
    "custom_metric_month": 0.30,
    "alarm_metric_month": 0.10,  # standard resolution, per metric an alarm evaluates
    "dashboard_month": 3.00,  # the first 3 dashboards of an account are free
    "kms_key_month": 1.00,
    "logs_ingest_gb": 0.50,
    "xray_trace": 5.00 / 1e6,  # the first 100 k traces a month are free
}

# Stand-ins when sandbox.bench did not run: Kraken with one account (measured once, issue 9).
DEFAULT_TICK_CALLS = {"dynamodb.GetItem(strong)": 2.0, "dynamodb.PutItem": 2.0, "dynamodb.UpdateItem": 1.0}
DEFAULT_METRIC_SERIES = 4
LEASE_POLL_S = 0.1
LOG_BYTES_PER_TICK = 1_000  # an EMF blob (~500 B) and one log line per tick: an estimate
SECRET_CACHE_S = 300  # CredentialStore max_age_s
WARM_ENVIRONMENTS = 2  # two overlapping invocations alternate between two execution environments


class _CfnLoader:
    """PyYAML loader that reads CloudFormation's short-form tags (!Ref, !If ...) as plain data."""

    @staticmethod
    def load(text: str) -> Any:
        import yaml

        class Loader(yaml.SafeLoader):  # type: ignore[misc]
            pass

        def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
            if isinstance(node, yaml.ScalarNode):
                return {suffix: loader.construct_scalar(node)}
            if isinstance(node, yaml.SequenceNode):
                return {suffix: loader.construct_sequence(node, deep=True)}
            return {suffix: loader.construct_mapping(node, deep=True)}

        Loader.add_multi_constructor("!", tagged)
        return yaml.load(text, Loader=Loader)  # noqa: S506  (SafeLoader subclass)


@dataclass
class Template:
    memory_mb: int
    tick_s: int
    run_s: int
    alarm_metrics: dict[str, int]  # venue (or "fleet") -> metrics evaluated by alarms
    secrets: dict[str, int]
    dashboards: int
    kms_keys: int

    @classmethod
    def read(cls, path: Path) -> Template:
        doc = _CfnLoader.load(path.read_text())
        params = doc["Parameters"]
        resources: dict[str, Any] = doc["Resources"]
        env = doc["Globals"]["Function"]["Environment"]["Variables"]
        alarms: dict[str, int] = {}
        secrets: dict[str, int] = {}
        for resource in resources.values():
            scope = _venue_of(resource.get("Condition"))
            kind = resource.get("Type")
            if kind == "AWS::CloudWatch::Alarm":
                props = resource.get("Properties", {})
                metrics = props.get("Metrics")
                count = sum(1 for m in metrics if "MetricStat" in m) if isinstance(metrics, list) else 1
                alarms[scope] = alarms.get(scope, 0) + count
            elif kind == "AWS::SecretsManager::Secret":
                secrets[scope] = secrets.get(scope, 0) + 1
        return cls(
            memory_mb=int(params["FunctionMemorySize"]["Default"]),
            tick_s=int(params["TickSeconds"]["Default"]),
            run_s=int(env["RUN_SECONDS"]),
            alarm_metrics=alarms,
            secrets=secrets,
            dashboards=sum(1 for r in resources.values() if r.get("Type") == "AWS::CloudWatch::Dashboard"),
            kms_keys=sum(1 for r in resources.values() if r.get("Type") == "AWS::KMS::Key"),
        )


def _venue_of(condition: Any) -> str:
    for venue in ("gemini", "kraken", "hyperliquid"):
        if condition == f"{venue.capitalize()}Enabled":
            return venue
    return "fleet"


@dataclass
class Line:
    item: str
    formula: str
    usd: float


@dataclass
class VenueCost:
    venue: str
    lines: list[Line] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)


def venue_cost(
    venue: str,
    template: Template,
    *,
    tick_calls: dict[str, float] | None = None,
    metric_series: int | None = None,
) -> VenueCost:
    p = PRICES
    t = template.tick_s
    calls = tick_calls if tick_calls is not None else DEFAULT_TICK_CALLS
    series = metric_series if metric_series is not None else DEFAULT_METRIC_SERIES
    gb = template.memory_mb / 1024
    ticks = SECONDS_PER_MONTH / t
    invocations = MINUTES_PER_MONTH  # rate(1 minute)
    billed_s = invocations * (60 + t / 2)  # each invocation: its minute + the handover wait
    out = VenueCost(venue)
    add = out.lines.append

    add(
        Line(
            "Lambda compute",
            f"{invocations:,} inv x (60 s + T/2 = {t / 2:g} s handover) x {gb:g} GB"
            f" x ${p['lambda_arm64_gb_s']}",
            billed_s * gb * p["lambda_arm64_gb_s"],
        )
    )
    add(Line("Lambda requests", f"{invocations:,} x $0.20/M", invocations * p["lambda_request"]))

    strong = sum(v for k, v in calls.items() if k.startswith("dynamodb.") and "Get" in k and "(strong)" in k)
    eventual = sum(
        v
        for k, v in calls.items()
        if k.startswith("dynamodb.") and k.split(".")[1].startswith(("Get", "Query"))
    )
    eventual -= strong
    writes = sum(v for k, v in calls.items() if k.split(".")[1].startswith(("Put", "Update", "Delete")))
    rru_tick = strong + eventual / 2
    add(
        Line(
            "DynamoDB per tick",
            f"{ticks:,.0f} ticks x ({rru_tick:g} RRU x $0.125/M + {writes:g} WRU x $0.625/M)",
            ticks * (rru_tick * p["dynamodb_rru"] + writes * p["dynamodb_wru"]),
        )
    )
    lease_wru = ticks * 1 + invocations * 3
    lease_rru = invocations * (t / 2) / LEASE_POLL_S
    add(
        Line(
            "DynamoDB lease",
            f"renew/tick + 3 WRU/inv = {lease_wru:,.0f} WRU; successor polls {t / 2:g} s / {LEASE_POLL_S:g} s"
            f" = {lease_rru:,.0f} RRU",
            lease_wru * p["dynamodb_wru"] + lease_rru * p["dynamodb_rru"],
        )
    )
    secrets = template.secrets.get(venue, 1)
    secret_calls = WARM_ENVIRONMENTS * 3600 / SECRET_CACHE_S * HOURS_PER_MONTH * secrets
    add(
        Line(
            "Secrets Manager",
            f"{secrets} secret x $0.40 + {secret_calls:,.0f} GetSecretValue (cache {SECRET_CACHE_S} s,"
            f" {WARM_ENVIRONMENTS} envs) x $0.05/10k",
            secrets * p["secret_month"] + secret_calls * p["secrets_api_call"],
        )
    )
    add(Line("Scheduler", f"{invocations:,} x $1.00/M", invocations * p["scheduler_invocation"]))
    add(Line("Custom metrics", f"{series} series x $0.30", series * p["custom_metric_month"]))
    alarms = template.alarm_metrics.get(venue, 0)
    add(Line("Alarms", f"{alarms} alarm metrics x $0.10", alarms * p["alarm_metric_month"]))
    log_gb = ticks * LOG_BYTES_PER_TICK / 1e9
    add(
        Line(
            "Logs ingest",
            f"{log_gb:.2f} GB (~{LOG_BYTES_PER_TICK} B/tick) x $0.50",
            log_gb * p["logs_ingest_gb"],
        )
    )
    add(Line("X-Ray", f"{invocations:,} traces x $5/M", invocations * p["xray_trace"]))
    return out


def fleet_cost(template: Template) -> VenueCost:
    p = PRICES
    out = VenueCost("fleet (shared)")
    alarms = template.alarm_metrics.get("fleet", 0)
    out.lines.append(Line("Alarms", f"{alarms} alarm metrics x $0.10", alarms * p["alarm_metric_month"]))
    out.lines.append(
        Line("Dashboard", f"{template.dashboards} x $3", template.dashboards * p["dashboard_month"])
    )
    out.lines.append(Line("KMS key", f"{template.kms_keys} x $1", template.kms_keys * p["kms_key_month"]))
    return out


def model(template_path: Path, ticks: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    template = Template.read(template_path)
    venues = []
    for venue in ("kraken", "gemini", "hyperliquid"):
        measured = (ticks or {}).get(venue)
        venues.append(
            venue_cost(
                venue,
                template,
                tick_calls=measured["aws_calls_per_tick"] if measured else None,
                metric_series=len(measured["metric_series"]) if measured else None,
            )
        )
    shared = fleet_cost(template)
    return {
        "assumptions": {
            "memory_mb": template.memory_mb,
            "tick_s": template.tick_s,
            "run_s": template.run_s,
            "hours_per_month": HOURS_PER_MONTH,
            "prices_usd": PRICES,
            "log_bytes_per_tick": LOG_BYTES_PER_TICK,
            "secret_cache_s": SECRET_CACHE_S,
            "calls_measured": ticks is not None,
            "accounts": {
                v: (ticks or {}).get(v, {}).get("accounts", 1) for v in ("kraken", "gemini", "hyperliquid")
            },
        },
        "venues": {
            c.venue: {"total_usd": c.total, "lines": [vars(line) for line in c.lines]} for c in venues
        },
        "shared": {"total_usd": shared.total, "lines": [vars(line) for line in shared.lines]},
        "fleet_total_usd": shared.total + sum(c.total for c in venues),
    }


def render(cost: dict[str, Any]) -> str:
    a = cost["assumptions"]
    rows = [
        f"monthly cost ({a['hours_per_month']} h, us-east-1 list prices before free tiers; "
        f"MemorySize {a['memory_mb']} MB arm64, T = {a['tick_s']} s)",
    ]
    for name, venue in [*cost["venues"].items(), ("fleet (shared)", cost["shared"])]:
        accounts = a["accounts"].get(name)
        label = f"{name} ({accounts} account{'s' if accounts != 1 else ''})" if accounts else name
        rows.append(f"  {label:<28} ${venue['total_usd']:7.2f}")
        for line in venue["lines"]:
            rows.append(f"    {line['item']:<20} ${line['usd']:7.3f}  = {line['formula']}")
    rows.append(f"  {'fleet, three venues':<28} ${cost['fleet_total_usd']:7.2f}")
    return "\n".join(rows)

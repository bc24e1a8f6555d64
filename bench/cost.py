"""The monthly price of protection: per venue and for the fleet, from template.yaml and the bench.

Every figure is `quantity x unit price`, the formula printed next to it. Inputs:
- template.yaml: RefresherMemorySize and FunctionMemorySize (defaults), TickSeconds (default), the
  refresher schedule (rate 1 minute), RUN_SECONDS, arm64, the alarms / secrets per venue condition,
  the dashboard and the KMS key;
- measured by `sandbox.bench` (when given), for every registered venue: DynamoDB calls per healthy
  tick, the custom metric series a healthy tick publishes, and the venue requests a tick makes (one
  per timer: per symbol at Binance, per market at Gate; listed at $0, venues bill nothing for them);
  otherwise the counts below stand in (Kraken, one account);
- the lease chain (`Chain`), from the constants of `deadman.stores.lease`, `deadman.app.refresh.loop`
  and `deadman.edges.wiring`: each scheduler event's invocation waits queued until the holder's next
  tick (T/2 on average) and the standby's acceptance of the offer, stands by one scheduler period,
  holds the loop one period, then hands over: about two periods of billed time each, since a standby
  waits beside every loop. Every waiting spare writes its registration once a second (one
  conditional UpdateItem, SPARE_POLL_MS); the holder renews once a tick; joining, offering and
  taking the lease are a few writes per invocation, and the holder reads the lease every
  OFFER_POLL_MS until its offer is taken. A loop calls a spare itself (INVITE_EVERY_MS) only while
  none stands by: never in steady state. The venue secret is read once as an invocation joins, once
  as it takes the loop over, and once per SECRET_MAX_AGE_S while it waits as the standby and while it
  holds the loop;
- shared: the notifier (ControlTable stream -> SNS; Lambda's stream reads are free, filtered-out
  records are not billed; one invocation per alert-worthy audit entry), the one stack-wide
  TradingSystemDeadAlarm (a Metrics Insights query alarm: billed per metric it analyses, one
  `SystemDead` series per trading system), the dashboard and the KMS key.

`designs()` prices the present always-on loop against designs billed per tick (an SQS delay-queue
chain; EventBridge Scheduler at its 1-minute floor), and `sweep()` the cost and the reaction bound as
T, S and G vary (the bound from `deadman.core.policy.reaction_bounds`, through bench/ours.py).

Prices: AWS us-east-1 list prices (2025), before any free tier, in PRICES below. A refresher loop
is billed for its sleep, and so is the standby waiting beside it: each enabled venue is about two
always-on arm64 functions of RefresherMemorySize.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deadman.app.refresh.loop import INVITE_EVERY_MS
from deadman.edges.wiring import SECRET_MAX_AGE_S
from deadman.stores.lease import OFFER_POLL_MS, SPARE_POLL_MS
from deadman.venues import SPECS, VENUES

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
    "sns_publish": 0.50 / 1e6,  # first 1 M free; e-mail deliveries $2 / 100 k beyond the first 1,000
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB request; first 1 M free
    "kms_request": 0.03 / 10_000,
    "s3_put": 0.005 / 1_000,
    "s3_gb_month": 0.023,
}

# Stand-ins when sandbox.bench did not run: Kraken with one account (measured once, issue 9).
DEFAULT_TICK_CALLS = {"dynamodb.GetItem(strong)": 2.0, "dynamodb.PutItem": 2.0, "dynamodb.UpdateItem": 1.0}
DEFAULT_METRIC_SERIES = 4
LOG_BYTES_PER_TICK = 1_000  # an EMF blob (~500 B) and one log line per tick: an estimate
SCHEDULER_PERIOD_S = 60  # the refresher schedule, rate(1 minute): one invocation joins the chain each
# Lease writes per invocation in steady state (deadman.stores.lease): joining while a holder and a
# standby are live is three conditional writes (holder refused, standby refused, queued taken); a
# handover is the holder's offer and the standby's take.
JOIN_WRITES = 3
HANDOVER_WRITES = 2
# The notifier: alert-worthy audit entries a month (kills, disarms, arms, deaths, recoveries, timer
# fires; a healthy fleet writes none) and the duration of one invocation when not measured.
NOTIFIER_EVENTS_PER_MONTH = 300
NOTIFIER_MS = 150.0
# The audit copy: every audit entry (alerts, sweeps, timer changes; a healthy fleet writes none) is
# one archiver run, one S3 PUT and ~1 KB stored, and its append one extra strong read (the head).
AUDIT_ENTRIES_PER_MONTH = 1_000
ARCHIVER_MS = 150.0
AUDIT_ENTRY_KB = 1.0
SYSTEMS = 1  # trading systems: one SystemDead series each for the Metrics Insights alarm
# Per-tick-billed designs: what one invocation adds around the tick (SQS send, Lambda's own overhead).
INVOKE_OVERHEAD_MS = 15.0
SQS_POLLERS = 5  # Lambda's SQS event source mapping long-polls with 5 connections at least
SQS_LONG_POLL_S = 20
LAMBDA_LOG_BYTES = 350  # START / END / REPORT lines per invocation
RESEED_MS = 60.0  # the chain's 1-minute re-seeder: one strong read, nothing else


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
    memory_mb: int  # a refresher's (RefresherMemorySize)
    function_memory_mb: int  # status, disarm, notifier (FunctionMemorySize)
    tick_s: int
    run_s: int
    alarm_metrics: dict[str, int]  # venue (or "fleet") -> metrics evaluated by alarms
    secrets: dict[str, int]
    dashboards: int
    kms_keys: int
    insights_alarms: int = 0  # Metrics Insights query alarms (billed per metric analysed)
    notifier: bool = False
    archiver: bool = False
    grace_s: int = 15
    staleness_s: int = 20
    skew_s: int = 5

    @classmethod
    def read(cls, path: Path) -> Template:
        doc = _CfnLoader.load(path.read_text())
        params = doc["Parameters"]
        resources: dict[str, Any] = doc["Resources"]
        env = doc["Globals"]["Function"]["Environment"]["Variables"]
        alarms: dict[str, int] = {}
        secrets: dict[str, int] = {}
        insights = 0
        for resource in resources.values():
            scope = _venue_of(resource.get("Condition"))
            kind = resource.get("Type")
            if kind == "AWS::CloudWatch::Alarm":
                props = resource.get("Properties", {})
                metrics = props.get("Metrics")
                if isinstance(metrics, list) and any(
                    "SELECT" in str(m.get("Expression", "")) for m in metrics
                ):
                    insights += 1
                    continue
                count = sum(1 for m in metrics if "MetricStat" in m) if isinstance(metrics, list) else 1
                alarms[scope] = alarms.get(scope, 0) + count
            elif kind == "AWS::SecretsManager::Secret":
                secrets[scope] = secrets.get(scope, 0) + 1
        return cls(
            memory_mb=int(params["RefresherMemorySize"]["Default"]),
            function_memory_mb=int(params["FunctionMemorySize"]["Default"]),
            tick_s=int(params["TickSeconds"]["Default"]),
            run_s=int(env["RUN_SECONDS"]),
            alarm_metrics=alarms,
            secrets=secrets,
            dashboards=sum(1 for r in resources.values() if r.get("Type") == "AWS::CloudWatch::Dashboard"),
            kms_keys=sum(1 for r in resources.values() if r.get("Type") == "AWS::KMS::Key"),
            insights_alarms=insights,
            notifier=any(
                r.get("Type") == "AWS::Serverless::Function"
                and str(r.get("Properties", {}).get("CodeUri", "")).endswith("notifier")
                for r in resources.values()
            ),
            archiver=any(
                r.get("Type") == "AWS::Serverless::Function"
                and str(r.get("Properties", {}).get("CodeUri", "")).endswith("archiver")
                for r in resources.values()
            ),
            grace_s=int(params["GraceSeconds"]["Default"]),
            staleness_s=int(params["MaxStalenessSeconds"]["Default"]),
            skew_s=int(params["SkewSeconds"]["Default"]),
        )


def _venue_of(condition: Any) -> str:
    """The venue a resource's condition deploys it for (`<Title>Enabled`, the spec's title: OKX,
    BitMEX), or the fleet's."""
    for venue in VENUES:
        if condition == f"{SPECS[venue].title}Enabled":
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


def _request_units(calls: dict[str, float]) -> tuple[float, float]:
    """(read units, write units) of one tick's DynamoDB calls: a strong read of <= 4 KB is 1 RRU, an
    eventually consistent one 1/2; a write of <= 1 KB is 1 WRU."""
    dynamo = {k.split(".", 1)[1]: v for k, v in calls.items() if k.startswith("dynamodb.")}
    strong = sum(v for k, v in dynamo.items() if k.startswith(("Get", "Query")) and "(strong)" in k)
    eventual = sum(v for k, v in dynamo.items() if k.startswith(("Get", "Query"))) - strong
    writes = sum(v for k, v in dynamo.items() if k.startswith(("Put", "Update", "Delete")))
    return strong + eventual / 2, writes


@dataclass(frozen=True)
class Chain:
    """One venue's lease chain in steady state, per month: how long each invocation is billed and what
    it asks of DynamoDB and Secrets Manager, from the code's own constants (the module docstring)."""

    tick_s: float

    @property
    def invocations(self) -> float:
        return SECONDS_PER_MONTH / SCHEDULER_PERIOD_S

    @property
    def ticks(self) -> float:
        return SECONDS_PER_MONTH / self.tick_s

    @property
    def accept_s(self) -> float:
        """An offered lease is taken at the standby's next poll: half a poll interval on average."""
        return SPARE_POLL_MS / 1000 / 2

    @property
    def seen_s(self) -> float:
        """The old holder sees its offer taken at its next read: half a read interval on average."""
        return OFFER_POLL_MS / 1000 / 2

    @property
    def queued_s(self) -> float:
        """A newcomer waits queued until the holder's next tick (T/2 on average), then the acceptance."""
        return self.tick_s / 2 + self.accept_s

    @property
    def billed_s(self) -> float:
        """One invocation: queued, then standby for one scheduler period, then the loop for one, then
        the handover until it sees its offer taken."""
        return self.queued_s + 2 * SCHEDULER_PERIOD_S + self.seen_s

    @property
    def polls(self) -> float:
        """One conditional write a poll: the standby all month, the queued one while it waits."""
        poll_s = SPARE_POLL_MS / 1000
        return SECONDS_PER_MONTH / poll_s + self.invocations * self.queued_s / poll_s

    @property
    def lease_wru(self) -> float:
        return self.ticks + self.polls + self.invocations * (JOIN_WRITES + HANDOVER_WRITES)

    @property
    def offer_reads(self) -> float:
        """Per handover, the holder's strong reads until it sees the offer taken: the acceptance (a
        uniform part of a poll interval) over the read interval, rounded up: (n + 1) / 2 on average."""
        return (SPARE_POLL_MS / OFFER_POLL_MS + 1) / 2

    @property
    def lease_rru(self) -> float:
        return self.invocations * self.offer_reads

    @property
    def secret_reads(self) -> float:
        """Per invocation: one as it joins (its container's copy is older than the cache age by then), one
        as it takes the loop over, and one per cache age while it stands by and while it holds the loop."""
        return self.invocations * (2 + 2 * SCHEDULER_PERIOD_S / SECRET_MAX_AGE_S)


def venue_cost(
    venue: str,
    template: Template,
    *,
    tick_calls: dict[str, float] | None = None,
    metric_series: int | None = None,
    memory_mb: int | None = None,
    tick_s: float | None = None,
    invites: float = 0.0,
    venue_calls: float | None = None,
) -> VenueCost:
    """The present design: one always-on loop per venue with a standby beside it (a new invocation a
    minute joins, and takes over a period later). `invites`: spares a loop called itself in the
    month (none while a standby stands by, the steady state)."""
    p = PRICES
    t = tick_s if tick_s is not None else template.tick_s
    calls = tick_calls if tick_calls is not None else DEFAULT_TICK_CALLS
    series = metric_series if metric_series is not None else DEFAULT_METRIC_SERIES
    gb = (memory_mb or template.memory_mb) / 1024
    chain = Chain(t)
    invocations = chain.invocations
    out = VenueCost(venue)
    add = out.lines.append

    add(
        Line(
            "Lambda compute",
            f"{invocations:,.0f} inv x ({chain.queued_s:g} s queued (T/2 + {chain.accept_s:g} s) +"
            f" {SCHEDULER_PERIOD_S} s standby + {SCHEDULER_PERIOD_S} s loop + {chain.seen_s:g} s handover)"
            f" x {gb:g} GB x ${p['lambda_arm64_gb_s']}",
            invocations * chain.billed_s * gb * p["lambda_arm64_gb_s"],
        )
    )
    requests = invocations + invites
    add(
        Line(
            "Lambda requests",
            f"({invocations:,.0f} scheduled + {invites:,.0f} spare invites: a loop calls one only while none"
            f" stands by, at most one per {INVITE_EVERY_MS / 1000:g} s) x $0.20/M",
            requests * p["lambda_request"],
        )
    )
    rru_tick, writes = _request_units(calls)
    add(
        Line(
            "DynamoDB per tick",
            f"{chain.ticks:,.0f} ticks x ({rru_tick:g} RRU x $0.125/M + {writes:g} WRU x $0.625/M)",
            chain.ticks * (rru_tick * p["dynamodb_rru"] + writes * p["dynamodb_wru"]),
        )
    )
    add(
        Line(
            "DynamoDB lease",
            f"({chain.ticks:,.0f} renewals + {chain.polls:,.0f} spare polls, 1 per {SPARE_POLL_MS / 1000:g} s"
            f" while a spare waits + {JOIN_WRITES + HANDOVER_WRITES}/inv to join and hand over)"
            f" = {chain.lease_wru:,.0f} WRU x $0.625/M + {chain.offer_reads:g} reads/handover"
            f" = {chain.lease_rru:,.0f} RRU x $0.125/M",
            chain.lease_wru * p["dynamodb_wru"] + chain.lease_rru * p["dynamodb_rru"],
        )
    )
    _common_lines(
        out,
        venue,
        template,
        ticks=chain.ticks,
        series=series,
        traces=requests,
        extra_log_gb=0.0,
        secret_reads=chain.secret_reads,
        secret_why=(
            f"1 as an invocation joins + 1 as it takes over + 1 per {SECRET_MAX_AGE_S} s cache while it"
            " stands by or holds the loop"
        ),
    )
    add(Line("Scheduler", f"{invocations:,.0f} x $1.00/M", invocations * p["scheduler_invocation"]))
    if venue_calls is not None:
        # Not an AWS charge: the timer requests go to the venue, which bills nothing for them. Shown
        # so that a venue with a timer per symbol or market (Binance, Gate) says what its tick makes.
        add(
            Line(
                "Venue requests",
                f"{chain.ticks:,.0f} ticks x {venue_calls:g} (measured) x $0: not billed by AWS",
                0.0,
            )
        )
    return out


def _common_lines(
    out: VenueCost,
    venue: str,
    template: Template,
    *,
    ticks: float,
    series: int,
    traces: float,
    extra_log_gb: float,
    secret_reads: float,
    secret_why: str,
) -> None:
    """What every design pays per venue: the secret, metrics, alarms, logs, traces."""
    p = PRICES
    add = out.lines.append
    secrets = template.secrets.get(venue, 1)
    secret_calls = secret_reads * secrets
    add(
        Line(
            "Secrets Manager",
            f"{secrets} secret x $0.40 + {secret_calls:,.0f} GetSecretValue ({secret_why}) x $0.05/10k",
            secrets * p["secret_month"] + secret_calls * p["secrets_api_call"],
        )
    )
    add(Line("Custom metrics", f"{series} series x $0.30", series * p["custom_metric_month"]))
    alarms = template.alarm_metrics.get(venue, 0)
    add(Line("Alarms", f"{alarms} alarm metrics x $0.10", alarms * p["alarm_metric_month"]))
    log_gb = ticks * LOG_BYTES_PER_TICK / 1e9 + extra_log_gb
    add(
        Line(
            "Logs ingest",
            f"{log_gb:.2f} GB (~{LOG_BYTES_PER_TICK} B/tick) x $0.50",
            log_gb * p["logs_ingest_gb"],
        )
    )
    add(Line("X-Ray", f"{traces:,.0f} traces x $5/M", traces * p["xray_trace"]))


def _per_tick_secret_reads(invocations: float) -> tuple[float, str]:
    """A design billed per tick reads the secret once per cache age (one warm container), or once per
    invocation where invocations are further apart."""
    reads = min(invocations, SECONDS_PER_MONTH / SECRET_MAX_AGE_S)
    return reads, f"{SECRET_MAX_AGE_S} s cache, one warm container"


def fleet_cost(
    template: Template,
    *,
    systems: int = SYSTEMS,
    notifier_ms: float | None = None,
    memory_mb: int | None = None,
) -> VenueCost:
    p = PRICES
    out = VenueCost("fleet (shared)")
    add = out.lines.append
    alarms = template.alarm_metrics.get("fleet", 0)
    if alarms:
        add(Line("Alarms", f"{alarms} alarm metrics x $0.10", alarms * p["alarm_metric_month"]))
    if template.insights_alarms:
        analysed = template.insights_alarms * systems
        add(
            Line(
                "TradingSystemDeadAlarm",
                f"{template.insights_alarms} Metrics Insights alarm x {systems} system(s) analysed x $0.10",
                analysed * p["alarm_metric_month"],
            )
        )
    add(Line("Dashboard", f"{template.dashboards} x $3", template.dashboards * p["dashboard_month"]))
    add(Line("KMS key", f"{template.kms_keys} x $1", template.kms_keys * p["kms_key_month"]))
    if template.notifier:
        events = NOTIFIER_EVENTS_PER_MONTH
        ms = notifier_ms if notifier_ms is not None else NOTIFIER_MS
        gb = (memory_mb or template.function_memory_mb) / 1024
        add(
            Line(
                "Notifier",
                f"{events} alerts x ({ms:.0f} ms x {gb:g} GB x $0.0000133334 + $0.20/M + SNS $0.50/M"
                " + KMS $0.03/10k); stream reads free",
                events
                * (
                    ms / 1000 * gb * p["lambda_arm64_gb_s"]
                    + p["lambda_request"]
                    + p["sns_publish"]
                    + p["kms_request"]
                ),
            )
        )
    if template.archiver:
        entries = AUDIT_ENTRIES_PER_MONTH
        gb = (memory_mb or template.function_memory_mb) / 1024
        add(
            Line(
                "Audit copy",
                f"{entries} entries x ({ARCHIVER_MS:.0f} ms x {gb:g} GB x $0.0000133334 + $0.20/M + S3 PUT"
                " $5/M + head read $0.125/M) + ~1 KB each stored x $0.023/GB-month",
                entries
                * (
                    ARCHIVER_MS / 1000 * gb * p["lambda_arm64_gb_s"]
                    + p["lambda_request"]
                    + p["s3_put"]
                    + p["dynamodb_rru"]
                    + AUDIT_ENTRY_KB / 1024 / 1024 * p["s3_gb_month"]
                ),
            )
        )
    return out


def chain_cost(
    venue: str,
    template: Template,
    *,
    tick_ms: float,
    tick_calls: dict[str, float] | None = None,
    metric_series: int | None = None,
    memory_mb: int | None = None,
    tick_s: float | None = None,
) -> VenueCost:
    """Billed per tick: each invocation ticks once and sends the next tick as an SQS message delayed by
    T; a Scheduler rule a minute re-seeds a chain that broke."""
    p = PRICES
    t = tick_s if tick_s is not None else template.tick_s
    calls = tick_calls if tick_calls is not None else DEFAULT_TICK_CALLS
    series = metric_series if metric_series is not None else DEFAULT_METRIC_SERIES
    gb = (memory_mb or template.memory_mb) / 1024
    ticks = SECONDS_PER_MONTH / t
    billed_ms = tick_ms + INVOKE_OVERHEAD_MS
    out = VenueCost(venue)
    add = out.lines.append
    add(
        Line(
            "Lambda compute",
            f"{ticks:,.0f} ticks x {billed_ms:.0f} ms (tick + send) x {gb:g} GB x ${p['lambda_arm64_gb_s']}",
            ticks * billed_ms / 1000 * gb * p["lambda_arm64_gb_s"],
        )
    )
    add(Line("Lambda requests", f"{ticks:,.0f} x $0.20/M", ticks * p["lambda_request"]))
    polls = SQS_POLLERS * SECONDS_PER_MONTH / SQS_LONG_POLL_S
    add(
        Line(
            "SQS",
            f"{ticks:,.0f} ticks x 3 (send, receive, delete) + {polls:,.0f} empty long polls"
            f" ({SQS_POLLERS} pollers / {SQS_LONG_POLL_S} s) x $0.40/M",
            (3 * ticks + polls) * p["sqs_request"],
        )
    )
    rru_tick, writes = _request_units(calls)
    rru_tick, writes = rru_tick + 0, writes + 1  # the chain's sequence: one conditional write a tick
    add(
        Line(
            "DynamoDB per tick",
            f"{ticks:,.0f} ticks x ({rru_tick:g} RRU x $0.125/M + {writes:g} WRU (+1 sequence) x $0.625/M)",
            ticks * (rru_tick * p["dynamodb_rru"] + writes * p["dynamodb_wru"]),
        )
    )
    reseeds = MINUTES_PER_MONTH
    add(
        Line(
            "Re-seeder",
            f"{reseeds:,} x (Scheduler $1/M + {RESEED_MS:.0f} ms x {gb:g} GB + $0.20/M + 1 RRU)",
            reseeds
            * (
                p["scheduler_invocation"]
                + RESEED_MS / 1000 * gb * p["lambda_arm64_gb_s"]
                + p["lambda_request"]
                + p["dynamodb_rru"]
            ),
        )
    )
    reads, why = _per_tick_secret_reads(ticks)
    _common_lines(
        out, venue, template, ticks=ticks, series=series, traces=ticks + reseeds,
        extra_log_gb=(ticks + reseeds) * LAMBDA_LOG_BYTES / 1e9, secret_reads=reads, secret_why=why,
    )  # fmt: skip
    return out


def scheduler_cost(
    venue: str,
    template: Template,
    *,
    tick_ms: float,
    tick_calls: dict[str, float] | None = None,
    metric_series: int | None = None,
    memory_mb: int | None = None,
) -> VenueCost:
    """Billed per tick at EventBridge Scheduler's floor: one invocation a minute, one tick each (T = 60 s)."""
    p = PRICES
    calls = tick_calls if tick_calls is not None else DEFAULT_TICK_CALLS
    series = metric_series if metric_series is not None else DEFAULT_METRIC_SERIES
    gb = (memory_mb or template.memory_mb) / 1024
    ticks = float(MINUTES_PER_MONTH)
    billed_ms = tick_ms + INVOKE_OVERHEAD_MS
    out = VenueCost(venue)
    add = out.lines.append
    add(
        Line(
            "Lambda compute",
            f"{ticks:,.0f} ticks x {billed_ms:.0f} ms x {gb:g} GB x ${p['lambda_arm64_gb_s']}",
            ticks * billed_ms / 1000 * gb * p["lambda_arm64_gb_s"],
        )
    )
    add(Line("Lambda requests", f"{ticks:,.0f} x $0.20/M", ticks * p["lambda_request"]))
    rru_tick, writes = _request_units(calls)
    add(
        Line(
            "DynamoDB per tick",
            f"{ticks:,.0f} ticks x ({rru_tick:g} RRU x $0.125/M + {writes + 1:g} WRU x $0.625/M)",
            ticks * (rru_tick * p["dynamodb_rru"] + (writes + 1) * p["dynamodb_wru"]),
        )
    )
    add(Line("Scheduler", f"{ticks:,.0f} x $1.00/M", ticks * p["scheduler_invocation"]))
    reads, why = _per_tick_secret_reads(ticks)
    _common_lines(
        out, venue, template, ticks=ticks, series=series, traces=ticks,
        extra_log_gb=ticks * LAMBDA_LOG_BYTES / 1e9, secret_reads=reads, secret_why=why,
    )  # fmt: skip
    return out


def _bound_s(venue: str, *, s: float, t: float, g: float, k: float) -> tuple[float, float | None]:
    from bench import ours

    watchdog, native = ours.reaction_bound_ms(venue, s=s, t=t, g=g, k=k)
    return watchdog / 1000, None if native is None else native / 1000


GUARANTEES = {
    "loop": (
        "Present design. One invocation a minute joins a DynamoDB lease as the loop, its standby or "
        "queued behind it, and is handed the lease at the loop's tick boundary a period later, so one "
        "loop per venue extends at a time (single writer) and nonces are drawn by one process in order. "
        "The standby polls the lease every second and takes over a crashed loop within one lease TTL "
        "(T + 7 s) and a poll; a loop with no standby calls one (an asynchronous Invoke of its own "
        "function). A lost or late Scheduler event costs nothing: the running loop keeps ticking "
        "(RUN_SECONDS 240 s covers several missed minutes). Billed for its sleep, and its standby's."
    ),
    "sqs-chain": (
        "Each invocation ticks once, then sends the next tick as an SQS message delayed by T. SQS is "
        "at-least-once: a duplicate message forks the chain, so every tick must claim its sequence "
        "number with a conditional write (tick n+1 only if the stored last tick is n) and drop the "
        "message otherwise - the lease becomes a per-tick sequence, and two invocations can still "
        "overlap in time, so nonce draws must stay in DynamoDB and a venue request must not leave after "
        "a later one (Kraken and Gemini refuse a nonce lower than one already seen). A lost message "
        "(send failed after the tick, function crashed, message expired) stops the chain: the "
        "1-minute re-seeder restarts it, so the venue timers must survive 60 s + T without an "
        "extension (G >= 70 s at T = 10), or a live trader's orders are cancelled; that moves the "
        "watchdog bound to S + K + G + 8 s ~ 103 s. Delays are not exact (SQS and the poller add "
        "latency), which G must also absorb."
    ),
    "scheduler-1min": (
        "EventBridge Scheduler's floor is one invocation a minute, so T = 60 s and G >= T: the watchdog "
        "bound becomes S + K + 60 + 8 s = 93 s, and Gemini (heartbeat at most every 15 s, cancels after "
        "30 s) cannot be served at all. Single writer still needs the lease (a retried or late event "
        "overlaps the next one); a lost event is a missed extension, so G must cover two minutes "
        "(G >= 120 s, bound ~ 153 s) for no false fire."
    ),
}


def designs(
    template: Template,
    *,
    venue: str,
    tick_ms: float,
    tick_calls: dict[str, float] | None,
    metric_series: int | None,
    memory_mb: int | None = None,
) -> list[dict[str, Any]]:
    """The present loop against per-tick-billed designs, one venue, monthly, with the bound each keeps."""
    t, s, g, k = template.tick_s, template.staleness_s, template.grace_s, template.skew_s
    kw: dict[str, Any] = {"tick_calls": tick_calls, "metric_series": metric_series}
    loop = venue_cost(venue, template, **kw)
    out = [
        {"design": "loop", "label": f"always-on loop, {template.memory_mb} MB (present)",
         "short": "loop (present)",
         "usd": loop.total, "lines": [vars(x) for x in loop.lines],
         "bound_s": _bound_s(venue, s=s, t=t, g=g, k=k)[0], "guarantees": GUARANTEES["loop"]},
    ]  # fmt: skip
    if memory_mb and memory_mb != template.memory_mb:
        small = venue_cost(venue, template, memory_mb=memory_mb, **kw)
        out.append(
            {"design": "loop", "label": f"always-on loop, {memory_mb} MB (recommended MemorySize)",
             "short": f"loop at {memory_mb} MB",
             "usd": small.total, "lines": [vars(x) for x in small.lines],
             "bound_s": _bound_s(venue, s=s, t=t, g=g, k=k)[0], "guarantees": GUARANTEES["loop"]}
        )  # fmt: skip
    chain = chain_cost(venue, template, tick_ms=tick_ms, memory_mb=memory_mb, **kw)
    out.append(
        {"design": "sqs-chain", "label": "SQS delay-queue chain, one invocation per tick",
         "short": "SQS delay chain, per tick",
         "usd": chain.total, "lines": [vars(x) for x in chain.lines],
         "bound_s": _bound_s(venue, s=s, t=t, g=max(g, 60 + t), k=k)[0],
         "guarantees": GUARANTEES["sqs-chain"]}
    )  # fmt: skip
    minute = scheduler_cost(venue, template, tick_ms=tick_ms, memory_mb=memory_mb, **kw)
    out.append(
        {"design": "scheduler-1min", "label": "EventBridge Scheduler, one tick a minute (T = 60 s)",
         "short": "Scheduler 1/min, T 60 s",
         "usd": minute.total, "lines": [vars(x) for x in minute.lines],
         "bound_s": _bound_s(venue, s=s, t=60, g=120, k=k)[0], "guarantees": GUARANTEES["scheduler-1min"]}
    )  # fmt: skip
    return out


def sweep(
    template: Template,
    *,
    venue: str,
    tick_ms: float,
    tick_calls: dict[str, float] | None,
    metric_series: int | None,
) -> list[dict[str, Any]]:
    """Monthly cost per venue (loop and SQS chain) and the watchdog bound over a grid of T, S, G (K fixed
    at the template's): the configurations the template's rules accept for this venue."""
    from bench import ours

    k = template.skew_s
    points = []
    for t in (5, 10, 15, 20, 30, 60):
        loop = venue_cost(venue, template, tick_calls=tick_calls, metric_series=metric_series, tick_s=t).total
        chain = chain_cost(
            venue, template, tick_ms=tick_ms, tick_calls=tick_calls, metric_series=metric_series, tick_s=t
        ).total
        for s in (10, 20, 30):
            for g in sorted({t, t + 5, 2 * t}):
                if not ours.timing_valid(s=s, t=t, g=g, k=k, venues=(venue,)):
                    continue
                watchdog, native = _bound_s(venue, s=s, t=t, g=g, k=k)
                # The chain must ride out a lost message until the re-seeder (60 s) restarts it.
                chain_bound = _bound_s(venue, s=s, t=t, g=max(g, 60 + t), k=k)[0]
                points.append(
                    {"T": t, "S": s, "G": g, "K": k, "watchdog_bound_s": watchdog, "native_bound_s": native,
                     "loop_usd": loop, "chain_usd": chain, "chain_watchdog_bound_s": chain_bound,
                     "default": (t, s, g) == (template.tick_s, template.staleness_s, template.grace_s)}
                )  # fmt: skip
    return points


def model(
    template_path: Path,
    ticks: dict[str, dict[str, Any]] | None = None,
    *,
    systems: int = SYSTEMS,
    notifier_ms: float | None = None,
    memory_mb: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The default configuration per venue and shared; with `memory_mb` (function -> recommended
    MemorySize) the designs are also priced at the recommended size."""
    template = Template.read(template_path)
    venues = []
    for venue in VENUES:
        measured = (ticks or {}).get(venue)
        venues.append(
            venue_cost(
                venue,
                template,
                tick_calls=measured["aws_calls_per_tick"] if measured else None,
                metric_series=len(measured["metric_series"]) if measured else None,
                venue_calls=measured.get("venue_calls_per_tick") if measured else None,
            )
        )
    shared = fleet_cost(template, systems=systems, notifier_ms=notifier_ms)
    measured_k = (ticks or {}).get("kraken") or {}
    kraken_calls = measured_k.get("aws_calls_per_tick")
    kraken_series = len(measured_k["metric_series"]) if measured_k else None
    tick_ms = float(measured_k.get("tick_ms_median", 40.0))
    return {
        "assumptions": {
            "memory_mb": template.memory_mb,
            "tick_s": template.tick_s,
            "staleness_s": template.staleness_s,
            "grace_s": template.grace_s,
            "skew_s": template.skew_s,
            "run_s": template.run_s,
            "hours_per_month": HOURS_PER_MONTH,
            "prices_usd": PRICES,
            "log_bytes_per_tick": LOG_BYTES_PER_TICK,
            "secret_cache_s": SECRET_MAX_AGE_S,
            "spare_poll_ms": SPARE_POLL_MS,
            "offer_poll_ms": OFFER_POLL_MS,
            "invite_every_ms": INVITE_EVERY_MS,
            "billed_s_per_invocation": Chain(template.tick_s).billed_s,
            "systems": systems,
            "notifier_events_per_month": NOTIFIER_EVENTS_PER_MONTH,
            "notifier_ms": notifier_ms if notifier_ms is not None else NOTIFIER_MS,
            "per_tick_designs_tick_ms": tick_ms,
            "calls_measured": ticks is not None,
            "accounts": {v: (ticks or {}).get(v, {}).get("accounts", 1) for v in VENUES},
        },
        "venues": {
            c.venue: {"total_usd": c.total, "lines": [vars(line) for line in c.lines]} for c in venues
        },
        "shared": {"total_usd": shared.total, "lines": [vars(line) for line in shared.lines]},
        "fleet_total_usd": shared.total + sum(c.total for c in venues),
        "designs": designs(
            template,
            venue="kraken",
            tick_ms=tick_ms,
            tick_calls=kraken_calls,
            metric_series=kraken_series,
            memory_mb=(memory_mb or {}).get("refresher-kraken"),
        ),
        "sweep": sweep(
            template, venue="kraken", tick_ms=tick_ms, tick_calls=kraken_calls, metric_series=kraken_series
        ),
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
            rows.append(f"    {line['item']:<22} ${line['usd']:7.3f}  = {line['formula']}")
    fleet = f"fleet, {len(cost['venues'])} venues"
    rows.append(f"  {fleet:<28} ${cost['fleet_total_usd']:7.2f}")
    if cost.get("designs"):
        rows.append("designs, one venue (kraken), monthly:")
        for d in cost["designs"]:
            rows.append(f"  {d['label']:<56} ${d['usd']:7.2f}  watchdog bound {d['bound_s']:.0f} s")
    return "\n".join(rows)

"""`make bench` plumbing on a tiny run: well-formed JSON and a cost model that adds up. No timing is
asserted (figures are printed by `make bench`, never tested)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import coldstart, cost, dashboard, importtime, runs
from deadman.app.refresh.loop import INVITE_EVERY_MS
from deadman.edges.wiring import SECRET_MAX_AGE_S
from deadman.stores.lease import OFFER_POLL_MS, SPARE_POLL_MS
from deadman.venues import CAPABILITIES, VENUES

ROOT = Path(__file__).resolve().parents[2]


def test_cost_model_reads_the_template_and_adds_up() -> None:
    model = cost.model(ROOT / "template.yaml")
    assumptions = model["assumptions"]
    assert assumptions["memory_mb"] > 0 and assumptions["tick_s"] > 0
    assert list(model["venues"]) == list(VENUES)  # every registered venue priced, none named here
    for venue in VENUES:
        lines = model["venues"][venue]["lines"]
        assert {line["item"] for line in lines} >= {"Lambda compute", "DynamoDB per tick", "Secrets Manager"}
        assert all(line["usd"] >= 0 and line["formula"] for line in lines)
        assert model["venues"][venue]["total_usd"] == pytest.approx(sum(line["usd"] for line in lines))
    shared = model["shared"]["total_usd"]
    venues = sum(v["total_usd"] for v in model["venues"].values())
    assert model["fleet_total_usd"] == pytest.approx(shared + venues)
    # An always-on loop and the standby beside it: twice 730 h x 3600 s x GB x price, plus the
    # newcomer's wait in the queue and the handover.
    compute = next(ln for ln in model["venues"]["kraken"]["lines"] if ln["item"] == "Lambda compute")
    always_on = 730 * 3600 * assumptions["memory_mb"] / 1024 * cost.PRICES["lambda_arm64_gb_s"]
    assert 2 * always_on < compute["usd"] < 2.2 * always_on
    assert f"fleet, {len(VENUES)} venues" in cost.render(model)


def _line(venue: cost.VenueCost, item: str) -> cost.Line:
    return next(line for line in venue.lines if line.item == item)


def test_each_invocation_is_billed_queued_standby_loop_and_handover() -> None:
    """From the lease's own constants: queued until the holder's next tick (T/2) and the standby's
    acceptance (half a poll), a scheduler period as standby, one as the loop, and the handover until
    the old holder reads its offer taken (half a read interval)."""
    template = cost.Template.read(ROOT / "template.yaml")
    t = template.tick_s
    billed = t / 2 + SPARE_POLL_MS / 2000 + 60 + 60 + OFFER_POLL_MS / 2000
    assert cost.Chain(t).billed_s == pytest.approx(billed)
    kraken = cost.venue_cost("kraken", template)
    gb_price = template.memory_mb / 1024 * cost.PRICES["lambda_arm64_gb_s"]
    assert _line(kraken, "Lambda compute").usd == pytest.approx(43_800 * billed * gb_price)
    # A longer tick only lengthens the newcomer's wait in the queue.
    assert cost.Chain(2 * t).billed_s - cost.Chain(t).billed_s == pytest.approx(t / 2)


def test_the_spares_polls_are_lease_writes_once_a_second() -> None:
    template = cost.Template.read(ROOT / "template.yaml")
    t = template.tick_s
    poll_s = SPARE_POLL_MS / 1000
    queued_s = t / 2 + poll_s / 2
    seconds = 730 * 3600
    invocations = 43_800
    writes = seconds / t + seconds / poll_s + invocations * queued_s / poll_s + invocations * (3 + 2)
    reads = invocations * (SPARE_POLL_MS / OFFER_POLL_MS + 1) / 2
    chain = cost.Chain(t)
    assert chain.lease_wru == pytest.approx(writes)
    assert chain.lease_rru == pytest.approx(reads)
    assert chain.lease_wru > seconds  # a standby waits all month, one write a second
    lease = _line(cost.venue_cost("kraken", template), "DynamoDB lease")
    assert lease.usd == pytest.approx(
        writes * cost.PRICES["dynamodb_wru"] + reads * cost.PRICES["dynamodb_rru"]
    )
    assert f"{writes:,.0f} WRU" in lease.formula


def test_the_secret_is_read_at_the_functions_own_cache_age(monkeypatch: pytest.MonkeyPatch) -> None:
    template = cost.Template.read(ROOT / "template.yaml")
    assert cost.SECRET_MAX_AGE_S == SECRET_MAX_AGE_S == 60
    secret = _line(cost.venue_cost("kraken", template), "Secrets Manager")
    # One read as an invocation joins, one as it takes over, one per 60 s while it stands by and one
    # per 60 s while it holds the loop: four a minute.
    assert secret.usd == pytest.approx(0.40 + 4 * 43_800 * cost.PRICES["secrets_api_call"])
    chain = _line(cost.chain_cost("kraken", template, tick_ms=20.0), "Secrets Manager")
    assert chain.usd == pytest.approx(0.40 + 43_800 * cost.PRICES["secrets_api_call"])
    minute = _line(cost.scheduler_cost("kraken", template, tick_ms=20.0), "Secrets Manager")
    assert minute.usd == pytest.approx(chain.usd)
    monkeypatch.setattr(cost, "SECRET_MAX_AGE_S", 120)
    longer = _line(cost.venue_cost("kraken", template), "Secrets Manager")
    assert longer.usd == pytest.approx(0.40 + 3 * 43_800 * cost.PRICES["secrets_api_call"])


def test_spare_invites_cost_requests_and_traces_only() -> None:
    """A loop calls a spare only while none stands by: none in steady state. Those it does call replace
    a missing standby, whose time the model already bills."""
    template = cost.Template.read(ROOT / "template.yaml")
    steady = cost.venue_cost("kraken", template)
    assert _line(steady, "Lambda requests").usd == pytest.approx(43_800 * cost.PRICES["lambda_request"])
    assert f"at most one per {INVITE_EVERY_MS // 1000} s" in _line(steady, "Lambda requests").formula
    invites = 730 * 3600 * 1000 / INVITE_EVERY_MS  # the most a loop can call: one per INVITE_EVERY_MS
    gappy = cost.venue_cost("kraken", template, invites=invites)
    assert gappy.total - steady.total == pytest.approx(
        invites * (cost.PRICES["lambda_request"] + cost.PRICES["xray_trace"])
    )
    assert _line(gappy, "Lambda compute").usd == _line(steady, "Lambda compute").usd


def test_cost_model_uses_measured_calls() -> None:
    ticks = {
        "kraken": {
            "accounts": 1,
            "aws_calls_per_tick": {"dynamodb.GetItem(strong)": 10.0, "dynamodb.PutItem": 10.0},
            "metric_series": ["A[service,venue]"],
        }
    }
    measured = cost.model(ROOT / "template.yaml", ticks)
    default = cost.model(ROOT / "template.yaml")
    assert measured["venues"]["kraken"]["total_usd"] > default["venues"]["kraken"]["total_usd"] - 1.0
    line = next(ln for ln in measured["venues"]["kraken"]["lines"] if ln["item"] == "DynamoDB per tick")
    assert "10 RRU" in line["formula"] and "10 WRU" in line["formula"]


def test_tiny_bench_run_writes_well_formed_json(tmp_path: Path) -> None:
    # Only deadman's own status cold start and signing: the alternatives are not in .venv.
    code = bench_main.main(
        [
            "--runs", "1", "--signing-rounds", "1", "--no-ticks", "--no-charts", "--sections", "signing,cold",
            "--functions", "status", "--python", sys.executable, "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    results = json.loads((tmp_path / "bench.json").read_text())
    assert set(results) >= {"machine", "signing", "cold_start", "cost", "table"}
    per_call = results["signing"]["eth_keys default backend"]["per_call_us"]
    assert per_call["deadman"] > 0
    assert results["cold_start"]["median_ms"]["status"]["ours"] > 0
    assert results["cold_start"]["errors"] == {}
    for row in results["table"]:
        assert set(row) == {"what", "unit", "deadman", "alternative", "value", "ratio"}


def test_cost_only_prices_a_stored_run_again_and_keeps_the_rest(tmp_path: Path) -> None:
    measured = {
        "kraken": {
            "accounts": 1,
            "tick_ms_median": 20.0,
            "aws_calls_per_tick": {"dynamodb.PutItem": 7.0},
            "metric_series": [],
        }
    }
    stale = {"venues": {}, "shared": {}, "fleet_total_usd": 1.0, "assumptions": {"tick_s": 10}}
    stored = {"machine": {"when": "then"}, "ticks": {"ticks": measured}, "cost": stale, "table": []}
    (tmp_path / "bench.json").write_text(json.dumps(stored))
    assert bench_main.main(["--cost-only", "--no-charts", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench.json").read_text())
    assert results["machine"] == {"when": "then"} and results["ticks"] == stored["ticks"]
    assert results["cost"]["fleet_total_usd"] == pytest.approx(
        cost.model(ROOT / "template.yaml", measured)["fleet_total_usd"]
    )
    per_tick = next(
        ln for ln in results["cost"]["venues"]["kraken"]["lines"] if ln["item"] == "DynamoDB per tick"
    )
    assert "7 WRU" in per_tick["formula"]  # the stored measurement, not the stand-in
    assert any(row["what"] == f"monthly cost fleet ({len(VENUES)} venues)" for row in results["table"])
    assert bench_main.main(["--cost-only", "--no-charts", "--out", str(tmp_path / "none")]) == 2


def test_cost_model_counts_the_notifier_and_the_one_metrics_insights_alarm() -> None:
    model = cost.model(ROOT / "template.yaml", systems=3)
    shared = {line["item"]: line for line in model["shared"]["lines"]}
    assert "Notifier" in shared and shared["Notifier"]["usd"] >= 0
    alarm = shared["TradingSystemDeadAlarm"]
    assert "3 system(s)" in alarm["formula"]
    assert alarm["usd"] == pytest.approx(3 * cost.PRICES["alarm_metric_month"])
    one = cost.model(ROOT / "template.yaml", systems=1)
    assert model["fleet_total_usd"] - one["fleet_total_usd"] == pytest.approx(
        2 * cost.PRICES["alarm_metric_month"]
    )


def test_designs_price_the_loop_first_and_per_tick_designs_with_their_own_bound() -> None:
    model = cost.model(ROOT / "template.yaml", memory_mb={"refresher-kraken": 256})
    designs = model["designs"]
    assert [d["design"] for d in designs] == ["loop", "loop", "sqs-chain", "scheduler-1min"]
    assert designs[0]["usd"] == pytest.approx(model["venues"]["kraken"]["total_usd"])
    assert designs[1]["usd"] > designs[0]["usd"]  # the same loop at a larger MemorySize than 128 MB
    loop_bound = designs[0]["bound_s"]
    assert all(d["bound_s"] > loop_bound for d in designs[2:])  # a lost tick must be ridden out
    assert all(
        d["guarantees"] and d["usd"] == pytest.approx(sum(ln["usd"] for ln in d["lines"])) for d in designs
    )


def test_sweep_keeps_only_valid_timings_and_flags_the_default() -> None:
    points = cost.model(ROOT / "template.yaml")["sweep"]
    assert points and all(p["G"] >= p["T"] for p in points)
    assert sum(p["default"] for p in points) == 1
    for p in points:  # S and G move the bound, not the price: cost depends on T alone
        same_t = {round(q["loop_usd"], 9) for q in points if q["T"] == p["T"]}
        assert len(same_t) == 1
        assert p["watchdog_bound_s"] == pytest.approx(p["S"] + p["K"] + p["G"] + 8)


def test_memory_size_rounds_up_with_the_runtime_and_a_margin() -> None:
    assert runs.recommend_memory_mb(10) == 128  # never under Lambda's minimum
    assert runs.recommend_memory_mb(62.5) == 144  # 62.5 x 1.25 + 60 = 138.1 -> 144
    assert runs.recommend_memory_mb(100) % runs.MEMORY_STEP_MB == 0


def test_largest_account_count_under_half_a_tick() -> None:
    points = [
        {"venue": "kraken", "systems": 1, "accounts": 1, "tick_ms_median": 30.0},
        {"venue": "kraken", "systems": 1, "accounts": 10, "tick_ms_median": 100.0, "tick_ms_max": 120.0},
        {"venue": "kraken", "systems": 1, "accounts": 100, "tick_ms_median": 900.0, "tick_ms_max": 1020.0},
        {"venue": "kraken", "systems": 5, "accounts": 10, "tick_ms_median": 9999.0},  # not a 1-system point
        {"venue": "gemini", "systems": 1, "accounts": 1, "tick_ms_median": 30.0},
        {"venue": "gemini", "systems": 1, "accounts": 10, "tick_ms_median": 6000.0},
    ]
    kraken = runs.largest_under(points, "kraken", 5000.0)
    assert kraken == {"accounts": 100 + int((5000 - 1020) / 10), "how": "extrapolated 10->100"}
    assert runs.largest_under(points, "gemini", 5000.0) == {"accounts": 1, "how": "measured"}
    assert runs.largest_under(points, "hyperliquid", 5000.0) is None


def test_table_rows_for_the_sandbox_figures() -> None:
    cpu = {"deadman": {"cpu_ms_median": 4.0}, "ccxt": {"cpu_ms_median": 8.0}}
    kill = {"targets": 5, "empty_ms_median": {"parallel": 300.0, "serial": 900.0}}
    results = {
        "cost": cost.model(ROOT / "template.yaml"),
        "tick_cpu": {"venues": {"kraken": cpu}},
        "kill": {"by_latency": {"0.05": kill}},
        "memory": {"functions": {"kill": {"peak_rss_mb": 70.0, "recommended_mb": 160}}},
        "reaction_rows": [{"label": "kraken\nfleet running", "measured_s": 4.5, "bound_s": 15.0}],
        "scale": {"points": [{"venue": "kraken", "accounts": 10, "systems": 1, "tick_ms_median": 100.0,
                              "tick_ms_max": 150.0, "extended_per_tick": 9.5, "dynamodb_calls_per_tick": 41,
                              "venue_calls_per_tick": 10, "peak_rss_mb": 64}]},
    }  # fmt: skip
    rows = {row["what"]: row for row in bench_main.table(results)}
    assert rows["tick CPU kraken (1 acct, sent to simulator)"]["ratio"] == pytest.approx(0.5)
    assert rows["kill to books empty, 5 switches, RTT 50 ms"]["ratio"] == pytest.approx(1 / 3)
    assert rows["peak RSS kill"]["value"] == 160 and rows["peak RSS kill"]["ratio"] is None
    assert rows["reaction after death kraken fleet running"]["ratio"] == pytest.approx(0.3)
    scale = next(r for w, r in rows.items() if w.startswith("tick kraken 10 acct 1 sys"))
    assert "max 0.1 s, 9.5/10 extended" in scale["what"]
    assert scale["value"] == cost.Template.read(ROOT / "template.yaml").tick_s * 1000 / 2
    for row in rows.values():
        assert set(row) == {"what", "unit", "deadman", "alternative", "value", "ratio"}
    assert "kill to books empty" in bench_main.render(list(rows.values()))


def test_reaction_rows_take_the_worst_account_and_a_missed_one_shows() -> None:
    reaction = {
        "watchdog": [
            {
                "per_account_ms": {"gemini/main": 4000.0, "gemini/timed": 4600.0},
                "bound_ms": {"gemini": 15000},
            },
            {"per_account_ms": {"gemini/main": 4300.0, "gemini/timed": None}, "bound_ms": {"gemini": 15000}},
        ]
    }
    rows = bench_main.reaction_rows(reaction)
    assert rows == [{"label": "gemini\nfleet running", "measured_s": None, "bound_s": 15.0, "runs": 2}]
    reaction["watchdog"][1]["per_account_ms"]["gemini/timed"] = 4100.0
    assert bench_main.reaction_rows(reaction)[0]["measured_s"] == pytest.approx(4.6)


def test_dashboard_widgets_come_from_the_template_with_the_shorthand_expanded() -> None:
    widgets = dashboard.widgets_of(ROOT / "template.yaml")
    assert widgets and all({"x", "y", "width", "height", "properties"} <= set(w) for w in widgets)
    rows = dashboard.expand_metrics([["NS", "M", "service", "d", "venue", "gemini"], ["...", "kraken"]])
    assert rows[1] == ["NS", "M", "service", "d", "venue", "kraken"]
    names = {row[1] for w in widgets for row in dashboard.expand_metrics(w["properties"]["metrics"])}
    assert {"LivenessAgeSeconds", "SecondsToDeadline"} <= names


def test_importtime_report_is_parsed_per_module() -> None:
    report = "import time: self [us] | cumulative | imported package\n" \
             "import time:       150 |        150 |   json.decoder\n" \
             "import time:      2500 |       2650 | json\n"  # fmt: skip
    assert importtime.parse(report) == {"json.decoder": 0.15, "json": 2.5}


def test_every_registered_venue_is_benched_and_its_alarms_are_its_own() -> None:
    """The bench follows the registry: a refresher cold start per venue, and each venue's alarms (its
    `<Title>Enabled` condition: OKX, BitMEX too) priced on its own row, not the fleet's."""
    refreshers = [f.removeprefix("refresher-") for f in bench_main.COLD_STARTS if f.startswith("refresher-")]
    assert refreshers == list(VENUES)
    template = cost.Template.read(ROOT / "template.yaml")
    assert set(VENUES) <= set(template.alarm_metrics)
    kraken_alarms = template.alarm_metrics["kraken"]
    assert all(template.alarm_metrics[v] == kraken_alarms for v in VENUES)


def test_venue_requests_are_shown_and_never_billed() -> None:
    template = cost.Template.read(ROOT / "template.yaml")
    measured = cost.venue_cost("gate", template, venue_calls=3.0)
    plain = cost.venue_cost("gate", template)
    line = _line(measured, "Venue requests")
    assert line.usd == 0 and "x 3 (measured)" in line.formula
    assert measured.total == pytest.approx(plain.total)
    assert all(ln.item != "Venue requests" for ln in plain.lines)


def test_a_venue_with_no_alternative_gets_deadmans_row_saying_so() -> None:
    results = {
        "cost": cost.model(ROOT / "template.yaml"),
        "tick_cpu": {"venues": {"bitmex": {"deadman": {"cpu_ms_median": 4.0}}}},
        "cold_start": {"median_ms": {"refresher-bitmex": {"ours": 150.0}}},
    }
    rows = {row["what"]: row for row in bench_main.table(results)}
    assert rows["tick CPU bitmex (1 acct, sent to simulator)"]["alternative"] == "no ccxt"
    assert rows["cold start refresher-bitmex"]["alternative"] == "no ccxt"
    assert rows["cold start refresher-bitmex"]["ratio"] is None


def test_every_venue_has_its_cold_start_request_and_ccxts_venues_are_compared() -> None:
    """A refresher's cold start builds the venue's request (its timer call, or with no timer the
    cancel-all of a death): one for every registered venue, and every venue ccxt has is set against it."""
    assert set(coldstart.OURS_REQUESTS) == set(VENUES)
    for venue in VENUES:
        assert coldstart.OURS_REQUESTS[venue]()  # deadman's own signing, nothing sent
    for venue in coldstart.CCXT_VENUES:
        assert "ccxt" in bench_main.ALTERNATIVES[venue]
        assert "ccxt" in bench_main.COLD_STARTS[f"refresher-{venue}"]


def test_a_venue_with_no_timer_gets_a_tick_cpu_row_saying_nothing_is_sent() -> None:
    venue = next(v for v in VENUES if not CAPABILITIES[v].has_timer)
    figures = {"deadman": {"cpu_ms_median": 3.0}, "same 3 DynamoDB calls on boto3": {"cpu_ms_median": 6.0}}
    results = {
        "cost": cost.model(ROOT / "template.yaml"),
        "tick_cpu": {"venues": {venue: figures}},
        "reaction": {"native": [{"per_account_ms": {}, "bound_ms": {"kraken": 9000, venue: None}}]},
    }
    rows = {row["what"]: row for row in bench_main.table(results)}
    row = rows[f"tick CPU {venue} (1 acct, no timer: nothing sent)"]
    assert row["alternative"] == "same 3 DynamoDB calls on boto3" and row["ratio"] == pytest.approx(0.5)
    assert bench_main._no_native_bound(results["reaction"]) == [venue]

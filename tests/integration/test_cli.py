"""The `deadman` command line against the sandbox's local API (the same requests as a deployment),
its exit codes, SigV4 signing, `doctor` and `beat`."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import boto3
import pytest
import requests

from deadman.app.control import toolkit
from deadman.core.clock import system_clock
from deadman.core.metrics import ListMetrics
from deadman.edges.cli import client as cli_client
from deadman.edges.cli import common as cli_common
from deadman.edges.cli import main as cli_main
from deadman.edges.cli import status_view
from deadman.stores.liveness import LivenessReader, LivenessWriter
from deadman.stores.switches import SwitchStore
from sandbox.aws import patched_env
from sandbox.local_api import LocalApi
from sandbox.stack import CONTROL_TABLE, LIVENESS_TABLE, SYSTEM, SandboxTiming, Stack
from sandbox.trader import ToyTrader
from sandbox.venues.registry import SIMULATORS, sandbox_venues

# One switch per account the sandbox provisions on each registered venue.
SANDBOX_VENUES = sandbox_venues(SandboxTiming().tick_s)
SWITCHES = sum(len(SIMULATORS[v].SANDBOX_ACCOUNTS) for v in SANDBOX_VENUES)

pytestmark = pytest.mark.integration
DEADMAN = Path(sys.executable).parent / "deadman"


def status_code(body: dict[str, Any]) -> int:
    """A health check: the exit code says whether anything needs attention, whatever the format."""
    return cli_common.EXIT_ATTENTION if status_view.attention(body) else cli_common.EXIT_OK


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Stack, LocalApi]]:
    with Stack(SandboxTiming()) as stack, LocalApi(stack.env) as api:
        ToyTrader(stack).beat()
        yield stack, api


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- pure helpers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), ("45s", 45), (" 5 m ", 300)],
)
def test_durations(text: str, seconds: int) -> None:
    assert cli_common.parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "0", "0m", "10x", "m30", "-5m", "1.5h", "30 minutes", "h", "45", " 10 "]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(cli_common.CliError) as info:
        cli_common.parse_duration(text)
    assert info.value.code == cli_common.EXIT_USAGE


def test_a_duration_without_a_unit_is_refused_with_the_choices_spelt_out() -> None:
    # '--for 10' used to mean 10 seconds silently; an operator meaning 10 minutes got a disarm that
    # ended while the restart was still under way.
    with pytest.raises(cli_common.CliError) as info:
        cli_common.parse_duration("10")
    assert str(info.value) == "duration '10' has no unit: write 10s, 10m or 10h (seconds, minutes, hours)"


def test_region_and_exit_code_mapping() -> None:
    assert cli_client.region_of("https://abc123.execute-api.eu-west-2.amazonaws.com/v1") == "eu-west-2"
    assert cli_client.region_of("http://127.0.0.1:8080") is None
    assert [cli_client.exit_code(s) for s in (200, 207, 400, 409, 401, 403, 404, 429, 500, 502, 504)] == [
        0,
        1,
        2,
        2,
        3,
        3,
        2,
        6,
        5,
        5,
        5,
    ]


# -- against the sandbox ----------------------------------------------------------------------------------


def test_operator_story_with_exit_codes(
    sandbox: tuple[Stack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    stack, api = sandbox
    ep = ("--endpoint", api.url)
    ToyTrader(stack).rest_orders(1)

    code, out, _ = run(capsys, "kill", *ep, "--reason", "cli drill")
    assert code == 0, out
    n = SWITCHES
    assert f"OK: killed {n}/{n} switch(es); swept {n}/{n}; cancelled {n} order(s)" in out
    assert "kraken/main" in out and "LATCHED" in out
    assert all(n == 0 for n in stack.books().values())

    code, out, _ = run(capsys, "status", *ep)
    assert code == cli_common.EXIT_ATTENTION  # killed switches need a look: status says so in its exit code
    assert "ATTENTION:" in out and "kraken/main is killed: cli drill" in out
    assert "trader toy-trader: ALIVE" in out
    assert "killed until an operator arms it" in out
    # The native reaction bound as the API computes it (deadman.core.policy owns the number).
    bounds = json.loads(run(capsys, "status", *ep, "--json")[1])["venues"]
    native = next(v["reaction_bounds"]["native_s"] for v in bounds if v["venue"] == "hyperliquid")
    [row] = [line for line in out.splitlines() if line.startswith("hyperliquid  absolute_ms")]
    assert f"{native:.1f} s" in row

    code, _, err = run(capsys, "disarm", *ep, "--for", "30m", "--reason", "deploy")
    assert code == cli_common.EXIT_USAGE and "HTTP 409 conflict" in err and "Arm it first" in err

    code, out, _ = run(capsys, "arm", *ep, "--reason", "drill over")
    assert code == 0 and f"armed {n} switch(es)" in out

    code, out, _ = run(
        capsys, "--json", "disarm", *ep, "--for", "30m", "--reason", "deploy", "--venue", "kraken"
    )
    assert code == 0
    body = json.loads(out)
    # Deferred by default: the timer fires S + T + G after the end, should the fleet be gone then.
    assert body["for_seconds"] == 1800 and [s["venue_timer"] for s in body["switches"]] == ["deferred"]
    code, out, _ = run(
        capsys,
        "--json",
        "disarm",
        *ep,
        "--for",
        "30m",
        "--timer-off",
        "--reason",
        "kraken maintenance",
        "--venue",
        "kraken",
    )
    assert code == 0 and [s["venue_timer"] for s in json.loads(out)["switches"]] == ["off"]

    code, _, err = run(capsys, "disarm", *ep, "--for", "5h", "--reason", "too long")
    assert code == cli_common.EXIT_USAGE and "between 1 and 14400" in err
    assert "a longer, deliberate absence such as a weekend is an off period" in err
    code, out, _ = run(
        capsys, "disarm", *ep, "--off", "--for", "3h", "--reason", "night", "--venue", "kraken"
    )
    assert code == 0 and out.startswith("OFF by ") and "OK: switched off 1/1 switch(es)" in out
    code, out, _ = run(capsys, "status", *ep)
    assert "OFF (" in out and "off (the trader is away on purpose" in out

    code, _, err = run(capsys, "kill", *ep, "--reason", "x", "--account", "nope")
    assert code == cli_common.EXIT_USAGE and "unknown account(s) 'nope'" in err

    code, _, err = run(capsys, "disarm", *ep, "--for", "soon", "--reason", "x")
    assert code == cli_common.EXIT_USAGE and "cannot read duration" in err

    assert run(capsys, "kill", *ep)[0] == cli_common.EXIT_USAGE  # --reason is required (argparse)

    stack.sims["kraken"].faults.http_5xx = 502
    try:
        code, out, _ = run(capsys, "kill", *ep, "--reason", "kraken down")
    finally:
        stack.sims["kraken"].faults.http_5xx = None
    assert code == cli_common.EXIT_PARTIAL
    assert "INCOMPLETE" in out and "NOT done: kraken/main" in out

    # The sandbox answers an unknown route like API Gateway does (403 "Missing Authentication Token"):
    # the hint is about the URL, not the credentials.
    code, _, err = run(capsys, "status", "--endpoint", api.url + "/nope")
    assert code == cli_common.EXIT_AUTH and "HTTP 403" in err
    assert "no route matches this URL" in err and "ApiUrl" in err and "credentials" not in err

    code, _, err = run(capsys, "status", "--endpoint", "http://127.0.0.1:9", "--timeout", "2")
    assert code == cli_common.EXIT_UNREACHABLE and "cannot reach" in err

    with patched_env({"DEADMAN_ENDPOINT": api.url}):
        code, out, _ = run(capsys, "status", "--json")
    assert code == status_code(json.loads(out)) and json.loads(out)["action"] == "status"
    assert run(capsys, "arm", *ep, "--reason", "end of story")[0] == 0


def control_table() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": CONTROL_TABLE, "ConsistentRead": True}
    while True:
        page = boto3.client("dynamodb").scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


UNSAFE = ("\x1b", "\x00", "\x07", "\x9b", "\u202e")


def test_bad_reasons_are_refused_and_change_nothing(
    sandbox: tuple[Stack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    _, api = sandbox
    ep = ("--endpoint", api.url)
    before = control_table()

    code, _, err = run(capsys, "kill", *ep, "--reason", "   ")
    assert code == cli_common.EXIT_USAGE and "HTTP 400" in err and "only whitespace" in err
    code, _, err = run(capsys, "arm", *ep, "--reason", "fine\x1b[2J\x1b[H")
    assert code == cli_common.EXIT_USAGE and "control character (U+001B) at position 4" in err
    assert not any(char in err for char in UNSAFE)
    code, _, err = run(capsys, "disarm", *ep, "--for", "5m", "--reason", "nul\x00")
    assert code == cli_common.EXIT_USAGE and "U+0000" in err

    # Invalid UTF-8 on the wire (a client that does not encode its text): the sandbox, like API
    # Gateway, passes it on with U+FFFD in place of the bad bytes.
    resp = requests.post(api.url + "/kill", data=b'{"reason": "bad \xff\xfe bytes"}', timeout=30)
    assert resp.status_code == 400 and "not valid UTF-8" in resp.json()["message"]
    resp = requests.post(api.url + "/kill", data=b'{"reason": "half \\ud800 pair"}', timeout=30)
    assert resp.status_code == 400 and "lone surrogate" in resp.json()["message"]

    assert control_table() == before


def test_status_never_prints_control_characters_stored_in_the_table(
    sandbox: tuple[Stack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    # Written straight to the table: what an older version (or anyone with table access) stored.
    _, api = sandbox
    SwitchStore(CONTROL_TABLE).audit(
        "kraken",
        "main",
        action="note",
        actor="arn:aws:sts::1:assumed-role/x/\x1b]0;owned\x07",
        reason="legacy \x1b[2J\x1b[H\x00reason",
        result="\x1b[31mred\x9b0m \u202eevil",
        now_ms=int(time.time() * 1000),
    )
    code, out, _ = run(capsys, "status", "--endpoint", api.url, "--audit", "5")
    assert code == (cli_common.EXIT_ATTENTION if "ATTENTION:" in out else cli_common.EXIT_OK)
    assert not any(char in out for char in UNSAFE), repr(out)
    assert "legacy \\x1b[2J\\x1b[H\\x00reason" in out and "\\u202eevil" in out

    code, out, _ = run(capsys, "status", "--endpoint", api.url, "--json")
    assert code == status_code(json.loads(out)) and not any(char in out for char in UNSAFE)
    assert "\\u001b[2J" in out


def test_a_short_timeout_is_reported_as_given(capsys: pytest.CaptureFixture[str]) -> None:
    # A listener that never answers: the connection is accepted (backlog), the answer never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        code, _, err = run(capsys, "status", "--endpoint", url, "--no-sign", "--timeout", "0.05")
    assert code == cli_common.EXIT_UNREACHABLE
    assert "within 0.05 s" in err and "within 0 s" not in err


class Recorder(BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, dict[str, Any]]]] = []
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        Recorder.seen.append({k.lower(): v for k, v in self.headers.items()})
        status, body = Recorder.answers.pop(0)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    Recorder.seen.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_requests_are_sigv4_signed_and_errors_map_to_exit_codes(
    recorder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    creds = {
        "AWS_ACCESS_KEY_ID": "AKIDCLITEST",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t",
        "AWS_SESSION_TOKEN": "tok",
    }
    Recorder.answers = [
        (403, {"message": "User: arn:aws:iam::1:user/x is not authorized to perform: execute-api:Invoke"}),
        (500, {"error": "internal_error", "message": "boom"}),
        (429, {"message": "Too Many Requests"}),
        (403, {"message": "Missing Authentication Token"}),
    ]
    with patched_env(creds):
        code, _, err = run(capsys, "status", "--endpoint", recorder + "/v1", "--region", "eu-west-1")
        assert code == cli_common.EXIT_AUTH and "not authorized" in err and "Operator" in err
        code, _, err = run(capsys, "status", "--endpoint", recorder + "/v1", "--region", "eu-west-1")
        assert code == cli_common.EXIT_SERVER and "outcome is unknown" in err
        # Throttling is not a refusal: its own exit code, and the advice is to retry.
        code, _, err = run(capsys, "status", "--endpoint", recorder + "/v1", "--region", "eu-west-1")
        assert code == cli_common.EXIT_THROTTLED == 6
        assert "HTTP 429" in err and "throttled" in err and "retry" in err
        assert "refused" not in err
        # A wrong stage or path, signed: the hint is about the URL, not the credentials.
        code, _, err = run(capsys, "status", "--endpoint", recorder + "/v2", "--region", "eu-west-1")
        assert code == cli_common.EXIT_AUTH and "no route matches this URL" in err and "/v1" in err
        assert "check your AWS credentials" not in err
    auth = Recorder.seen[0]["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDCLITEST/")
    assert "/eu-west-1/execute-api/aws4_request" in auth
    assert "SignedHeaders=" in auth and "host" in auth and "x-amz-date" in auth
    assert Recorder.seen[0]["x-amz-security-token"] == "tok"


def test_no_credentials_for_a_remote_endpoint_is_an_auth_error(capsys: pytest.CaptureFixture[str]) -> None:
    bare = {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SESSION_TOKEN": "",
        "AWS_PROFILE": "",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
    }
    saved = {k: os.environ.pop(k) for k in list(bare) if k in os.environ}
    try:
        with patched_env({k: v for k, v in bare.items() if v}):
            for key in [k for k, v in bare.items() if not v]:
                os.environ.pop(key, None)
            code, _, err = run(
                capsys, "status", "--endpoint", "https://abc.execute-api.us-east-1.amazonaws.com/v1"
            )
    finally:
        os.environ.update(saved)
    assert code == cli_common.EXIT_AUTH and "no AWS credentials" in err


def test_doctor_checks_the_sandbox_without_touching_the_gemini_trading_keys(
    sandbox: tuple[Stack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    stack, api = sandbox
    env = {k: v for k, v in stack.env.items() if k.startswith("SECRET_") or k == "CONTROL_TABLE"}
    keys = [entry["api_key"] for entry in stack.accounts["gemini"].values()]
    auth_before = {k: stack.sims["gemini"].last_auth_ms(k) for k in keys}

    with patched_env(env):
        code, out, _ = run(capsys, "doctor", "--endpoint", api.url)

    assert code == 0, out
    lines = out.splitlines()
    assert any(line.startswith("[OK  ] api") for line in lines)
    for venue in ("gemini", "kraken", "hyperliquid"):
        assert any(line.startswith(f"[OK  ] secret {venue}") for line in lines), venue
    assert any("kraken/main" in line and "clock skew" in line and "/0/public/Time" in line for line in lines)
    assert any("kraken/main" in line and "refresher key authenticates" in line for line in lines)
    assert any("gemini/main" in line and "trading key not called" in line for line in lines)
    assert any("gemini/timed" in line and "time-based nonce" in line for line in lines)
    assert out.strip().endswith("warnings)")
    # The point of not calling: Gemini's 30 s timer on the trading keys was not reset by doctor.
    assert {k: stack.sims["gemini"].last_auth_ms(k) for k in keys} == auth_before

    ToyTrader(stack).beat()  # alive, and every switch armed (the operator story ended with an arm)
    with patched_env(env):
        code, out, _ = run(
            capsys, "doctor", "--endpoint", api.url, "--venue", "gemini", "--allow-gemini-call"
        )
    assert code == 0 and "trading key authenticates" in out
    assert all(stack.sims["gemini"].last_auth_ms(k) != auth_before[k] for k in keys)

    # Hazard 15: allowed or not, a call on a trading key resets Gemini's 30 s rule. On a killed
    # switch, or for a dead trader, it would postpone the venue's cancel: no request may reach it.
    ep = ("--endpoint", api.url)
    assert run(capsys, "kill", *ep, "--venue", "gemini", "--reason", "doctor drill")[0] == 0
    ToyTrader(stack).beat()
    auth_before = {k: stack.sims["gemini"].last_auth_ms(k) for k in keys}
    code, out, _ = run(capsys, "doctor", *ep, "--venue", "gemini", "--allow-gemini-call")
    assert {k: stack.sims["gemini"].last_auth_ms(k) for k in keys} == auth_before, out
    assert "trading key not called although allowed: its switch is killed" in out
    assert run(capsys, "arm", *ep, "--venue", "gemini", "--reason", "drill over")[0] == 0
    LivenessWriter(LIVENESS_TABLE, SYSTEM, clock=lambda: system_clock() - 60_000).beat()  # long dead
    # (the arm itself ticked the switches, heartbeating the keys of the then live trader)
    auth_before = {k: stack.sims["gemini"].last_auth_ms(k) for k in keys}
    code, out, _ = run(capsys, "doctor", *ep, "--venue", "gemini", "--allow-gemini-call")
    assert {k: stack.sims["gemini"].last_auth_ms(k) for k in keys} == auth_before, out
    assert "the trading system is not judged alive (stale" in out
    ToyTrader(stack).beat()

    # --json is the findings as JSON, with the same exit code; --account narrows like --venue.
    code, out, _ = run(capsys, "doctor", *ep, "--venue", "gemini", "--account", "timed", "--json")
    body = json.loads(out)
    assert code == 0 and body["ok"] is True and body["failed"] == 0
    subjects = {f["subject"] for f in body["findings"]}
    assert "gemini/timed" in subjects and "gemini/main" not in subjects
    code, out, _ = run(capsys, "doctor", *ep, "--account", "nope")
    assert code == 1 and "[FAIL] nope" in out and "no checked venue secret lists this account" in out

    # Through the API the deployment checks with its own keys: this machine needs none of them.
    bare = {k: v for k, v in os.environ.items() if not k.startswith("SECRET_") and k != "CONTROL_TABLE"}
    with mock.patch.dict(os.environ, bare, clear=True):
        code, out, _ = run(capsys, "doctor", "--endpoint", api.url, "--venue", "kraken")
        assert code == 0 and "GET /doctor" in out and "refresher key authenticates" in out, out
        code, out, _ = run(capsys, "doctor", "--endpoint", api.url, "--venue", "kraken", "--local")
        assert code == 1 and "[FAIL] kraken" in out and "no secret configured" in out, out
    resp = requests.get(api.url + "/doctor?venues=kraken,bitstamp", timeout=30)
    assert resp.status_code == 400 and "comma-separated subset" in resp.json()["message"]
    resp = requests.get(api.url + "/doctor?allow_gemini_call=yes", timeout=30)
    assert resp.status_code == 400 and "true or false" in resp.json()["message"]

    good = json.dumps(stack.secret_values()["kraken"])
    stack.put_secret("kraken", '{"accounts": [{"account_id": "main"}]}')
    try:
        with patched_env(env):
            code, out, _ = run(capsys, "doctor", "--venue", "kraken")
    finally:
        stack.put_secret("kraken", good)
    assert code == 1
    assert "[FAIL] secret kraken" in out and "accounts[0].api_key" in out
    assert "[SKIP] api" in out

    # The first deploy's empty secrets: calm for the refreshers, but doctor must not pass them.
    saved = {v: json.dumps(raw) for v, raw in stack.secret_values().items()}
    for venue in saved:
        stack.put_secret(venue, '{"accounts": []}')
    try:
        with patched_env(env):
            code, out, _ = run(capsys, "doctor")
    finally:
        for venue, raw in saved.items():
            stack.put_secret(venue, raw)
    assert code == 1
    assert "not configured: the secret lists no accounts" in out
    assert "no venue secret lists an account: nothing is protected" in out


def test_the_two_person_rule_can_be_tried_from_the_cli(
    sandbox: tuple[Stack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m sandbox.local_api --two-person` and `deadman --sandbox-as NAME`: no env var and no
    hand-made header needed."""
    stack, _ = sandbox
    with LocalApi({**stack.env, "ARM_AFTER_KILL_NEEDS_SECOND_PERSON": "true"}) as api:
        ep = ("--endpoint", api.url)
        assert (
            run(capsys, "--sandbox-as", "alice", "kill", *ep, "--venue", "kraken", "--reason", "drill")[0]
            == 0
        )
        code, out, _ = run(capsys, "--sandbox-as", "alice", "arm", *ep, "--venue", "kraken", "--reason", "ok")
        assert code == cli_common.EXIT_PARTIAL and "two-person rule" in out
        code, out, _ = run(
            capsys, "arm", *ep, "--venue", "kraken", "--reason", "checked", "--sandbox-as", "bob"
        )
        assert code == 0 and "armed 1 switch(es)" in out
        assert "deadman-operator/bob" in out


def test_status_narrows_to_a_venue_and_an_account(
    sandbox: tuple[Stack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    _, api = sandbox
    _, out, _ = run(
        capsys, "status", "--endpoint", api.url, "--venue", "gemini", "--account", "timed", "--json"
    )
    body = json.loads(out)
    assert [(s["venue"], s["account"]) for v in body["venues"] for s in v["switches"]] == [
        ("gemini", "timed")
    ]
    _, out, _ = run(capsys, "status", "--endpoint", api.url, "--venue", "kraken", "--audit", "0")
    assert "kraken/main" in out and "gemini/" not in out


def test_beat_until_interrupted_then_stopped(sandbox: tuple[Stack, LocalApi]) -> None:
    reader = LivenessReader(LIVENESS_TABLE)
    for number, sig in enumerate((signal.SIGINT, signal.SIGTERM)):
        system = f"cli-beat-{number}"
        proc = subprocess.Popen(
            [str(DEADMAN), "beat", "--system", system, "--every", "0.2", "--table", LIVENESS_TABLE],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 10
            seqs: list[int] = []
            while time.monotonic() < deadline and len(set(seqs)) < 3:
                row = reader.read(system)
                if row is not None:
                    seqs.append(int(row["seq"]))
                time.sleep(0.1)
            assert len(set(seqs)) >= 3, "the row is not beating"
            assert reader.read(system)["state"] == "running"  # type: ignore[index]
            proc.send_signal(sig)
            # Longer than the writer's own bound on a beat in flight (`LivenessWriter.stop`, 10 s)
            # plus the 'stopped' write: a loaded machine's slow PutItem is not a hang.
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert "stopped" in out
        assert reader.read(system)["state"] == "stopped"  # type: ignore[index]


def test_console_script_status_json(sandbox: tuple[Stack, LocalApi]) -> None:
    _, api = sandbox
    done = subprocess.run(
        [str(DEADMAN), "status", "--json", "--endpoint", api.url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    body = json.loads(done.stdout)
    assert done.returncode == status_code(body), done.stderr
    assert {v["venue"] for v in body["venues"]} == set(SANDBOX_VENUES)  # every venue the sandbox runs


def test_a_kill_that_outwaits_an_in_flight_extension_says_why_it_took_longer(
    sandbox: tuple[Stack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    # A refresher wrote its intent just before the latch: the kill waits until that extension can no
    # longer land (up to ~12 s in a deployment) and the operator is told why.
    _, api = sandbox
    ep = ("--endpoint", api.url)
    assert run(capsys, "arm", *ep, "--reason", "before the race")[0] == 0
    store = SwitchStore(CONTROL_TABLE)
    intent = store.get("kraken", "main")
    store.put(dataclasses.replace(intent, inflight_until_ms=system_clock() + 2_000))

    code, out, _ = run(capsys, "kill", *ep, "--reason", "race", "--venue", "kraken")

    assert code == 0, out
    assert (
        "waited for a refresher extension that was in flight at the latch on kraken/main to time out "
        "(up to ~12 s)" in out
    )
    assert run(capsys, "arm", *ep, "--reason", "after the race")[0] == 0


def test_break_glass_kill_empties_the_books_with_the_api_down_then_records_it(
    sandbox: tuple[Stack, LocalApi],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API (or AWS) is unreachable mid-incident: `kill --direct` sweeps every book from this
    machine with the local kill credentials, keeps a record, and says the switches are not latched.
    Once the API answers, the printed command records it and latches."""
    stack, api = sandbox
    monkeypatch.setenv("DEADMAN_HOME", str(tmp_path))
    keys = tmp_path / "kill-keys.json"
    keys.write_text(json.dumps(stack.secret_values()))
    keys.chmod(0o644)
    down = ("--endpoint", "http://127.0.0.1:9", "--timeout", "2")
    code, _, err = run(capsys, "kill", "--direct", "--keys", str(keys), "--reason", "api down", *down)
    assert code == cli_common.EXIT_USAGE and "readable by others" in err and "chmod 600" in err

    keys.chmod(0o600)
    ToyTrader(stack).rest_orders(1)
    assert all(n > 0 for n in stack.books().values())
    # The fleet's shared nonce counter for the time-based Gemini key ran ahead of the clock (several
    # requests a second): break-glass, which cannot read that counter, must still be taken.
    # (Set at the venue itself: a request of the test's own would race the refreshers' heartbeats.)
    [timed] = [a for a in stack.secret_values()["gemini"]["accounts"] if a.get("nonce_mode") == "time"]
    venue = stack.sims["gemini"]
    with venue.lock:
        key = venue._keys[timed["api_key"]]  # type: ignore[attr-defined]
        key.last_nonce = max(key.last_nonce or 0, system_clock() // 1000 + 1)
    code, out, err = run(capsys, "kill", "--direct", "--keys", str(keys), "--reason", "api down", *down)
    assert all(n == 0 for n in stack.books().values()), stack.books()
    assert code == cli_common.EXIT_PARTIAL
    n = sum(len(v["accounts"]) for v in stack.secret_values().values())  # every account the keys name
    # one order on each account the sandbox's trader trades (the venues the sandbox runs)
    assert f"break-glass: swept {n}/{n} directly; cancelled {SWITCHES} order(s); nothing latched" in out
    [record] = list((tmp_path / "break-glass").glob("kill-*.json"))
    assert json.loads(record.read_text())["actor"].startswith("break-glass:")
    assert "NOT recorded, and the switches are NOT latched" in err
    follow_up = err.split("deadman kill --reason ", 1)[1].strip()
    assert "[break-glass at " in follow_up and f"swept {n}/{n} directly" in follow_up

    # The API answers again (here a few seconds later: break-glass signed the time-based Gemini key
    # up to BREAK_GLASS_NONCE_LEAD s ahead, and the fleet's own nonces must pass that first): the
    # follow-up records the break-glass sweep and latches every switch.
    time.sleep(toolkit.BREAK_GLASS_NONCE_LEAD + 1)
    code, out, _ = run(capsys, "kill", "--endpoint", api.url, "--reason", shlex.split(follow_up)[0])
    assert code == 0, out
    store = SwitchStore(CONTROL_TABLE)
    audit = store.recent_audit("kraken", "main", limit=5)
    assert any(e["action"] == "kill" and "[break-glass at " in e["reason"] for e in audit)
    assert store.get("kraken", "main").mode.value == "killed"
    assert run(capsys, "arm", "--endpoint", api.url, "--reason", "break-glass drill over")[0] == 0


def test_break_glass_refuses_a_missing_or_malformed_keys_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "kill", "--direct", "--reason", "x", "--endpoint", "http://127.0.0.1:9")
    assert code == cli_common.EXIT_USAGE and "--keys FILE" in err
    bad = tmp_path / "keys.json"
    bad.write_text(json.dumps({"kraken": {"accounts": [{"account_id": "main", "api_key": "k"}]}}))
    bad.chmod(0o600)
    code, _, err = run(capsys, "kill", "--direct", "--keys", str(bad), "--reason", "x")
    assert code == cli_common.EXIT_USAGE and "accounts[0].api_secret" in err
    bad.write_text(json.dumps({"bitstamp": {"accounts": []}}))
    code, _, err = run(capsys, "kill", "--direct", "--keys", str(bad), "--reason", "x")
    assert code == cli_common.EXIT_USAGE and "'bitstamp'" in err and "is not a venue" in err


def test_a_planned_disarm_waits_for_its_window_then_the_tick_switches_the_timer_off(
    sandbox: tuple[Stack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    """Kraken announces engine maintenance: the operator plans a disarm ahead, with the timer off (an
    armed timer cancels every order when the engine returns). Nothing changes until the window; the
    first tick in it disarms the switch and switches Kraken's timer off; arm cancels a plan not yet
    begun."""
    from deadman.edges.wiring import refresher_from_env

    stack, api = sandbox
    ep = ("--endpoint", api.url)
    ToyTrader(stack).beat()
    with patched_env(stack.env):
        refresher = refresher_from_env(
            "kraken", clock=system_clock, metrics=ListMetrics(), log=lambda *a, **k: None
        )
        refresher.tick()
    assert stack.sims["kraken"].timer_at("main") is not None

    code, out, _ = run(
        capsys,
        "disarm",
        *ep,
        "--venue",
        "kraken",
        "--for",
        "30m",
        "--from",
        "+2s",
        "--timer-off",
        "--reason",
        "kraken maint",
    )
    assert code == 0, out
    assert (
        out.startswith("PLANNED DISARM p-") and "planned a disarm (p-" in out and "of 1/1 switch(es)" in out
    )
    store = SwitchStore(CONTROL_TABLE)
    planned = store.get("kraken", "main")
    [window] = planned.plans
    assert planned.mode.value == "armed"
    code, out, _ = run(capsys, "status", *ep)
    assert f"kraken/main: planned {window.id}: disarm " in out
    assert f"(`deadman arm --cancel-plan {window.id}` cancels it)" in out

    time.sleep(2.2)
    with patched_env(stack.env):
        refresher.tick()
    switch = store.get("kraken", "main")
    assert switch.mode.value == "disarmed" and switch.plans == ()
    assert switch.disarmed_until_ms == window.until_ms and switch.reason == "kraken maint"
    assert stack.sims["kraken"].timer_at("main") is None  # switched off ahead of the maintenance
    actions = [e["action"] for e in store.recent_audit("kraken", "main", limit=5)]
    assert "scheduled-disarm" in actions

    # A plan not yet begun is kept by arm (which ends the running disarm), and said so; cancelling it
    # is asked for by its id.
    assert (
        run(capsys, "disarm", *ep, "--venue", "kraken", "--for", "1h", "--from", "+1h", "--reason", "next")[0]
        == 0
    )
    [ahead] = store.get("kraken", "main").plans
    code, out, _ = run(capsys, "arm", *ep, "--venue", "kraken", "--reason", "maintenance over")
    assert code == 0, out
    assert f"planned window KEPT {ahead.id}" in out
    switch = store.get("kraken", "main")
    assert switch.mode.value == "armed" and switch.plans == (ahead,)
    code, out, _ = run(
        capsys, "arm", *ep, "--venue", "kraken", "--reason", "called off", "--cancel-plan", ahead.id
    )
    assert code == 0 and f"planned window CANCELLED {ahead.id}" in out, out
    assert store.get("kraken", "main").plans == ()
    cancels = [e for e in store.recent_audit("kraken", "main", limit=5) if e["action"] == "plan-cancel"]
    assert cancels[0]["result"] == "cancelled" and cancels[0]["details"]["id"] == ahead.id

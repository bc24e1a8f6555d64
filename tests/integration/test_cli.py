"""The `deadman` command line against the sandbox's local API (the same requests as a deployment),
its exit codes, SigV4 signing, `doctor` and `beat`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from deadman import cli
from deadman.liveness import LivenessReader
from sandbox.aws import patched_env
from sandbox.local_api import LocalApi
from sandbox.stack import GEMINI_KEYS, LIVENESS_TABLE, SandboxTiming, Stack
from sandbox.trader import ToyTrader

pytestmark = pytest.mark.integration
DEADMAN = Path(sys.executable).parent / "deadman"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Stack, LocalApi]]:
    with Stack(SandboxTiming()) as stack, LocalApi(stack.env) as api:
        ToyTrader(stack).beat()
        yield stack, api


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- pure helpers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), ("45", 45), (" 5 m ", 300)],
)
def test_durations(text: str, seconds: int) -> None:
    assert cli.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0m", "10x", "m30", "-5m", "1.5h", "30 minutes", "h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(cli.CliError) as info:
        cli.parse_duration(text)
    assert info.value.code == cli.EXIT_USAGE


def test_region_and_exit_code_mapping() -> None:
    assert cli.region_of("https://abc123.execute-api.eu-west-2.amazonaws.com/v1") == "eu-west-2"
    assert cli.region_of("http://127.0.0.1:8080") is None
    assert [cli.exit_code(s) for s in (200, 207, 400, 409, 401, 403, 404, 500, 502, 504)] == [
        0,
        1,
        2,
        2,
        3,
        3,
        2,
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
    assert "OK: killed 5/5 switch(es); swept 5/5; cancelled 5 order(s)" in out
    assert "kraken/main" in out and "LATCHED" in out
    assert all(n == 0 for n in stack.books().values())

    code, out, _ = run(capsys, "status", *ep)
    assert code == 0
    assert "trader toy-trader: ALIVE" in out
    assert "killed until an operator arms it" in out
    assert "hyperliquid  absolute_ms" in out and "11.0 s" in out  # the native reaction bound

    code, _, err = run(capsys, "disarm", *ep, "--for", "30m", "--reason", "deploy")
    assert code == cli.EXIT_USAGE and "HTTP 409 conflict" in err and "Arm it first" in err

    code, out, _ = run(capsys, "arm", *ep, "--reason", "drill over")
    assert code == 0 and "armed 5 switch(es)" in out

    code, out, _ = run(
        capsys, "--json", "disarm", *ep, "--for", "30m", "--reason", "deploy", "--venue", "kraken"
    )
    assert code == 0
    body = json.loads(out)
    assert body["for_seconds"] == 1800 and [s["venue_timer"] for s in body["switches"]] == ["off"]

    code, _, err = run(capsys, "disarm", *ep, "--for", "3h", "--reason", "too long")
    assert code == cli.EXIT_USAGE and "between 1 and 3600" in err

    code, _, err = run(capsys, "kill", *ep, "--reason", "x", "--account", "nope")
    assert code == cli.EXIT_USAGE and "unknown account(s) 'nope'" in err

    code, _, err = run(capsys, "disarm", *ep, "--for", "soon", "--reason", "x")
    assert code == cli.EXIT_USAGE and "cannot read duration" in err

    assert run(capsys, "kill", *ep)[0] == cli.EXIT_USAGE  # --reason is required (argparse)

    stack.kraken.faults.http_5xx = 502
    try:
        code, out, _ = run(capsys, "kill", *ep, "--reason", "kraken down")
    finally:
        stack.kraken.faults.http_5xx = None
    assert code == cli.EXIT_PARTIAL
    assert "INCOMPLETE" in out and "NOT done: kraken/main" in out

    # The sandbox answers an unknown route like API Gateway does (403): an auth failure to the CLI.
    code, _, err = run(capsys, "status", "--endpoint", api.url + "/nope")
    assert code == cli.EXIT_AUTH and "HTTP 403" in err

    code, _, err = run(capsys, "status", "--endpoint", "http://127.0.0.1:9", "--timeout", "2")
    assert code == cli.EXIT_UNREACHABLE and "cannot reach" in err

    with patched_env({"DEADMAN_ENDPOINT": api.url}):
        code, out, _ = run(capsys, "status", "--json")
    assert code == 0 and json.loads(out)["action"] == "status"
    assert run(capsys, "arm", *ep, "--reason", "end of story")[0] == 0


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
    ]
    with patched_env(creds):
        code, _, err = run(capsys, "status", "--endpoint", recorder + "/v1", "--region", "eu-west-1")
        assert code == cli.EXIT_AUTH and "not authorized" in err and "Operator" in err
        code, _, err = run(capsys, "status", "--endpoint", recorder + "/v1", "--region", "eu-west-1")
        assert code == cli.EXIT_SERVER and "outcome is unknown" in err
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
    assert code == cli.EXIT_AUTH and "no AWS credentials" in err


def test_doctor_checks_the_sandbox_without_touching_the_gemini_trading_keys(
    sandbox: tuple[Stack, LocalApi], capsys: pytest.CaptureFixture[str]
) -> None:
    stack, api = sandbox
    env = {k: v for k, v in stack.env.items() if k.startswith("SECRET_") or k == "CONTROL_TABLE"}
    keys = [key for key, _, _ in GEMINI_KEYS.values()]
    auth_before = {k: stack.gemini.last_auth_ms(k) for k in keys}

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
    assert {k: stack.gemini.last_auth_ms(k) for k in keys} == auth_before

    with patched_env(env):
        code, out, _ = run(
            capsys, "doctor", "--endpoint", api.url, "--venue", "gemini", "--allow-gemini-call"
        )
    assert code == 0 and "trading key authenticates" in out
    assert all(stack.gemini.last_auth_ms(k) != auth_before[k] for k in keys)

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
            out, err = proc.communicate(timeout=10)
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
    assert done.returncode == 0, done.stderr
    assert {v["venue"] for v in json.loads(done.stdout)["venues"]} == {"gemini", "kraken", "hyperliquid"}

"""`deadman`: the operator's and the trading system's command line.

    deadman status                               what every switch is doing, and the trader's liveness
    deadman kill --reason "runaway"              latch killed + cancel every resting order, now
    deadman disarm --for 30m --reason "deploy"   switches off for a while; they re-arm by themselves
    deadman arm --reason "back to normal"        armed again (the next tick extends only if alive)
    deadman doctor                               checks secrets, venues, clocks (see `deadman doctor -h`)
    deadman beat --system trader-1 --every 2     beat the liveness row until Ctrl-C (then "stopped")

The API calls go to `--endpoint URL` (or $DEADMAN_ENDPOINT), or to the `ApiUrl` output of
CloudFormation stack `--stack NAME` (or $DEADMAN_STACK), signed with SigV4 (service execute-api)
using your normal AWS credentials (profile, environment, SSO...). The sandbox's local API
(`python -m sandbox.local_api`) takes the same requests; there, signing is optional.

Durations take a unit: 90s, 30m, 2h, 1d or 1h30m. Output: a readable table (text stored by the
API is shown with control characters escaped, e.g. ESC as \\x1b), or the API's JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from deadman import __version__
from deadman.text import printable

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_UNREACHABLE = 4
EXIT_SERVER = 5
EXIT_THROTTLED = 6
EXIT_ATTENTION = 7
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit codes:
  0    done
  1    partly done: some venue not swept, or a timer not switched off (the output says which)
  2    refused, nothing changed: bad usage, invalid request (400), no such route (404),
       conflict with the switches' state (409)
  3    not allowed (401/403): your AWS credentials or IAM policy; a 403 "Missing Authentication
       Token" means no route matches the URL: check --endpoint (it ends with the stage, /v1)
  4    API unreachable, or no answer in time (a kill may still have run: `deadman status`)
  5    server error (5xx): the outcome is unknown, run `deadman status` before trying again
  6    throttled (429): the API did not take the request; retry it (a kill: retry at once)
  7    status only: something needs attention (listed under ATTENTION): the trader is not alive,
       a switch is killed, failing or not ticking, or a disarm ends within 5 minutes
  130  interrupted (Ctrl-C)
doctor exits 1 when a check fails or nothing could be checked; beat exits 0 when stopped."""

DEFAULT_TIMEOUT_S = 60.0  # kill may take up to API Gateway's 29 s
CONNECT_TIMEOUT_S = 5.0
# GET /status returns this many audit entries per switch (deadman.control.STATUS_AUDIT_ENTRIES; a
# test keeps the two in step). The CLI cannot show more.
STATUS_AUDIT_MAX = 5
# The stack's MaxStalenessSeconds default: what `beat` checks --every against without --max-staleness.
DEFAULT_MAX_STALENESS_S = 20.0
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)\s*([smhd])")


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def parse_duration(text: str) -> int:
    """'30m', '2h', '90s', '1d' or '1h30m' -> seconds (> 0). A bare number is refused: '--for 10'
    read as 10 seconds by one operator and 10 minutes by another is how a disarm ends too early."""
    raw = text.strip().lower()
    if raw.isdigit():
        raise CliError(
            f"duration {text.strip()!r} has no unit: write {raw}s, {raw}m or {raw}h (seconds, minutes, hours)"
        )
    compact = raw.replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise CliError(f"cannot read duration {text!r}: use e.g. 90s, 30m, 2h or 1h30m")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise CliError(f"duration {text!r} must be more than 0 seconds")
    return seconds


def parse_start(text: str, now_ms: int) -> int:
    """When a planned disarm starts: '+30m' (from now) or a time with its zone, '2026-11-29T02:00Z'
    or '2026-11-29T03:00+01:00'. A time without a zone is refused: whose 02:00 would it be?"""
    import datetime as dt

    raw = text.strip()
    if raw.startswith("+"):
        return now_ms + parse_duration(raw[1:]) * 1000
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CliError(
            f"cannot read start {text!r}: use +30m (from now) or a time with its zone, e.g. 2026-11-29T02:00Z"
        ) from None
    if when.tzinfo is None:
        raise CliError(f"start {text!r} has no time zone: write it in UTC with a Z, e.g. {raw}Z")
    return int(when.timestamp() * 1000)


def seconds_text(value: float) -> str:
    """0.05 -> '0.05 s', 60.0 -> '60 s': never rounds a short timeout to '0 s'."""
    return f"{value:g} s"


def check_beat_interval(every_s: float, max_staleness_s: float) -> None:
    """Refuse a beat interval that lets the row go stale between beats.

    The fleet reads the row at moments unrelated to the beats, so just before a beat the row is one
    interval old; a failed beat is retried at the next interval, so after one failure it is two.
    Only 2 x every < S keeps a single lost beat from sweeping a live trader's books; with
    every >= S the switches flap between alive and dead on every beat."""
    if every_s <= 0:
        raise CliError("--every must be more than 0 seconds")
    if max_staleness_s <= 0:
        raise CliError("--max-staleness must be more than 0 seconds")
    if 2 * every_s >= max_staleness_s:
        raise CliError(
            f"--every {seconds_text(every_s)} is too slow for S = {seconds_text(max_staleness_s)} (the "
            "stack's MaxStalenessSeconds): the row is up to one interval old when the fleet reads it, two "
            "after one failed beat, and older than S is death, so the fleet would sweep a live trader. "
            f"Beat more often than every {seconds_text(max_staleness_s / 2)} (every 1-2 s is usual), or "
            "pass --max-staleness if your stack's S is larger."
        )


# -- the API client --------------------------------------------------------------------------------


class ApiClient:
    def __init__(
        self,
        endpoint: str,
        *,
        region: str | None = None,
        profile: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        sign: bool = True,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.region = region or region_of(self.endpoint) or _env_region() or "us-east-1"
        self.profile = profile
        self.timeout_s = timeout_s
        self.sign = sign

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        import requests

        url = self.endpoint + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": f"deadman-cli/{__version__}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.sign:
            headers = self._signed(method, url, data, headers)
        timeout = (min(CONNECT_TIMEOUT_S, self.timeout_s), self.timeout_s)
        try:
            resp = requests.request(method, url, data=data, headers=headers, timeout=timeout)
        except requests.ConnectTimeout:
            raise CliError(
                f"cannot reach {url}: no connection within {seconds_text(timeout[0])}", EXIT_UNREACHABLE
            ) from None
        except requests.Timeout:
            raise CliError(
                f"no answer from {url} within {seconds_text(self.timeout_s)} (for a kill: it may still "
                "have run; run `deadman status`)",
                EXIT_UNREACHABLE,
            ) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise CliError(f"{url!r} is not a usable URL ({network_error(exc)})") from None
        except requests.RequestException as exc:
            raise CliError(f"cannot reach {url}: {network_error(exc)}", EXIT_UNREACHABLE) from None
        try:
            payload = resp.json()
        except ValueError:
            payload = {"message": resp.text[:500]}
        return resp.status_code, payload

    def _signed(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        try:
            credentials = boto3.Session(profile_name=self.profile).get_credentials()
        except Exception as exc:  # unknown profile, broken config or SSO cache
            raise CliError(f"cannot load AWS credentials: {exc}", EXIT_AUTH) from None
        if credentials is None:
            if is_local(url):
                return headers  # the sandbox's local API does not check signatures
            raise CliError(
                "no AWS credentials found (set a profile, AWS_* variables, or run `aws sso login`)", EXIT_AUTH
            )
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(request)
        return {k: str(v) for k, v in request.headers.items()}


def region_of(url: str) -> str | None:
    match = re.search(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com", url)
    return match.group(1) if match else None


def is_local(url: str) -> bool:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "") in {h.strip("[]") for h in _LOCAL_HOSTS}


def _env_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def stack_outputs(stack: str, *, region: str | None, profile: str | None) -> dict[str, str]:
    import boto3

    where: str | None = region
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        where = session.region_name
        described = session.client("cloudformation").describe_stacks(StackName=stack)
    except Exception as exc:
        raise stack_error(stack, where, profile, exc) from None
    outputs = described["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


_CREDENTIAL_ERRORS = (
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "TokenRetrievalError",
    "SSOTokenLoadError",
    "UnauthorizedSSOTokenError",
    "SSOError",
)
_AUTH_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
}
_THROTTLE_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}


def stack_error(stack: str, region: str | None, profile: str | None, exc: BaseException) -> CliError:
    """A sentence an operator can act on, with the exit code of its kind (never a bare class name)."""
    kind = type(exc).__name__
    prefix = f"cannot read stack {stack!r}"
    error = _client_error(exc)
    if error is not None:
        code, message = error
        if code == "ValidationError" and "does not exist" in message:
            return CliError(
                f"{prefix}: no such stack in region {region or '?'} (check --stack, --region and which "
                "AWS account your credentials are for)",
                EXIT_USAGE,
            )
        if code in _AUTH_CODES:
            return CliError(f"{prefix}: AWS refused your credentials: {message or code}", EXIT_AUTH)
        if code in _THROTTLE_CODES:
            return CliError(f"{prefix}: AWS is throttling CloudFormation calls; retry", EXIT_THROTTLED)
        return CliError(f"{prefix}: AWS answered: {message or code}", EXIT_UNREACHABLE)
    if kind == "NoRegionError":
        return CliError(f"{prefix}: no AWS region known (pass --region or set AWS_REGION)", EXIT_USAGE)
    if kind == "ProfileNotFound":
        return CliError(f"{prefix}: AWS profile {profile!r} is not in your AWS config", EXIT_AUTH)
    if kind in _CREDENTIAL_ERRORS:
        return CliError(
            f"{prefix}: no usable AWS credentials (set a profile, AWS_* variables, or run `aws sso login`)",
            EXIT_AUTH,
        )
    return CliError(f"{prefix}: {_aws_error(exc)}", EXIT_UNREACHABLE)


def _client_error(exc: BaseException) -> tuple[str, str] | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or not isinstance(response.get("Error"), dict):
        return None
    error = response["Error"]
    return str(error.get("Code") or ""), str(error.get("Message") or "")


def _aws_error(exc: BaseException) -> str:
    error = _client_error(exc)
    if error is not None:
        code, message = error
        # The message is the sentence; the code stays for searching the AWS docs.
        return f"{message} ({code})" if message and code else (message or code or "AWS error")
    try:
        from requests import RequestException

        if isinstance(exc, RequestException):
            return network_error(exc)
    except ImportError:  # pragma: no cover - requests is a dependency
        pass
    # botocore's own exceptions (no region, endpoint unreachable, ...) have readable messages.
    return str(exc) or f"unexpected error ({type(exc).__name__})"


def network_error(exc: BaseException) -> str:
    """Why an HTTP connection failed, in words (requests' class names say little to an operator)."""
    text = str(exc)
    kind = type(exc).__name__
    if kind in ("ConnectTimeout", "ReadTimeout", "Timeout"):
        return "no answer in time"
    if kind == "SSLError":
        return "TLS handshake failed (a proxy, or a certificate problem)"
    if kind == "ProxyError":
        return "the HTTP proxy failed or refused the connection"
    if kind in ("InvalidURL", "MissingSchema", "InvalidSchema"):
        return "write it as https://<api id>.execute-api.<region>.amazonaws.com/<stage>"
    if any(
        marker in text
        for marker in (
            "Name or service not known",
            "nodename nor servname",
            "getaddrinfo failed",
            "Temporary failure in name resolution",
            "NameResolutionError",
            "No address associated",
        )
    ):
        return "host name not found (check the URL, or your DNS)"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused (nothing listens at that address and port)"
    if "Connection reset" in text or "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the connection was closed before an answer"
    return "the connection failed"


def stack_name(args: argparse.Namespace) -> str | None:
    name = getattr(args, "stack", None) or os.environ.get("DEADMAN_STACK")
    return str(name) if name else None


def resolve_endpoint(args: argparse.Namespace) -> str:
    if getattr(args, "endpoint", None):
        return str(args.endpoint)
    stack = stack_name(args)
    if getattr(args, "stack", None) or (stack and not os.environ.get("DEADMAN_ENDPOINT")):
        assert stack is not None
        url = stack_outputs(stack, region=args.region, profile=args.profile).get("ApiUrl")
        if not url:
            raise CliError(f"stack {stack!r} has no ApiUrl output")
        return url
    if os.environ.get("DEADMAN_ENDPOINT"):
        return os.environ["DEADMAN_ENDPOINT"]
    raise CliError("no API endpoint: pass --endpoint URL or --stack NAME (or set DEADMAN_ENDPOINT)")


def exit_code(status: int) -> int:
    if status == 200:
        return EXIT_OK
    if status == 207:
        return EXIT_PARTIAL
    if status in (401, 403):
        return EXIT_AUTH
    if status == 429:
        return EXIT_THROTTLED
    if status >= 500:
        return EXIT_SERVER
    return EXIT_USAGE


# -- rendering -------------------------------------------------------------------------------------


def sanitised(value: Any) -> Any:
    """`value` (the API's JSON) with every string, keys included, passed through `printable`."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {sanitised(k): sanitised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitised(v) for v in value]
    return value


def json_text(payload: Any) -> str:
    # ensure_ascii escapes every control character but DEL, the one ASCII one; DEL only ever occurs
    # inside a JSON string, where \u007f means the same.
    return json.dumps(payload, indent=2, sort_keys=False).replace("\x7f", "\\u007f")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ms / 1000))


def _secs(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    if abs(value) >= 3600:
        text = f"{value / 3600:.1f} h"
    elif abs(value) >= 120:
        text = f"{value / 60:.1f} min"
    else:
        text = f"{value:.1f} s"
    return ("+" + text) if signed and value >= 0 else text


def _short(text: Any, width: int = 60) -> str:
    if text is None:
        return "-"
    value = str(text).replace("\n", " ")
    return value if len(value) <= width else value[: width - 1] + "…"


GATEWAY_NO_ROUTE_MESSAGE = "Missing Authentication Token"


def render_error(status: int, payload: Any) -> str:
    message = payload.get("message") if isinstance(payload, dict) else None
    kind = payload.get("error") if isinstance(payload, dict) else None
    text = f"HTTP {status}" + (f" {kind}" if kind else "") + f": {message or payload}"
    if status == 403 and message == GATEWAY_NO_ROUTE_MESSAGE:
        # API Gateway's answer to a URL no route matches (wrong path or stage) on an IAM API, or to
        # an unsigned request: a URL problem far more often than a credentials one.
        text += (
            "\n(no route matches this URL: check the endpoint - it is the stack's ApiUrl output and ends "
            "with the stage, e.g. https://abc123.execute-api.us-east-1.amazonaws.com/v1 - or the request "
            "was sent unsigned (--no-sign))"
        )
    elif status in (401, 403):
        text += (
            "\n(check your AWS credentials and that your role has the stack's Operator*/ReadStatus policy)"
        )
    elif status == 429:
        text += (
            "\n(throttled: the API did not take this request, nothing was changed by it; retry in a few "
            "seconds - a kill at once)"
        )
    elif status >= 500:
        text += "\n(the outcome is unknown: run `deadman status` before trying again)"
    return text


def _in_flight_note(note: str) -> bool:
    # deadman.control notes "a refresher extension was in flight at the latch: waited for it to time
    # out, swept again"; matched loosely so a rewording there does not silently hide the explanation.
    return "in flight" in note.lower()


def render_kill(body: dict[str, Any]) -> str:
    rows = []
    waited = []
    for s in body.get("switches", []):
        attempts = s.get("attempts") or []
        timer = next((a.get("venue_timer") for a in reversed(attempts) if a.get("venue_timer")), None)
        notes = s.get("notes") or []
        if any(_in_flight_note(n) for n in notes):
            waited.append(f"{s['venue']}/{s['account']}")
        parts = [s.get("error"), f"venue timer {timer}" if timer else None]
        parts.extend(n for n in notes if not _in_flight_note(n))
        detail = "; ".join(p for p in parts if p)
        rows.append(
            [
                f"{s['venue']}/{s['account']}",
                "yes" if s.get("latched") else "NO",
                "yes" if s.get("swept") else "NO",
                s.get("cancelled_count", 0),
                len(attempts),
                _short(detail or "-", 70),
            ]
        )
    out = [
        f"KILL by {body.get('actor')} - reason: {body.get('reason')} - "
        f"{body.get('elapsed_ms', 0) / 1000:.2f} s",
        table(["SWITCH", "LATCHED", "SWEPT", "CANCELLED", "SWEEPS", "DETAIL"], rows),
    ]
    if waited:
        out.append(
            f"waited for a refresher extension that was in flight at the latch on {', '.join(waited)} to "
            "time out (up to ~8 s), so that none can push a venue timer after this answer; then swept "
            "again"
        )
    out.extend(_venue_problems(body))
    out.append(("OK: " if body.get("ok") else "INCOMPLETE: ") + str(body.get("message")))
    return "\n".join(out)


def _venue_problems(body: dict[str, Any]) -> list[str]:
    return [f"venue {p['venue']}: {p['error']}" for p in body.get("venue_problems") or []]


def render_disarm(body: dict[str, Any]) -> str:
    rows = [
        [
            f"{s['venue']}/{s['account']}",
            s.get("mode"),
            _iso(s.get("disarmed_until_ms")),
            s.get("venue_timer"),
            _short(s.get("error") or "; ".join(s.get("notes") or []) or "-", 70),
        ]
        for s in body.get("switches", [])
    ]
    planned = body.get("starts_at_ms")
    head = f"DISARM by {body.get('actor')} for {body.get('for_seconds')} s"
    if planned:
        head += f", PLANNED from {_iso(planned)}"
    out = [
        f"{head} - reason: {body.get('reason')}",
        table(["SWITCH", "MODE", "UNTIL", "VENUE TIMER", "DETAIL"], rows),
    ]
    out.extend(f"note: {n}" for n in body.get("notes") or [])
    out.extend(_venue_problems(body))
    out.append(("OK: " if body.get("ok") else "INCOMPLETE: ") + str(body.get("message")))
    return "\n".join(out)


def render_arm(body: dict[str, Any]) -> str:
    rows = [
        [f"{s['venue']}/{s['account']}", s.get("previous_mode"), s.get("mode"), s.get("error") or "-"]
        for s in body.get("switches", [])
    ]
    out = [
        f"ARM by {body.get('actor')} - reason: {body.get('reason')}",
        table(["SWITCH", "WAS", "NOW", "ERROR"], rows),
        *_venue_problems(body),
        ("OK: " if body.get("ok") else "INCOMPLETE: ") + str(body.get("message")),
    ]
    return "\n".join(out)


CLEAR_SCREEN = "\x1b[2J\x1b[H"
# A disarm this close to its end is worth a look: the switch re-arms by itself, and the trader must
# be beating by then or its orders are swept.
ATTENTION_DISARM_S = 300


def attention(body: dict[str, Any]) -> list[str]:
    """What an on-call engineer should look at now, one line each; empty when all is well."""
    out: list[str] = []
    for live in _systems_of(body):
        if not live.get("alive"):
            out.append(f"trader {live.get('system')} is {live.get('verdict')}: {live.get('detail')}")
    tick_s = float((body.get("timing") or {}).get("tick_s") or 10)
    for venue in body.get("venues", []):
        for s in venue.get("switches", []):
            name = f"{s['venue']}/{s['account']}"
            if s["mode"] == "killed":
                out.append(f"{name} is killed: {s.get('reason')} (by {s.get('changed_by')})")
            left = s.get("disarm_seconds_left")
            if s["mode"] == "disarmed" and left is not None and left <= ATTENTION_DISARM_S:
                out.append(f"{name}: the disarm ends in {_secs(left)}; the switch re-arms by itself")
            if s.get("consecutive_errors"):
                out.append(f"{name} is failing ({s['consecutive_errors']} in a row): {s.get('last_error')}")
            age = s.get("last_tick_age_s")
            if age is None or age > 3 * tick_s:
                out.append(
                    f"{name} is not ticking: last tick {_secs(age) if age is not None else 'never'} ago"
                )
    return out


def _systems_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every trading system status reports (an older API: the one `liveness`)."""
    return list(body.get("systems") or [body.get("liveness") or {}])


def render_status(body: dict[str, Any], audit: int = 3) -> str:
    timing = body.get("timing") or {}
    window = timing.get("sweep_window_s") or 0
    out = [
        f"deadman status at {_iso(body.get('at_ms'))}",
        *(
            f"trader {live.get('system')}: {str(live.get('verdict', '?')).upper()} ({live.get('detail')})"
            for live in _systems_of(body)
        ),
        f"timing: S={timing.get('max_staleness_s')}s T={timing.get('tick_s')}s G={timing.get('grace_s')}s "
        f"K={timing.get('skew_s')}s; watchdog sweeps "
        f"{'for ' + str(window) + ' s' if window else 'while death lasts'}"
        f"; longest disarm {timing.get('max_disarm_s')} s",
        "",
        table(
            ["VENUE", "TIMER", "BOUND: WATCHDOG", "BOUND: VENUE TIMER", "NOTE"],
            [
                [
                    v["venue"],
                    v["timer_kind"],
                    _secs(v["reaction_bounds"]["watchdog_s"]),
                    _secs(v["reaction_bounds"]["native_s"]),
                    v.get("note") or "-",
                ]
                for v in body.get("venues", [])
            ],
        ),
        "",
    ]
    rows = []
    switches = [s for v in body.get("venues", []) for s in v.get("switches", [])]
    for s in switches:
        if s["mode"] == "disarmed":
            mode = f"disarmed ({_secs(s.get('disarm_seconds_left'))} left)"
        else:
            mode = s["mode"]
        if s.get("systems"):
            mode += f" [{', '.join(s['systems'])}]"  # the trading systems that gate this switch
        native = "yes" if s.get("native_available") else f"NO: {_short(s.get('native_reason'), 30)}"
        triggers = (
            "-" if s.get("trigger_budget") is None else f"{s.get('triggers_today')}/{s['trigger_budget']}"
        )
        rows.append(
            [
                f"{s['venue']}/{s['account']}",
                mode,
                _secs(s.get("deadline_seconds_left")) if s.get("deadline_ms") else "off",
                _secs(s.get("last_tick_age_s")),
                native,
                triggers,
                _short(s.get("last_sweep"), 30),
                _short(s.get("last_error"), 40),
            ]
        )
    out.append(
        table(
            ["SWITCH", "MODE", "DEADLINE IN", "TICK AGO", "NATIVE", "TRIGGERS", "LAST SWEEP", "LAST ERROR"],
            rows,
        )
    )
    problems = attention(body)
    out += ["", "ATTENTION:", *(f"  {p}" for p in problems)] if problems else ["", "all well"]
    for s in switches:
        if s["mode"] != "armed" and s.get("changed_by"):
            out.append(
                f"{s['venue']}/{s['account']}: {s['mode_detail']} - by {s['changed_by']}: {s.get('reason')}"
            )
        if s.get("scheduled_disarm_from_ms"):
            out.append(
                f"{s['venue']}/{s['account']}: planned disarm {_iso(s['scheduled_disarm_from_ms'])} to "
                f"{_iso(s.get('scheduled_disarm_until_ms'))} (`deadman arm` cancels it)"
            )
    if audit > 0:
        out.append("")
        # Newest first, as the API returns them: said, because entries of one tick share a second.
        if audit > STATUS_AUDIT_MAX:
            out.append(
                f"recent audit, newest first (asked for {audit} per switch; the status API returns at "
                f"most {STATUS_AUDIT_MAX}):"
            )
        else:
            out.append("recent audit, newest first:")
        for s in switches:
            for entry in (s.get("recent_audit") or [])[:audit]:
                out.append(
                    f"  {_iso(entry['at_ms'])} {s['venue']}/{s['account']} {entry['action']} "
                    f"by {entry['actor']}: {_short(entry['result'], 60)} ({_short(entry['reason'], 50)})"
                )
    return "\n".join(out)


# -- commands ----------------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> ApiClient:
    return ApiClient(
        resolve_endpoint(args),
        region=args.region,
        profile=args.profile,
        timeout_s=args.timeout,
        sign=not args.no_sign,
    )


def _targets(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if args.venue:
        body["venues"] = list(dict.fromkeys(args.venue))
    if args.account:
        body["accounts"] = list(dict.fromkeys(args.account))
    return body


def _emit(
    args: argparse.Namespace, status: int, payload: Any, render: Callable[[dict[str, Any]], str]
) -> int:
    if args.json:
        print(json_text(payload))
    elif status in (200, 207) and isinstance(payload, dict):
        print(render(sanitised(payload)))
    else:
        print(render_error(status, sanitised(payload)), file=sys.stderr)
    return exit_code(status)


def cmd_status(args: argparse.Namespace) -> int:
    client = _client(args)
    while True:
        status, payload = client.call("GET", "/status")
        if args.watch and not args.json:
            print(CLEAR_SCREEN, end="")
        code = _emit(args, status, payload, lambda body: render_status(body, args.audit))
        if code == EXIT_OK and isinstance(payload, dict) and attention(payload):
            code = EXIT_ATTENTION
        if not args.watch:
            return code
        sys.stdout.flush()
        time.sleep(args.watch)


def cmd_kill(args: argparse.Namespace) -> int:
    if args.direct:
        return cmd_kill_direct(args)
    status, payload = _client(args).call("POST", "/kill", {"reason": args.reason, **_targets(args)})
    return _emit(args, status, payload, render_kill)


# How long break-glass waits for the API to record what it did: it ran because the API was in doubt.
BREAK_GLASS_RECORD_TIMEOUT_S = 15.0


def cmd_kill_direct(args: argparse.Namespace) -> int:
    """Break-glass: sweep every book from this machine with the kill credentials in a local file,
    then record it (and latch the switches) through the API if it answers; say how otherwise."""
    import getpass
    import socket

    from deadman.control import Caller, Control, RequestError
    from deadman.credentials import LocalCredentials
    from deadman.errors import ConfigError

    path = args.keys or os.environ.get("DEADMAN_KILL_KEYS")
    if not path:
        raise CliError("--direct needs the kill credentials file: --keys FILE (or set DEADMAN_KILL_KEYS)")
    try:
        credentials = LocalCredentials(path)
    except ConfigError as exc:  # CredentialsError included: names the field, never the value
        raise CliError(str(exc)) from None
    who = f"break-glass:{getpass.getuser()}@{socket.gethostname()}"
    control = Control.break_glass(credentials, credentials.venues)
    try:
        result = control.kill(
            reason=args.reason,
            venues=args.venue,
            accounts=args.account,
            caller=Caller(identity=who),
            direct=True,
        )
    except RequestError as exc:
        raise CliError(f"{exc} (venues in {path}: {', '.join(credentials.venues) or 'none'})") from None
    body = sanitised(result.model_dump(mode="json"))
    record = _save_break_glass(body)
    print(json_text(body) if args.json else render_kill(body))
    print(f"record kept in {record}")
    follow_up = _break_glass_reason(args.reason, result.at_ms, result.message.removeprefix("break-glass: "))
    try:
        args.timeout = min(args.timeout, BREAK_GLASS_RECORD_TIMEOUT_S)
        status, payload = _client(args).call("POST", "/kill", {"reason": follow_up, **_targets(args)})
    except CliError as exc:
        status, payload = 0, {"message": str(exc)}
    if status in (200, 207):
        print("recorded through the API, and the switches latched killed: " + str(payload.get("message")))
        return EXIT_OK if result.ok and status == 200 else EXIT_PARTIAL
    print(
        "NOT recorded, and the switches are NOT latched: the fleet will extend again once AWS answers "
        f"if the trader beats ({printable(str(payload.get('message') or payload))}). As soon as the API "
        f"answers, run:\n  deadman kill --reason {shlex.quote(follow_up)}",
        file=sys.stderr,
    )
    return EXIT_PARTIAL


def _break_glass_reason(reason: str, at_ms: int, summary: str) -> str:
    """The API kill that records a break-glass sweep: its reason carries what the sweep did."""
    import datetime as dt

    when = dt.datetime.fromtimestamp(at_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tail = f" [break-glass at {when}: {summary.partition('; nothing latched')[0]}]"
    return reason[: 500 - len(tail)] + tail


def _save_break_glass(body: dict[str, Any]) -> str:
    import datetime as dt
    from pathlib import Path

    folder = Path(os.environ.get("DEADMAN_HOME") or Path.home() / ".deadman") / "break-glass"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.fromtimestamp(body["at_ms"] / 1000, tz=dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"kill-{stamp}.json"
    path.write_text(json_text(body) + "\n", encoding="utf-8")
    return str(path)


def cmd_disarm(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reason": args.reason, "for_seconds": parse_duration(args.duration)}
    if args.start:
        body["starts_at_ms"] = parse_start(args.start, int(time.time() * 1000))
    body.update(_targets(args))
    status, payload = _client(args).call("POST", "/disarm", body)
    return _emit(args, status, payload, render_disarm)


def cmd_arm(args: argparse.Namespace) -> int:
    status, payload = _client(args).call("POST", "/arm", {"reason": args.reason, **_targets(args)})
    return _emit(args, status, payload, render_arm)


def cmd_beat(args: argparse.Namespace) -> int:
    import signal
    import threading

    from deadman.liveness import LivenessWriter

    # Before any AWS call: a sidecar started with a bad interval must fail at once, not flap.
    check_beat_interval(args.every, _max_staleness(args))
    table_name = args.table or os.environ.get("LIVENESS_TABLE")
    if not table_name and stack_name(args):
        table_name = stack_outputs(str(stack_name(args)), region=args.region, profile=args.profile).get(
            "LivenessTableName"
        )
    if not table_name:
        raise CliError("no liveness table: pass --table NAME or --stack NAME (or set LIVENESS_TABLE)")
    writer = LivenessWriter(table_name, args.system, host=args.host)
    done = threading.Event()
    # A sidecar is stopped with SIGTERM: treat it as the clean shutdown it is.
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    writer.beat()  # fail fast (permissions, table name) before going to the background
    print(
        f"beating {args.system} in {table_name} every {seconds_text(args.every)}; Ctrl-C to stop",
        flush=True,
    )
    writer.start(args.every)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    writer.stop_running()
    print(f"stopped: {args.system} marked 'stopped' (the fleet sweeps at its next tick)", flush=True)
    return EXIT_OK


def _max_staleness(args: argparse.Namespace) -> float:
    if args.max_staleness is not None:
        return float(args.max_staleness)
    raw = os.environ.get("MAX_STALENESS_S")
    if not raw:
        return DEFAULT_MAX_STALENESS_S
    try:
        return float(raw)
    except ValueError:
        raise CliError(f"MAX_STALENESS_S={raw!r} is not a number of seconds") from None


# -- doctor (deadman.doctor) ----------------------------------------------------------------------


def doctor_help() -> str:
    from deadman.doctor import DOCTOR_HELP

    return DOCTOR_HELP


def cmd_doctor(args: argparse.Namespace) -> int:
    from deadman.doctor import Doctor

    return Doctor(args).run()


def describe_error(exc: BaseException) -> str:
    from deadman.errors import DeadmanError

    return str(exc) if isinstance(exc, DeadmanError) else _aws_error(exc)


# -- argument parsing ------------------------------------------------------------------------------


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number of seconds more than 0")
    return value


def _watch_seconds(text: str) -> float:
    value = _positive_seconds(text)
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: watch every 1 to 3600 seconds")
    return value


def _audit_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: an option given before the command is not reset by the command's own defaults.
    sup = argparse.SUPPRESS
    common.add_argument("--endpoint", default=sup, help="API base URL (default $DEADMAN_ENDPOINT)")
    common.add_argument("--stack", default=sup, help="CloudFormation stack whose ApiUrl output to use")
    common.add_argument("--region", default=sup, help="AWS region (default: from the endpoint or profile)")
    common.add_argument("--profile", default=sup, help="AWS profile for signing and stack lookups")
    common.add_argument("--json", action="store_true", default=sup, help="print the API's JSON")
    common.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=sup,
        metavar="SECONDS",
        help=f"seconds to wait for the API (default {DEFAULT_TIMEOUT_S:.0f})",
    )
    common.add_argument(
        "--no-sign", action="store_true", default=sup, help="send unsigned requests (sandbox)"
    )

    parser = argparse.ArgumentParser(
        prog="deadman",
        description=__doc__,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"deadman {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Every command's -h ends with the exit codes: they are what a script or runbook acts on.
    raw = argparse.RawDescriptionHelpFormatter

    def targets(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--venue", action="append", choices=("gemini", "kraken", "hyperliquid"), help="repeatable"
        )
        p.add_argument("--account", action="append", help="account id as in the venue secret; repeatable")

    p = sub.add_parser(
        "status",
        parents=[common],
        help="every switch, the trader's liveness, reaction bounds",
        epilog=EXIT_CODES_HELP,
        formatter_class=raw,
    )
    p.add_argument(
        "--audit",
        type=_audit_count,
        default=3,
        metavar="N",
        help=f"audit entries shown per switch (default 3, 0 = none; at most {STATUS_AUDIT_MAX}, all the "
        "status API returns)",
    )
    p.add_argument(
        "--watch",
        type=_watch_seconds,
        nargs="?",
        const=5.0,
        default=None,
        metavar="SECONDS",
        help="ask again every SECONDS (default 5) until Ctrl-C; the exit code is the last answer's",
    )
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "kill",
        parents=[common],
        help="latch killed and cancel every resting order now",
        epilog=EXIT_CODES_HELP,
        formatter_class=raw,
    )
    p.add_argument("--reason", required=True)
    p.add_argument(
        "--direct",
        action="store_true",
        help="break-glass when the API or AWS is unreachable: sweep from this machine with --keys, "
        "then record it through the API if it answers",
    )
    p.add_argument(
        "--keys",
        metavar="FILE",
        help='kill credentials for --direct: {"<venue>": {"accounts": [...]}} as in the venue secrets, '
        "mode 600 (default $DEADMAN_KILL_KEYS)",
    )
    targets(p)
    p.set_defaults(func=cmd_kill)

    p = sub.add_parser(
        "disarm",
        parents=[common],
        help="switch off for a while (re-arms by itself)",
        epilog=EXIT_CODES_HELP,
        formatter_class=raw,
    )
    p.add_argument(
        "--for",
        dest="duration",
        required=True,
        metavar="DURATION",
        help="with a unit: 90s, 30m, 2h, 1h30m (at most the stack parameter MaxDisarmSeconds)",
    )
    p.add_argument(
        "--from",
        dest="start",
        metavar="WHEN",
        help="plan it instead (announced maintenance): +2h from now, or a time with its zone "
        "(2026-11-29T02:00Z), at most 7 days ahead; the switches stay armed until then",
    )
    p.add_argument("--reason", required=True)
    targets(p)
    p.set_defaults(func=cmd_disarm)

    p = sub.add_parser(
        "arm",
        parents=[common],
        help="back to armed (from disarmed or killed)",
        epilog=EXIT_CODES_HELP,
        formatter_class=raw,
    )
    p.add_argument("--reason", required=True)
    targets(p)
    p.set_defaults(func=cmd_arm)

    p = sub.add_parser(
        "doctor",
        parents=[common],
        help="check secrets, venue access, clocks and the API",
        description=doctor_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--allow-gemini-call",
        action="store_true",
        help="also call Gemini with the trading key (resets its 30 s heartbeat timer: see above)",
    )
    p.add_argument("--venue", action="append", choices=("gemini", "kraken", "hyperliquid"), help="repeatable")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser(
        "beat",
        parents=[common],
        help="write the liveness row every few seconds until Ctrl-C",
        description=(
            "Beat the liveness row until Ctrl-C or SIGTERM, then mark it 'stopped' (the fleet sweeps at its "
            "next tick). --every must be under half of S, the stack's MaxStalenessSeconds: the row is "
            "up to one interval old when the fleet reads it and two after a failed beat, and older than "
            "S is death."
        ),
    )
    p.add_argument("--system", required=True, help="the trading system's name (the table key)")
    p.add_argument(
        "--every",
        type=_positive_seconds,
        required=True,
        metavar="SECONDS",
        help="seconds between beats; under half of S",
    )
    p.add_argument(
        "--max-staleness",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="S, the stack's MaxStalenessSeconds "
        f"(default $MAX_STALENESS_S, else {DEFAULT_MAX_STALENESS_S:g})",
    )
    p.add_argument("--table", help="liveness table (default $LIVENESS_TABLE or the stack's output)")
    p.add_argument("--host", help="host name written with each beat (default: this host)")
    p.set_defaults(func=cmd_beat)
    return parser


def _defaults(args: argparse.Namespace) -> argparse.Namespace:
    for name, value in (
        ("endpoint", None),
        ("stack", None),
        ("region", None),
        ("profile", None),
        ("json", False),
        ("timeout", DEFAULT_TIMEOUT_S),
        ("no_sign", False),
    ):
        if not hasattr(args, name):
            setattr(args, name, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = _defaults(parser.parse_args(argv))
    except SystemExit as exc:  # argparse: --help is 0, a usage error is 2
        return int(exc.code or 0)
    try:
        code = int(args.func(args))
    except CliError as exc:
        print(f"deadman: {printable(str(exc), newlines=True)}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())

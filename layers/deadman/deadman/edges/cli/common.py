"""What every part of the CLI shares: exit codes, the error it raises, durations and times."""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_UNREACHABLE = 4
EXIT_SERVER = 5
EXIT_THROTTLED = 6
EXIT_ATTENTION = 7
EXIT_INTERRUPTED = 130
# 128 + SIGPIPE, as a shell reports a tool its pipe's reader left (`deadman status | head`).
EXIT_PIPE_CLOSED = 141

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
  130  interrupted (Ctrl-C; `status --watch` exits with its last answer's code instead)
  141  the output was closed early (`deadman status | head`)
doctor exits 1 when a check fails or nothing could be checked. beat exits 0 when stopped, 2 for
a bad interval or no such table, 3, 4 or 6 when DynamoDB refuses, is out of reach or throttles
its first beat, and 1 when it stopped beating but could not write 'stopped'. audit verify exits 1
when a switch's history is broken (`deadman audit verify -h`)."""

DEFAULT_TIMEOUT_S = 60.0  # kill may take up to API Gateway's 29 s
CONNECT_TIMEOUT_S = 5.0
# GET /status returns this many audit entries per switch (deadman.app.control.status.STATUS_AUDIT_ENTRIES; a
# test keeps the two in step). The CLI cannot show more.
STATUS_AUDIT_MAX = 5
# The stack's MaxStalenessSeconds and SkewSeconds defaults: what `beat` checks --every against when
# neither its flags, the stack nor the environment say otherwise (and it says so).
DEFAULT_MAX_STALENESS_S = 20.0
DEFAULT_SKEW_S = 5.0
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
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

    from deadman.core.starts import PAST_START_TOLERANCE_MS, iso, span_text

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
    start = int(when.timestamp() * 1000)
    if start < now_ms - PAST_START_TOLERANCE_MS:
        # "From then" would disarm now: nobody asked for that, and a stale date is how it happens.
        raise CliError(
            f"start {text.strip()!r} ({iso(start)}) is {span_text(now_ms - start)} in the past: "
            "a planned disarm starts ahead (e.g. --from +2h). To disarm now, leave out --from."
        )
    return start


def seconds_text(value: float) -> str:
    """0.05 -> '0.05 s', 60.0 -> '60 s': never rounds a short timeout to '0 s'."""
    return f"{value:g} s"


def check_beat_interval(every_s: float, max_staleness_s: float, skew_s: float) -> None:
    """Refuse a beat interval that lets a live trader's row look dead (deadman.core.beats):
    one lost beat doubles the gap, a clock K behind adds K, and the write takes up to a second."""
    from deadman.core.beats import max_beat_interval_s

    if every_s <= 0:
        raise CliError("--every must be more than 0 seconds")
    if max_staleness_s <= 0:
        raise CliError("--max-staleness must be more than 0 seconds")
    if skew_s < 0:
        raise CliError("--skew must be 0 seconds or more")
    limit = max_beat_interval_s(max_staleness_s, skew_s)
    timing = f"S = {seconds_text(max_staleness_s)}, K = {seconds_text(skew_s)}"
    if limit <= 0:
        raise CliError(
            f"no beat interval is safe with {timing} (the stack's MaxStalenessSeconds and SkewSeconds): "
            "2 x every + K + 1 s must be at most S. Raise MaxStalenessSeconds above K + 1 s."
        )
    if every_s > limit:
        raise CliError(
            f"--every {seconds_text(every_s)} is too slow for {timing} (the stack's MaxStalenessSeconds "
            "and SkewSeconds): after one lost beat the row the fleet reads is two intervals old, a "
            "trader clock K behind adds K and the write up to 1 s, so it must hold that 2 x every + K + "
            "1 s <= S, or the fleet sweeps a live trader. Beat at most every "
            f"{seconds_text(limit)} (every 1-2 s is usual), or pass --max-staleness / --skew if your "
            "stack's differ."
        )

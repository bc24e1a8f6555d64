"""One function per subcommand: build the request, call the API (or the venues, for a break-glass
kill), print, return the exit code."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Callable
from typing import Any

from deadman.core.text import printable
from deadman.edges.cli.client import (
    ApiClient,
    exit_code,
    resolve_endpoint,
    sandbox_mode,
    stack_description,
    stack_name,
    table_error,
)
from deadman.edges.cli.common import (
    DEFAULT_MAX_STALENESS_S,
    DEFAULT_SKEW_S,
    EXIT_ATTENTION,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    CliError,
    check_beat_interval,
    parse_duration,
    parse_start,
    seconds_text,
)
from deadman.edges.cli.fmt import json_text, sanitised
from deadman.edges.cli.render import (
    cli_words,
    render_arm,
    render_disarm,
    render_error,
    render_kill,
)
from deadman.edges.cli.status_view import CLEAR_SCREEN, attention, render_status


def _client(args: argparse.Namespace) -> ApiClient:
    return ApiClient(
        resolve_endpoint(args),
        region=args.region,
        profile=args.profile,
        timeout_s=args.timeout,
        sign=not args.no_sign,
        sandbox_caller=getattr(args, "sandbox_as", None),
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
        print(render(cli_words(sanitised(payload))))
    else:
        print(render_error(status, sanitised(payload)), file=sys.stderr)
    return exit_code(status)


def cmd_status(args: argparse.Namespace) -> int:
    client = _client(args)
    code: int | None = None
    while True:
        try:
            status, payload = client.call("GET", "/status")
        except KeyboardInterrupt:
            break
        if status == 200 and isinstance(payload, dict) and (args.venue or args.account):
            payload = narrowed(payload, args.venue, args.account)
        if args.watch and not args.json:
            print(CLEAR_SCREEN, end="")
        code = _emit(args, status, payload, lambda body: render_status(body, args.audit))
        if code == EXIT_OK and isinstance(payload, dict) and attention(payload):
            code = EXIT_ATTENTION
        if not args.watch:
            return code
        sys.stdout.flush()
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            break
    # Ctrl-C ends a watch: its code is the last answer's (README), not "interrupted".
    return EXIT_INTERRUPTED if code is None else code


def narrowed(body: dict[str, Any], venues: list[str] | None, accounts: list[str] | None) -> dict[str, Any]:
    """A status answer cut to the switches asked for (--venue / --account): the table, ATTENTION and
    the exit code then speak of those alone, and of the trading systems that gate them."""
    kept = []
    for venue in body.get("venues") or []:
        if venues and venue.get("venue") not in venues:
            continue
        switches = [s for s in venue.get("switches") or [] if not accounts or s.get("account") in accounts]
        kept.append({**venue, "switches": switches})
    shown = [s for v in kept for s in v["switches"]]
    if accounts and not shown:
        raise CliError(f"no switch of account(s) {', '.join(accounts)} on the venues asked for")
    own = (body.get("liveness") or {}).get("system")
    gating = {name for s in shown for name in (s.get("systems") or [own])}
    systems = [live for live in body.get("systems") or [] if live.get("system") in gating]
    return {**body, "venues": kept, "systems": systems}


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

    from deadman.app.control import Caller, Control, RequestError
    from deadman.core.errors import ConfigError
    from deadman.stores.credentials import LocalCredentials

    path = args.keys or os.environ.get("DEADMAN_KILL_KEYS")
    if not path:
        raise CliError("--direct needs the kill credentials file: --keys FILE (or set DEADMAN_KILL_KEYS)")
    try:
        credentials = LocalCredentials(path, sandbox=sandbox_mode())
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
    if args.off:
        body["off"] = True
    if args.timer_off:
        body["timer_off"] = True
    if args.replace:
        body["replaces"] = args.replace
    body.update(_targets(args))
    status, payload = _client(args).call("POST", "/disarm", body)
    return _emit(args, status, payload, render_disarm)


def cmd_arm(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reason": args.reason, **_targets(args)}
    if args.cancel_plan:
        body["cancel_plans"] = args.cancel_plan
    status, payload = _client(args).call("POST", "/arm", body)
    return _emit(args, status, payload, render_arm)


def cmd_beat(args: argparse.Namespace) -> int:
    import signal
    import threading

    from deadman.stores.dynamo import dynamodb_client
    from deadman.stores.liveness import LivenessWriter

    settings = _BeatSettings(args)
    table_name = settings.table()
    max_staleness_s, skew_s = settings.timing()
    # Before any write: a sidecar started with a bad interval must fail at once, not flap.
    check_beat_interval(args.every, max_staleness_s, skew_s)
    try:
        client = dynamodb_client(region=args.region, profile=args.profile)
        writer = LivenessWriter(table_name, args.system, host=args.host, client=client)
        writer.beat()  # fail fast (permissions, table name) before going to the background
    except Exception as exc:
        raise table_error(table_name, args.region or _client_region(), args.profile, exc) from None
    done = threading.Event()
    # A sidecar is stopped with SIGTERM: treat it as the clean shutdown it is. Ctrl-C (SIGINT) too,
    # even when started in the background by a shell script, which leaves SIGINT ignored.
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(
        f"beating {args.system} in {table_name} every {seconds_text(args.every)} "
        f"({settings.described}); Ctrl-C to stop",
        flush=True,
    )
    writer.start(args.every)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    try:
        writer.stop_running()
    except Exception as exc:
        failure = table_error(table_name, args.region or _client_region(), args.profile, exc)
        print(
            f"deadman: stopped beating, but 'stopped' was not written ({failure}): the fleet judges "
            f"{args.system} dead once its last beat is older than S",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    print(f"stopped: {args.system} marked 'stopped' (the fleet sweeps at its next tick)", flush=True)
    return EXIT_OK


def _client_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


class _BeatSettings:
    """Where `deadman beat` writes and the S and K it checks --every against. Explicit beats implicit:
    the table from --table, else --stack's output, else $LIVENESS_TABLE, else $DEADMAN_STACK's output;
    S and K from --max-staleness / --skew, else the stack's parameters (what it was deployed with),
    else $MAX_STALENESS_S / $SKEW_S, else the template's defaults (said on stderr)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = stack_name(args)
        self._described: tuple[dict[str, str], dict[str, str]] | None = None
        self.described = ""

    def _stack(self) -> tuple[dict[str, str], dict[str, str]]:
        if self.stack is None:
            return {}, {}
        if self._described is None:
            self._described = stack_description(
                self.stack, region=self.args.region, profile=self.args.profile
            )
        return self._described

    def table(self) -> str:
        explicit_stack = getattr(self.args, "stack", None)
        name = self.args.table or (explicit_stack and self._stack()[0].get("LivenessTableName"))
        name = name or os.environ.get("LIVENESS_TABLE") or self._stack()[0].get("LivenessTableName")
        if not name:
            where = f"stack {self.stack!r} has no LivenessTableName output" if self.stack else "none given"
            raise CliError(
                f"no liveness table ({where}): pass --table NAME or --stack NAME (or set LIVENESS_TABLE)"
            )
        return str(name)

    def timing(self) -> tuple[float, float]:
        s, s_from = self._one(
            self.args.max_staleness, "--max-staleness", "MaxStalenessSeconds", "MAX_STALENESS_S"
        )
        k, k_from = self._one(self.args.skew, "--skew", "SkewSeconds", "SKEW_S")
        froms = {s_from, k_from}
        where = s_from if len(froms) == 1 else f"S {s_from}, K {k_from}"
        self.described = f"S = {seconds_text(s)}, K = {seconds_text(k)}: {where}"
        if None in (self.args.max_staleness, self.args.skew) and "template default" in where:
            print(
                "deadman beat: S or K unknown, checking --every against the template's defaults "
                f"({self.described}); pass --stack, or --max-staleness and --skew",
                file=sys.stderr,
            )
        return s, k

    def _one(self, flag: float | None, flag_name: str, parameter: str, variable: str) -> tuple[float, str]:
        if flag is not None:
            return float(flag), flag_name
        deployed = self._stack()[1].get(parameter)
        if deployed:
            return _number(
                deployed, f"stack {self.stack!r} parameter {parameter}"
            ), f"from stack {self.stack}"
        raw = os.environ.get(variable)
        if raw:
            return _number(raw, f"${variable}"), f"${variable}"
        default = DEFAULT_MAX_STALENESS_S if parameter == "MaxStalenessSeconds" else DEFAULT_SKEW_S
        return default, "the template default"


def _number(raw: str, what: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise CliError(f"{what}={raw!r} is not a number of seconds") from None


# -- doctor (deadman.edges.cli.doctor) ----------------------------------------------------------------------


def doctor_help() -> str:
    from deadman.edges.cli.doctor import doctor_help as help_text

    return help_text()


def cmd_doctor(args: argparse.Namespace) -> int:
    from deadman.edges.cli.doctor import Doctor

    return Doctor(args).run()

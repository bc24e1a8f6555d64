"""`deadman`: the operator's and the trading system's command line.

    deadman status                               what every switch is doing, and the trader's liveness
    deadman kill --reason "runaway"              latch killed + cancel every resting order, now
    deadman disarm --for 30m --reason "deploy"   switches off for a while; they re-arm by themselves
    deadman disarm --off --from +2h --for 56h --reason "weekend"   an off period, planned
    deadman arm --reason "back to normal"        armed again (the next tick extends only if alive)
    deadman doctor                               checks secrets, venues, clocks (see `deadman doctor -h`)
    deadman beat --system trader-1 --every 2     beat the liveness row until Ctrl-C (then "stopped")
    deadman audit verify --venue kraken --account main   prove a switch's audit history whole

The API calls go to `--endpoint URL` (or $DEADMAN_ENDPOINT), or to the `ApiUrl` output of
CloudFormation stack `--stack NAME` (or $DEADMAN_STACK), signed with SigV4 (service execute-api)
using your normal AWS credentials (profile, environment, SSO...). The sandbox's local API
(`python -m sandbox.local_api`) takes the same requests; there, signing is optional.

Durations take a unit: 90s, 30m, 2h, 1d or 1h30m. Output: a readable table (text stored by the
API is shown with control characters escaped, e.g. ESC as \\x1b), or the API's JSON with --json.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from deadman import __version__
from deadman.core.text import printable
from deadman.edges.cli.audit import add_audit_parser
from deadman.edges.cli.commands import (
    cmd_arm,
    cmd_beat,
    cmd_disarm,
    cmd_doctor,
    cmd_kill,
    cmd_status,
    doctor_help,
)
from deadman.edges.cli.common import (
    DEFAULT_MAX_STALENESS_S,
    DEFAULT_SKEW_S,
    DEFAULT_TIMEOUT_S,
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_PIPE_CLOSED,
    STATUS_AUDIT_MAX,
    CliError,
)
from deadman.venues import VENUES


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number of seconds more than 0")
    return value


def _non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number of seconds, 0 or more")
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
    common.add_argument(
        "--sandbox-as",
        default=sup,
        metavar="NAME",
        help="sandbox only: act as another operator (a session name, or a role ARN), e.g. to try the "
        "two-person rule; refused against a deployment, which knows you by your AWS credentials",
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
    _targets(p)
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
    _targets(p)
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
        help="with a unit: 90s, 30m, 2h, 1h30m (at most the stack parameter MaxDisarmSeconds; with "
        "--off, MaxOffSeconds)",
    )
    p.add_argument(
        "--off",
        action="store_true",
        help="an off period: the trading system is away on purpose (a weekend, a night). May outlast "
        "MaxDisarmSeconds (up to MaxOffSeconds); its death is not alarmed while every switch it gates "
        "is off; audited as 'off'",
    )
    p.add_argument(
        "--timer-off",
        action="store_true",
        help="switch the venue timers off instead of deferring them to the end (Kraken's announced "
        "maintenance: an armed timer cancels every order when the engine returns). After the end only "
        "the watchdog protects the book until the next tick",
    )
    p.add_argument(
        "--from",
        dest="start",
        metavar="WHEN",
        help="plan it instead (announced maintenance): +2h from now, or a time with its zone "
        "(2026-11-29T02:00Z), at most 7 days ahead; the switches stay armed until then. A time more than "
        "60 s in the past is refused (leave out --from to disarm now)",
    )
    p.add_argument(
        "--replace",
        metavar="ID",
        help="with --from: the planned window (its id, from `deadman status`) this plan takes the place "
        "of. A plan that overlaps another is refused without it",
    )
    p.add_argument("--reason", required=True)
    _targets(p)
    p.set_defaults(func=cmd_disarm)

    p = sub.add_parser(
        "arm",
        parents=[common],
        help="back to armed (from disarmed or killed)",
        epilog=EXIT_CODES_HELP,
        formatter_class=raw,
    )
    p.add_argument("--reason", required=True)
    p.add_argument(
        "--cancel-plan",
        action="append",
        metavar="ID",
        help="also cancel this planned window (its id, from `deadman status`; repeat for several, or "
        "`all`). Without it every plan still ahead is kept, and the answer lists them",
    )
    _targets(p)
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
        help="also call Gemini with the trading key, while its switch is armed and the trader alive (any "
        "call resets its 30 s heartbeat rule: see above)",
    )
    _targets(p)
    p.add_argument(
        "--local",
        action="store_true",
        help="run the venue checks here, with your own access to the venue secrets and the ControlTable, "
        "instead of asking the deployment (GET /doctor)",
    )
    p.set_defaults(func=cmd_doctor)

    _add_beat(sub, common)
    add_audit_parser(sub, common)
    return parser


def _targets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--venue", action="append", choices=VENUES, help="repeatable")
    p.add_argument("--account", action="append", help="account id as in the venue secret; repeatable")


def _add_beat(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "beat",
        parents=[common],
        help="write the liveness row every few seconds until Ctrl-C",
        description=(
            "Beat the liveness row until Ctrl-C or SIGTERM, then mark it 'stopped' (the fleet sweeps at its "
            "next tick). --every must satisfy 2 x every + K + 1 s <= S (S, K: the stack's "
            "MaxStalenessSeconds and SkewSeconds): after one lost beat the row the fleet reads is two "
            "intervals old, a trader clock K behind adds K and the write up to a second, and older than S "
            "is death. At the defaults (S 20, K 5) that is every 7 s at most. S and K come from "
            "--max-staleness / --skew, else the stack's parameters (--stack or $DEADMAN_STACK), else "
            "$MAX_STALENESS_S / $SKEW_S, else the template's defaults. Exit codes: 0 stopped cleanly; 2 bad "
            "usage or no such table; 3 not allowed (credentials, IAM); 4 DynamoDB unreachable; 6 throttled; "
            "1 stopped beating but 'stopped' could not be written."
        ),
    )
    p.add_argument("--system", required=True, help="the trading system's name (the table key)")
    p.add_argument(
        "--every",
        type=_positive_seconds,
        required=True,
        metavar="SECONDS",
        help="seconds between beats; 2 x every + K + 1 s <= S",
    )
    p.add_argument(
        "--max-staleness",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="S, the stack's MaxStalenessSeconds (default: the stack's, else $MAX_STALENESS_S, "
        f"else {DEFAULT_MAX_STALENESS_S:g})",
    )
    p.add_argument(
        "--skew",
        type=_non_negative_seconds,
        default=None,
        metavar="SECONDS",
        help=f"K, the stack's SkewSeconds (default: the stack's, else $SKEW_S, else {DEFAULT_SKEW_S:g})",
    )
    p.add_argument(
        "--table", help="liveness table (default: --stack's LivenessTableName output, else $LIVENESS_TABLE)"
    )
    p.add_argument("--host", help="host name written with each beat (default: this host)")
    p.set_defaults(func=cmd_beat)


def _defaults(args: argparse.Namespace) -> argparse.Namespace:
    for name, value in (
        ("endpoint", None),
        ("stack", None),
        ("region", None),
        ("profile", None),
        ("json", False),
        ("timeout", DEFAULT_TIMEOUT_S),
        ("no_sign", False),
        ("sandbox_as", None),
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
    except BrokenPipeError:
        # `deadman status | head`: the reader has gone. Python would print a traceback now and
        # another at exit while flushing; point stdout at nothing instead and say so by the code.
        _silence_stdout()
        return EXIT_PIPE_CLOSED
    return code


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test's capture): nothing to flush
        pass


if __name__ == "__main__":
    sys.exit(main())

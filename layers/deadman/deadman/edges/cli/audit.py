"""`deadman audit verify`: prove one switch's audit history whole, or name its first broken link.

It reads the switch's entries from the ControlTable (your AWS credentials, a DynamoDB Query) and,
unless told not to, every copied entry from the stack's write-once S3 copy, then checks them with
`deadman.core.audit_chain.verify`. It calls no API of the stack's and changes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from typing import Any

from deadman.core.audit_chain import Report, verify
from deadman.core.describe import aws_error, aws_error_parts
from deadman.core.text import printable
from deadman.edges.cli.client import stack_name, stack_outputs
from deadman.edges.cli.common import (
    EXIT_AUTH,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_THROTTLED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
)
from deadman.edges.cli.render import json_text
from deadman.venues import VENUES

VERIFY_HELP = """\
Checks one switch's audit history: every entry's SHA-256 against its content, every entry's link to
the one before, and (with the stack's S3 copy, which no function can delete or rewrite) every entry
against its copy. Prints WHOLE, or BROKEN and the first broken link.

The table alone cannot tell entries removed from the newest end, nor whether the oldest missing
entries expired (the 400-day TTL) or were deleted: verify anchors on the oldest entry it finds and
says so. The copy settles both. Entries written before the chain existed are counted, not checked.

exit codes:
  0  whole (the table's chain, and the copy where it was read)
  1  broken: a link, an entry, or the copy disagrees (the output names the first)
  2  bad usage, or no such table or bucket
  3  not allowed: AWS refused your credentials for the table or the copy (attach the stack's
     AuditVerifyPolicyArn, or pass --no-copy to check the table alone)
  4  AWS unreachable, or it failed
  6  throttled: retry"""

_AUTH = {
    "AccessDenied",
    "AccessDeniedException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
}
_MISSING = {"ResourceNotFoundException", "NoSuchBucket"}
_THROTTLE = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "RequestLimitExceeded",
}


def add_audit_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    audit = sub.add_parser("audit", parents=[common], help="the audit log: verify a switch's history")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "verify",
        parents=[common],
        help="prove a switch's audit history whole, or name the first broken link",
        description=VERIFY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--venue", required=True, choices=VENUES)
    p.add_argument("--account", required=True, help="account id as in the venue secret")
    p.add_argument("--table", help="the ControlTable (default $CONTROL_TABLE or the stack's output)")
    p.add_argument(
        "--bucket",
        help="the audit copy's bucket (default: $AUDIT_BUCKET, else the stack's AuditCopyBucketName output)",
    )
    p.add_argument("--no-copy", action="store_true", help="check the table's chain alone")
    p.set_defaults(func=cmd_audit_verify)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from deadman.stores.audit import AuditLog, audit_pk
    from deadman.stores.audit_copy import AuditArchive

    table, bucket = _where(args)
    session = _session(args)
    log = AuditLog(table, client=session.client("dynamodb"))
    try:
        records = list(log.history(args.venue, args.account))
    except Exception as exc:
        raise _error(f"cannot read the audit log in table {table!r}", exc) from None
    copy = None
    if bucket is not None:
        try:
            copy = AuditArchive(bucket, s3=session.client("s3")).read(args.venue, args.account)
        except Exception as exc:
            raise _error(f"cannot read the audit copy in bucket {bucket!r}", exc) from None
    report = verify(audit_pk(args.venue, args.account), records, now_ms=int(time.time() * 1000), copy=copy)
    if args.json:
        print(json_text(_as_json(report, table, bucket)))
    else:
        print(render_report(report, switch=f"{args.venue}/{args.account}", table=table, bucket=bucket))
    return EXIT_OK if report.whole else EXIT_PARTIAL


def _where(args: argparse.Namespace) -> tuple[str, str | None]:
    outputs: dict[str, str] = {}
    stack = stack_name(args)
    table = args.table or os.environ.get("CONTROL_TABLE")
    env_bucket = os.environ.get("AUDIT_BUCKET")
    needs_stack = not table or (args.bucket is None and not env_bucket and not args.no_copy)
    if stack and needs_stack:
        outputs = stack_outputs(stack, region=args.region, profile=args.profile)
    table = table or outputs.get("ControlTableName")
    if not table:
        raise CliError("no ControlTable: pass --table NAME or --stack NAME (or set CONTROL_TABLE)")
    if args.no_copy:
        return table, None
    bucket = args.bucket or env_bucket or outputs.get("AuditCopyBucketName")
    if not bucket:
        raise CliError(
            "no audit copy to check against: pass --stack NAME or --bucket NAME, or --no-copy to "
            "check the table's chain alone"
        )
    return table, bucket


def _session(args: argparse.Namespace) -> Any:
    import boto3

    try:
        return boto3.Session(profile_name=args.profile, region_name=args.region)
    except Exception as exc:
        raise _error("cannot start an AWS session", exc) from None


def _error(prefix: str, exc: BaseException) -> CliError:
    parts = aws_error_parts(exc)
    code = parts[0] if parts else type(exc).__name__
    text = f"{prefix}: {printable(aws_error(exc))}"
    if code in _AUTH or code in ("NoCredentialsError", "ProfileNotFound", "PartialCredentialsError"):
        return CliError(text, EXIT_AUTH)
    if code in _MISSING or code == "NoRegionError":
        return CliError(text, EXIT_USAGE)
    if code in _THROTTLE:
        return CliError(text, EXIT_THROTTLED)
    return CliError(text, EXIT_UNREACHABLE)


def render_report(report: Report, *, switch: str, table: str, bucket: str | None) -> str:
    where = f"table {table}" + (f", copy s3://{bucket}" if bucket else ", copy not checked (--no-copy)")
    lines = [f"audit {switch} ({where})"]
    if report.entries:
        lines.append(f"  chain: #{report.first}..#{report.last}, {report.entries} entries in the table")
    else:
        lines.append("  chain: no chain entries in the table")
    if report.copied is not None:
        lines.append(f"  copy:  {report.copied} entries")
    lines.extend(f"  note:  {printable(note)}" for note in report.notes)
    first = report.first_broken
    if first is None:
        lines.append("WHOLE: every entry matches its hash and links to the one before" + (
            ", and the copy agrees" if report.copied is not None else ""))  # fmt: skip
    else:
        lines.append(f"BROKEN at {'#' + str(first.seq) if first.seq is not None else 'an entry'}: "
                     f"{printable(first.text)}")  # fmt: skip
        lines.extend(f"  also:  {printable(f.text)}" for f in report.problems[1:])
    return "\n".join(lines)


def _as_json(report: Report, table: str, bucket: str | None) -> dict[str, Any]:
    return {
        "pk": report.pk,
        "table": table,
        "bucket": bucket,
        "whole": report.whole,
        "first": report.first,
        "last": report.last,
        "entries": report.entries,
        "before_chain": report.before_chain,
        "copied": report.copied,
        "first_broken": None if report.first_broken is None else dataclasses.asdict(report.first_broken),
        "problems": [dataclasses.asdict(f) for f in report.problems],
        "notes": list(report.notes),
    }

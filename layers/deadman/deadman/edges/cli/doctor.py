"""`deadman doctor`: checks that a deployment (or the sandbox) can do its job, without arming
anything and without touching a Gemini trading key unless asked to (see `doctor_help`).

The venue checks themselves are `deadman.app.checkup`; they run in the deployment behind GET /doctor
(the operator's machine needs no venue key), or here with `--local`.
"""

from __future__ import annotations

import argparse
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from deadman.app.checkup import Checkup, Finding
from deadman.core.text import printable
from deadman.edges.cli.client import ApiClient, sandbox_mode, stack_description, stack_name
from deadman.edges.cli.common import CliError
from deadman.edges.cli.render import json_text, render_error
from deadman.venues import SPECS

_DOCTOR_HELP = """\
Checks a deployment (--stack NAME or --endpoint URL) or the sandbox (environment from
`python -m sandbox.local_api`). Each line is OK, WARN, FAIL, SKIP or INFO; the exit code is 1 if any
check FAILs, else 0. Nothing to check (no stack, endpoint or venue secret) is a FAIL, and so is a
--venue named that has no secret.

  api          GET /status answers 200: signing, the caller's IAM policy, the status function
  venues       GET /doctor: the deployment runs the checks below with its own keys, so this machine
               needs no venue key (the route needs the stack's OperatorDoctorPolicyArn). With --local
               they run here instead, with your own access to the secrets and the ControlTable.
  secrets      each venue secret reads and parses
{venues}

--venue and --account narrow the checks; --json prints the findings as JSON (same exit code).

Not checked: Gemini's "Require Heartbeat" key flag (no API shows it: check the key's settings), key
permissions beyond the calls above, the refreshers themselves (see `deadman status` and the alarms).
Skew is the deployment's clock against the venue's (with --local: this machine's)."""


def doctor_help() -> str:
    """The help, with each registered venue's own checks (`VenueSpec.doctor`)."""
    lines = []
    for venue, spec in SPECS.items():
        wrapped = textwrap.wrap(spec.doctor, 100 - 15) or ["-"]
        lines.append(f"  {venue:<12} {wrapped[0]}")
        lines.extend(f"{'':15}{line}" for line in wrapped[1:])
    return _DOCTOR_HELP.replace("{venues}", "\n".join(lines))


# The stack's output naming each venue's secret: <Title>SecretArn, as the template writes it.
_SECRET_OUTPUTS = {venue: f"{spec.title}SecretArn" for venue, spec in SPECS.items()}


@dataclass
class _Sources:
    """What doctor checks with: the venue secrets, the ControlTable, the API, and what --local needs
    to judge liveness as the refresher does (the table, the stack's system, S and K)."""

    secrets: dict[str, str]
    control_table: str | None
    endpoint: str | None
    liveness_table: str | None = None
    system: str | None = None
    max_staleness_s: str | None = None
    skew_s: str | None = None


class Doctor:
    def __init__(self, args: argparse.Namespace, out: Callable[[str], None] = print) -> None:
        self.args = args
        self.out = out
        self.failures = 0
        self.warnings = 0
        self.passed = 0
        self.findings: list[dict[str, str]] = []

    def report(self, level: str, subject: str, detail: str) -> None:
        if level == "FAIL":
            self.failures += 1
        elif level == "WARN":
            self.warnings += 1
        elif level == "OK":
            self.passed += 1
        # Venue and AWS messages and stored native reasons are text from elsewhere: never raw.
        self.findings.append({"level": level, "subject": printable(subject), "detail": printable(detail)})
        if not getattr(self.args, "json", False):
            self.out(f"[{level:<4}] {printable(subject):<20} {printable(detail)}")

    def run(self) -> int:
        sources = self._sources()
        secrets, endpoint = sources.secrets, sources.endpoint
        if not secrets and not endpoint:
            # An operator who runs doctor before an incident must not read "0 failed" as "ready".
            self.report(
                "FAIL",
                "configuration",
                "nothing to check: no stack (--stack or $DEADMAN_STACK), no API endpoint (--endpoint or "
                "$DEADMAN_ENDPOINT) and no venue secret ($SECRET_<VENUE>)",
            )
            return self._verdict()
        client = self._api_client(endpoint)
        enabled = self._api(client)
        for venue in self.args.venue or []:
            if enabled is not None and venue not in enabled:
                self.report("FAIL", venue, "not enabled in this deployment")
        wanted = [v for v in self.args.venue or _SECRET_OUTPUTS if enabled is None or v in enabled]
        if self.args.local or client is None:
            self._local(wanted, sources)
        elif wanted:
            self._remote(client, wanted)
        self._accounts_found()
        if not self.passed and not self.failures:
            self.report("FAIL", "configuration", "no check could run: see the SKIP and WARN lines above")
        return self._verdict()

    def _remote(self, client: ApiClient, venues: list[str]) -> None:
        query = {
            "venues": ",".join(venues),
            "allow_gemini_call": str(bool(self.args.allow_gemini_call)).lower(),
        }
        if self.args.account:
            query["accounts"] = ",".join(self.args.account)
        try:
            status, payload = client.call("GET", "/doctor?" + urlencode(query))
        except CliError as exc:
            self.report("FAIL", "doctor", str(exc))
            return
        if status == 404:
            self.report(
                "FAIL", "doctor", "this deployment has no GET /doctor (deployed before it): use --local"
            )
            return
        if status != 200 or not isinstance(payload, dict):
            self.report("FAIL", "doctor", render_error(status, payload).replace("\n", " "))
            return
        self.report("INFO", "doctor", "venue checks run by the deployment (GET /doctor), with its own keys")
        self._findings(
            [
                Finding(str(f.get("level")), str(f.get("subject")), str(f.get("detail")))
                for f in payload.get("findings") or []
            ]
        )

    def _local(self, venues: list[str], sources: _Sources) -> None:
        from deadman.stores.credentials import CredentialStore

        secrets, control_table = sources.secrets, sources.control_table
        nonces = switches = None
        if control_table:
            from deadman.stores.dynamo import dynamodb_client
            from deadman.stores.nonces import DynamoNonceSource
            from deadman.stores.switches import SwitchStore

            client = dynamodb_client(region=self.args.region, profile=self.args.profile)
            nonces = DynamoNonceSource(control_table, client=client)
            switches = SwitchStore(control_table, client=client)
        else:
            self.report(
                "WARN", "control table", "unknown (set CONTROL_TABLE or use --stack): no authenticated calls"
            )
        checked = []
        for venue in venues:
            if venue in secrets:
                checked.append(venue)
            else:
                # Asked for by name, a venue that cannot be checked is a failure, not a skip.
                level = "FAIL" if self.args.venue else "SKIP"
                self.report(level, venue, "no secret configured (SECRET_" + venue.upper() + ")")
        store = CredentialStore({v: secrets[v] for v in checked}, max_age_s=0, sandbox=sandbox_mode())
        checkup = Checkup(credentials=store, nonces=nonces, switches=switches, **self._judge(sources))
        if checked:
            self._findings(
                checkup.run(
                    checked, allow_timer_key_calls=self.args.allow_gemini_call, accounts=self.args.account
                )
            )

    def _judge(self, sources: _Sources) -> dict[str, Any]:
        """What the checkup needs to judge liveness as the refresher does, where this machine knows it
        (the stack's outputs and parameters, else the sandbox's environment); without it, a Gemini
        trading key is never called."""
        known = (sources.liveness_table, sources.system, sources.max_staleness_s, sources.skew_s)
        if not all(known) or not self.args.allow_gemini_call:
            return {}
        from deadman.core.policy import Timing
        from deadman.stores.dynamo import dynamodb_client
        from deadman.stores.liveness import LivenessReader

        try:
            timing = Timing(
                max_staleness_ms=int(float(str(sources.max_staleness_s)) * 1000),
                skew_ms=int(float(str(sources.skew_s)) * 1000),
            )
        except ValueError:
            return {}
        client = dynamodb_client(region=self.args.region, profile=self.args.profile)
        reader = LivenessReader(str(sources.liveness_table), client=client)
        return {"liveness": reader, "system": sources.system, "timing": timing}

    def _accounts_found(self) -> None:
        """An --account that no checked secret holds is a failure, not silence."""
        for account in self.args.account or []:
            if not any(f["subject"].endswith(f"/{printable(account)}") for f in self.findings):
                self.report("FAIL", account, "no checked venue secret lists this account")

    def _findings(self, findings: list[Finding]) -> None:
        """The checkup's lines, wherever it ran; a deployment where no secret lists an account fails."""
        for finding in findings:
            self.report(finding.level, finding.subject, finding.detail)
        parsed = any(f.subject.startswith("secret ") and f.level == "OK" for f in findings)
        if not parsed and not self.failures:
            self.report("FAIL", "configuration", "no venue secret lists an account: nothing is protected")

    def _verdict(self) -> int:
        verdict = "FAIL" if self.failures else ("WARN" if self.warnings else "OK")
        if getattr(self.args, "json", False):
            summary = {"ok": not self.failures, "failed": self.failures, "warnings": self.warnings}
            self.out(json_text({**summary, "verdict": verdict, "findings": self.findings}))
        else:
            self.out(f"doctor: {verdict} ({self.failures} failed, {self.warnings} warnings)")
        return 1 if self.failures else 0

    # -- sources ----------------------------------------------------------------------------------
    def _sources(self) -> _Sources:
        stack = stack_name(self.args)
        endpoint = self.args.endpoint or os.environ.get("DEADMAN_ENDPOINT")
        if stack:
            outputs, parameters = stack_description(stack, region=self.args.region, profile=self.args.profile)
            return _Sources(
                secrets={v: outputs[k] for v, k in _SECRET_OUTPUTS.items() if outputs.get(k)},
                control_table=outputs.get("ControlTableName"),
                endpoint=self.args.endpoint or outputs.get("ApiUrl"),
                liveness_table=outputs.get("LivenessTableName"),
                system=parameters.get("SystemName"),
                max_staleness_s=parameters.get("MaxStalenessSeconds"),
                skew_s=parameters.get("SkewSeconds"),
            )
        env = os.environ
        return _Sources(
            secrets={
                v: env[f"SECRET_{v.upper()}"] for v in _SECRET_OUTPUTS if env.get(f"SECRET_{v.upper()}")
            },
            control_table=env.get("CONTROL_TABLE"),
            endpoint=endpoint,
            liveness_table=env.get("LIVENESS_TABLE"),
            system=env.get("SYSTEM_NAME"),
            max_staleness_s=env.get("MAX_STALENESS_S"),
            skew_s=env.get("SKEW_S"),
        )

    def _api_client(self, endpoint: str | None) -> ApiClient | None:
        if not endpoint:
            return None
        return ApiClient(
            endpoint,
            region=self.args.region,
            profile=self.args.profile,
            timeout_s=35,
            sign=not self.args.no_sign,
        )

    def _api(self, client: ApiClient | None) -> set[str] | None:
        if client is None:
            self.report("SKIP", "api", "no endpoint (--endpoint, --stack or DEADMAN_ENDPOINT)")
            return None
        try:
            status, payload = client.call("GET", "/status")
        except CliError as exc:
            self.report("FAIL", "api", str(exc))
            return None
        if status != 200 or not isinstance(payload, dict):
            self.report("FAIL", "api", render_error(status, payload).replace("\n", " "))
            return None
        venues = {v["venue"] for v in payload.get("venues", [])}
        count = sum(len(v.get("switches", [])) for v in payload.get("venues", []))
        live = payload.get("liveness", {})
        self.report(
            "OK",
            "api",
            f"GET /status: {count} switch(es) on {', '.join(sorted(venues))}; trader {live.get('verdict')}",
        )
        return venues

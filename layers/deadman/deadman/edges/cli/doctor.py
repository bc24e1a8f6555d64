"""`deadman doctor`: checks that a deployment (or the sandbox) can do its job, without arming
anything and without touching a Gemini trading key unless asked to (see DOCTOR_HELP).

The venue checks themselves are `deadman.app.checkup`; they run in the deployment behind GET /doctor
(the operator's machine needs no venue key), or here with `--local`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from urllib.parse import urlencode

from deadman.app.checkup import Checkup, Finding
from deadman.core.text import printable
from deadman.edges.cli.client import ApiClient, sandbox_mode, stack_name, stack_outputs
from deadman.edges.cli.common import CliError
from deadman.edges.cli.render import render_error

DOCTOR_HELP = """\
Checks a deployment (--stack NAME or --endpoint URL) or the sandbox (environment from
`python -m sandbox.local_api`). Each line is OK, WARN, FAIL, SKIP or INFO; the exit code is 1 if any
check FAILs, else 0. Nothing to check (no stack, endpoint or venue secret) is a FAIL, and so is a
--venue named that has no secret.

  api          GET /status answers 200: signing, the caller's IAM policy, the status function
  venues       GET /doctor: the deployment runs the checks below with its own keys, so this machine
               needs no venue key (the route needs the stack's OperatorDoctorPolicyArn). With --local
               they run here instead, with your own access to the secrets and the ControlTable.
  secrets      each venue secret reads and parses
  kraken       clock skew against /0/public/Time; the refresher key and the kill key authenticate with a
               read-only call (OpenOrders), nonces drawn from the fleet's shared DynamoDB source so the
               refresher's nonces are never overtaken
  hyperliquid  open orders readable (/info: no signature needed); the agent key derives an address;
               clock skew from the HTTP Date header (1 s resolution); the volume gate as the refresher
               last saw it (the switch's native_available/native_reason: doctor never arms anything)
  gemini       nonce mode, master key and sweep scope consequences; the kill key (its own session)
               authenticates; clock skew from the HTTP Date header. The TRADING key is not called
               unless you pass --allow-gemini-call: any authenticated call on it resets Gemini's 30 s
               heartbeat timer (a dead trader's orders then live up to 30 s longer) and draws from the
               nonce stream it shares with the trader.

Not checked: Gemini's "Require Heartbeat" key flag (no API shows it: check the key's settings), key
permissions beyond the calls above, the refreshers themselves (see `deadman status` and the alarms).
Skew is the deployment's clock against the venue's (with --local: this machine's)."""

_SECRET_OUTPUTS = {
    "gemini": "GeminiSecretArn",
    "kraken": "KrakenSecretArn",
    "hyperliquid": "HyperliquidSecretArn",
}


class Doctor:
    def __init__(self, args: argparse.Namespace, out: Callable[[str], None] = print) -> None:
        self.args = args
        self.out = out
        self.failures = 0
        self.warnings = 0
        self.passed = 0

    def report(self, level: str, subject: str, detail: str) -> None:
        if level == "FAIL":
            self.failures += 1
        elif level == "WARN":
            self.warnings += 1
        elif level == "OK":
            self.passed += 1
        # Venue and AWS messages and stored native reasons are text from elsewhere: never raw.
        self.out(f"[{level:<4}] {printable(subject):<20} {printable(detail)}")

    def run(self) -> int:
        secrets, control_table, endpoint = self._sources()
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
            self._local(wanted, secrets, control_table)
        elif wanted:
            self._remote(client, wanted)
        if not self.passed and not self.failures:
            self.report("FAIL", "configuration", "no check could run: see the SKIP and WARN lines above")
        return self._verdict()

    def _remote(self, client: ApiClient, venues: list[str]) -> None:
        query = {
            "venues": ",".join(venues),
            "allow_gemini_call": str(bool(self.args.allow_gemini_call)).lower(),
        }
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

    def _local(self, venues: list[str], secrets: dict[str, str], control_table: str | None) -> None:
        from deadman.stores.credentials import CredentialStore

        nonces = switches = None
        if control_table:
            from deadman.stores.dynamo import dynamodb_client
            from deadman.stores.nonces import DynamoNonceSource
            from deadman.stores.switches import SwitchStore

            client = dynamodb_client()
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
        checkup = Checkup(credentials=store, nonces=nonces, switches=switches)
        if checked:
            self._findings(checkup.run(checked, allow_gemini_call=self.args.allow_gemini_call))

    def _findings(self, findings: list[Finding]) -> None:
        """The checkup's lines, wherever it ran; a deployment where no secret lists an account fails."""
        for finding in findings:
            self.report(finding.level, finding.subject, finding.detail)
        parsed = any(f.subject.startswith("secret ") and f.level == "OK" for f in findings)
        if not parsed and not self.failures:
            self.report("FAIL", "configuration", "no venue secret lists an account: nothing is protected")

    def _verdict(self) -> int:
        verdict = "FAIL" if self.failures else ("WARN" if self.warnings else "OK")
        self.out(f"doctor: {verdict} ({self.failures} failed, {self.warnings} warnings)")
        return 1 if self.failures else 0

    # -- sources ----------------------------------------------------------------------------------
    def _sources(self) -> tuple[dict[str, str], str | None, str | None]:
        stack = stack_name(self.args)
        endpoint = self.args.endpoint or os.environ.get("DEADMAN_ENDPOINT")
        if stack:
            outputs = stack_outputs(stack, region=self.args.region, profile=self.args.profile)
            secrets = {v: outputs[k] for v, k in _SECRET_OUTPUTS.items() if outputs.get(k)}
            return secrets, outputs.get("ControlTableName"), self.args.endpoint or outputs.get("ApiUrl")
        secrets = {
            v: os.environ[f"SECRET_{v.upper()}"]
            for v in _SECRET_OUTPUTS
            if os.environ.get(f"SECRET_{v.upper()}")
        }
        return secrets, os.environ.get("CONTROL_TABLE"), endpoint

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

"""`deadman doctor`: checks that a deployment (or the sandbox) can do its job, without arming
anything and without touching a Gemini trading key unless asked to (see DOCTOR_HELP)."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from deadman.core.text import printable
from deadman.edges.cli.client import ApiClient, describe_error, network_error, stack_name, stack_outputs
from deadman.edges.cli.common import CliError
from deadman.edges.cli.render import render_error

DOCTOR_HELP = """\
Checks a deployment (--stack NAME) or the sandbox (environment from `python -m sandbox.local_api`).
Each line is OK, WARN, FAIL, SKIP or INFO; the exit code is 1 if any check FAILs, else 0. Nothing to
check (no stack, endpoint or venue secret) is a FAIL, and so is a --venue named that has no secret.

  api          GET /status answers 200: signing, the caller's IAM policy, the status function
  secrets      each venue secret (stack output <Venue>SecretArn, or $SECRET_<VENUE>) reads and parses
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
Needs AWS credentials that may read the venue secrets and the ControlTable."""

_SECRET_OUTPUTS = {
    "gemini": "GeminiSecretArn",
    "kraken": "KrakenSecretArn",
    "hyperliquid": "HyperliquidSecretArn",
}
SKEW_WARN_MS = 2_000
# Hyperliquid refuses an action whose expiresAfter (now + 5 s read timeout) has passed; Gemini
# refuses a time-based nonce more than 30 s off.
SKEW_FAIL_MS = {"kraken": 30_000, "hyperliquid": 4_000, "gemini": 25_000}


class Doctor:
    def __init__(self, args: argparse.Namespace, out: Callable[[str], None] = print) -> None:
        self.args = args
        self.out = out
        self.failures = 0
        self.warnings = 0
        self.passed = 0
        self.nonces: Any = None
        self.switches: Any = None

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
        enabled = self._api(endpoint)
        if control_table:
            from deadman.stores.dynamo import dynamodb_client
            from deadman.stores.nonces import DynamoNonceSource
            from deadman.stores.switches import SwitchStore

            client = dynamodb_client()
            self.nonces = DynamoNonceSource(control_table, client=client)
            self.switches = SwitchStore(control_table, client=client)
        else:
            self.report(
                "WARN", "control table", "unknown (set CONTROL_TABLE or use --stack): no authenticated calls"
            )
        wanted = self.args.venue or list(_SECRET_OUTPUTS)
        configured = 0
        for venue in wanted:
            if venue not in secrets:
                # Asked for by name, a venue that cannot be checked is a failure, not a skip.
                level = "FAIL" if self.args.venue else "SKIP"
                self.report(level, venue, "no secret configured (SECRET_" + venue.upper() + ")")
                continue
            if enabled is not None and venue not in enabled:
                self.report("INFO", venue, "not enabled in this deployment: not checked")
                continue
            accounts = self._secret(venue, secrets[venue])
            configured += len(accounts)
            for account in accounts:
                getattr(self, f"_{venue}")(account)
        if secrets and not configured and not self.failures:
            self.report("FAIL", "configuration", "no venue secret lists an account: nothing is protected")
        if not self.passed and not self.failures:
            self.report("FAIL", "configuration", "no check could run: see the SKIP and WARN lines above")
        return self._verdict()

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

    def _api(self, endpoint: str | None) -> set[str] | None:
        if not endpoint:
            self.report("SKIP", "api", "no endpoint (--endpoint, --stack or DEADMAN_ENDPOINT)")
            return None
        client = ApiClient(
            endpoint,
            region=self.args.region,
            profile=self.args.profile,
            timeout_s=15,
            sign=not self.args.no_sign,
        )
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

    def _secret(self, venue: str, secret_id: str) -> list[Any]:
        from deadman.stores.credentials import CredentialStore

        try:
            parsed = CredentialStore({venue: secret_id}, max_age_s=0).get(venue)
        except Exception as exc:
            self.report("FAIL", f"secret {venue}", describe_error(exc))
            return []
        if not parsed.accounts:
            self.report(
                "WARN",
                f"secret {venue}",
                "not configured: the secret lists no accounts (its refresher idles, no alarm)",
            )
            return []
        ids = ", ".join(parsed.account_ids)
        self.report("OK", f"secret {venue}", f"parses: {len(parsed.accounts)} account(s): {ids}")
        return list(parsed.accounts)

    # -- venues -----------------------------------------------------------------------------------
    def _client(self, venue: str, account: Any) -> Any:
        from deadman.core.clock import system_clock
        from deadman.venues import load

        return load(venue).Client(account, nonces=self.nonces, clock=system_clock, timeout=(3.05, 5.0))

    def _authenticated(self, venue: str, account: Any, subject: str, what: str) -> None:
        from deadman.venues.errors import AuthError

        if self.nonces is None:
            self.report("SKIP", subject, f"{what}: needs the ControlTable's shared nonces")
            return
        client = self._client(venue, account)
        try:
            orders = client.open_orders()
        except AuthError as exc:
            if exc.code == "EGeneral:Permission denied":
                self.report(
                    "OK",
                    subject,
                    f"{what} authenticates (no 'Query open orders' permission: fine for a cancel-only key)",
                )
            else:
                self.report("FAIL", subject, f"{what}: {exc}")
            return
        except Exception as exc:
            self.report("FAIL", subject, f"{what}: {describe_error(exc)}")
            return
        finally:
            client.close()
        self.report("OK", subject, f"{what} authenticates (read-only call: {len(orders)} open order(s))")

    def _skew(self, venue: str, subject: str, method: str, url: str, *, body: Any = None) -> None:
        import email.utils

        import requests

        try:
            before = time.time()
            resp = requests.request(method, url, json=body, timeout=(3.05, 5.0))
            after = time.time()
        except requests.RequestException as exc:
            self.report("FAIL", subject, f"venue unreachable at {url}: {network_error(exc)}")
            return
        local_ms = (before + after) / 2 * 1000
        venue_ms: float | None = None
        source = "HTTP Date header, 1 s resolution"
        if venue == "kraken":
            try:
                venue_ms = float(resp.json()["result"]["unixtime"]) * 1000 + 500
                source = "/0/public/Time, 1 s resolution"
            except (ValueError, KeyError, TypeError):
                venue_ms = None
        if venue_ms is None and resp.headers.get("Date"):
            parsed = email.utils.parsedate_to_datetime(resp.headers["Date"])
            venue_ms = parsed.timestamp() * 1000 + 500
        if venue_ms is None:
            self.report("WARN", subject, "clock skew unknown: the venue gave no time")
            return
        skew = venue_ms - local_ms
        level = "OK" if abs(skew) <= SKEW_WARN_MS else ("FAIL" if abs(skew) > SKEW_FAIL_MS[venue] else "WARN")
        self.report(
            level,
            subject,
            f"clock skew {skew / 1000:+.1f} s ({source}; rtt {(after - before) * 1000:.0f} ms)",
        )

    def _kraken(self, account: Any) -> None:
        subject = f"kraken/{account.account_id}"
        self._skew("kraken", subject, "GET", account.base_url.rstrip("/") + "/0/public/Time")
        self._authenticated("kraken", account, subject, "refresher key")
        if account.kill is None:
            self.report(
                "WARN",
                subject,
                "no kill key: kill shares the refresher key (a nonce lockout on it would block both)",
            )
        else:
            self._authenticated("kraken", account.for_kill(), subject, "kill key")

    def _hyperliquid(self, account: Any) -> None:
        subject = f"hyperliquid/{account.account_id}"
        self._skew("hyperliquid", subject, "POST", account.url.rstrip("/") + "/info", body={"type": "meta"})
        client = self._client("hyperliquid", account)
        try:
            agent = client.agent_address
            orders = client.open_orders()
        except Exception as exc:
            self.report("FAIL", subject, describe_error(exc))
            return
        finally:
            client.close()
        self.report(
            "OK",
            subject,
            f"open orders readable ({len(orders)}); fleet agent {agent} "
            f"(approval is proven by the refresher's first signed action)",
        )
        if account.kill_agent_private_key is None:
            self.report("INFO", subject, "no kill agent: kill signs with the refresher's agent")
        if self.switches is not None:
            switch = self.switches.get("hyperliquid", account.account_id)
            if switch.version == 0:
                self.report("INFO", subject, "volume gate unknown: no refresher tick recorded yet")
            elif switch.native_available:
                self.report("OK", subject, "scheduleCancel accepted at the last attempt (volume gate passed)")
            else:
                self.report(
                    "WARN",
                    subject,
                    f"volume gate: native timer unavailable, watchdog only: {switch.native_reason}",
                )

    def _gemini(self, account: Any) -> None:
        subject = f"gemini/{account.account_id}"
        self._skew("gemini", subject, "GET", account.base_url.rstrip("/") + "/v1/symbols")
        if account.nonce_mode == "time":
            self.report(
                "INFO",
                subject,
                "time-based nonce (epoch s, +/-30 s of Gemini's clock): trader and fleet "
                "share the key at most ~1 request/s between them; keep clocks in sync",
            )
        else:
            self.report(
                "INFO",
                subject,
                "increasing nonce (epoch ms): the trader MUST draw its nonces from the "
                f"fleet's shared source (ControlTable row NONCE#gemini:{account.api_key}), or one side "
                "gets InvalidNonce",
            )
        if account.is_master:
            self.report(
                "WARN",
                subject,
                "master key: Gemini has no heartbeat cancel-on-disconnect for master "
                "keys; the watchdog sweep is the only guard",
            )
        else:
            self.report(
                "INFO",
                subject,
                "the key must have 'Require Heartbeat' set (not visible through the "
                f"API); sweeps use cancel/{account.sweep_scope}",
            )
        if account.kill is not None:
            self._authenticated("gemini", account.for_kill(), subject, "kill key")
        else:
            self.report("INFO", subject, "no kill key: kill sweeps with the trading key (cancel/session)")
        if account.retiring is not None:
            self.report(
                "WARN",
                subject,
                f"rotation under way: the old key {account.retiring.api_key} is heartbeated too; once the "
                "trader has moved and no order rests on it, delete it and drop 'retiring' from the secret",
            )
        if self.args.allow_gemini_call:
            self._authenticated("gemini", account, subject, "trading key")
        else:
            self.report(
                "SKIP",
                subject,
                "trading key not called: it would reset its 30 s heartbeat timer "
                "(--allow-gemini-call to call it anyway)",
            )

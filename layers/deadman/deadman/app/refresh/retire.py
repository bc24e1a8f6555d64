"""The one thing a tick does for an account that is no longer in the venue's secret: its venue
timer, set by this fleet, is switched off with the credentials the loop last held, so that taking an
account out of deadman never cancels its orders later (`_retire_removed`); its planned windows go
with it. An account taken out without being retired first, its timer still running, is said and
alarmed on (`UnretiredTimers`).
"""

from __future__ import annotations

import dataclasses

from deadman.app.refresh.acts import VenueActs
from deadman.stores.credentials import VenueSecret
from deadman.stores.switches import Switch

# How many ticks in a row the loop tries to switch off the timer of an account taken out of the
# secret before it leaves it to the venue (and says so).
RETIRE_TRIES = 3


class Retirements(VenueActs):
    def _notice_removed(self, secret: VenueSecret) -> None:
        """Accounts no longer protected: marked `retired` in the secret (their keys still there), or
        taken out of it since this loop last read it (their keys held from then)."""
        current = {a.account_id: a for a in secret.accounts}
        for account in secret.retired:
            if account.account_id not in self._retired_done and account.account_id not in self._retiring:
                self._retiring[account.account_id] = (account, 0)
        for account_id, account in self._accounts.items():
            if account_id not in current and account_id not in self._retiring:
                self._retiring[account_id] = (account, 0)
        for account_id in [a for a in self._retiring if a in current]:
            del self._retiring[account_id]  # back in the secret: ticked again as any other
        self._retired_done -= set(current)
        known = set(current) | {a.account_id for a in secret.retired}
        if self._accounts.keys() != current.keys() or not self._accounts:
            self._unretired_timers(known)
        self._accounts = current

    def _unretired_timers(self, known: set[str]) -> None:
        """A switch of this venue whose account is gone from the secret without being retired, and
        whose venue timer (set by this fleet) still runs: no loop holds its keys any more, so nothing
        can switch it off and it will fire on the account's orders. Said, and alarmed on
        (`UnretiredTimers`); the README says to retire an account before taking it out."""
        try:
            stored = self.switches.list_venue(self.venue)
        except Exception as exc:
            self.log("switches not listed", error=type(exc).__name__)
            return
        now = self.clock()
        for switch in stored:
            running = switch.deadline_ms is not None and switch.deadline_ms > now
            if switch.account in known or switch.retired_at_ms is not None or not running:
                continue
            self.metrics.count("UnretiredTimers", venue=self.venue)
            self.log(
                "account out of the secret with its venue timer running",
                account=switch.account,
                deadline_ms=switch.deadline_ms,
            )

    def _retire_removed(self) -> None:
        """An account no longer protected is no longer extended: the venue timer this fleet set on
        it would fire on its orders a bound later, whatever its trader does. So it is switched off,
        with the credentials the secret still holds (retired) or held before the change (taken out);
        Gemini's rule belongs to the key and cannot be: said in the audit."""
        for account_id, (account, tries) in list(self._retiring.items()):
            try:
                # Not held up by a read outage: the timer would fire on the account's orders meanwhile.
                switch = self.switches.get_or_ask(self.venue, account_id)
                if switch.retired_at_ms is not None:
                    del self._retiring[account_id]
                    self._retired_done.add(account_id)
                    continue
                if switch.deadline_ms is not None and self.caps.can_disarm:
                    self._client(account).disarm(send_by_ms=self.fence_from_now())
                    outcome = "venue timer off"
                elif self.caps.can_disarm:
                    outcome = "no venue timer was set"
                elif not self.caps.has_timer:
                    outcome = "no venue timer: nothing to switch off"
                else:
                    outcome = "the venue's own rule belongs to the key: no longer heartbeated"
                # Its planned windows go with it: nothing will tick the switch to open them.
                stored = self._store(
                    dataclasses.replace(
                        switch, deadline_ms=None, inflight_until_ms=None, retired_at_ms=self.clock(), plans=()
                    )
                )
                for plan in switch.plans:
                    self._audit(
                        stored,
                        "plan-cancel",
                        "account taken out of the venue's secret",
                        "cancelled: the account is retired",
                        self.clock(),
                        plan.to_item(),
                    )
            except Exception as exc:
                if tries + 1 < RETIRE_TRIES:
                    self._retiring[account_id] = (account, tries + 1)
                    continue
                self.log("retired account's timer not switched off", account=account_id, error=str(exc))
                outcome, stored = f"venue timer NOT switched off: {type(exc).__name__}", None
            del self._retiring[account_id]
            self._retired_done.add(account_id)
            self.metrics.count("AccountsRetired", venue=self.venue)
            self._audit(
                stored or Switch(self.venue, account_id),
                "retired",
                "account taken out of the venue's secret",
                outcome,
                self.clock(),
                {},
            )

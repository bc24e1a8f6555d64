"""Incident controls: kill, disarm, arm and status, each in its own module over one shared toolkit.

kill     latch every targeted switch to killed first, then sweep every book in parallel (kill.py)
disarm   no sweep for a bounded time, now or in a planned window; venue timers deferred (disarm.py)
arm      back to armed from disarmed or killed; the next tick extends only if the trader is alive
status   DynamoDB only: it never calls a venue (a Gemini call would reset a dead trader's heartbeat)

`Control` is what the API routes, the CLI's break-glass kill and the sandbox call.
"""

from __future__ import annotations

from deadman.app.control.arm import arm as _arm
from deadman.app.control.disarm import disarm as _disarm
from deadman.app.control.kill import kill as _kill
from deadman.app.control.status import status as _status
from deadman.app.control.toolkit import Caller, ConflictError, RequestError, Target, Toolkit

__all__ = ["Caller", "ConflictError", "Control", "RequestError", "Target"]


class Control(Toolkit):
    """The four controls as methods of one toolkit: `Control(...).kill(...)`."""

    kill = _kill
    disarm = _disarm
    arm = _arm
    status = _status

"""Nonces when the shared counter is out of reach: the clock plus a lead that widens on refusal
(hazard 13: a kill during a DynamoDB outage must still sweep; issue 17: break-glass on a time-based
Gemini key after a burst)."""

from __future__ import annotations

from deadman.stores.nonces import FALLBACK_LEAD, FALLBACK_MAX_LEAD, FallbackNonceSource, MemoryNonceSource


class Counter:
    """The shared counter, answering or not."""

    def __init__(self) -> None:
        self.down = False
        self.last: dict[str, int] = {}

    def next(self, key_id: str, floor: int) -> int:
        if self.down:
            raise ConnectionError("DynamoDB out of reach")
        value = max(floor, self.last.get(key_id, floor - 1) + 1)
        self.last[key_id] = value
        return value

    def issued(self, key_id: str, value: int) -> None:
        self.last[key_id] = max(value, self.last.get(key_id, value))


def test_the_counter_while_it_answers_the_clock_plus_a_lead_when_it_does_not() -> None:
    counter = Counter()
    fell_back: list[str] = []
    source = FallbackNonceSource(
        counter,  # type: ignore[arg-type]
        lead=FALLBACK_LEAD,
        max_lead=FALLBACK_MAX_LEAD,
        on_fallback=fell_back.append,
    )
    assert source.next("k", 1_000) == 1_000
    assert source.next("k", 1_000) == 1_001  # a burst: the counter runs ahead of the clock
    counter.down = True
    assert source.next("k", 1_000) == 1_002  # never below what this process drew from the counter
    assert source.next("k", 2_000) == 2_000 + FALLBACK_LEAD
    assert fell_back == ["k: ConnectionError", "k: ConnectionError"]
    counter.down = False
    # Back: the counter learnt the fallback's nonces, so the next one is above them.
    assert source.next("k", 2_000) > 2_000 + FALLBACK_LEAD


def test_a_refused_nonce_widens_the_lead_a_bounded_number_of_times() -> None:
    source = MemoryNonceSource(FALLBACK_LEAD, max_lead=FALLBACK_MAX_LEAD)
    leads = []
    floor = 10_000
    while True:
        floor += 100
        leads.append(source.next("gemini:time-key", floor) - floor)
        if not source.widen("gemini:time-key"):
            break
    assert leads == [2, 4, 8, 16]  # then no further: a time-based Gemini nonce must stay within 30 s
    assert source.next("other", floor) == floor + FALLBACK_LEAD  # per key

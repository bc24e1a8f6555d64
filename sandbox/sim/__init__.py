"""Deterministic simulation of the fleet: the real refresher loop, lease, entry handler, control use
cases and policy, run in virtual time over an in-memory DynamoDB and in-process venue simulators,
with faults injected from every layer and the promises checked at every step."""

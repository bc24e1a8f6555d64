"""The inner layer: pure decisions and values (policy, timing, liveness judgement, the venue port).
No I/O, no AWS, no environment; imports nothing of deadman outside `core`."""

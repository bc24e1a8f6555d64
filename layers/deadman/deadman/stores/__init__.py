"""Where state lives: DynamoDB (switches, leases, nonces, liveness) and Secrets Manager (venue keys),
each a small adapter that retries transient faults. Imports `core` and `venues` only."""

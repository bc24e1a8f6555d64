"""Build-time tooling of the stack, never shipped: `python -m infra.template` writes template.yaml's
per-venue parts from the venue registry."""

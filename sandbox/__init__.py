"""The whole deadman fleet on one machine: venue simulators, moto, a scheduler driver, a local API."""

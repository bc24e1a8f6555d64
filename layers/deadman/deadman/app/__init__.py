"""The use cases: the refresher's tick and loop, the incident controls, the alert composer. They know
stores, venues and the clock, all injected; never HTTP, Lambda or the environment."""

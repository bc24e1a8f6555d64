"""Where the world comes in: the API routes, the scheduler entry, the CLI, doctor, the wiring from
environment variables, and Powertools. The only layer of the package that reads the
environment (above it, the handlers in functions/ read only their own names: VENUE, TOPIC_ARN...)."""

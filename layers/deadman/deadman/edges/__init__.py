"""Where the world comes in: the API routes, the scheduler entry, the CLI, doctor, the wiring from
environment variables, and Powertools. The only layer that reads the environment."""

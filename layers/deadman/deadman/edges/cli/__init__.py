"""`deadman`, the command line: `main` parses, `commands` act, `client` calls the API, `render`
prints, `doctor` checks a deployment, `common` holds what they share."""

"""The call review web app (``callscribe web``): read a call, hear it, search the archive.

Read-only over the configured database: ``data`` reads (through a login that can only
read), ``audio`` streams a recording (or only its redacted copy) with HTTP ranges,
``security`` holds logins, sessions, CSRF tokens and the login rate limit, ``app`` wires
the routes and templates. docs/review.md describes it."""

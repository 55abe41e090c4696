"""``callscribe``: the command line. Options override ``CALLSCRIBE_*`` env vars, which
override the config file. Exit codes: 0 all done, 1 some recordings failed, 2 bad usage or
configuration. One module per command group; importing them registers their commands, in
the order ``--help`` lists them."""

from __future__ import annotations

# isort: off
from .common import app
from . import embedded, distributed, reporting, sources, database, demo  # noqa: F401
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    app()

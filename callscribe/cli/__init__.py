"""``callscribe``: the command line. Options override ``CALLSCRIBE_*`` env vars, which
override the config file. Exit codes: 0 all done, 1 some recordings failed, 2 bad usage or
configuration. One module per command group; importing them registers their commands, in
the order ``--help`` lists them."""

from __future__ import annotations

import sys
import traceback

from rich.markup import escape

# isort: off
from .common import app
from . import embedded, distributed, reporting, sources, database, demo, web  # noqa: F401
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    """Run the command line. An unreachable or misconfigured database, broker or object
    store ends any command with one line and exit code 2 (``callscribe -v …`` also prints
    the traceback)."""

    from .common import err, service_failure, wants_traceback

    try:
        app()
    except Exception as exc:
        reason = service_failure(exc)
        if reason is None:
            raise
        if wants_traceback():
            traceback.print_exc()
        err.print(f"[red]error:[/red] {escape(reason)}", soft_wrap=True, highlight=False)
        sys.exit(2)

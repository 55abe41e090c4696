"""``callscribe web``: the call review web app, and its users."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from rich.markup import escape

from callscribe.errors import CallscribeError

from .common import ConfigOpt, DbOpt, _fail, _logging, _settings, app, err, out

web_app = typer.Typer(
    help="The call review web app: read a call, hear it, search the archive.",
    invoke_without_command=True,
)
app.add_typer(web_app, name="web")

MISSING = "the web app needs its packages: pip install 'callscribe[web]'"


@web_app.callback()
def web(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Address (web.host).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (web.port).")] = None,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve the review web app (read-only; log in with a user of `callscribe web
    add-user`)."""
    if ctx.invoked_subcommand is not None:
        return
    _logging(True)
    settings = _settings(config, database_url=database_url)
    try:
        import uvicorn

        from callscribe.web.app import create_app
    except ImportError:
        err.print(f"error: {MISSING}", highlight=False)
        raise typer.Exit(2) from None
    try:
        application = create_app(settings)
    except CallscribeError as exc:
        _fail(exc)
    uvicorn.run(
        application,
        host=host or settings.web.host,
        port=port or settings.web.port,
        log_level="info" if verbose else "warning",
        proxy_headers=True,
        server_header=False,
    )


@web_app.command("add-user")
def add_user(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option("--role", help="viewer or admin.")] = "viewer",
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a user of the web app, or set its password and role. The password is read
    from standard input (asked for twice on a terminal) and stored as an Argon2 hash."""
    settings = _settings(config, database_url=database_url)
    try:
        from callscribe.web.users import add_user as store_user
    except ImportError:
        err.print(f"error: {MISSING}", highlight=False)
        raise typer.Exit(2) from None
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            err.print("error: the two passwords differ")
            raise typer.Exit(2)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    from callscribe.models.db import open_database

    try:
        done = store_user(open_database(settings), name, password, role)
    except CallscribeError as exc:
        _fail(exc)
    out.print(f"user {escape(name)} {done} ({role})", highlight=False)

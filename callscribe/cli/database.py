"""``callscribe db``: schema migrations and reading roles."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape

from callscribe.errors import CallscribeError

from .common import (
    ConfigOpt,
    DbOpt,
    _fail,
    _settings,
    db_app,
    err,
    out,
)


@db_app.command("dashboard-user")
def db_dashboard_user(
    name: Annotated[str, typer.Argument(help="Login role to create or update.")],
    transcripts: Annotated[
        bool, typer.Option("--transcripts", help="Make a login that reads the transcripts too.")
    ] = False,
    reviewer: Annotated[
        bool,
        typer.Option(
            "--reviewer", help="Make the review web app's login (web.database_url): reads all."
        ),
    ] = False,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a PostgreSQL login that reads this database only: in its read-only dashboard
    group (views and cost tables), with --transcripts in its transcripts group (those and
    segments, windows, words), or with --reviewer in the review web app's group (those and
    the web app's users); or set the password of one that is already a plain login of
    that group. The password comes from CALLSCRIBE_DASHBOARD_PASSWORD and reaches the server
    only as a SCRAM verifier; the login gets statement and idle timeouts."""

    from sqlalchemy.exc import SQLAlchemyError

    from callscribe.models.db import make_engine
    from callscribe.models.roles import make_dashboard_login

    password = os.environ.get("CALLSCRIBE_DASHBOARD_PASSWORD")
    if not password:
        err.print("error: set CALLSCRIBE_DASHBOARD_PASSWORD")
        raise typer.Exit(2)
    settings = _settings(config, database_url=database_url)
    try:
        with make_engine(settings.database_url).begin() as conn:
            kind = "reviewer" if reviewer else "transcripts" if transcripts else "dashboard"
            done = make_dashboard_login(conn, name, password, kind=kind)
    except CallscribeError as exc:
        _fail(exc)
    except SQLAlchemyError as exc:  # the server's own words, never the statement
        orig = getattr(exc, "orig", None)
        reason = str(orig).strip().splitlines()[0] if orig else type(exc).__name__
        err.print(f"error: cannot make role {escape(name)}: {escape(reason)}", highlight=False)
        raise typer.Exit(2) from None
    reads = (
        "what the review web app shows"
        if reviewer
        else "the dashboard views and the transcripts"
        if transcripts
        else "the dashboard views"
    )
    out.print(f"role {escape(name)} {done}: it can now read {reads}", highlight=False)


@db_app.command("upgrade")
def db_upgrade(
    revision: str = "head", database_url: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Migrate the database up (default: to the latest schema)."""
    from callscribe.models.db import upgrade

    upgrade(_settings(config, database_url=database_url).database_url, revision)


@db_app.command("downgrade")
def db_downgrade(revision: str, database_url: DbOpt = None, config: ConfigOpt = None) -> None:
    """Migrate the database down to REVISION (``base`` drops everything)."""
    from callscribe.models.db import downgrade

    downgrade(_settings(config, database_url=database_url).database_url, revision)

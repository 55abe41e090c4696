"""What every command shares: the app, the consoles, the settings and logging set-up,
the one-line failure exit."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from callscribe.errors import CallscribeError
from callscribe.settings import Settings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Batch transcription of call-center recordings.")
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")
out = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
DbOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy database URL.")]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        err.print(f"[red]error:[/red] invalid setting {escape(where)}: {escape(first['msg'])}")
        raise typer.Exit(2) from None


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    for noisy in ("faster_whisper", "botocore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(exc: CallscribeError) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(exc.one_line())}", soft_wrap=True, highlight=False)
    raise typer.Exit(2) from None


def _celery(settings: Settings) -> Any:
    from callscribe.broker import make_celery

    try:
        return make_celery(settings)
    except CallscribeError as exc:
        _fail(exc)

"""What every command shares: the app, the consoles, the settings and logging set-up,
the one-line failure exit."""

from __future__ import annotations

import logging
import re
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape

from callscribe.errors import CallscribeError
from callscribe.settings import SettingError, Settings, environment_for, load_settings

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
        variable = "".join(environment_for(_nested(first["loc"])))
        _setting_error(f"invalid setting {where} ({variable}): {first['msg']}")
    except SettingsError as exc:  # pydantic-settings could not parse a variable's value
        field = re.search(r'field "([^"]+)"', str(exc))
        name = field.group(1) if field else "?"
        _setting_error(f"invalid setting {name} (CALLSCRIBE_{name.upper()}): its value must "
                       f"be JSON (a list or an object); a section's fields are set one by "
                       f"one, CALLSCRIBE_<SECTION>__<FIELD>")
    except SettingError as exc:
        _setting_error(str(exc))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        _setting_error(f"cannot read the settings file: {exc}")


def _nested(loc: tuple[Any, ...]) -> dict[str, Any]:
    """A validation error's location as the settings it names (for its variable's name)."""
    parts = [str(p) for p in loc[:2]]
    return {parts[0]: {parts[1]: ""}} if len(parts) == 2 else {parts[0]: ""}


def _setting_error(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(2)


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

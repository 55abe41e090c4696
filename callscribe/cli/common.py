"""What every command shares: the app, the consoles, the settings and logging set-up,
the one-line failure exit."""

from __future__ import annotations

import logging
import re
import sys
import tomllib
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape

from callscribe.errors import CallscribeError
from callscribe.settings import SettingError, Settings, environment_for, load_settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Batch transcription of call-center recordings.",
)
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
        _setting_error(
            f"invalid setting {name} (CALLSCRIBE_{name.upper()}): its value must "
            f"be JSON (a list or an object); a section's fields are set one by "
            f"one, CALLSCRIBE_<SECTION>__<FIELD>"
        )
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
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("faster_whisper", "botocore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.callback()
def _options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help=(
                "Print the traceback of a failure (a service away, a bad setting) under its "
                "one-line message."
            ),
        ),
    ] = False,
) -> None:
    """Batch transcription of call-center recordings."""


def wants_traceback() -> bool:
    """``-v``/``--verbose`` on the command line (``callscribe -v ingest …``, or a command's
    own ``-v``): a failure also prints its traceback."""
    return bool({"-v", "--verbose"} & set(sys.argv[1:]))


def _fail(exc: CallscribeError) -> NoReturn:
    if wants_traceback():
        traceback.print_exception(exc)
    err.print(f"[red]error:[/red] {escape(exc.one_line())}", soft_wrap=True, highlight=False)
    raise typer.Exit(2) from None


def _broker(settings: Settings) -> Any:
    """The Celery app, its broker checked first: a command that will send jobs says at once,
    in one line, that it cannot (before it probes an archive)."""
    from callscribe.checks import check_broker

    app_ = _celery(settings)
    try:
        check_broker(app_)
    except CallscribeError as exc:
        _fail(exc)
    return app_


def _celery(settings: Settings) -> Any:
    from callscribe.broker import make_celery

    try:
        return make_celery(settings)
    except CallscribeError as exc:
        _fail(exc)


def service_failure(exc: BaseException) -> str | None:
    """One line for an error that means a service is away or set up wrong (the database,
    the broker, the object store), naming it; None for any other error (a bug: its
    traceback is shown)."""
    from callscribe.errors import outage

    reason = outage(exc)
    if reason is not None:
        return reason
    if isinstance(exc, CallscribeError):
        return exc.one_line()
    kind, module = type(exc).__name__, type(exc).__module__
    if module.startswith("sqlalchemy") and kind in (
        "OperationalError",
        "ProgrammingError",
        "ArgumentError",
        "NoSuchModuleError",
    ):
        detail = str(getattr(exc, "orig", None) or exc).split("\n(Background")[0]
        return (
            f"the database cannot be used ({' '.join(detail.split())[:300]}): check "
            f"CALLSCRIBE_DATABASE_URL and run `callscribe db upgrade`"
        )
    if module.startswith("botocore") or module.startswith("boto3"):
        return f"the object store cannot be used: {' '.join(str(exc).split())[:300]}"
    if module.startswith("kombu") or module.startswith("redis"):
        return f"the broker cannot be used: {' '.join(str(exc).split())[:300]}"
    return None

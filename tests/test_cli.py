"""The ``callscribe`` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.audio import Turn, corrupt_text_as_wav, make_call

CLI = [sys.executable, "-m", "callscribe"]


def _run(
    args: list[str], cwd: Path, db: str, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")}
    env.update(CALLSCRIBE_DATABASE_URL=db, COLUMNS=str(columns))
    return subprocess.run(
        CLI + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "one.wav", [Turn(0, "Thank you for calling."), Turn(1, "Hello.")])
    make_call(
        folder / "two.flac", [Turn(0, "Please hold.")], channels=1, fmt="flac", sample_rate=16000
    )
    corrupt_text_as_wav(folder / "broken.wav")
    return folder


def test_transcribe_summary_status_and_exit_code(
    calls: Path, model_dir: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'cs.db'}"
    done = _run(
        [
            "transcribe",
            str(calls),
            "--model",
            str(model_dir),
            "--device",
            "cpu",
            "--compute-type",
            "int8",
            "--output",
            str(tmp_path / "out"),
            "-q",
        ],
        tmp_path,
        db,
    )
    assert done.returncode == 1, done.stderr
    assert "done        2 recordings" in done.stdout
    assert "failed      1" in done.stdout
    assert "broken.wav: unreadable audio: Invalid data found when processing input" in done.stdout
    assert "realtime factor" in done.stdout
    assert (tmp_path / "out" / "one.wav.dialogue.txt").is_file()
    status = _run(["status"], tmp_path, db)
    assert status.returncode == 0, status.stderr
    lines = [" ".join(line.split()) for line in status.stdout.splitlines()]
    assert any(line.startswith("│ recordings │ done │ 2 │") for line in lines), status.stdout
    assert any(line.startswith("│ recordings │ failed │ 1 │") for line in lines)
    assert any(line.startswith("│ jobs │ done │ 2 │") for line in lines)


@pytest.mark.slow  # a CLI subprocess per step
def test_all_good_exits_zero(model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ok"
    folder.mkdir()
    make_call(folder / "a.wav", [Turn(0, "Good morning.")], channels=1)
    done = _run(
        [
            "transcribe",
            str(folder),
            "--model",
            str(model_dir),
            "--device",
            "cpu",
            "--output",
            str(tmp_path / "out"),
            "-q",
        ],
        tmp_path,
        f"sqlite:///{tmp_path / 'ok.db'}",
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_bad_model_is_one_line_and_exit_2(calls: Path, tmp_path: Path) -> None:
    done = _run(
        ["transcribe", str(calls), "--model", str(tmp_path / "missing-model")],
        tmp_path,
        f"sqlite:///{tmp_path / 'x.db'}",
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [f"error: model directory '{tmp_path / 'missing-model'}' does not exist"]


def test_invalid_setting_exits_2(calls: Path, tmp_path: Path) -> None:
    done = _run(
        ["transcribe", str(calls), "--beam-size", "0"], tmp_path, f"sqlite:///{tmp_path / 'x.db'}"
    )
    assert done.returncode == 2
    assert "invalid setting decode.beam_size" in done.stderr


@pytest.mark.slow  # a CLI subprocess per step
def test_status_watch_until_done(calls: Path, model_dir: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    _run(
        [
            "transcribe",
            str(calls),
            "--model",
            str(model_dir),
            "--device",
            "cpu",
            "--output",
            str(tmp_path / "out"),
            "-q",
        ],
        tmp_path,
        db,
    )
    done = _run(["status", "--watch", "--until-done", "--interval", "0.2"], tmp_path, db)
    assert done.returncode == 0, done.stderr
    lines = [" ".join(line.split()) for line in done.stdout.splitlines()]
    assert any(line.startswith("│ 0 │ 0 │ 2 │ 0 │") for line in lines), done.stdout


@pytest.mark.slow
def test_demo_transcribes_real_sounding_calls_with_a_real_model(tmp_path: Path) -> None:
    """With the demo extra installed (tiny.en from PyPI): real calls, real transcripts, each
    scored against its script; the corrupt file fails alone with its reason."""
    done = _run(
        ["demo", str(tmp_path / "calls"), "-n", "4"], tmp_path, f"sqlite:///{tmp_path / 'd.db'}"
    )
    assert done.returncode == 0, done.stderr
    rates = [
        float(part.split("WER ")[1].rstrip("%)"))
        for part in done.stdout.splitlines()
        if "WER " in part
    ]
    assert len(rates) == 4 and max(rates) < 25.0, done.stdout
    assert "✗ broken.mp3:" in done.stdout
    assert "Agent:" in done.stdout and "Customer:" in done.stdout
    assert (tmp_path / "calls" / "transcripts" / "call_00.wav.words.json").is_file()


@pytest.mark.slow  # a CLI subprocess per step
def test_names_with_rich_markup_are_shown_not_parsed(model_dir: Path, tmp_path: Path) -> None:
    """A file name is data: `markup[/b]call.wav` and `[red]x[/red].wav` appear as they are
    in the failure summary and in `status`, and crash neither (issue 10, item 8)."""
    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "[bold]fine[/bold].wav", [Turn(0, "Good morning.")], channels=1)
    corrupt_text_as_wav(folder / "markup[/b]call.wav")
    db = f"sqlite:///{tmp_path / 'm.db'}"
    done = _run(
        [
            "transcribe",
            str(folder),
            "--model",
            str(model_dir),
            "--device",
            "cpu",
            "--output",
            str(tmp_path / "out"),
            "-q",
        ],
        tmp_path,
        db,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "✗ markup[/b]call.wav: unreadable audio" in done.stdout
    assert (tmp_path / "out" / "[bold]fine[/bold].wav.json").is_file()
    status = _run(["status"], tmp_path, db)
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    assert "markup[/b]call.wav" in status.stdout


@pytest.mark.slow  # a CLI subprocess per step
def test_report_fits_the_terminal_and_wide_shows_every_column(
    model_dir: Path, tmp_path: Path
) -> None:
    """Issue 13 item 4: at 80 columns the report keeps whole columns (no "aud…", "202…")
    and drops the least wanted ones; ``--wide`` shows them all; ``--json`` is unchanged."""
    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "a.wav", [Turn(0, "Thank you for calling."), Turn(1, "Hello there.")])
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _run(
        [
            "transcribe",
            str(folder),
            "--model",
            str(model_dir),
            "--device",
            "cpu",
            "--compute-type",
            "int8",
            "--output",
            str(tmp_path / "out"),
            "-q",
        ],
        tmp_path,
        url,
    )
    narrow = _run(["report", "--by", "hour"], tmp_path, url, columns=80)
    assert narrow.returncode == 0, narrow.stderr
    assert all(len(line) <= 80 for line in narrow.stdout.splitlines()), narrow.stdout
    assert "…" not in narrow.stdout and "audio h" in narrow.stdout and "cost $" in narrow.stdout
    assert "speech h" not in narrow.stdout
    wide = _run(["report", "--by", "hour", "--wide"], tmp_path, url, columns=80)
    for header in ("audio h", "speech h", "device h", "realtime x", "reference $", "saved $"):
        assert header in wide.stdout, wide.stdout
    assert "…" not in wide.stdout

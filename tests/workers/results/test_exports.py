"""Exports: concurrent finalizers of one recording never break each other's writes."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from callscribe.workers.records import Segment, Word
from callscribe.workers.results.exports import Transcript, write_exports


def transcript(n: int) -> Transcript:
    words = tuple(Word(i * 0.5, i * 0.5 + 0.4, f" w{i}", 0.9) for i in range(n))
    segment = Segment(
        start=0.0,
        end=n * 0.5,
        channel=0,
        speaker="agent",
        text=" ".join(f"w{i}" for i in range(n)),
        avg_logprob=-0.1,
        no_speech_prob=0.01,
        language="en",
        words=words,
    )
    return Transcript(
        recording_id=1,
        source="file:///calls",
        key="a/b.wav",
        duration_s=60.0,
        channels=1,
        language="en",
        segments=(segment,),
        options={},
    )


def test_concurrent_finalizers_of_one_recording_all_succeed(tmp_path: Path) -> None:
    """A worker and the reconciler (or 2 × 100 threads) writing the same recording's
    exports at once: every write succeeds, every file is whole, no temporary file is left
    (issue 10, item 11: a shared `.part` name failed 24 of 200)."""
    errors: list[BaseException] = []
    start = threading.Barrier(40)

    def write(n: int) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(5):
                write_exports(
                    transcript(50 + n), str(tmp_path), ["json", "words", "srt"], lambda: None
                )
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[:3]
    data = json.loads((tmp_path / "a" / "b.wav.json").read_text())
    assert len(data["segments"][0]["words"]) >= 50
    assert len(json.loads((tmp_path / "a" / "b.wav.words.json").read_text())["words"]) >= 50
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "b.wav.json",
        "b.wav.srt",
        "b.wav.words.json",
    ]


def test_exports_get_the_mode_of_the_umask(tmp_path: Path) -> None:
    """Exports are written to a 0600 temporary file and renamed; they end with the mode a
    plain ``open()`` gives under the worker's umask, so the output's group (dashboards,
    reviewers) can read them (issue 28, item 8)."""
    import os
    import stat
    import subprocess
    import sys

    script = (
        "import os, sys; os.umask(int(sys.argv[1], 8)); sys.path.insert(0, '.')\n"
        "from tests.workers.results.test_exports import transcript\n"
        "from callscribe.workers.results.exports import write_exports\n"
        "write_exports(transcript(3), sys.argv[2], ['json', 'srt'], lambda: None)\n"
    )
    for umask, mode in (("022", 0o644), ("002", 0o664), ("027", 0o640)):
        out = tmp_path / umask
        subprocess.run(
            [sys.executable, "-c", script, umask, str(out)],
            check=True,
            cwd=Path(__file__).resolve().parents[3],  # the repository
        )
        files = sorted((out / "a").iterdir())
        assert [f.name for f in files] == ["b.wav.json", "b.wav.srt"]
        assert {stat.S_IMODE(os.stat(f).st_mode) for f in files} == {mode}, umask

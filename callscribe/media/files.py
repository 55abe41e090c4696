"""Facts about a file's bytes, for checking what a package or a build gave."""

from __future__ import annotations

from pathlib import Path

from ..weights import file_sha256


def sha256(path: Path) -> str:
    """The file's SHA-256, hex, read in 1-MiB blocks."""
    return file_sha256(path)

"""The mode an output file gets: what ``open()`` would give it under the process's umask
(``0o666 & ~umask``; 0o644 under the usual 022, 0o664 under 002). Exports are written to a
temporary file (``tempfile.mkstemp``, always 0600) and renamed; without this a dashboard or
reviewer account in the output's group could not read them."""

from __future__ import annotations

import os


def _umask() -> int:
    mask = os.umask(0o022)  # reading it means setting it: put it straight back
    os.umask(mask)
    return mask


#: Read once, at import (before any worker thread starts): ``os.umask`` is process-wide.
FILE_MODE = 0o666 & ~_umask()


def make_readable(fd: int) -> None:
    """Give an open temporary file the mode a plain ``open()`` would have given it."""
    os.fchmod(fd, FILE_MODE)

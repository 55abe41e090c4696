"""Keep the model's working memory in the heap on CPU (glibc's malloc).

CTranslate2 allocates every activation afresh on every call (``posix_memalign``/``free``).
With glibc's defaults, a large block comes from a new ``mmap`` and goes back to the kernel
when freed, and the freed top of the heap is trimmed, so the next call's buffers are new
zero pages again: each window encoded or decoded page-faults its activations in. Measured
on tiny.en, int8, 2 CPU threads, the 55 windows of 8 real-voice calls: 7.4 million minor
faults and 19 s of system time beside 49 s of user time; tuned, with the encoder run one
window at a time, 1.3 million and 5.8 s, and 33 s of wall time instead of 43 s, for the
same text (``bench/cpu_memory.py``, docs/benchmarks.md).

:func:`tune_allocator` raises the mmap threshold to glibc's maximum (32 MiB; this also stops
the threshold's own adjusting) and stops trimming, so freed buffers are reused by the next
window. The cost is that memory once used by the model stays with the process (its peak is
set by the batch size); a worker keeps the model loaded for its whole life anyway. Blocks
above 32 MiB are still mapped afresh, which is one reason the engine encodes one window at a
time on CPU (``workers.transcription.decoding``). It changes nothing but speed and does nothing off
glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading

log = logging.getLogger(__name__)

#: ``mallopt`` parameters (``<malloc.h>``).
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
#: The largest mmap threshold glibc accepts on 64-bit (``DEFAULT_MMAP_THRESHOLD_MAX``).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory at the top of the heap is kept up to this much (not handed back).
TRIM_THRESHOLD = 1024 * 1024 * 1024
#: Extra memory asked for whenever the heap grows, so it grows in few steps.
TOP_PAD = 64 * 1024 * 1024

_lock = threading.Lock()
_tuned: bool | None = None


def tune_allocator() -> bool:
    """Set glibc's malloc for a long-lived process that runs the model on CPU (see the
    module's text). Idempotent; True when the settings are in force, False where there is
    no glibc (musl, macOS) or glibc refused them."""
    global _tuned
    with _lock:
        if _tuned is None:
            _tuned = _apply()
        return _tuned


def _apply() -> bool:
    libc = _glibc()
    if libc is None:
        log.info("not glibc: malloc left at its defaults")
        return False
    wanted = (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (M_TOP_PAD, TOP_PAD),
    )
    done = all(libc.mallopt(param, value) == 1 for param, value in wanted)
    if not done:
        log.warning("glibc refused the malloc settings; the model runs with its defaults")
    return done


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        version = libc.gnu_get_libc_version
    except (OSError, AttributeError):  # not glibc
        return None
    version.restype = ctypes.c_char_p
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return libc

"""A stand-in for PyAV where it is not installed (the GPU machine; its wheel is too large to
carry beside CTranslate2's). faster-whisper imports ``av`` when it starts but uses it only in
``decode_audio``, which the benchmark does not call there: ``bench/throughput.py`` decodes
with ffmpeg when it sees this module. Any use of it fails with that reason."""

CALLSCRIBE_SHIM = True


def __getattr__(name: str) -> object:
    raise AttributeError(f"av.{name}: PyAV is not installed here (bench/shims/av stands in)")

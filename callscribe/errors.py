"""One error hierarchy. Retryable errors may succeed on another attempt (network, lost
database connection, a busy device); permanent ones never will (a corrupt file), so a job
that raises one fails at once without burning its attempts."""

from __future__ import annotations


class CallscribeError(Exception):
    """Base of every error callscribe raises on purpose."""

    def one_line(self) -> str:
        """The reason as one line, as stored in ``recordings.error`` / ``jobs.error``."""
        text = " ".join(str(self).split())
        return text or type(self).__name__


class ConfigurationError(CallscribeError):
    """The settings or command-line options are wrong."""


class ModelLoadError(ConfigurationError):
    """The model could not be loaded (missing directory, download refused, bad files)."""


class PermanentError(CallscribeError):
    """Retrying cannot help: the input itself is bad."""


class SourceError(PermanentError):
    """A source URI is malformed or cannot be listed."""


class BadAudioError(PermanentError):
    """The recording cannot be decoded into audio (corrupt, empty, unsupported codec)."""


class RecordingMissingError(PermanentError):
    """The object was listed but is gone (deleted between listing and transcription)."""


class RetryableError(CallscribeError):
    """A transient failure; the job may be tried again."""


class StorageUnavailableError(RetryableError):
    """The object store or file system failed transiently."""


class LeaseLostError(RetryableError):
    """Another worker owns the job now; this worker must drop its results."""


class JobTimeoutError(RetryableError):
    """The job ran past its soft time limit (counted as an attempt)."""

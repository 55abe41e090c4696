"""callscribe: batch transcription of call-center recordings."""

__version__ = "0.1.0"

"""PII redaction: what a word is (``tokens``), numbers and patterns found (``numbers``,
``redaction``), the job's redaction step between the model and the database (``step``) and
the silenced copy of the audio (``redacted_audio``)."""
